"""make demo: the platform on real Kafka and Redis, with a small realistic month.

Starts Kafka and Redis (your KAFKA_BOOTSTRAP_SERVERS/REDIS_URL, else Docker, else local
processes), starts every service as its own process (enrollment, contributions, medical
settlement), drives a scenario through the topics as the counters, the employers, the scheduler,
the tax bureaus and the hospitals would, prints what happened, and stops everything it started,
also on Ctrl-C or an error. `--keep` leaves it running until Ctrl-C.

The demo only writes to topics and reads topics and the services' read-side HTTP routes. It waits
for what it depends on (a service has consumed everything before the next step that needs it) and
matches answers by key (claim id, employer), never by position.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from shebao_common.policy import Policy
from shebao_contracts import contributions as cc
from shebao_contracts import enrollment as c
from shebao_contracts import medical as m
from shebao_contracts.types import citizen_id_check_char, mask_citizen_id
from shebao_contracts.welfare import EVENTS as WELFARE_EVENTS
from shebao_devinfra.infra import Infra, provision
from shebao_devinfra.testing import (
    ServiceProcess,
    message_record,
    producer,
    read_all,
    recreate_topics,
    wait_until,
)

REGIONS = {"320100": "Nanjing", "320500": "Suzhou", "321300": "Suqian"}
PARTITIONS = 4  # what ServiceProcess tells the services the topics have
T0 = datetime(2025, 3, 3, 9, tzinfo=UTC)  # the day at the counters
MONTH = "2025-03"  # the month the employers, the bureaus and the hospitals then go through
# Per region: employees, residents, flexible workers out of PEOPLE registered people.
PEOPLE = 1000
MIX = {"320100": (660, 280, 30), "320500": (640, 250, 70), "321300": (520, 240, 60)}
# Hospitals: code, level, region (the codes are assigned when a hospital is designated)
HOSPITALS = [
    ("h320102001", m.HospitalLevel.TERTIARY, "320100"),
    ("h320508002", m.HospitalLevel.SECONDARY, "320500"),
    ("h321302003", m.HospitalLevel.PRIMARY, "321300"),
]
BUREAUS = {
    region: str(Policy.load().get("tax.bureau", region, date(2025, 3, 1))) for region in REGIONS
}
D = Decimal


def say(text: str = "") -> None:
    print(text, flush=True)


def head(text: str) -> None:
    say()
    say(f"== {text} " + "=" * max(0, 72 - len(text)))


def yuan(x: Decimal | str) -> str:
    return f"{D(x):,.2f}"


def kind_of(record: Any) -> str:
    return dict(record.headers)["ce_type"].decode().rsplit(".", 1)[1]


def citizen_id(rng: random.Random, region: str) -> str:
    born = date(1975, 1, 1) + timedelta(days=rng.randrange(365 * 28))
    first17 = f"{region[:4]}{rng.randrange(1, 20):02d}{born:%Y%m%d}{rng.randrange(1000):03d}"
    return first17 + citizen_id_check_char(first17)


class Desk:
    """Sends messages as a counter, a portal, the scheduler or a partner would: each with its
    own id and time."""

    def __init__(self, prod: Any) -> None:
        self.prod = prod
        self.n = 0

    async def send(
        self, msg: Any, key: str, topic: str = c.COMMANDS.name, at: datetime | None = None
    ) -> None:
        self.n += 1
        k, v, h = message_record(
            msg,
            message_id=f"demo-{self.n:06d}",
            time=at or T0 + timedelta(seconds=self.n),
            source=None if topic.startswith("partner.") else "/counter/demo",
            key=key,
            topic=topic,
        )
        await self.prod.send(topic, key=k, value=v, headers=h)

    async def send_raw(
        self, topic: str, key: str, value: bytes, ce_type: str, at: datetime, source: str
    ) -> None:
        """A record as a partner's system writes it, valid or not."""
        self.n += 1
        _, _, h = message_record(
            m.ClaimSubmitted.model_construct(),
            message_id=f"demo-{self.n:06d}",
            time=at,
            source=source,
        )
        h = [(k, ce_type.encode() if k == "ce_type" else v) for k, v in h]
        await self.prod.send(topic, key=key.encode(), value=value, headers=h)


class Tap:
    """Reads topics from the beginning in the background, as a partner or a dashboard would."""

    def __init__(
        self, bootstrap: str, topics: Iterable[str], services: list[ServiceProcess]
    ) -> None:
        self.bootstrap = bootstrap
        self.topics = list(topics)
        self.services = services
        self.records: dict[str, list[tuple[str, str, dict[str, Any]]]] = defaultdict(list)
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, enable_auto_commit=False, group_id=None
        )
        await self._consumer.start()
        tps = [TopicPartition(t, p) for t in self.topics for p in range(PARTITIONS)]
        self._consumer.assign(tps)
        await self._consumer.seek_to_beginning(*tps)
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            batch = await self._consumer.getmany(timeout_ms=200, max_records=5000)
            for tp, recs in batch.items():
                for r in recs:
                    key = r.key.decode() if r.key else ""
                    self.records[tp.topic].append((kind_of(r), key, json.loads(r.value)))

    def of(self, topic: str, kind: str | None = None) -> list[dict[str, Any]]:
        return [b for k, _, b in self.records[topic] if kind is None or k == kind]

    def count(self, topic: str, kind: str) -> int:
        return sum(1 for k, _, _ in self.records[topic] if k == kind)

    async def until(self, check: Callable[[], bool], what: str, timeout: float = 90) -> None:
        async def ok() -> bool:
            if self._task is not None and self._task.done():
                self._task.result()  # a failed reader fails the demo rather than hanging it
            for svc in self.services:
                if not svc.alive:
                    raise RuntimeError(f"{svc.name} exited:\n{svc.log_tail()}")
            return check()

        try:
            await wait_until(ok, timeout=timeout, interval=0.1)
        except TimeoutError:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}") from None

    async def drained(self, offsets: Offsets) -> None:
        """Everything on the watched topics so far has been read (offsets are contiguous: the
        producers are idempotent, not transactional)."""
        ends = {t: await offsets.total([t]) for t in self.topics}
        await self.until(
            lambda: all(len(self.records[t]) >= n for t, n in ends.items()), "the topics"
        )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()


class Offsets:
    """End offsets of topics: what a service must have consumed to be caught up."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None)
        await self._consumer.start()

    async def total(self, topics: Iterable[str]) -> int:
        assert self._consumer is not None
        tps = [TopicPartition(t, p) for t in topics for p in range(PARTITIONS)]
        return sum((await self._consumer.end_offsets(tps)).values())

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()


async def caught_up(
    svc: ServiceProcess, inputs: list[str], offsets: Offsets, what: str, timeout: float = 120
) -> None:
    """The service consumed every record of its input topics and published its outbox, twice in
    a row (what it publishes to its own topics is then consumed too)."""
    calm = 0

    async def idle() -> bool:
        nonlocal calm
        if not svc.alive:
            raise RuntimeError(f"{svc.name} exited:\n{svc.log_tail()}")
        produced = await offsets.total(inputs)
        # committed records; "stale" ones were fetched again after a rebalance and are counted
        # once more when they are committed
        consumed = await svc.metric("shebao_records_total") - await svc.metric(
            "shebao_records_total", outcome="stale"
        )
        pending = await svc.metric("shebao_outbox_pending")
        calm = calm + 1 if consumed >= produced and pending == 0 else 0
        return calm >= 3

    try:
        await wait_until(idle, timeout=timeout, interval=0.2)
    except TimeoutError:
        raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}") from None


# ---------------------------------------------------------------------------------------------
# Enrollment: a day at the counters


async def enrollment_day(desk: Desk, svc: ServiceProcess, rng: random.Random) -> dict[str, Any]:
    head("Enrollment: employers, people, schemes, a transfer, cards")
    employers = []
    for region in REGIONS:
        for k in range(4):
            code = f"91{region}MA{rng.randrange(10**8):08d}"
            employers.append((code, region))
            await desk.send(
                c.RegisterEmployer(
                    employer=code,
                    name=f"{REGIONS[region]} 示例企业{k + 1}",
                    region=region,
                    ownership=rng.choice(list(c.Ownership)),
                    risk_class=rng.randint(1, 8),
                    registered_on=date(2024, 1, 2),
                ),
                code,
            )
    await desk.prod.flush()

    async def employers_known() -> bool:
        return all([(await svc.get_json(f"/employers?code={e}"))[0] == 200 for e, _ in employers])

    await wait_until(employers_known, timeout=60)
    say(f"registered {len(employers)} employers in {len(REGIONS)} pooling regions")

    people: list[tuple[str, str]] = []
    kind: dict[str, str] = {}
    employer_of: dict[str, str] = {}
    kinds: Counter[str] = Counter()
    for region, (employees, residents, flexible) in MIX.items():
        units = [e for e, r in employers if r == region]
        for i in range(PEOPLE):
            cid = citizen_id(rng, region)
            people.append((cid, region))
            await desk.send(
                c.RegisterPerson(
                    citizen_id=cid,
                    name=f"参保人{len(people)}",
                    hukou_region=region,
                    residence=c.Residence.RURAL if i % 4 == 0 else c.Residence.URBAN,
                    registered_on=date(2024, 2, 1),
                ),
                cid,
            )
            if i < employees:
                kind[cid] = "employee"
                employer_of[cid] = units[i % len(units)]
                await desk.send(
                    c.StartEmployment(
                        citizen_id=cid,
                        employer=employer_of[cid],
                        start_date=date(2024, 3, 1),
                        monthly_wage=D(4000 + 11 * i),
                    ),
                    cid,
                )
                kinds["employees"] += 1
            elif i < employees + residents:
                kind[cid] = "resident"
                # resident schemes are joined for a calendar year
                await desk.send(
                    c.EnrolResidentPension(
                        citizen_id=cid,
                        region=region,
                        start_date=date(2025, 1, 1),
                        yearly_tier=rng.choice([100, 300, 500, 1000]),
                    ),
                    cid,
                )
                await desk.send(
                    c.EnrolResidentMedical(
                        citizen_id=cid, region=region, start_date=date(2025, 1, 1)
                    ),
                    cid,
                )
                kinds["residents"] += 1
            elif i < employees + residents + flexible:
                kind[cid] = "flexible worker"
                await desk.send(
                    c.EnrolFlexibleWorker(
                        citizen_id=cid,
                        region=region,
                        start_date=date(2025, 2, 1),
                        declared_base=D("5200.00"),
                        unemployment=region == "320100",
                    ),
                    cid,
                )
                kinds["flexible workers"] += 1
            else:
                kind[cid] = "not insured"
                kinds["registered, not yet insured"] += 1
    say(f"{len(people)} people: " + ", ".join(f"{v} {k}" for k, v in kinds.items()))

    # a few stories
    laid_off = people[:12]
    for cid, _ in laid_off:
        kind[cid] = "laid off"
        await desk.send(
            c.EndEmployment(
                citizen_id=cid,
                employer=employer_of[cid],
                end_date=date(2025, 1, 31),
                separation=c.Separation.INVOLUNTARY,
            ),
            cid,
        )
    mover, mover_region = people[MIX["320100"][0] + 20]  # a Nanjing resident moves to Suzhou
    await desk.send(
        c.TransferOut(
            citizen_id=mover, transfer_id="TR-DEMO-1", to_region="320500", date=date(2025, 2, 1)
        ),
        mover,
    )
    await desk.send(
        c.TransferIn(
            citizen_id=mover,
            transfer_id="TR-DEMO-1",
            region="320500",
            from_region=mover_region,
            date=date(2025, 2, 10),
        ),
        mover,
    )
    for n, (cid, _) in enumerate(people[:100]):
        await desk.send(
            c.IssueCard(citizen_id=cid, card_number=f"JS{n:08d}", issued_on=date(2024, 6, 1)), cid
        )
    dead = people[PEOPLE - 10][0]  # registered, not insured
    kind[dead] = "deceased"
    await desk.send(c.RecordDeath(citizen_id=dead, date_of_death=date(2025, 2, 20)), dead)
    # what a counter gets wrong
    await desk.send(
        c.EnrolResidentPension(
            citizen_id=people[20][0],
            region=people[20][1],
            start_date=date(2025, 3, 1),
            yearly_tier=700,
        ),
        people[20][0],
    )
    await desk.send(
        c.StartEmployment(
            citizen_id=people[22][0],
            employer="91320100MA00000000",
            start_date=date(2025, 3, 1),
            monthly_wage=D(6000),
        ),
        people[22][0],
    )
    bad = people[21][0][:17] + ("0" if people[21][0][17] != "0" else "1")
    k, _, h = message_record(
        c.RegisterPerson.model_construct(), message_id="demo-bad-1", time=T0, key=bad
    )
    await desk.prod.send(
        c.COMMANDS.name,
        key=k,
        headers=h,
        value=json.dumps(
            {
                "citizen_id": bad,
                "name": "录入错误",
                "hukou_region": "320100",
                "residence": "urban",
                "registered_on": "2025-03-03",
            }
        ).encode(),
    )
    await desk.prod.flush()
    return {
        "people": people,
        "kind": kind,
        "employers": employers,
        "laid_off": laid_off,
        "total": desk.n + 1,
    }


async def enrollment_report(bootstrap: str, story: dict[str, Any], svc: ServiceProcess) -> None:
    events = await read_all(bootstrap, c.EVENTS.name)
    story["events"] = events
    by_type = Counter(kind_of(e) for e in events)
    say(f"{story['total']} commands in, {len(events)} events out on {c.EVENTS.name}:")
    for t, n in sorted(by_type.items(), key=lambda x: (-x[1], x[0])):
        say(f"  {n:>5}  {t}")
    rejected = sorted(
        (json.loads(e.value) for e in events if kind_of(e) == "CommandRejected"),
        key=lambda r: (r["command_type"], r["reason"]),
    )
    say("refused, with the reason sent back:")
    for r in rejected[:12]:
        say(f"  {r['command_type'].rsplit('.', 1)[1]:<22} {r['reason']:<28} {r['detail'][:60]}")
    if len(rejected) > 12:
        say(f"  ... and {len(rejected) - 12} more")
    dlq = await read_all(bootstrap, c.COMMANDS.dlq)
    say(
        f"dead letters on {c.COMMANDS.dlq}: {len(dlq)} "
        f"({', '.join(dict(d.headers)['dlq-reason'].decode() for d in dlq)})"
    )

    head("Read side: a laid-off employee at the counter")
    cid = story["laid_off"][0][0]
    _, p = await svc.get_json(f"/persons?citizen_id={cid}")
    say(f"{mask_citizen_id(cid)}  card {p['card']['number'] if p['card'] else '-'}")
    for ms in p["memberships"]:
        say(f"  {ms['scheme']:<18} {ms['region']}  {ms['status']:<9} since {ms['since']}")
    say("  history: " + "; ".join(f"{h['on']} {h['what']}" for h in p["history"][-4:]))

    head("Coverage against the 95% target (population per region: illustrative)")
    _, cov = await svc.get_json("/coverage?on=2025-03-31")
    say(f"{'region':<16}" + "".join(f"{i.value:>14}" for i in c.Insurance))
    for reg in cov["regions"]:
        name = f"{reg['region']} {REGIONS.get(reg['region'], '')}"
        cells = []
        for row in reg["insurances"]:
            rate = f"{D(row['rate']) * 100:.1f}%" if row["rate"] else "-"
            cells.append(f"{row['insured']:>5} {rate:>7}{'*' if row['above_target'] else ' '}")
        say(f"{name:<16}" + "".join(f"{x:>14}" for x in cells))
    say("(* = at or above the target rate)")


# ---------------------------------------------------------------------------------------------
# Contributions: a month of wages, the close, the tax bureaus


def at(day: int, hour: int = 9, month: int = 4) -> datetime:
    return datetime(2025, month, day, hour, tzinfo=UTC)


async def contributions_month(desk: Desk, w: World, story: dict[str, Any]) -> dict[str, Any]:
    head(f"Contributions: {MONTH} wages, the close, the tax bureaus")
    svc = w.contributions
    # The employers' portal knows its rosters from the platform (person references only).
    roster: dict[str, dict[str, Decimal]] = {code: {} for code, _ in story["employers"]}
    for e in story["events"]:
        kind = kind_of(e)
        if kind in ("EmploymentStarted", "EmploymentEnded"):
            body = json.loads(e.value)
            if kind == "EmploymentStarted":
                roster[body["employer"]][body["person"]] = D(body["monthly_wage"])
            else:
                roster[body["employer"]].pop(body["person"], None)
    region_of = dict(story["employers"])
    await caught_up(svc, w.inputs["contributions"], w.offsets, "contributions to follow enrollment")

    codes = [code for code, _ in story["employers"]]
    silent = codes[3]  # declares nothing: assessed on each person's most recent wage
    declared = 0
    for code in codes:
        if code == silent or not roster[code]:
            continue
        raise_ = D("1.03") if codes.index(code) % 2 == 0 else D("1.00")
        wages = [
            cc.WageLine(person=p, wage=(wage * raise_).quantize(D("0.01")))
            for p, wage in sorted(roster[code].items())
        ]
        await desk.send(
            cc.DeclareWages(employer=code, month=MONTH, wages=wages),
            code,
            cc.COMMANDS.name,
            at(25, month=3),
        )
        declared += 1
    await desk.prod.flush()
    await w.tap.until(
        lambda: w.tap.count(cc.EVENTS.name, "WagesDeclared") >= declared, "wage declarations"
    )
    lines = sum(b["declared"] for b in w.tap.of(cc.EVENTS.name, "WagesDeclared"))
    say(
        f"{declared} employers declared {MONTH} wages for {lines} employees (some with a 3% raise);"
    )
    say(f"{silent} declared nothing: its employees are assessed on their last known wage")

    # The scheduler closes the month per region.
    for region in REGIONS:
        await desk.send(cc.ClosePeriod(region=region, month=MONTH), region, cc.COMMANDS.name, at(1))
    await desk.prod.flush()
    bureau_topics = {region: cc.ASSESSMENTS.named(code=b) for region, b in BUREAUS.items()}
    with_staff = {code for code in codes if roster[code]}

    def employer_assessments() -> dict[str, dict[str, Any]]:
        """Latest revision per employer, as the bureaus see it."""
        out: dict[str, dict[str, Any]] = {}
        for topic in bureau_topics.values():
            for a in w.tap.of(topic, "AssessmentIssued"):
                if a["payer"] == "employer" and a["period"] == MONTH:
                    held = out.get(a["employer"])
                    if held is None or held["revision"] <= a["revision"]:
                        out[a["employer"]] = a
        return out

    await w.tap.until(
        lambda: set(employer_assessments()) >= with_staff, "the employers' assessments"
    )
    await caught_up(svc, w.inputs["contributions"], w.offsets, "the close to fan out")
    await w.tap.drained(w.offsets)
    say(f"closed {MONTH} in {len(REGIONS)} regions; what each tax bureau was asked to collect:")
    say(
        f"  {'bureau':<9}{'topic':<36}{'employers':>9}{'employees':>10}{'employers owe':>15}"
        f"{'flexible':>10}{'residents':>10}"
    )
    first = employer_assessments()
    for region, topic in bureau_topics.items():
        mine = [a for a in first.values() if a["region"] == region]
        persons = [a for a in w.tap.of(topic, "AssessmentIssued") if a["payer"] == "person"]
        say(
            f"  {BUREAUS[region]:<9}{topic:<36}{len(mine):>9}"
            f"{sum(a['person_count'] for a in mine):>10}"
            f"{yuan(sum((D(a['amount_due']) for a in mine), D(0))):>15}"
            f"{sum(1 for a in persons if a['period'] == MONTH):>10}"
            f"{sum(1 for a in persons if a['period'] == MONTH[:4]):>10}"
        )
    say("  (flexible workers owe the month, residents their year: assessed to them personally)")

    # A correction after the close, before the bureau collected anything: revision 2.
    fixer = codes[1]
    fixed = sorted(roster[fixer])[:2]
    before = first[fixer]
    await desk.send(
        cc.DeclareWages(
            employer=fixer,
            month=MONTH,
            wages=[cc.WageLine(person=p, wage=roster[fixer][p] + 1500) for p in fixed],
        ),
        fixer,
        cc.COMMANDS.name,
        at(3),
    )
    await desk.prod.flush()
    await w.tap.until(
        lambda: employer_assessments()[fixer]["revision"] == 2, "the revised assessment"
    )
    after = employer_assessments()[fixer]
    say(
        f"{fixer} corrected {len(fixed)} wages after the close: revision 2 re-issued to "
        f"{after['bureau']}, {yuan(before['amount_due'])} -> {yuan(after['amount_due'])}"
    )

    # The bureaus report what they collected.
    dues = employer_assessments()
    short, twice = codes[5], codes[0]
    reports: list[tuple[str, str, str, Decimal]] = []  # bureau, collection id, employer, amount
    for n, code in enumerate(sorted(dues)):
        a = dues[code]
        amount = D(a["amount_due"]) - (D("300.00") if code == short else 0)
        reports.append((a["bureau"], f"{a['bureau'].upper()}-20250415-{n:04d}", code, amount))
    reports.append(next(r for r in reports if r[2] == twice))  # the same report again
    stray = ("t320100", "T320100-20250415-9999", codes[0], "2025-04")
    for bureau, cid, code, amount in reports:
        await desk.send(
            cc.EmployerContributionsCollected(
                collection_id=cid, employer=code, month=MONTH, amount=amount
            ),
            code,
            cc.COLLECTIONS.named(code=bureau),
            at(15),
        )
    await desk.send(
        cc.EmployerContributionsCollected(
            collection_id=stray[1], employer=stray[2], month=stray[3], amount=D("812.40")
        ),
        stray[2],
        cc.COLLECTIONS.named(code=stray[0]),
        at(15),
    )
    await desk.prod.flush()
    settled = [a for code, a in dues.items() if code != short]
    credits = sum(a["person_count"] for a in settled)
    await w.tap.until(
        lambda: (
            w.tap.count(cc.EVENTS.name, "PaymentBooked") >= len(dues)
            and w.tap.count(cc.EVENTS.name, "ContributionCredited") >= credits
            and w.tap.count(cc.EVENTS.name, "ArrearsBooked") >= 1
            and w.tap.count(cc.ASSESSMENTS.named(code=stray[0]), "CollectionRejected") >= 1
        ),
        "payments and credits",
    )
    await caught_up(svc, w.inputs["contributions"], w.offsets, "the credits")
    await w.tap.drained(w.offsets)
    booked = {b["employer"]: b for b in w.tap.of(cc.EVENTS.name, "PaymentBooked")}
    say(f"the bureaus reported {len(reports) + 1} collections; booked:")
    say(f"  {'employer':<20}{'bureau':<9}{'employees':>9}{'amount due':>14}{'paid':>14}  outcome")
    for code in sorted(dues, key=lambda x: (region_of[x], x)):
        a, b = dues[code], booked[code]
        say(
            f"  {code:<20}{a['bureau']:<9}{a['person_count']:>9}{yuan(a['amount_due']):>14}"
            f"{yuan(b['paid_total']):>14}  {b['outcome']}"
        )
    arrears = w.tap.of(cc.EVENTS.name, "ArrearsBooked")
    for x in arrears:
        say(
            f"arrears booked for {x['employer']}: {yuan(x['arrears'])} short of "
            f"{yuan(x['amount_due'])}, so none of its employees' {x['period']} is credited"
        )
    resent = next(r for r in reports if r[2] == twice)
    n_booked = sum(1 for b in w.tap.of(cc.EVENTS.name, "PaymentBooked") if b["employer"] == twice)
    say(
        f"{resent[1]} was reported twice: booked "
        + ("once" if n_booked == 1 else f"{n_booked} times (expected once)")
    )
    for bureau, topic in ((b, cc.ASSESSMENTS.named(code=b)) for b in BUREAUS.values()):
        for r in w.tap.of(topic, "CollectionRejected"):
            say(f"back to {bureau} on {topic}: CollectionRejected {r['reason']}")
            say(f"  {r['collection_id']}: {r['detail']}")
    events = Counter(k for k, _, _ in w.tap.records[cc.EVENTS.name])
    say(f"events on {cc.EVENTS.name}:")
    for t, n in sorted(events.items(), key=lambda x: (-x[1], x[0])):
        say(f"  {n:>5}  {t}")

    head("Read side: an employee's contributions, an employer's ledger")
    person = fixed[0]
    status, p = await svc.get_json(f"/persons?ref={person}")
    if status != 200:
        raise RuntimeError(f"GET /persons?ref={person} answered {status}: {p}")
    credit = next(
        x for x in w.tap.of(cc.EVENTS.name, "ContributionCredited") if x["person"] == person
    )
    say(f"person {person}, employed by {p['employer']} (one of the two corrected wages)")
    say(
        f"  {'insurance':<14}{'months':<10}{'base':>10}{'employer':>10}{'employee':>10}"
        f"{'to account':>12}{'account':>11}"
    )
    by_insurance = {x["insurance"]: x for x in credit["insurances"]}
    for ins in p["insurances"]:
        x = by_insurance[ins["insurance"]]
        say(
            f"  {ins['insurance']:<14}{','.join(ins['months']):<10}{yuan(x['base']):>10}"
            f"{yuan(x['employer_part']):>10}{yuan(x['employee_part']):>10}"
            f"{yuan(x['into_account']):>12}"
            f"{yuan(x['account_balance_after']) if x['account_balance_after'] else '':>11}"
        )
    say(
        f"  accounts: pension {yuan(p['accounts']['pension'])}, medical "
        f"{yuan(p['accounts']['medical'])}; {p['insurances'][0]['total_years']} years credited"
    )
    _, ledger = await svc.get_json(f"/employers?code={short}")
    due = ledger["assessments"][-1]
    say(
        f"employer {short}: {due['period']} {due['status']}, paid {yuan(due['paid'])} of "
        f"{yuan(due['amount_due'])}; arrears {yuan(ledger['arrears'])}"
    )
    return {"credited": credits}


# ---------------------------------------------------------------------------------------------
# Medical settlement: hospitals, claims, the month's statements


def line(category: str, amount: str, qty: str = "1") -> dict[str, str]:
    unit = (D(amount) / D(qty)).quantize(D("0.01"))
    return {
        "item_code": f"IT-{category}",
        "category": category,
        "quantity": qty,
        "unit_price": str(unit),
        "amount": amount,
    }


def claim(
    hospital: str,
    claim_id: str,
    patient: str,
    lines: list[dict[str, str]],
    *,
    visit: str = "inpatient",
    admitted: str = "2025-03-04",
    discharged: str = "2025-03-11",
    diagnosis: str = "J18.9",
) -> bytes:
    return json.dumps(
        {
            "hospital": hospital,
            "claim_id": claim_id,
            "patient_citizen_id": patient,
            "visit_type": visit,
            "admission_date": admitted,
            "discharge_date": discharged if visit == "inpatient" else None,
            "diagnosis_code": diagnosis,
            "lines": lines,
            "total": str(sum(D(x["amount"]) for x in lines)),
        }
    ).encode()


async def medical_month(desk: Desk, w: World, story: dict[str, Any]) -> None:
    head(f"Medical settlement: three hospitals, claims for {MONTH}, the statements")
    svc = w.medical
    for code, level, region in HOSPITALS:
        await desk.send(
            m.RegisterHospital(
                hospital=code,
                name=f"{REGIONS[region]} {level.value} hospital",
                level=level,
                region=region,
                designated_from=date(2015, 1, 1),
            ),
            code,
            m.COMMANDS.name,
            at(1, month=3),
        )
    await desk.prod.flush()

    async def hospitals_known() -> bool:
        return all(
            [(await svc.get_json(f"/hospitals?code={h}"))[0] == 200 for h, _, _ in HOSPITALS]
        )

    await wait_until(hospitals_known, timeout=60)
    say("registered: " + ", ".join(f"{h} ({lv.value}, {r})" for h, lv, r in HOSPITALS))
    # Claims are adjudicated on what medical settlement knows of the patients: let it catch up
    # with enrollment's and contributions' events first.
    await caught_up(svc, w.inputs["medical"], w.offsets, "medical settlement to follow coverage")

    kind, people = story["kind"], story["people"]

    def someone(what: str, region: str) -> str:
        return next(cid for cid, r in people if r == region and kind[cid] == what)

    nj, sz, sq = HOSPITALS[0][0], HOSPITALS[1][0], HOSPITALS[2][0]
    patients = {
        "ZY-0301": ("employee, Nanjing", someone("employee", "320100")),
        "ZY-0302": ("employee, Suzhou", someone("employee", "320500")),
        "MZ-0303": ("resident, Suqian", someone("resident", "321300")),
        "ZY-0304": ("registered, not insured", someone("not insured", "320100")),
        "ZY-0305": ("laid off in January", someone("laid off", "320100")),
        "MZ-0306": ("(unreadable record)", ""),
    }
    example = [
        line("class_a_drug", "125.00", "10"),
        line("class_b_drug", "1720.00", "2"),
        line("treatment", "1600.00", "5"),
        line("material", "2400.00"),
        line("outside_scope", "900.00", "6"),
    ]
    sends: list[tuple[str, str, bytes, str]] = [  # hospital, claim id, body, type
        (nj, "ZY-0301", claim(nj, "ZY-0301", patients["ZY-0301"][1], example), ""),
        (
            sz,
            "ZY-0302",
            claim(sz, "ZY-0302", patients["ZY-0302"][1], [line("treatment", "10000.00")]),
            "",
        ),
        (
            sq,
            "MZ-0303",
            claim(
                sq,
                "MZ-0303",
                patients["MZ-0303"][1],
                [line("class_a_drug", "300.00", "3")],
                visit="outpatient",
                admitted="2025-03-12",
            ),
            "",
        ),
        (
            nj,
            "ZY-0304",
            claim(nj, "ZY-0304", patients["ZY-0304"][1], [line("treatment", "4200.00")]),
            "",
        ),
        (
            nj,
            "ZY-0305",
            claim(nj, "ZY-0305", patients["ZY-0305"][1], [line("treatment", "2600.00")]),
            "",
        ),
        (sq, "MZ-0306", b'{"hospital": "h321302003", "claim_id": "MZ-0306", "lines": [', ""),
        (
            sz,
            "ZY-0302",
            json.dumps(
                {
                    "hospital": sz,
                    "claim_id": "ZY-0302",
                    "patient_citizen_id": patients["ZY-0302"][1],
                    "reason": "wrong quantities, will resubmit",
                }
            ).encode(),
            m.ClaimCancellation.TYPE,
        ),
        (
            sz,
            "ZY-0302",
            claim(sz, "ZY-0302", patients["ZY-0302"][1], [line("treatment", "8000.00")]),
            "",
        ),
    ]
    for n, (hospital, claim_id, body, ce_type) in enumerate(sends):
        await desk.send_raw(
            m.CLAIMS.named(code=hospital),
            claim_id,
            body,
            ce_type or m.ClaimSubmitted.TYPE,
            datetime(2025, 3, 20, 10, n, tzinfo=UTC),
            f"/partners/{hospital}",
        )
    await desk.prod.flush()
    expected = Counter((h, cid) for h, cid, _, _ in sends)

    def answers() -> dict[tuple[str, str], list[tuple[str, dict[str, Any]]]]:
        out: dict[tuple[str, str], list[tuple[str, dict[str, Any]]]] = defaultdict(list)
        for h, _, _ in HOSPITALS:
            for k, _, body in w.tap.records[m.SETTLEMENTS.named(code=h)]:
                if k != "MonthlyStatement":
                    out[(h, body["claim_id"])].append((k, body))
        return out

    await w.tap.until(
        lambda: all(len(answers()[x]) >= n for x, n in expected.items()), "the answers"
    )
    got = answers()
    say(f"{len(sends)} records from the hospitals, each answered on its settlements topic:")
    say(
        f"  {'claim':<9}{'hospital':<12}{'patient':<25}{'answer':<20}{'submitted':>10}"
        f"{'fund':>10}{'patient':>10}  reasons"
    )
    order = list(patients)
    for (hospital, claim_id), ans in sorted(got.items(), key=lambda x: order.index(x[0][1])):
        for k, body in ans:
            outcome = body["outcome"] if k == "SettlementResult" else f"cancel: {body['outcome']}"
            amounts = body.get("amounts") or body.get("reversed") or {}
            say(
                f"  {claim_id:<9}{hospital:<12}{patients[claim_id][0]:<25}{outcome:<20}"
                f"{yuan(amounts['submitted']) if amounts else '':>10}"
                f"{yuan(amounts['fund_payment']) if amounts else '':>10}"
                f"{yuan(amounts['patient_payable']) if amounts else '':>10}"
                f"  {', '.join(body['reasons'])}"
            )
    dlq = await read_all(w.bootstrap, m.CLAIMS.named(code=sq) + ".dlq")
    say(
        f"dead letters on {m.CLAIMS.named(code=sq)}.dlq: {len(dlq)} "
        f"({', '.join(dict(d.headers)['dlq-reason'].decode() for d in dlq)})"
    )

    # The scheduler closes the month: each hospital gets its statement.
    await desk.send(m.CloseMonth(month=MONTH), MONTH, m.COMMANDS.name, at(1))
    await desk.prod.flush()

    def statements() -> dict[str, dict[str, Any]]:
        return {
            h: b
            for h, _, _ in HOSPITALS
            for k, _, b in w.tap.records[m.SETTLEMENTS.named(code=h)]
            if k == "MonthlyStatement" and b["month"] == MONTH
        }

    await w.tap.until(lambda: len(statements()) == len(HOSPITALS), "the monthly statements")
    say(f"statements for {MONTH} (MonthlyStatement on each settlements topic):")
    say(
        f"  {'hospital':<12}{'settled':>8}{'cancelled':>10}{'rejected':>9}{'fund':>12}"
        f"{'serious ill.':>13}{'assistance':>11}{'annual budget':>15}{'used':>8}"
    )
    for h, s in statements().items():
        used = f"{D(s['budget_used']) * 100:.3f}%" if s["budget_used"] else "-"
        say(
            f"  {h:<12}{s['claims_settled']:>8}{s['claims_cancelled']:>10}{s['claims_rejected']:>9}"
            f"{yuan(s['fund_payment']):>12}{yuan(s['serious_illness_payment']):>13}"
            f"{yuan(s['medical_assistance_payment']):>11}"
            f"{yuan(s['annual_budget']) if s['annual_budget'] else '-':>15}{used:>8}"
        )


# ---------------------------------------------------------------------------------------------
# The platform: topics, processes, and what the demo watches


class World:
    def __init__(self, infra: Infra, logs: Path) -> None:
        self.bootstrap = infra.kafka_bootstrap

        def service(name: str, module: str) -> ServiceProcess:
            return ServiceProcess(
                name, module, kafka=infra.kafka_bootstrap, redis_url=infra.redis_url, log_dir=logs
            )

        self.enrollment = service("enrollment", "shebao_enrollment")
        self.contributions = service("contributions", "shebao_contributions")
        self.medical = service("medical-settlement", "shebao_medical_settlement")
        self.services = [self.enrollment, self.contributions, self.medical]
        collections = [cc.COLLECTIONS.named(code=b) for b in BUREAUS.values()]
        claims = [m.CLAIMS.named(code=h) for h, _, _ in HOSPITALS]
        self.inputs = {
            "enrollment": [c.COMMANDS.name],
            "contributions": [c.EVENTS.name, cc.COMMANDS.name, cc.WORK.name, *collections],
            "medical": [
                *claims,
                m.COMMANDS.name,
                m.EVENTS.name,
                c.EVENTS.name,
                cc.EVENTS.name,
                WELFARE_EVENTS.name,
            ],
        }
        watched = [
            cc.EVENTS.name,
            *[cc.ASSESSMENTS.named(code=b) for b in BUREAUS.values()],
            *[m.SETTLEMENTS.named(code=h) for h, _, _ in HOSPITALS],
        ]
        consumed = sorted({t for topics in self.inputs.values() for t in topics})
        self.topics = sorted({*consumed, *(t + ".dlq" for t in consumed), *watched})
        self.tap = Tap(infra.kafka_bootstrap, watched, self.services)
        self.offsets = Offsets(infra.kafka_bootstrap)


async def drive(w: World, keep: bool, started: float) -> int:
    await recreate_topics(w.bootstrap, w.topics, partitions=PARTITIONS)
    head("Services")
    for s in w.services:
        s.start()
    for s in w.services:
        await s.wait_ready()
        say(f"{s.name:<19} {s.url}  (/healthz /readyz /metrics, log {s.log_path})")
    prod = await producer(w.bootstrap, linger_ms=5)
    await w.offsets.start()
    await w.tap.start()
    try:
        desk = Desk(prod)
        story = await enrollment_day(desk, w.enrollment, random.Random(2012))
        await caught_up(w.enrollment, w.inputs["enrollment"], w.offsets, "the enrollment day")
        await enrollment_report(w.bootstrap, story, w.enrollment)
        await contributions_month(desk, w, story)
        await medical_month(desk, w, story)

        head("Done")
        say(f"demo finished in {time.monotonic() - started:.0f}s; logs in {w.enrollment.log_dir}")
        if keep:
            say("services keep running; press Ctrl-C to stop everything")
            while all(s.alive for s in w.services):
                await asyncio.sleep(1)
            say("a service exited: " + ", ".join(s.name for s in w.services if not s.alive))
        return 0
    finally:
        await w.tap.stop()
        await w.offsets.stop()
        await prod.stop()


def stop_services(services: list[ServiceProcess]) -> None:
    """SIGTERM to every running service at once, then wait; kill what does not stop in time."""
    running = [s for s in services if s.alive]
    for s in running:
        assert s.proc is not None
        s.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 30
    for s in running:
        assert s.proc is not None
        try:
            s.proc.wait(max(0.1, deadline - time.monotonic()))
        except Exception:
            s.proc.kill()
            s.proc.wait(10)
            say(f"{s.name} did not stop within 30s of SIGTERM: killed (log {s.log_path})")
            continue
        log = s.log_path.read_text(errors="replace")
        if "service started" in log and "batches finished and outbox flushed" not in log:
            say(f"{s.name} exited {s.proc.returncode} without a clean shutdown (log {s.log_path})")


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _deferred_signals() -> Iterator[list[int]]:
    """Ctrl-C or SIGTERM while Kafka and Redis start: noted, acted on once they are up (so
    they are stopped, not left half-started)."""
    got: list[int] = []

    def note(signum: int, frame: Any) -> None:
        if not got:
            say("(stopping as soon as the infrastructure is up)")
        got.append(signum)

    old = {s: signal.signal(s, note) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield got
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


def main(keep: bool) -> int:
    started = time.monotonic()
    signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM stops the demo as Ctrl-C does
    head("Infrastructure")
    infra: Infra | None = None
    world: World | None = None
    logs = Path(tempfile.mkdtemp(prefix="shebao-demo-"))
    try:
        with _deferred_signals() as got:
            infra = provision()
        say(f"Kafka {infra.kafka_bootstrap} and Redis {infra.redis_url} ({infra.mode})")
        if got:
            raise KeyboardInterrupt
        world = World(infra, logs)
        return asyncio.run(_guarded(world, keep, started))
    except KeyboardInterrupt:
        say("\ninterrupted")
        return 130
    except Exception:
        say("\nthe demo failed:")
        traceback.print_exc()
        sys.stderr.flush()
        say(f"service logs in {logs}")
        return 1
    finally:
        # a second Ctrl-C or SIGTERM must not cut the cleanup short
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            if world is not None:
                stop_services(world.services)
        finally:
            if infra is not None:
                infra.stop()
            say("stopped the services and the infrastructure this demo started")


async def _guarded(world: World, keep: bool, started: float) -> int:
    """drive(), cancelled by SIGTERM as asyncio.run cancels it on Ctrl-C."""
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        return await drive(world, keep, started)
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep", action="store_true", help="leave everything running")
    args = parser.parse_args()
    sys.exit(main(args.keep))
