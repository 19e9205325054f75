"""Unemployment benefit and the price subsidy through the platform, on real Kafka and Redis.

Enrollment, contributions, unemployment-subsidies and medical settlement run as processes. The
test is the counters (enrollment commands), the scheduler (period closes, payment runs), the
Nanjing tax bureau (it pays every assessment), a job centre, the Nanjing statistics bureau and
a hospital. Four workers are hired on 1 January 2018 and insured for the twelve months of 2018;
three are laid off on 31 December, one quits. In 2019 the three register, are paid for January
to March, one is re-employed on 11 March; the price index crosses the Jiangsu trigger in
February and falls back in March. Every amount is worked out here from the parameters (benefit
1,650.00 a month; the fund's medical contribution 10% of 4,800.00 = 480.00; 低保 900.00, so a
triggered month is 900 / 12 = 75.00), not by calling the services' code.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from platform_story import platform as start

from shebao_common.pseudonym import Pseudonymizer
from shebao_contracts import contributions as cc
from shebao_contracts import enrollment as en
from shebao_contracts import medical as m
from shebao_contracts import unemployment as u
from shebao_contracts import welfare as w
from shebao_devinfra.kit import caught_up
from shebao_devinfra.testing import (
    read_all,
)
from shebao_partners import (
    citizen_id,
    claim_body,
    cpi_release,
    example_lines,
    hospital_registration,
    partner_headers,
)

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

NJ, TAX, STATS, HOSPITAL = "320100", "t320100", "s320100", "h320102001"
EMPLOYER = "91320100MA00000077"
PSEUDONYM_KEY = "e2e-unemployment-pseudonym-key-0123456789"
CST = timezone(timedelta(hours=8))
KEPT, LAID_OFF, REHIRED, QUIT = (
    citizen_id("320102", date(1985, 6, 1), n) for n in (11, 13, 15, 17)
)
BENEFIT, MEDICAL, SUBSIDY = Decimal("1650.00"), Decimal("480.00"), Decimal("75.00")


def day(y: int, mo: int, d: int, hour: int = 9) -> datetime:
    return datetime(y, mo, d, hour, tzinfo=CST)


def ref(cid: str) -> str:
    return Pseudonymizer(PSEUDONYM_KEY.encode()).person_ref(cid)


async def test_benefits_medical_months_and_the_price_subsidy(infra: Any, tmp_path: Path) -> None:
    partner = [
        cc.ASSESSMENTS.named(code=TAX),
        cc.COLLECTIONS.named(code=TAX),
        u.CPI.named(code=STATS),
        u.ANSWERS.named(code=STATS),
        m.CLAIMS.named(code=HOSPITAL),
        m.SETTLEMENTS.named(code=HOSPITAL),
    ]
    names = ("enrollment", "contributions", "unemployment-subsidies", "medical-settlement")
    follows = [
        en.EVENTS.name,
        cc.EVENTS.name,
        w.EVENTS.name,
        u.COMMANDS.name,
        u.WORK.name,
        u.CPI.named(code=STATS),
    ]
    async with start(
        infra, tmp_path, names, redis_db=11, key=PSEUDONYM_KEY, partner_topics=partner
    ) as p:
        services, prod, offsets = p.services, p.prod, p.offsets
        unemployment = services["unemployment-subsidies"]

        # -- 2018: four workers insured for twelve months, paid by the tax bureau ---------------
        t0 = day(2018, 1, 1)
        await p.send(
            en.COMMANDS.name,
            EMPLOYER,
            en.RegisterEmployer(
                employer=EMPLOYER,
                name="南京示例厂",
                region=NJ,
                ownership=en.Ownership.PRIVATE,
                risk_class=1,
                registered_on=date(2018, 1, 1),
            ),
            t0,
        )
        await p.until(en.EVENTS.name, en.EmployerRegistered, bool)
        for cid in (KEPT, LAID_OFF, REHIRED, QUIT):
            await p.send(
                en.COMMANDS.name,
                cid,
                en.RegisterPerson(
                    citizen_id=cid,
                    name="职工",
                    hukou_region=NJ,
                    residence=en.Residence.URBAN,
                    registered_on=date(2018, 1, 1),
                ),
                t0,
            )
            await p.send(
                en.COMMANDS.name,
                cid,
                en.StartEmployment(
                    citizen_id=cid,
                    employer=EMPLOYER,
                    start_date=date(2018, 1, 1),
                    monthly_wage=Decimal("6000.00"),
                ),
                t0,
            )
        await p.until(en.EVENTS.name, en.EmploymentStarted, lambda xs: len(xs) == 4)
        workers = [ref(cid) for cid in (KEPT, LAID_OFF, REHIRED, QUIT)]
        months = [f"2018-{n:02d}" for n in range(1, 13)]
        await p.insured_months(NJ, TAX, EMPLOYER, months, workers)

        # -- the end of 2018: three laid off, one quits; they register in January ----------------
        for cid, how in (
            (KEPT, en.Separation.INVOLUNTARY),
            (LAID_OFF, en.Separation.INVOLUNTARY),
            (REHIRED, en.Separation.INVOLUNTARY),
            (QUIT, en.Separation.VOLUNTARY),
        ):
            await p.send(
                en.COMMANDS.name,
                cid,
                en.EndEmployment(
                    citizen_id=cid, employer=EMPLOYER, end_date=date(2018, 12, 31), separation=how
                ),
                day(2018, 12, 31, 18),
            )
        await p.until(en.EVENTS.name, en.EmploymentEnded, lambda xs: len(xs) == 4)
        # the job centre registers them once the service has followed it all
        await caught_up(unemployment, follows, offsets, "the histories", timeout=90)
        for cid in (KEPT, LAID_OFF, REHIRED, QUIT):
            await p.send(
                u.COMMANDS.name,
                cid,
                u.RegisterUnemployed(citizen_id=cid, region=NJ, registered_on=date(2019, 1, 3)),
                day(2019, 1, 3),
            )
        granted = await p.until(u.EVENTS.name, u.BenefitGranted, lambda xs: len(xs) == 3)
        assert {(g["person"], g["credited_months"], g["months_left"]) for g in granted} == {
            (ref(cid), 12, 12) for cid in (KEPT, LAID_OFF, REHIRED)
        }
        (refused,) = await p.until(u.EVENTS.name, u.CommandRejected, lambda xs: len(xs) == 1)
        assert (refused["person"], refused["reason"]) == (ref(QUIT), "separation_voluntary")

        # -- January to March: payment runs; one re-employed on 11 March -------------------------
        for n in (1, 2):
            await p.send(
                u.COMMANDS.name,
                NJ,
                u.ClosePaymentMonth(region=NJ, month=f"2019-{n:02d}"),
                day(2019, n + 1, 1),
                ce_id=f"close-2019-{n:02d}",
            )
        await p.until(u.EVENTS.name, u.BenefitPaid, lambda xs: len(xs) == 6)
        await p.send(
            en.COMMANDS.name,
            REHIRED,
            en.StartEmployment(
                citizen_id=REHIRED,
                employer=EMPLOYER,
                start_date=date(2019, 3, 11),
                monthly_wage=Decimal("6000.00"),
            ),
            day(2019, 3, 11),
        )
        (stopped,) = await p.until(u.EVENTS.name, u.BenefitStopped, lambda xs: len(xs) == 1)
        assert (stopped["person"], stopped["cause"], stopped["months_left"]) == (
            ref(REHIRED),
            "reemployed",
            10,
        )
        march = u.ClosePaymentMonth(region=NJ, month="2019-03")
        await p.send(u.COMMANDS.name, NJ, march, day(2019, 4, 1), ce_id="close-2019-03")
        await p.send(u.COMMANDS.name, NJ, march, day(2019, 4, 1), ce_id="close-2019-03")  # resent
        await p.send(u.COMMANDS.name, NJ, march, day(2019, 4, 2), ce_id="close-2019-03-again")
        paid = await p.until(u.EVENTS.name, u.BenefitPaid, lambda xs: len(xs) >= 8)
        rejections = await p.until(u.EVENTS.name, u.CommandRejected, lambda xs: len(xs) == 2)
        assert sorted(x["reason"] for x in rejections) == [
            "month_already_closed",
            "separation_voluntary",
        ]

        # -- the statistics bureau: February crosses the trigger, March falls back ---------------
        for month, cpi in (("2019-01", "2.5"), ("2019-02", "3.4"), ("2019-03", "2.8")):
            nxt = int(month[5:]) + 1
            await p.send(
                u.CPI.named(code=STATS),
                NJ,
                cpi_release(NJ, month, cpi, "4.0"),
                day(2019, nxt, 12),
            )
        answers = await p.until(u.ANSWERS.named(code=STATS), u.CpiAccepted, lambda xs: len(xs) == 3)
        assert sorted((a["month"], a["triggered"]) for a in answers) == [
            ("2019-01", False),
            ("2019-02", True),
            ("2019-03", False),
        ]
        await p.send(
            u.CPI.named(code=STATS),
            NJ,
            cpi_release(NJ, "2019-02", "3.6", "4.0"),
            day(2019, 3, 20),
        )
        (late,) = await p.until(u.ANSWERS.named(code=STATS), u.CpiRejected, bool)
        assert late["reason"] == "period_already_paid"
        # what a bureau's system could get wrong: each answered by name, kept in the DLQ
        cpi = u.CPI.named(code=STATS)
        good = b'{"region": "320100", "month": "2019-04", "cpi_yoy": "3.1", "food_cpi_yoy": "1.0"}'
        mine, theirs = "/partners/" + STATS, "/partners/s320500"
        bad = {
            "malformed_json": (b'{"region": "320100", "month": ', mine),
            "schema_violation": (good.replace(b'"3.1"', b"3.1"), mine),
            "source_mismatch": (good, theirs),
        }
        for n, (body, source) in enumerate(bad.values()):
            headers = partner_headers(
                u.CpiReleased.TYPE, message_id=f"bad-{n}", time=day(2019, 5, 12), source=source
            )
            await prod.send_and_wait(cpi, key=NJ.encode(), value=body, headers=headers)
        refused = await p.until(u.ANSWERS.named(code=STATS), u.CpiRejected, lambda xs: len(xs) == 4)
        assert sorted(x["reason"] for x in refused) == sorted([*bad, "period_already_paid"])
        dead = await read_all(infra.kafka_bootstrap, cpi + ".dlq")
        assert sorted(dict(d.headers)["dlq-reason"].decode() for d in dead) == sorted(bad)
        subsidies = await p.until(u.EVENTS.name, u.PriceSubsidyPaid, lambda xs: len(xs) >= 3)

        # -- a hospital stay in February of a worker on benefit ----------------------------------
        registration = hospital_registration(HOSPITAL, "tertiary", NJ)
        await p.send(m.COMMANDS.name, HOSPITAL, registration, day(2019, 2, 1))
        claim = m.ClaimSubmitted.model_validate(
            claim_body(
                HOSPITAL,
                "C-2019-1",
                KEPT,
                example_lines(),
                admitted="2019-02-11",
                discharged="2019-02-15",
            )
        )
        await caught_up(
            services["medical-settlement"],
            [m.COMMANDS.name, en.EVENTS.name, cc.EVENTS.name, u.EVENTS.name],
            offsets,
            "the coverage",
            timeout=90,
        )
        await p.send(m.CLAIMS.named(code=HOSPITAL), "C-2019-1", claim, day(2019, 2, 16))
        (settled,) = await p.until(m.SETTLEMENTS.named(code=HOSPITAL), m.SettlementResult, bool)
        # settled on the employee scheme (refused membership_suspended before issue 14)
        assert settled["outcome"] == "settled", settled
        assert Decimal(settled["amounts"]["fund_payment"]) > 0

        # -- what was paid, to the fen, each once --------------------------------------------------
        await asyncio.sleep(2)  # anything paid twice would have arrived by now
        paid = await p.of(u.EVENTS.name, u.BenefitPaid)
        expected = {
            (ref(cid), month)
            for cid in (KEPT, LAID_OFF)
            for month in ("2019-01", "2019-02", "2019-03")
        } | {(ref(REHIRED), "2019-01"), (ref(REHIRED), "2019-02")}
        assert sorted((x["person"], x["month"]) for x in paid) == sorted(expected)
        assert {Decimal(x["amount"]) for x in paid} == {BENEFIT}
        medical = await p.of(u.EVENTS.name, u.MedicalContributionPaid)
        assert sorted((x["person"], x["month"], x["amount"]) for x in medical) == sorted(
            (person, month, str(MEDICAL)) for person, month in expected
        )
        subsidies = await p.of(u.EVENTS.name, u.PriceSubsidyPaid)
        assert sorted((x["person"], x["period"], x["amount"]) for x in subsidies) == sorted(
            (ref(cid), "2019-02", str(SUBSIDY)) for cid in (KEPT, LAID_OFF, REHIRED)
        )
        _, totals = await services["unemployment-subsidies"].get_json(
            f"/regions?code={NJ}&period=2019-03"
        )
        assert totals == {
            "benefit": str(2 * BENEFIT),
            "medical": str(2 * MEDICAL),
            "recipients": 2,
        }

        # -- contributions: the fund's medical months, credited once each ------------------------
        def fund_paid(xs: list[dict[str, Any]]) -> bool:
            return sum(x["source"] == "unemployment_fund" for x in xs) == len(expected)

        credited = await p.until(cc.EVENTS.name, cc.ContributionCredited, fund_paid)
        by_fund = [x for x in credited if x["source"] == "unemployment_fund"]
        assert sorted((x["person"], x["period"]) for x in by_fund) == sorted(expected)
        assert all([i["insurance"] for i in x["insurances"]] == ["medical"] for x in by_fund)
        _, kept = await services["contributions"].get_json(f"/persons?ref={ref(KEPT)}")
        medical_months = next(i for i in kept["insurances"] if i["insurance"] == "medical")
        # twelve by the employer, three by the fund
        assert medical_months["months"] == [
            *(f"2018-{n:02d}" for n in range(1, 13)),
            "2019-01",
            "2019-02",
            "2019-03",
        ]
