"""`scripts/bench_cpu.py`, the quick CPU figure per settlement stage, runs and reports every
stage (a smoke run of a few claims: it drives the processors' private planning step, which
changed shape once without it noticing): both hops, statements, which reads every claim's
decision only to ignore it, and the runtime alone (the benchmark's `sum_hop`)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.timeout(120)]

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "bench_cpu.py"
STAGES = ["decode", "plan", "pack"]


def test_bench_cpu_reports_every_stage_of_both_hops_and_statements() -> None:
    ran = subprocess.run(
        [sys.executable, str(SCRIPT), "--claims", "50", "--repeat", "1"],
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    figures = re.findall(r"^  (\w+) (\w+) +([\d.]+)$", ran.stdout, re.M)
    assert [(hop, stage) for hop, stage, _ in figures] == [
        *((hop, stage) for hop in ("ingest", "adjudicate") for stage in STAGES),
        ("statements", "decode"),
        ("statements", "plan"),
        *(("sum_hop", stage) for stage in STAGES),
    ], ran.stdout
    assert all(float(us) > 0 for *_, us in figures), ran.stdout
