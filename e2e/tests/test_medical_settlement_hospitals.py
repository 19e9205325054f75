"""Hospitals of different levels in two regions, through real Kafka and Redis.

Enrollment and medical settlement run as processes. The test is the counters (enrollment
commands), welfare (a 低保 status written on the welfare stream as the welfare service publishes
it; test_welfare.py runs that service itself, from a household's application to the medical
assistance), the scheduler (hospital registry, month close) and the hospitals: it only writes to
and reads from topics and the services' read-side HTTP routes. Every expected amount below is
worked out by hand from the policy parameters, not by calling the service's code.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from shebao_contracts import enrollment as en
from shebao_contracts import medical as m
from shebao_contracts.contributions import EVENTS as CONTRIBUTIONS_EVENTS
from shebao_contracts.contributions import InterruptionOpened
from shebao_contracts.welfare import EVENTS as WELFARE_EVENTS
from shebao_contracts.welfare import RecipientStatusChanged
from shebao_devinfra.kit import kind_of
from shebao_devinfra.testing import (
    ServiceProcess,
    message_record,
    producer,
    read_all,
    recreate_topics,
    wait_until,
)
from shebao_partners import (
    cancellation_body,
    citizen_id,
    example_lines,
    hospital_registration,
    partner_headers,
)
from shebao_partners import claim_body as claim
from shebao_partners import claim_line as line

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

T0 = datetime(2025, 1, 2, 8, tzinfo=UTC)  # the counters and the scheduler
SENT = datetime(2025, 1, 20, 2, tzinfo=UTC)  # the hospitals, after the January stays
CST = timezone(timedelta(hours=8))
NJ, SQ = "320100", "321300"
H3, H2, H1 = "h320102001", "h320105002", "h321302003"  # tertiary and secondary in Nanjing,
EMPLOYER = "91320100MA00000001"  # primary in Suqian


def cid(n: int, born: date = date(1982, 4, 9)) -> str:
    return citizen_id("320102", born, 2 * n + 1)


E1, E2, R1, P1, X = cid(1), cid(2), cid(3), cid(4), cid(5)
DEAD, LATE = cid(6), cid(7)


def cst(day: str, hour: int = 10) -> datetime:
    """A moment in China Standard Time, as a hospital's ce_time."""
    return datetime.combine(date.fromisoformat(day), datetime.min.time(), CST) + timedelta(
        hours=hour
    )


EXAMPLE_LINES = example_lines()  # claim(...) is a stay of 8 to 15 January 2025 unless told


class Hospitals:
    def __init__(self, prod: Any) -> None:
        self.prod = prod
        self.n = 0

    async def send(
        self,
        topic_code: str,
        body: dict[str, Any] | bytes,
        key: str,
        ce_type: str = m.ClaimSubmitted.TYPE,
        at: datetime | None = None,
        received: datetime | None = None,
    ) -> None:
        """A hospital's record, sent `at` (its ce_time; by default a minute after the last).

        The record's timestamp (when the broker took it) is `received`, or `at` when that is
        still to come on the test machine's clock: the scenario's December 2026 happens later."""
        self.n += 1
        headers = partner_headers(
            ce_type,
            message_id=f"{topic_code}-{self.n}",
            time=at or SENT + timedelta(minutes=self.n),
            source=f"/partners/{topic_code}",
        )
        value = body if isinstance(body, bytes) else json.dumps(body).encode()
        if received is None and at is not None and at > datetime.now(UTC):
            received = at
        await self.prod.send(
            m.CLAIMS.named(code=topic_code),
            key=key.encode(),
            value=value,
            headers=headers,
            timestamp_ms=int(received.timestamp() * 1000) if received else None,
        )
        await self.prod.flush()


async def answers(bootstrap: str, hospital: str) -> list[tuple[str, dict[str, Any]]]:
    recs = await read_all(bootstrap, m.SETTLEMENTS.named(code=hospital))
    return [(kind_of(r), json.loads(r.value)) for r in recs]


def per_claim(got: list[tuple[str, dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """A hospital's answers per claim id, in order (one claim's answers are ordered; claims of
    different patients are settled in parallel, so their order is not)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for kind, body in got:
        if kind != "MonthlyStatement":
            out.setdefault(body["claim_id"], []).append(body)
    return out


HOSPITALS = ((H3, "tertiary", NJ), (H2, "secondary", NJ), (H1, "primary", SQ))


@dataclass
class Platform:
    """Enrollment and medical settlement running, with the test's producer."""

    bootstrap: str
    prod: Any
    enrollment: ServiceProcess
    medical: ServiceProcess
    refs: dict[str, str] = field(default_factory=dict)
    n: int = 0

    async def command(self, topic: str, msg: Any, key: str, at: datetime = T0) -> None:
        self.n += 1
        k, v, h = message_record(msg, message_id=f"setup-{self.n}", time=at, key=key)
        await self.prod.send(topic, key=k, value=v, headers=h)

    async def enrol(
        self,
        employees: Iterable[str] = (),
        residents: Iterable[str] = (),
        others: Iterable[str] = (),
    ) -> None:
        """Register the people, employ the employees in Nanjing, enrol the residents in Suqian
        for medical insurance, and wait until medical settlement knows their coverage."""
        employees, residents, others = list(employees), list(residents), list(others)
        for person in (*employees, *residents, *others):
            await self.command(
                en.COMMANDS.name,
                en.RegisterPerson(
                    citizen_id=person,
                    name="患者",
                    hukou_region=SQ if person in residents else NJ,
                    residence="urban",
                    registered_on=date(2023, 1, 1),
                ),
                person,
            )
        for person in employees:
            await self.command(
                en.COMMANDS.name,
                en.StartEmployment(
                    citizen_id=person,
                    employer=EMPLOYER,
                    start_date=date(2024, 3, 1),
                    monthly_wage=Decimal("9000.00"),
                ),
                person,
            )
        for person in residents:
            await self.command(
                en.COMMANDS.name,
                en.EnrolResidentMedical(citizen_id=person, region=SQ, start_date=date(2024, 1, 1)),
                person,
            )
        await self.prod.flush()
        for person in (*employees, *residents, *others):

            async def registered(p: str = person) -> bool:
                status, body = await self.enrollment.get_json(f"/persons?citizen_id={p}")
                if status == 200:
                    self.refs[p] = body["person"]
                return status == 200

            await wait_until(registered)

        async def covered() -> bool:
            for p in (*employees, *residents):
                status, body = await self.medical.get_json(f"/coverage?person={self.refs[p]}")
                if status != 200 or not body["periods"]:
                    return False
            return True

        await wait_until(covered, timeout=60)

    async def answered(self, expected: dict[str, int], timeout: float = 90) -> None:
        """Wait until each hospital has at least so many answers to claims and cancellations
        (statements, which every hospital gets at a month close, not counted)."""

        async def done() -> bool:
            for h, count in expected.items():
                got = [k for k, _ in await answers(self.bootstrap, h) if k != "MonthlyStatement"]
                if len(got) < count:
                    return False
            return True

        await wait_until(done, timeout=timeout, interval=0.5)

    async def close_month(self, month: str) -> None:
        await self.command(m.COMMANDS.name, m.CloseMonth(month=month), month)
        await self.prod.flush()

    async def statement(self, hospital: str, month: str) -> dict[str, Any]:
        """The hospital's statement of the month (once the month is closed)."""
        found: list[dict[str, Any]] = []

        async def arrived() -> bool:
            found[:] = [
                a
                for k, a in await answers(self.bootstrap, hospital)
                if k == "MonthlyStatement" and a["month"] == month
            ]
            return bool(found)

        await wait_until(arrived, timeout=60)
        return found[-1]


def hospital_topics() -> list[str]:
    codes = [h for h, _, _ in HOSPITALS]
    return [
        *[m.CLAIMS.named(code=h) for h in codes],
        *[m.CLAIMS.named(code=h) + ".dlq" for h in codes],
        *[m.SETTLEMENTS.named(code=h) for h in codes],
    ]


@asynccontextmanager
async def platform(
    infra: Any, tmp_path: Path, redis_db: int, running: Mapping[str, Any] | None = None
) -> AsyncIterator[Platform]:
    """Fresh topics and Redis database, both services started, the hospitals registered (from
    2015) and the employer of the employees (Nanjing). With `running`, enrollment and medical
    settlement are already running on a platform of their own (compose): nothing is emptied or
    started, and the hospitals' topics are there."""
    codes = [h for h, _, _ in HOSPITALS]
    services: list[Any]
    if running is not None:
        services = [running["enrollment"], running["medical-settlement"]]
    else:
        redis_url = infra.redis_url.rsplit("/", 1)[0] + f"/{redis_db}"
        r = aioredis.Redis.from_url(redis_url)
        await r.flushdb()
        await r.aclose()
        await recreate_topics(
            infra.kafka_bootstrap,
            [
                en.COMMANDS.name,
                en.EVENTS.name,
                en.COMMANDS.dlq,
                WELFARE_EVENTS.name,
                CONTRIBUTIONS_EVENTS.name,
                m.COMMANDS.name,
                m.EVENTS.name,
                *hospital_topics(),
            ],
        )
        services = [
            ServiceProcess(
                name,
                module,
                kafka=infra.kafka_bootstrap,
                redis_url=redis_url,
                log_dir=tmp_path,
            )
            for name, module in (
                ("enrollment", "shebao_enrollment"),
                ("medical-settlement", "shebao_medical_settlement"),
            )
        ]
    prod = await producer(infra.kafka_bootstrap)
    try:
        for svc in services:
            svc.start()
        for svc in services:
            await svc.wait_ready()
        p = Platform(infra.kafka_bootstrap, prod, *services)
        # The scheduler registers the hospitals; the counters register the employer.
        for code, level, region in HOSPITALS:
            await p.command(
                m.COMMANDS.name,
                hospital_registration(code, level, region, name=f"医院{code}"),
                code,
            )
        await p.command(
            en.COMMANDS.name,
            en.RegisterEmployer(
                employer=EMPLOYER,
                name="南京示例",
                region=NJ,
                ownership="private",
                risk_class=2,
                registered_on=date(2020, 1, 1),
            ),
            EMPLOYER,
        )
        await prod.flush()

        async def ready() -> bool:
            employer = (await p.enrollment.get_json(f"/employers?code={EMPLOYER}"))[0]
            hospitals = [(await p.medical.get_json(f"/hospitals?code={h}"))[0] for h in codes]
            return employer == 200 and hospitals == [200] * len(codes)

        await wait_until(ready, timeout=60)
        yield p
    finally:
        for svc in services:
            svc.stop()
        await prod.stop()


async def test_three_hospitals_two_regions(infra: Any, tmp_path: Path) -> None:
    await three_hospitals_two_regions(infra, tmp_path)


async def three_hospitals_two_regions(
    infra: Any, tmp_path: Path, running: Mapping[str, Any] | None = None
) -> None:
    """`running`: on a platform already up, as test_on_compose.py runs it."""
    hospitals = (H3, H2, H1)
    async with platform(infra, tmp_path, redis_db=4, running=running) as p:
        prod = p.prod
        await p.enrol(employees=(E1, E2), residents=(R1, P1), others=(X,))
        refs = p.refs
        # The welfare office's decision: P1 receives the minimum living allowance.
        await p.command(
            WELFARE_EVENTS.name,
            RecipientStatusChanged(
                person=refs[P1],
                status="minimum_living_allowance",
                region=SQ,
                effective_from=date(2024, 7, 1),
            ),
            refs[P1],
        )
        await prod.flush()

        async def assistance_known() -> bool:
            status, body = await p.medical.get_json(f"/coverage?person={refs[P1]}")
            return status == 200 and bool(body["assistance"])

        await wait_until(assistance_known, timeout=60)

        # The hospitals send their claims.
        desk = Hospitals(prod)
        await desk.send(H3, claim(H3, "ZY-1", E1, EXAMPLE_LINES), "ZY-1")
        await desk.send(H2, claim(H2, "ZY-2", E2, [line("treatment", "10000.00")]), "ZY-2")
        await desk.send(
            H1,
            claim(
                H1,
                "MZ-3",
                R1,
                [line("class_a_drug", "300.00", "3")],
                visit="outpatient",
                admitted="2025-01-10",
            ),
            "MZ-3",
        )
        await desk.send(H1, claim(H1, "ZY-4", P1, [line("treatment", "30000.00")]), "ZY-4")
        await desk.send(H3, claim(H3, "ZY-5", X, [line("treatment", "500.00")]), "ZY-5")
        # E2's claim is cancelled and resubmitted corrected
        await desk.send(
            H2,
            cancellation_body(H2, "ZY-2", E2, "wrong quantities"),
            "ZY-2",
            m.ClaimCancellation.TYPE,
        )
        await desk.send(H2, claim(H2, "ZY-2", E2, [line("treatment", "8000.00")]), "ZY-2")
        # ZY-1 resent identically, then once more with another body
        await desk.send(H3, claim(H3, "ZY-1", E1, EXAMPLE_LINES), "ZY-1")
        await desk.send(H3, claim(H3, "ZY-1", E1, [line("treatment", "99.00")]), "ZY-1")
        # what hospitals get wrong
        await desk.send(H2, b'{"hospital": "h320105002", "claim_id": "ZY-9", "lines": [', "ZY-9")
        await desk.send(H3, claim(H2, "ZY-10", E1, [line("treatment", "100.00")]), "ZY-10")
        await desk.send(
            H3, claim(H3, "ZY-11", E1, [line("treatment", "100.00")], total="100.10"), "ZY-11"
        )
        await desk.send(
            H3,
            claim(
                H3,
                "ZY-12",
                E1[:17] + ("0" if E1[17] != "0" else "1"),
                [line("treatment", "100.00")],
            ),
            "ZY-12",
        )

        await p.answered({H3: 7, H2: 4, H1: 2})
        got = {h: await answers(infra.kafka_bootstrap, h) for h in hospitals}

        def amounts_of(result: dict[str, Any]) -> dict[str, str]:
            assert result["outcome"] == "settled", result
            return result["amounts"]

        def by_claim(hospital: str) -> dict[str, list[tuple[str, dict[str, Any]]]]:
            """Answers per claim id, in order (one claim's answers are ordered; claims of
            different patients are settled in parallel, so their order is not)."""
            out: dict[str, list[tuple[str, dict[str, Any]]]] = {}
            for kind, body in got[hospital]:
                out.setdefault(body["claim_id"], []).append((kind, body))
            return out

        h3 = by_claim(H3)
        zy1 = [a for _, a in h3["ZY-1"]]
        # ZY-1: employee, tertiary. 6745 submitted, 900 outside scope, class-B 1720 x 10% = 172,
        # eligible 5673, deductible 800, fund (5673 - 800) x 80% = 3898.40
        assert amounts_of(zy1[0]) == {
            "submitted": "6745.00",
            "outside_scope": "900.00",
            "class_b_self_pay": "172.00",
            "eligible": "5673.00",
            "deductible": "800.00",
            "fund_payment": "3898.40",
            "serious_illness_payment": "0.00",
            "medical_assistance_payment": "0.00",
            "patient_payable": "2846.60",
        }
        assert zy1[0]["ytd_fund_paid"] == "3898.40" and zy1[0]["year"] == 2025
        assert zy1[1] == zy1[0]  # the identical resend: the same answer, nothing paid twice
        assert zy1[2]["reasons"] == ["duplicate_claim_different_body"]
        assert [a["reasons"] for _, a in h3["ZY-5"]] == [["not_insured_on_service_date"]]
        assert [a["reasons"] for _, a in h3["ZY-10"]] == [["hospital_mismatch"]]
        assert [a["reasons"] for _, a in h3["ZY-11"]] == [["totals_do_not_add_up"]]
        assert [a["reasons"] for _, a in h3["ZY-12"]] == [["citizen_id_checksum"]]

        h2 = by_claim(H2)
        assert [k for k, _ in h2["ZY-2"]] == [
            "SettlementResult",
            "CancellationResult",
            "SettlementResult",
        ]
        zy2 = [a for _, a in h2["ZY-2"]]
        # ZY-2: employee, secondary: (10000 - 500) x 85% = 8075.00
        assert amounts_of(zy2[0])["fund_payment"] == "8075.00"
        assert zy2[0]["amounts"]["patient_payable"] == "1925.00"
        assert zy2[1]["outcome"] == "cancelled"
        assert zy2[1]["reversed"]["fund_payment"] == "8075.00"
        assert zy2[1]["ytd_fund_paid"] == "0.00"
        # resubmitted: (8000 - 500) x 85% = 6375.00, against totals corrected to zero
        assert amounts_of(zy2[2])["fund_payment"] == "6375.00"
        assert zy2[2]["ytd_fund_paid"] == "6375.00"
        assert [a["reasons"] for _, a in h2["ZY-9"]] == [["malformed_json"]]

        h1 = by_claim(H1)
        # MZ-3: resident outpatient at primary care: 50% of 300 = 150.00
        assert amounts_of(h1["MZ-3"][0][1])["fund_payment"] == "150.00"
        # ZY-4: 低保 resident, primary: deductible 200, fund (30000 - 200) x 80% = 23840.00;
        # out of pocket 6160 below the halved serious-illness threshold (10000);
        # medical assistance 70% x 6160 = 4312.00; patient 1848.00
        assert amounts_of(h1["ZY-4"][0][1]) == {
            "submitted": "30000.00",
            "outside_scope": "0.00",
            "class_b_self_pay": "0.00",
            "eligible": "30000.00",
            "deductible": "200.00",
            "fund_payment": "23840.00",
            "serious_illness_payment": "0.00",
            "medical_assistance_payment": "4312.00",
            "patient_payable": "1848.00",
        }

        # Bad messages are also in the dead-letter topics with their reasons.
        dlq = await read_all(infra.kafka_bootstrap, m.CLAIMS.named(code=H2) + ".dlq")
        assert [dict(d.headers)["dlq-reason"].decode() for d in dlq] == ["malformed_json"]
        dlq3 = await read_all(infra.kafka_bootstrap, m.CLAIMS.named(code=H3) + ".dlq")
        assert [dict(d.headers)["dlq-reason"].decode() for d in dlq3] == ["citizen_id_checksum"]

        # The month closes: each hospital gets its statement.
        await p.close_month("2025-01")
        s3 = await p.statement(H3, "2025-01")
        assert (s3["claims_settled"], s3["claims_rejected"], s3["fund_payment"]) == (
            1,
            2,
            "3898.40",
        )
        s2 = await p.statement(H2, "2025-01")
        assert (s2["claims_settled"], s2["claims_cancelled"], s2["fund_payment"]) == (
            2,
            1,
            "6375.00",
        )

        # No raw citizen ID leaves the partner topics: not on the internal streams, not in logs.
        raw = [x.encode() for x in (E1, E2, R1, P1, X)]
        for topic in (m.COMMANDS.name, m.EVENTS.name, en.EVENTS.name):
            for rec in await read_all(infra.kafka_bootstrap, topic):
                blob = (rec.key or b"") + rec.value + b"".join(v for _, v in rec.headers)
                assert not any(x in blob for x in raw), f"raw citizen ID on {topic}"
        for svc in (p.enrollment, p.medical):
            log = svc.log_text().encode()
            assert not any(x in log for x in raw), f"raw citizen ID in the {svc.name} log"


async def test_dates_deaths_arrears_statements_and_zero_answers(infra, tmp_path: Path) -> None:
    """Issue 12: what a claim's dates mean, each through the running services.

    The hospitals' ce_time is the moment the platform receives a claim: a stay may not end after
    it. A death is recorded through enrollment, which ends the memberships. The test writes an
    interruption of contributions (断保) as the contributions service announces it."""
    async with platform(infra, tmp_path, redis_db=5) as p:
        await p.enrol(employees=(E1, DEAD, LATE), residents=(R1,))
        desk = Hospitals(p.prod)

        # 1. Sent in December 2026 for a stay of March 2027, and for a visit of January 2027.
        future = claim(
            H3,
            "F-1",
            E1,
            [line("treatment", "5000.00")],
            admitted="2027-03-01",
            discharged="2027-03-05",
        )
        await desk.send(H3, future, "F-1", at=cst("2026-12-10"))
        visit = claim(
            H3,
            "F-2",
            E1,
            [line("class_a_drug", "80.00")],
            visit="outpatient",
            admitted="2027-01-05",
        )
        await desk.send(H3, visit, "F-2", at=cst("2026-12-10"))
        # the same visit sent on its day is settled: 50% of 80 (employees' outpatient pooling)
        await desk.send(H3, visit, "F-2", at=cst("2027-01-05", 16))
        # A hospital cannot dodge the rule by dating its record later than the broker took it.
        await desk.send(H3, future, "F-3", at=cst("2027-03-06"), received=cst("2026-12-10"))

        await p.answered({H3: 4})
        h3 = per_claim(await answers(p.bootstrap, H3))
        assert [a["reasons"] for a in h3["F-1"]] == [["service_date_in_future"]]
        assert "2027-03-05" in h3["F-1"][0]["detail"]
        assert [a["outcome"] for a in h3["F-2"]] == ["rejected", "settled"]
        assert h3["F-2"][0]["reasons"] == ["service_date_in_future"]
        assert h3["F-2"][1]["amounts"]["fund_payment"] == "40.00"
        assert [a["reasons"] for a in h3["F-3"]] == [["invalid_time"]]
        assert "later than the broker received" in h3["F-3"][0]["detail"]

        # 2. DEAD died on 10 February 2025: a stay admitted after it is refused by that name.
        await p.command(
            en.COMMANDS.name,
            en.RecordDeath(citizen_id=DEAD, date_of_death=date(2025, 2, 10)),
            DEAD,
            at=cst("2025-02-11"),
        )
        await p.prod.flush()

        async def death_known() -> bool:
            status, body = await p.medical.get_json(f"/coverage?person={p.refs[DEAD]}")
            return status == 200 and body["deceased_on"] == "2025-02-10"

        await wait_until(death_known, timeout=60)
        after = claim(
            H3,
            "D-1",
            DEAD,
            [line("treatment", "900.00")],
            admitted="2025-02-15",
            discharged="2025-02-18",
        )
        await desk.send(H3, after, "D-1", at=cst("2025-02-18"))
        # admitted before the death, discharged on its day: covered, (900 - 800) x 80% = 80.00
        until = claim(
            H3,
            "D-2",
            DEAD,
            [line("treatment", "900.00")],
            admitted="2025-02-05",
            discharged="2025-02-10",
        )
        await desk.send(H3, until, "D-2", at=cst("2025-02-12"))
        await p.answered({H3: 6})
        h3 = per_claim(await answers(p.bootstrap, H3))
        assert [a["reasons"] for a in h3["D-1"]] == [["person_deceased"]]
        assert h3["D-2"][0]["amounts"]["fund_payment"] == "80.00"

        # 3. LATE has paid nothing since October 2024; the grace of three months is the months
        # after the first unpaid one: stays admitted to 31 January 2025 are covered.
        await p.command(
            CONTRIBUTIONS_EVENTS.name,
            InterruptionOpened(
                person=p.refs[LATE],
                region=NJ,
                since="2024-10",
                judged_through="2024-12",
                months_uncredited=3,
            ),
            p.refs[LATE],
            at=cst("2025-01-20"),
        )
        await p.prod.flush()

        async def interruption_known() -> bool:
            status, body = await p.medical.get_json(f"/coverage?person={p.refs[LATE]}")
            return status == 200 and body["arrears_since"] == "2024-10-01"

        await wait_until(interruption_known, timeout=60)
        for claim_id, admitted in (("G-1", "2025-01-31"), ("G-2", "2025-02-01")):
            stay = claim(
                H3,
                claim_id,
                LATE,
                [line("treatment", "900.00")],
                admitted=admitted,
                discharged="2025-02-03",
            )
            await desk.send(H3, stay, claim_id, at=cst("2025-02-03"))
        await p.answered({H3: 8})
        h3 = per_claim(await answers(p.bootstrap, H3))
        assert [a["outcome"] for a in h3["G-1"]] == ["settled"], h3["G-1"]
        assert h3["G-1"][0]["amounts"]["fund_payment"] == "80.00"
        assert [a["reasons"] for a in h3["G-2"]] == [["contributions_in_arrears"]]

        # 4. Statements by month of settlement: a stay of February sent in March counts in
        # March, a cancellation in May of a March claim counts in May, and March is closed after
        # May's claims exist. Employee at a secondary hospital: (x - 500) x 85%.
        sends = (
            ("S-0", "2025-01-10", "2025-01-12", "1000.00", "2025-01-12"),  # 425.00
            ("S-1", "2025-02-20", "2025-02-26", "2000.00", "2025-03-02"),  # 1275.00
            ("S-2", "2025-03-03", "2025-03-08", "1500.00", "2025-03-08"),  # 850.00
            ("S-3", "2025-05-05", "2025-05-09", "3000.00", "2025-05-09"),  # 2125.00
        )
        for claim_id, admitted, discharged, amount, sent in sends:
            body = claim(
                H2,
                claim_id,
                E1,
                [line("treatment", amount)],
                admitted=admitted,
                discharged=discharged,
            )
            await desk.send(H2, body, claim_id, at=cst(sent))
        cancellation = cancellation_body(H2, "S-2", E1)
        await desk.send(H2, cancellation, "S-2", m.ClaimCancellation.TYPE, at=cst("2025-05-12"))
        await p.answered({H2: 5})
        h2 = per_claim(await answers(p.bootstrap, H2))
        assert [a["amounts"]["fund_payment"] for a in h2["S-1"]] == ["1275.00"]
        assert h2["S-2"][1]["outcome"] == "cancelled"
        await p.close_month("2025-03")
        march = await p.statement(H2, "2025-03")
        assert (march["claims_settled"], march["claims_cancelled"]) == (2, 0)
        assert march["fund_payment"] == "2125.00"  # 1275 + 850
        assert march["year_to_date_fund_payment"] == "2550.00"  # + January's 425, not May's
        await p.close_month("2025-05")
        may = await p.statement(H2, "2025-05")
        assert (may["claims_settled"], may["claims_cancelled"]) == (1, 1)
        assert may["fund_payment"] == "1275.00"  # 2125 - 850
        assert may["year_to_date_fund_payment"] == "3825.00"

        # 5. A stay over New Year counts in the year of discharge: E1's 2025 claims (3825.00)
        # are not in its totals, and its deductible is charged in full: (5000 - 800) x 80%.
        over = claim(
            H3,
            "X-1",
            E1,
            [line("treatment", "5000.00")],
            admitted="2025-12-29",
            discharged="2026-01-04",
        )
        await desk.send(H3, over, "X-1", at=cst("2026-01-04"))
        await p.answered({H3: 9})
        (x1,) = per_claim(await answers(p.bootstrap, H3))["X-1"]
        assert (x1["year"], x1["ytd_fund_paid"]) == (2026, "3360.00")
        assert (x1["amounts"]["deductible"], x1["amounts"]["fund_payment"]) == ("800.00", "3360.00")
        status, years = await p.medical.get_json(f"/accumulators?person={p.refs[E1]}")
        assert status == 200 and years["2025"]["fund"] == "3825.00"
        assert years["2026"]["fund"] == "3360.00"

        # 6. A zero answer says why: a resident's visit at a tertiary hospital (residents'
        # pooling is for primary care), a stay under the deductible, a stay of nothing in scope.
        zero = (
            claim(
                H3,
                "Z-1",
                R1,
                [line("class_a_drug", "80.00")],
                visit="outpatient",
                admitted="2025-01-10",
            ),
            claim(H3, "Z-2", E1, [line("treatment", "750.00")]),
            claim(H3, "Z-3", E1, [line("outside_scope", "900.00", "6")]),
        )
        for body in zero:
            await desk.send(H3, body, body["claim_id"], at=cst("2025-01-20"))
        await p.answered({H3: 12})
        h3 = per_claim(await answers(p.bootstrap, H3))
        # Exactly one answer per record sent to H3 in this test: a wait above that counted too
        # few would have read an answer before it came.
        assert sum(len(v) for v in h3.values()) == 12
        got = {
            c: (h3[c][0]["outcome"], h3[c][0]["amounts"]["fund_payment"], h3[c][0]["reasons"])
            for c in ("Z-1", "Z-2", "Z-3")
        }
        assert got == {
            "Z-1": ("settled", "0.00", ["outpatient_pooling_not_applicable"]),
            "Z-2": ("settled", "0.00", ["below_deductible"]),
            "Z-3": ("settled", "0.00", ["all_outside_scope"]),
        }
