"""Social assistance through the platform, on real Kafka and Redis.

Enrollment, contributions, medical settlement, unemployment-subsidies and welfare run as
processes. The test is the counters (people registered and insured in resident medical), a
civil-affairs office (two households apply in January 2025, one's income changes in March, the
other moves away in March), the scheduler (welfare's payment runs for February to April), the
Nanjing statistics bureau (February's index crosses the trigger) and a hospital. Every amount
is worked out here from the parameters: the 低保 standard of 2025 is 1,100.00 a person and
month; the Jiangsu rule pays 1,100 / 12 = 91.67 at a CPI of 3% to under 5%; the government
pays the lowest resident-pension tier, 100.00, once a year for each recipient.
"""

from __future__ import annotations

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
from shebao_devinfra.testing import read_all
from shebao_partners import (
    citizen_id,
    claim_body,
    cpi_release,
    example_lines,
    hospital_registration,
)

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

NJ, STATS, HOSPITAL = "320100", "s320100", "h320102001"
KEY = "e2e-welfare-pseudonym-key-0123456789abcdef"
CST = timezone(timedelta(hours=8))
P1, P2, P3, OTHER = (citizen_id("320102", date(1962, 8, 1), n) for n in (21, 23, 25, 27))
D = Decimal


def day(y: int, mo: int, d: int, hour: int = 10) -> datetime:
    return datetime(y, mo, d, hour, tzinfo=CST)


def ref(cid: str) -> str:
    return Pseudonymizer(KEY.encode()).person_ref(cid)


async def test_households_paid_reviewed_stopped_and_medical_assistance(
    infra: Any, tmp_path: Path
) -> None:
    partner = [
        u.CPI.named(code=STATS),
        u.ANSWERS.named(code=STATS),
        m.CLAIMS.named(code=HOSPITAL),
        m.SETTLEMENTS.named(code=HOSPITAL),
    ]
    names = (
        "enrollment",
        "contributions",
        "medical-settlement",
        "unemployment-subsidies",
        "welfare",
    )
    async with start(
        infra, tmp_path, names, redis_db=12, key=KEY, partner_topics=partner
    ) as office:
        welfare, medical = office.services["welfare"], office.services["medical-settlement"]
        offsets = office.offsets

        # -- the counters: four residents insured in resident medical from January 2025 -----------
        for cid in (P1, P2, P3, OTHER):
            await office.send(
                en.COMMANDS.name,
                cid,
                en.RegisterPerson(
                    citizen_id=cid,
                    name="居民",
                    hukou_region=NJ,
                    residence=en.Residence.URBAN,
                    registered_on=date(2024, 12, 2),
                ),
                day(2024, 12, 2),
            )
            await office.send(
                en.COMMANDS.name,
                cid,
                en.EnrolResidentMedical(citizen_id=cid, region=NJ, start_date=date(2025, 1, 1)),
                day(2025, 1, 2),  # a year's scheme is joined from its first day
            )
        await office.send(
            m.COMMANDS.name,
            HOSPITAL,
            hospital_registration(HOSPITAL, "tertiary", NJ),
            day(2025, 1, 2),
        )

        # -- January: two households apply -------------------------------------------------------
        for household, members, income in (
            ("NJ-DB-1", [P1, P2], "600.00"),
            ("NJ-DB-2", [P3], "0.00"),
        ):
            await office.send(
                w.COMMANDS.name,
                household,
                w.ApplyForAllowance(
                    household_id=household,
                    region=NJ,
                    residence=w.Residence.URBAN,
                    members=members,
                    monthly_income=D(income),
                    assets_within_limit=True,
                    applied_on=date(2025, 1, 10),
                ),
                day(2025, 1, 10),
            )
        decided = await office.until(w.EVENTS.name, w.AllowanceDecided, lambda xs: len(xs) == 2)
        assert sorted(
            (x["household_id"], x["monthly_allowance"], x["from_month"]) for x in decided
        ) == [
            ("NJ-DB-1", "1600.00", "2025-02"),  # (1,100 - 600/2) x 2
            ("NJ-DB-2", "1100.00", "2025-02"),  # (1,100 - 0) x 1
        ]

        async def close(month: str, at: datetime) -> None:
            await office.send(w.COMMANDS.name, NJ, w.ClosePaymentMonth(region=NJ, month=month), at)

        await close("2025-02", day(2025, 3, 1))
        await office.until(w.EVENTS.name, w.AssistancePaid, lambda xs: len(xs) == 2)

        # -- February's index crosses the trigger: welfare pays its recipients -------------------
        await office.send(
            u.CPI.named(code=STATS),
            NJ,
            cpi_release(NJ, "2025-02", "3.2", "2.0"),
            day(2025, 3, 12),
        )
        subsidies = await office.until(w.EVENTS.name, w.PriceSubsidyPaid, lambda xs: len(xs) >= 3)

        # -- March: NJ-DB-1's income rises, NJ-DB-2 moves away ------------------------------------
        await office.send(
            w.COMMANDS.name,
            "NJ-DB-1",
            w.ReviewHousehold(
                household_id="NJ-DB-1",
                members=[P1, P2],
                monthly_income=D("1000.00"),
                on=date(2025, 3, 15),
            ),
            day(2025, 3, 15),
        )
        await office.send(
            w.COMMANDS.name,
            "NJ-DB-2",
            w.StopAllowance(
                household_id="NJ-DB-2", on=date(2025, 3, 20), reason=w.StopReason.MOVED_AWAY
            ),
            day(2025, 3, 20),
        )
        await office.until(w.EVENTS.name, w.AllowanceStopped, bool)
        # an office's household id that names a person's support (`support:<reference>`, the
        # case a 特困 person's support is kept as) is refused by name and dead-lettered, never
        # read as that case
        reserved = w.StopAllowance.model_construct(
            household_id=f"support:{ref(P3)}", on=date(2025, 3, 21), reason=w.StopReason.MOVED_AWAY
        )
        await office.send(
            w.COMMANDS.name, "support", reserved, day(2025, 3, 21), ce_id="welfare-reserved-1"
        )
        (bad,) = await office.until(
            w.EVENTS.name, w.CommandRejected, bool, command_id="welfare-reserved-1"
        )
        assert bad["reason"] == "household_id_reserved"
        dead = await read_all(infra.kafka_bootstrap, w.COMMANDS.dlq)
        assert [dict(d.headers)["dlq-reason"].decode() for d in dead] == ["household_id_reserved"]
        await close("2025-03", day(2025, 4, 1))
        await close("2025-04", day(2025, 5, 1))
        await close("2025-04", day(2025, 5, 2))  # a second close of the month: refused
        await office.until(w.EVENTS.name, w.AssistancePaid, lambda xs: len(xs) >= 5)
        await caught_up(
            welfare, [w.COMMANDS.name, w.WORK.name, u.EVENTS.name], offsets, "the payments"
        )

        # -- what welfare paid, to the fen, each once ---------------------------------------------
        paid = await office.of(w.EVENTS.name, w.AssistancePaid)
        assert sorted((x["household_id"], x["month"], x["amount"]) for x in paid) == [
            ("NJ-DB-1", "2025-02", "1600.00"),
            ("NJ-DB-1", "2025-03", "1600.00"),
            ("NJ-DB-1", "2025-04", "1200.00"),  # (1,100 - 1,000/2) x 2 from the month after
            ("NJ-DB-2", "2025-02", "1100.00"),
            ("NJ-DB-2", "2025-03", "1100.00"),  # March is its last month
        ]
        subsidies = await office.of(w.EVENTS.name, w.PriceSubsidyPaid)
        assert sorted((x["person"], x["period"], x["amount"]) for x in subsidies) == sorted(
            (ref(cid), "2025-02", "91.67") for cid in (P1, P2, P3)
        )
        pensions = await office.of(w.EVENTS.name, w.PensionPaidOnBehalf)
        assert sorted((x["person"], x["year"], x["amount"]) for x in pensions) == sorted(
            (ref(cid), 2025, "100.00") for cid in (P1, P2, P3)
        )
        refused = await office.of(w.EVENTS.name, w.CommandRejected)
        assert sorted(r["reason"] for r in refused) == [
            "household_id_reserved",
            "month_already_closed",
        ]
        _, february = await welfare.get_json(f"/regions?code={NJ}&period=2025-02")
        assert (february["allowance"], february["households"], february["subsidy"]) == (
            "2700.00",
            2,
            "275.01",
        )

        # -- medical assistance: a recipient's stay, a non-recipient's, one after the stop ---------
        await caught_up(
            medical,
            [m.COMMANDS.name, en.EVENTS.name, cc.EVENTS.name, u.EVENTS.name, w.EVENTS.name],
            offsets,
            "medical settlement to follow the statuses",
        )
        stays = {
            "C-REC": (P3, "2025-02-10", "2025-02-14"),
            "C-NON": (OTHER, "2025-02-10", "2025-02-14"),
            "C-AFTER": (P3, "2025-04-07", "2025-04-11"),
        }
        for claim_id, (patient, admitted, discharged) in stays.items():
            body = claim_body(
                HOSPITAL,
                claim_id,
                patient,
                example_lines(),
                admitted=admitted,
                discharged=discharged,
            )
            await office.send(
                m.CLAIMS.named(code=HOSPITAL),
                claim_id,
                m.ClaimSubmitted.model_validate(body),
                day(2025, 4, 15),
            )
        answers = await office.until(
            m.SETTLEMENTS.named(code=HOSPITAL), m.SettlementResult, lambda xs: len(xs) == 3
        )
        assert all(a["outcome"] == "settled" for a in answers), [
            (a["claim_id"], a["reasons"], a["detail"]) for a in answers
        ]
        assistance = {
            a["claim_id"]: Decimal(a["amounts"]["medical_assistance_payment"]) for a in answers
        }
        assert assistance["C-REC"] > 0
        assert assistance["C-NON"] == 0
        assert assistance["C-AFTER"] == 0
