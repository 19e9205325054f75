"""make bench: the platform's two busiest flows against the raw limit of this stack.

Medical settlement (`--only medical`), against the same broker in the same run:
1. the limit: scripts/bench_raw.py, a raw aiokafka consume -> JSON decode -> produce loop;
2. the platform: hospital claims topics -> ingest -> adjudicate -> settlements topics, with full
   validation, state and exactly-once effects, in three layouts: one process with every stage,
   ingest and adjudication in separate processes, and two adjudication instances.
Throughput is measured on a backlog (claims produced first, services started after), from the
Kafka timestamps of the first and last settlement; latency from each claim's produce timestamp
to its settlement's, at a fixed offered load of 1,000 claims/s and above saturation.

Contributions collection (`--only contributions`): a synthetic population of employers and
employees is loaded as enrollment events produced straight onto shebao.enrollment.events.v1
(what enrollment would publish: employer registered, person registered, employment started, five
memberships), so the measurement does not include enrollment. Each month the employers declare
wages and the scheduler closes the month in four regions, so assessments exist; then the tax
bureaus' EmployerContributionsCollected reports are measured through payment booking and the
fan-out to one ContributionCredited per person:
- throughput on a backlog: a month's reports produced while the service is stopped, then the
  service started; from the Kafka timestamp of the first PaymentBooked to that of the last
  ContributionCredited (collections/s and person-months credited/s);
- latency at a fixed offered load (`--collection-rate`, reports/s, service running): from a
  report's produce timestamp to that of the last credit of the employer's month;
- peak RSS of the contributions process.

Each figure is the median of several runs with the spread. Results go to BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import random
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, TopicPartition

from shebao_common.policy import Policy
from shebao_common.runtime.store import Store
from shebao_contracts import contributions as cc
from shebao_contracts import enrollment as en
from shebao_contracts import medical as m
from shebao_contracts.envelope import Envelope
from shebao_contracts.types import citizen_id_check_char
from shebao_devinfra.infra import Infra, provision
from shebao_devinfra.testing import (
    Metrics,
    ServiceProcess,
    cpu_seconds,
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


ClaimRecord = tuple[str, bytes, bytes, list[tuple[str, bytes]]]
"""(topic, key, value, headers) of a hospital's claim."""


def claim_records(
    rng: random.Random, claim_ids: list[str], patient: Callable[[int], str]
) -> list[ClaimRecord]:
    """A claim per id, the hospitals taking turns; patient(i) is the i-th claim's citizen ID."""
    out = []
    for i, claim_id in enumerate(claim_ids):
        code, _ = HOSPITALS[i % len(HOSPITALS)]
        body = claim_body(rng, claim_id, code, patient(i))
        out.append((m.CLAIMS.named(code=code), claim_id.encode(), body, headers(claim_id, code)))
    return out


async def paced(records: list[ClaimRecord], rate: float | None) -> AsyncIterator[ClaimRecord]:
    """The records, PACE_STEP at a time at `rate` a second (None: all at once)."""
    started = time.perf_counter()
    for i, record in enumerate(records):
        yield record
        if rate is not None and i % PACE_STEP == PACE_STEP - 1:
            ahead = (i + 1) / rate - (time.perf_counter() - started)
            if ahead > 0:
                await asyncio.sleep(ahead)


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


def med(values: list[float], digits: int = 0) -> str:
    if not values:
        return "-"
    f = f",.{digits}f"
    return f"{statistics.median(values):{f}} ({min(values):{f}}–{max(values):{f}})"


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


def cpu_of(pids: list[int]) -> float:
    """CPU seconds these processes have used so far (those still running)."""
    return sum(c for c in map(cpu_seconds, pids) if c is not None)


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


async def drop_service_state(redis_url: str, service: str) -> None:
    """Delete a service's keys in Redis (state, offsets, outboxes, dedupe marks).

    The benchmark re-creates the service's topics, so what the service stored about the old ones
    goes too: offsets stored for the old topics would point past the new ones' ends (a second
    `make bench` against the same `make infra-up` Redis waited for records it skipped)."""
    r = aioredis.Redis.from_url(redis_url)
    try:
        batch: list[bytes] = []
        prefix = Store(r, service).prefix  # the store's key layout, not a copy of it
        async for key in r.scan_iter(match=f"{prefix}:*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                await r.unlink(*batch)
                batch.clear()
        if batch:
            await r.unlink(*batch)
    finally:
        await r.aclose()


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


class Bench:
    def __init__(self, args: argparse.Namespace, infra: Infra, logs: Path) -> None:
        self.args = args
        self.infra = infra
        self.rng = random.Random(20261129)
        self.run_id = 0
        self.logs = logs
        self.expected_settlements = 0

    async def setup(self) -> None:
        topics = [en.EVENTS.name, m.COMMANDS.name, m.EVENTS.name, "shebao.welfare.events.v1"]
        for code, _ in HOSPITALS:
            topics += [
                m.CLAIMS.named(code=code),
                m.SETTLEMENTS.named(code=code),
                m.CLAIMS.named(code=code) + ".dlq",
            ]
        await recreate_topics(self.infra.kafka_bootstrap, topics, partitions=PARTITIONS)
        await drop_service_state(self.infra.redis_url, "medical-settlement")
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
        if layout == "2 x one process":
            every = "ingest,adjudicate,coverage,statements"
            return [svc(every), svc(every)]
        return [svc("ingest,coverage,statements"), svc("adjudicate"), svc("adjudicate")]

    async def produce_claims(self, count: int, rate: float | None = None) -> list[str]:
        """Claims over the hospitals' topics, at a fixed rate (claims/s) or as fast as possible.

        The records are built before the first is sent, so that generating them takes no CPU
        from the services while they are measured, and a paced run sends them in steps of
        PACE_STEP claims (5 ms at 1,000/s) rather than in bursts.
        """
        self.run_id += 1
        ids = [f"R{self.run_id}-{i}" for i in range(count)]
        records = claim_records(
            self.rng, ids, lambda _: citizen_id(self.rng.randrange(self.args.persons))
        )
        async for topic, key, value, hdrs in paced(records, rate):
            await self.prod.send(topic, key=key, value=value, headers=hdrs)
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

    async def received_times(self, ids: list[str]) -> dict[str, int]:
        """claim id -> produce ms of its ClaimReceived (ingest's output, adjudication's input)."""
        wanted = set(ids)
        out: dict[str, int] = {}
        for r in await read_all(self.infra.kafka_bootstrap, m.COMMANDS.name):
            if r.value and b'"claim_id"' in r.value:
                cid = json.loads(r.value)["claim_id"]
                if cid in wanted and cid not in out:
                    out[cid] = r.timestamp
        return out

    async def wait_settled(self, ids: list[str], timeout: float) -> None:
        # One consumer asks for the end offsets, once a second: starting a client per question
        # (8 a second) took CPU from the services being measured.
        offsets = Offsets(self.infra.kafka_bootstrap)
        await offsets.start()
        try:
            topics = [m.SETTLEMENTS.named(code=code) for code, _ in HOSPITALS]

            async def done() -> bool:
                return await offsets.total(*topics) >= self.expected_settlements + len(ids)

            await wait_until(done, timeout=timeout, interval=1.0)
        finally:
            await offsets.stop()
        self.expected_settlements += len(ids)

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
        """Throughput on a backlog, then latency at a fixed offered load, for one layout."""
        procs = self.services(layout)
        ids = await self.produce_claims(self.args.claims)  # the backlog, services stopped
        launch(*procs)
        for p in procs:
            await p.wait_ready()
        spies = await self.profile(layout, procs) if self.args.profile_phase == "backlog" else []
        await self.wait_settled(ids, timeout=600)
        for spy in spies:
            spy.send_signal(signal.SIGINT)
            await spy.wait()
        spies = []
        times = await self.settlement_times(ids)
        settled_at = sorted(t for _, t in times.values())
        span = (settled_at[-1] - settled_at[0]) / 1000
        figures.throughput.append(len(settled_at) / span if span else float("nan"))

        if self.args.latency:
            before = [gc_pauses(await p.metrics()) for p in procs]
            if self.args.profile_phase == "latency":
                spies = await self.profile(layout, procs)
            named: dict[str, int] = {}
            instances: Counter[str] = Counter()
            for p in procs:  # two instances of the same roles are told apart by a number
                roles = p.env["SHEBAO_MEDICAL_SETTLEMENT_ROLES"]
                instances[roles] += 1
                n = instances[roles]
                named[roles if n == 1 else f"{roles} #{n}"] = p.pid
            say(f"  {layout}: offering {self.args.rate:,.0f} claims/s (processes: {named})")
            cores = CoreUse(named)
            ids = await self.produce_claims(self.args.latency_claims, rate=self.args.rate)
            await self.wait_settled(ids, timeout=300)
            say(f"  {layout}: while offered {self.args.rate:,.0f}/s, {cores.report()}")
            for spy in spies:
                spy.send_signal(signal.SIGINT)
                await spy.wait()
            for p, (n0, s0) in zip(procs, before, strict=True):
                n1, s1 = gc_pauses(await p.metrics())
                say(
                    f"  {layout} / {p.env['SHEBAO_MEDICAL_SETTLEMENT_ROLES']}: while offered "
                    f"{self.args.rate:,.0f}/s, {n1 - n0:.0f} garbage collections, "
                    f"{1000 * (s1 - s0):.0f} ms"
                )
            times = await self.settlement_times(ids)
            lat = sorted(t1 - t0 for t0, t1 in times.values())
            q = statistics.quantiles(lat, n=100, method="inclusive")
            received = await self.received_times(ids)
            hop1 = sorted(received[c] - t0 for c, (t0, _) in times.items() if c in received)
            hop2 = sorted(t1 - received[c] for c, (_, t1) in times.items() if c in received)
            for name, hop in (("ingest", hop1), ("adjudicate", hop2)):
                h = statistics.quantiles(hop, n=100, method="inclusive")
                say(f"  {layout}: {name} hop p50 {h[49]:.0f} ms, p95 {h[94]:.0f}, p99 {h[98]:.0f}")
            figures.p50.append(q[49])
            figures.p95.append(q[94])
            figures.p99.append(q[98])
        for p in procs:
            roles = p.env["SHEBAO_MEDICAL_SETTLEMENT_ROLES"]
            figures.rss.setdefault(roles, []).append(peak_rss_mb(p.pid))
            m = await p.metrics()  # one scrape for every figure below
            figures.gc_ms.setdefault(roles, []).append(1000 * m.sum("shebao_gc_pause_seconds_sum"))
            figures.gc_longest.setdefault(roles, []).append(longest_gc_ms(m))
            per_gen = [
                f"gen{g}: {m.sum('shebao_gc_pause_seconds_count', generation=str(g)):.0f}"
                f" in {1000 * m.sum('shebao_gc_pause_seconds_sum', generation=str(g)):.0f} ms"
                for g in range(3)
            ]
            say(f"  {layout} / {roles}: garbage collections " + ", ".join(per_gen))
            for sub in roles.split(","):
                n = m.sum("shebao_batch_seconds_count", subscription=sub)
                if not n:
                    continue
                secs = m.sum("shebao_batch_seconds_sum", subscription=sub)
                recs = m.sum("shebao_batch_records_sum", subscription=sub)
                phase = "shebao_batch_phase_seconds_total"
                phases = [
                    f"{ph} {1000 * m.sum(phase, subscription=sub, phase=ph) / n:.1f}"
                    for ph in ("decode", "load", "plan", "commit", "handover")
                ]
                say(
                    f"  {layout} / {sub}: {n:.0f} batches of {recs / n:.0f} records, "
                    f"{1000 * secs / n:.1f} ms each (ms: {', '.join(phases)})"
                )
        for p in procs:
            p.terminate()

    async def profile(
        self, layout: str, procs: list[ServiceProcess]
    ) -> list[asyncio.subprocess.Process]:
        """With --profile DIR: py-spy samples of each process (--profile-phase says when)."""
        if self.args.profile is None:
            return []
        self.args.profile.mkdir(parents=True, exist_ok=True)
        spies = []
        for n, p in enumerate(procs):
            name = f"{layout.replace(' ', '')}-{n}-{p.env['SHEBAO_MEDICAL_SETTLEMENT_ROLES']}"
            out = self.args.profile / f"{name.replace(',', '+')}.txt"
            spies.append(
                await asyncio.create_subprocess_exec(
                    str(Path(sys.executable).parent / "py-spy"),
                    *("record", "--pid", str(p.pid), "--format", "raw"),
                    *("--rate", "200", "--nonblocking", "-o", str(out)),
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.DEVNULL,
                )
            )
        return spies

    async def saturation_latency(self, rate: float) -> tuple[float, float, float]:
        procs = self.services("ingest + adjudicate")
        launch(*procs)
        for p in procs:
            await p.wait_ready()
        ids = await self.produce_claims(int(rate * 10), rate=rate)
        await self.wait_settled(ids, timeout=600)
        lat = sorted(t1 - t0 for t0, t1 in (await self.settlement_times(ids)).values())
        for p in procs:
            p.terminate()
        q = statistics.quantiles(lat, n=100, method="inclusive")
        return q[49], q[94], q[98]


# ---------------------------------------------------------------------------------------------
# Contributions: bureau collections -> payments booked -> per-person credits

CONTRIB_REGIONS = ["320100", "320200", "320500", "321300"]
PACE_STEP = 5  # claims sent at once by a paced run
LAYOUTS = ["one process", "ingest + adjudicate", "ingest + 2 x adjudicate", "2 x one process"]
STARTED: list[ServiceProcess] = []
"""Every service process this run started: a failure stops what is left of them."""


def launch(*procs: ServiceProcess) -> None:
    for p in procs:
        STARTED.append(p)
        p.start()


@dataclass
class ContributionFigures:
    collections: list[float] = field(default_factory=list)
    credits: list[float] = field(default_factory=list)
    bookings: list[float] = field(default_factory=list)
    p50: list[float] = field(default_factory=list)
    p95: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)
    rss: list[float] = field(default_factory=list)


class Offsets:
    """End offsets of topics, and what was appended to a topic since given offsets."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False
        )
        await self.consumer.start()

    async def stop(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()

    async def ends(self, topic: str) -> dict[int, int]:
        assert self.consumer is not None
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        return {tp.partition: n for tp, n in (await self.consumer.end_offsets(tps)).items()}

    async def total(self, *topics: str) -> int:
        return sum([sum((await self.ends(t)).values()) for t in topics])

    async def read(self, topic: str, since: dict[int, int], timeout: float = 120) -> list[Any]:
        """The records appended to the topic after `since`, up to its end offsets now."""
        c = self.consumer
        assert c is not None
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        c.assign(tps)
        for tp in tps:
            c.seek(tp, since.get(tp.partition, 0))
        end = await c.end_offsets(tps)
        out: list[Any] = []
        deadline = time.monotonic() + timeout
        while not all([await c.position(tp) >= end[tp] for tp in tps]):
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read {topic} to its end")
            batch = await c.getmany(*tps, timeout_ms=500, max_records=10_000)
            for tp, recs in batch.items():
                out.extend(r for r in recs if r.offset < end[tp])
        return out


def ce_type(record: Any) -> str:
    return dict(record.headers)["ce_type"].decode().rsplit(".", 1)[1]


class Contributions:
    """One contributions process, its synthetic population, and a month per measurement."""

    def __init__(self, args: argparse.Namespace, infra: Infra, logs: Path) -> None:
        self.args = args
        self.infra = infra
        self.logs = logs
        policy = Policy.load()
        self.bureau = {
            r: str(policy.get("tax.bureau", r, date(2025, 1, 1))) for r in CONTRIB_REGIONS
        }
        n = len(CONTRIB_REGIONS)
        self.employers = [
            (f"91{CONTRIB_REGIONS[k % n]}MA{k:08d}", CONTRIB_REGIONS[k % n])
            for k in range(args.employers)
        ]
        self.staff = {
            code: [self.person(k * args.employees + j) for j in range(args.employees)]
            for k, (code, _) in enumerate(self.employers)
        }
        self.wage = {
            ref: Decimal(3000 + (i * 7919) % 25000) + Decimal(i % 100) / 100
            for i, ref in enumerate(r for refs in self.staff.values() for r in refs)
        }
        self.months = 0
        self.sent = 0
        self.offsets = Offsets(infra.kafka_bootstrap)
        self.svc: ServiceProcess | None = None
        self.collections = [cc.COLLECTIONS.named(code=b) for b in self.bureau.values()]
        self.assessments = [cc.ASSESSMENTS.named(code=b) for b in self.bureau.values()]
        self.inputs = [en.EVENTS.name, cc.COMMANDS.name, cc.WORK.name, *self.collections]

    @staticmethod
    def person(i: int) -> str:
        """A person reference (what enrollment derives from a citizen ID), 32 hex digits."""
        return hashlib.sha256(f"bench-employee-{i}".encode()).hexdigest()[:32]

    async def send(self, topic: str, key: str, message: Any, at: datetime) -> None:
        self.sent += 1
        k, v, h = message_record(
            message, message_id=f"cb-{self.sent}", time=at, key=key, topic=topic
        )
        await self.prod.send(topic, key=k, value=v, headers=h)

    async def setup(self) -> None:
        consumed = [*self.inputs, *self.assessments, cc.EVENTS.name]
        await recreate_topics(
            self.infra.kafka_bootstrap,
            [*consumed, *(t + ".dlq" for t in self.inputs)],
            partitions=PARTITIONS,
        )
        await drop_service_state(self.infra.redis_url, "contributions")
        self.prod = await producer(
            self.infra.kafka_bootstrap, linger_ms=10, max_batch_size=1024 * 1024
        )
        await self.offsets.start()
        say(
            f"loading {len(self.employers)} employers and {len(self.wage):,} employees as "
            "enrollment events"
        )
        at = datetime(2024, 1, 1, tzinfo=UTC)
        since = date(2024, 1, 1)
        for k, (code, region) in enumerate(self.employers):
            await self.send(
                en.EVENTS.name,
                code,
                en.EmployerRegistered(
                    employer=code,
                    name=f"单位{k}",
                    region=region,
                    ownership="private",
                    risk_class=1 + k % 8,
                    registered_on=date(2020, 1, 1),
                ),
                at,
            )
        for k, (code, region) in enumerate(self.employers):
            for ref in self.staff[code]:
                born, sex = date(1970 + k % 30, 1 + k % 12, 1), ("male", "female")[k % 2]
                await self.send(
                    en.EVENTS.name,
                    ref,
                    en.PersonRegistered(
                        person=ref,
                        birth_date=born,
                        sex=sex,
                        hukou_region=region,
                        residence="urban",
                        registered_on=date(2020, 1, 1),
                    ),
                    at,
                )
                await self.send(
                    en.EVENTS.name,
                    ref,
                    en.EmploymentStarted(
                        person=ref,
                        employer=code,
                        region=region,
                        start_date=since,
                        monthly_wage=self.wage[ref],
                        risk_class=1 + k % 8,
                    ),
                    at,
                )
                for scheme, insurance in (
                    ("employee_pension", "pension"),
                    ("employee_medical", "medical"),
                    ("unemployment", "unemployment"),
                    ("work_injury", "work_injury"),
                    ("maternity", "maternity"),
                ):
                    await self.send(
                        en.EVENTS.name,
                        ref,
                        en.MembershipStarted(
                            person=ref,
                            scheme=scheme,
                            insurance=insurance,
                            region=region,
                            since=since,
                            first_enrolled=since,
                            basis="employment",
                            employer=code,
                            declared_base=self.wage[ref],
                            risk_class=1 + k % 8 if scheme == "work_injury" else None,
                            birth_date=born,
                            sex=sex,
                        ),
                        at,
                    )
        await self.prod.flush()
        self.start()
        assert self.svc is not None
        await self.svc.wait_ready()
        started = time.monotonic()
        await self.caught_up(timeout=900)
        say(f"population applied in {time.monotonic() - started:.0f}s")

    def start(self) -> None:
        self.svc = ServiceProcess(
            "contributions",
            "shebao_contributions",
            kafka=self.infra.kafka_bootstrap,
            redis_url=self.infra.redis_url,
            log_dir=self.logs,
        )
        launch(self.svc)

    async def caught_up(self, timeout: float) -> None:
        """The process committed every record of its input topics and emptied its outbox."""
        svc = self.svc
        assert svc is not None
        calm = 0

        async def idle() -> bool:
            nonlocal calm
            if not svc.alive:
                raise RuntimeError(f"contributions exited:\n{svc.log_tail()}")
            produced = await self.offsets.total(*self.inputs)
            # "stale" records were fetched again after a rebalance and are counted once more
            consumed = await svc.metric("shebao_records_total") - await svc.metric(
                "shebao_records_total", outcome="stale"
            )
            pending = await svc.metric("shebao_outbox_pending")
            calm = calm + 1 if consumed >= produced and pending == 0 else 0
            return calm >= 3

        await wait_until(idle, timeout=timeout, interval=0.5)

    async def events_after(self, base: int, count: int, what: str, timeout: float) -> None:
        """Wait until `count` more events are on the events topic; fail on a refusal."""
        svc = self.svc
        assert svc is not None

        async def there() -> bool:
            if not svc.alive:
                raise RuntimeError(f"contributions exited:\n{svc.log_tail()}")
            return await self.offsets.total(cc.EVENTS.name) >= base + count

        try:
            await wait_until(there, timeout=timeout, interval=0.25)
        except TimeoutError:
            raise TimeoutError(
                f"{what}: {await self.offsets.total(cc.EVENTS.name) - base} of {count} events "
                f"after {timeout:.0f}s (a refusal? see {svc.log_path})"
            ) from None

    async def next_month(self) -> tuple[str, dict[str, Decimal]]:
        """Wages declared and the month closed in every region: what each employer owes."""
        year, month = 2025 + self.months // 12, 1 + self.months % 12
        self.months += 1
        period = f"{year}-{month:02d}"
        first_of_next = date(year + month // 12, month % 12 + 1, 1)
        events = await self.offsets.ends(cc.EVENTS.name)
        base = sum(events.values())
        assessed = {t: await self.offsets.ends(t) for t in self.assessments}
        for code, _ in self.employers:
            wages = [
                cc.WageLine(person=ref, wage=self.wage[ref] + 10 * self.months)
                for ref in self.staff[code]
            ]
            await self.send(
                cc.COMMANDS.name,
                code,
                cc.DeclareWages(employer=code, month=period, wages=wages),
                datetime(year, month, 20, tzinfo=UTC),
            )
        await self.prod.flush()
        n = len(self.employers)
        await self.events_after(base, n, f"wage declarations of {period}", 300)
        for region in CONTRIB_REGIONS:
            await self.send(
                cc.COMMANDS.name,
                region,
                cc.ClosePeriod(region=region, month=period),
                datetime.combine(first_of_next, datetime.min.time(), UTC),
            )
        await self.prod.flush()
        # WagesDeclared, then PeriodClosed per region and AssessmentIssued per employer
        await self.events_after(base, 2 * n + len(CONTRIB_REGIONS), f"close of {period}", 300)
        kinds = Counter(ce_type(r) for r in await self.offsets.read(cc.EVENTS.name, events))
        if set(kinds) - {"WagesDeclared", "PeriodClosed", "AssessmentIssued"}:
            raise RuntimeError(f"unexpected events at the close of {period}: {dict(kinds)}")
        # The bureaus' copies (with the person lines, in parts of 1,000) are published by the
        # same outbox but acknowledged on their own: wait for them too.
        parts = n * -(-self.args.employees // 1000)
        base_assessed = sum(sum(ends.values()) for ends in assessed.values())

        async def sent_to_bureaus() -> bool:
            return await self.offsets.total(*self.assessments) >= base_assessed + parts

        await wait_until(sent_to_bureaus, timeout=60, interval=0.25)
        dues: dict[str, Decimal] = {}
        for topic, since in assessed.items():
            for r in await self.offsets.read(topic, since):
                body = json.loads(r.value)
                if ce_type(r) == "AssessmentIssued" and body["period"] == period:
                    dues[body["employer"]] = Decimal(body["amount_due"])
        if len(dues) != n:
            raise RuntimeError(f"{len(dues)} assessments for {n} employers in {period}")
        return period, dues

    async def collect(
        self, period: str, dues: dict[str, Decimal], rate: float | None = None
    ) -> None:
        """Each bureau reports what each of its employers paid: the full amount due."""
        year, month = int(period[:4]), int(period[5:])
        at = datetime(year + month // 12, month % 12 + 1, 15, tzinfo=UTC)
        started = time.perf_counter()
        for i, (code, region) in enumerate(self.employers):
            bureau = self.bureau[region]
            await self.send(
                cc.COLLECTIONS.named(code=bureau),
                code,
                cc.EmployerContributionsCollected(
                    collection_id=f"{bureau}-{period}-{i:06d}",
                    employer=code,
                    month=period,
                    amount=dues[code],
                ),
                at,
            )
            if rate is not None and i % 5 == 4:
                ahead = (i + 1) / rate - (time.perf_counter() - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)
        await self.prod.flush()

    async def flow(
        self, period: str, events: dict[int, int], timeout: float
    ) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
        """Wait for a payment per employer and a credit per person; (employer, Kafka timestamp)
        of each PaymentBooked and of each ContributionCredited."""
        n = len(self.employers)
        credits = n * self.args.employees
        await self.events_after(sum(events.values()), n + credits, f"credits of {period}", timeout)
        booked: list[tuple[str, int]] = []
        credited: list[tuple[str, int]] = []
        other: Counter[str] = Counter()
        for r in await self.offsets.read(cc.EVENTS.name, events):
            kind, body = ce_type(r), json.loads(r.value)
            if kind == "PaymentBooked" and body["outcome"] == "settled":
                booked.append((body["employer"], r.timestamp))
            elif kind == "ContributionCredited" and body["period"] == period:
                credited.append((body["employer"], r.timestamp))
            else:
                other[kind] += 1
        if other or len(booked) != n or len(credited) != credits:
            raise RuntimeError(
                f"{period}: {len(booked)} payments, {len(credited)} credits, other {dict(other)}"
            )
        return booked, credited

    async def backlog(self, figures: ContributionFigures) -> None:
        period, dues = await self.next_month()
        assert self.svc is not None
        self.svc.terminate()  # the reports queue up while the service is down
        events = await self.offsets.ends(cc.EVENTS.name)
        await self.collect(period, dues)
        self.start()
        assert self.svc is not None
        await self.svc.wait_ready()
        booked, credited = await self.flow(period, events, timeout=900)
        first = min(t for _, t in booked)
        span = (max(t for _, t in credited) - first) / 1000
        booking = (max(t for _, t in booked) - first) / 1000
        figures.collections.append(len(booked) / span if span else float("nan"))
        figures.credits.append(len(credited) / span if span else float("nan"))
        figures.bookings.append(len(booked) / booking if booking else float("nan"))

    async def latency(self, figures: ContributionFigures) -> None:
        period, dues = await self.next_month()
        events = await self.offsets.ends(cc.EVENTS.name)
        reported = {t: await self.offsets.ends(t) for t in self.collections}
        await self.collect(period, dues, rate=self.args.collection_rate)
        _, credited = await self.flow(period, events, timeout=900)
        sent: dict[str, int] = {}
        for topic, since in reported.items():
            for r in await self.offsets.read(topic, since):
                sent[r.key.decode()] = r.timestamp
        last: dict[str, int] = {}
        for employer, t in credited:
            last[employer] = max(t, last.get(employer, t))
        lat = sorted(last[e] - sent[e] for e in last)
        q = statistics.quantiles(lat, n=100, method="inclusive")
        figures.p50.append(q[49])
        figures.p95.append(q[94])
        figures.p99.append(q[98])

    async def close(self) -> None:
        if self.svc is not None and self.svc.alive:
            self.svc.terminate()
        await self.offsets.stop()
        if hasattr(self, "prod"):
            await self.prod.stop()


async def contributions(args: argparse.Namespace, infra: Infra, logs: Path) -> ContributionFigures:
    bench = Contributions(args, infra, logs)
    figures = ContributionFigures()
    try:
        await bench.setup()
        for run in range(1, args.runs + 1):
            await bench.backlog(figures)
            line = (
                f"run {run}: contributions backlog {figures.collections[-1]:,.1f} collections/s, "
                f"{figures.credits[-1]:,.0f} credits/s"
            )
            if args.latency:
                await bench.latency(figures)
                line += f", p99 {figures.p99[-1]:.0f} ms at {args.collection_rate:g} reports/s"
            assert bench.svc is not None
            figures.rss.append(peak_rss_mb(bench.svc.pid))
            say(line)
    finally:
        await bench.close()
    return figures


@dataclass
class Medical:
    raw: Figures
    results: dict[str, Figures]
    saturation: tuple[float, float, float] | None
    best: float


async def medical(args: argparse.Namespace, infra: Infra, logs: Path) -> Medical:
    bench = Bench(args, infra, logs)
    await bench.setup()
    try:
        say(f"loading {args.persons} insured persons and {len(HOSPITALS)} hospitals")
        await bench.load_population()
        # One warm-up start applies the population before anything is measured.
        warm = bench.services("one process")[0]
        launch(warm)
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
        layouts = args.layout or LAYOUTS
        results = {name: Figures() for name in layouts}
        for run in range(1, args.runs + 1):
            await bench.raw(raw)
            say(f"run {run}: raw loop {raw.throughput[-1]:,.0f} records/s")
            for name in layouts:
                await bench.platform_run(name, results[name])
                f = results[name]
                say(
                    f"run {run}: platform ({name}) {f.throughput[-1]:,.0f} claims/s"
                    + (f", p99 {f.p99[-1]:.0f} ms at {args.rate:,.0f}/s" if f.p99 else "")
                )
        best = max(statistics.median(results[n].throughput) for n in layouts)
        saturation = await bench.saturation_latency(rate=best * 1.3) if args.latency else None
        return Medical(raw, results, saturation, best)
    finally:
        await bench.prod.stop()


async def measure(args: argparse.Namespace, infra: Infra, logs: Path, started: float) -> None:
    med = con = None
    if args.only in (None, "medical"):
        say("== medical settlement")
        med = await medical(args, infra, logs)
    if args.only in (None, "contributions"):
        say("== contributions collection")
        con = await contributions(args, infra, logs)
    write_report(args, med, con, time.monotonic() - started)


def main(args: argparse.Namespace) -> int:
    started = time.monotonic()
    # Kafka and Redis start with Ctrl-C held back, so that they are never left half-started.
    held: list[int] = []
    old = signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum))
    try:
        infra = provision()
    finally:
        signal.signal(signal.SIGINT, old)
    say(f"Kafka {infra.kafka_bootstrap}, Redis {infra.redis_url} ({infra.mode})")
    logs = Path(tempfile.mkdtemp(prefix="shebao-bench-"))
    try:
        if held:
            raise KeyboardInterrupt
        asyncio.run(measure(args, infra, logs, started))
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the cleanup is not to be cut short
        for p in STARTED:
            p.stop()  # what a failure or Ctrl-C left running
        infra.stop()
        say(f"stopped what this run started; service logs in {logs}")
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
    return "scripts/bench.py " + " ".join(parts)


def medical_report(args: argparse.Namespace, r: Medical) -> list[str]:
    raw_med = statistics.median(r.raw.throughput)
    lines = [
        "### Medical settlement: claims to settlements",
        "",
        f"Workload: {args.claims:,} inpatient claims (3–6 lines each) over {len(HOSPITALS)} "
        f"hospital topics of {PARTITIONS} partitions, {args.persons:,} insured persons; "
        f"internal topics of {PARTITIONS} partitions. Median of {args.runs} runs (min–max).",
        "",
        f"| what | claims/s | ratio to raw | p50 ms @{args.rate:,.0f}/s | p95 | p99 |",
        "|---|---|---|---|---|---|",
        f"| raw aiokafka consume → decode → produce | {med(r.raw.throughput)} | 1.00 | | | |",
    ]
    for name, f in r.results.items():
        ratio = statistics.median(f.throughput) / raw_med
        lines.append(
            f"| platform: {name} | {med(f.throughput)} | {ratio:.2f} | "
            f"{med_ms(f.p50)} | {med_ms(f.p95)} | {med_ms(f.p99)} |"
        )
    lines.append("")
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
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument(
        "--only", choices=["medical", "contributions"], help="measure one flow (default: both)"
    )
    p.add_argument("--no-latency", dest="latency", action="store_false")
    p.add_argument(
        "--no-write", dest="write", action="store_false", help="do not add the run to BENCHMARKS.md"
    )
    p.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="write py-spy samples (collapsed stacks) of each settlement process to DIR",
    )
    p.add_argument(
        "--profile-phase",
        choices=["backlog", "latency"],
        default="backlog",
        help="profile while the backlog is worked off (default) or while the fixed load is offered",
    )
    g = p.add_argument_group("medical settlement")
    g.add_argument("--claims", type=int, default=20_000)
    g.add_argument("--persons", type=int, default=20_000)
    g.add_argument("--latency-claims", type=int, default=10_000)
    g.add_argument(
        "--rate", type=float, default=1000.0, help="claims/s offered for latency (default 1,000)"
    )
    g.add_argument(
        "--layout", action="append", choices=LAYOUTS, help="measure this layout (default: all)"
    )
    g = p.add_argument_group("contributions")
    g.add_argument("--employers", type=int, default=200, help="employers (default 200)")
    g.add_argument("--employees", type=int, default=50, help="employees per employer (default 50)")
    g.add_argument(
        "--collection-rate",
        type=float,
        default=10.0,
        help="reports/s offered for the latency measurement (default 10)",
    )
    sys.exit(main(p.parse_args()))
