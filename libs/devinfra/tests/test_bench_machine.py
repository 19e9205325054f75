"""The benchmark's CPU figure of the infrastructure counts the work it forks: Redis rewrites its
append-only file in a child process, and that CPU is Redis's (BENCHMARKS.md, 2026-12-04)."""

from __future__ import annotations

import os
import subprocess
import sys

from shebao_devinfra.bench.machine import cpu_of, forked_cpu_of
from shebao_devinfra.testing import cpu_seconds

BURN = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass\n"


def test_cpu_of_counts_the_children_a_process_has_reaped() -> None:
    me = [os.getpid()]
    with_children, own = cpu_of(me), cpu_seconds(me[0]) or 0.0
    subprocess.run([sys.executable, "-c", BURN], check=True)  # waited for: reaped
    assert cpu_of(me) - with_children >= 0.25
    assert (cpu_seconds(me[0]) or 0.0) - own < 0.25  # a process's own CPU leaves them out


def test_forked_cpu_of_is_the_part_of_cpu_of_its_children_took() -> None:
    me = [os.getpid()]
    forked0, own0 = forked_cpu_of(me), cpu_seconds(me[0]) or 0.0
    subprocess.run([sys.executable, "-c", BURN], check=True)  # waited for: reaped
    assert forked_cpu_of(me) - forked0 >= 0.25
    assert (cpu_seconds(me[0]) or 0.0) - own0 < 0.25
    # what is left of cpu_of without the children is the process's own CPU
    assert abs((cpu_of(me) - forked_cpu_of(me)) - (cpu_seconds(me[0]) or 0.0)) < 0.05


def test_cpu_of_a_process_gone_is_nothing() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert cpu_of([child.pid]) == 0.0
    assert forked_cpu_of([child.pid]) == 0.0
