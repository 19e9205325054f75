"""Lives through the whole platform: all five services as processes, on real Kafka and Redis.

Each test is one person's or household's story, told only through topics and published
contracts, as offices, a tax bureau, the statistics bureau and hospitals would tell it (the
partners' messages come from `shebao_partners`). Every expected amount is worked out here from
the parameters, not by calling the services' code. The services run once for the module;
each story keeps to its own people, employers and region.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
import pytest_asyncio
import redis.asyncio as aioredis
from aiokafka.admin import AIOKafkaAdminClient
from platform_story import Story
from platform_story import platform as start

from shebao_common.kafka_security import client_options
from shebao_common.pseudonym import Pseudonymizer
from shebao_common.runtime.store import default_partition
from shebao_common.runtime.testing import key_elsewhere
from shebao_contracts import contributions as cc
from shebao_contracts import enrollment as en
from shebao_contracts import medical as m
from shebao_contracts import unemployment as u
from shebao_contracts import welfare as w
from shebao_contracts.catalog import all_topics
from shebao_contracts.topics import dlq_name
from shebao_contracts.types import mask_citizen_id
from shebao_devinfra.kit import PARTITIONS
from shebao_devinfra.pii import internal_topics, scan_metrics, scan_redis, scan_text, scan_topics
from shebao_devinfra.pytest_plugin import own_kafka
from shebao_devinfra.testing import message_record, read_all, wait_until
from shebao_partners import (
    citizen_id,
    claim_body,
    claim_line,
    cpi_release,
    example_lines,
    hospital_registration,
    person_collected,
)

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

KEY = "e2e-lifetimes-pseudonym-key-0123456789abcd"
CST = timezone(timedelta(hours=8))
D = Decimal
NAMES = ("enrollment", "contributions", "medical-settlement", "unemployment-subsidies", "welfare")
TAX_BUREAUS = ("t320100", "t321300", "t320500", "t320200")
HOSPITALS = (
    ("h320102001", "tertiary", "320100"),
    ("h321302003", "primary", "321300"),
    ("h320202005", "secondary", "320200"),
)


WORKER = citizen_id("320102", date(1985, 4, 1), 31)  # the employee of the first story


def day(y: int, mo: int, d: int, hour: int = 10) -> datetime:
    return datetime(y, mo, d, hour, tzinfo=CST)


def ref(cid: str) -> str:
    return Pseudonymizer(KEY.encode()).person_ref(cid)


@pytest.fixture(scope="module")
def kafka() -> Iterator[Any]:
    """A broker of the module's own: the services read every hospital's and bureau's topic by
    pattern, and those the session's other tests left would be theirs to decide too (and a
    rebuild's to read)."""
    with own_kafka() as k:
        yield k


@pytest_asyncio.fixture(scope="module")
async def platform(
    infra: Any, kafka: Any, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Story]:
    partner = [
        *(t.named(code=c) for t in (cc.ASSESSMENTS, cc.COLLECTIONS) for c in TAX_BUREAUS),
        *(t.named(code=c) for t in (u.CPI, u.ANSWERS) for c in ("s320100", "s321300")),
        *(t.named(code=c) for t in (m.CLAIMS, m.SETTLEMENTS) for c, _, _ in HOSPITALS),
    ]
    logs = tmp_path_factory.mktemp("lifetimes")
    own = SimpleNamespace(kafka_bootstrap=kafka.bootstrap, redis_url=infra.redis_url)
    async with start(own, logs, NAMES, redis_db=13, key=KEY, partner_topics=partner) as p:
        for code, level, region in HOSPITALS:
            registration = hospital_registration(code, level, region)
            await p.send(m.COMMANDS.name, code, registration, day(2023, 12, 1))
        yield p


async def test_an_employees_life(platform: Story) -> None:
    """Employed through 2024 in Nanjing (8,000.00 a month), in hospital in June, laid off at the
    end of the year; benefit for January and February 2025 (1,900.00 a month, the fund paying
    480.00 of medical contribution), January's index at +3.5% (the subsidy 1,100 / 12 = 91.67),
    re-employed on 3 March, and in hospital again in March: on the employee scheme again."""
    p = platform
    nj, bureau = "320100", "t320100"
    employer, later = "91320100MA00000101", "91320100MA00000102"
    worker = WORKER
    for code in (employer, later):
        await p.send(
            en.COMMANDS.name,
            code,
            en.RegisterEmployer(
                employer=code,
                name="南京示例公司",
                region=nj,
                ownership=en.Ownership.PRIVATE,
                risk_class=1,
                registered_on=date(2023, 6, 1),
            ),
            day(2023, 12, 1),
        )
    await p.until(en.EVENTS.name, en.EmployerRegistered, lambda xs: len(xs) == 2, region=nj)
    await p.send(
        en.COMMANDS.name,
        worker,
        en.RegisterPerson(
            citizen_id=worker,
            name="张伟",
            hukou_region=nj,
            residence=en.Residence.URBAN,
            registered_on=date(2023, 12, 1),
        ),
        day(2023, 12, 1),
    )
    await p.send(
        en.COMMANDS.name,
        worker,
        en.StartEmployment(
            citizen_id=worker,
            employer=employer,
            start_date=date(2024, 1, 1),
            monthly_wage=D("8000.00"),
        ),
        day(2024, 1, 2),
    )
    await p.until(en.EVENTS.name, en.EmploymentStarted, bool, person=ref(worker))

    # -- 2024: each month closed, assessed to the bureau, collected, credited --------------------
    dues = await p.insured_months(
        nj, bureau, employer, [f"2024-{n:02d}" for n in range(1, 7)], [ref(worker)]
    )
    # a stay in June, on the employee scheme
    june = await p.claim(
        "h320102001",
        "LIFE-C1",
        worker,
        day(2024, 6, 20),
        admitted="2024-06-10",
        discharged="2024-06-15",
    )
    assert june["outcome"] == "settled" and D(june["amounts"]["fund_payment"]) > 0
    dues += await p.insured_months(
        nj, bureau, employer, [f"2024-{n:02d}" for n in range(7, 13)], [ref(worker)]
    )
    # the bureau's view: each month's line names the worker by citizen ID
    assert all([line["citizen_id"] for line in d["persons"]] == [worker] for d in dues)
    _, person = await p.services["contributions"].get_json(f"/persons?ref={ref(worker)}")
    assert person["accounts"]["pension"] == "7680.00"  # 8% of 8,000.00 for twelve months

    # -- laid off; benefit, the fund's medical months, the subsidy -------------------------------
    await p.send(
        en.COMMANDS.name,
        worker,
        en.EndEmployment(
            citizen_id=worker,
            employer=employer,
            end_date=date(2024, 12, 31),
            separation=en.Separation.INVOLUNTARY,
        ),
        day(2024, 12, 31, 18),
    )
    await p.until(en.EVENTS.name, en.EmploymentEnded, bool, person=ref(worker))
    await p.followed(
        "unemployment-subsidies",
        [en.EVENTS.name, cc.EVENTS.name, w.EVENTS.name, u.COMMANDS.name, u.WORK.name],
        "the worker's history",
    )
    await p.send(
        u.COMMANDS.name,
        worker,
        u.RegisterUnemployed(citizen_id=worker, region=nj, registered_on=date(2025, 1, 6)),
        day(2025, 1, 6),
    )
    (granted,) = await p.until(u.EVENTS.name, u.BenefitGranted, bool, person=ref(worker))
    assert (granted["credited_months"], granted["months_left"]) == (12, 12)
    for month, at in (("2025-01", day(2025, 2, 1)), ("2025-02", day(2025, 3, 1))):
        await p.send(u.COMMANDS.name, nj, u.ClosePaymentMonth(region=nj, month=month), at)
    paid = await p.until(u.EVENTS.name, u.BenefitPaid, lambda xs: len(xs) == 2, person=ref(worker))
    assert sorted((x["month"], x["amount"]) for x in paid) == [
        ("2025-01", "1900.00"),
        ("2025-02", "1900.00"),
    ]
    medical = await p.until(
        u.EVENTS.name, u.MedicalContributionPaid, lambda xs: len(xs) == 2, person=ref(worker)
    )
    assert {x["amount"] for x in medical} == {"480.00"}  # 10% of the 4,800.00 base
    await p.send(
        u.CPI.named(code="s320100"),
        nj,
        cpi_release(nj, "2025-01", "3.5", "2.0"),
        day(2025, 2, 12),
    )
    (subsidy,) = await p.until(u.EVENTS.name, u.PriceSubsidyPaid, bool, person=ref(worker))
    assert (subsidy["period"], subsidy["amount"]) == ("2025-01", "91.67")

    # -- re-employed; the benefit stops; the next stay is on the employee scheme again -----------
    await p.send(
        en.COMMANDS.name,
        worker,
        en.StartEmployment(
            citizen_id=worker,
            employer=later,
            start_date=date(2025, 3, 3),
            monthly_wage=D("8500.00"),
        ),
        day(2025, 3, 3),
    )
    (stopped,) = await p.until(u.EVENTS.name, u.BenefitStopped, bool, person=ref(worker))
    assert (stopped["cause"], stopped["months_left"]) == ("reemployed", 10)
    await p.followed(
        "medical-settlement",
        [m.COMMANDS.name, en.EVENTS.name, cc.EVENTS.name, u.EVENTS.name, w.EVENTS.name],
        "the worker's coverage",
    )
    march = await p.claim(
        "h320102001",
        "LIFE-C2",
        worker,
        day(2025, 3, 25),
        admitted="2025-03-17",
        discharged="2025-03-21",
    )
    assert march["outcome"] == "settled" and D(march["amounts"]["fund_payment"]) > 0
    fund_months = await p.of(
        cc.EVENTS.name, cc.ContributionCredited, person=ref(worker), source="unemployment_fund"
    )
    assert sorted(x["period"] for x in fund_months) == ["2025-01", "2025-02"]


async def test_a_poor_rural_household(platform: Story) -> None:
    """A rural couple in Suqian in the resident schemes (tier 100; premium 400.00 a year in
    2025, read below), 低保 from February 2025 ((1,100 - 200 / 2) x 2 = 2,000.00 a month); the
    government pays each one's resident-pension tier, the bureau collects the rest of the year;
    a stay in hospital and an outpatient visit with medical assistance; February's index at
    +3.6% pays each 91.67 once, by welfare."""
    p = platform
    sq, bureau, hospital = "321300", "t321300", "h321302003"
    husband, wife = (citizen_id("321302", date(1970, 2, 1), n) for n in (41, 42))
    for cid in (husband, wife):
        await p.send(
            en.COMMANDS.name,
            cid,
            en.RegisterPerson(
                citizen_id=cid,
                name="农民",
                hukou_region=sq,
                residence=en.Residence.RURAL,
                registered_on=date(2024, 12, 2),
            ),
            day(2024, 12, 2),
        )
        await p.send(
            en.COMMANDS.name,
            cid,
            en.EnrolResidentPension(
                citizen_id=cid, region=sq, start_date=date(2025, 1, 1), yearly_tier=100
            ),
            day(2025, 1, 2),
        )
        await p.send(
            en.COMMANDS.name,
            cid,
            en.EnrolResidentMedical(citizen_id=cid, region=sq, start_date=date(2025, 1, 1)),
            day(2025, 1, 2),
        )
    await p.until(
        en.EVENTS.name,
        en.MembershipStarted,
        lambda xs: len([x for x in xs if x["person"] in (ref(husband), ref(wife))]) == 4,
        region=sq,
    )
    await p.followed(
        "contributions", [en.EVENTS.name, cc.COMMANDS.name, cc.WORK.name], "the couple"
    )
    await p.send(cc.COMMANDS.name, sq, cc.ClosePeriod(region=sq, month="2025-01"), day(2025, 2, 1))
    dues = await p.until(
        cc.ASSESSMENTS.named(code=bureau),
        cc.TaxAssessmentIssued,
        lambda xs: len(xs) == 2,
        period="2025",
    )
    year_due = {x["citizen_id"]: D(x["amount_due"]) for x in dues}

    await p.send(
        w.COMMANDS.name,
        "SQ-DB-1",
        w.ApplyForAllowance(
            household_id="SQ-DB-1",
            region=sq,
            residence=w.Residence.RURAL,
            members=[husband, wife],
            monthly_income=D("200.00"),
            assets_within_limit=True,
            applied_on=date(2025, 1, 15),
        ),
        day(2025, 1, 15),
    )
    (decided,) = await p.until(w.EVENTS.name, w.AllowanceDecided, bool, household_id="SQ-DB-1")
    assert (decided["monthly_allowance"], decided["from_month"]) == ("2000.00", "2025-02")
    await p.send(
        w.COMMANDS.name, sq, w.ClosePaymentMonth(region=sq, month="2025-02"), day(2025, 3, 1)
    )
    (paid,) = await p.until(w.EVENTS.name, w.AssistancePaid, bool, household_id="SQ-DB-1")
    assert (paid["month"], paid["amount"]) == ("2025-02", "2000.00")
    on_behalf = await p.until(
        w.EVENTS.name,
        w.PensionPaidOnBehalf,
        lambda xs: len([x for x in xs if x["person"] in (ref(husband), ref(wife))]) == 2,
        region=sq,
    )
    assert {x["amount"] for x in on_behalf} == {"100.00"}

    # the bureau collects the rest of each one's year (the resident medical premium)
    for cid in (husband, wife):
        await p.send(
            cc.COLLECTIONS.named(code=bureau),
            f"SQ-{cid[-4:]}",
            person_collected(f"SQ-{cid[-4:]}", cid, "2025", year_due[cid] - 100),
            day(2025, 3, 5),
        )
    credited = await p.until(
        cc.EVENTS.name,
        cc.ContributionCredited,
        lambda xs: len([x for x in xs if x["person"] in (ref(husband), ref(wife))]) == 2,
        period="2025",
    )
    for c in credited:
        pension = next(i for i in c["insurances"] if i["insurance"] == "pension")
        assert (pension["into_account"], c["months"]) == ("130.00", 12)  # tier 100 + subsidy 30

    # -- hospital: an inpatient stay and an outpatient visit, with medical assistance ------------
    await p.followed(
        "medical-settlement",
        [m.COMMANDS.name, en.EVENTS.name, cc.EVENTS.name, u.EVENTS.name, w.EVENTS.name],
        "the couple's coverage and status",
    )
    stay = await p.claim(
        hospital,
        "SQ-ZY-1",
        husband,
        day(2025, 3, 20),
        admitted="2025-03-10",
        discharged="2025-03-14",
    )
    assert stay["outcome"] == "settled" and D(stay["amounts"]["medical_assistance_payment"]) > 0
    visit = await p.claim(
        hospital,
        "SQ-MZ-1",
        wife,
        day(2025, 3, 20),
        visit="outpatient",
        admitted="2025-03-18",
        discharged=None,
        lines=[claim_line("class_a_drug", "300.00", "3")],
    )
    assert visit["outcome"] == "settled" and D(visit["amounts"]["medical_assistance_payment"]) > 0

    # -- February's index: the subsidy, once each, by welfare ------------------------------------
    await p.send(
        u.CPI.named(code="s321300"),
        sq,
        cpi_release(sq, "2025-02", "3.6", "2.0"),
        day(2025, 3, 12),
    )
    subsidies = await p.until(
        w.EVENTS.name,
        w.PriceSubsidyPaid,
        lambda xs: len([x for x in xs if x["person"] in (ref(husband), ref(wife))]) >= 2,
        period="2025-02",
    )
    mine = [x for x in subsidies if x["person"] in (ref(husband), ref(wife))]
    assert sorted((x["person"], x["amount"]) for x in mine) == sorted(
        [(ref(husband), "91.67"), (ref(wife), "91.67")]
    )
    assert not await p.of(u.EVENTS.name, u.PriceSubsidyPaid, person=ref(husband))


async def test_a_worker_moves_from_one_city_to_another(platform: Story) -> None:
    """Insured in Suzhou from January to June 2024 (8,000.00 a month), moved to Wuxi on 1 July
    and insured there from July: the transfer carries the pension account (8% x 8,000 x 6 =
    3,840.00), 12% of the bases (5,760.00) and the medical account (2% + 30% of 8%, of 8,000, x
    6 = 2,112.00); the months stay continuous; a stay in Wuxi is settled; laid off at the end
    of the year, the twelve months of both cities give twelve months of benefit."""
    p = platform
    sz, wx = "320500", "320200"
    sz_employer, wx_employer = "91320500MA00000201", "91320200MA00000202"
    mover = citizen_id("320502", date(1990, 9, 9), 51)
    for code, region in ((sz_employer, sz), (wx_employer, wx)):
        await p.send(
            en.COMMANDS.name,
            code,
            en.RegisterEmployer(
                employer=code,
                name="示例企业",
                region=region,
                ownership=en.Ownership.PRIVATE,
                risk_class=1,
                registered_on=date(2023, 6, 1),
            ),
            day(2023, 12, 1),
        )
    await p.until(en.EVENTS.name, en.EmployerRegistered, bool, employer=wx_employer)
    await p.until(en.EVENTS.name, en.EmployerRegistered, bool, employer=sz_employer)
    await p.send(
        en.COMMANDS.name,
        mover,
        en.RegisterPerson(
            citizen_id=mover,
            name="李娜",
            hukou_region=sz,
            residence=en.Residence.URBAN,
            registered_on=date(2023, 12, 1),
        ),
        day(2023, 12, 1),
    )
    await p.send(
        en.COMMANDS.name,
        mover,
        en.StartEmployment(
            citizen_id=mover,
            employer=sz_employer,
            start_date=date(2024, 1, 1),
            monthly_wage=D("8000.00"),
        ),
        day(2024, 1, 2),
    )
    await p.until(en.EVENTS.name, en.EmploymentStarted, bool, person=ref(mover))
    person = ref(mover)
    first_half = [f"2024-{n:02d}" for n in range(1, 7)]
    await p.insured_months(sz, "t320500", sz_employer, first_half, [person])

    # -- the move: the job in Suzhou ends, the relationships go to Wuxi -------------------------
    await p.send(
        en.COMMANDS.name,
        mover,
        en.EndEmployment(
            citizen_id=mover,
            employer=sz_employer,
            end_date=date(2024, 6, 30),
            separation=en.Separation.VOLUNTARY,
        ),
        day(2024, 6, 30, 18),
    )
    await p.until(en.EVENTS.name, en.EmploymentEnded, bool, person=person)
    await p.send(
        en.COMMANDS.name,
        mover,
        en.TransferOut(
            citizen_id=mover, transfer_id="TR-SZ-WX-1", to_region=wx, date=date(2024, 7, 1)
        ),
        day(2024, 7, 1),
    )
    await p.until(en.EVENTS.name, en.PersonTransferredOut, bool, person=person)
    await p.send(
        en.COMMANDS.name,
        mover,
        en.TransferIn(
            citizen_id=mover,
            transfer_id="TR-SZ-WX-1",
            region=wx,
            from_region=sz,
            date=date(2024, 7, 5),
        ),
        day(2024, 7, 5),
    )
    await p.until(en.EVENTS.name, en.PersonTransferredIn, bool, person=person)
    (moved,) = await p.until(cc.EVENTS.name, cc.TransferAmountComputed, bool, person=person)
    assert (
        moved["pension_account"],
        moved["bases_since_1998"],
        moved["pooled_share"],
        moved["medical_account"],
        moved["total"],
    ) == ("3840.00", "48000.00", "5760.00", "2112.00", "11712.00")
    await p.send(
        en.COMMANDS.name,
        mover,
        en.StartEmployment(
            citizen_id=mover,
            employer=wx_employer,
            start_date=date(2024, 7, 8),
            monthly_wage=D("8000.00"),
        ),
        day(2024, 7, 8),
    )
    await p.until(en.EVENTS.name, en.EmploymentStarted, lambda xs: len(xs) == 2, person=person)
    second_half = [f"2024-{n:02d}" for n in range(7, 13)]
    await p.insured_months(wx, "t320200", wx_employer, second_half, [person])
    _, record = await p.services["contributions"].get_json(f"/persons?ref={person}")
    pension = next(i for i in record["insurances"] if i["insurance"] == "pension")
    assert pension["months"] == [f"2024-{n:02d}" for n in range(1, 13)]  # continuous

    # -- a stay in Wuxi, on the employee scheme of the new region --------------------------------
    await p.followed(
        "medical-settlement",
        [m.COMMANDS.name, en.EVENTS.name, cc.EVENTS.name, u.EVENTS.name, w.EVENTS.name],
        "the mover's coverage",
    )
    stay = await p.claim(
        "h320202005",
        "WX-ZY-1",
        mover,
        day(2024, 9, 20),
        admitted="2024-09-10",
        discharged="2024-09-14",
    )
    assert stay["outcome"] == "settled" and D(stay["amounts"]["fund_payment"]) > 0

    # -- laid off in Wuxi: both cities' months count -------------------------------------------
    await p.send(
        en.COMMANDS.name,
        mover,
        en.EndEmployment(
            citizen_id=mover,
            employer=wx_employer,
            end_date=date(2024, 12, 31),
            separation=en.Separation.INVOLUNTARY,
        ),
        day(2024, 12, 31, 18),
    )
    await p.until(en.EVENTS.name, en.EmploymentEnded, lambda xs: len(xs) == 2, person=person)
    await p.followed(
        "unemployment-subsidies",
        [en.EVENTS.name, cc.EVENTS.name, w.EVENTS.name, u.COMMANDS.name, u.WORK.name],
        "the mover's history",
    )
    await p.send(
        u.COMMANDS.name,
        mover,
        u.RegisterUnemployed(citizen_id=mover, region=wx, registered_on=date(2025, 1, 6)),
        day(2025, 1, 6),
    )
    (granted,) = await p.until(u.EVENTS.name, u.BenefitGranted, bool, person=person)
    assert (granted["region"], granted["credited_months"], granted["months_left"]) == (wx, 12, 12)


async def test_a_persons_lifetime_record(platform: Story) -> None:
    """The employee of the first story, as one answer of the enrollment read side (记录一生):
    every scheme, credited month, payment and claim, in the order of the days they count on,
    each with what the service that decided it published."""
    p = platform
    nj, employer, later = "320100", "91320100MA00000101", "91320100MA00000102"
    answers = {
        c: (await p.of(m.SETTLEMENTS.named(code="h320102001"), m.SettlementResult, claim_id=c))[0]
        for c in ("LIFE-C1", "LIFE-C2")
    }
    await p.followed(
        "enrollment",
        [en.EVENTS.name, cc.EVENTS.name, m.EVENTS.name, u.EVENTS.name, w.EVENTS.name],
        "every service's events",
    )
    status, record = await p.services["enrollment"].get_json(f"/lifetime?citizen_id={WORKER}")
    assert status == 200, record
    assert record["person"] == ref(WORKER) and WORKER not in str(record)
    entries = record["entries"]
    days = [e["on"] for e in entries]
    assert days == sorted(days)

    def of(kind: str) -> list[tuple[str, dict[str, str]]]:
        return [(e["on"], e["facts"]) for e in entries if e["kind"] == kind]

    assert [d for d, _ in of("registered")] == ["2023-12-01"]
    assert [(d, f["employer"]) for d, f in of("employment_started")] == [
        ("2024-01-01", employer),
        ("2025-03-03", later),
    ]
    assert [(d, f["separation"]) for d, f in of("employment_ended")] == [
        ("2024-12-31", "involuntary")
    ]
    started = {f["scheme"] for d, f in of("membership_started") if d == "2024-01-01"}
    assert started >= {"employee_pension", "employee_medical", "unemployment"}
    # twelve months from the employer in 2024, two from the unemployment fund in 2025
    credited = [(f["period"], f["source"]) for _, f in of("month_credited")]
    assert [c for c, s in credited if s != "unemployment_fund"] == [
        f"2024-{n:02d}" for n in range(1, 13)
    ]
    assert [c for c, s in credited if s == "unemployment_fund"] == ["2025-01", "2025-02"]
    claims = of("claim_settled")
    assert [(d, f["claim_id"], f["scheme"], f["region"]) for d, f in claims] == [
        ("2024-06-15", "LIFE-C1", "employee_medical", nj),
        ("2025-03-21", "LIFE-C2", "employee_medical", nj),
    ]
    for _, f in claims:
        assert f["fund_payment"] == answers[f["claim_id"]]["amounts"]["fund_payment"]
    assert [d for d, _ in of("benefit_granted")] == ["2025-01-06"]
    assert [(f["month"], f["amount"]) for _, f in of("benefit_paid")] == [
        ("2025-01", "1900.00"),
        ("2025-02", "1900.00"),
    ]
    assert [(f["month"], f["amount"]) for _, f in of("medical_paid_by_unemployment_fund")] == [
        ("2025-01", "480.00"),
        ("2025-02", "480.00"),
    ]
    assert [(f["period"], f["amount"]) for _, f in of("price_subsidy_paid")] == [
        ("2025-01", "91.67")
    ]
    assert [(d, f["cause"]) for d, f in of("benefit_stopped")] == [("2025-03-03", "reemployed")]
    # the story's milestones, in order
    milestones = [
        (e["on"], e["kind"])
        for e in entries
        if e["kind"] in {"claim_settled", "employment_ended", "benefit_granted", "benefit_stopped"}
    ]
    assert milestones == [
        ("2024-06-15", "claim_settled"),
        ("2024-12-31", "employment_ended"),
        ("2025-01-06", "benefit_granted"),
        ("2025-03-03", "benefit_stopped"),
        ("2025-03-21", "claim_settled"),
    ]


def _keys(name: str) -> str:
    """What every key of a service's state starts with: its prefix and its slot's hash tag (one
    slot per service: `shebao_common.runtime.store.Layout`)."""
    return f"shebao:{name}:{{{name}}}"


MEDICAL = _keys("medical-settlement")


async def _state(r: aioredis.Redis, prefix: str) -> dict[str, Any]:
    """A service's keys as a rebuild must restore them: state values (without their write
    counters), counters, offsets and dedupe marks; outbox streams are not state."""
    out: dict[str, Any] = {}
    async for raw in r.scan_iter(match=f"{prefix}:*", count=1000):
        key = raw.decode()
        kind = key[key.index("}") + 2 :].split(":", 1)[0]  # after the hash tag, whatever it is
        if kind == "s":
            value = await r.get(key)
            out[key] = value.split(b"|", 1)[1]
        elif kind in ("c", "off"):
            out[key] = await r.hgetall(key)
        elif kind == "dd":
            out[key] = await r.get(key)
    return out


async def _rebuilt(
    p: Story, r: aioredis.Redis, name: str, published: list[str], prefix: str | None = None
) -> tuple[dict[str, Any], dict[str, int]]:
    """Stops the service, wipes its keyspace and rebuilds it from the log of record: the state
    equals the original key by key and nothing was published. The service is left stopped; the
    state and the published topics' ends are returned. `prefix`: its keys' (a pattern for a
    partitioned keyspace), one slot's by default."""
    svc, prefix = p.services[name], prefix or _keys(name)
    svc.terminate()
    before = await _state(r, prefix)
    ends = await _ends(p.bootstrap, published)
    assert any(":s:" in k for k in before)
    n = 0
    async for key in r.scan_iter(match=f"{prefix}:*", count=1000):
        n += await r.delete(key)
    assert n > 0 and not await _state(r, prefix)

    done = svc.command("rebuild")
    assert done.returncode == 0, done.stderr[-3000:]
    after = await _state(r, prefix)
    assert sorted(after) == sorted(before)
    assert {k: v for k, v in after.items() if v != before[k]} == {}
    assert await _ends(p.bootstrap, published) == ends
    return before, ends


async def _resumed_quietly(
    p: Story, name: str, inputs: list[str], published: list[str], ends: dict[str, int]
) -> None:
    """The rebuilt service started again goes on after what it decided: it reads nothing again
    (records fetched before its consumers sought to the rebuilt offsets are dropped as stale)
    and publishes nothing. `inputs` are the topics its subscriptions read, a topic read by two
    subscriptions twice: once every partition of them is assigned (and sought to its rebuilt
    offset), whatever it would read again it reads within seconds."""
    svc = p.services[name]
    svc.start()
    await svc.wait_ready()

    # (not p.followed: it counts the records read since the process started against every
    # record of the inputs, and a service that reads nothing again never reaches them)
    async def assigned() -> bool:
        return await svc.metric("shebao_assigned_partitions") >= PARTITIONS * len(inputs)

    await wait_until(assigned, timeout=60)
    await asyncio.sleep(3)
    seen = await svc.metrics()
    assert seen.sum("shebao_records_total") - seen.sum("shebao_records_total", outcome="stale") == 0
    assert not seen.sum("shebao_outbox_pending")
    assert await _ends(p.bootstrap, published) == ends


async def _ends(bootstrap: str, topics: list[str]) -> dict[str, int]:
    return {t: len(await read_all(bootstrap, t)) for t in topics}


async def test_medical_settlement_rebuilt_from_its_decisions(platform: Story, infra: Any) -> None:
    """Medical settlement's Redis wiped and rebuilt from what it published: the state, counters,
    offsets and marks equal the original key by key, and neither the rebuild nor the service
    started on it publishes anything (no claim is decided or answered again)."""
    p = platform
    med = p.services["medical-settlement"]
    hospital = "h320102001"
    # a refusal, a cancellation, a resend and a month close: every kind of decision
    early = await p.claim(
        hospital, "LIFE-R1", WORKER, day(2025, 4, 2), admitted="2023-05-02", discharged="2023-05-04"
    )
    assert early["outcome"] == "rejected"
    body = m.ClaimCancellation(hospital=hospital, claim_id="LIFE-C2", patient_citizen_id=WORKER)
    await p.send(m.CLAIMS.named(code=hospital), "LIFE-C2", body, day(2025, 4, 3))
    await p.until(
        m.SETTLEMENTS.named(code=hospital), m.CancellationResult, bool, claim_id="LIFE-C2"
    )
    resent = claim_body(
        hospital, "LIFE-C1", WORKER, example_lines(), admitted="2024-06-10", discharged="2024-06-15"
    )
    await p.send(
        m.CLAIMS.named(code=hospital),
        "LIFE-C1",
        m.ClaimSubmitted.model_validate(resent),
        day(2025, 4, 3, 11),
    )
    first, second = await p.until(
        m.SETTLEMENTS.named(code=hospital),
        m.SettlementResult,
        lambda xs: len(xs) == 2,
        claim_id="LIFE-C1",
    )
    assert second == first  # the same answer again, and nothing paid twice
    await p.send(m.COMMANDS.name, "2025-03", m.CloseMonth(month="2025-03"), day(2025, 4, 1))
    await p.until(m.SETTLEMENTS.named(code=hospital), m.MonthlyStatement, bool, month="2025-03")
    inputs = [t.named(code=c) for t in (m.CLAIMS,) for c, _, _ in HOSPITALS]
    await p.followed(
        "medical-settlement",
        [*inputs, m.COMMANDS.name, m.EVENTS.name, en.EVENTS.name, cc.EVENTS.name],
        "every claim",
    )
    await p.followed("medical-settlement", [u.EVENTS.name, w.EVENTS.name], "every event")

    published = [
        m.COMMANDS.name,
        m.EVENTS.name,
        *(m.SETTLEMENTS.named(code=c) for c, _, _ in HOSPITALS),
    ]
    r = aioredis.Redis.from_url(med.redis_url)
    try:
        before, ends = await _rebuilt(p, r, "medical-settlement", published)
        assert any(k.startswith(f"{MEDICAL}:s:claim:") for k in before)
        assert any(k.startswith(f"{MEDICAL}:c:") for k in before)

        # a second rebuild into a keyspace that holds state is refused, by name
        refused = med.command("rebuild")
        assert refused.returncode == 2 and "rebuild refused" in refused.stderr
        # (a subscription that decides without a log of record is refused before anything
        # changes, even told to wipe: libs/common/tests/test_runtime_rebuild.py)

        med.start()
        await med.wait_ready()
        # it goes on from the rebuilt totals: LIFE-C2 was cancelled, so a new stay in 2025
        # starts the year's fund payments again from 0.00
        later = await p.claim(
            hospital,
            "LIFE-C3",
            WORKER,
            day(2025, 4, 20),
            admitted="2025-04-14",
            discharged="2025-04-16",
        )
        assert later["outcome"] == "settled"
        assert later["ytd_fund_paid"] == later["amounts"]["fund_payment"]

        # and it read nothing again: the claim (ingest), its adjudication and its ClaimSettled
        # (statements, which has no use for it) are the only records since the restart
        async def three() -> bool:
            seen = await med.metrics()
            read = seen.sum("shebao_records_total") - seen.sum(
                "shebao_records_total", outcome="stale"
            )
            return read >= 3 and not seen.sum("shebao_outbox_pending")

        await wait_until(three, timeout=60)
        await asyncio.sleep(3)
        # (records fetched again before the consumer sought to the rebuilt offsets are dropped
        # as "stale", decided by nobody)
        seen = await med.metrics()
        assert (
            seen.sum("shebao_records_total") - seen.sum("shebao_records_total", outcome="stale")
            == 3
        )
        grown = {t: n - ends[t] for t, n in (await _ends(p.bootstrap, published)).items()}
        assert grown == {
            m.COMMANDS.name: 1,
            m.EVENTS.name: 1,
            **{m.SETTLEMENTS.named(code=c): int(c == hospital) for c, _, _ in HOSPITALS},
        }
    finally:
        await r.aclose()


def _one_slot_view(state: dict[str, Any], name: str) -> dict[str, Any]:
    """A partitioned service's keys as one slot would hold them: each partition's tag made the
    service's, counters summed and offsets merged over the partitions."""
    out: dict[str, Any] = {}
    head = f"shebao:{name}:{{{name}/"
    for key, value in state.items():
        assert key.startswith(head), key
        tag_end = key.index("}", len(head))
        flat = _keys(name) + key[tag_end + 1 :]
        kind = key[tag_end + 2 :].split(":", 1)[0]
        if kind == "c":
            total = out.setdefault(flat, {})
            for f, v in value.items():
                total[f] = str(int(total.get(f, b"0")) + int(v)).encode()
        elif kind == "off":
            out.setdefault(flat, {}).update(value)
        else:
            assert flat not in out, f"{flat} in two partitions"
            out[flat] = value
    return out


def _partition_of(key: str) -> int:
    """The partition whose hash tag a key carries (`{<service>/<p>}`)."""
    return int(key[key.index("/") + 1 : key.index("}")])


async def _moved_to_partitions(
    p: Story, r: aioredis.Redis, name: str, published: list[str]
) -> tuple[dict[str, Any], dict[str, int]]:
    """Stops the service, wipes its one-slot keyspace and rebuilds it told STATE_LAYOUT=
    partitioned: the same state, counters, offsets and marks once the partition tags are folded
    back (`_one_slot_view`), the layout recorded, nothing published. The service is left
    stopped, to start partitioned; the spread keyspace and the published topics' ends are
    returned."""
    svc, prefix = p.services[name], _keys(name)
    svc.terminate()
    one_slot = await _state(r, prefix)
    ends = await _ends(p.bootstrap, published)
    async for key in r.scan_iter(match=f"shebao:{name}:*", count=1000):
        await r.delete(key)
    svc.env["STATE_LAYOUT"] = "partitioned"
    done = svc.command("rebuild")
    assert done.returncode == 0, done.stderr[-3000:]
    spread = await _state(r, f"shebao:{name}:{{{name}/*}}")
    assert not await _state(r, prefix)
    assert _one_slot_view(spread, name) == one_slot
    assert await r.hget(f"shebao:{name}:layout", "partitions") == str(PARTITIONS).encode()
    assert await _ends(p.bootstrap, published) == ends
    return spread, ends


async def _quiet(p: Story, r: aioredis.Redis, name: str, inputs: list[str]) -> None:
    """The service has decided everything on its inputs, three checks in a row a second apart
    (so nothing more is on its way from the others). Not `_passed_on`, which counts since each
    process started: the services were restarted by their rebuilds' tests."""
    quiet = 0

    async def decided() -> bool:
        nonlocal quiet
        quiet = quiet + 1 if await p.decided_all(r, name, inputs) else 0
        await asyncio.sleep(1)
        return quiet >= 3

    await wait_until(decided, timeout=90)


def _spread_key(spread: dict[str, Any], kind: str, ident: str) -> str:
    """The key of the one state value of `kind` and `ident` in a partitioned keyspace."""
    (key,) = [k for k in spread if k.endswith(f":s:{kind}:{ident}")]
    return key


def _where(spread: dict[str, Any], kind: str, ident: str) -> int:
    """The partition whose slot holds the one state value of `kind` and `ident`."""
    (key,) = [k for k in spread if k.endswith(f":s:{kind}:{ident}")]
    return _partition_of(key)


async def test_medical_settlement_moves_to_a_partitioned_layout_by_a_rebuild(
    platform: Story, infra: Any
) -> None:
    """The way from one slot to a state partitioned by input partition (for a Redis Cluster):
    the rebuild, told STATE_LAYOUT=partitioned, writes the same state, counters, offsets and
    marks, each value in the slot of the partition that owns it (a claim's with its patient, a
    hospital's with its code, a claim id's patient where the claim id's records arrive), and
    the service started on it goes on deciding as before."""
    p = platform
    name = "medical-settlement"
    med = p.services[name]
    hospital = "h320102001"
    settled = await p.claim(
        hospital,
        "LIFE-P1",
        WORKER,
        day(2025, 5, 6),
        admitted="2025-04-28",
        discharged="2025-04-30",
    )
    assert settled["outcome"] == "settled"
    inputs = [m.CLAIMS.named(code=c) for c, _, _ in HOSPITALS]
    published = [
        m.COMMANDS.name,
        m.EVENTS.name,
        *(m.SETTLEMENTS.named(code=c) for c, _, _ in HOSPITALS),
    ]
    r = aioredis.Redis.from_url(med.redis_url)
    try:
        # (not p.followed: the service was restarted by the test before, its counts begin there)
        topics = [*inputs, m.COMMANDS.name, m.EVENTS.name]

        async def decided() -> bool:
            return await p.decided_all(r, name, topics)

        await wait_until(decided, timeout=90)
        spread, ends = await _moved_to_partitions(p, r, name, published)

        # each value in the slot of its owner, and the state over many slots
        def where(kind: str, ident: str) -> int:
            return _where(spread, kind, ident)

        person = ref(WORKER)
        assert where("accumulators", person) == default_partition(person, PARTITIONS)
        assert where("claim", f"{hospital}:LIFE-P1") == default_partition(person, PARTITIONS)
        assert where("hospital", hospital) == default_partition(hospital, PARTITIONS)
        assert where("claim-holder", f"{hospital}:LIFE-P1") == default_partition(
            "LIFE-P1", PARTITIONS
        )
        assert len({_partition_of(k) for k in spread if ":s:" in k}) > PARTITIONS // 2

        # started partitioned, it reads nothing again and decides on: the worker's year goes on
        # from the rebuilt totals (a patient's partition), the hospital is read from its code's
        # partition, and the id of the worker's claim stays the worker's
        every_input = [*inputs, m.COMMANDS.name, m.EVENTS.name]
        every_input += [en.EVENTS.name, cc.EVENTS.name, u.EVENTS.name, w.EVENTS.name]
        await _resumed_quietly(p, name, every_input, published, ends)
        later = await p.claim(
            hospital,
            "LIFE-P2",
            WORKER,
            day(2025, 5, 20),
            admitted="2025-05-12",
            discharged="2025-05-14",
        )
        assert later["outcome"] == "settled"
        year = D(settled["ytd_fund_paid"]) + D(later["amounts"]["fund_payment"])
        assert D(later["ytd_fund_paid"]) == year
        # the read side finds each from its key: a person's from the person's partition, a
        # hospital's from its code's, a claim's by asking every partition
        status, totals = await med.get_json(f"/accumulators?person={person}")
        assert status == 200 and D(totals["2025"]["fund"]) == year
        status, record = await med.get_json(f"/claims?hospital={hospital}&claim_id=LIFE-P2")
        assert status == 200 and record["status"] == "settled" and record["person"] == person
        status, registered = await med.get_json(f"/hospitals?code={hospital}")
        assert status == 200 and registered["code"] == hospital
        other = citizen_id("320102", date(1990, 2, 3), 77)
        body = claim_body(
            hospital,
            "LIFE-P1",
            other,
            example_lines(),
            admitted="2025-05-12",
            discharged="2025-05-14",
        )
        await p.send(
            m.CLAIMS.named(code=hospital),
            "LIFE-P1",
            m.ClaimSubmitted.model_validate(body),
            day(2025, 5, 21),
        )
        _, stolen = await p.until(
            m.SETTLEMENTS.named(code=hospital),
            m.SettlementResult,
            lambda xs: len(xs) == 2,
            claim_id="LIFE-P1",
        )
        assert stolen["reasons"] == ["duplicate_claim_different_body"]
    finally:
        await r.aclose()


ENROLLMENT = _keys("enrollment")
FOLLOWERS = (
    # (service, subscription, the events it reads), in the order events pass on
    ("contributions", "enrollment", en.EVENTS.name),
    ("unemployment-subsidies", "enrollment", en.EVENTS.name),
    ("unemployment-subsidies", "contributions", cc.EVENTS.name),
    ("welfare", "unemployment", u.EVENTS.name),
    ("contributions", "unemployment", u.EVENTS.name),
    ("contributions", "welfare", w.EVENTS.name),
    ("unemployment-subsidies", "welfare", w.EVENTS.name),
)


async def _passed_on(p: Story) -> None:
    """Every service that reads the other services' events has read all of them and published
    what it decided, twice over (what one publishes another reads). Medical settlement only
    projects them. Counted since each process started: none of these was restarted."""
    for _ in range(2):
        for name, sub, topic in FOLLOWERS:
            svc = p.services[name]

            async def done(svc: Any = svc, sub: str = sub, topic: str = topic) -> bool:
                seen = await svc.metrics()
                read = seen.sum("shebao_records_total", subscription=sub) - seen.sum(
                    "shebao_records_total", subscription=sub, outcome="stale"
                )
                total = await p.offsets.total(topic)
                return read >= total and not seen.sum("shebao_outbox_pending")

            await wait_until(done, timeout=90)


ENROLLMENT_INPUTS = [
    en.COMMANDS.name,
    en.WORK.name,  # the card numbers' holders (and, partitioned, the hand-offs)
    en.EVENTS.name,
    cc.EVENTS.name,
    m.EVENTS.name,
    u.EVENTS.name,
    w.EVENTS.name,
]
ENROLLMENT_PUBLISHED = [en.EVENTS.name, en.WORK.name, dlq_name(en.COMMANDS.name)]


async def test_enrollment_rebuilt_from_its_decisions(platform: Story, infra: Any) -> None:
    """Enrollment's Redis wiped and rebuilt from what its commands published (and its lifetime
    record replayed from every service's events): persons (their citizen IDs and names opened
    from the seals on PersonRegistered), employers, card numbers, lifetime records, coverage
    counters, offsets and the commands' dedupe marks equal the original key by key; neither the
    rebuild nor the service started on it publishes anything or decides a command again.

    The stories registered employers and persons, started, ended and changed employments,
    enrolled residents and moved a worker; here a person of its own adds what they did not:
    a card issued and replaced, a resend (dropped), a command id reused for another body
    (refused, id_conflict), a refusal by a rule, and a death."""
    p = platform
    enr = p.services["enrollment"]
    elder = citizen_id("320106", date(1958, 6, 6), 73)
    nj, at = "320100", day(2025, 4, 8)
    commands = [
        en.RegisterPerson(
            citizen_id=elder,
            name="陈静",
            hukou_region=nj,
            residence=en.Residence.URBAN,
            registered_on=date(2024, 5, 6),
        ),
        en.EnrolResidentMedical(citizen_id=elder, region=nj, start_date=date(2025, 1, 1)),
        en.IssueCard(citizen_id=elder, card_number="E32010673", issued_on=date(2025, 2, 3)),
    ]
    for n, cmd in enumerate(commands):
        await p.send(en.COMMANDS.name, elder, cmd, at, ce_id=f"enrollment-rebuild-{n}")
    # the card's command again (a resend), and its id for another card (refused)
    await p.send(en.COMMANDS.name, elder, commands[2], at, ce_id="enrollment-rebuild-2")
    other = en.IssueCard(citizen_id=elder, card_number="E32010674", issued_on=date(2025, 2, 3))
    await p.send(en.COMMANDS.name, elder, other, at, ce_id="enrollment-rebuild-2")
    later = [
        en.ReplaceCard(
            citizen_id=elder,
            card_number="E32010675",
            issued_on=date(2025, 3, 4),
            reason=en.CardReplacement.LOST,
        ),
        commands[0],  # registered already: refused by the rule
        en.RecordDeath(citizen_id=elder, date_of_death=date(2025, 4, 1)),
    ]
    for n, cmd in enumerate(later, start=3):
        await p.send(en.COMMANDS.name, elder, cmd, at, ce_id=f"enrollment-rebuild-{n}")
    who = ref(elder)
    await p.until(en.EVENTS.name, en.PersonDeceased, bool, person=who)
    rejected = await p.until(
        en.EVENTS.name,
        en.CommandRejected,
        lambda xs: (
            {x["command_id"] for x in xs} >= {"enrollment-rebuild-2", "enrollment-rebuild-4"}
        ),
    )
    reasons = {x["command_id"]: x["reason"] for x in rejected if "rebuild" in x["command_id"]}
    assert reasons == {
        "enrollment-rebuild-2": "id_conflict",
        "enrollment-rebuild-4": "person_already_registered",
    }
    cards = await p.of(en.EVENTS.name, en.CardIssued, person=who)
    assert [c["card_number"] for c in cards] == ["E32010673", "E32010675"]  # the resend: once
    # no event carries the citizen ID or the name in clear
    assert not [
        r
        for r in await read_all(p.bootstrap, en.EVENTS.name)
        if elder.encode() in r.value or "陈静".encode() in r.value
    ]

    # every service done with what enrollment published, and with what that made the others
    # publish (so nothing new reaches the lifetime record while it is rebuilt), then enrollment
    # done with everything
    await _passed_on(p)
    inputs = ENROLLMENT_INPUTS
    await p.followed("enrollment", inputs, "its commands and every service's events")

    published = ENROLLMENT_PUBLISHED
    r = aioredis.Redis.from_url(enr.redis_url)
    try:
        before, ends = await _rebuilt(p, r, "enrollment", published)
        person = before[f"{ENROLLMENT}:s:person:{who}"]
        # the person as deciding wrote it, the seals opened again by the rebuild
        assert elder.encode() in person and "陈静".encode() in person
        assert b'"deceased_on":"2025-04-01"' in person
        for key in (
            "s:card:E32010673",
            "s:card:E32010675",
            f"s:lifetime:{who}",
            f"s:lifetime:{ref(WORKER)}",
            "s:employer:91320100MA00000101",
            f"c:coverage:{nj}",
            "off:commands",
            "off:lifetime",
            "dd:enrollment-rebuild-0",
        ):
            assert f"{ENROLLMENT}:{key}" in before, key
        # the reused id's mark is its first body's: a resend of the card is dropped again
        assert before[f"{ENROLLMENT}:dd:enrollment-rebuild-2"] is not None

        await _resumed_quietly(p, "enrollment", inputs, published, ends)
    finally:
        await r.aclose()


async def test_welfare_rebuilt_from_its_decisions(platform: Story, infra: Any) -> None:
    """Welfare's Redis wiped and rebuilt from what it published (its events, and its work
    topic's closes, triggers and directory entries): households, spells of support, persons,
    regions, directories, totals, offsets and marks equal the original key by key, and neither
    the rebuild nor the service started on it publishes anything (nobody is paid again)."""
    p = platform
    nj = "320100"
    x, y, z = (citizen_id("320102", date(1960, 3, 1), n) for n in (61, 62, 63))
    # besides the rural household's story (an application, a month paid, a price subsidy): a
    # household and a 特困 person in Nanjing, a grant and its resend (which decides nothing), a
    # month paid, a review that lets one member go, and a stop
    await p.send(
        w.COMMANDS.name,
        "NJ-LIFE-1",
        w.ApplyForAllowance(
            household_id="NJ-LIFE-1",
            region=nj,
            residence=w.Residence.URBAN,
            members=[x, y],
            monthly_income=D("600.00"),
            assets_within_limit=True,
            applied_on=date(2025, 2, 10),
        ),
        day(2025, 2, 10),
    )
    await p.send(
        w.COMMANDS.name,
        z,
        w.ApplyForSupport(
            citizen_id=z,
            region=nj,
            residence=w.Residence.RURAL,
            unable_to_work=True,
            no_income=True,
            no_supporter=True,
            self_care=w.SelfCare.PARTIAL,
            applied_on=date(2025, 2, 10),
        ),
        day(2025, 2, 10),
    )
    grant = w.GrantTemporaryAssistance(
        household_id="NJ-LIFE-1",
        grant_id="NJ-LS-1",
        amount=D("1000.00"),
        on=date(2025, 3, 5),
        reason="fire",
    )
    await p.send(w.COMMANDS.name, "NJ-LIFE-1", grant, day(2025, 3, 5))
    await p.send(w.COMMANDS.name, "NJ-LIFE-1", grant, day(2025, 3, 5, 11))  # another command id
    await p.send(
        w.COMMANDS.name, nj, w.ClosePaymentMonth(region=nj, month="2025-03"), day(2025, 4, 1)
    )
    paid = await p.until(w.EVENTS.name, w.AssistancePaid, lambda xs: len(xs) == 2, region=nj)
    assert sorted(x["amount"] for x in paid) == ["1600.00", "1730.00"]  # (1100-300)x2; 1430+300
    await p.send(
        w.COMMANDS.name,
        "NJ-LIFE-1",
        w.ReviewHousehold(
            household_id="NJ-LIFE-1", members=[x], monthly_income=D("300.00"), on=date(2025, 4, 10)
        ),
        day(2025, 4, 10),
    )
    await p.send(
        w.COMMANDS.name,
        z,
        w.StopSupport(citizen_id=z, on=date(2025, 4, 30), reason=w.StopReason.DECEASED),
        day(2025, 4, 30),
    )
    await p.until(w.EVENTS.name, w.AllowanceStopped, bool, region=nj)
    await p.until(
        w.EVENTS.name,
        w.RecipientStatusChanged,
        lambda xs: len(xs) == 2,
        status="none",
        region=nj,
    )
    assert len(await p.of(w.EVENTS.name, w.TemporaryAssistancePaid, region=nj)) == 1
    inputs = [w.COMMANDS.name, w.WORK.name, u.EVENTS.name]
    await p.followed("welfare", inputs, "every command and payment")

    published = [w.EVENTS.name, w.WORK.name]
    r = aioredis.Redis.from_url(p.services["welfare"].redis_url)
    try:
        before, ends = await _rebuilt(p, r, "welfare", published)
        prefix = _keys("welfare")
        for kind in ("case:NJ-LIFE-1", "case:SQ-DB-1", f"case:support:{ref(z)}"):
            assert f"{prefix}:s:{kind}" in before, kind
        assert any(k.startswith(f"{prefix}:s:person:") for k in before)
        assert any(k.startswith(f"{prefix}:s:region:") for k in before)
        assert any(k.startswith(f"{prefix}:s:directory:") for k in before)
        assert f"{prefix}:c:paid:{nj}:2025-03" in before
        assert any(k.startswith(f"{prefix}:dd:") for k in before)
        assert b'"case":null' in before[f"{prefix}:s:person:{ref(y)}"]  # y left at the review
        await _resumed_quietly(p, "welfare", inputs, published, ends)
    finally:
        await r.aclose()


UNEMPLOYMENT = _keys("unemployment-subsidies")
STATS_BUREAUS = ("s320100", "s321300")
UNEMPLOYMENT_INPUTS = [
    en.EVENTS.name,
    cc.EVENTS.name,
    w.EVENTS.name,
    u.COMMANDS.name,
    u.WORK.name,
    u.WORK.name,  # read by two subscriptions: the payment runs', and the commands handed on
    *(u.CPI.named(code=c) for c in STATS_BUREAUS),
]
UNEMPLOYMENT_PUBLISHED = [
    u.EVENTS.name,
    u.WORK.name,
    *(u.ANSWERS.named(code=c) for c in STATS_BUREAUS),
]


async def test_unemployment_subsidies_rebuilt_from_its_decisions(
    platform: Story, infra: Any
) -> None:
    """Unemployment subsidies' Redis wiped and rebuilt from what it published (its events, its
    work items and its answers to the bureaus): spells, payments, closes, prices, the directory
    and the paid totals equal the original key by key, and neither the rebuild nor the service
    started on it publishes anything (no benefit is granted, stopped or paid again)."""
    p = platform
    wx, nj = "320200", "320100"
    mover = citizen_id("320502", date(1990, 9, 9), 51)  # granted in Wuxi by the moving story
    # a payment run in Wuxi, a release that triggers nothing, a refusal, a stop by a job centre
    await p.send(
        u.COMMANDS.name, wx, u.ClosePaymentMonth(region=wx, month="2025-01"), day(2025, 2, 2)
    )
    (paid,) = await p.until(u.EVENTS.name, u.BenefitPaid, bool, person=ref(mover))
    assert (paid["month"], paid["months_left"]) == ("2025-01", 11)
    await p.send(
        u.CPI.named(code="s320100"), nj, cpi_release(nj, "2025-02", "2.1", "1.0"), day(2025, 3, 12)
    )
    await p.until(u.ANSWERS.named(code="s320100"), u.CpiAccepted, bool, month="2025-02")
    stranger = citizen_id("320102", date(1991, 1, 1), 77)  # enrollment never registered
    await p.send(
        u.COMMANDS.name,
        stranger,
        u.RegisterUnemployed(citizen_id=stranger, region=nj, registered_on=date(2025, 3, 3)),
        day(2025, 3, 3),
    )
    await p.until(u.EVENTS.name, u.CommandRejected, bool, reason="person_not_registered")
    await p.send(
        u.COMMANDS.name,
        mover,
        u.StopBenefit(citizen_id=mover, on=date(2025, 2, 20), cause=u.RecordedCause.EMIGRATED),
        day(2025, 2, 20),
    )
    (stopped,) = await p.until(u.EVENTS.name, u.BenefitStopped, bool, person=ref(mover))
    assert (stopped["cause"], stopped["months_left"]) == ("emigrated", 11)

    inputs, published = UNEMPLOYMENT_INPUTS, UNEMPLOYMENT_PUBLISHED
    await p.followed("unemployment-subsidies", inputs, "every input")
    r = aioredis.Redis.from_url(p.services["unemployment-subsidies"].redis_url)
    try:
        before, ends = await _rebuilt(p, r, "unemployment-subsidies", published)
        for kind in ("person", "benefit", "region", "prices", "directory"):
            assert any(k.startswith(f"{UNEMPLOYMENT}:s:{kind}:") for k in before), kind
        totals = await r.hgetall(f"{UNEMPLOYMENT}:c:paid:{nj}:2025-01")
        assert totals[b"benefit_fen"] == b"190000" and totals[b"subsidy_fen"] == b"9167"
        assert any(k.startswith(f"{UNEMPLOYMENT}:dd:") for k in before)  # the commands' marks
        await _resumed_quietly(p, "unemployment-subsidies", inputs, published, ends)
    finally:
        await r.aclose()


async def test_contributions_rebuilt_from_its_decisions(platform: Story, infra: Any) -> None:
    """Contributions's Redis wiped and rebuilt from what it published (its events, and its work
    topic's fan-out, assessment lines, judgements and the facts it follows from enrollment):
    persons' facts and accounts, employers and their ledgers, wage sheets, assessments, the
    regions' directories and clocks, offsets and marks equal the original key by key, and
    neither the rebuild nor the service started on it publishes anything (nothing is assessed,
    booked or credited again).

    The stories closed months, booked employers' and persons' payments, credited the
    unemployment fund's and the government's payments, and moved a worker; here the first
    story's worker's new employer declares his March wage, March is closed, the declaration is
    corrected (a second revision), and two commands the rules refuse add refusals."""
    p = platform
    nj, later = "320100", "91320100MA00000102"  # the first story's worker's second employer
    for wage, at in ((D("9000.00"), day(2025, 3, 28)), (D("9500.00"), day(2025, 4, 2))):
        declared = cc.DeclareWages(
            employer=later,
            month="2025-03",
            wages=[cc.WageLine(person=ref(WORKER), wage=wage)],
        )
        await p.send(cc.COMMANDS.name, later, declared, at)
        if wage == D("9000.00"):  # Nanjing's contributions were closed through 2024-12
            await p.until(cc.EVENTS.name, cc.WagesDeclared, bool, employer=later)
            for month, after in (("2025-01", 2), ("2025-02", 3), ("2025-03", 4)):
                close = cc.ClosePeriod(region=nj, month=month)
                await p.send(cc.COMMANDS.name, nj, close, day(2025, after, 1))
            await p.until(
                cc.EVENTS.name, cc.AssessmentIssued, bool, employer=later, period="2025-03"
            )
    revised = await p.until(
        cc.EVENTS.name,
        cc.AssessmentIssued,
        lambda xs: any(x["revision"] == 2 for x in xs),
        employer=later,
        period="2025-03",
    )
    assert [x["revision"] for x in revised] == [1, 2]
    await p.send(cc.COMMANDS.name, nj, cc.ClosePeriod(region=nj, month="2019-01"), day(2025, 4, 9))
    stranger = ref(citizen_id("320102", date(1970, 1, 1), 99))
    advance = cc.AdvanceContributions(person=stranger, advance_id="ADV-LIFE-1", funded_by="fund")
    await p.send(cc.COMMANDS.name, stranger, advance, day(2025, 4, 9))
    refused = await p.until(
        cc.EVENTS.name,
        cc.CommandRejected,
        lambda xs: (
            {x["command_type"].rsplit(".", 1)[1] for x in xs}
            >= {"ClosePeriod", "AdvanceContributions"}
        ),
    )
    assert {x["reason"] for x in refused} >= {"period_already_closed", "person_not_known"}

    # contributions done with everything (nothing new reaches it: what the two refusals publish
    # nobody decides on; and not _passed_on: welfare was restarted by its own rebuild's test)
    collections = [cc.COLLECTIONS.named(code=c) for c in TAX_BUREAUS]
    inputs = [
        en.EVENTS.name,  # read by two subscriptions: enrollment and transfers
        en.EVENTS.name,
        cc.COMMANDS.name,
        cc.WORK.name,
        u.EVENTS.name,
        w.EVENTS.name,
        *collections,
    ]
    await p.followed("contributions", inputs, "its commands, work, reports and events")

    published = [
        cc.EVENTS.name,
        cc.WORK.name,
        *(cc.ASSESSMENTS.named(code=c) for c in TAX_BUREAUS),
        dlq_name(cc.COMMANDS.name),
        *(dlq_name(t) for t in collections),
    ]
    r = aioredis.Redis.from_url(p.services["contributions"].redis_url)
    try:
        before, ends = await _rebuilt(p, r, "contributions", published)
        prefix = _keys("contributions")
        for kind in ("person", "account", "employer", "ledger", "wages", "assessment"):
            assert any(k.startswith(f"{prefix}:s:{kind}:") for k in before), kind
        for kind in ("directory", "clock"):
            assert any(k.startswith(f"{prefix}:s:{kind}:") for k in before), kind
        assert f"{prefix}:s:account:{ref(WORKER)}" in before
        for sub in ("enrollment", "transfers", "commands", "work", "collections"):
            assert f"{prefix}:off:{sub}" in before, sub
        assert any(k.startswith(f"{prefix}:dd:") for k in before)
        await _resumed_quietly(p, "contributions", inputs, published, ends)
    finally:
        await r.aclose()


async def test_contributions_moves_to_a_partitioned_layout_by_a_rebuild(
    platform: Story, infra: Any
) -> None:
    """Contributions, the service with the most state, from one slot to a state partitioned by
    input partition (for a Redis Cluster): the rebuild, told STATE_LAYOUT=partitioned, writes
    the same state, offsets and marks, each value in the slot of its owner (a person's with his
    reference, an employer's, its wage sheets' and assessments' with its code, a directory
    shard's with "region:shard", a clock's with its region). Started partitioned, it reads
    nothing again, and decides on: a month closed, its assessment paid by a report keyed by the
    collection id (so handed to the employer's partition), the worker credited."""
    p = platform
    name = "contributions"
    svc = p.services[name]
    nj, later = "320100", "91320100MA00000102"  # as in the test before
    collections = [cc.COLLECTIONS.named(code=c) for c in TAX_BUREAUS]
    inputs = [en.EVENTS.name, en.EVENTS.name, cc.COMMANDS.name, cc.WORK.name]
    inputs += [u.EVENTS.name, w.EVENTS.name, *collections]
    published = [
        cc.EVENTS.name,
        cc.WORK.name,
        *(cc.ASSESSMENTS.named(code=c) for c in TAX_BUREAUS),
        dlq_name(cc.COMMANDS.name),
        *(dlq_name(t) for t in collections),
    ]
    r = aioredis.Redis.from_url(svc.redis_url)
    try:
        # (left running by the test before, which read nothing since)
        spread, ends = await _moved_to_partitions(p, r, name, published)

        def where(kind: str, ident: str) -> int:
            return _where(spread, kind, ident)

        worker = ref(WORKER)
        assert where("person", worker) == default_partition(worker, PARTITIONS)
        assert where("account", worker) == default_partition(worker, PARTITIONS)
        for kind, ident in (("employer", later), ("ledger", later), ("wages", f"{later}:2025-03")):
            assert where(kind, ident) == default_partition(later, PARTITIONS), kind
        assert where("clock", nj) == default_partition(nj, PARTITIONS)
        shards = [k for k in spread if f":s:directory:{nj}:" in k]
        assert shards and all(
            _partition_of(k) == default_partition(k.split(":s:directory:")[1], PARTITIONS)
            for k in shards
        )
        assert len({_partition_of(k) for k in spread if ":s:" in k}) > PARTITIONS // 2

        await _resumed_quietly(p, name, inputs, published, ends)
        # decides on partitioned: April closed and assessed, paid by a report keyed by its
        # collection id (not the employer code: the employer's partition books it)
        await p.send(
            cc.COMMANDS.name, nj, cc.ClosePeriod(region=nj, month="2025-04"), day(2025, 5, 1)
        )
        (issued,) = await p.until(
            cc.EVENTS.name, cc.AssessmentIssued, bool, employer=later, period="2025-04"
        )
        paid = cc.EmployerContributionsCollected(
            collection_id="LIFE-PART-2025-04",
            employer=later,
            month="2025-04",
            amount=D(issued["amount_due"]),
        )
        bureau = issued["bureau"]
        await p.send(cc.COLLECTIONS.named(code=bureau), paid.collection_id, paid, day(2025, 5, 6))
        (booked,) = await p.until(
            cc.EVENTS.name, cc.PaymentBooked, bool, collection_id="LIFE-PART-2025-04"
        )
        assert booked["outcome"] == "settled"
        await p.until(
            cc.EVENTS.name, cc.ContributionCredited, bool, person=worker, period="2025-04"
        )
        # the read side finds the worker and the employer from their keys
        status, person = await svc.get_json(f"/persons?ref={worker}")
        assert status == 200 and person["last_credited"] == "2025-04"
        status, employer = await svc.get_json(f"/employers?code={later}")
        (april,) = [a for a in employer["assessments"] if a["period"] == "2025-04"]
        assert status == 200 and april["paid"] == issued["amount_due"]
        status, clock = await svc.get_json(f"/regions?region={nj}")
        assert status == 200 and clock["last_closed"] == "2025-04"
    finally:
        await r.aclose()


async def test_enrollment_moves_to_a_partitioned_layout_by_a_rebuild(
    platform: Story, infra: Any
) -> None:
    """Enrollment, whose commands come keyed by citizen ID and whose persons are kept by their
    reference, from one slot to a state partitioned by input partition (for a Redis Cluster):
    the rebuild, told STATE_LAYOUT=partitioned, writes the same persons, employers, card
    numbers' holders, lifetime records, counters, offsets and marks, each value in the slot of
    its owner (a person's and his lifetime record's with his reference, an employer's with its
    code, a card number's holder with the number). Started partitioned, it reads nothing again
    and decides on: a person registered by citizen ID is handed to his reference's partition,
    hired by an employer kept on another, issued a card whose number is kept on a third (the
    number claimed and granted), and refused a number the rebuild holds for someone else."""
    p = platform
    name = "enrollment"
    svc = p.services[name]
    r = aioredis.Redis.from_url(svc.redis_url)
    try:
        # enrollment done with everything (the lifetime record follows every service's events)
        await _quiet(p, r, name, ENROLLMENT_INPUTS)
        spread, ends = await _moved_to_partitions(p, r, name, ENROLLMENT_PUBLISHED)

        def where(kind: str, ident: str) -> int:
            return _where(spread, kind, ident)

        elder, employer = ref(citizen_id("320106", date(1958, 6, 6), 73)), "91320100MA00000101"
        for kind, ident in (("person", elder), ("lifetime", elder), ("person", ref(WORKER))):
            assert where(kind, ident) == default_partition(ident, PARTITIONS), (kind, ident)
        assert where("employer", employer) == default_partition(employer, PARTITIONS)
        for number in ("E32010673", "E32010675"):
            assert where("card", number) == default_partition(number, PARTITIONS)
        assert len({_partition_of(k) for k in spread if ":s:" in k}) > PARTITIONS // 2

        await _resumed_quietly(p, name, ENROLLMENT_INPUTS, ENROLLMENT_PUBLISHED, ends)

        # a newcomer whose citizen ID, employer and card number each go to another partition
        # than his reference
        def apart(cid: str) -> bool:
            return default_partition(cid, PARTITIONS) != default_partition(ref(cid), PARTITIONS)

        newcomer = next(
            cid
            for n in range(80, 200)
            if apart(cid := citizen_id("320104", date(1992, 8, 8), n))
            and default_partition(ref(cid), PARTITIONS) != default_partition(employer, PARTITIONS)
        )
        home = default_partition(ref(newcomer), PARTITIONS)
        number = next(
            f"P{i:08d}" for i in range(100) if default_partition(f"P{i:08d}", PARTITIONS) != home
        )
        at, nj = day(2025, 6, 2), "320100"
        for n, cmd in enumerate(
            [
                en.RegisterPerson(
                    citizen_id=newcomer,
                    name="周新",
                    hukou_region=nj,
                    residence=en.Residence.URBAN,
                    registered_on=date(2025, 6, 1),
                ),
                en.StartEmployment(
                    citizen_id=newcomer,
                    employer=employer,
                    start_date=date(2025, 6, 1),
                    monthly_wage=D("7200.00"),
                ),
                en.IssueCard(citizen_id=newcomer, card_number=number, issued_on=date(2025, 6, 2)),
            ]
        ):
            await p.send(en.COMMANDS.name, newcomer, cmd, at, ce_id=f"enrollment-partitioned-{n}")
        who = ref(newcomer)
        (issued,) = await p.until(en.EVENTS.name, en.CardIssued, bool, person=who)
        assert issued["card_number"] == number
        # (once issued: a card's round trip is not ordered with his commands sent meanwhile)
        replace = en.ReplaceCard(
            citizen_id=newcomer,
            card_number="E32010673",  # the elder's, held for him by the rebuild
            issued_on=date(2025, 6, 2),
            reason=en.CardReplacement.DAMAGED,
        )
        await p.send(en.COMMANDS.name, newcomer, replace, at, ce_id="enrollment-partitioned-3")
        (refused,) = await p.until(
            en.EVENTS.name, en.CommandRejected, bool, command_id="enrollment-partitioned-3"
        )
        assert refused["reason"] == "card_number_in_use" and refused["person"] == who
        (hired,) = await p.of(en.EVENTS.name, en.EmploymentStarted, person=who)
        assert hired["employer"] == employer
        on_work = await read_all(p.bootstrap, en.WORK.name)
        kinds = {dict(x.headers)["ce_type"].decode().rsplit(".", 1)[1] for x in on_work}
        assert {"CommandForwarded", "CardNumberClaimed", "CardNumberGranted"} <= kinds
        # the read side finds each from its key; no hand-off carried the ID or the name
        status, person = await svc.get_json(f"/persons?citizen_id={newcomer}")
        assert status == 200 and person["card"]["number"] == number
        assert person["employment"]["employer"] == employer
        status, known = await svc.get_json(f"/employers?code={employer}")
        assert status == 200 and known["code"] == employer
        assert not [
            x for x in on_work if newcomer.encode() in x.value or "周新".encode() in x.value
        ]
    finally:
        await r.aclose()


async def test_unemployment_subsidies_moves_to_a_partitioned_layout_by_a_rebuild(
    platform: Story, infra: Any
) -> None:
    """Unemployment subsidies from one slot to a state partitioned by input partition (for a
    Redis Cluster, as a nation's insured persons need): the rebuild, told STATE_LAYOUT=
    partitioned, writes the same state, counters, offsets and marks, each value in the slot of
    its owner (a person's file and benefit with his reference, a region and its prices with
    the region code, a directory shard with "region:shard", the directory entries a person's
    records published among them). Started partitioned, it reads nothing again and decides on:
    a job centre's command keyed by citizen ID is handed to the person's partition and answered
    under its own id, and a close keyed otherwise than by its region is refused by name."""
    p = platform
    name = "unemployment-subsidies"
    svc = p.services[name]
    nj, wx = "320100", "320200"
    mover = citizen_id("320502", date(1990, 9, 9), 51)  # granted in Wuxi, stopped since
    r = aioredis.Redis.from_url(svc.redis_url)
    try:
        await _quiet(p, r, name, UNEMPLOYMENT_INPUTS)
        spread, ends = await _moved_to_partitions(p, r, name, UNEMPLOYMENT_PUBLISHED)

        def where(kind: str, ident: str) -> int:
            return _where(spread, kind, ident)

        who = ref(mover)
        for kind in ("person", "benefit"):
            assert where(kind, who) == default_partition(who, PARTITIONS), kind
        for kind, region in (("region", wx), ("prices", nj)):
            assert where(kind, region) == default_partition(region, PARTITIONS), kind
        shards = [k for k in spread if ":s:directory:" in k]
        assert shards and all(
            _partition_of(k) == default_partition(k.split(":s:directory:")[1], PARTITIONS)
            for k in shards
        )

        await _resumed_quietly(p, name, UNEMPLOYMENT_INPUTS, UNEMPLOYMENT_PUBLISHED, ends)
        # the mover's benefit was stopped: a second stop, keyed by his citizen ID, is handed
        # to his reference's partition (when the ID's is another) and refused there by name
        stop = u.StopBenefit(citizen_id=mover, on=date(2025, 6, 2), cause=u.RecordedCause.EMIGRATED)
        await p.send(u.COMMANDS.name, mover, stop, day(2025, 6, 2), ce_id="unemployment-part-1")
        (refused,) = await p.until(
            u.EVENTS.name, u.CommandRejected, bool, command_id="unemployment-part-1"
        )
        assert (refused["reason"], refused["person"]) == ("not_receiving", who)
        assert refused["command_type"] == u.StopBenefit.TYPE
        close = u.ClosePaymentMonth(region=nj, month="2025-05")
        other = key_elsewhere(nj, PARTITIONS)
        await p.send(u.COMMANDS.name, other, close, day(2025, 6, 2), ce_id="unemployment-part-2")
        (misrouted,) = await p.until(
            u.EVENTS.name, u.CommandRejected, bool, command_id="unemployment-part-2"
        )
        assert misrouted["reason"] == "command_key_mismatch"
        # the read side finds the person's file and benefit from the key alone
        status, benefit = await svc.get_json(f"/persons?ref={who}")
        assert status == 200 and benefit["person"] == who and not benefit["receiving"]
    finally:
        await r.aclose()


WELFARE_INPUTS = [w.COMMANDS.name, w.WORK.name, u.EVENTS.name]
WELFARE_PUBLISHED = [w.EVENTS.name, w.WORK.name]


async def test_welfare_moves_to_a_partitioned_layout_by_a_rebuild(
    platform: Story, infra: Any
) -> None:
    """Welfare from one slot to a state partitioned by input partition (for a Redis Cluster,
    as a nation's recipients need): the rebuild, told STATE_LAYOUT=partitioned, writes the same
    state, counters, offsets and marks, each value in the slot of its owner (a household's case
    with its id, a 特困 person's support and every person with the person's reference, a region
    with its code, a directory shard with "region:shard"). Started partitioned, it reads
    nothing again and decides on: a household whose members are kept on other partitions has
    them claimed there and is decided at its own; a support application keyed by citizen ID is
    handed to the person's partition; a close keyed otherwise than by its region is refused by
    name; the read side finds a household from its id alone."""
    p = platform
    name = "welfare"
    svc = p.services[name]
    nj = "320100"
    z = citizen_id("320102", date(1960, 3, 1), 63)  # supported in Nanjing, deceased since
    r = aioredis.Redis.from_url(svc.redis_url)
    try:
        await _quiet(p, r, name, WELFARE_INPUTS)
        spread, ends = await _moved_to_partitions(p, r, name, WELFARE_PUBLISHED)

        def where(kind: str, ident: str) -> int:
            return _where(spread, kind, ident)

        assert where("case", "NJ-LIFE-1") == default_partition("NJ-LIFE-1", PARTITIONS)
        assert where("case", f"support:{ref(z)}") == default_partition(ref(z), PARTITIONS)
        assert where("person", ref(z)) == default_partition(ref(z), PARTITIONS)
        assert where("region", nj) == default_partition(nj, PARTITIONS)
        shards = [k for k in spread if ":s:directory:" in k]
        assert shards and all(
            _partition_of(k) == default_partition(k.split(":s:directory:")[1], PARTITIONS)
            for k in shards
        )

        await _resumed_quietly(p, name, WELFARE_INPUTS, WELFARE_PUBLISHED, ends)
        # a household of two whose members are kept on other partitions than its own
        home = default_partition("NJ-PART-1", PARTITIONS)
        members = [
            c
            for n in range(70, 400)
            if default_partition(ref(c := citizen_id("320102", date(1962, 5, 1), n)), PARTITIONS)
            != home
        ][:2]
        apply = w.ApplyForAllowance(
            household_id="NJ-PART-1",
            region=nj,
            residence=w.Residence.URBAN,
            members=members,
            monthly_income=D("500.00"),
            assets_within_limit=True,
            applied_on=date(2025, 5, 10),
        )
        await p.send(w.COMMANDS.name, "NJ-PART-1", apply, day(2025, 5, 10), ce_id="welfare-part-1")
        (decided,) = await p.until(
            w.EVENTS.name, w.AllowanceDecided, bool, household_id="NJ-PART-1"
        )
        assert decided["monthly_allowance"] == "1700.00"  # (1100 - 250) x 2
        claims = await p.of(w.WORK.name, w.ApplicationClaim, household_id="NJ-PART-1")
        (back,) = [c for c in claims if not c["claim"]]  # to the household, both held
        assert len(claims) == 3 and back["held"] == [ref(c) for c in members]
        # one of them applies for support in another household's stead: refused, he is in one
        taken = members[0]
        support = w.ApplyForSupport(
            citizen_id=taken,
            region=nj,
            residence=w.Residence.URBAN,
            unable_to_work=True,
            no_income=True,
            no_supporter=True,
            self_care=w.SelfCare.FULL,
            applied_on=date(2025, 5, 12),
        )
        await p.send(w.COMMANDS.name, taken, support, day(2025, 5, 12), ce_id="welfare-part-2")
        (refused,) = await p.until(
            w.EVENTS.name, w.CommandRejected, bool, command_id="welfare-part-2"
        )
        assert (refused["reason"], refused["person"]) == (
            "member_in_another_household",
            ref(taken),
        )
        assert refused["command_type"] == w.ApplyForSupport.TYPE
        close = w.ClosePaymentMonth(region=nj, month="2025-05")
        other = key_elsewhere(nj, PARTITIONS)
        await p.send(w.COMMANDS.name, other, close, day(2025, 6, 2), ce_id="welfare-part-3")
        (misrouted,) = await p.until(
            w.EVENTS.name, w.CommandRejected, bool, command_id="welfare-part-3"
        )
        assert misrouted["reason"] == "command_key_mismatch"
        # the read side finds the household from its id alone
        status, household = await svc.get_json("/households?id=NJ-PART-1")
        assert status == 200 and household["members"] == [ref(c) for c in members]
        # and the partitioned state, claims and holds among it, rebuilds from its log alike
        await _quiet(p, r, name, WELFARE_INPUTS)
        partitioned = f"shebao:{name}:{{{name}/*}}"
        after, ends = await _rebuilt(p, r, name, WELFARE_PUBLISHED, partitioned)
        assert b'"case":"NJ-PART-1"' in after[_spread_key(after, "person", ref(members[1]))]
        await _resumed_quietly(p, name, WELFARE_INPUTS, WELFARE_PUBLISHED, ends)
    finally:
        await r.aclose()


async def test_no_citizen_id_outside_its_place(platform: Story) -> None:
    """Issue 18's scan, after every story and rebuild above, with the platform still up: every
    internal topic, the services' captured logs, their metrics pages and the Redis keys hold
    no valid 18-character citizen ID. The offices' commands, partners' and dead-letter topics
    may (`shebao_devinfra.pii.id_allowed`), and so may enrollment's register of persons (its
    state values: the one store that must name a person; its other keys, every key name, and
    every other service's values are scanned). Each source must have been read, and the scanner
    finds an ID planted in a scratch topic and a scratch text."""
    p = platform
    registry = all_topics()
    admin = AIOKafkaAdminClient(**client_options(bootstrap=p.bootstrap))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
    finally:
        await admin.close()
    internal = internal_topics(registry, existing)
    # every service's events topic is scanned; only the offices' commands that name a person
    # by ID are left out of the platform's own topics
    assert {f"shebao.{n}.events.v1" for n in NAMES} <= set(internal)
    left_out = {n for n in existing if n.startswith("shebao.") and not n.endswith(".dlq")}
    assert left_out - set(internal) == {en.COMMANDS.name, u.COMMANDS.name, w.COMMANDS.name}

    topics = await scan_topics(p.bootstrap, internal)
    logs = scan_text("logs", {s.name: s.log_text() for s in p.services.values()})
    metrics = await scan_metrics({s.name: s.url for s in p.services.values()})
    redis_url = p.services["enrollment"].redis_url
    # (enrollment's state in one slot, or partitioned by the test before)
    register_keys = [f"{ENROLLMENT}:s:"]
    register_keys += [f"shebao:enrollment:{{enrollment/{n}}}:s:" for n in range(PARTITIONS)]
    keys, register = await scan_redis(redis_url, registry, values_exempt=register_keys)
    # the dead letters keep the partners' records as they came, but never an ID in the headers
    dead = await scan_topics(
        p.bootstrap,
        sorted(n for n in existing if n.endswith(".dlq")),
        source="dead-letter headers",
        records=False,
    )
    scans = [topics, logs, metrics, keys, dead]
    for scan in scans[:4]:
        assert scan.read > 0, f"{scan.source}: nothing read"
    assert topics.read > 1000 and logs.read > 100
    assert register > 0  # what the exemption is for: the register names its persons by ID
    assert [s for s in scans if s.findings] == [], "\n".join(str(s) for s in scans)
    print("\n" + "\n".join(str(s) for s in scans) + f"\nenrollment's register: {register} values")

    # the positive controls: an ID planted where the scanner looks is found, masked
    planted = citizen_id("110105", date(1949, 12, 31), 2)
    scratch = "scratch.pii-control"
    k, v, h = message_record(
        en.RegisterPerson(
            citizen_id=planted,
            name="对照",
            hukou_region="110100",
            residence=en.Residence.URBAN,
            registered_on=date(2024, 1, 1),
        ),
        message_id="pii-control",
        time=day(2024, 1, 1),
        topic=scratch,
    )
    await p.prod.send_and_wait(scratch, key=k, value=v, headers=h)
    control = await scan_topics(p.bootstrap, [scratch])
    assert control.read == 1 and [f.citizen_id for f in control.findings] == [
        mask_citizen_id(planted)
    ]
    text = scan_text("control", {"line": f'{{"message": "refused {planted.lower()}"}}'})
    assert [f.citizen_id for f in text.findings] == [mask_citizen_id(planted)]
    assert planted not in str(control) + str(text)
