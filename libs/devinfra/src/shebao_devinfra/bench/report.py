"""What the benchmark prints as it goes, and the report it adds to BENCHMARKS.md."""

from __future__ import annotations

import argparse
import statistics
from datetime import UTC, datetime
from pathlib import Path

from ..kit import PARTITIONS
from .figures import ContributionFigures, Figures, Medical, med, med_ms
from .machine import machine
from .setting import (
    ADJUDICATE_ROLES,
    CONTRIB_REGIONS,
    HOSPITALS,
    INGEST_ROLES,
    MAIN_LAYOUT,
    WARMUP_CLAIMS,
)


def say(text: str) -> None:
    print(text, flush=True)


def command_line(args: argparse.Namespace) -> str:
    parts = [f"--runs {args.runs}"]
    if args.only:
        parts.append(f"--only {args.only}")
    if args.only in (None, "medical"):
        parts.append(f"--claims {args.claims} --persons {args.persons}")
        if args.rate != 1000:
            parts.append(f"--rate {args.rate:g}")
        if args.layout:
            parts += [f"--layout '{name}'" for name in args.layout]
    if args.only in (None, "contributions"):
        parts.append(
            f"--employers {args.employers} --employees {args.employees} "
            f"--collection-rate {args.collection_rate:g}"
        )
    if not args.latency:
        parts.append("--no-latency")
    elif args.only in (None, "medical") and args.warmup_claims != WARMUP_CLAIMS:
        parts.append(f"--warmup-claims {args.warmup_claims}")
    if args.only in (None, "medical") and not args.quix:
        parts.append("--no-quix")
    return "python -m shebao_devinfra.bench " + " ".join(parts)


def process_cpu(f: Figures) -> list[float]:
    """Per run, the CPU µs per claim of the layout's Python processes together."""
    runs = [v for n, v in f.cpu_us.items() if n != "Redis"]
    return [sum(per_run) for per_run in zip(*runs, strict=True)] if runs else []


def per_run(num: list[float], den: list[float]) -> list[float]:
    """num ÷ den run by run: one run's figures are measured minutes apart, in one hour of the
    machine, whose speed moves more from one run to the next."""
    return [a / b for a, b in zip(num, den, strict=True) if b]


def plus(a: list[float], b: list[float]) -> list[float]:
    return [x + y for x, y in zip(a, b, strict=True)]


def kernel_parts(r: Medical) -> list[tuple[str, list[float]]]:
    """Each measured process's kernel µs per record, named as in the table."""
    peers = {
        "raw loop": r.raw,
        "Quix Streams decode-and-sum": r.quix,
        "Quix Streams ingest's work": r.quix_ingest,
        "Quix Streams adjudication's work": r.quix_adjudicate,
        "the runtime alone": r.runtime_sum,
    }
    out = [
        (what, f.kernel_us["process"]) for what, f in peers.items() if f is not None and f.kernel_us
    ]
    for name, f in r.results.items():
        out += [(f"{name} / {roles}", v) for roles, v in f.kernel_us.items()]
    return out


def same_run_ratios(r: Medical) -> list[str]:
    """Issue 20's comparisons, each ratio within one run: the runtime alone, and each hop of
    the main layout, against the Quix Streams decode-and-sum hop; each hop, and both with all
    of Redis, against the Quix Streams hops doing the same work."""
    out = []
    decode_sum = r.quix.cpu_us.get("process", []) if r.quix is not None else []
    alone = r.runtime_sum.cpu_us if r.runtime_sum is not None else {}
    if decode_sum and alone.get("process"):
        out.append(
            "the runtime alone (`sum_hop`) ÷ the Quix Streams decode-and-sum hop "
            f"{med(per_run(alone['process'], decode_sum), 2)}, with its Redis "
            f"{med(per_run(plus(alone['process'], alone['Redis']), decode_sum), 2)}"
        )
    main = r.results.get(MAIN_LAYOUT)
    if main is None or INGEST_ROLES not in main.cpu_us or ADJUDICATE_ROLES not in main.cpu_us:
        return out
    ingest, adjudicate = main.cpu_us[INGEST_ROLES], main.cpu_us[ADJUDICATE_ROLES]
    if decode_sum:
        out.append(
            f"{MAIN_LAYOUT}'s processes ÷ the decode-and-sum hop: ingest "
            f"{med(per_run(ingest, decode_sum), 2)}, adjudication "
            f"{med(per_run(adjudicate, decode_sum), 2)}"
        )
    if r.quix_ingest is not None and r.quix_adjudicate is not None and r.quix_both is not None:
        both = plus(process_cpu(main), main.cpu_us["Redis"])
        out.append(
            f"{MAIN_LAYOUT}'s processes ÷ the Quix Streams hops doing the same work: ingest "
            f"{med(per_run(ingest, r.quix_ingest.cpu_us['process']), 2)}, adjudication "
            f"{med(per_run(adjudicate, r.quix_adjudicate.cpu_us['process']), 2)}; both with all "
            f"of Redis ÷ those two hops {med(per_run(both, r.quix_both.cpu_us['process']), 2)}"
        )
    return out


def medical_report(args: argparse.Namespace, r: Medical) -> list[str]:
    raw_med = statistics.median(r.raw.throughput)
    lines = [
        "### Medical settlement: claims to settlements",
        "",
        f"Workload: {args.claims:,} inpatient claims (3–6 lines each) over {len(HOSPITALS)} "
        f"hospital topics of {PARTITIONS} partitions, {args.persons:,} insured persons; "
        f"internal topics of {PARTITIONS} partitions. Median of {args.runs} runs (min–max).",
        "",
        f"| what | claims/s | ratio to raw | CPU µs per claim: Python processes | Redis "
        f"| p50 ms @{args.rate:,.0f}/s | p95 | p99 |",
        "|---|---|---|---|---|---|---|---|",
        f"| raw aiokafka consume → decode → produce | {med(r.raw.throughput)} | 1.00 "
        f"| {med(r.raw.cpu_us.get('process', []))} | | | | |",
    ]
    if r.quix is not None:
        ratio = statistics.median(r.quix.throughput) / raw_med
        lines.append(
            "| Quix Streams, exactly-once: decode → sum lines → RocksDB state → produce "
            f"| {med(r.quix.throughput)} | {ratio:.2f} | {med(r.quix.cpu_us.get('process', []))} "
            "| | | | |"
        )
    if r.quix_ingest is not None and r.quix_adjudicate is not None and r.quix_both is not None:
        ratio = statistics.median(r.quix_both.throughput) / raw_med
        lines += [
            "| Quix Streams, exactly-once, ingest's work: CloudEvents headers → pydantic contract "
            "→ claim checks → pseudonym → RocksDB state (event id, claim id's holder) → produce "
            f"| | | {med(r.quix_ingest.cpu_us.get('process', []))} | | | | |",
            "| Quix Streams, exactly-once, adjudication's work on that hop's output, at the same "
            "time: pydantic contract → the service's own rules → RocksDB state (event id, claim "
            "record, year totals) → answer and event produced (no hospital-month counters) "
            f"| | | {med(r.quix_adjudicate.cpu_us.get('process', []))} | | | | |",
            "| Quix Streams, those two hops together (two processes, as ingest + adjudicate) "
            f"| {med(r.quix_both.throughput)} | {ratio:.2f} "
            f"| {med(r.quix_both.cpu_us.get('process', []))} | | | | |",
        ]
    if r.runtime_sum is not None:
        f = r.runtime_sum
        lines.append(
            "| the platform's runtime doing that Quix Streams hop's step: contract (compiled "
            "codec) → sum lines → Redis state → produce, exactly-once (`sum_hop`) "
            f"| {med(f.throughput)} | {statistics.median(f.throughput) / raw_med:.2f} "
            f"| {med(f.cpu_us.get('process', []))} | {med(f.cpu_us.get('Redis', []))} | | | |"
        )
    for name, f in r.results.items():
        ratio = statistics.median(f.throughput) / raw_med
        lines.append(
            f"| platform: {name} | {med(f.throughput)} | {ratio:.2f} | {med(process_cpu(f))} | "
            f"{med(f.cpu_us.get('Redis', []))} | "
            f"{med_ms(f.p50)} | {med_ms(f.p95)} | {med_ms(f.p99)} |"
        )
    lines += [
        "",
        "CPU per claim: CPU seconds of every thread of a process over the backlog's run, divided "
        "by the records (the peers: from their first record consumed to their last output, "
        "`time.process_time()`; each settlement process: from its first HTTP answer, before it "
        "connects, to the last settlement, /proc, less what the same start costs with nothing "
        "to consume, over the claims, instances of the same roles together (the runtime alone, "
        "`sum_hop`, likewise, on a run of its own); the layout's Python "
        "processes: the sum over its hops; Redis: the redis-server serving the run with the "
        "append-only-file rewrites it forks, from the services' start, likewise). Per hop, µs: "
        + "; ".join(
            f"{name} / {n}: {med(v)}"
            for name, f in r.results.items()
            for n, v in f.cpu_us.items()
            if n != "Redis"
        )
        + ". Of Redis's, its append-only-file rewrites (the children it forks; how many fall "
        "inside a run's window moves Redis's figure), µs: "
        + "; ".join(f"{name}: {med(f.redis_forked_us)}" for name, f in r.results.items())
        + ". Of each process's, the kernel's (system time: page faults, system calls; a slow run "
        "of a peer is mostly here, BENCHMARKS.md 2026-12-04), µs: "
        + "; ".join(f"{what}: {med(v)}" for what, v in kernel_parts(r)),
    ]
    lines.append("")
    ratios = same_run_ratios(r)
    if ratios:
        lines += [
            "Ratios of CPU per claim, each taken within one run (median (min–max) over the "
            "runs): " + "; ".join(ratios) + ".",
            "",
        ]
    if r.saturation is not None:
        lines += [
            f"Latency above saturation (offered {r.best * 1.3:,.0f} claims/s for 10 s, ingest + "
            f"adjudicate): p50 {r.saturation[0]:.0f} ms, p95 {r.saturation[1]:.0f} ms, "
            f"p99 {r.saturation[2]:.0f} ms (queueing: the backlog grows while offered > served).",
            "",
        ]
    lines += [
        "Peak RSS (VmHWM) per service process, MB: "
        + "; ".join(
            f"{name} / {roles}: {med(v)}"
            for name, f in r.results.items()
            for roles, v in f.rss.items()
        ),
        "",
        "Garbage collection per service process over a run, ms in all / longest pause at most: "
        + "; ".join(
            f"{name} / {roles}: {med(v)} / {med(f.gc_longest[roles], 1)}"
            for name, f in r.results.items()
            for roles, v in f.gc_ms.items()
        ),
        "",
    ]
    return lines


def contributions_report(args: argparse.Namespace, r: ContributionFigures) -> list[str]:
    persons = args.employers * args.employees
    lines = [
        "### Contributions: bureau collections to payments and credits",
        "",
        f"Workload: {args.employers:,} employers of {args.employees} employees ({persons:,} "
        f"persons) in {len(CONTRIB_REGIONS)} regions, one tax bureau each; per month a wage "
        "declaration per employer and a close per region, then one "
        "EmployerContributionsCollected per employer (the full amount due), each booked "
        f"(PaymentBooked) and fanned out to {args.employees} ContributionCredited. Population "
        "loaded as enrollment events, not through enrollment. Topics of "
        f"{PARTITIONS} partitions; one contributions process. Median of {args.runs} runs "
        "(min–max).",
        "",
        "| what | collections/s | credits (person-months)/s | payments booked/s "
        f"| p50 ms @{args.collection_rate:g}/s | p95 | p99 |",
        "|---|---|---|---|---|---|---|",
        f"| backlog of {args.employers:,} reports, service started after | "
        f"{med(r.collections, 1)} | {med(r.credits)} | {med(r.bookings)} | | | |",
    ]
    if r.p50:
        lines.append(
            f"| offered {args.collection_rate:g} reports/s "
            f"({args.collection_rate * args.employees:,.0f} credits/s), service running | | | | "
            f"{med_ms(r.p50)} | {med_ms(r.p95)} | {med_ms(r.p99)} |"
        )
    lines += [
        "",
        "Backlog: collections and credits per second over the same span, from the Kafka "
        "timestamp of the first PaymentBooked to that of the last ContributionCredited; payments "
        "booked/s from the first to the last PaymentBooked. Latency: from a report's produce "
        "timestamp to that of the last credit of its employer's month.",
        "",
        f"Peak RSS (VmHWM) of the contributions process, MB: {med(r.rss)}",
        "",
        "CPU µs per credited person-month over the backlog (every thread, /proc, from the "
        "process's first HTTP answer to the month's last credit, less what the same start "
        f"costs with nothing to consume): the contributions process {med(r.cpu_us)}, Redis "
        f"{med(r.redis_us)}, of which its append-only-file rewrites {med(r.redis_forked_us)}",
        "",
    ]
    return lines


def write_report(
    args: argparse.Namespace,
    medical: Medical | None,
    contributions: ContributionFigures | None,
    seconds: float,
) -> None:
    today = datetime.now(UTC).date().isoformat()
    lines = [
        f"## Run of {today}",
        "",
        f"Command: `make bench` (`{command_line(args)}`), {seconds / 60:.0f} minutes  ",
        f"Machine: {machine()}",
        "",
    ]
    if medical is not None:
        lines += medical_report(args, medical)
    if contributions is not None:
        lines += contributions_report(args, contributions)
    if not args.write:
        say("\n".join(lines))
        return
    path = Path.cwd() / "BENCHMARKS.md"  # the repository's: make runs in its root
    header = path.read_text() if path.exists() else "# Benchmarks\n\n"
    marker = "<!-- runs -->\n"
    if marker not in header:
        header += marker
    head, _, rest = header.partition(marker)
    path.write_text(head + marker + "\n".join(lines) + "\n" + rest)
    say("\n".join(lines))
    say(f"written to {path}")
