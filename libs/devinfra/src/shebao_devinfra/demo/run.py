"""Start the infrastructure and the services, drive the story, stop what was started."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..infra import Infra, provision
from ..kit import PARTITIONS, caught_up
from ..testing import (
    RunningService,
    create_topics,
    partition_counts,
    producer,
    recreate_topics,
)
from .city import City, city_months
from .contributions import contributions_month
from .desk import Desk
from .enrollment import enrollment_day, enrollment_report
from .medical import medical_month
from .output import head, say
from .page import render
from .report import gather, print_report
from .unemployment import unemployment_months
from .welfare import welfare_months
from .world import World, stop_services


@dataclass(frozen=True)
class Options:
    """What `python -m shebao_devinfra.demo` is asked for."""

    keep: bool = False
    seed: int = 2025
    people: int = 3000
    months: int = 6
    report: Path | None = None
    """The HTML report's path (default: report.html in the demo's log folder)."""
    platform: bool = False
    """Drive a platform that runs already (`make up`, or the compose profile `partners`) instead
    of starting Kafka, Redis and the services: addresses from KAFKA_BOOTSTRAP_SERVERS and
    SHEBAO_<SERVICE>_URL (default: compose.yaml's ports on 127.0.0.1)."""


async def _handled(w: World) -> dict[str, float]:
    """Records each service has committed so far (its /metrics)."""
    return {s.name: await s.metric("shebao_records_total") for s in w.services}


async def _fresh(w: World) -> None:
    """A platform that runs already must not have run a demo before: the demo waits for each
    service to have read every record of its inputs since it started. Its partners' topics are
    created, as the platform team does when a partner joins; the services made their own, with
    partition counts of their own, which the demo's readers then use."""
    await create_topics(w.bootstrap, w.topics, partitions=PARTITIONS)
    w.partitioned(await partition_counts(w.bootstrap, w.topics))
    inputs = sorted({t for ts in w.inputs.values() for t in ts})
    await w.offsets.start()
    try:
        held = await w.offsets.total(*inputs)
    finally:
        await w.offsets.stop()
    if held:
        raise RuntimeError(
            f"the platform's topics already hold {held:.0f} records: the demo needs a platform "
            "fresh from `make down && make up`"
        )


async def drive(w: World, opts: Options, started: float) -> int:
    if w.running:
        await _fresh(w)
    else:
        await recreate_topics(w.bootstrap, w.topics, partitions=PARTITIONS)
    head("Services")
    for s in w.services:
        s.start()
    for s in w.services:
        await s.wait_ready()
        say(f"{s.name:<19} {s.url}  (/healthz /readyz /metrics, log {s.log_path})")
    prod = await producer(w.bootstrap, linger_ms=5)
    desk: Desk | None = None
    await w.offsets.start()
    await w.tap.start()
    try:
        desk = Desk(prod, w.bootstrap)
        story = await enrollment_day(desk, w.enrollment, random.Random(2012))
        await caught_up(w.enrollment, w.inputs["enrollment"], w.offsets, "the enrollment day")
        await enrollment_report(w.bootstrap, story, w.enrollment)
        await contributions_month(desk, w, story)
        await medical_month(desk, w, story)
        await unemployment_months(desk, w, story)
        await welfare_months(desk, w, story)

        city = City(opts.seed, opts.people, opts.months)
        before, city_started = await _handled(w), time.monotonic()
        await city_months(desk, w, city)
        seconds = time.monotonic() - city_started
        after = await _handled(w)
        report = await gather(w, city, seconds, {k: after[k] - before[k] for k in after})
        print_report(report)
        path = opts.report or w.logs / "report.html"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(report), encoding="utf-8")
        (path.with_suffix(".json")).write_text(json.dumps(report, indent=1), encoding="utf-8")
        say(f"the report as a page (opens offline): {path}")

        head("Done")
        say(f"demo finished in {time.monotonic() - started:.0f}s; logs in {w.logs}")
        if opts.keep:
            say("services keep running; press Ctrl-C to stop everything")
            while all(s.alive for s in w.services):
                await asyncio.sleep(1)
            say("a service exited: " + ", ".join(s.name for s in w.services if not s.alive))
        return 0
    finally:
        await w.tap.stop()
        await w.offsets.stop()
        if desk is not None:
            await desk.stop()
        await prod.stop()


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _deferred_signals() -> Iterator[list[int]]:
    """Ctrl-C or SIGTERM while Kafka and Redis start: noted, acted on once they are up (so
    they are stopped, not left half-started)."""
    got: list[int] = []

    def note(signum: int, frame: Any) -> None:
        if not got:
            say("(stopping as soon as the infrastructure is up)")
        got.append(signum)

    old = {s: signal.signal(s, note) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield got
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


def _running() -> dict[str, RunningService]:
    """The platform's services at SHEBAO_<SERVICE>_URL, else at compose.yaml's host ports."""
    from ..images import services

    def var(name: str) -> str:
        return f"SHEBAO_{name.upper().replace('-', '_')}_URL"

    urls = {s: os.environ[var(s)] for s in services() if var(s) in os.environ}
    if len(urls) < len(services()):  # compose.yaml is at hand where these are not set
        from ..compose import Ports

        for name, port in Ports().services.items():
            urls.setdefault(name, f"http://127.0.0.1:{port}")
    # `make up`'s services trust the checkout's development issuer: its key mints our tokens,
    # or, in the partners' container (no checkout, no key), `make partners` minted one for us
    token = os.environ.get("SHEBAO_READ_TOKEN")
    if token:
        return {name: RunningService(name, url, token=token) for name, url in urls.items()}
    from ..images import repo_root
    from ..issuer import dev_issuer

    issuer = dev_issuer(repo_root())
    return {name: RunningService(name, url, issuer=issuer) for name, url in urls.items()}


def main(opts: Options) -> int:
    started = time.monotonic()
    signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM stops the demo as Ctrl-C does
    head("Infrastructure")
    infra: Infra | None = None
    world: World | None = None
    logs = Path(tempfile.mkdtemp(prefix="shebao-demo-"))
    try:
        if opts.platform:
            bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
            world = World(Infra(bootstrap, "", "platform"), logs, _running())
            say(f"Kafka {bootstrap}, a platform running already")
            return asyncio.run(_guarded(world, opts, started))
        with _deferred_signals() as got:
            infra = provision()
        say(f"Kafka {infra.kafka_bootstrap} and Redis {infra.redis_address} ({infra.mode})")
        if got:
            raise KeyboardInterrupt
        world = World(infra, logs)
        return asyncio.run(_guarded(world, opts, started))
    except KeyboardInterrupt:
        say("\ninterrupted")
        return 130
    except Exception:
        say("\nthe demo failed:")
        traceback.print_exc()
        sys.stderr.flush()
        say(f"service logs in {logs}")
        return 1
    finally:
        # a second Ctrl-C or SIGTERM must not cut the cleanup short
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            if world is not None:
                stop_services(world.services)
        finally:
            if infra is not None:
                infra.stop()
            if not opts.platform:
                say("stopped the services and the infrastructure this demo started")


async def _guarded(world: World, opts: Options, started: float) -> int:
    """drive(), cancelled by SIGTERM as asyncio.run cancels it on Ctrl-C."""
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        return await drive(world, opts, started)
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None
