"""A service's domain is free of the runtime: importing it loads no Kafka, Redis or tracing client.

Each service's `domain` package (every module in it) is imported in a fresh interpreter, which
then lists the infrastructure it loaded: none may be there. The rules can so be read, run and
tested alone, and a newcomer copying a service copies that boundary too.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVICES = sorted(p for p in (ROOT / "services").glob("*/src/shebao_*") if p.is_dir())
INFRASTRUCTURE = ("aiokafka", "faststream", "redis", "opentelemetry", "shebao_common.runtime")

PROBE = """
import importlib, json, pkgutil, sys
package = importlib.import_module(sys.argv[1] + ".domain")
for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
    importlib.import_module(info.name)
print(json.dumps(sorted(sys.modules)))
"""


def loaded_by(package: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, package], capture_output=True, text=True, check=True
    )
    return list(json.loads(out.stdout))


@pytest.mark.parametrize("package", [p.name for p in SERVICES])
def test_importing_the_domain_loads_no_infrastructure(package: str) -> None:
    loaded = loaded_by(package)
    assert f"{package}.domain" in loaded
    infrastructure = sorted(
        m for m in loaded if any(m == i or m.startswith(i + ".") for i in INFRASTRUCTURE)
    )
    assert infrastructure == [], f"{package}.domain loads {infrastructure[:8]}"


def test_the_probe_sees_infrastructure_when_it_is_loaded() -> None:
    """The check can fail: the handlers, which use the runtime, do load it."""
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, sys, shebao_common.runtime; print(json.dumps(sorted(sys.modules)))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "aiokafka" in json.loads(out.stdout)
