"""Unemployment subsidies' part of the story: lay-offs in Wuxi, benefits, a price spike.

Wuxi (320200) is the demo's fourth region, kept apart so that its year of history does not
touch the other stories: four workers insured through 2024 (the scheduler closes each month,
the tax bureau pays it), three laid off and one who quits at the end of January 2025. They go
to the job centre; the February and March payment runs pay them; one is re-employed on 10
March; the statistics bureau's February index crosses the trigger and March falls back.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from shebao_common.pseudonym import Pseudonymizer
from shebao_common.settings import ServiceSettings
from shebao_contracts import contributions as cc
from shebao_contracts import enrollment as c
from shebao_contracts import unemployment as u
from shebao_partners import citizen_id, employer_code

from ..kit import caught_up
from ..testing import wait_until
from .desk import Desk
from .output import head, say, yuan
from .setting import WUXI, WUXI_BUREAU, WUXI_STATS
from .world import World


def _at(y: int, mo: int, d: int, hour: int = 9) -> datetime:
    return datetime(y, mo, d, hour, tzinfo=UTC)


def _after(month: str, day: int = 1) -> datetime:
    y, mo = int(month[:4]), int(month[5:])
    return _at(y + mo // 12, mo % 12 + 1, day)


async def unemployment_months(desk: Desk, w: World, story: dict[str, Any]) -> None:
    head("Unemployment subsidies: lay-offs in Wuxi, benefits, a price spike")
    employer = employer_code(WUXI, 20250131)
    workers = {
        name: citizen_id("320211", date(1984, 3, n), 100 + n)
        for n, name in enumerate(("Li", "Wang", "Zhao", "Sun"), start=1)
    }
    ref = Pseudonymizer(ServiceSettings().pseudonym_secret()).person_ref
    names = {ref(cid): name for name, cid in workers.items()}
    await desk.send(
        c.RegisterEmployer(
            employer=employer,
            name="无锡示例纺织厂",
            region=WUXI,
            ownership=c.Ownership.PRIVATE,
            risk_class=3,
            registered_on=date(2023, 6, 1),
        ),
        employer,
        at=_at(2023, 12, 20),
    )
    await desk.flush()

    async def registered() -> bool:  # an office hires once the employer is registered
        return (await w.enrollment.get_json(f"/employers?code={employer}"))[0] == 200

    await wait_until(registered, timeout=60)
    for name, cid in workers.items():
        await desk.send(
            c.RegisterPerson(
                citizen_id=cid,
                name=name,
                hukou_region=WUXI,
                residence=c.Residence.URBAN,
                registered_on=date(2023, 12, 20),
            ),
            cid,
            at=_at(2023, 12, 20),
        )
        await desk.send(
            c.StartEmployment(
                citizen_id=cid,
                employer=employer,
                start_date=date(2024, 1, 1),
                monthly_wage=Decimal("7000.00"),
            ),
            cid,
            at=_at(2024, 1, 2),
        )
    await desk.flush()
    await caught_up(w.enrollment, w.inputs["enrollment"], w.offsets, "the Wuxi hires")
    await caught_up(w.contributions, w.inputs["contributions"], w.offsets, "their contracts")

    # a year of contributions: each month closed, assessed and paid in full
    months = [f"2024-{n:02d}" for n in range(1, 13)] + ["2025-01"]
    bureau = cc.ASSESSMENTS.named(code=WUXI_BUREAU)
    for month in months:
        await desk.send(
            cc.ClosePeriod(region=WUXI, month=month), WUXI, cc.COMMANDS.name, _after(month)
        )
    await desk.flush()
    await w.tap.until(
        lambda: len({a["period"] for a in w.tap.of(bureau, "TaxAssessmentIssued")}) == len(months),
        "a year of Wuxi assessments",
    )
    for a in w.tap.of(bureau, "TaxAssessmentIssued"):
        await desk.send(
            cc.EmployerContributionsCollected(
                collection_id=f"WX-{a['period']}",
                employer=employer,
                month=a["period"],
                amount=Decimal(a["amount_due"]),
            ),
            employer,
            cc.COLLECTIONS.named(code=WUXI_BUREAU),
            _after(a["period"], 10),
        )
    await desk.flush()
    await w.tap.until(
        lambda: w.tap.count(bureau, "TaxPaymentBooked") >= len(months), "the bureau's payments"
    )
    say(
        f"Wuxi: {len(workers)} workers at {employer}, insured {months[0]} to {months[-1]}: "
        f"{len(months)} months assessed and paid to {WUXI_BUREAU}"
    )

    # the end of January: three laid off, one quits
    for name, cid in workers.items():
        how = c.Separation.VOLUNTARY if name == "Sun" else c.Separation.INVOLUNTARY
        await desk.send(
            c.EndEmployment(
                citizen_id=cid, employer=employer, end_date=date(2025, 1, 31), separation=how
            ),
            cid,
            at=_at(2025, 1, 31, 10),
        )
    await desk.flush()
    # the job centre sees them once enrollment has recorded the ends of their employments (a
    # registration read before that is refused no_employment_ended: "wait and resend")
    svc = w.unemployment
    await caught_up(w.enrollment, w.inputs["enrollment"], w.offsets, "the Wuxi lay-offs")
    await caught_up(svc, w.inputs["unemployment"], w.offsets, "the Wuxi histories")
    for cid in workers.values():
        await desk.send(
            u.RegisterUnemployed(citizen_id=cid, region=WUXI, registered_on=date(2025, 2, 5)),
            cid,
            u.COMMANDS.name,
            _at(2025, 2, 5),
        )
    await desk.flush()
    await w.tap.until(
        lambda: (
            w.tap.count(u.EVENTS.name, "BenefitGranted")
            + w.tap.count(u.EVENTS.name, "CommandRejected")
            >= len(workers)
        ),
        "the job centre's answers",
    )
    for g in w.tap.of(u.EVENTS.name, "BenefitGranted"):
        say(
            f"  {names[g['person']]:<5} registered {g['registered_on']}: {g['credited_months']}"
            f" months credited -> {g['months_left']} months of benefit from {g['first_month']}"
        )
    for r in w.tap.of(u.EVENTS.name, "CommandRejected"):
        say(f"  {names.get(r['person'] or '', '?'):<5} refused {r['reason']}: {r['detail']}")

    # the payment runs of February and March; Zhao finds work on 10 March
    await desk.send(
        u.ClosePaymentMonth(region=WUXI, month="2025-02"), WUXI, u.COMMANDS.name, _at(2025, 3, 1)
    )
    await desk.send(
        c.StartEmployment(
            citizen_id=workers["Zhao"],
            employer=employer,
            start_date=date(2025, 3, 10),
            monthly_wage=Decimal("7200.00"),
        ),
        workers["Zhao"],
        at=_at(2025, 3, 10),
    )
    await desk.flush()
    await w.tap.until(lambda: w.tap.count(u.EVENTS.name, "BenefitStopped") >= 1, "a stop")
    await desk.send(
        u.ClosePaymentMonth(region=WUXI, month="2025-03"), WUXI, u.COMMANDS.name, _at(2025, 4, 1)
    )
    # the statistics bureau: February +3.2% (the trigger is 3%), March +2.1%
    for month, cpi, when in (
        ("2025-02", "3.2", _at(2025, 3, 12)),
        ("2025-03", "2.1", _at(2025, 4, 12)),
    ):
        await desk.send(
            u.CpiReleased(region=WUXI, month=month, cpi_yoy=cpi, food_cpi_yoy="2.4"),
            WUXI,
            u.CPI.named(code=WUXI_STATS),
            when,
        )
    await desk.flush()
    answers = u.ANSWERS.named(code=WUXI_STATS)
    await w.tap.until(lambda: w.tap.count(answers, "CpiAccepted") >= 2, "the bureau's answers")
    await caught_up(svc, w.inputs["unemployment"], w.offsets, "the payments")
    for s in w.tap.of(u.EVENTS.name, "BenefitStopped"):
        _, now = await svc.get_json(f"/persons?ref={s['person']}")
        who, left = names[s["person"]], now["carried_months"]
        say(f"  {who:<5} stopped {s['on']} ({s['cause']}), {left} months kept for later")
    for a in sorted(w.tap.of(answers, "CpiAccepted"), key=lambda a: a["month"]):
        verdict = "triggers the price subsidy" if a["triggered"] else "no subsidy"
        say(f"  CPI {a['month']} ({a['variant']}): {verdict}")
    for t in w.tap.of(u.EVENTS.name, "PriceSubsidyTriggered"):
        say(f"  price subsidy {t['period']}: {yuan(t['urban_amount'])} a person (1/12 of 低保)")
    paid = w.tap.of(u.EVENTS.name, "BenefitPaid")
    for month in ("2025-02", "2025-03"):
        paid_to = sorted(names[p["person"]] for p in paid if p["month"] == month)
        _, totals = await svc.get_json(f"/regions?code={WUXI}&period={month}")
        say(
            f"  {month}: benefit paid to {', '.join(paid_to)}; Wuxi paid {yuan(totals['benefit'])}"
            f" in benefits, {yuan(totals['medical'])} in medical contributions"
            + (f", {yuan(totals['subsidy'])} in price subsidies" if "subsidy" in totals else "")
        )
    fund = [
        x
        for x in w.tap.of(cc.EVENTS.name, "ContributionCredited")
        if x["source"] == "unemployment_fund"
    ]
    say(
        f"  contributions credited {len(fund)} medical months paid by the unemployment fund,"
        " so the recipients stay covered for hospital stays"
    )
