"""The contributions service as a process, through real Kafka and Redis, with two tax bureaus.

The test plays enrollment (it writes enrollment events as that service would) and two bureaus
(Nanjing t320100, Suzhou t320500): it reads their assessments topics and answers on their
collections topics, with good reports and every kind of bad one. Each bad report comes back to
the bureau that sent it as a named CollectionRejected; the unreadable ones are in the DLQ too;
the good ones are booked and credited; the service stays up.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from shebao_common.pseudonym import CitizenIds
from shebao_common.settings import DEV_CITIZEN_ID_KEY, DEV_PSEUDONYM_KEY
from shebao_contracts import contributions as cc
from shebao_contracts import enrollment as ce
from shebao_contracts.envelope import Message
from shebao_devinfra.testing import (
    Follower,
    ServiceProcess,
    message_record,
    producer,
    read_all,
    recreate_topics,
    wait_until,
)
from shebao_partners import employer_collected, person_citizen_id, person_collected

pytestmark = pytest.mark.integration

BUREAUS = {"320100": "t320100", "320500": "t320500"}
T0 = datetime(2019, 5, 2, 8, tzinfo=UTC)  # after April: the scheduler closes it, bureaus collect


# the keys the service runs with when none is configured (development and tests)
IDS = CitizenIds(DEV_PSEUDONYM_KEY.encode(), DEV_CITIZEN_ID_KEY.encode())


def citizen(n: int) -> str:
    """Person n's citizen ID: what the bureaus name the person by."""
    return person_citizen_id(n)


def ref(n: int) -> str:
    """Person n's reference, as enrollment derives it from the citizen ID."""
    return IDS.person_ref(citizen(n))


_CITIZEN_OF = {ref(n): citizen(n) for n in (*range(20), 100, 101, 200, 201, *range(300, 340))}


def registered(
    events: list[tuple[str, Message]], seen: set[str] | None = None
) -> list[tuple[str, Message]]:
    """The events with each person's PersonRegistered first, as enrollment sends them."""
    seen = set() if seen is None else seen
    out: list[tuple[str, Message]] = []
    for key, event in events:
        person = getattr(event, "person", None)
        if person is not None and person not in seen:
            seen.add(person)
            out.append(
                (
                    person,
                    ce.PersonRegistered(
                        person=person,
                        birth_date=date(1980, 1, 1),
                        sex=ce.Sex.MALE,
                        hukou_region="320100",
                        residence=ce.Residence.URBAN,
                        registered_on=date(2000, 1, 1),
                        sealed_citizen_id=IDS.seal(_CITIZEN_OF[person]),
                    ),
                )
            )
        out.append((key, event))
    return out


def employer(region: str) -> str:
    return f"91{region}MA00000001"


class Bureaus:
    """Reads every bureau's assessments topic in the background."""

    def __init__(self, bootstrap: str) -> None:
        self.records: list[tuple[str, dict[str, Any], dict[str, str]]] = []
        topics = [cc.ASSESSMENTS.named(code=code) for code in BUREAUS.values()]
        self._follower = Follower(bootstrap, topics, self._keep)

    def _keep(self, r: Any) -> None:
        code = cc.ASSESSMENTS.match(r.topic)["code"]  # type: ignore[index]
        headers = {k: v.decode() for k, v in r.headers}
        self.records.append((code, json.loads(r.value), headers))

    async def start(self) -> None:
        await self._follower.start()

    async def stop(self) -> None:
        await self._follower.stop()

    def of(self, code: str, kind: type[Message]) -> list[dict[str, Any]]:
        return [body for c, body, h in self.records if c == code and h["ce_type"] == kind.TYPE]


def enrollment_events() -> list[tuple[str, Message]]:
    """Two employers with ten employees each, two flexible workers, two residents."""
    out: list[tuple[str, Message]] = []
    for region in BUREAUS:
        out.append(
            (
                employer(region),
                ce.EmployerRegistered(
                    employer=employer(region),
                    name="单位",
                    region=region,
                    ownership=ce.Ownership.PRIVATE,
                    risk_class=4,
                    registered_on=date(2018, 1, 1),
                ),
            )
        )
    born = {"birth_date": date(1980, 1, 1), "sex": ce.Sex.MALE}
    for i in range(20):
        region = "320100" if i < 10 else "320500"
        wage = Decimal(3000 + 1000 * i)
        out.append(
            (
                ref(i),
                ce.EmploymentStarted(
                    person=ref(i),
                    employer=employer(region),
                    region=region,
                    start_date=date(2019, 3, 1),
                    monthly_wage=wage,
                    risk_class=4,
                ),
            )
        )
        for scheme in ce.EMPLOYEE_SCHEMES:
            out.append(
                (
                    ref(i),
                    ce.MembershipStarted(
                        person=ref(i),
                        scheme=scheme,
                        insurance=scheme.insurance,
                        region=region,
                        since=date(2019, 3, 1),
                        first_enrolled=date(2019, 3, 1),
                        basis=ce.Basis.EMPLOYMENT,
                        employer=employer(region),
                        declared_base=wage,
                        **born,  # type: ignore[arg-type]
                    ),
                )
            )
    for i in (100, 101):
        for scheme in (ce.Scheme.EMPLOYEE_PENSION, ce.Scheme.EMPLOYEE_MEDICAL):
            out.append(
                (
                    ref(i),
                    ce.MembershipStarted(
                        person=ref(i),
                        scheme=scheme,
                        insurance=scheme.insurance,
                        region="320100",
                        since=date(2019, 3, 1),
                        first_enrolled=date(2019, 3, 1),
                        basis=ce.Basis.FLEXIBLE,
                        declared_base=Decimal("6000.00"),
                        **born,  # type: ignore[arg-type]
                    ),
                )
            )
    for i in (200, 201):
        for scheme in (ce.Scheme.RESIDENT_PENSION, ce.Scheme.RESIDENT_MEDICAL):
            out.append(
                (
                    ref(i),
                    ce.MembershipStarted(
                        person=ref(i),
                        scheme=scheme,
                        insurance=scheme.insurance,
                        region="320500",
                        since=date(2019, 1, 1),
                        first_enrolled=date(2019, 1, 1),
                        basis=ce.Basis.RESIDENT,
                        yearly_tier=500 if scheme == ce.Scheme.RESIDENT_PENSION else None,
                        **born,  # type: ignore[arg-type]
                    ),
                )
            )
    return out


async def test_two_bureaus_collect_and_every_bad_report_is_answered_by_name(
    infra: Any, tmp_path: Path
) -> None:
    redis_url = infra.redis_url.rsplit("/", 1)[0] + "/5"
    r = aioredis.Redis.from_url(redis_url)
    await r.flushdb()
    partner = [
        t
        for code in BUREAUS.values()
        for t in (
            cc.ASSESSMENTS.named(code=code),
            cc.COLLECTIONS.named(code=code),
            cc.COLLECTIONS.named(code=code) + ".dlq",
        )
    ]
    await recreate_topics(
        infra.kafka_bootstrap,
        [
            ce.EVENTS.name,
            ce.EVENTS.dlq,
            cc.COMMANDS.name,
            cc.COMMANDS.dlq,
            cc.WORK.name,
            cc.WORK.dlq,
            cc.EVENTS.name,
            *partner,
        ],
    )
    svc = ServiceProcess(
        "contributions",
        "shebao_contributions",
        kafka=infra.kafka_bootstrap,
        redis_url=redis_url,
        log_dir=tmp_path,
    )
    prod = await producer(infra.kafka_bootstrap, linger_ms=5)
    bureaus = Bureaus(infra.kafka_bootstrap)
    sent = 0

    async def send(topic: str, key: str, message: Message, ce_id: str | None = None) -> None:
        nonlocal sent
        sent += 1
        k, v, h = message_record(
            message,
            message_id=ce_id or f"it-{sent}",
            time=T0 + timedelta(seconds=sent),
            key=key,
            topic=topic,
        )
        await prod.send(topic, key=k, value=v, headers=h)

    async def raw(topic: str, key: str, kind: type[Message], body: bytes) -> None:
        nonlocal sent
        sent += 1
        k, _, h = message_record(
            kind.model_construct(), message_id=f"raw-{sent}", time=T0, key=key, topic=topic
        )
        await prod.send(topic, key=k, value=body, headers=h)

    async def until(check: Callable[[], bool], timeout: float = 60) -> None:
        async def ok() -> bool:
            return check()

        await wait_until(ok, timeout=timeout)

    try:
        svc.start()
        await svc.wait_ready()
        await bureaus.start()
        events = registered(enrollment_events())
        for key, event in events:
            await send(ce.EVENTS.name, key, event)
        await prod.flush()

        async def enrolled() -> bool:
            return await svc.metric("shebao_records_total", subscription="enrollment") >= len(
                events
            )

        await wait_until(enrolled, timeout=60)
        for region in BUREAUS:
            await send(cc.COMMANDS.name, region, cc.ClosePeriod(region=region, month="2019-04"))
        await prod.flush()

        nj, sz = "t320100", "t320500"
        # Nanjing: one employer and two flexible workers; Suzhou: one employer, two residents
        await until(
            lambda: (
                len(bureaus.of(nj, cc.TaxAssessmentIssued)) == 3
                and len(bureaus.of(sz, cc.TaxAssessmentIssued)) == 3
            )
        )
        by_payer = {
            (a.get("employer") or a["citizen_id"]): a
            for code in (nj, sz)
            for a in bureaus.of(code, cc.TaxAssessmentIssued)
        }
        # Nanjing 2019: floor 4,800, ceiling 24,000; April: pension 20% + 8%, medical 8% + 2%,
        # unemployment 0.5% + 0.5%, work injury class 4 0.9%, maternity 0.8% = 40.7%
        nj_bases = [
            max(min(Decimal(3000 + 1000 * i), Decimal(24000)), Decimal(4800)) for i in range(10)
        ]
        nj_total = sum(b * Decimal("0.407") for b in nj_bases)
        assert Decimal(by_payer[employer("320100")]["total"]) == nj_total
        assert by_payer[employer("320100")]["person_count"] == 10
        assert Decimal(by_payer[citizen(100)]["total"]) == Decimal("1800.00")  # 20% + 10% of 6,000
        assert (by_payer[citizen(200)]["period"], by_payer[citizen(200)]["total"]) == (
            "2019",
            "750.00",
        )

        # Good reports
        good: list[tuple[str, str, Message]] = [
            (
                nj,
                employer("320100"),
                employer_collected("NJ-1", employer("320100"), "2019-04", nj_total),
            ),
            (
                nj,
                ref(100),
                person_collected("NJ-2", citizen(100), "2019-04", Decimal(1800)),
            ),
            (
                sz,
                ref(200),
                person_collected("SZ-1", citizen(200), "2019", Decimal(750)),
            ),
            (
                sz,
                employer("320500"),
                employer_collected(
                    "SZ-2",
                    employer("320500"),
                    "2019-04",
                    Decimal(by_payer[employer("320500")]["amount_due"]) - 1,
                ),
            ),
        ]
        # Bad reports: booked as nothing, answered by name
        bad: list[tuple[str, str, Message]] = [
            (
                nj,
                employer("320100"),
                employer_collected("NJ-X", employer("320100"), "2019-03", Decimal(1)),
            ),
            (
                sz,
                employer("320100"),
                employer_collected("SZ-X", employer("320100"), "2019-04", Decimal(1)),
            ),
        ]
        for code, key, msg in good + bad:
            await send(cc.COLLECTIONS.named(code=code), key, msg)
        coll_nj = cc.COLLECTIONS.named(code=nj)
        kind = cc.EmployerContributionsCollected
        await raw(coll_nj, "k1", kind, b'{"collection_id": "B-1", "employer": ')
        await raw(coll_nj, "k2", kind, b'{"collection_id": "B-2", "month": "2019-04"}')
        await raw(
            coll_nj,
            "k3",
            kind,
            json.dumps(
                {
                    "collection_id": "B-3",
                    "employer": employer("320100"),
                    "month": "2019-04",
                    "amount": 12.5,
                }
            ).encode(),
        )
        await raw(
            coll_nj,
            "k4",
            kind,
            json.dumps(
                {
                    "collection_id": "B-4",
                    "employer": employer("320100"),
                    "month": "2019-04",
                    "amount": "1.005",
                }
            ).encode(),
        )
        await prod.flush()

        await until(
            lambda: (
                len(bureaus.of(nj, cc.TaxCollectionRejected)) == 5
                and len(bureaus.of(sz, cc.TaxCollectionRejected)) == 1
            )
        )
        reasons = sorted(x["reason"] for x in bureaus.of(nj, cc.TaxCollectionRejected))
        assert reasons == sorted(
            [
                "unknown_assessment",
                "malformed_json",
                "schema_violation",
                "money_not_string",
                "money_format",
            ]
        )
        assert [x["reason"] for x in bureaus.of(sz, cc.TaxCollectionRejected)] == ["wrong_bureau"]
        unknown = next(
            x
            for x in bureaus.of(nj, cc.TaxCollectionRejected)
            if x["reason"] == "unknown_assessment"
        )
        assert (unknown["collection_id"], unknown["period"]) == ("NJ-X", "2019-03")

        async def credited() -> bool:
            status, body = await svc.get_json(f"/persons?ref={ref(9)}")
            return status == 200 and body["accounts"]["pension"] != "0.00"

        await wait_until(credited, timeout=60)
        _, p9 = await svc.get_json(f"/persons?ref={ref(9)}")
        assert p9["accounts"]["pension"] == "960.00"  # 8% of 12,000
        assert p9["insurances"][0]["months"] == ["2019-04"]
        _, flex = await svc.get_json(f"/persons?ref={ref(100)}")
        assert flex["accounts"]["pension"] == "480.00"
        _, res = await svc.get_json(f"/persons?ref={ref(200)}")
        assert res["accounts"]["pension"] == "560.00"  # tier 500 + subsidy 60
        assert res["insurances"][0]["months_credited"] == 12
        _, p15 = await svc.get_json(f"/persons?ref={ref(15)}")
        assert p15["accounts"]["pension"] == "0.00"  # Suzhou's employer underpaid
        _, sz_employer = await svc.get_json(f"/employers?code={employer('320500')}")
        assert sz_employer["arrears"] == "1.00"
        assert sz_employer["assessments"][0]["status"] == "arrears"
        _, nj_employer = await svc.get_json(f"/employers?code={employer('320100')}")
        assert nj_employer["payments"][0]["outcome"] == "settled"
        assert (await svc.get_json("/regions?region=320100"))[1]["last_closed"] == "2019-04"

        dlq = await read_all(infra.kafka_bootstrap, coll_nj + ".dlq")
        assert sorted(dict(d.headers)["dlq-reason"].decode() for d in dlq) == sorted(
            ["malformed_json", "schema_violation", "money_not_string", "money_format"]
        )
        assert svc.alive
        svc.terminate()
        assert "handler failed" not in svc.log_text()
    finally:
        svc.stop()
        await bureaus.stop()
        await prod.stop()
        await r.aclose()


# ---------------------------------------------------------------------------------------------
# Single stories through the running service: a death between a month's end and its close, and
# a late payment of a month a fund advanced.


class Tap:
    """Reads the contributions events and the Nanjing bureau's assessments in the background."""

    def __init__(self, bootstrap: str) -> None:
        self.records: list[tuple[str, str, dict[str, Any]]] = []  # (topic, type name, body)
        topics = (cc.EVENTS.name, cc.ASSESSMENTS.named(code="t320100"))
        self._follower = Follower(bootstrap, topics, self._keep)

    def _keep(self, r: Any) -> None:
        kind = dict(r.headers)["ce_type"].decode().rsplit(".", 1)[1]
        self.records.append((r.topic, kind, json.loads(r.value)))

    async def start(self) -> None:
        await self._follower.start()

    async def stop(self) -> None:
        await self._follower.stop()

    def events(self, kind: type[Message], **match: Any) -> list[dict[str, Any]]:
        name = kind.TYPE.rsplit(".", 1)[1]
        return [
            body
            for topic, k, body in self.records
            if topic == cc.EVENTS.name
            and k == name
            and all(body.get(f) == v for f, v in match.items())
        ]


class Story:
    """One contributions process on its own topics and Redis database; the test is enrollment,
    the scheduler, a fund and the Nanjing bureau."""

    def __init__(self, infra: Any, tmp_path: Path) -> None:
        self.infra = infra
        self.redis_url = infra.redis_url.rsplit("/", 1)[0] + "/5"
        self.svc = ServiceProcess(
            "contributions",
            "shebao_contributions",
            kafka=infra.kafka_bootstrap,
            redis_url=self.redis_url,
            log_dir=tmp_path,
        )
        self.tap = Tap(infra.kafka_bootstrap)
        self.sent = 0
        self.enrolled = 0
        self.registered: set[str] = set()

    async def __aenter__(self) -> Story:
        r = aioredis.Redis.from_url(self.redis_url)
        await r.flushdb()
        await r.aclose()
        nj = "t320100"
        await recreate_topics(
            self.infra.kafka_bootstrap,
            [
                ce.EVENTS.name,
                ce.EVENTS.dlq,
                cc.COMMANDS.name,
                cc.COMMANDS.dlq,
                cc.WORK.name,
                cc.WORK.dlq,
                cc.EVENTS.name,
                cc.ASSESSMENTS.named(code=nj),
                cc.COLLECTIONS.named(code=nj),
                cc.COLLECTIONS.named(code=nj) + ".dlq",
            ],
        )
        self.prod = await producer(self.infra.kafka_bootstrap, linger_ms=5)
        self.svc.start()
        await self.svc.wait_ready()
        await self.tap.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.svc.stop()
        await self.tap.stop()
        await self.prod.stop()

    async def send(self, topic: str, key: str, message: Message, at: datetime) -> None:
        self.sent += 1
        k, v, h = message_record(
            message, message_id=f"story-{self.sent}", time=at, key=key, topic=topic
        )
        await self.prod.send(topic, key=k, value=v, headers=h)
        await self.prod.flush()

    async def enrol(self, events: list[tuple[str, Message]], at: datetime) -> None:
        """Enrollment events, then wait until the service has read them all."""
        events = registered(events, self.registered)
        for key, event in events:
            await self.send(ce.EVENTS.name, key, event, at)
        self.enrolled += len(events)

        async def heard() -> bool:
            n = await self.svc.metric("shebao_records_total", subscription="enrollment")
            return n >= self.enrolled

        await wait_until(heard, timeout=60)

    async def close(self, month: str, at: datetime) -> None:
        await self.send(
            cc.COMMANDS.name, "320100", cc.ClosePeriod(region="320100", month=month), at
        )

    async def until(self, what: str, check: Callable[[], bool], timeout: float = 30) -> None:
        async def ok() -> bool:
            return check()

        try:
            await wait_until(ok, timeout=timeout)
        except TimeoutError:
            raise AssertionError(f"timed out waiting for {what}") from None


def _flexible(person: str, since: date, base: str) -> list[tuple[str, Message]]:
    return [
        (
            person,
            ce.MembershipStarted(
                person=person,
                scheme=scheme,
                insurance=scheme.insurance,
                region="320100",
                since=since,
                first_enrolled=since,
                basis=ce.Basis.FLEXIBLE,
                declared_base=Decimal(base),
                birth_date=date(1975, 5, 5),
                sex=ce.Sex.MALE,
            ),
        )
        for scheme in (ce.Scheme.EMPLOYEE_PENSION, ce.Scheme.EMPLOYEE_MEDICAL)
    ]


def _hired(employer: str, person: str, since: date, wage: str) -> list[tuple[str, Message]]:
    """A Nanjing employer (registered in 2018) and one person it hires, as enrollment says."""
    return [
        (
            employer,
            ce.EmployerRegistered(
                employer=employer,
                name="单位",
                region="320100",
                ownership=ce.Ownership.PRIVATE,
                risk_class=1,
                registered_on=date(2018, 1, 1),
            ),
        ),
        (
            person,
            ce.EmploymentStarted(
                person=person,
                employer=employer,
                region="320100",
                start_date=since,
                monthly_wage=Decimal(wage),
                risk_class=1,
            ),
        ),
    ]


def _death(person: str, on: date, schemes: tuple[ce.Scheme, ...]) -> list[tuple[str, Message]]:
    """What enrollment publishes on RecordDeath: every membership ends, then the death."""
    ended: list[tuple[str, Message]] = [
        (
            person,
            ce.MembershipEnded(
                person=person,
                scheme=s,
                insurance=s.insurance,
                region="320100",
                on=on,
                reason=ce.StopReason.DECEASED,
            ),
        )
        for s in schemes
    ]
    return [*ended, (person, ce.PersonDeceased(person=person, on=on))]


async def test_a_flexible_worker_who_died_is_assessed_for_the_months_he_lived(
    infra: Any, tmp_path: Path
) -> None:
    """Issue 12: a flexible worker who died on 2024-02-10, recorded before the January close,
    owes January like an employee who died on 2024-02-20; neither owes February."""
    flex, employee, code = ref(300), ref(301), "91320100MA00000002"
    at = datetime(2023, 12, 1, 8, tzinfo=UTC)
    hired = _hired(code, employee, date(2023, 12, 1), "12000.00")
    hired += [
        (
            employee,
            ce.MembershipStarted(
                person=employee,
                scheme=s,
                insurance=s.insurance,
                region="320100",
                since=date(2023, 12, 1),
                first_enrolled=date(2023, 12, 1),
                basis=ce.Basis.EMPLOYMENT,
                employer=code,
                declared_base=Decimal("12000.00"),
                birth_date=date(1975, 5, 5),
                sex=ce.Sex.FEMALE,
            ),
        )
        for s in ce.EMPLOYEE_SCHEMES
    ]
    async with Story(infra, tmp_path) as s:
        await s.enrol(_flexible(flex, date(2023, 12, 1), "9000.00") + hired, at)
        died = _death(
            flex, date(2024, 2, 10), (ce.Scheme.EMPLOYEE_PENSION, ce.Scheme.EMPLOYEE_MEDICAL)
        )
        died += _death(employee, date(2024, 2, 20), ce.EMPLOYEE_SCHEMES)
        await s.enrol(died, datetime(2024, 2, 21, 9, tzinfo=UTC))

        await s.close("2024-01", datetime(2024, 2, 26, 9, tzinfo=UTC))
        # the employer's and the worker's assessments are keyed apart and may arrive either way
        await s.until(
            "the employer's January",
            lambda: bool(s.tap.events(cc.AssessmentIssued, employer=code, period="2024-01")),
        )
        await s.until(
            "the flexible worker's January",
            lambda: bool(s.tap.events(cc.AssessmentIssued, person=flex, period="2024-01")),
            timeout=15,
        )
        (mine,) = s.tap.events(cc.AssessmentIssued, person=flex)
        # Nanjing 2024 (illustrative): average 10,200, floor 6,120; on his base of 9,000:
        # pension 20% = 1,800, medical 8% + 2% = 900
        assert mine["total"] == "2700.00"
        (theirs,) = s.tap.events(cc.AssessmentIssued, employer=code)
        assert (theirs["period"], theirs["person_count"]) == ("2024-01", 1)

        # February: January unpaid is arrears for both; nobody owes February
        await s.close("2024-02", datetime(2024, 3, 26, 9, tzinfo=UTC))
        await s.until(
            "January's arrears",
            lambda: (
                len([a for a in s.tap.events(cc.ArrearsBooked) if a["period"] == "2024-01"]) == 2
            ),
        )

        async def let_go() -> bool:
            _, body = await s.svc.get_json(f"/persons?ref={flex}")
            return body["pays_as"] is None

        await wait_until(let_go, timeout=30)
        assert [a["period"] for a in s.tap.events(cc.AssessmentIssued)] == ["2024-01"] * 2
        assert s.svc.alive
        assert "handler failed" not in s.svc.log_text()


async def test_a_late_payment_of_an_advanced_month_recovers_the_advance_once(
    infra: Any, tmp_path: Path
) -> None:
    """Issue 12: a flexible worker pays a month a fund advanced (先垫付后回收): the month stays
    credited once, the payment recovers the advance."""
    flex = ref(310)
    async with Story(infra, tmp_path) as s:
        await s.enrol(_flexible(flex, date(2019, 2, 1), "6000.00"), T0)
        for n, month in enumerate(("2019-02", "2019-03", "2019-04", "2019-05")):
            await s.close(month, datetime(2019, 3 + n, 26, 9, tzinfo=UTC))
        # nothing paid for 2019-02..04: interrupted at the May close
        await s.until("the interruption", lambda: bool(s.tap.events(cc.InterruptionOpened)))
        await s.send(
            cc.COMMANDS.name,
            flex,
            cc.AdvanceContributions(person=flex, advance_id="ADV-1", funded_by="fund-320100"),
            datetime(2019, 6, 3, 9, tzinfo=UTC),
        )
        await s.until("the advance", lambda: bool(s.tap.events(cc.ContributionsAdvanced)))
        (advanced,) = s.tap.events(cc.ContributionsAdvanced)
        # 2019-02..04 at the flexible rate 20% on Nanjing's floor 4,800 = 960 a month
        assert (advanced["periods"], advanced["amount"]) == (
            ["2019-02", "2019-03", "2019-04"],
            "2880.00",
        )

        # the bureau collects March late, in full: pension 20% and medical 10% of 6,000
        await s.send(
            cc.COLLECTIONS.named(code="t320100"),
            flex,
            person_collected("NJ-LATE-1", citizen(310), "2019-03", Decimal(1800)),
            datetime(2019, 6, 10, 9, tzinfo=UTC),
        )
        await s.until(
            "the credit of March's medical (the last effect of the payment)",
            lambda: bool(s.tap.events(cc.ContributionCredited, period="2019-03", source="person")),
        )
        assert s.tap.events(cc.PaymentBooked)[0]["outcome"] == "settled"
        (recovered,) = s.tap.events(cc.AdvanceRecovered)
        assert (recovered["period"], recovered["amount"], recovered["outstanding"]) == (
            "2019-03",
            "960.00",
            "1920.00",
        )
        march = s.tap.events(cc.ContributionCredited, period="2019-03")
        pension_credits = [
            (c["source"], c["months"])
            for c in march
            for line in c["insurances"]
            if line["insurance"] == "pension"
        ]
        assert pension_credits == [("advance", 1)], march  # the month is credited once
        medical_credits = [
            c["source"] for c in march for line in c["insurances"] if line["insurance"] == "medical"
        ]
        assert medical_credits == ["person"]

        _, person = await s.svc.get_json(f"/persons?ref={flex}")
        pension = next(i for i in person["insurances"] if i["insurance"] == "pension")
        assert pension["months"] == ["2019-02", "2019-03", "2019-04"]
        # the advance put 3 x 384 (8% of 4,800) into the account; March now counts on the
        # regular base of 6,000 (480), so the payment adds 96 and the rest recovers the advance
        assert recovered["into_account"] == "96.00"
        assert person["accounts"]["pension"] == "1248.00"
        assert person["advances"] == {"outstanding": "1920.00", "periods": ["2019-02", "2019-04"]}
        assert s.svc.alive


async def test_a_land_expropriated_farmer_is_assessed_and_credited_what_the_region_pays(
    infra: Any, tmp_path: Path
) -> None:
    """Issue 12: "insure first, then expropriate": the farmer pays his own tier each year and
    the region pays into his pension on his behalf (illustrative parameters)."""
    farmer = ref(320)
    joined = ce.MembershipStarted(
        person=farmer,
        scheme=ce.Scheme.LAND_EXPROPRIATED_PENSION,
        insurance=ce.Insurance.PENSION,
        region="320100",
        since=date(2019, 1, 1),
        first_enrolled=date(2019, 1, 1),
        basis=ce.Basis.LAND_EXPROPRIATED,
        expropriation_record="ZD-320100-2019-0001",
        birth_date=date(1965, 1, 1),
        sex=ce.Sex.MALE,
    )
    async with Story(infra, tmp_path) as s:
        await s.enrol([(farmer, joined)], datetime(2019, 1, 2, 9, tzinfo=UTC))
        await s.close("2019-01", datetime(2019, 2, 26, 9, tzinfo=UTC))
        await s.until(
            "the farmer's 2019",
            lambda: bool(s.tap.events(cc.AssessmentIssued, person=farmer)),
        )
        (due,) = s.tap.events(cc.AssessmentIssued, person=farmer)
        assert (due["period"], due["total"]) == ("2019", "100.00")  # his own tier
        await s.send(
            cc.COLLECTIONS.named(code="t320100"),
            farmer,
            person_collected("NJ-LE-1", citizen(320), "2019", Decimal(100)),
            datetime(2019, 3, 5, 9, tzinfo=UTC),
        )
        await s.until("the credit", lambda: bool(s.tap.events(cc.ContributionCredited)))
        (credited,) = s.tap.events(cc.ContributionCredited, person=farmer)
        (pension,) = credited["insurances"]
        # tier 100 + resident subsidy 30 + 1,200 the region pays on his behalf
        assert (credited["months"], pension["subsidy"], pension["into_account"]) == (
            12,
            "1230.00",
            "1330.00",
        )
        _, person = await s.svc.get_json(f"/persons?ref={farmer}")
        assert person["accounts"]["pension"] == "1330.00"
        assert person["insurances"][0]["months_credited"] == 12
        assert s.svc.alive


async def test_wages_closes_and_collections_may_not_describe_the_future(
    infra: Any, tmp_path: Path
) -> None:
    """Issue 12: a month's wages are declared from its first day, a month is closed once it is
    over, a bureau reports a collection for a period that has begun, all on the day of the
    record's ce_time in Nanjing; anything earlier is refused service_date_in_future and changes
    nothing, even where an assessment would have matched."""
    person, code = ref(330), "91320100MA00000003"
    hired = _hired(code, person, date(2019, 1, 1), "10000.00")
    eve = datetime(2019, 4, 30, 15, 59, tzinfo=UTC)  # 30 April, 23:59 in Nanjing
    may_day = datetime(2019, 4, 30, 16, tzinfo=UTC)  # 1 May, 00:00 in Nanjing
    bureau = cc.COLLECTIONS.named(code="t320100")
    may = cc.DeclareWages(
        employer=code, month="2019-05", wages=[cc.WageLine(person=person, wage=Decimal("12000.00"))]
    )

    def collected(cid: str, month: str, amount: Decimal) -> cc.EmployerContributionsCollected:
        return employer_collected(cid, code, month, amount)

    async with Story(infra, tmp_path) as s:
        await s.enrol(hired, datetime(2019, 1, 2, 9, tzinfo=UTC))
        await s.send(cc.COMMANDS.name, code, may, eve)
        await s.close("2019-04", eve)
        await s.until("two refusals", lambda: len(s.tap.events(cc.CommandRejected)) == 2)
        refused = {r["command_type"]: r for r in s.tap.events(cc.CommandRejected)}
        assert {kind: r["reason"] for kind, r in refused.items()} == {
            cc.DeclareWages.TYPE: "service_date_in_future",
            cc.ClosePeriod.TYPE: "service_date_in_future",
        }
        assert "wage month 2019-05 begins on 2019-05-01" in refused[cc.DeclareWages.TYPE]["detail"]
        assert "after 2019-04-30" in refused[cc.ClosePeriod.TYPE]["detail"]
        _, clock = await s.svc.get_json("/regions?region=320100")
        assert clock["last_closed"] is None

        # a minute later it is May in Nanjing
        await s.close("2019-04", may_day)
        await s.send(cc.COMMANDS.name, code, may, may_day)
        await s.until(
            "April's assessment and May's wages",
            lambda: bool(s.tap.events(cc.AssessmentIssued) and s.tap.events(cc.WagesDeclared)),
        )
        (april,) = s.tap.events(cc.AssessmentIssued, employer=code)
        due = Decimal(april["amount_due"])

        # the bureau's reports: April's, dated before April began; 2031; then April's, in May
        await s.send(bureau, code, collected("NJ-F1", "2019-04", due), eve - timedelta(days=31))
        await s.send(bureau, code, collected("NJ-F2", "2031-01", due), may_day)
        await s.send(bureau, code, collected("NJ-OK", "2019-04", due), may_day + timedelta(days=9))
        await s.until("the booking", lambda: bool(s.tap.events(cc.PaymentBooked)))
        # (only this bureau's: the process also reads what other tests left on other bureaus')
        mine = ("NJ-F1", "NJ-F2")

        def rejected() -> list[dict[str, Any]]:
            return [r for r in s.tap.events(cc.CollectionRejected) if r["collection_id"] in mine]

        await s.until("both refusals", lambda: len(rejected()) == 2)
        assert sorted((r["collection_id"], r["reason"], r["period"]) for r in rejected()) == [
            ("NJ-F1", "service_date_in_future", "2019-04"),
            ("NJ-F2", "service_date_in_future", "2031-01"),
        ]
        to_bureau = [
            body["collection_id"]
            for topic, kind, body in s.tap.records
            if topic == cc.ASSESSMENTS.named(code="t320100") and kind == "TaxCollectionRejected"
        ]
        assert sorted(to_bureau) == ["NJ-F1", "NJ-F2"]
        (booked,) = s.tap.events(cc.PaymentBooked)
        assert (booked["collection_id"], booked["paid_total"], booked["outcome"]) == (
            "NJ-OK",
            april["amount_due"],
            "settled",
        )
        assert s.svc.alive
        assert "handler failed" not in s.svc.log_text()
