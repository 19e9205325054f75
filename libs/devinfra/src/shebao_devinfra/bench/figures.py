"""What the benchmark measures, and the median (min–max) of several runs."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from ..testing import Metrics


@dataclass
class Figures:
    throughput: list[float] = field(default_factory=list)
    p50: list[float] = field(default_factory=list)
    p95: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)
    rss: dict[str, list[float]] = field(default_factory=dict)
    gc_ms: dict[str, list[float]] = field(default_factory=dict)
    """Per process role: time in garbage collection over a run (backlog and latency), ms."""
    gc_longest: dict[str, list[float]] = field(default_factory=dict)
    """Per process role: upper bound of the longest collection's histogram bucket, ms."""
    cpu_us: dict[str, list[float]] = field(default_factory=dict)
    """CPU µs per record (every thread of the process, /proc or process_time) while a backlog is
    worked off, per process (a peer's: "process"; the platform's: by roles, and "Redis" for
    redis-server's share)."""
    redis_forked_us: list[float] = field(default_factory=list)
    """Of "Redis" above, what its forked children took: its append-only-file rewrites."""
    kernel_us: dict[str, list[float]] = field(default_factory=dict)
    """Of `cpu_us`, the kernel's (system time: page faults, system calls), per process as there
    (not Redis's). A process that faults in much new memory while measured pays most of its
    slow runs here (BENCHMARKS.md, 2026-12-04: the Quix Streams peers' slow mode)."""


def med(values: list[float], digits: int = 0) -> str:
    if not values:
        return "-"
    f = f",.{digits}f"
    return f"{statistics.median(values):{f}} ({min(values):{f}}–{max(values):{f}})"


def med_ms(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):.1f} ({min(values):.1f}–{max(values):.1f})"


def gc_pauses(m: Metrics) -> tuple[float, float]:
    """(collections, seconds) so far."""
    return m.sum("shebao_gc_pause_seconds_count"), m.sum("shebao_gc_pause_seconds_sum")


def longest_gc_ms(m: Metrics) -> float:
    """The upper bound (ms) of the smallest gc-pause bucket holding every collection."""
    total = m.sum("shebao_gc_pause_seconds_count")
    for le in ("0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25"):
        if m.sum("shebao_gc_pause_seconds_bucket", le=le) >= total:
            return float(le) * 1000
    return float("inf")


@dataclass
class ContributionFigures:
    collections: list[float] = field(default_factory=list)
    credits: list[float] = field(default_factory=list)
    bookings: list[float] = field(default_factory=list)
    p50: list[float] = field(default_factory=list)
    p95: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)
    rss: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)
    """CPU µs of the contributions process per credited person-month, over the backlog."""
    redis_us: list[float] = field(default_factory=list)
    """The same of the redis-server serving the run, with the AOF rewrites it forks."""
    redis_forked_us: list[float] = field(default_factory=list)
    """Of `redis_us`, what its forked children took: its append-only-file rewrites."""


@dataclass
class Medical:
    raw: Figures
    quix: Figures | None
    """The Quix Streams hop, exactly-once (None with --no-quix)."""
    results: dict[str, Figures]
    saturation: tuple[float, float, float] | None
    best: float
    quix_ingest: Figures | None = None
    """The Quix Streams hop doing ingest's work (`quix.ingest_step`; None with --no-quix)."""
    quix_adjudicate: Figures | None = None
    """The Quix Streams hop doing adjudication's work with the service's rules
    (`quix.adjudicate_step`), on what `quix_ingest` forwarded, at the same time (None with
    --no-quix)."""
    quix_both: Figures | None = None
    """Those two hops together: their throughput (first to last answer) and summed CPU."""
    runtime_sum: Figures | None = None
    """The platform's runtime doing the Quix Streams hop's step (`sum_hop`): its process's CPU
    and Redis's per record, its throughput (first to last output)."""


def timeline(
    hops: dict[str, tuple[int, int, int]], step_ms: int = 500
) -> list[tuple[float, int, list[tuple[int, int]]]]:
    """Per `step_ms` of send time: (start, s; claims; each hop's (p50, max) ms) of claims given
    as id -> (sent, received by the second hop, answered), epoch ms. A tail that comes from one
    stretch of the load (a pause, a fork, the start) shows in its rows; one spread over the
    whole load does not."""
    if not hops:
        return []
    t0 = min(sent for sent, _, _ in hops.values())
    rows: dict[int, list[tuple[int, int]]] = {}
    for sent, received, answered in hops.values():
        rows.setdefault((sent - t0) // step_ms, []).append((received - sent, answered - received))
    out = []
    for step in sorted(rows):
        claims = rows[step]
        per_hop = []
        for i in range(2):
            ms = sorted(c[i] for c in claims)
            per_hop.append((ms[len(ms) // 2], ms[-1]))
        out.append((step * step_ms / 1000, len(claims), per_hop))
    return out
