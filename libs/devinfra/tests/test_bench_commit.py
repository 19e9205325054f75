"""`scripts/bench_commit.py`, the commit script's Redis CPU per record, runs and reports both
batch shapes (a smoke run: one round of two small batches on a redis-server of its own)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "bench_commit.py"


def test_bench_commit_reports_redis_time_per_record_for_each_shape() -> None:
    ran = subprocess.run(
        [sys.executable, str(SCRIPT), "--rounds", "1", "--batch", "20", "--batches", "2"],
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    figures = re.findall(r"^(\w[\w-]*)-like .*: Redis µs per record ([\d.]+) ", ran.stdout, re.M)
    assert [shape for shape, _ in figures] == ["adjudication", "ingest"], ran.stdout
    assert all(float(us) > 0 for _, us in figures), ran.stdout


def test_bench_commit_stages_report_every_step_of_the_script_for_each_shape() -> None:
    """`--stages`: the script cut before each of its steps (the cuts are found by the script's
    own step comments, so a renamed step fails here), every cut committing OK."""
    ran = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--stages",
            *("--rounds", "1", "--batch", "20"),
            "--batches",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    shapes = re.findall(r"^(\w[\w-]*)-like .*: Redis µs per record, median", ran.stdout, re.M)
    assert shapes == ["adjudication", "ingest"], ran.stdout
    steps = re.findall(r"^  (\S.*?)\s+([\d.]+) \(", ran.stdout, re.M)
    assert len(steps) == 2 * 9, ran.stdout
    assert [s for s, _ in steps[:9]] == [s for s, _ in steps[9:]], ran.stdout
    assert steps[0][0].startswith("the argument only") and steps[8][0] == "the whole script"
