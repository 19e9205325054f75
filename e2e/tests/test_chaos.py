"""Faults across the whole platform lose nothing (`make chaos`).

A year of a small Nanjing runs through all five services as processes, on a Kafka broker and a
Redis of this test's own: employers and employees registered, each month closed, assessed to the
tax bureau, collected and credited; employees' hospital claims all year long; some laid off at
the end of it, registered, paid two months with the fund's medical contribution and the price
subsidy; 低保 households paid by welfare; and a little deliberately bad input. Everything is
drawn from one seed (`SHEBAO_CHAOS_SEED`, 16 by default).

The same seed runs three times: once without faults, once while each of the five service
processes is SIGKILLed and started again, the broker is restarted once and Redis once (from its
append-only file), in an order and at steps of the load drawn from the seed (`Chaos`), and
medical settlement once more in the middle of a hospital's batch of claims (`hospital_batch`);
and once more with the same faults on a Redis Cluster (three masters, each with a replica),
where the Redis fault is the SIGKILL of the master holding medical settlement's slot and its
replica's takeover (replication is asynchronous: the runtime WAITs for the replica before a
batch's outputs leave, so a commit the failover loses is one nobody has seen, decided again).
Afterwards every claim has exactly one answer, every credited month and every payment exists
exactly once, every amount equals the fault-free run's to the fen, and the dead-letter topics
hold the deliberately bad input and nothing else.

An event published twice with the same `ce_id` is one event on the platform's own topics, whose
consumers drop a repeat by its `ce_id` (README, "The runtime every handler runs through"); the
checks count such repeats apart and print them. On a partner's topic a repeat is not allowed:
HOSPITALS.md promises every claim exactly one `SettlementResult`, so a record there twice fails
the test. (A killed service's relay used to publish again what the broker had taken but it had
not yet trimmed from its outbox; it now looks for it on the broker first:
libs/common/tests/test_runtime_relay_recovery.py.)

Input whose order decides an outcome has that order fixed in both runs: a person's claims are
sent one after another (the next once the previous is answered: claims of one person sent
together may be settled in either order, and yearly caps and deductibles follow arrival), and a
hospital's batch is of people never insured, each rejected whatever the order; a
command that depends on another service's decisions is sent once that service has read them.
That last wait is the one place this test looks inside the platform: a service's committed
input offsets and its outbox in Redis (`Settled`), because a restarted process's metrics start
again from zero and cannot say what it consumed before it was killed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import redis.asyncio as aioredis
from platform_story import Story, story_redis_url
from platform_story import platform as start

from shebao_contracts import contributions as cc
from shebao_contracts import enrollment as en
from shebao_contracts import medical as m
from shebao_contracts import unemployment as u
from shebao_contracts import welfare as w
from shebao_devinfra.kit import PARTITIONS
from shebao_devinfra.testing import (
    Follower,
    message_record,
    platform_topics,
    read_all,
    redis_for,
)
from shebao_partners import (
    citizen_id,
    claim_body,
    claim_line,
    employer_code,
    hospital_registration,
    partner_headers,
    random_lines,
    wrong_check,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.e2e,
    pytest.mark.chaos,
    # The three runs together take about three minutes on two shared cores; a hang fails.
    pytest.mark.timeout(720),
]

SEED = int(os.environ.get("SHEBAO_CHAOS_SEED", "16"))
KEY = "e2e-chaos-pseudonym-key-0123456789abcdef"
CST = timezone(timedelta(hours=8))
D = Decimal
NAMES = ("enrollment", "contributions", "medical-settlement", "unemployment-subsidies", "welfare")
NJ, BUREAU, STATS = "320100", "t320100", "s320100"
HOSPITALS = (("h320102001", "tertiary"), ("h320104002", "secondary"), ("h320106003", "primary"))
EMPLOYERS = tuple(employer_code(NJ, 1600 + n) for n in range(4))
PERSONS, LAID_OFF, HOUSEHOLDS = 24, 6, 3
BATCH = 240  # a hospital's claims of people it cannot be paid for (see `hospital_batch`)
KILLS = len(NAMES)  # each service SIGKILLed once, in an order drawn from the seed
WAIT = 150.0  # seconds for any one thing the load waits for, faults included

ASSESSMENTS = cc.ASSESSMENTS.named(code=BUREAU)
COLLECTIONS = cc.COLLECTIONS.named(code=BUREAU)
CPI, CPI_ANSWERS = u.CPI.named(code=STATS), u.ANSWERS.named(code=STATS)
CLAIMS = {h: m.CLAIMS.named(code=h) for h, _ in HOSPITALS}
ANSWERS = {h: m.SETTLEMENTS.named(code=h) for h, _ in HOSPITALS}
PARTNER_TOPICS = [ASSESSMENTS, COLLECTIONS, CPI, CPI_ANSWERS, *CLAIMS.values(), *ANSWERS.values()]
WATCHED = [en.EVENTS.name, cc.EVENTS.name, u.EVENTS.name, w.EVENTS.name, ASSESSMENTS]
WATCHED += list(ANSWERS.values())
READS = {  # what each service reads: caught up on all of it, it has decided everything sent
    "enrollment": [en.COMMANDS.name, en.WORK.name],
    "contributions": [
        en.EVENTS.name,
        cc.COMMANDS.name,
        cc.WORK.name,
        COLLECTIONS,
        u.EVENTS.name,
        w.EVENTS.name,
    ],
    "medical-settlement": [
        *CLAIMS.values(),
        m.COMMANDS.name,
        m.EVENTS.name,
        en.EVENTS.name,
        cc.EVENTS.name,
        u.EVENTS.name,
        w.EVENTS.name,
    ],
    "unemployment-subsidies": [
        en.EVENTS.name,
        cc.EVENTS.name,
        w.EVENTS.name,
        u.COMMANDS.name,
        u.WORK.name,
        CPI,
    ],
    "welfare": [w.COMMANDS.name, w.WORK.name, u.EVENTS.name],
}


def day(y: int, mo: int, d: int, hour: int = 10) -> datetime:
    return datetime(y, mo, d, hour, tzinfo=CST)


# -- the workload: everything drawn from the seed ---------------------------------------------


@dataclass(frozen=True)
class Claim:
    claim_id: str
    hospital: str
    body: dict[str, Any]
    month: int  # of the admission (or visit), 2024
    at: datetime


@dataclass(frozen=True)
class Person:
    cid: str
    employer: str
    wage: Decimal
    claims: tuple[Claim, ...]


@dataclass(frozen=True)
class Workload:
    persons: tuple[Person, ...]
    laid_off: tuple[str, ...]
    households: tuple[tuple[str, tuple[str, ...], Decimal], ...]
    faults: dict[int, tuple[str, float]]
    """Which step of the load (see `Chaos.step`) brings a fault: kill, kafka or redis, and
    how many seconds after the step."""
    victims: tuple[str, ...]  # the services killed, in order
    batch: tuple[Claim, ...]  # a hospital's claims of one day in July, of uninsured people


def workload(seed: int) -> Workload:
    rng = random.Random(seed)
    persons = []
    for n in range(PERSONS):
        born = date(1975 + rng.randrange(25), 1 + rng.randrange(12), 1 + rng.randrange(28))
        cid = citizen_id("320102", born, 100 + n)
        hospital = rng.choice(HOSPITALS)[0]  # one person, one hospital: see the module's doc
        claims = []
        for k, month in enumerate(sorted(rng.sample(range(2, 12), rng.randint(1, 4)))):
            admitted = date(2024, month, rng.randint(1, 18))
            claim_id = f"CH{seed}-{n:02d}-{k}"
            if rng.random() < 0.3:
                lines = [claim_line("class_a_drug", f"{rng.randint(40, 900)}.00", "2")]
                body = claim_body(
                    hospital,
                    claim_id,
                    cid,
                    lines,
                    visit="outpatient",
                    admitted=admitted,
                    discharged=None,
                )
                last = admitted
            else:
                last = admitted + timedelta(days=rng.randint(1, 9))
                body = claim_body(
                    hospital, claim_id, cid, random_lines(rng), admitted=admitted, discharged=last
                )
            at = datetime.combine(last + timedelta(days=rng.randint(1, 5)), datetime.min.time())
            claims.append(Claim(claim_id, hospital, body, month, at.replace(hour=9, tzinfo=CST)))
        wage = D(rng.randrange(4200, 18000, 50)).quantize(D("0.01"))
        persons.append(Person(cid, EMPLOYERS[n % len(EMPLOYERS)], wage, tuple(claims)))
    batch = []
    for n in range(BATCH):  # people never registered: each claim answered, and rejected
        cid = citizen_id("320106", date(1980 + n % 20, 1 + n % 12, 1 + n % 28), n)
        admitted = date(2024, 7, rng.randint(1, 10))
        last = admitted + timedelta(days=rng.randint(1, 5))
        claim_id = f"CH{seed}-B{n:03d}"
        body = claim_body(
            HOSPITALS[0][0], claim_id, cid, random_lines(rng), admitted=admitted, discharged=last
        )
        batch.append(Claim(claim_id, HOSPITALS[0][0], body, 7, day(2024, 7, 20)))
    laid_off = tuple(p.cid for p in rng.sample(persons, LAID_OFF))
    households = tuple(
        (
            f"NJ-CH-{h}",
            tuple(citizen_id("320104", date(1958 + h, 3, 3), 500 + 10 * h + k) for k in range(2)),
            D(rng.randrange(0, 1000, 10)).quantize(D("0.01")),
        )
        for h in range(HOUSEHOLDS)
    )
    kinds = ["kill"] * KILLS + ["kafka", "redis"]
    rng.shuffle(kinds)
    claims = sum(len(p.claims) for p in persons)
    steps = 12 + claims + 2 * LAID_OFF + 4  # every call of Chaos.step
    at = sorted(rng.sample(range(3, steps - 2), len(kinds)))
    delays = [round(rng.uniform(0.0, 0.6), 2) for _ in kinds]
    victims = tuple(rng.sample(NAMES, KILLS))
    return Workload(
        tuple(persons),
        laid_off,
        households,
        dict(zip(at, zip(kinds, delays, strict=True), strict=True)),
        victims,
        tuple(batch),
    )


# -- watching what the platform publishes, and waiting for a service to have read it ----------


class Watch:
    """One consumer of the topics the load waits on, from their beginning: records by topic."""

    def __init__(self, bootstrap: str, topics: list[str]) -> None:
        self.records: dict[str, list[tuple[str, str, dict[str, Any]]]] = defaultdict(list)
        self._follower = Follower(bootstrap, topics, self._keep, partitions=PARTITIONS)

    def _keep(self, r: Any) -> None:
        h = dict(r.headers)
        self.records[r.topic].append(
            (h["ce_type"].decode(), h["ce_id"].decode(), json.loads(r.value))
        )

    async def start(self) -> None:
        await self._follower.start()

    async def stop(self) -> None:
        await self._follower.stop()

    def of(self, topic: str, kind: type[Any], **match: Any) -> list[dict[str, Any]]:
        """The bodies of a kind on a topic whose fields equal `match`, one per event id (the
        runtime's consumers drop a republished event by its id; see `published_once`)."""
        seen: dict[str, dict[str, Any]] = {}
        for ce_type, ce_id, body in list(self.records[topic]):
            if ce_type == kind.TYPE and all(body.get(f) == v for f, v in match.items()):
                seen.setdefault(ce_id, body)
        return list(seen.values())

    async def until(
        self, what: str, found: Callable[[], list[dict[str, Any]]], n: int
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + WAIT
        while True:
            got = found()
            if len(got) >= n:
                return got
            if time.monotonic() > deadline:
                raise AssertionError(f"waited {WAIT:.0f}s for {n} x {what}, saw {len(got)}")
            await asyncio.sleep(0.2)


class Settled:
    """A service has committed every record of its input topics and emptied its outbox, three
    times in a row: it decided everything sent so far and published what it decided. Read from
    the offsets and outbox the runtime keeps in Redis (see the module's doc)."""

    def __init__(self, story: Story, redis: aioredis.Redis) -> None:
        self.story, self.redis = story, redis

    async def __call__(self, name: str, topics: list[str] | None = None) -> None:
        topics = topics or READS[name]
        calm, deadline = 0, time.monotonic() + WAIT
        while calm < 3:
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} did not catch up with {topics} in {WAIT:.0f}s")
            try:
                async with asyncio.timeout(10):
                    calm = calm + 1 if await self.story.decided_all(self.redis, name, topics) else 0
            except Exception:  # Kafka or Redis being restarted
                calm = 0
            await asyncio.sleep(0.25)


class Chaos:
    """The faults of the second run, one at a time, while the load goes on: a service SIGKILLed
    and started again, the broker restarted, Redis restarted from its append-only file.

    A fault starts at a step of the load drawn from the seed: a month's close, a claim's answer
    just read (the answering service may not have trimmed it from its outbox yet: a kill then
    makes it publish the answer again on restart), a command of the unemployment and welfare
    part of the story."""

    def __init__(self, load: Workload, story: Story, kafka: Any, redis: Any, on: bool) -> None:
        self.load, self.story, self.kafka, self.redis, self.on = load, story, kafka, redis, on
        self.victims = list(load.victims)
        self.done: list[str] = []
        self.steps = 0
        self._lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []

    def step(self, what: str) -> None:
        self.steps += 1
        fault = self.load.faults.get(self.steps)
        if self.on and fault is not None:
            self._tasks.append(asyncio.create_task(self._fault(*fault, what)))

    async def kill_now(self, name: str, when: str) -> None:
        """One more SIGKILL, of this service, now (after any fault under way)."""
        if self.on:
            await self._fault("kill", 0.0, when, name)

    async def _fault(self, kind: str, delay: float, when: str, victim: str = "") -> None:
        await asyncio.sleep(delay)
        async with self._lock:
            started = time.monotonic()
            if kind == "kill":
                svc = self.story.services[victim or self.victims.pop(0)]
                assert svc.alive, f"{svc.name} was already gone:\n{svc.log_tail()}"
                svc.kill()
                svc.start()
                await svc.wait_ready(timeout=WAIT)
                what = f"SIGKILL {svc.name}"
            elif kind == "kafka":
                await asyncio.to_thread(self.kafka.restart)
                what = "Kafka restarted"
            elif hasattr(self.redis, "cluster"):
                what = await asyncio.to_thread(self._fail_over, "medical-settlement")
            else:
                conf = await self._aof()
                # appendfsync: see deploy/README.md on what each policy keeps through a crash
                assert conf.get("appendonly") == "yes", conf
                await asyncio.to_thread(self.redis.restart)
                what = f"Redis restarted from its AOF (appendfsync {conf.get('appendfsync')})"
            self.done.append(f"{what} after {when} ({time.monotonic() - started:.1f}s)")
            print(f"[chaos] {self.done[-1]}", flush=True)

    def _fail_over(self, service: str) -> str:
        """SIGKILL the master holding the slot of `service`'s input partition 0 (on a cluster
        medical settlement's state is spread by partition: shebao_common.runtime.store.Layout);
        its replica takes over; the killed node comes back as the new master's replica."""
        tag = "{" + service + "/0}"
        port, now = self.redis.cluster.fail_over(tag)
        return (
            f"Redis master {port} of {service}'s partition 0 SIGKILLed, its replica {now} took over"
        )

    async def _aof(self) -> dict[str, str]:
        r = aioredis.Redis.from_url(self.redis.url, decode_responses=True)
        try:
            return dict(await r.config_get("append*"))
        finally:
            await r.aclose()

    async def finish(self) -> None:
        await asyncio.gather(*self._tasks)


# -- one run ------------------------------------------------------------------------------------


async def run(
    load: Workload, kafka: Any, redis_url: str, redis_server: Any, logs: Path, *, faults: bool
) -> dict[str, Any]:
    infra = SimpleNamespace(kafka_bootstrap=kafka.bootstrap, redis_url=redis_url)
    async with start(
        infra,
        logs,
        NAMES,
        redis_db=2 if faults else 1,
        key=KEY,
        partner_topics=PARTNER_TOPICS,
        # The story's sends ride out the broker's restart in the producer (idempotent, so a
        # retry never doubles a record): a resend of ours would be a second claim to answer.
        producer_options={"request_timeout_ms": 180_000},
        # A SIGKILLed member's partitions move when its session expires: 3 s, not the tests'
        # usual 6 s (the broker's own minimum, lowered for this broker: restartable_kafka).
        service_env={"SESSION_TIMEOUT_MS": "3000", "HEARTBEAT_INTERVAL_MS": "500"},
    ) as story:
        r = redis_for(story_redis_url(redis_url, 2 if faults else 1))
        watch = Watch(kafka.bootstrap, WATCHED)
        await watch.start()
        chaos = Chaos(load, story, kafka, redis_server, faults)
        try:
            await drive(load, story, watch, Settled(story, r), chaos)
            await chaos.finish()
            settled = Settled(story, r)
            for name in NAMES:  # quiet: everything sent has been decided and published
                await settled(name)
            for name in NAMES:
                await settled(name)
            if faults:
                assert len(chaos.done) == len(load.faults) + 1, chaos.done
                starts = {n: s.starts for n, s in story.services.items()}
                # each killed once and restarted, medical settlement once more in the batch
                assert starts == {**dict.fromkeys(NAMES, 2), "medical-settlement": 3}, starts
            for name, svc in story.services.items():
                assert svc.alive, f"{name} exited:\n{svc.log_tail()}"
            # on a cluster every service's state is spread by input partition (STATE_LAYOUT
            # auto); on one node it is one slot
            clustered = hasattr(redis_server, "cluster")
            for name in NAMES:
                spread = PARTITIONS if clustered else 0
                layout = await r.hget(f"shebao:{name}:layout", "partitions")
                assert layout == str(spread).encode(), (name, layout)
            return await outcome(kafka.bootstrap)
        finally:
            await watch.stop()
            await r.aclose()


def command_id(kind: str, citizen_id: str) -> str:
    """A command's id, the same on every run, that names no person: an id holding a citizen ID
    is refused (citizen_id_in_header), since ids go on into the platform's own events."""
    return f"chaos-{kind}-{hashlib.sha256(citizen_id.encode()).hexdigest()[:16]}"


async def drive(load: Workload, story: Story, watch: Watch, settled: Settled, chaos: Chaos) -> None:
    send = story.send

    # -- setup: hospitals, employers, employees, 低保 applications; bad input --------------
    for code, level in HOSPITALS:
        await send(m.COMMANDS.name, code, hospital_registration(code, level, NJ), day(2023, 12, 1))
    for code in EMPLOYERS:
        employer = en.RegisterEmployer(
            employer=code,
            name="混沌测试企业",
            region=NJ,
            ownership=en.Ownership.PRIVATE,
            risk_class=1 + int(code[-1]) % 3,
            registered_on=date(2023, 6, 1),
        )
        await send(en.COMMANDS.name, code, employer, day(2023, 12, 1), f"chaos-er-{code}")
    await watch.until(
        "EmployerRegistered", lambda: watch.of(en.EVENTS.name, en.EmployerRegistered), 4
    )
    for p in load.persons:
        person = en.RegisterPerson(
            citizen_id=p.cid,
            name="职工",
            hukou_region=NJ,
            residence=en.Residence.URBAN,
            registered_on=date(2023, 12, 1),
        )
        await send(en.COMMANDS.name, p.cid, person, day(2023, 12, 1), command_id("rp", p.cid))
        hired = en.StartEmployment(
            citizen_id=p.cid, employer=p.employer, start_date=date(2024, 1, 1), monthly_wage=p.wage
        )
        await send(en.COMMANDS.name, p.cid, hired, day(2024, 1, 2), command_id("se", p.cid))
    for household, members, income in load.households:
        applied = w.ApplyForAllowance(
            household_id=household,
            region=NJ,
            residence=w.Residence.URBAN,
            members=list(members),
            monthly_income=income,
            assets_within_limit=True,
            applied_on=date(2025, 1, 10),
        )
        await send(w.COMMANDS.name, household, applied, day(2025, 1, 10), f"chaos-{household}")
    await bad_input(story, load)
    await watch.until(
        "EmploymentStarted",
        lambda: watch.of(en.EVENTS.name, en.EmploymentStarted),
        len(load.persons),
    )
    for name in ("enrollment", "contributions", "medical-settlement"):
        await settled(name)

    # -- 2024: months closed, assessed, collected and credited; claims all year ------------
    credited = {n: asyncio.Event() for n in range(1, 13)}

    async def patient(p: Person) -> None:
        for c in p.claims:  # one after another: the next once the previous is answered
            await credited[c.month - 1].wait()
            claim = m.ClaimSubmitted.model_validate(c.body)
            await send(CLAIMS[c.hospital], c.claim_id, claim, c.at, f"chaos-{c.claim_id}")
            await watch.until(
                f"the answer to {c.claim_id}",
                lambda c=c: watch.of(ANSWERS[c.hospital], m.SettlementResult, claim_id=c.claim_id),
                1,
            )
            chaos.step(f"the answer to {c.claim_id}")

    async def hospital_batch() -> None:
        """A hospital's claims of a day, sent at once, of people who were never insured (each
        rejected, whatever the order); medical settlement SIGKILLed once a third of them are
        answered, while it answers the rest: what the broker took and its outbox still held is
        then published once, not again (HOSPITALS.md: every claim gets exactly one answer)."""
        await credited[6].wait()
        ids = {c.claim_id for c in load.batch}
        hospital = load.batch[0].hospital

        def answered() -> list[dict[str, Any]]:
            found = watch.of(ANSWERS[hospital], m.SettlementResult)
            return [a for a in found if a["claim_id"] in ids]

        async def kill_midway() -> None:
            await watch.until("a third of the batch's answers", answered, len(ids) // 3)
            await chaos.kill_now("medical-settlement", "a third of a hospital's batch answered")

        killer = asyncio.create_task(kill_midway())
        for c in load.batch:
            k, v, h = message_record(
                m.ClaimSubmitted.model_validate(c.body),
                message_id=f"chaos-{c.claim_id}",
                time=c.at,
                key=c.claim_id,
                topic=CLAIMS[c.hospital],
            )
            await story.prod.send(CLAIMS[c.hospital], key=k, value=v, headers=h)
        await story.prod.flush()
        await killer
        await watch.until("the batch's answers", answered, len(ids))

    patients = [asyncio.create_task(patient(p)) for p in load.persons]
    patients.append(asyncio.create_task(hospital_batch()))
    try:
        for n in range(1, 13):
            month = f"2024-{n:02d}"
            closed = day(2024 + n // 12, n % 12 + 1, 1)
            await send(
                cc.COMMANDS.name,
                NJ,
                cc.ClosePeriod(region=NJ, month=month),
                closed,
                f"chaos-cp-{n}",
            )
            chaos.step(f"the close of {month}")
            dues = await watch.until(
                f"the assessments of {month}",
                lambda month=month: watch.of(ASSESSMENTS, cc.TaxAssessmentIssued, period=month),
                len(EMPLOYERS),
            )
            for i, due in enumerate(sorted(dues, key=lambda d: d["employer"])):
                paid = cc.EmployerContributionsCollected(
                    collection_id=f"CH-{due['employer'][-4:]}-{month}",
                    employer=due["employer"],
                    month=month,
                    amount=D(due["amount_due"]),
                )
                at = closed + timedelta(days=4)
                # every other report keyed by its collection id, not the employer code: where
                # contributions' state is partitioned, handed to the employer's partition
                key = due["employer"] if i % 2 == 0 else paid.collection_id
                await send(COLLECTIONS, key, paid, at, f"chaos-col-{n}-{due['employer']}")
            await watch.until(
                f"the credits of {month}",
                lambda month=month: watch.of(cc.EVENTS.name, cc.ContributionCredited, period=month),
                len(load.persons),
            )
            credited[n].set()
        await asyncio.gather(*patients)
    finally:
        for t in patients:
            t.cancel()

    # -- laid off at the end of the year: benefit, its medical months, the subsidy ---------
    for cid in load.laid_off:
        employer = next(p.employer for p in load.persons if p.cid == cid)
        ended = en.EndEmployment(
            citizen_id=cid,
            employer=employer,
            end_date=date(2024, 12, 31),
            separation=en.Separation.INVOLUNTARY,
        )
        await send(en.COMMANDS.name, cid, ended, day(2025, 1, 2), command_id("ee", cid))
        chaos.step("a lay-off")
    await watch.until(
        "EmploymentEnded", lambda: watch.of(en.EVENTS.name, en.EmploymentEnded), LAID_OFF
    )
    await settled("unemployment-subsidies")
    for cid in load.laid_off:
        registered = u.RegisterUnemployed(citizen_id=cid, region=NJ, registered_on=date(2025, 1, 6))
        await send(u.COMMANDS.name, cid, registered, day(2025, 1, 6), command_id("ru", cid))
        chaos.step("a registration as unemployed")
    await watch.until("BenefitGranted", lambda: watch.of(u.EVENTS.name, u.BenefitGranted), LAID_OFF)
    await watch.until(
        "AllowanceDecided",
        lambda: watch.of(w.EVENTS.name, w.AllowanceDecided),
        len(load.households),
    )
    for month, at in (("2025-01", day(2025, 2, 1)), ("2025-02", day(2025, 3, 1))):
        await send(
            u.COMMANDS.name, NJ, u.ClosePaymentMonth(region=NJ, month=month), at, f"chaos-u-{month}"
        )
        chaos.step(f"the benefit's payment run of {month}")
    await send(
        w.COMMANDS.name,
        NJ,
        w.ClosePaymentMonth(region=NJ, month="2025-02"),
        day(2025, 3, 1),
        "chaos-w-2025-02",
    )
    chaos.step("welfare's payment run of 2025-02")
    await watch.until("BenefitPaid", lambda: watch.of(u.EVENTS.name, u.BenefitPaid), 2 * LAID_OFF)
    await watch.until(
        "AssistancePaid", lambda: watch.of(w.EVENTS.name, w.AssistancePaid), len(load.households)
    )
    await settled("welfare")
    released = u.CpiReleased(region=NJ, month="2025-02", cpi_yoy="3.5", food_cpi_yoy="2.0")
    await send(CPI, NJ, released, day(2025, 3, 12), "chaos-cpi-2025-02")
    chaos.step("the price index of 2025-02")
    await watch.until(
        "PriceSubsidyPaid", lambda: watch.of(u.EVENTS.name, u.PriceSubsidyPaid), LAID_OFF
    )
    await watch.until(
        "the fund's medical months",
        lambda: watch.of(cc.EVENTS.name, cc.ContributionCredited, source="unemployment_fund"),
        2 * LAID_OFF,
    )


BAD = {  # ce_id -> (topic, what is wrong); the only records a dead-letter topic may hold
    "chaos-bad-claim-json": (CLAIMS[HOSPITALS[0][0]], "malformed_json"),
    "chaos-bad-person-id": (en.COMMANDS.name, "citizen_id_checksum"),
    "chaos-bad-collection-number": (COLLECTIONS, "money_not_string"),
}


async def bad_input(story: Story, load: Workload) -> None:
    """A hospital's truncated JSON, an office's citizen ID with a wrong check character, a tax
    bureau's amount sent as a JSON number."""
    hospital = HOSPITALS[0][0]
    cid = wrong_check(citizen_id("320102", date(1980, 1, 1), 999))
    person = {
        "citizen_id": cid,
        "name": "错号",
        "hukou_region": NJ,
        "residence": "urban",
        "registered_on": "2023-12-01",
    }
    collection = {
        "collection_id": "CH-BAD-1",
        "employer": EMPLOYERS[0],
        "month": "2024-01",
        "amount": 123.4,
    }
    records = {
        "chaos-bad-claim-json": (
            b'{"hospital": "' + hospital.encode() + b'", "claim_id": "CH-BAD-1", "lines": [',
            m.ClaimSubmitted.TYPE,
            f"/partners/{hospital}",
            b"CH-BAD-1",
        ),
        "chaos-bad-person-id": (
            json.dumps(person).encode(),
            en.RegisterPerson.TYPE,
            "/test",
            cid.encode(),
        ),
        "chaos-bad-collection-number": (
            json.dumps(collection).encode(),
            cc.EmployerContributionsCollected.TYPE,
            f"/partners/{BUREAU}",
            EMPLOYERS[0].encode(),
        ),
    }
    for ce_id, (value, ce_type, source, key) in records.items():
        headers = partner_headers(ce_type, message_id=ce_id, time=day(2024, 1, 3), source=source)
        await story.prod.send_and_wait(BAD[ce_id][0], key=key, value=value, headers=headers)


# -- what the platform published ----------------------------------------------------------------


async def outcome(bootstrap: str) -> dict[str, Any]:
    """Every record of the topics that matter, by topic: (ce_type, ce_id, body or headers)."""
    topics = [*WATCHED, CPI_ANSWERS, *(t + ".dlq" for t in [COLLECTIONS, CPI, *CLAIMS.values()])]
    topics += [t for t in platform_topics() if t.endswith(".dlq")]
    out: dict[str, Any] = {}
    for topic in sorted(set(topics)):
        rows = []
        for r in await read_all(bootstrap, topic):
            h = {k: v.decode(errors="replace") for k, v in r.headers}
            if topic.endswith(".dlq"):
                rows.append(("dlq", h.get("ce_id", ""), h))
            else:
                rows.append((h["ce_type"], h["ce_id"], json.loads(r.value)))
        out[topic] = rows
    return out


def published_once(records: dict[str, Any], topic: str) -> Counter[str]:
    """Event ids published more than once on a topic (physical duplicates), with their counts."""
    counts = Counter(ce_id for _, ce_id, _ in records[topic])
    return Counter({i: n for i, n in counts.items() if n > 1})


def bodies(records: dict[str, Any], topic: str, kind: type[Any]) -> list[dict[str, Any]]:
    """One body per event id: the platform's own consumers drop a republished event by its
    `ce_id` (README, "The runtime every handler runs through"), and so do these checks, on the
    platform's internal topics only; duplicates are counted apart, in `published_once`."""
    seen: dict[str, dict[str, Any]] = {}
    for ce_type, ce_id, body in records[topic]:
        if ce_type == kind.TYPE:
            seen.setdefault(ce_id, body)
    return list(seen.values())


def once(rows: list[tuple[Any, ...]], what: str) -> list[tuple[Any, ...]]:
    """The rows, each business key (the row's first fields, all but the last) exactly once."""
    keys = Counter(row[:-1] for row in rows)
    doubled = {k: n for k, n in keys.items() if n > 1}
    assert not doubled, f"{what} more than once: {doubled}"
    return sorted(rows)


def ledger(records: dict[str, Any], load: Workload) -> dict[str, Any]:
    """What the run decided, each thing exactly once, in a form two runs can be compared by."""
    answers: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for h in ANSWERS.values():
        for ce_type, _, body in records[h]:
            if ce_type == m.SettlementResult.TYPE:
                answers[body["claim_id"]].append(body)
    sent = {c.claim_id for p in load.persons for c in p.claims} | {c.claim_id for c in load.batch}
    assert sent <= set(answers), f"claims never answered: {sorted(sent - set(answers))}"
    doubled = {i: len(a) for i, a in answers.items() if len(a) != 1}
    # HOSPITALS.md: "Every claim you send gets exactly one SettlementResult": not one per event
    # id, one record; a hospital is not asked to drop repeats.
    assert not doubled, f"claims answered more than once (records per claim id): {doubled}"
    assert set(answers) - sent <= {"CH-BAD-1"}, sorted(set(answers) - sent)

    def amounts(a: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(sorted((a.get("amounts") or {}).items()))

    settled = once(
        [
            (i, a["outcome"], amounts(a), a.get("ytd_fund_paid"), tuple(a.get("reasons", ())))
            for i, (a,) in answers.items()
            if i in sent
        ],
        "claims",
    )
    credits = once(
        [
            (
                c["person"],
                c["period"],
                c["source"],
                tuple(
                    (
                        i["insurance"],
                        i["base"],
                        i["employer_part"],
                        i["employee_part"],
                        i["into_account"],
                    )
                    for i in c["insurances"]
                ),
            )
            for c in bodies(records, cc.EVENTS.name, cc.ContributionCredited)
        ],
        "a credited month",
    )
    assessments = once(
        [
            (a["employer"], a["period"], a["revision"], a["part"], a["amount_due"])
            for ce_type, _, a in records[ASSESSMENTS]
            if ce_type == cc.TaxAssessmentIssued.TYPE
        ],
        "an assessment",
    )
    bookings = once(
        [
            (b["assessment_id"], b["collection_id"], b["amount"])
            for ce_type, _, b in records[ASSESSMENTS]
            if ce_type == cc.TaxPaymentBooked.TYPE
        ],
        "a booked collection",
    )

    def paid(topic: str, kind: type[Any], *fields: str) -> list[tuple[Any, ...]]:
        return once([tuple(x[f] for f in fields) for x in bodies(records, topic, kind)], kind.TYPE)

    return {
        "claims": settled,
        "credits": credits,
        "assessments": assessments,
        "bookings": bookings,
        "benefits": paid(u.EVENTS.name, u.BenefitPaid, "person", "month", "amount"),
        "fund medical": paid(u.EVENTS.name, u.MedicalContributionPaid, "person", "month", "amount"),
        "subsidies (unemployment)": paid(
            u.EVENTS.name, u.PriceSubsidyPaid, "person", "period", "amount"
        ),
        "assistance": paid(w.EVENTS.name, w.AssistancePaid, "household_id", "month", "amount"),
        "subsidies (welfare)": paid(
            w.EVENTS.name, w.PriceSubsidyPaid, "person", "period", "amount"
        ),
        "pensions on behalf": paid(
            w.EVENTS.name, w.PensionPaidOnBehalf, "person", "year", "amount"
        ),
    }


def totals(book: dict[str, Any]) -> dict[str, Decimal]:
    """The fen that moved, by kind: what a comparison of two runs must find equal."""
    out: dict[str, Decimal] = {}
    fields = ("fund_payment", "serious_illness_payment", "medical_assistance_payment")
    for f in (*fields, "patient_payable"):
        out[f"claims {f}"] = sum((D(dict(a[2]).get(f, "0")) for a in book["claims"]), D(0))
    out["credits employer_part"] = sum((D(i[2]) for c in book["credits"] for i in c[3]), D(0))
    out["credits into_account"] = sum((D(i[4]) for c in book["credits"] for i in c[3]), D(0))
    out["assessed"] = sum((D(a[-1]) for a in book["assessments"]), D(0))
    for kind in (
        "benefits",
        "fund medical",
        "subsidies (unemployment)",
        "assistance",
        "subsidies (welfare)",
        "pensions on behalf",
    ):
        out[kind] = sum((D(x[-1]) for x in book[kind]), D(0))
    return out


def dead_letters(records: dict[str, Any]) -> dict[str, list[tuple[str, str]]]:
    """(ce_id, reason) of every dead letter, by topic, physical repeats included."""
    return {
        t: [(h.get("ce_id", ""), h.get("dlq-reason", "")) for _, _, h in rows]
        for t, rows in records.items()
        if t.endswith(".dlq") and rows
    }


# -- the test -----------------------------------------------------------------------------------


async def test_faults_lose_nothing(
    restartable_kafka: Any, restartable_redis: Any, own_redis_cluster: Any, tmp_path: Path
) -> None:
    load = workload(SEED)
    claims = sum(len(p.claims) for p in load.persons)
    print(
        f"[chaos] seed {SEED}: {len(load.persons)} employees, {claims} claims, "
        f"faults {load.faults}, kills {load.victims}",
        flush=True,
    )
    books, dups = [], []
    # calm and faulty on one Redis node; faulty again on a Redis Cluster, where the Redis fault
    # is its master's death and a replica's takeover
    runs = [("calm", restartable_redis, False), ("faults", restartable_redis, True)]
    runs.append(("cluster", own_redis_cluster, True))
    for name, redis_server, faults in runs:
        started = time.monotonic()
        logs = tmp_path / name
        logs.mkdir()
        records = await run(
            load,
            restartable_kafka,
            redis_server.url,
            redis_server,
            logs,
            faults=faults,
        )
        print(f"[chaos] {name} run: {time.monotonic() - started:.0f}s", flush=True)
        # -- the dead-letter topics hold the deliberately bad input and nothing else ----------
        letters = dead_letters(records)
        assert {t: {i for i, _ in rows} for t, rows in letters.items()} == {
            f"{topic}.dlq": {ce_id} for ce_id, (topic, _) in BAD.items()
        }, letters
        assert {(i, r) for rows in letters.values() for i, r in rows} == {
            (ce_id, reason) for ce_id, (_, reason) in BAD.items()
        }, letters
        repeated_letters = {t: len(rows) for t, rows in letters.items() if len(rows) > 1}
        # -- physical duplicates: the same event id published twice --------------------------
        doubled = {t: published_once(records, t) for t in records if not t.endswith(".dlq")}
        doubled = {t: dict(c) for t, c in doubled.items() if c}
        dups.append((doubled, repeated_letters))
        print(
            f"[chaos] republished event ids: {doubled or 'none'}; dead letters repeated: "
            f"{repeated_letters or 'none'}",
            flush=True,
        )
        partner = {t: c for t, c in doubled.items() if t.startswith("partner.")}
        assert not partner, f"answers to partners published twice (same ce_id): {partner}"
        books.append(ledger(records, load))

    calm, faulty, clustered = books
    print("[chaos] totals: " + ", ".join(f"{k} {v}" for k, v in totals(calm).items()))
    assert sum(len(p.claims) for p in load.persons) + BATCH == len(calm["claims"])
    assert len(calm["credits"]) == 12 * PERSONS + 2 * LAID_OFF
    batch = {c.claim_id for c in load.batch}
    assert all(x[1] == "settled" for x in calm["claims"] if x[0] not in batch), [
        x for x in calm["claims"] if x[1] != "settled" and x[0] not in batch
    ]
    assert {x[1:] for x in calm["claims"] if x[0] in batch} == {
        ("rejected", (), None, ("not_insured_on_service_date",))
    }
    assert calm["benefits"] and calm["assistance"] and calm["subsidies (welfare)"]
    assert totals(faulty) == totals(calm)
    assert totals(clustered) == totals(calm)
    for kind in calm:
        assert faulty[kind] == calm[kind], kind
        assert clustered[kind] == calm[kind], kind
