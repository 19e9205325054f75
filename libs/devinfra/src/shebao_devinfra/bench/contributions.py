"""Contributions collection: bureau collections -> payments booked -> per-person credits."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import statistics
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from shebao_common.policy import Policy
from shebao_common.pseudonym import CitizenIdSeal
from shebao_common.settings import DEV_CITIZEN_ID_KEY
from shebao_contracts import contributions as cc
from shebao_contracts import enrollment as en
from shebao_partners import citizen_id_in_region, employer_code, employer_collected

from ..infra import Infra
from ..kit import PARTITIONS, Offsets, caught_up, employee_memberships, kind_of
from ..testing import (
    ServiceProcess,
    cpu_seconds,
    message_record,
    producer,
    recreate_topics,
    wait_until,
)
from .figures import ContributionFigures
from .machine import cpu_of, forked_cpu_of, peak_rss_mb, redis_pids
from .processes import answering_cpu, drop_service_state, launch
from .report import say
from .setting import CONTRIB_REGIONS


class Contributions:
    """One contributions process, its synthetic population, and a month per measurement."""

    def __init__(self, args: argparse.Namespace, infra: Infra, logs: Path) -> None:
        self.args = args
        self.infra = infra
        self.logs = logs
        policy = Policy.of("shebao_contributions")
        self.bureau = {
            r: str(policy.get("tax.bureau", r, date(2025, 1, 1))) for r in CONTRIB_REGIONS
        }
        n = len(CONTRIB_REGIONS)
        self.employers = [
            (employer_code(CONTRIB_REGIONS[k % n], k), CONTRIB_REGIONS[k % n])
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
        seal = CitizenIdSeal(DEV_CITIZEN_ID_KEY.encode())  # the services' development key
        for k, (code, region) in enumerate(self.employers):
            for j, ref in enumerate(self.staff[code]):
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
                        # the ID contributions names the person by to the tax bureau
                        sealed_citizen_id=seal.seal(
                            citizen_id_in_region(region, born, k * self.args.employees + j), ref
                        ),
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
                for membership in employee_memberships(
                    ref,
                    code,
                    region,
                    since,
                    self.wage[ref],
                    risk_class=1 + k % 8,
                    birth_date=born,
                    sex=sex,
                ):
                    await self.send(en.EVENTS.name, ref, membership, at)
        await self.prod.flush()
        self.start()
        assert self.svc is not None
        await self.svc.wait_ready()
        started = time.monotonic()
        await caught_up(
            self.svc, self.inputs, self.offsets, "the population", timeout=900, interval=0.5
        )
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
        kinds = Counter(kind_of(r) for r in await self.offsets.read(cc.EVENTS.name, events))
        if set(kinds) - {"WagesDeclared", "PeriodClosed", "AssessmentIssued"}:
            raise RuntimeError(f"unexpected events at the close of {period}: {dict(kinds)}")
        # The bureaus' copies (with the person lines, in parts of 1,000) are published by the
        # same outbox but acknowledged on their own: wait for them too.
        parts = n * -(-self.args.employees // 1000)
        base_assessed = sum(sum(ends.values()) for ends in assessed.values())

        async def sent_to_bureaus() -> bool:
            return bool(await self.offsets.total(*self.assessments) >= base_assessed + parts)

        await wait_until(sent_to_bureaus, timeout=60, interval=0.25)
        dues: dict[str, Decimal] = {}
        for topic, since in assessed.items():
            for r in await self.offsets.read(topic, since):
                body = json.loads(r.value)
                if kind_of(r) == "TaxAssessmentIssued" and body["period"] == period:
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
                employer_collected(f"{bureau}-{period}-{i:06d}", code, period, dues[code]),
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
            kind, body = kind_of(r), json.loads(r.value)
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

    async def started(self) -> Callable[[], tuple[float, float, float]]:
        """Start the service and wait until it is ready; what it returns tells the CPU seconds
        the service (from its first HTTP answer) and Redis (from the start) spent since, and
        of Redis's those of its forked children (its append-only-file rewrites)."""
        redis = redis_pids(self.infra.redis_url)
        redis0, forked0 = cpu_of(redis), forked_cpu_of(redis)
        self.start()
        svc = self.svc
        assert svc is not None
        cpu0 = await answering_cpu(svc)
        await svc.wait_ready()
        return lambda: (
            (cpu_seconds(svc.pid) or 0.0) - cpu0,
            cpu_of(redis) - redis0,
            forked_cpu_of(redis) - forked0,
        )

    async def start_up_cpu(self) -> tuple[float, float, float]:
        """What `started` tells of a start with nothing to consume, a second after it is ready;
        the service is left stopped."""
        spent = await self.started()
        await asyncio.sleep(1.0)
        used = spent()
        assert self.svc is not None
        self.svc.terminate()
        return used

    async def backlog(self, figures: ContributionFigures) -> None:
        """Throughput, and the CPU per credited person-month of the service and of Redis: from
        the service's first HTTP answer (Redis: from its start) to the month's last credit, less
        what the same start costs with nothing to consume."""
        period, dues = await self.next_month()
        assert self.svc is not None
        self.svc.terminate()  # the reports queue up while the service is down
        idle, idle_redis, idle_forked = await self.start_up_cpu()
        events = await self.offsets.ends(cc.EVENTS.name)
        await self.collect(period, dues)
        spent = await self.started()
        booked, credited = await self.flow(period, events, timeout=900)
        used, used_redis, forked = spent()
        figures.cpu_us.append(1e6 * (used - idle) / len(credited))
        figures.redis_us.append(1e6 * (used_redis - idle_redis) / len(credited))
        figures.redis_forked_us.append(1e6 * (forked - idle_forked) / len(credited))
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
                f"{figures.credits[-1]:,.0f} credits/s; µs CPU per credit: service "
                f"{figures.cpu_us[-1]:,.0f}, Redis {figures.redis_us[-1]:,.0f} (its rewrites "
                f"{figures.redis_forked_us[-1]:,.0f})"
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
