"""`make bench --timeline`: each hop's latency per half second of the offered load, so a p99 can
be traced to the stretch of the load it came from (BENCHMARKS.md, 2026-12-04: Redis's
append-only-file rewrites, every ~7 s at 1,000 claims/s)."""

from __future__ import annotations

from shebao_devinfra.bench.figures import timeline


def test_each_half_second_of_sending_gets_its_hops_median_and_worst() -> None:
    hops = {
        "a": (1_000, 1_030, 1_050),  # sent at 0 s: 30 ms to the second hop, 20 ms in it
        "b": (1_100, 1_140, 1_200),
        "c": (1_200, 1_220, 1_240),
        "d": (1_600, 1_700, 2_100),  # the next half second: a slow second hop
    }
    assert timeline(hops) == [
        (0.0, 3, [(30, 40), (20, 60)]),
        (0.5, 1, [(100, 100), (400, 400)]),
    ]


def test_a_gap_in_the_load_leaves_no_empty_row() -> None:
    rows = timeline({"a": (0, 10, 20), "b": (2_000, 2_010, 2_020)}, step_ms=500)
    assert [(start, n) for start, n, _ in rows] == [(0.0, 1), (2.0, 1)]
    assert timeline({}) == []
