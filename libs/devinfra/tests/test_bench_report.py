"""The report's ratios of CPU per claim are taken within each run, then summarised: the
machine's speed moves between runs (BENCHMARKS.md), so a ratio of two medians could pair a
quick run of one with a slow run of the other."""

from __future__ import annotations

import argparse

from shebao_devinfra.bench.figures import Figures, Medical
from shebao_devinfra.bench.report import kernel_parts, medical_report, same_run_ratios


def figures(**cpu: list[float]) -> Figures:
    return Figures(throughput=[1000.0, 1000.0, 1000.0], cpu_us=dict(cpu))


def medical(with_peers: bool = True) -> Medical:
    # three runs; the third on a slow stretch, where every figure doubled
    main = figures(
        **{
            "ingest,coverage,statements": [120.0, 130.0, 260.0],
            "adjudicate": [220.0, 240.0, 480.0],
            "Redis": [60.0, 30.0, 120.0],
        }
    )
    return Medical(
        raw=figures(process=[20.0, 20.0, 40.0]),
        quix=figures(process=[40.0, 80.0, 80.0]) if with_peers else None,
        results={
            "one process": figures(**{"ingest,adjudicate": [1.0, 1.0, 1.0], "Redis": [1.0] * 3}),
            "ingest + adjudicate": main,
        },
        saturation=None,
        best=0.0,
        quix_ingest=figures(process=[100.0, 130.0, 200.0]) if with_peers else None,
        quix_adjudicate=figures(process=[200.0, 300.0, 400.0]) if with_peers else None,
        quix_both=figures(process=[300.0, 430.0, 600.0]) if with_peers else None,
        runtime_sum=figures(process=[60.0, 100.0, 160.0], Redis=[20.0, 20.0, 40.0]),
    )


def test_each_ratio_is_taken_within_a_run() -> None:
    alone, per_hop, same_work = same_run_ratios(medical())
    # 60/40, 100/80, 160/80: median 1.50, where the medians' ratio would be 100/80 = 1.25
    assert alone == (
        "the runtime alone (`sum_hop`) ÷ the Quix Streams decode-and-sum hop 1.50 (1.25–2.00),"
        " with its Redis 2.00 (1.50–2.50)"
    )
    assert per_hop == (
        "ingest + adjudicate's processes ÷ the decode-and-sum hop: ingest 3.00 (1.62–3.25),"
        " adjudication 5.50 (3.00–6.00)"
    )
    # both hops with Redis: 400/300, 400/430, 860/600
    assert same_work == (
        "ingest + adjudicate's processes ÷ the Quix Streams hops doing the same work: ingest"
        " 1.20 (1.00–1.30), adjudication 1.10 (0.80–1.20); both with all of Redis ÷ those two"
        " hops 1.33 (0.93–1.43)"
    )


def test_without_the_peers_there_is_nothing_to_compare() -> None:
    assert same_run_ratios(medical(with_peers=False)) == []


def test_the_report_gives_them_after_its_table() -> None:
    args = argparse.Namespace(claims=20_000, persons=20_000, runs=3, rate=1000.0)
    lines = medical_report(args, medical())
    ratios = [line for line in lines if line.startswith("Ratios of CPU per claim")]
    assert len(ratios) == 1
    assert ratios[0].endswith("those two hops 1.33 (0.93–1.43).")
    assert lines.index(ratios[0]) > max(i for i, line in enumerate(lines) if line.startswith("|"))


def test_the_kernels_part_of_each_process_is_given_by_name() -> None:
    r = medical()
    assert r.quix is not None and r.runtime_sum is not None
    r.quix.kernel_us["process"] = [2.0, 3.0, 20.0]  # a slow run of the peer: its kernel's time
    r.runtime_sum.kernel_us["process"] = [4.0, 4.0, 5.0]
    r.results["ingest + adjudicate"].kernel_us["adjudicate"] = [6.0, 7.0, 6.0]
    assert kernel_parts(r) == [
        ("Quix Streams decode-and-sum", [2.0, 3.0, 20.0]),
        ("the runtime alone", [4.0, 4.0, 5.0]),
        ("ingest + adjudicate / adjudicate", [6.0, 7.0, 6.0]),
    ]
    args = argparse.Namespace(claims=20_000, persons=20_000, runs=3, rate=1000.0)
    note = next(line for line in medical_report(args, r) if line.startswith("CPU per claim"))
    assert note.endswith(
        "µs: Quix Streams decode-and-sum: 3 (2–20); the runtime alone: 4 (4–5); "
        "ingest + adjudicate / adjudicate: 6 (6–7)"
    )
