"""Welfare's part of the story: 低保 households and a 特困 person in Wuxi, paid month by month.

Wuxi (320200), the unemployment story's region: in January 2025 the civil-affairs office
approves three households (one rural) and refuses a fourth, and an old farmer alone gets
extreme-poverty support; the payment runs of February to April pay them; one household's income
rises in March (a review) and another moves away (a stop). The statistics bureau's April index
triggers the price subsidy, which welfare pays its recipients of April; the February trigger of
the unemployment story reached welfare before February's run, which pays it with the month. The
farmer, in the resident medical scheme, is in
hospital in April: medical settlement knows the status from welfare and adds medical assistance.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from shebao_contracts import enrollment as c
from shebao_contracts import medical as m
from shebao_contracts import unemployment as u
from shebao_contracts import welfare as wf
from shebao_partners import citizen_id, claim_body, claim_line, hospital_registration

from ..kit import caught_up
from ..testing import wait_until
from .desk import Desk
from .output import head, say, yuan
from .setting import WUXI, WUXI_HOSPITAL, WUXI_STATS
from .world import World

MONTHS = ("2025-02", "2025-03", "2025-04")


def _at(mo: int, d: int, hour: int = 9) -> datetime:
    return datetime(2025, mo, d, hour, tzinfo=UTC)


def _after(month: str) -> datetime:
    """The first day after the month: when the scheduler closes it."""
    return _at(int(month[5:]) + 1, 1, 2)


async def welfare_months(desk: Desk, w: World, story: dict[str, Any]) -> None:
    head("Welfare: 低保 households and a 特困 farmer in Wuxi, payments, assistance")
    svc, inputs = w.welfare, w.inputs["welfare"]

    def ids(n: int, seq: int) -> list[str]:  # a household's members, born 1970 to 2015
        return [citizen_id("320213", date(1970 + 15 * k, 5, 1 + n), seq + k) for k in range(n)]

    households: dict[str, tuple[wf.Residence, list[str], str, str]] = {  # id: ..., why
        "WX-DB-001": (wf.Residence.URBAN, ids(3, 210), "1200.00", "a mother and two children"),
        "WX-DB-002": (wf.Residence.URBAN, ids(1, 220), "300.00", "a widower alone"),
        "WX-DB-003": (wf.Residence.RURAL, ids(2, 230), "500.00", "a farming couple"),
        "WX-DB-004": (wf.Residence.URBAN, ids(2, 240), "2300.00", "a couple, both working"),
    }
    farmer = citizen_id("320206", date(1951, 8, 14), 311)
    hospital, level, _ = WUXI_HOSPITAL

    # the farmer is a registered rural resident in the resident medical scheme since January
    await desk.send(
        c.RegisterPerson(
            citizen_id=farmer,
            name="周老汉",
            hukou_region=WUXI,
            residence=c.Residence.RURAL,
            registered_on=date(2019, 4, 2),
        ),
        farmer,
        at=_at(1, 6),
    )
    await desk.send(
        c.EnrolResidentMedical(citizen_id=farmer, region=WUXI, start_date=date(2025, 1, 1)),
        farmer,
        at=_at(1, 6),
    )
    await desk.send(
        hospital_registration(hospital, level, WUXI, name=f"Wuxi {level.value} hospital"),
        hospital,
        m.COMMANDS.name,
        _at(1, 6),
    )
    # January at the civil-affairs office: four household applications, one for support
    for n, (hid, (residence, members, income, _)) in enumerate(households.items()):
        await desk.send(
            wf.ApplyForAllowance(
                household_id=hid,
                region=WUXI,
                residence=residence,
                members=members,
                monthly_income=Decimal(income),
                assets_within_limit=True,
                applied_on=date(2025, 1, 13 + n),
            ),
            hid,
            wf.COMMANDS.name,
            _at(1, 13 + n),
        )
    await desk.send(
        wf.ApplyForSupport(
            citizen_id=farmer,
            region=WUXI,
            residence=wf.Residence.RURAL,
            unable_to_work=True,
            no_income=True,
            no_supporter=True,
            self_care=wf.SelfCare.PARTIAL,
            applied_on=date(2025, 1, 20),
        ),
        farmer,
        wf.COMMANDS.name,
        _at(1, 20),
    )
    await desk.flush()

    async def registered() -> bool:
        return (await w.medical.get_json(f"/hospitals?code={hospital}"))[0] == 200

    await asyncio.gather(
        caught_up(svc, inputs, w.offsets, "the January decisions"),
        caught_up(w.enrollment, w.inputs["enrollment"], w.offsets, "the farmer's enrolment"),
        wait_until(registered, timeout=60),
    )
    await w.tap.drained(w.offsets)
    decided = {d["household_id"]: d for d in w.tap.of(wf.EVENTS.name, "AllowanceDecided")}
    refused = {r["household_id"]: r for r in w.tap.of(wf.EVENTS.name, "CommandRejected")}
    for hid, (residence, _, income, who) in households.items():
        if hid in refused:
            r = refused[hid]
            say(f"  {hid}  {who}, income {yuan(income)}: refused {r['reason']} ({r['detail']})")
            continue
        d = decided[hid]
        say(
            f"  {hid}  {who} ({residence.value}), income {yuan(income)}: "
            f"{yuan(d['standard'])} - {yuan(d['per_capita_income'])} a head x {d['members']}"
            f" = {yuan(d['monthly_allowance'])} a month from {d['from_month']}"
        )
    (s,) = w.tap.of(wf.EVENTS.name, "SupportDecided")
    say(
        f"  特困       a farmer of 73 alone, partial self-care (rural): {yuan(s['basic'])} basic"
        f" + {yuan(s['care'])} care = {yuan(s['monthly_support'])} a month from {s['from_month']}"
    )

    # The farmer's stay in April: once medical settlement has followed the farmer's scheme and
    # status, the hospital's claim goes in while the payment runs go on.
    await caught_up(w.medical, w.inputs["medical"], w.offsets, "medical settlement to follow")
    lines = [
        claim_line("treatment", "5600.00", "4"),
        claim_line("class_a_drug", "1480.00", "20"),
        claim_line("class_b_drug", "900.00", "3"),
        claim_line("outside_scope", "260.00"),
    ]
    body = claim_body(
        hospital, "ZY-0415", farmer, lines, admitted="2025-04-07", discharged="2025-04-15"
    )
    await desk.send_raw(
        m.CLAIMS.named(code=hospital),
        "ZY-0415",
        json.dumps(body).encode(),
        m.ClaimSubmitted.TYPE,
        _at(4, 16, 10),
        f"/partners/{hospital}",
    )

    # the payment runs of February and March; in March one income rises, one household moves
    await desk.send(
        wf.ClosePaymentMonth(region=WUXI, month="2025-02"),
        WUXI,
        wf.COMMANDS.name,
        _after("2025-02"),
    )
    review = wf.ReviewHousehold(
        household_id="WX-DB-001",
        members=households["WX-DB-001"][1],
        monthly_income=Decimal("1800.00"),
        on=date(2025, 3, 18),
    )
    await desk.send(review, review.household_id, wf.COMMANDS.name, _at(3, 18))
    stop = wf.StopAllowance(
        household_id="WX-DB-002", on=date(2025, 3, 25), reason=wf.StopReason.MOVED_AWAY
    )
    await desk.send(stop, stop.household_id, wf.COMMANDS.name, _at(3, 25))
    await desk.send(
        wf.ClosePaymentMonth(region=WUXI, month="2025-03"),
        WUXI,
        wf.COMMANDS.name,
        _after("2025-03"),
    )
    await desk.flush()
    await caught_up(svc, inputs, w.offsets, "the review and the stop")
    # April's run once the review and the stop are in; then the bureau's April index (+3.4%)
    await desk.send(
        wf.ClosePaymentMonth(region=WUXI, month="2025-04"),
        WUXI,
        wf.COMMANDS.name,
        _after("2025-04"),
    )
    await desk.flush()
    await caught_up(svc, inputs, w.offsets, "April's payment run")
    cpi = u.CpiReleased(region=WUXI, month="2025-04", cpi_yoy="3.4", food_cpi_yoy="2.9")
    await desk.send(
        cpi,
        WUXI,
        u.CPI.named(code=WUXI_STATS),
        _at(5, 12),
    )
    await desk.flush()
    answers = u.ANSWERS.named(code=WUXI_STATS)
    await w.tap.until(
        lambda: any(a["month"] == "2025-04" for a in w.tap.of(answers, "CpiAccepted")),
        "the bureau's answer",
    )
    await caught_up(w.unemployment, w.inputs["unemployment"], w.offsets, "the April trigger")
    await caught_up(svc, inputs, w.offsets, "the price subsidy")
    settlements = m.SETTLEMENTS.named(code=hospital)
    await w.tap.until(
        lambda: any(b["claim_id"] == "ZY-0415" for b in w.tap.of(settlements, "SettlementResult")),
        "the hospital's answer",
    )
    await w.tap.drained(w.offsets)

    (r,) = [d for d in w.tap.of(wf.EVENTS.name, "AllowanceDecided") if d["from_month"] == "2025-04"]
    say(
        f"  WX-DB-001  income {yuan(review.monthly_income)} from {review.on} (a part-time job):"
        f" {yuan(r['monthly_allowance'])} a month from {r['from_month']}"
    )
    (st,) = w.tap.of(wf.EVENTS.name, "AllowanceStopped")
    say(
        f"  {st['household_id']}  stopped {st['on']} ({st['reason']}): last paid {st['last_month']}"
    )
    paid = w.tap.of(wf.EVENTS.name, "AssistancePaid")
    for month in MONTHS:
        to = sorted(p["household_id"] or "特困" for p in paid if p["month"] == month)
        say(f"  {month}: paid {', '.join(to)}")
    for a in w.tap.of(answers, "CpiAccepted"):
        if a["month"] == cpi.month:
            verdict = "triggers the price subsidy" if a["triggered"] else "no subsidy"
            say(f"  CPI {cpi.month} +{cpi.cpi_yoy}% ({a['variant']}): {verdict}")
    for period in sorted({p["period"] for p in w.tap.of(wf.EVENTS.name, "PriceSubsidyPaid")}):
        subsidies = [
            p for p in w.tap.of(wf.EVENTS.name, "PriceSubsidyPaid") if p["period"] == period
        ]
        each = {yuan(p["amount"]) for p in subsidies}
        when = "when the index came" if period == cpi.month else "with the month's payment run"
        say(
            f"  price subsidy {period}: welfare paid {', '.join(sorted(each))} to each of"
            f" {len(subsidies)} recipients (the members of the cases paid {period}, {when})"
        )
    pension = w.tap.of(wf.EVENTS.name, "PensionPaidOnBehalf")
    say(
        f"  the government paid the lowest resident-pension tier for {len(pension)} recipients"
        f" in 2025 ({yuan(pension[0]['amount'])} each)"
        if pension
        else "  no resident-pension tier paid on anybody's behalf"
    )

    (ans,) = [b for b in w.tap.of(settlements, "SettlementResult") if b["claim_id"] == "ZY-0415"]
    a = ans["amounts"]
    say(
        f"  ZY-0415 at {hospital} ({level.value}), the farmer 2025-04-07 to 04-15:"
        f" {' '.join([ans['outcome'], *ans['reasons']])}"
        + (f", submitted {yuan(a['submitted'])}" if a else "")
    )
    if a:
        say(
            f"    resident medical fund {yuan(a['fund_payment'])}, serious illness"
            f" {yuan(a['serious_illness_payment'])}, medical assistance"
            f" {yuan(a['medical_assistance_payment'])}; the farmer pays"
            f" {yuan(a['patient_payable'])} (outside scope {yuan(a['outside_scope'])},"
            f" class-B self-pay {yuan(a['class_b_self_pay'])})"
        )

    # what welfare paid in Wuxi, month by month (GET /regions)
    say(
        f"  {'Wuxi':<9}{'households':>11}{'allowance':>12}{'supported':>10}{'support':>10}"
        f"{'subsidy':>10}"
    )
    for month in MONTHS:
        _, t = await svc.get_json(f"/regions?code={WUXI}&period={month}")
        subsidy = f"{yuan(t['subsidy'])}" if "subsidy" in t else "-"
        say(
            f"  {month:<9}{t.get('households', 0):>11}{yuan(t.get('allowance', '0')):>12}"
            f"{t.get('supported', 0):>10}{yuan(t.get('support', '0')):>10}{subsidy:>10}"
        )
    statuses = w.tap.count(wf.EVENTS.name, "RecipientStatusChanged")
    say(f"  {statuses} status changes published (medical settlement and unemployment follow them)")
