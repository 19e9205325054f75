"""The city's report, from what the platform published: its topics (as the demo's reader saw
them) and the services' read side. The demo's own record of what it sent is used only to say
whether the platform's figures agree with it.

`gather` builds one JSON-able dict; `print_report` prints it; `page.render` makes the HTML.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from decimal import Decimal
from typing import Any

from shebao_contracts import contributions as cc
from shebao_contracts import enrollment as c
from shebao_contracts import medical as m
from shebao_contracts import unemployment as u
from shebao_contracts import welfare as wf

from ..testing import Service
from .city import City, last_day, month_of
from .output import head, say, yuan
from .setting import CITY, CITY_BUREAU, CITY_HOSPITALS, CITY_NAME, CITY_STATS, D
from .world import World

ZERO = D(0)
INSURANCES = [i.value for i in c.Insurance]


def _s(x: Decimal) -> str:
    return str(x.quantize(D("0.01")))


async def _region(svc: Service, period: str) -> dict[str, Any]:
    status, body = await svc.get_json(f"/regions?code={CITY}&period={period}")
    if status == 404:  # nothing paid in that period
        return {}
    if status != 200:
        raise RuntimeError(f"{svc.name} GET /regions answered {status}: {body}")
    return dict(body)


def _percentiles(samples: list[float]) -> dict[str, Any]:
    if not samples:
        return {"n": 0}
    xs = sorted(samples)

    def p(q: float) -> float:
        return xs[min(len(xs) - 1, max(0, math.ceil(q * len(xs)) - 1))]

    return {"n": len(xs), "p50": p(0.5), "p90": p(0.9), "p99": p(0.99), "max": xs[-1]}


async def gather(w: World, city: City, seconds: float, handled: dict[str, float]) -> dict[str, Any]:
    months = [month_of(s) for s in city.month_starts]
    tap = w.tap
    bureau_topic = cc.ASSESSMENTS.named(code=CITY_BUREAU)

    # coverage, from enrollment's read side
    on = last_day(city.month_starts[-1])
    _, cov = await w.enrollment.get_json(f"/coverage?region={CITY}&on={on}")
    (region,) = cov["regions"]
    coverage = [
        {
            "insurance": r["insurance"],
            "insured": r["insured"],
            "population": r["population"],
            "rate": r["rate"],
            "target": r["target"],
            "above": r["above_target"],
        }
        for r in region["insurances"]
    ]

    # contributions: what the bureau was asked to collect, and what the platform booked
    latest: dict[str, dict[str, Any]] = {}
    for a in tap.of(bureau_topic, "TaxAssessmentIssued"):
        held = latest.get(a["assessment_id"])
        if held is None or held["revision"] < a["revision"]:
            latest[a["assessment_id"]] = a
    booked: dict[str, Decimal] = {}
    for b in tap.of(bureau_topic, "TaxPaymentBooked"):
        booked[b["assessment_id"]] = max(booked.get(b["assessment_id"], ZERO), D(b["paid_total"]))
    assessed: dict[str, Decimal] = defaultdict(lambda: ZERO)
    collected: dict[str, Decimal] = defaultdict(lambda: ZERO)
    payers: dict[str, Counter[str]] = defaultdict(Counter)
    for aid, a in latest.items():
        assessed[a["period"]] += D(a["amount_due"])
        collected[a["period"]] += booked.get(aid, ZERO)
        payers[a["period"]][a["payer"]] += 1
    employers = set(city.employers)
    arrears = [x for x in tap.of(cc.EVENTS.name, "ArrearsBooked") if x.get("employer") in employers]
    rejected_collections = Counter(
        r["reason"] for r in tap.of(bureau_topic, "TaxCollectionRejected")
    )

    # the funds' income: what was credited to the city's payers, by insurance and period
    city_assessments = set(latest)
    income: dict[str, dict[str, Decimal]] = {i: defaultdict(lambda: ZERO) for i in INSURANCES}
    credited_people: dict[str, int] = Counter()
    for x in tap.of(cc.EVENTS.name, "ContributionCredited"):
        if x.get("assessment_id") in city_assessments:
            credited_people[x["period"]] += 1
            for ins in x["insurances"]:
                total = D(ins["employer_part"]) + D(ins["employee_part"]) + D(ins["subsidy"])
                income[ins["insurance"]][x["period"]] += total

    # the hospitals' monthly statements
    hospitals = []
    statement: dict[tuple[str, str], dict[str, Any]] = {}
    for code, level, _ in CITY_HOSPITALS:
        for s in tap.of(m.SETTLEMENTS.named(code=code), "MonthlyStatement"):
            statement[(code, s["month"])] = s
        rows = [statement.get((code, mo)) for mo in months]
        hospitals.append(
            {
                "hospital": code,
                "level": level.value,
                "settled": sum(r["claims_settled"] for r in rows if r),
                "rejected": sum(r["claims_rejected"] for r in rows if r),
                "cancelled": sum(r["claims_cancelled"] for r in rows if r),
                "fund": _s(sum((D(r["fund_payment"]) for r in rows if r), ZERO)),
                "serious": _s(sum((D(r["serious_illness_payment"]) for r in rows if r), ZERO)),
                "assistance": _s(
                    sum((D(r["medical_assistance_payment"]) for r in rows if r), ZERO)
                ),
                "fund_by_month": [_s(D(r["fund_payment"])) if r else "0.00" for r in rows],
                "annual_budget": rows[-1]["annual_budget"] if rows[-1] else None,
                "budget_used": rows[-1]["budget_used"] if rows[-1] else None,
            }
        )
    answers: list[tuple[int, dict[str, Any]]] = []
    for code, _, _ in CITY_HOSPITALS:
        answers += tap.stamped(m.SETTLEMENTS.named(code=code), "SettlementResult")
    outcomes = Counter(b["outcome"] for _, b in answers)
    reasons = Counter(r for _, b in answers if b["outcome"] != "settled" for r in b["reasons"])

    # benefits, assistance and subsidies, from the services' read side
    unemployment = {mo: await _region(w.unemployment, mo) for mo in months}
    welfare = {mo: await _region(w.welfare, mo) for mo in months}
    recipients = Counter(
        p["month"] for p in tap.of(u.EVENTS.name, "BenefitPaid") if p["region"] == CITY
    )
    granted = [g for g in tap.of(u.EVENTS.name, "BenefitGranted") if g["region"] == CITY]
    refused = Counter(
        r["reason"]
        for r in tap.of(u.EVENTS.name, "CommandRejected")
        if r.get("command_type", "").endswith("RegisterUnemployed")
    )
    released = {  # the bureau's releases, as they are on its topic
        x["month"]: x["cpi_yoy"] for x in tap.of(u.CPI.named(code=CITY_STATS), "CpiReleased")
    }
    cpi = [
        {"month": a["month"], "cpi": released.get(a["month"]), "triggered": a["triggered"]}
        for a in sorted(
            tap.of(u.ANSWERS.named(code=CITY_STATS), "CpiAccepted"), key=lambda a: a["month"]
        )
    ]
    triggers = [
        {"period": t["period"], "urban": t["urban_amount"], "rural": t["rural_amount"]}
        for t in tap.of(u.EVENTS.name, "PriceSubsidyTriggered")
        if t["region"] == CITY
    ]
    decided = [d for d in tap.of(wf.EVENTS.name, "AllowanceDecided") if d["region"] == CITY]
    pension_on_behalf = sum(
        (
            D(p["amount"])
            for p in tap.of(wf.EVENTS.name, "PensionPaidOnBehalf")
            if p["region"] == CITY
        ),
        ZERO,
    )

    def money(d: dict[str, Any], key: str) -> Decimal:
        return D(d.get(key, "0"))

    # each fund's income against its spending, month by month
    funds: list[dict[str, Any]] = []
    medical_income = [income["medical"][mo] + money(unemployment[mo], "medical") for mo in months]
    medical_spending = [
        sum(
            (
                D(statement[(h, mo)]["fund_payment"])
                for h, _, _ in CITY_HOSPITALS
                if (h, mo) in statement
            ),
            ZERO,
        )
        for mo in months
    ]
    funds.append(
        {
            "fund": "medical",
            "income": [_s(x) for x in medical_income],
            "spending": [_s(x) for x in medical_spending],
            "note": "income: contributions credited, with those the unemployment fund pays for"
            " its recipients; spending: the fund's share of settled claims",
        }
    )
    funds.append(
        {
            "fund": "unemployment",
            "income": [_s(income["unemployment"][mo]) for mo in months],
            "spending": [
                _s(
                    money(unemployment[mo], "benefit")
                    + money(unemployment[mo], "medical")
                    + money(unemployment[mo], "subsidy")
                )
                for mo in months
            ],
            "note": "spending: benefits, the recipients' medical contributions, price subsidies",
        }
    )
    funds += [
        {
            "fund": ins,
            "income": [_s(income[ins][mo]) for mo in months],
            "spending": None,
            "note": "income only: the platform makes no payments from this fund",
        }
        for ins in ("pension", "work_injury", "maternity")
    ]
    assistance = [
        _s(
            money(welfare[mo], "allowance")
            + money(welfare[mo], "support")
            + money(welfare[mo], "subsidy")
            + money(welfare[mo], "temporary")
        )
        for mo in months
    ]

    # throughput and latency, from the Kafka timestamps of the partners' records and answers
    claim_sent: dict[str, int] = {}
    for code, _, _ in CITY_HOSPITALS:
        for (_, key, _), t in zip(
            tap.records[m.CLAIMS.named(code=code)],
            tap.stamps[m.CLAIMS.named(code=code)],
            strict=True,
        ):
            claim_sent.setdefault(f"{code}/{key}", t)
    claim_latency = []
    for code, _, _ in CITY_HOSPITALS:
        for t, b in tap.stamped(m.SETTLEMENTS.named(code=code), "SettlementResult"):
            sent = claim_sent.get(f"{code}/{b['claim_id']}")
            if sent is not None:
                claim_latency.append(float(t - sent))
    report_sent: dict[str, int] = {}
    coll_topic = cc.COLLECTIONS.named(code=CITY_BUREAU)
    for (_, _, body), t in zip(tap.records[coll_topic], tap.stamps[coll_topic], strict=True):
        report_sent.setdefault(body.get("collection_id", ""), t)
    collection_latency = [
        float(t - report_sent[b["collection_id"]])
        for t, b in tap.stamped(bureau_topic, "TaxPaymentBooked")
        if b["collection_id"] in report_sent
    ]
    bursts = []
    by_month: dict[str, list[int]] = defaultdict(list)
    for code, _, _ in CITY_HOSPITALS:
        for t, b in tap.stamped(m.SETTLEMENTS.named(code=code), "SettlementResult"):
            by_month[b["claim_id"][3:9]].append(t)
    for code, _, _ in CITY_HOSPITALS:
        for (_, key, _), t in zip(
            tap.records[m.CLAIMS.named(code=code)],
            tap.stamps[m.CLAIMS.named(code=code)],
            strict=True,
        ):
            by_month[key[3:9]].append(t)
    for key in sorted(by_month):
        ts = by_month[key]
        span = (max(ts) - min(ts)) / 1000
        n = sum(1 for mo in months if mo.replace("-", "") == key and city.sent.claims.get(mo))
        if n and span > 0:
            count = city.sent.claims[f"{key[:4]}-{key[4:]}"]
            bursts.append({"month": f"{key[:4]}-{key[4:]}", "claims": count, "seconds": span})
    throughput = [
        {"service": name, "records": int(n), "per_second": round(n / seconds, 1) if seconds else 0}
        for name, n in handled.items()
    ]

    # what the demo sent, against what the platform says
    sent_claims = sum(city.sent.claims.values())
    city_collected = sum((city.sent.collected.get(mo, ZERO) for mo in months), ZERO)
    booked_months = sum((collected[mo] for mo in months), ZERO)
    checks: list[dict[str, Any]] = [
        {
            "what": "claims sent by the hospitals / answered on their settlements topics",
            "expected": str(sent_claims),
            "platform": str(
                len(
                    [
                        1
                        for _, b in answers
                        if b["claim_id"][3:9] in {mo.replace("-", "") for mo in months}
                    ]
                )
            ),
        },
        {
            "what": "collections the bureau reported / booked by the platform (yuan)",
            "expected": yuan(city_collected),
            "platform": yuan(booked_months),
        },
        {
            "what": "statements: months x hospitals",
            "expected": str(len(months) * len(CITY_HOSPITALS)),
            "platform": str(
                sum(1 for h, _, _ in CITY_HOSPITALS for mo in months if (h, mo) in statement)
            ),
        },
        {
            "what": "CPI releases / accepted by the platform",
            "expected": str(len(city.sent.cpi)),
            "platform": str(len(cpi)),
        },
    ]
    for x in checks:
        x["ok"] = x["expected"] == x["platform"]

    return {
        "title": f"{CITY_NAME}: {len(months)} months of social insurance",
        "city": {
            "region": CITY,
            "name": CITY_NAME,
            "people": len(city.citizens),
            "employers": len(city.employers),
            "hospitals": [h for h, _, _ in CITY_HOSPITALS],
            "bureau": CITY_BUREAU,
            "stats": CITY_STATS,
            "seed": city.seed,
            "months": months,
            "on": str(on),
            "seconds": round(seconds, 1),
        },
        "coverage": coverage,
        "contributions": {
            "months": months,
            "assessed": [_s(assessed[mo]) for mo in months],
            "collected": [_s(collected[mo]) for mo in months],
            "employers": [payers[mo]["employer"] for mo in months],
            "persons": [payers[mo]["person"] for mo in months],
            "credited": [credited_people[mo] for mo in months],
            "resident_year": {
                "assessed": _s(assessed["2025"]),
                "collected": _s(collected["2025"]),
                "payers": payers["2025"]["person"],
            },
            "arrears": [
                {"employer": a["employer"], "period": a["period"], "arrears": a["arrears"]}
                for a in arrears
                if a["period"] in months
            ],
            "rejected": dict(rejected_collections),
        },
        "claims": {
            "hospitals": hospitals,
            "outcomes": dict(outcomes),
            "reasons": dict(reasons.most_common(6)),
        },
        "benefits": {
            "months": months,
            "benefit": [_s(money(unemployment[mo], "benefit")) for mo in months],
            "medical": [_s(money(unemployment[mo], "medical")) for mo in months],
            "subsidy": [_s(money(unemployment[mo], "subsidy")) for mo in months],
            "recipients": [recipients[mo] for mo in months],
            "granted": len(granted),
            "refused": dict(refused),
        },
        "welfare": {
            "months": months,
            "allowance": [_s(money(welfare[mo], "allowance")) for mo in months],
            "support": [_s(money(welfare[mo], "support")) for mo in months],
            "subsidy": [_s(money(welfare[mo], "subsidy")) for mo in months],
            "households": [int(welfare[mo].get("households", 0)) for mo in months],
            "supported": [int(welfare[mo].get("supported", 0)) for mo in months],
            "total": assistance,
            "decisions": len(decided),
            "pension_on_behalf": _s(pension_on_behalf),
        },
        "cpi": cpi,
        "triggers": triggers,
        "funds": funds,
        "performance": {
            "claims_ms": _percentiles(claim_latency),
            "collections_ms": _percentiles(collection_latency),
            "claim_bursts": bursts,
            "services": throughput,
        },
        "checks": checks,
    }


def _pct(rate: str | None) -> str:
    return f"{D(rate) * 100:.1f}%" if rate is not None else "-"


def print_report(r: dict[str, Any]) -> None:
    city, months = r["city"], r["city"]["months"]
    head(f"Report: {r['title']}")
    say(
        f"{city['people']} people, {city['employers']} employers, hospitals"
        f" {', '.join(city['hospitals'])}, tax bureau {city['bureau']}, statistics bureau"
        f" {city['stats']}; seed {city['seed']}; every figure below as the platform published it"
    )
    say(f"coverage on {city['on']} (enrollment GET /coverage), target 95%:")
    for row in r["coverage"]:
        mark = "at or above target" if row["above"] else "BELOW target"
        say(
            f"  {row['insurance']:<13}{row['insured']:>6} of {row['population']:>6}"
            f"  {_pct(row['rate']):>7}  {mark}"
        )
    co = r["contributions"]
    say(f"contributions assessed to {city['bureau']} and collected (the bureau's topic):")
    say(
        f"  {'month':<9}{'employers':>10}{'persons':>8}{'assessed':>15}{'collected':>15}"
        f"{'credited':>9}"
    )
    for i, mo in enumerate(months):
        say(
            f"  {mo:<9}{co['employers'][i]:>10}{co['persons'][i]:>8}{yuan(co['assessed'][i]):>15}"
            f"{yuan(co['collected'][i]):>15}{co['credited'][i]:>9}"
        )
    ry = co["resident_year"]
    say(
        f"  residents' year 2025: {ry['payers']} assessed {yuan(ry['assessed'])},"
        f" collected {yuan(ry['collected'])}"
    )
    for a in co["arrears"]:
        say(f"  arrears {a['period']} {a['employer']}: {yuan(a['arrears'])}")
    say("claims settled and fund paid, by hospital (the monthly statements):")
    say(
        f"  {'hospital':<12}{'level':<10}{'settled':>8}{'rejected':>9}{'fund':>14}"
        f"{'serious ill.':>13}{'assistance':>12}{'budget used':>12}"
    )
    for h in r["claims"]["hospitals"]:
        used = _pct(h["budget_used"]) if h["budget_used"] else "-"
        say(
            f"  {h['hospital']:<12}{h['level']:<10}{h['settled']:>8}{h['rejected']:>9}"
            f"{yuan(h['fund']):>14}{yuan(h['serious']):>13}{yuan(h['assistance']):>12}{used:>12}"
        )
    if r["claims"]["reasons"]:
        say("  refusals: " + ", ".join(f"{k} {v}" for k, v in r["claims"]["reasons"].items()))
    b, wf_ = r["benefits"], r["welfare"]
    say("benefits, assistance and subsidies paid (GET /regions of unemployment and welfare):")
    say(
        f"  {'month':<9}{'recipients':>11}{'benefit':>12}{'medical':>10}{'subsidy':>9}"
        f"{'households':>11}{'allowance':>12}{'特困':>6}{'support':>10}{'subsidy':>9}"
    )
    for i, mo in enumerate(months):
        say(
            f"  {mo:<9}{b['recipients'][i]:>11}{yuan(b['benefit'][i]):>12}"
            f"{yuan(b['medical'][i]):>10}{yuan(b['subsidy'][i]):>9}{wf_['households'][i]:>11}"
            f"{yuan(wf_['allowance'][i]):>12}{wf_['supported'][i]:>6}{yuan(wf_['support'][i]):>10}"
            f"{yuan(wf_['subsidy'][i]):>9}"
        )
    refused = ", ".join(f"{k} {v}" for k, v in b["refused"].items()) or "none"
    say(f"  job centre: {b['granted']} benefits granted; refused: {refused}")
    for c_ in r["cpi"]:
        verdict = "price subsidy triggered" if c_["triggered"] else "below the trigger"
        say(f"  CPI {c_['month']} +{c_['cpi']}%: {verdict}")
    say("each fund's income against its spending, by month (pension, work injury, maternity:")
    say("income only, the platform makes no payments from them):")
    funds = r["funds"]
    say(
        f"  {'month':<9}"
        + "".join(
            f"{f['fund'][:12] + ' in':>16}" + (f"{'out':>13}" if f["spending"] else "")
            for f in funds
        )
    )
    for i, mo in enumerate(months):
        say(
            f"  {mo:<9}"
            + "".join(
                f"{yuan(f['income'][i]):>16}"
                + (f"{yuan(f['spending'][i]):>13}" if f["spending"] else "")
                for f in funds
            )
        )
    p = r["performance"]
    for name, key in (("claim -> answer", "claims_ms"), ("collection -> booked", "collections_ms")):
        q = p[key]
        if q["n"]:
            say(
                f"latency {name:<21} n={q['n']:<6} p50 {q['p50']:.0f} ms  p90 {q['p90']:.0f} ms"
                f"  p99 {q['p99']:.0f} ms  max {q['max']:.0f} ms"
            )
    for x in p["claim_bursts"]:
        say(
            f"throughput {x['month']}: {x['claims']} claims sent and answered in"
            f" {x['seconds']:.1f}s ({x['claims'] / x['seconds']:.0f}/s)"
        )
    say(
        "records handled in the city's run: "
        + ", ".join(f"{s['service']} {s['records']} ({s['per_second']}/s)" for s in p["services"])
    )
    say("the platform's figures against what the city sent:")
    for x in r["checks"]:
        say(
            f"  {'agrees' if x['ok'] else 'DIFFERS'}  {x['what']}: sent {x['expected']},"
            f" platform {x['platform']}"
        )
