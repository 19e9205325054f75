"""This machine: its cores and memory, and where their time goes (Linux /proc)."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path
from urllib.parse import urlsplit

from ..testing import cpu_seconds, cpu_times


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


_TICK = os.sysconf("SC_CLK_TCK")


def run_queue_wait(pid: int) -> float:
    """Seconds the process's main thread has spent ready to run but waiting for a core."""
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[1]) / 1e9


def infra_pids() -> dict[str, list[int]]:
    """The Kafka broker's and redis-server's processes on this machine, by their command lines."""
    out: dict[str, list[int]] = {"broker": [], "Redis": []}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes()
        except OSError:
            continue
        if b"kafka.Kafka" in cmd:
            out["broker"].append(int(d.name))
        elif cmd.startswith(b"redis-server") or b"/redis-server" in cmd.split(b"\0")[0]:
            out["Redis"].append(int(d.name))
    return out


def redis_pids(redis_url: str) -> list[int]:
    """The redis-server processes serving `redis_url` (its port in their process title), not the
    other Redis servers of this machine (another run's, a test suite's)."""
    port = urlsplit(redis_url).port
    out = []
    for pid in infra_pids()["Redis"]:
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if f":{port}".encode() in cmd:
            out.append(pid)
    return out


def cpu_of(pids: list[int]) -> float:
    """CPU seconds these processes have used so far (those still running), with their children's
    once reaped: Redis rewrites its append-only file, and saves, in a forked child, and that
    work is Redis's. At 1,000 claims/s the benchmark's Redis rewrote it every ~7 s, ~0.05 of a
    core left out of its figures before (BENCHMARKS.md, 2026-12-04)."""
    return sum(c for pid in pids if (c := cpu_seconds(pid, children=True)) is not None)


def forked_cpu_of(pids: list[int]) -> float:
    """The part of `cpu_of` that is their reaped children's: for Redis, its append-only-file
    rewrites (and saves). A rewrite comes every few tens of MB appended, so whether one or three
    fall inside a measured window moves Redis's figure a lot; reported apart, the rest of
    Redis's CPU can be compared run to run."""
    return sum(t[1] for pid in pids if (t := cpu_times(pid)) is not None)


def machine_busy() -> tuple[float, float]:
    """CPU seconds the whole machine has spent busy (every core) so far, and stolen by the host
    (time a virtual core was ready to run but not given a physical one)."""
    with open("/proc/stat") as f:
        ticks = [int(x) for x in f.readline().split()[1:]]
    steal = ticks[7] if len(ticks) > 7 else 0
    return (sum(ticks[:8]) - ticks[3] - ticks[4] - steal) / _TICK, steal / _TICK


class CoreUse:
    """Where the machine's cores went between its creation and report(): each named process
    (and how long its main thread waited for a core while ready to run), this process (the load
    generator), the broker, Redis and the rest."""

    def __init__(self, processes: dict[str, int]) -> None:
        self.processes = processes
        self.infra = infra_pids()
        self.cpu0 = {n: cpu_of([pid]) for n, pid in processes.items()}
        self.wait0 = {n: run_queue_wait(pid) for n, pid in processes.items()}
        self.infra0 = {k: cpu_of(v) for k, v in self.infra.items()}
        self.own0, self.busy0, self.wall0 = time.process_time(), machine_busy(), time.monotonic()

    def report(self) -> str:
        wall = time.monotonic() - self.wall0
        busy, steal = (b - b0 for b, b0 in zip(machine_busy(), self.busy0, strict=True))
        own = time.process_time() - self.own0
        parts = []
        for n, pid in self.processes.items():
            cpu = cpu_of([pid]) - self.cpu0[n]
            waited = run_queue_wait(pid) - self.wait0[n]
            parts.append((f"{n} {cpu / wall:.2f} (waited for a core {waited / wall:.2f})", cpu))
        parts.append((f"load generator {own / wall:.2f}", own))
        for k, v in self.infra.items():
            cpu = cpu_of(v) - self.infra0[k]
            parts.append((f"{k} {cpu / wall:.2f}", cpu))
        rest = busy - sum(c for _, c in parts)
        return (
            f"cores busy over {wall:.1f} s: {busy / wall:.2f} of {os.cpu_count()} (and"
            f" {steal / wall:.2f} stolen by the host); "
            + "; ".join(text for text, _ in parts)
            + f"; the rest {rest / wall:.2f}"
        )


def machine() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}; Kafka broker and Redis "
        "on the same machine"
    )
