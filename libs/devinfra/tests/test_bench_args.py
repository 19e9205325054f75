"""`make bench` refuses a claim count its throughput figures would mean nothing with."""

from __future__ import annotations

import subprocess
import sys

from shebao_devinfra.bench.setting import MIN_CLAIMS


def test_too_few_claims_are_refused_before_anything_starts() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "shebao_devinfra.bench", "--claims", str(MIN_CLAIMS - 1)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert f"--claims {MIN_CLAIMS - 1}: at least {MIN_CLAIMS:,}" in run.stderr
    assert "loading" not in run.stdout  # nothing was started
