"""Thirteen months of contributions for 5,000 employees, through real Kafka and Redis.

Enrollment runs as a process, and contributions as two sharing its partitions, as production runs
two replicas of each service. The test is the service counters (it enrols 200 employers and 5,000
employees through enrollment commands), the employers' portal (wage declarations, a correction
before a close and one after), the scheduler (a period close per region and month) and four tax
bureaus: it reads their assessments topics and reports what they collected, including an
underpayment (paid later), an overpayment (held and applied), an employer that pays nothing for
three months (its employees are interrupted, then the arrears are paid), a payment that matches no
assessment, one from the wrong bureau and one it cannot read.

The months run from 2018-10 to 2019-10, across the employer pension cut from 20% to 16% on
2019-05-01 and a new year of average wages. Every expected amount is computed here with plain
arithmetic from the scenario and the parameter values (checked against the policy file), not by
calling the service's rules: each assessment's total to the fen, then every person's credited months
and pension and medical account balances.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import time
import tomllib
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

import shebao_partners as partners
from shebao_contracts import contributions as cc
from shebao_contracts import enrollment as en
from shebao_contracts.envelope import Message
from shebao_devinfra.testing import (
    Follower,
    ServiceProcess,
    message_record,
    producer,
    recreate_topics,
    wait_until,
)
from shebao_partners import employer_code, employer_collected

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]
POLICY_FILE = ROOT / "services/contributions/src/shebao_contributions/domain/parameters.toml"
PSEUDONYM_KEY = "e2e-contributions-pseudonym-key-0123456789"
T0 = datetime(2018, 10, 1, 8, tzinfo=UTC)  # the counters' day: the first employments start
D = Decimal
FEN = D("0.01")

# ---------------------------------------------------------------------------------------------
# The scenario

REGIONS = ["320100", "320200", "320500", "321300"]
BUREAU = {r: f"t{r}" for r in REGIONS}
N_EMPLOYERS = 200
N_PERSONS = 5000
MONTHS = [f"{y}-{m:02d}" for y, m in [(2018, 10), (2018, 11), (2018, 12)]] + [
    f"2019-{m:02d}" for m in range(1, 11)
]
START = date(2018, 10, 1)

CORRECTOR = 7  # declares 2018-12 wages and corrects three of them before the close
RAISE = range(50)  # employers 0-49 declare a 10% raise for 2019-01 (carried forward)
REVISER = 11  # corrects one 2019-03 wage after the close, before paying: revision 2
UNDERPAYER = 23  # underpays 2019-02 by 100.00, pays the rest with 2019-03
OVERPAYER = 42  # overpays 2019-05 by 250.00, held and applied to 2019-06
DEFAULTER = 77  # pays nothing for 2019-01..03, then all its arrears with 2019-04


def employer(k: int) -> str:
    return employer_code(region_of(k), k)


def region_of(k: int) -> str:
    return REGIONS[k % 4]


def risk_class(k: int) -> int:
    return 1 + k % 8


def citizen_id(i: int) -> str:
    return partners.citizen_id("320102", date(1970, 1, 1) + timedelta(days=i), 2 * i)


def person_ref(i: int) -> str:
    """The platform's pseudonym of a citizen ID: HMAC-SHA256 under the deployment's key."""
    digest = hmac.new(PSEUDONYM_KEY.encode(), citizen_id(i).encode(), hashlib.sha256)
    return digest.hexdigest()[:32]


def employer_of(i: int) -> int:
    return i % N_EMPLOYERS


def hiring_wage(i: int) -> Decimal:
    """From 2,000 to 30,000: below the floor and above the ceiling, with fen."""
    return D(2000 + (i * 7919) % 28000) + D(i % 100) / 100


def staff(k: int) -> list[int]:
    return [i for i in range(k, N_PERSONS, N_EMPLOYERS)]


# ---------------------------------------------------------------------------------------------
# The parameters, as the policy file states them (checked below), and plain arithmetic

AVERAGE = {
    ("320100", 2018): D("7500"),
    ("320100", 2019): D("8000"),
    ("320500", 2018): D("7800"),
    ("320500", 2019): D("8300"),
    ("*", 2018): D("6500"),
    ("*", 2019): D("7000"),
}
WORK_INJURY = ["0.002", "0.004", "0.007", "0.009", "0.011", "0.013", "0.016", "0.019"]


def fen(x: Decimal) -> Decimal:
    return x.quantize(FEN, rounding=ROUND_HALF_UP)


def base_of(wage: Decimal, region: str, month: str) -> Decimal:
    year = int(month[:4])
    avg = AVERAGE.get((region, year), AVERAGE[("*", year)])
    return min(max(wage, fen(avg * D("0.6"))), fen(avg * 3))


def person_month(base: Decimal, month: str, risk: int) -> tuple[Decimal, Decimal, Decimal]:
    """(what employer and employee pay together, into the pension account, into medical)."""
    pension_er = D("0.20") if month < "2019-05" else D("0.16")
    total = (
        fen(base * pension_er)
        + fen(base * D("0.08"))
        + fen(base * D("0.08"))
        + fen(base * D("0.02"))
        + 2 * fen(base * D("0.005"))
        + fen(base * D(WORK_INJURY[risk - 1]))
        + fen(base * D("0.008"))
    )
    medical = fen(base * D("0.02")) + fen(base * D("0.08") * D("0.30"))
    return total, fen(base * D("0.08")), medical


def check_parameter_values() -> None:
    """The figures above are the policy file's, read as data."""
    params: dict[tuple[str, str, date], Any] = {
        (p["name"], p.get("region", "*"), p["from"]): p["value"]
        for p in tomllib.loads(POLICY_FILE.read_text())["parameter"]
    }
    for (region, year), avg in AVERAGE.items():
        assert D(params[("wage.average_monthly", region, date(year, 1, 1))]) == avg
    assert params[("pension.employer_rate", "*", date(2013, 1, 1))] == "0.20"
    assert params[("pension.employer_rate", "*", date(2019, 5, 1))] == "0.16"
    assert params[("pension.employee_rate", "*", date(1998, 1, 1))] == "0.08"
    assert params[("pension.account_rate", "*", date(2006, 1, 1))] == "0.08"
    assert params[("medical.employer_rate", "*", date(1999, 1, 1))] == "0.08"
    assert params[("medical.employee_rate", "*", date(1999, 1, 1))] == "0.02"
    assert params[("medical.account_share_of_employer", "*", date(1999, 1, 1))] == "0.30"
    assert params[("unemployment.employer_rate", "*", date(2016, 5, 1))] == "0.005"
    assert params[("unemployment.employee_rate", "*", date(2016, 5, 1))] == "0.005"
    assert params[("maternity.employer_rate", "*", date(1995, 1, 1))] == "0.008"
    table = params[("work_injury.rate_by_class", "*", date(2015, 10, 1))]
    assert [table[str(c)] for c in range(1, 9)] == WORK_INJURY
    assert params[("contributions.base_floor_ratio", "*", date(1998, 1, 1))] == "0.60"
    assert params[("contributions.base_ceiling_ratio", "*", date(1998, 1, 1))] == "3.00"
    assert params[("contributions.interruption_months", "*", date(2012, 1, 1))] == 3


class Model:
    """The scenario's wages, dues, payments and credits, kept by hand."""

    def __init__(self) -> None:
        self.declared: dict[int, dict[str, Decimal]] = defaultdict(dict)  # person -> month -> wage
        self.settled: set[tuple[int, str]] = set()  # (employer, month)
        self.credit: dict[int, Decimal] = defaultdict(Decimal)

    def wage(self, i: int, month: str) -> Decimal:
        months = [m for m in self.declared[i] if m <= month]
        return self.declared[i][max(months)] if months else hiring_wage(i)

    def total(self, k: int, month: str) -> Decimal:
        risk, region = risk_class(k), region_of(k)
        parts = (
            person_month(base_of(self.wage(i, month), region, month), month, risk) for i in staff(k)
        )
        return sum((total for total, _, _ in parts), D(0))

    def accounts(self, i: int) -> tuple[Decimal, Decimal, list[str]]:
        k = employer_of(i)
        pension = medical = D(0)
        months = []
        for month in MONTHS:
            if (k, month) in self.settled:
                _, p, m = person_month(
                    base_of(self.wage(i, month), region_of(k), month), month, risk_class(k)
                )
                pension, medical = pension + p, medical + m
                months.append(month)
        return pension, medical, months


# ---------------------------------------------------------------------------------------------
# The test's view of the topics


CITIZEN_ID = re.compile(rb"(?<![0-9A-Za-z])[0-9]{17}[0-9X](?![0-9A-Za-z])")


class Listener:
    """Reads the bureaus' assessments topics and the contributions events in the background."""

    def __init__(self, bootstrap: str) -> None:
        topics = [cc.ASSESSMENTS.named(code=b) for b in BUREAU.values()] + [cc.EVENTS.name]
        self._follower = Follower(bootstrap, topics, self._keep)
        self.assessments: dict[tuple[str, str], dict[str, Any]] = {}  # (payer, period) -> latest
        self.rejections: list[tuple[str, dict[str, Any]]] = []
        self.bookings: list[tuple[str, dict[str, Any]]] = []  # PaymentBooked, as a bureau hears
        self.counts: Counter[str] = Counter()
        self.events: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.citizen_ids_seen = 0
        """Citizen IDs on the internal events topic (the bureaus' topics name persons by ID)."""
        self.lines_named: set[str] = set()
        """The citizen IDs the employers' assessment lines name."""

    async def start(self) -> None:
        await self._follower.start()

    async def stop(self) -> None:
        await self._follower.stop()

    def _keep(self, r: Any) -> None:
        kind = dict(r.headers)["ce_type"].decode().rsplit(".", 1)[1]
        if r.topic == cc.EVENTS.name:
            if CITIZEN_ID.search(r.value) or (r.key and CITIZEN_ID.search(r.key)):
                self.citizen_ids_seen += 1
            self.counts[kind] += 1
            if kind != "ContributionCredited":
                self.events[kind].append(json.loads(r.value))
            return
        body = json.loads(r.value)
        code = cc.ASSESSMENTS.match(r.topic)["code"]  # type: ignore[index]
        if kind == "TaxAssessmentIssued":
            self.lines_named.update(line["citizen_id"] for line in body["persons"])
            key = (body["employer"] or body["citizen_id"], body["period"])
            held = self.assessments.get(key)
            if held is None or held["revision"] <= body["revision"]:
                self.assessments[key] = body
        elif kind == "TaxPaymentBooked":
            self.bookings.append((code, body))
        else:
            self.rejections.append((code, body))


async def until(check: Any, timeout: float, what: str) -> None:
    async def ok() -> bool:
        return bool(check())

    try:
        await wait_until(ok, timeout=timeout, interval=0.1)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


# ---------------------------------------------------------------------------------------------


async def test_thirteen_months_of_contributions_with_four_tax_bureaus(
    infra: Any, tmp_path: Path
) -> None:
    check_parameter_values()
    started = time.monotonic()
    redis_url = infra.redis_url.rsplit("/", 1)[0] + "/8"
    r = aioredis.Redis.from_url(redis_url)
    await r.flushdb()
    partner = [
        t
        for code in BUREAU.values()
        for t in (
            cc.ASSESSMENTS.named(code=code),
            cc.COLLECTIONS.named(code=code),
            cc.COLLECTIONS.named(code=code) + ".dlq",
        )
    ]
    topics = [en.COMMANDS.name, en.COMMANDS.dlq, en.EVENTS.name, en.EVENTS.dlq]
    topics += [cc.COMMANDS.name, cc.COMMANDS.dlq, cc.WORK.name, cc.WORK.dlq, cc.EVENTS.name]
    await recreate_topics(infra.kafka_bootstrap, topics + partner)
    env = {"SHEBAO_PSEUDONYM_KEY": PSEUDONYM_KEY}

    def process(name: str) -> ServiceProcess:
        return ServiceProcess(
            name,
            f"shebao_{name}",
            kafka=infra.kafka_bootstrap,
            redis_url=redis_url,
            log_dir=tmp_path,
            env=env,
        )

    # Contributions runs as two instances sharing its partitions, as production runs two
    # replicas of every service (deploy/k8s/overlays/production): the load uses both cores.
    enrollment = process("enrollment")
    replicas = [process("contributions"), process("contributions")]
    contributions = replicas[0]
    services = [enrollment, *replicas]
    prod = await producer(infra.kafka_bootstrap, linger_ms=10)
    listener = Listener(infra.kafka_bootstrap)
    model = Model()
    sent = 0

    async def send(topic: str, key: str, message: Message, at: datetime) -> None:
        nonlocal sent
        sent += 1
        k, v, h = message_record(message, message_id=f"e2e-{sent}", time=at, key=key, topic=topic)
        await prod.send(topic, key=k, value=v, headers=h)

    def at(month: str, day: int = 5) -> datetime:
        return datetime(int(month[:4]), int(month[5:]), day, 9, tzinfo=UTC)

    try:
        for svc in services:
            svc.start()
        for svc in services:
            await svc.wait_ready()

        async def shared() -> bool:
            """Each replica holds a share of every subscription this test feeds (four
            partitions a topic): the groups have settled before the load begins, so no
            partition moves while it runs."""
            for c in replicas:
                page = await c.metrics()
                for sub in ("enrollment", "transfers", "commands", "work", "collections"):
                    if page.sum("shebao_assigned_partitions", subscription=sub) < 1:
                        return False
            return True

        await wait_until(shared, timeout=60)
        await listener.start()

        # -- enrol 200 employers, then 5,000 employees -----------------------------------------
        for k in range(N_EMPLOYERS):
            await send(
                en.COMMANDS.name,
                employer(k),
                en.RegisterEmployer(
                    employer=employer(k),
                    name=f"单位{k}",
                    region=region_of(k),
                    ownership=en.Ownership.PRIVATE,
                    risk_class=risk_class(k),
                    registered_on=date(2018, 1, 1),
                ),
                T0,
            )
        await prod.flush()

        async def enrolled(n: int) -> bool:
            return await enrollment.metric("shebao_records_total", subscription="commands") >= n

        await wait_until(lambda: enrolled(N_EMPLOYERS), timeout=60)
        for i in range(N_PERSONS):
            cid = citizen_id(i)
            await send(
                en.COMMANDS.name,
                cid,
                en.RegisterPerson(
                    citizen_id=cid,
                    name=f"职工{i}",
                    hukou_region=region_of(employer_of(i)),
                    residence=en.Residence.URBAN,
                    registered_on=date(2018, 9, 1),
                ),
                T0,
            )
            await send(
                en.COMMANDS.name,
                cid,
                en.StartEmployment(
                    citizen_id=cid,
                    employer=employer(employer_of(i)),
                    start_date=START,
                    monthly_wage=hiring_wage(i),
                ),
                T0,
            )
        await prod.flush()
        # what contributions hears: the employers, and per person a registration, an
        # employment and five memberships
        expected_enrollment_events = N_EMPLOYERS + N_PERSONS * 7

        async def heard() -> bool:
            n = sum(
                [
                    await c.metric("shebao_records_total", subscription="enrollment")
                    for c in replicas
                ]
            )
            return n >= expected_enrollment_events

        await wait_until(heard, timeout=240)
        enrolled_at = time.monotonic() - started

        # -- thirteen months --------------------------------------------------------------------
        payments = declared = 0
        bad_sent = False
        for month in MONTHS:
            declarations: list[tuple[int, dict[int, Decimal]]] = []
            if month == "2018-12":
                declarations.append(
                    (CORRECTOR, {i: hiring_wage(i) + 500 for i in staff(CORRECTOR)})
                )
                declarations.append(
                    (CORRECTOR, {i: hiring_wage(i) + 800 for i in staff(CORRECTOR)[:3]})
                )
            if month == "2019-01":
                for k in RAISE:
                    declarations.append(
                        (k, {i: fen(model.wage(i, "2018-12") * D("1.1")) for i in staff(k)})
                    )
            for k, wages in declarations:
                for i, wage in wages.items():
                    model.declared[i][month] = wage
                await send(
                    cc.COMMANDS.name,
                    employer(k),
                    cc.DeclareWages(
                        employer=employer(k),
                        month=month,
                        wages=[cc.WageLine(person=person_ref(i), wage=w) for i, w in wages.items()],
                    ),
                    at(month, 20),
                )
            await prod.flush()
            # a close must come after the month's declarations: wait for their events
            declared += len(declarations)
            await until(
                lambda n=declared: listener.counts["WagesDeclared"] >= n,
                60,
                f"wage declarations of {month}",
            )
            for region in REGIONS:
                await send(
                    cc.COMMANDS.name,
                    region,
                    cc.ClosePeriod(region=region, month=month),
                    at(month, 28) + timedelta(days=5),
                )
            await prod.flush()
            await until(
                lambda m=month: (
                    sum(1 for (_, p), a in listener.assessments.items() if p == m) >= N_EMPLOYERS
                ),
                120,
                f"assessments of {month}",
            )
            # every assessment to the fen, against the hand-computed total
            for k in range(N_EMPLOYERS):
                a = listener.assessments[(employer(k), month)]
                assert a["bureau"] == BUREAU[region_of(k)] and a["person_count"] == 25
                assert D(a["total"]) == model.total(k, month), (k, month)
                assert D(a["credit_applied"]) == model.credit[k], (k, month)
                model.credit[k] = D(0)

            if month == "2019-03":  # a correction after the close, before any collection
                i = staff(REVISER)[0]
                model.declared[i][month] = D("15555.55")
                await send(
                    cc.COMMANDS.name,
                    employer(REVISER),
                    cc.DeclareWages(
                        employer=employer(REVISER),
                        month=month,
                        wages=[cc.WageLine(person=person_ref(i), wage=D("15555.55"))],
                    ),
                    at(month, 29) + timedelta(days=6),
                )
                await prod.flush()
                await until(
                    lambda: listener.assessments[(employer(REVISER), "2019-03")]["revision"] == 2,
                    60,
                    "the revised assessment",
                )
                assert D(listener.assessments[(employer(REVISER), month)]["total"]) == model.total(
                    REVISER, month
                )

            # -- the bureaus pay ---------------------------------------------------------------
            collections: list[tuple[int, str, Decimal]] = []
            for k in range(N_EMPLOYERS):
                due = D(listener.assessments[(employer(k), month)]["amount_due"])
                if k == DEFAULTER and month in ("2019-01", "2019-02", "2019-03"):
                    continue
                if k == DEFAULTER and month == "2019-04":
                    for late in ("2019-01", "2019-02", "2019-03"):
                        held = listener.assessments[(employer(k), late)]
                        collections.append((k, late, D(held["amount_due"])))
                if k == UNDERPAYER and month == "2019-02":
                    collections.append((k, month, due - 100))
                    continue
                if k == UNDERPAYER and month == "2019-03":
                    collections.append((k, "2019-02", D(100)))
                if k == OVERPAYER and month == "2019-05":
                    collections.append((k, month, due + 250))
                    model.credit[k] = D(250)
                    continue
                collections.append((k, month, due))
            for n, (k, period, amount) in enumerate(collections):
                await send(
                    cc.COLLECTIONS.named(code=BUREAU[region_of(k)]),
                    employer(k),
                    employer_collected(
                        f"{BUREAU[region_of(k)]}-{month}-{n}", employer(k), period, amount
                    ),
                    at(month, 28) + timedelta(days=10),
                )
            payments += len(collections)
            paid: defaultdict[tuple[int, str], Decimal] = defaultdict(Decimal)
            for k, period, amount in collections:
                paid[(k, period)] += amount
            for k, period, _ in collections:
                due_total = model.total(k, period) - (
                    D(250) if (k, period) == (OVERPAYER, "2019-06") else 0
                )
                if (k, period) == (UNDERPAYER, "2019-02"):
                    if month == "2019-03":
                        model.settled.add((k, period))
                    continue
                if paid[(k, period)] >= due_total:
                    model.settled.add((k, period))
            if month == "2019-06" and not bad_sent:
                bad_sent = True
                nj, wx, sq = BUREAU["320100"], BUREAU["320200"], BUREAU["321300"]
                when = at(month, 28) + timedelta(days=11)
                await send(
                    cc.COLLECTIONS.named(code=nj),
                    employer(0),
                    # before the first close: never assessed
                    employer_collected("NJ-NOPE-1", employer(0), "2018-09", D(1)),
                    when,
                )
                await send(
                    cc.COLLECTIONS.named(code=nj),
                    "91320100MA99999999",
                    employer_collected("NJ-NOPE-2", "91320100MA99999999", month, D(1)),
                    when,
                )
                await send(
                    cc.COLLECTIONS.named(code=wx),
                    employer(0),
                    employer_collected("WX-WRONG-1", employer(0), month, D(1)),
                    when,
                )
                k, _, h = message_record(
                    cc.EmployerContributionsCollected.model_construct(),
                    message_id="bad-json",
                    time=when,
                    key="x",
                    topic=cc.COLLECTIONS.named(code=sq),
                )
                await prod.send(
                    cc.COLLECTIONS.named(code=sq), key=k, value=b'{"collection_id": "S', headers=h
                )
            await prod.flush()
            await until(
                lambda n=payments: listener.counts["PaymentBooked"] >= n,
                120,
                f"payments of {month}",
            )
            # Credits run on while the next month closes; only the close that judges the
            # defaulter's employees needs every earlier credit in (and the end, everything).
            if month in ("2019-03", MONTHS[-1]):
                credited = len(model.settled) * 25
                await until(
                    lambda n=credited: listener.counts["ContributionCredited"] >= n,
                    180,
                    f"credits through {month}",
                )
                assert listener.counts["ContributionCredited"] == credited
        months_at = time.monotonic() - started

        # -- what the bureaus heard back -----------------------------------------------------
        await until(lambda: len(listener.rejections) >= 4, 60, "the rejections")
        rejections = sorted((code, body["reason"]) for code, body in listener.rejections)
        assert rejections == [
            ("t320100", "unknown_assessment"),
            ("t320100", "unknown_assessment"),
            ("t320200", "wrong_bureau"),
            ("t321300", "malformed_json"),
        ]
        unknown = [b for c, b in listener.rejections if b["reason"] == "unknown_assessment"]
        assert sorted(b["collection_id"] for b in unknown) == ["NJ-NOPE-1", "NJ-NOPE-2"]
        # Every booking is also the answer to the bureau that reported the collection.
        await until(
            lambda: len(listener.bookings) >= listener.counts["PaymentBooked"], 60, "bookings"
        )

        # (the event names a payer by reference, the answer by citizen ID; all are employers')
        def payment(b: dict[str, Any]) -> str:
            assert b.get("person") is None and b.get("citizen_id") is None
            kept = {k: v for k, v in b.items() if k not in ("person", "citizen_id")}
            return json.dumps(kept, sort_keys=True)

        booked = sorted(payment(b) for b in listener.events["PaymentBooked"])
        assert sorted(payment(b) for _, b in listener.bookings) == booked
        assert all(code == b["bureau"] for code, b in listener.bookings)

        # -- arrears, overpayment, interruption ----------------------------------------------
        ev = listener.events
        assert sorted((e["employer"], e["period"]) for e in ev["ArrearsBooked"]) == sorted(
            [(employer(DEFAULTER), m) for m in ("2019-01", "2019-02", "2019-03")]
            + [(employer(UNDERPAYER), "2019-02")]
        )
        assert sorted((e["employer"], e["period"]) for e in ev["ArrearsCleared"]) == sorted(
            [(employer(DEFAULTER), m) for m in ("2019-01", "2019-02", "2019-03")]
            + [(employer(UNDERPAYER), "2019-02")]
        )
        assert [(e["employer"], e["excess"]) for e in ev["OverpaymentHeld"]] == [
            (employer(OVERPAYER), "250.00")
        ]
        z_persons = {person_ref(i) for i in staff(DEFAULTER)}
        assert {e["person"] for e in ev["InterruptionOpened"]} == z_persons
        assert {(e["since"], e["judged_through"]) for e in ev["InterruptionOpened"]} == {
            ("2019-01", "2019-03")
        }
        assert {e["person"] for e in ev["InterruptionClosed"]} == z_persons
        assert {(e["closed_by"], e["credited"]) for e in ev["InterruptionClosed"]} == {
            ("arrears_paid", "2019-01")
        }
        assert listener.counts["CommandRejected"] == 0
        assert listener.citizen_ids_seen == 0, "a citizen ID on the internal events topic"
        # the bureaus know each employee by citizen ID: every line names one the counters enrolled
        assert listener.lines_named == {citizen_id(i) for i in range(N_PERSONS)}
        assert listener.counts["ContributionCredited"] == N_PERSONS * len(MONTHS)

        # -- every person's months and accounts, to the fen ------------------------------------
        async def person(i: int) -> None:
            status, body = await contributions.get_json(f"/persons?ref={person_ref(i)}")
            assert status == 200, (i, status)
            pension, medical, months = model.accounts(i)
            assert body["accounts"] == {"pension": str(pension), "medical": str(medical)}, i
            assert [(x["insurance"], x["months"]) for x in body["insurances"]] == [
                (ins.value, months) for ins in en.Insurance
            ], i
            assert body["insurances"][0]["total_years"] == "1.08"

        for chunk in range(0, N_PERSONS, 50):
            await asyncio.gather(*(person(i) for i in range(chunk, min(chunk + 50, N_PERSONS))))
        for k in (UNDERPAYER, OVERPAYER, DEFAULTER):
            _, ledger = await contributions.get_json(f"/employers?code={employer(k)}")
            assert ledger["arrears"] == "0.00" and ledger["credit"] == "0.00"
            assert all(a["status"] == "settled" for a in ledger["assessments"])
        _, o_ledger = await contributions.get_json(f"/employers?code={employer(OVERPAYER)}")
        june = next(a for a in o_ledger["assessments"] if a["period"] == "2019-06")
        assert june["credit_applied"] == "250.00"
        print(
            f"\nenrolled in {enrolled_at:.0f}s, 13 months in {months_at - enrolled_at:.0f}s, "
            f"verified in {time.monotonic() - started - months_at:.0f}s"
        )
        for svc in services:
            assert "handler failed" not in svc.log_text()
    finally:
        for svc in services:
            svc.stop()
        await listener.stop()
        await prod.stop()
        await r.aclose()
