"""Medical settlement: hospital claims topics -> ingest -> adjudicate -> settlements topics."""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import statistics
import sys
import time
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

from shebao_contracts import enrollment as en
from shebao_contracts import medical as m
from shebao_partners import hospital_registration

from ..infra import Infra
from ..kit import PARTITIONS, Offsets, medical_membership
from ..testing import (
    ServiceProcess,
    cpu_seconds,
    create_topics,
    message_record,
    producer,
    read_all,
    recreate_topics,
    system_seconds,
    wait_until,
)
from . import peers, sum_hop
from .claims import ClaimRecord, claim_json, claim_records, headers, paced, patient
from .figures import Figures, Medical, gc_pauses, longest_gc_ms, timeline
from .machine import CoreUse, cpu_of, forked_cpu_of, peak_rss_mb, redis_pids
from .processes import answering_cpu, drop_service_state, launch
from .report import say
from .setting import ADJUDICATE_ROLES, HOSPITALS, INGEST_ROLES, LAYOUTS, MAIN_LAYOUT


class MedicalBench:
    """Hospital claims through medical settlement: the raw limit, each layout, saturation."""

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
            ref = refs.person_ref(patient(i))
            scheme = "employee_medical" if i % 3 else "resident_medical"
            ev = medical_membership(
                ref, scheme, "320100", date(2020, 1, 1), birth_date=date(1980, 1, 1), sex="male"
            )
            k, v, h = message_record(
                ev, message_id=f"pop-{i}", time=datetime(2025, 1, 1, tzinfo=UTC), key=ref
            )
            await self.prod.send(en.EVENTS.name, key=k, value=v, headers=h)
        for code, level in HOSPITALS:
            k, v, h = message_record(
                hospital_registration(code, level, "320100"),
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
        if layout == MAIN_LAYOUT:
            return [svc(INGEST_ROLES), svc(ADJUDICATE_ROLES)]
        if layout == "2 x one process":
            every = "ingest,adjudicate,coverage,statements"
            return [svc(every), svc(every)]
        return [svc(INGEST_ROLES), svc(ADJUDICATE_ROLES), svc(ADJUDICATE_ROLES)]

    async def produce_claims(self, count: int, rate: float | None = None) -> list[str]:
        """Claims over the hospitals' topics, at a fixed rate (claims/s) or as fast as possible.

        The records are built before the first is sent, so that generating them takes no CPU
        from the services while they are measured, and a paced run sends them in steps of
        PACE_STEP claims (5 ms at 1,000/s) rather than in bursts.
        """
        ids, records = self.claims(count)
        await self.send(records, rate)
        return ids

    def claims(self, count: int) -> tuple[list[str], list[ClaimRecord]]:
        self.run_id += 1
        ids = [f"R{self.run_id}-{i}" for i in range(count)]
        records = claim_records(
            self.rng, ids, lambda _: patient(self.rng.randrange(self.args.persons))
        )
        return ids, records

    async def send(self, records: list[ClaimRecord], rate: float | None) -> None:
        async for topic, key, value, hdrs in paced(records, rate):
            await self.prod.send(topic, key=key, value=value, headers=hdrs)
        await self.prod.flush()

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
        topics = [m.SETTLEMENTS.named(code=code) for code, _ in HOSPITALS]
        await self.wait_for(topics, self.expected_settlements + len(ids), timeout)
        self.expected_settlements += len(ids)

    async def wait_for(self, topics: list[str], count: int, timeout: float) -> None:
        """Until `topics` hold `count` records in all. One consumer asks for the end offsets,
        once a second: starting a client per question (8 a second) took CPU from the services
        being measured."""
        offsets = Offsets(self.infra.kafka_bootstrap)
        await offsets.start()
        try:

            async def done() -> bool:
                return await offsets.total(*topics) >= count

            await wait_until(done, timeout=timeout, interval=1.0)
        finally:
            await offsets.stop()

    # -------------------------------------------------------------------------------------------

    async def peer(self, name: str, figures: Figures) -> None:
        """A peer (`peers.raw`, `peers.quix`) on `--claims` claims in topics of its own."""
        src, dst = await self.peer_claims(name)
        if name == "raw":
            await peers.raw(self.infra.kafka_bootstrap, src, dst, self.args.claims, figures)
        else:
            await peers.quix(self.infra.kafka_bootstrap, src, dst, self.args.claims, figures)

    async def peer_claims(self, name: str, count: int | None = None) -> tuple[str, str]:
        """`count` (by default `--claims`) claims in a new topic of the peer's own, and its
        output topic's name (created too)."""
        count = self.args.claims if count is None else count
        # New topics of their own: recreating them would empty the platform's topics too, under
        # the offsets the service keeps (its first claims after this were skipped).
        stamp = time.time_ns()
        src, dst = f"bench.{name}.in.{stamp}", f"bench.{name}.out.{stamp}"
        await create_topics(self.infra.kafka_bootstrap, [src, dst], partitions=PARTITIONS)
        for i in range(count):
            code, _ = HOSPITALS[i % len(HOSPITALS)]
            cid = f"{name}-{self.run_id}-{i}"
            await self.prod.send(
                src,
                key=cid.encode(),
                headers=headers(cid, code),
                value=claim_json(self.rng, cid, code, patient(i)),
            )
        await self.prod.flush()
        self.run_id += 1
        return src, dst

    async def like_for_like(self, ingest: Figures, adjudicate: Figures, both: Figures) -> None:
        """The two Quix Streams hops doing the platform's work (`peers.quix_ingest`, then
        `peers.quix_adjudicate` on its output) as two processes at once, as the platform's
        ingest + adjudicate layout runs: each one's CPU per claim, and (`both`) the pair's
        throughput (claims over the wall time from the first claim read to the last answer
        committed) with the sum of their CPU."""
        count = self.args.claims
        src, forwarded = await self.peer_claims("quix-pair")
        answers = f"{forwarded}.answers"
        await create_topics(
            self.infra.kafka_bootstrap, [answers, f"{answers}.events"], partitions=PARTITIONS
        )
        hospitals = {code: str(level) for code, level in HOSPITALS}
        bootstrap = self.infra.kafka_bootstrap
        took, answered = await asyncio.gather(
            peers.quix_ingest(bootstrap, src, forwarded, count, ingest),
            peers.quix_adjudicate(bootstrap, forwarded, answers, count, adjudicate, hospitals),
        )
        # Wall time from the first claim read to the last answer committed: Quix Streams gives
        # an output its input's timestamp, so the answers' Kafka timestamps are the claims'.
        both.throughput.append(count / (answered["last"] - took["first"]))
        cpu = ingest.cpu_us["process"][-1] + adjudicate.cpu_us["process"][-1]
        both.cpu_us.setdefault("process", []).append(cpu)

    async def runtime_sum(self, figures: Figures) -> None:
        """The platform's runtime doing the Quix Streams peer's step (`sum_hop`), a process of
        its own on `--claims` claims in topics of its own: its CPU per claim (every thread, from
        its first HTTP answer to its last output, less what a start with nothing to consume
        costs, as a service's) and Redis's, and its throughput (first to last output: not a
        number when every output came from one batch, within one millisecond)."""
        await drop_service_state(self.infra.redis_url, sum_hop.SERVICE)
        idle, idle_redis, _, idle_kernel = await self.sum_hop_run(
            *await self.peer_claims("sum-idle", 0), 0
        )
        say(
            f"  sum_hop: start-up with nothing to consume, CPU ms: Redis {1000 * idle_redis:.0f}, "
            f"process {1000 * idle:.0f}"
        )
        used, used_redis, span, kernel = await self.sum_hop_run(
            *await self.peer_claims("sum"), self.args.claims
        )
        count = self.args.claims
        figures.cpu_us.setdefault("process", []).append(1e6 * (used - idle) / count)
        figures.cpu_us.setdefault("Redis", []).append(1e6 * (used_redis - idle_redis) / count)
        figures.kernel_us.setdefault("process", []).append(1e6 * (kernel - idle_kernel) / count)
        figures.throughput.append(count / span if span else float("nan"))

    async def sum_hop_run(
        self, src: str, dst: str, count: int
    ) -> tuple[float, float, float, float]:
        """`sum_hop` on `src` until `count` outputs are on `dst` (with none, a second after it
        is ready): its CPU seconds from its first HTTP answer, Redis's, the seconds from its
        first output to its last (Kafka timestamps), and its system seconds since it started."""
        await create_topics(self.infra.kafka_bootstrap, [f"{src}.dlq"], partitions=PARTITIONS)
        p = sum_hop_process(self.infra, self.logs, src, dst)
        redis = redis_pids(self.infra.redis_url)
        redis0 = cpu_of(redis)
        launch(p)
        try:
            cpu0 = await answering_cpu(p)
            await p.wait_ready()
            if count:
                await self.wait_for([dst], count, timeout=600)
            else:
                await asyncio.sleep(1.0)
            used = (cpu_seconds(p.pid) or 0.0) - cpu0
            used_redis = cpu_of(redis) - redis0
            kernel = system_seconds(p.pid) or 0.0
        finally:
            p.terminate()
        if not count:
            return used, used_redis, 0.0, kernel
        stamps = sorted(r.timestamp for r in await read_all(self.infra.kafka_bootstrap, dst))
        return used, used_redis, (stamps[-1] - stamps[0]) / 1000, kernel

    async def platform_run(self, layout: str, figures: Figures) -> None:
        """Throughput on a backlog, then latency at a fixed offered load, for one layout."""
        # CPU per claim: each process's (every thread, /proc) from its first HTTP answer (its
        # imports done, before it connects: it consumes only once start-up is done, /readyz) to
        # the last settlement, less what the same start costs with nothing to do; Redis's (the
        # redis-server serving the run, with the AOF rewrites it forks: `cpu_of`) from the
        # services' start likewise. Over the claims: each claim goes through each hop once,
        # instances of the same roles sharing them.
        idle, idle_forked, idle_kernel = await self.start_up_cpu(layout)
        procs = self.services(layout)
        ids = await self.produce_claims(self.args.claims)  # the backlog, services stopped
        redis = redis_pids(self.infra.redis_url)
        redis0, forked0 = cpu_of(redis), forked_cpu_of(redis)
        launch(*procs)
        started = await asyncio.gather(*(serving(p) for p in procs))
        for p, (records, _) in zip(procs, started, strict=True):
            if records:  # the figure would miss their CPU
                say(f"  {layout}: {p.name} consumed {records:.0f} records before its CPU was read")
        for p in procs:
            await p.wait_ready()
        spies = await self.profile(layout, procs) if self.args.profile_phase == "backlog" else []
        await self.wait_settled(ids, timeout=600)
        used = {"Redis": cpu_of(redis) - redis0, **cpu_by_roles(procs, started)}
        forked = forked_cpu_of(redis) - forked0
        kernel = kernel_by_roles(procs)
        for name, seconds in used.items():
            figures.cpu_us.setdefault(name, []).append(1e6 * (seconds - idle[name]) / len(ids))
        for name, seconds in kernel.items():
            per_claim = 1e6 * (seconds - idle_kernel[name]) / len(ids)
            figures.kernel_us.setdefault(name, []).append(per_claim)
        figures.redis_forked_us.append(1e6 * (forked - idle_forked) / len(ids))
        for spy in spies:
            spy.send_signal(signal.SIGINT)
            await spy.wait()
        spies = []
        times = await self.settlement_times(ids)
        settled_at = sorted(t for _, t in times.values())
        span = (settled_at[-1] - settled_at[0]) / 1000
        figures.throughput.append(len(settled_at) / span if span else float("nan"))

        if self.args.latency:
            named = process_names(procs)
            say(f"  {layout}: offering {self.args.rate:,.0f} claims/s (processes: {named})")
            # The figures are of the load as it goes on: a warm-up at the same rate comes first,
            # straight into the measured claims. The services sat idle since the backlog, and
            # the first half second after that is said apart (BENCHMARKS.md, 2026-12-04).
            warm, warm_records = self.claims(self.args.warmup_claims)
            ids, to_send = self.claims(self.args.latency_claims)
            await self.send(warm_records, self.args.rate)
            before = [gc_pauses(await p.metrics()) for p in procs]
            if self.args.profile_phase == "latency":
                spies = await self.profile(layout, procs)
            cores = CoreUse(named)
            await self.send(to_send, self.args.rate)
            await self.wait_settled(warm + ids, timeout=300)
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
            both = await self.settlement_times(warm + ids)
            received = await self.received_times(warm + ids)
            times = {c: both[c] for c in ids if c in both}
            lat = sorted(t1 - t0 for t0, t1 in times.values())
            q = statistics.quantiles(lat, n=100, method="inclusive")

            def hops_of(claims: list[str]) -> dict[str, tuple[int, int, int]]:
                """claim -> (sent, received by adjudication, answered), epoch ms."""
                return {
                    c: (both[c][0], received[c], both[c][1])
                    for c in claims
                    if c in both and c in received
                }

            hops = hops_of(ids)
            cold = timeline(hops_of(warm))
            if cold:
                _, n, ((i50, imax), (a50, amax)) = cold[0]
                say(
                    f"  {layout}: the first half second after idle ({n} claims of the warm-up, not"
                    f" in the figures): ingest hop p50 {i50} ms, max {imax}; adjudicate p50"
                    f" {a50}, max {amax}"
                )
            hop1 = sorted(r - t0 for t0, r, _ in hops.values())
            hop2 = sorted(t1 - r for _, r, t1 in hops.values())
            for name, hop in (("ingest", hop1), ("adjudicate", hop2)):
                h = statistics.quantiles(hop, n=100, method="inclusive")
                say(f"  {layout}: {name} hop p50 {h[49]:.0f} ms, p95 {h[94]:.0f}, p99 {h[98]:.0f}")
            if self.args.timeline:
                say(f"  {layout}: per half second sent: claims, ingest hop p50/max, adjudicate")
                for start, n, ((i50, imax), (a50, amax)) in timeline(hops):
                    say(f"    {start:4.1f} s {n:4d}  {i50:4d}/{imax:4d} ms  {a50:4d}/{amax:4d} ms")
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
                batches = m.sum("shebao_batch_seconds_count", subscription=sub)
                if not batches:
                    continue
                secs = m.sum("shebao_batch_seconds_sum", subscription=sub)
                recs = m.sum("shebao_batch_records_sum", subscription=sub)
                phase = "shebao_batch_phase_seconds_total"
                phases = [
                    f"{ph} {1000 * m.sum(phase, subscription=sub, phase=ph) / batches:.1f}"
                    for ph in ("decode", "load", "plan", "commit", "handover")
                ]
                say(
                    f"  {layout} / {sub}: {batches:.0f} batches of {recs / batches:.0f} records, "
                    f"{1000 * secs / batches:.1f} ms each (ms: {', '.join(phases)})"
                )
        for p in procs:
            p.terminate()

    async def start_up_cpu(self, layout: str) -> tuple[dict[str, float], float, dict[str, float]]:
        """CPU seconds the layout's processes (by roles, instances together) and Redis spend on
        a start with nothing to consume, from each process's first HTTP answer to a second after
        all are ready; of Redis's, those of its forked children (a rewrite, if one fell there);
        and the processes' system seconds from their start (`kernel_by_roles`)."""
        procs = self.services(layout)
        redis = redis_pids(self.infra.redis_url)
        redis0, forked0 = cpu_of(redis), forked_cpu_of(redis)
        launch(*procs)
        started = await asyncio.gather(*(serving(p) for p in procs))
        for p in procs:
            await p.wait_ready()
        await asyncio.sleep(1.0)
        used = {"Redis": cpu_of(redis) - redis0, **cpu_by_roles(procs, started)}
        forked = forked_cpu_of(redis) - forked0
        kernel = kernel_by_roles(procs)
        for p in procs:
            p.terminate()
        say(
            f"  {layout}: start-up with nothing to consume, CPU ms: "
            + ", ".join(f"{n} {1000 * v:.0f}" for n, v in used.items())
        )
        return used, forked, kernel

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
        procs = self.services(MAIN_LAYOUT)
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


def kernel_note(f: Figures, name: str = "process") -> str:
    """The newest run's kernel part of a process's CPU per record, for a progress line."""
    values = f.kernel_us.get(name)
    return f" (kernel {values[-1]:.0f})" if values else ""


async def hop_progress(p: ServiceProcess) -> tuple[float, float]:
    """(records the process's first hop, ingest or else adjudicate, has consumed, CPU seconds of
    the process) so far."""
    roles = p.env["SHEBAO_MEDICAL_SETTLEMENT_ROLES"].split(",")
    hop = "ingest" if "ingest" in roles else "adjudicate"
    records = (await p.metrics()).sum("shebao_records_total", subscription=hop)
    return records, cpu_seconds(p.pid) or 0.0


def by_roles(procs: list[ServiceProcess], seconds: list[float]) -> dict[str, float]:
    """Each process's seconds summed by its roles: instances of the same roles together."""
    out: dict[str, float] = {}
    for p, s in zip(procs, seconds, strict=True):
        roles = p.env["SHEBAO_MEDICAL_SETTLEMENT_ROLES"]
        out[roles] = out.get(roles, 0.0) + s
    return out


def cpu_by_roles(
    procs: list[ServiceProcess], started: list[tuple[float, float]]
) -> dict[str, float]:
    """The processes' CPU seconds since each first answered HTTP (`serving`'s CPU), by roles."""
    used = [(cpu_seconds(p.pid) or 0.0) - c0 for p, (_, c0) in zip(procs, started, strict=True)]
    return by_roles(procs, used)


def kernel_by_roles(procs: list[ServiceProcess]) -> dict[str, float]:
    """The processes' system seconds (the kernel's CPU: page faults, system calls) since each
    started, by roles. Less the same of an idle start, it is the kernel's part of the work
    measured: both starts import the same code."""
    return by_roles(procs, [system_seconds(p.pid) or 0.0 for p in procs])


def sum_hop_process(
    infra: Infra, logs: Path, src: str, dst: str, partitions: int = PARTITIONS
) -> ServiceProcess:
    """The runtime-alone hop (`sum_hop`) as a process reading `src` (of `partitions`
    partitions; it and its dead-letter topic created first) and writing `dst`, not started."""
    return ServiceProcess(
        sum_hop.SERVICE,
        "shebao_devinfra.bench.sum_hop",
        kafka=infra.kafka_bootstrap,
        redis_url=infra.redis_url,
        log_dir=logs,
        env={
            "SHEBAO_BENCH_SUM_SOURCE": src,
            "SHEBAO_BENCH_SUM_SINK": dst,
            "SHEBAO_BENCH_SUM_TOPIC_PARTITIONS": str(partitions),
        },
    )


async def serving(p: ServiceProcess, timeout: float = 60.0) -> tuple[float, float]:
    """hop_progress(p) as soon as the process answers HTTP: the CPU when it answered (read
    first: the scrape of its records costs the process CPU)."""
    cpu = await answering_cpu(p, timeout)
    records, _ = await hop_progress(p)
    return records, cpu


def process_names(procs: list[ServiceProcess]) -> dict[str, int]:
    """Each process's roles (two instances of the same roles told apart by a number) -> pid."""
    named: dict[str, int] = {}
    instances: Counter[str] = Counter()
    for p in procs:
        roles = p.env["SHEBAO_MEDICAL_SETTLEMENT_ROLES"]
        instances[roles] += 1
        n = instances[roles]
        named[roles if n == 1 else f"{roles} #{n}"] = p.pid
    return named


async def medical(args: argparse.Namespace, infra: Infra, logs: Path) -> Medical:
    bench = MedicalBench(args, infra, logs)
    await bench.setup()
    try:
        say(f"loading {args.persons} insured persons and {len(HOSPITALS)} hospitals")
        await bench.load_population()
        # One warm-up start applies the population before anything is measured.
        warm = bench.services("one process")[0]
        launch(warm)
        await warm.wait_ready()

        async def population_loaded() -> bool:
            applied = await warm.metric(
                "shebao_records_total", subscription="coverage", outcome="applied"
            )
            return bool(applied >= args.persons)

        await wait_until(population_loaded, timeout=300, interval=1.0)
        warm.terminate()

        raw = Figures()
        quix = Figures() if args.quix else None
        quix_ingest = Figures() if args.quix else None
        quix_adjudicate = Figures() if args.quix else None
        quix_both = Figures() if args.quix else None
        runtime_sum = Figures()
        layouts = args.layout or LAYOUTS
        results = {name: Figures() for name in layouts}
        for run in range(1, args.runs + 1):
            await bench.peer("raw", raw)
            say(
                f"run {run}: raw loop {raw.throughput[-1]:,.0f} records/s, "
                f"{raw.cpu_us['process'][-1]:.0f} µs CPU per record{kernel_note(raw)}"
            )
            if quix is not None:
                await bench.peer("quix", quix)
                say(
                    f"run {run}: Quix Streams hop (exactly-once, RocksDB state) "
                    f"{quix.throughput[-1]:,.0f} records/s, "
                    f"{quix.cpu_us['process'][-1]:.0f} µs CPU per record{kernel_note(quix)}"
                )
            if quix_ingest is not None and quix_adjudicate is not None and quix_both is not None:
                await bench.like_for_like(quix_ingest, quix_adjudicate, quix_both)
                say(
                    f"run {run}: Quix Streams doing the platform's work, two processes at once: "
                    f"{quix_both.throughput[-1]:,.0f} claims/s; µs CPU per claim: ingest's work "
                    f"(pydantic, pseudonym, RocksDB state) {quix_ingest.cpu_us['process'][-1]:.0f}"
                    f"{kernel_note(quix_ingest)}, adjudication's (the service's rules) "
                    f"{quix_adjudicate.cpu_us['process'][-1]:.0f}{kernel_note(quix_adjudicate)}"
                )
            await bench.runtime_sum(runtime_sum)
            say(
                f"run {run}: the platform's runtime doing the Quix Streams hop's step "
                f"{runtime_sum.throughput[-1]:,.0f} records/s; µs CPU per record: process "
                f"{runtime_sum.cpu_us['process'][-1]:.0f}{kernel_note(runtime_sum)}, Redis "
                f"{runtime_sum.cpu_us['Redis'][-1]:.0f}"
            )
            for name in layouts:
                await bench.platform_run(name, results[name])
                f = results[name]
                cpu = ", ".join(f"{n} {v[-1]:.0f}{kernel_note(f, n)}" for n, v in f.cpu_us.items())
                say(
                    f"run {run}: platform ({name}) {f.throughput[-1]:,.0f} claims/s"
                    + (f", p99 {f.p99[-1]:.0f} ms at {args.rate:,.0f}/s" if f.p99 else "")
                    + f"; µs CPU per claim: {cpu} (Redis's rewrites {f.redis_forked_us[-1]:.0f})"
                )
        best = max(statistics.median(results[n].throughput) for n in layouts)
        saturation = await bench.saturation_latency(rate=best * 1.3) if args.latency else None
        return Medical(
            raw,
            quix,
            results,
            saturation,
            best,
            quix_ingest,
            quix_adjudicate,
            quix_both,
            runtime_sum,
        )
    finally:
        await bench.prod.stop()
