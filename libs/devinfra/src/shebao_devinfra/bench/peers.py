"""The platform's peers, each run as a process of its own on claims in fresh topics: the raw
aiokafka loop (`raw`, the limit of this stack) and a Quix Streams hop (`quix`, what a team would
pick instead; `quix_ingest` and `quix_adjudicate`, the same doing the platform's own work, like
for like). Each reports records, seconds and its CPU seconds (every thread) over the same span.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from shebao_common.settings import KafkaConnection

from .figures import Figures
from .quix import KAFKA_ENV

ROOT = Path(__file__).resolve().parents[5]
BENCH_PYTHON = ROOT / ".bench-venv" / "bin" / "python"
"""The `bench` dependency group's interpreter (`scripts/bootstrap.sh --bench`, what `make bench`
runs): Quix Streams lives there, never in the workspace's .venv."""

MISSING_QUIX = (
    f"Quix Streams (the `bench` dependency group) is not installed: {BENCH_PYTHON} is missing. "
    "`make bench` installs it (scripts/bootstrap.sh --bench); or pass --no-quix to measure "
    "without it."
)


def quix_installed() -> bool:
    return BENCH_PYTHON.exists()


def librdkafka_config(bootstrap: str, conn: KafkaConnection | None = None) -> dict[str, str]:
    """The connection `shebao_common.kafka_security.client_options` gives aiokafka (the
    environment's identity), as librdkafka (confluent-kafka, Quix Streams) takes it."""
    c = KafkaConnection() if conn is None else conn
    cfg = {"bootstrap.servers": bootstrap, "security.protocol": c.kafka_security_protocol}
    if c.kafka_security_protocol.startswith("SASL"):
        cfg["sasl.mechanism"] = c.kafka_sasl_mechanism
        cfg["sasl.username"] = c.kafka_username or ""
        cfg["sasl.password"] = c.kafka_password_value() or ""
    if c.kafka_security_protocol in ("SSL", "SASL_SSL") and c.kafka_ssl_cafile is not None:
        cfg["ssl.ca.location"] = str(c.kafka_ssl_cafile)
    return cfg


async def run_peer(name: str, command: list[str], env: dict[str, str] | None = None) -> Any:
    """Run a peer's process; its last line of output, as JSON."""
    proc = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, env=None if env is None else {**os.environ, **env}
    )
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"the {name} failed with {proc.returncode}")
    return json.loads(out.decode().strip().splitlines()[-1])


def record(figures: Figures, result: dict[str, float]) -> dict[str, float]:
    figures.throughput.append(result["records"] / result["seconds"])
    figures.cpu_us.setdefault("process", []).append(1e6 * result["cpu_seconds"] / result["records"])
    figures.kernel_us.setdefault("process", []).append(
        1e6 * result["sys_seconds"] / result["records"]
    )
    return result


async def raw(bootstrap: str, source: str, sink: str, count: int, figures: Figures) -> None:
    module = ["-m", "shebao_devinfra.bench.raw"]
    args = ["--bootstrap", bootstrap, "--source", source, "--sink", sink, "--count", str(count)]
    record(figures, await run_peer("raw loop", [sys.executable, *module, *args]))


async def quix(
    bootstrap: str,
    source: str,
    sink: str,
    count: int,
    figures: Figures,
    step: str = "sum",
    more: list[str] | None = None,
    env: dict[str, str] | None = None,
) -> dict[str, float]:
    """The Quix Streams hop: `step` "sum" (decode, sum the lines, a state value), "ingest" or
    "adjudicate" (the platform's own work, `quix_ingest` and `quix_adjudicate`), with `more`
    arguments and `env` for the step."""
    script = str(Path(__file__).with_name("quix.py"))  # a file: the bench venv has no shebao
    args = ["--source", source, "--sink", sink, "--count", str(count), "--step", step]
    args += more or []
    env = {KAFKA_ENV: json.dumps(librdkafka_config(bootstrap)), **(env or {})}
    return record(
        figures, await run_peer("Quix Streams hop", [str(BENCH_PYTHON), script, *args], env)
    )


async def quix_ingest(
    bootstrap: str, source: str, sink: str, count: int, figures: Figures
) -> dict[str, float]:
    return await quix(bootstrap, source, sink, count, figures, step="ingest")


RULES_SOURCES = [
    str(ROOT / d) for d in ("contracts/src", "libs/common/src", "services/medical-settlement/src")
]
"""Where the adjudicate step imports medical settlement's pure rules from: the source tree, as
the bench venv has none of the workspace's packages (its pydantic is another)."""


async def quix_adjudicate(
    bootstrap: str,
    source: str,
    sink: str,
    count: int,
    figures: Figures,
    hospitals: dict[str, str],
) -> dict[str, float]:
    """The Quix Streams hop doing adjudication's work on what `quix_ingest` forwarded (`source`),
    with the service's own rules (`quix.adjudicate_step`): answers to `sink`, events to
    `sink`.events; CPU per claim."""
    return await quix(
        bootstrap,
        source,
        sink,
        count,
        figures,
        step="adjudicate",
        more=["--hospitals", json.dumps(hospitals)],
        env={"PYTHONPATH": os.pathsep.join(RULES_SOURCES)},
    )
