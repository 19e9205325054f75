"""Contributions' part of the story: a month of wages, the close, the tax bureaus."""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal
from typing import Any

from shebao_contracts import contributions as cc
from shebao_partners import employer_collected

from ..kit import caught_up, kind_of
from .desk import Desk
from .output import head, say, yuan
from .setting import BUREAUS, MONTH, REGIONS, D, at
from .world import World


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
    await desk.flush()
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
    await desk.flush()
    bureau_topics = {region: cc.ASSESSMENTS.named(code=b) for region, b in BUREAUS.items()}
    with_staff = {code for code in codes if roster[code]}

    def employer_assessments() -> dict[str, dict[str, Any]]:
        """Latest revision per employer, as the bureaus see it."""
        out: dict[str, dict[str, Any]] = {}
        for topic in bureau_topics.values():
            for a in w.tap.of(topic, "TaxAssessmentIssued"):
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
        persons = [a for a in w.tap.of(topic, "TaxAssessmentIssued") if a["payer"] == "person"]
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
    await desk.flush()
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
            employer_collected(cid, code, MONTH, amount),
            code,
            cc.COLLECTIONS.named(code=bureau),
            at(15),
        )
    await desk.send(
        employer_collected(stray[1], stray[2], stray[3], D("812.40")),
        stray[2],
        cc.COLLECTIONS.named(code=stray[0]),
        at(15),
    )
    await desk.flush()
    settled = [a for code, a in dues.items() if code != short]
    credits = sum(a["person_count"] for a in settled)
    await w.tap.until(
        lambda: (
            w.tap.count(cc.EVENTS.name, "PaymentBooked") >= len(dues)
            and w.tap.count(cc.EVENTS.name, "ContributionCredited") >= credits
            and w.tap.count(cc.EVENTS.name, "ArrearsBooked") >= 1
            and w.tap.count(cc.ASSESSMENTS.named(code=stray[0]), "TaxCollectionRejected") >= 1
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
        for r in w.tap.of(topic, "TaxCollectionRejected"):
            say(f"back to {bureau} on {topic}: TaxCollectionRejected {r['reason']}")
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
