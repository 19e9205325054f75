"""make bench: the settlement pipeline against the raw limit of this stack, same broker, same run.

1. the limit: scripts/bench_raw.py, a raw aiokafka consume -> JSON decode -> produce loop;
2. the platform: hospital claims topics -> ingest -> adjudicate -> settlements topics, with full
   validation, state and exactly-once effects, in three layouts: one process with every stage,
   ingest and adjudication in separate processes, and two adjudication instances.
Throughput is measured on a backlog (claims produced first, services started after), from the
Kafka timestamps of the first and last settlement; latency from each claim's produce timestamp
to its settlement's, at a fixed offered load of 1,000 claims/s and above saturation. Each figure
is the median of several runs with the spread. Results go to BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from shebao_contracts import enrollment as en
from shebao_contracts import medical as m
from shebao_contracts.envelope import Envelope
from shebao_contracts.types import citizen_id_check_char
from shebao_devinfra.infra import provision
from shebao_devinfra.testing import (
    ServiceProcess,
    message_record,
    producer,
    read_all,
    recreate_topics,
    wait_until,
)

ROOT = Path(__file__).resolve().parent.parent
HOSPITALS = [(f"h3201{n:05d}", ("primary", "secondary", "tertiary")[n % 3]) for n in range(8)]
PARTITIONS = 4


def say(text: str) -> None:
    print(text, flush=True)


def citizen_id(n: int) -> str:
    born = date(1960, 1, 1).toordinal() + (n * 7919) % 16000
    first17 = f"320102{date.fromordinal(born):%Y%m%d}{n % 1000:03d}"
    return first17 + citizen_id_check_char(first17)


def claim_body(rng: random.Random, claim_id: str, hospital: str, patient: str) -> bytes:
    lines = []
    for _ in range(rng.randint(3, 6)):
        qty = rng.randint(1, 10)
        unit = Decimal(rng.randint(100, 300_000)) / 100
        lines.append(
            {
                "item_code": f"X{rng.randrange(10**9):09d}",
                "category": rng.choice(
                    ["class_a_drug", "class_b_drug", "treatment", "material", "outside_scope"]
                ),
                "quantity": str(qty),
                "unit_price": f"{unit:.2f}",
                "amount": f"{unit * qty:.2f}",
            }
        )
    total = sum(Decimal(x["amount"]) for x in lines)
    return json.dumps(
        {
            "hospital": hospital,
            "claim_id": claim_id,
            "patient_citizen_id": patient,
            "visit_type": "inpatient",
            "admission_date": "2025-03-02",
            "discharge_date": "2025-03-09",
            "diagnosis_code": "J18.9",
            "lines": lines,
            "total": f"{total:.2f}",
        }
    ).encode()


def headers(claim_id: str, hospital: str) -> list[tuple[str, bytes]]:
    return Envelope(
        id=claim_id,
        type=m.ClaimSubmitted.TYPE,
        source=f"/partners/{hospital}",
        time=datetime(2025, 3, 9, 10, tzinfo=UTC),
    ).to_headers()


@dataclass
class Figures:
    throughput: list[float] = field(default_factory=list)
    p50: list[float] = field(default_factory=list)
    p95: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)
    rss: dict[str, list[float]] = field(default_factory=dict)


def med(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):,.0f} ({min(values):,.0f}–{max(values):,.0f})"


def med_ms(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):.1f} ({min(values):.1f}–{max(values):.1f})"


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rng = random.Random(20261129)
        self.run_id = 0
        self.logs = Path(tempfile.mkdtemp(prefix="shebao-bench-"))

    async def setup(self) -> None:
        self.infra = await asyncio.to_thread(provision)
        say(f"Kafka {self.infra.kafka_bootstrap}, Redis {self.infra.redis_url} ({self.infra.mode})")
        topics = [en.EVENTS.name, m.COMMANDS.name, m.EVENTS.name, "shebao.welfare.events.v1"]
        for code, _ in HOSPITALS:
            topics += [
                m.CLAIMS.named(code=code),
                m.SETTLEMENTS.named(code=code),
                m.CLAIMS.named(code=code) + ".dlq",
            ]
        await recreate_topics(self.infra.kafka_bootstrap, topics, partitions=PARTITIONS)
        self.prod = await producer(
            self.infra.kafka_bootstrap, linger_ms=10, max_batch_size=1024 * 1024
        )

    async def load_population(self) -> None:
        """Coverage for the synthetic population and the hospital registry, before measuring."""
        n = self.args.persons
        from shebao_common.pseudonym import Pseudonymizer
        from shebao_common.settings import DEV_PSEUDONYM_KEY

        refs = Pseudonymizer(DEV_PSEUDONYM_KEY.encode())
        for i in range(n):
            ref = refs.person_ref(citizen_id(i))
            ev = en.MembershipStarted(
                person=ref,
                scheme="employee_medical" if i % 3 else "resident_medical",
                insurance="medical",
                region="320100",
                since=date(2020, 1, 1),
                first_enrolled=date(2020, 1, 1),
                basis="employment",
                birth_date=date(1980, 1, 1),
                sex="male",
            )
            k, v, h = message_record(
                ev, message_id=f"pop-{i}", time=datetime(2025, 1, 1, tzinfo=UTC), key=ref
            )
            await self.prod.send(en.EVENTS.name, key=k, value=v, headers=h)
        for code, level in HOSPITALS:
            k, v, h = message_record(
                m.RegisterHospital(
                    hospital=code,
                    name=code,
                    level=level,
                    region="320100",
                    designated_from=date(2015, 1, 1),
                ),
                message_id=f"reg-{code}",
                time=datetime(2025, 1, 1, tzinfo=UTC),
                key=code,
            )
            await self.prod.send(m.COMMANDS.name, key=k, value=v, headers=h)
        await self.prod.flush()

    def services(self, layout: str) -> list[ServiceProcess]:
        env = {"SHEBAO_MEDICAL_SETTLEMENT_TOPIC_PARTITIONS": str(PARTITIONS)}

        def svc(roles: str) -> ServiceProcess:
            return ServiceProcess(
                "medical-settlement",
                "shebao_medical_settlement",
                kafka=self.infra.kafka_bootstrap,
                redis_url=self.infra.redis_url,
                log_dir=self.logs,
                env={**env, "SHEBAO_MEDICAL_SETTLEMENT_ROLES": roles},
            )

        if layout == "one process":
            return [svc("ingest,adjudicate,coverage,statements")]
        if layout == "ingest + adjudicate":
            return [svc("ingest,coverage,statements"), svc("adjudicate")]
        return [svc("ingest,coverage,statements"), svc("adjudicate"), svc("adjudicate")]

    async def produce_claims(self, count: int, rate: float | None = None) -> list[str]:
        """Claims over the hospitals' topics, at a fixed rate (claims/s) or as fast as possible."""
        self.run_id += 1
        ids = []
        started = time.perf_counter()
        for i in range(count):
            code, _ = HOSPITALS[i % len(HOSPITALS)]
            claim_id = f"R{self.run_id}-{i}"
            patient = citizen_id(self.rng.randrange(self.args.persons))
            await self.prod.send(
                m.CLAIMS.named(code=code),
                key=claim_id.encode(),
                value=claim_body(self.rng, claim_id, code, patient),
                headers=headers(claim_id, code),
            )
            ids.append(claim_id)
            if rate is not None and i % 50 == 49:
                ahead = (i + 1) / rate - (time.perf_counter() - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)
        await self.prod.flush()
        return ids

    async def settlement_times(self, ids: list[str]) -> dict[str, tuple[int, int]]:
        """claim id -> (claim produce ms, settlement produce ms), for the given claims."""
        wanted = set(ids)
        sent: dict[str, int] = {}
        for code, _ in HOSPITALS:
            for r in await read_all(self.infra.kafka_bootstrap, m.CLAIMS.named(code=code)):
                cid = r.key.decode()
                if cid in wanted:
                    sent[cid] = r.timestamp
        out: dict[str, tuple[int, int]] = {}
        for code, _ in HOSPITALS:
            for r in await read_all(self.infra.kafka_bootstrap, m.SETTLEMENTS.named(code=code)):
                cid = r.key.decode()
                if cid in wanted and cid not in out:
                    out[cid] = (sent[cid], r.timestamp)
        return out

    async def wait_settled(self, ids: list[str], timeout: float) -> None:
        async def done() -> bool:
            total = 0
            for code, _ in HOSPITALS:
                c = await self.end_offset(m.SETTLEMENTS.named(code=code))
                total += c
            return total >= self.expected_settlements + len(ids)

        await wait_until(done, timeout=timeout, interval=1.0)
        self.expected_settlements += len(ids)

    async def end_offset(self, topic: str) -> int:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        c = AIOKafkaConsumer(bootstrap_servers=self.infra.kafka_bootstrap, group_id=None)
        await c.start()
        try:
            tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
            ends = await c.end_offsets(tps)
            return sum(ends.values())
        finally:
            await c.stop()

    # -------------------------------------------------------------------------------------------

    async def raw(self, figures: Figures) -> None:
        count = self.args.claims
        src, dst = f"bench.raw.in.{self.run_id}", f"bench.raw.out.{self.run_id}"
        await recreate_topics(self.infra.kafka_bootstrap, [src, dst], partitions=PARTITIONS)
        for i in range(count):
            code, _ = HOSPITALS[i % len(HOSPITALS)]
            cid = f"raw-{self.run_id}-{i}"
            await self.prod.send(
                src,
                key=cid.encode(),
                headers=headers(cid, code),
                value=claim_body(self.rng, cid, code, citizen_id(i)),
            )
        await self.prod.flush()
        self.run_id += 1
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(ROOT / "scripts" / "bench_raw.py"),
            "--bootstrap",
            self.infra.kafka_bootstrap,
            "--source",
            src,
            "--sink",
            dst,
            "--count",
            str(count),
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"the raw loop failed with {proc.returncode}")
        result = json.loads(out.decode().strip().splitlines()[-1])
        figures.throughput.append(result["records"] / result["seconds"])

    async def platform_run(self, layout: str, figures: Figures) -> None:
        """Throughput on a backlog, then latency at 1,000/s, for one layout."""
        procs = self.services(layout)
        ids = await self.produce_claims(self.args.claims)  # the backlog, services stopped
        for p in procs:
            p.start()
        for p in procs:
            await p.wait_ready()
        await self.wait_settled(ids, timeout=600)
        times = await self.settlement_times(ids)
        settled_at = sorted(t for _, t in times.values())
        span = (settled_at[-1] - settled_at[0]) / 1000
        figures.throughput.append(len(settled_at) / span if span else float("nan"))

        if self.args.latency:
            ids = await self.produce_claims(self.args.latency_claims, rate=1000)
            await self.wait_settled(ids, timeout=300)
            lat = sorted(t1 - t0 for t0, t1 in (await self.settlement_times(ids)).values())
            q = statistics.quantiles(lat, n=100, method="inclusive")
            figures.p50.append(q[49])
            figures.p95.append(q[94])
            figures.p99.append(q[98])
        for p in procs:
            roles = p.env["SHEBAO_MEDICAL_SETTLEMENT_ROLES"]
            assert p.proc is not None
            figures.rss.setdefault(roles, []).append(peak_rss_mb(p.proc.pid))
        for p in procs:
            p.terminate()

    async def saturation_latency(self, rate: float) -> tuple[float, float, float]:
        procs = self.services("ingest + adjudicate")
        for p in procs:
            p.start()
        for p in procs:
            await p.wait_ready()
        ids = await self.produce_claims(int(rate * 10), rate=rate)
        await self.wait_settled(ids, timeout=600)
        lat = sorted(t1 - t0 for t0, t1 in (await self.settlement_times(ids)).values())
        for p in procs:
            p.terminate()
        q = statistics.quantiles(lat, n=100, method="inclusive")
        return q[49], q[94], q[98]


async def main(args: argparse.Namespace) -> int:
    bench = Bench(args)
    bench.expected_settlements = 0
    await bench.setup()
    try:
        say(f"loading {args.persons} insured persons and {len(HOSPITALS)} hospitals")
        await bench.load_population()
        # One warm-up start applies the population before anything is measured.
        warm = bench.services("one process")[0]
        warm.start()
        await warm.wait_ready()

        async def population_loaded() -> bool:
            return (
                await warm.metric(
                    "shebao_records_total", subscription="coverage", outcome="applied"
                )
                >= args.persons
            )

        await wait_until(population_loaded, timeout=300, interval=1.0)
        warm.terminate()

        raw = Figures()
        layouts = ["one process", "ingest + adjudicate", "ingest + 2 x adjudicate"]
        results = {name: Figures() for name in layouts}
        for run in range(1, args.runs + 1):
            await bench.raw(raw)
            say(f"run {run}: raw loop {raw.throughput[-1]:,.0f} records/s")
            for name in layouts:
                await bench.platform_run(name, results[name])
                f = results[name]
                say(
                    f"run {run}: platform ({name}) {f.throughput[-1]:,.0f} claims/s"
                    + (f", p99 {f.p99[-1]:.0f} ms at 1,000/s" if f.p99 else "")
                )
        best = max(statistics.median(results[n].throughput) for n in layouts)
        saturation = await bench.saturation_latency(rate=best * 1.3)
        write_report(args, raw, results, saturation, best)
    finally:
        await bench.prod.stop()
        bench.infra.stop()
    return 0


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


def write_report(
    args: argparse.Namespace,
    raw: Figures,
    results: dict[str, Figures],
    saturation: tuple[float, float, float],
    best: float,
) -> None:
    raw_med = statistics.median(raw.throughput)
    today = datetime.now(UTC).date().isoformat()
    lines = [
        f"## Run of {today}",
        "",
        f"Command: `make bench` (`scripts/bench.py --runs {args.runs} --claims {args.claims} "
        f"--persons {args.persons}`)  ",
        f"Machine: {machine()}  ",
        f"Workload: {args.claims:,} inpatient claims (3–6 lines each) over {len(HOSPITALS)} "
        f"hospital topics of {PARTITIONS} partitions, {args.persons:,} insured persons; "
        f"internal topics of {PARTITIONS} partitions. Median of {args.runs} runs (min–max).",
        "",
        "| what | claims/s | ratio to raw | p50 ms @1,000/s | p95 | p99 |",
        "|---|---|---|---|---|---|",
        f"| raw aiokafka consume → decode → produce | {med(raw.throughput)} | 1.00 | | | |",
    ]
    for name, f in results.items():
        ratio = statistics.median(f.throughput) / raw_med
        lines.append(
            f"| platform: {name} | {med(f.throughput)} | {ratio:.2f} | "
            f"{med_ms(f.p50)} | {med_ms(f.p95)} | {med_ms(f.p99)} |"
        )
    lines += [
        "",
        f"Latency above saturation (offered {best * 1.3:,.0f} claims/s for 10 s, ingest + "
        f"adjudicate): p50 {saturation[0]:.0f} ms, p95 {saturation[1]:.0f} ms, "
        f"p99 {saturation[2]:.0f} ms (queueing: the backlog grows while offered > served).",
        "",
        "Peak RSS (VmHWM) per service process, MB: "
        + "; ".join(f"{roles}: {med(v)}" for f in results.values() for roles, v in f.rss.items()),
        "",
    ]
    path = ROOT / "BENCHMARKS.md"
    header = path.read_text() if path.exists() else "# Benchmarks\n\n"
    marker = "<!-- runs -->\n"
    if marker not in header:
        header += marker
    head, _, rest = header.partition(marker)
    path.write_text(head + marker + "\n".join(lines) + "\n" + rest)
    say("\n".join(lines))
    say(f"written to {path}")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--claims", type=int, default=20_000)
    p.add_argument("--persons", type=int, default=20_000)
    p.add_argument("--latency-claims", type=int, default=10_000)
    p.add_argument("--no-latency", dest="latency", action="store_false")
    sys.exit(asyncio.run(main(p.parse_args())))
