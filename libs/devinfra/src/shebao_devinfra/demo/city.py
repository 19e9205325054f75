"""A small city simulated for several months: Changzhou (320400), apart from the stories.

A few thousand people (employees of some fifty employers, residents in the resident schemes,
flexible workers, some not insured), one tax bureau, three hospitals, the statistics bureau and
the civil-affairs office. About one employee in eleven has worked since March 2024: the city's
history closes and pays their months up to March 2025, so that those laid off later are
entitled to unemployment benefit. Then, month by month from April 2025: a few hires and
re-employments, the job centre's registrations, the hospitals' claims, the employers' wage
declarations, lay-offs at the month's end; the scheduler closes the month in each service; the
tax bureau collects what it was asked to (a few employers pay short); the statistics bureau
releases the month's CPI, which spikes over the price-subsidy trigger in the fourth month.

Every choice is drawn from one `random.Random(seed)` in a fixed order, so one seed sends the
same messages. What the city is told back, and all the report's figures, come from the
platform's topics and read side (`report`), never from here.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from calendar import monthrange
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from shebao_common.pseudonym import Pseudonymizer
from shebao_common.settings import ServiceSettings
from shebao_contracts import contributions as cc
from shebao_contracts import enrollment as c
from shebao_contracts import medical as m
from shebao_contracts import unemployment as u
from shebao_contracts import welfare as wf
from shebao_partners import (
    citizen_id,
    claim_body,
    claim_line,
    cpi_release,
    employer_code,
    employer_collected,
    hospital_registration,
    person_collected,
)
from shebao_partners.offices import (
    allowance_application,
    allowance_stop,
    household_review,
    support_application,
    unemployed_registration,
)

from ..kit import caught_up
from .desk import Desk
from .output import head, say, yuan
from .setting import CITY, CITY_BUREAU, CITY_HOSPITALS, CITY_NAME, CITY_STATS, D
from .world import World

HISTORY_FROM = date(2024, 3, 1)  # the long-serving employees' first month
FIRST_MONTH = date(2025, 4, 1)  # the first month the city goes through
# The statistics bureau's index, month after month: the fourth month crosses the 3% trigger.
CPI = ["1.9", "2.3", "2.7", "3.4", "3.1", "2.6", "2.2", "2.0", "1.8", "1.7", "1.9", "2.1"]
FOOD_CPI = ["2.4", "2.8", "3.6", "4.9", "4.2", "3.3", "2.9", "2.6", "2.2", "2.0", "2.3", "2.5"]
DISTRICTS = ["320402", "320404", "320411", "320412", "320413", "320481"]


def month_of(d: date) -> str:
    return f"{d:%Y-%m}"


def next_month(d: date) -> date:
    return date(d.year + d.month // 12, d.month % 12 + 1, 1)


def last_day(d: date) -> date:
    return date(d.year, d.month, monthrange(d.year, d.month)[1])


def moment(d: date, hour: int = 9) -> datetime:
    return datetime(d.year, d.month, d.day, hour, tzinfo=UTC)


@dataclass
class Citizen:
    cid: str
    kind: str  # employee, resident, flexible, none
    born: date
    rural: bool
    employer: str | None = None
    wage: Decimal = Decimal(0)
    long_serving: bool = False
    hospital: int = 0  # the hospital the person goes to
    unemployed_since: date | None = None


@dataclass
class Household:
    id: str
    members: list[str]
    income: Decimal
    rural: bool


@dataclass
class Sent:
    """What the city sent, for the comparisons the report makes (never for its figures)."""

    claims: dict[str, int] = field(default_factory=dict)  # month: claims sent
    collected: dict[str, Decimal] = field(default_factory=dict)  # period: amounts reported
    lay_offs: dict[str, int] = field(default_factory=dict)
    hires: dict[str, int] = field(default_factory=dict)
    registrations: dict[str, int] = field(default_factory=dict)
    applications: int = 0
    cpi: dict[str, str] = field(default_factory=dict)


class City:
    """The city's people and partners, built from a seed."""

    def __init__(self, seed: int, people: int, months: int) -> None:
        self.rng = random.Random(seed)
        self.seed, self.months = seed, months
        rng = self.rng
        self.month_starts = [FIRST_MONTH]
        for _ in range(months - 1):
            self.month_starts.append(next_month(self.month_starts[-1]))
        n_employers = max(3, people // 60)
        self.employers = [employer_code(CITY, 40_000_000 + k) for k in range(n_employers)]
        self.risk = {e: rng.randint(1, 8) for e in self.employers}
        self.raise_month = {e: rng.randrange(months) for e in self.employers}
        seen: set[str] = set()
        self.citizens: list[Citizen] = []
        for i in range(people):
            r = rng.random()
            kind = "employee" if r < 0.74 else "resident" if r < 0.95 else "flexible"
            if r >= 0.975:
                kind = "none"
            born = date(1966, 1, 1) + timedelta(days=rng.randrange(365 * 38))
            while True:
                cid = citizen_id(rng.choice(DISTRICTS), born, rng.randrange(1000))
                if cid not in seen:
                    seen.add(cid)
                    break
            p = Citizen(cid, kind, born, rural=rng.random() < 0.3, hospital=rng.randrange(3))
            if kind == "employee":
                p.employer = self.employers[i % n_employers]
                p.wage = D(rng.randrange(3500, 16000, 10))
                p.long_serving = rng.random() < 0.09
            self.citizens.append(p)
        self.by_cid = {p.cid: p for p in self.citizens}
        ref = Pseudonymizer(ServiceSettings().pseudonym_secret()).person_ref
        self.ref = {p.cid: ref(p.cid) for p in self.citizens}
        # the civil-affairs office's caseload: 低保 households among the residents (in the
        # resident schemes, so their claims get medical assistance), and 特困 persons
        residents = [p for p in self.citizens if p.kind == "resident"]
        rng.shuffle(residents)
        self.households: list[Household] = []
        for k in range(max(3, people // 120)):
            size = rng.choice([1, 1, 2, 2, 3, 3, 4])
            members, residents = [p.cid for p in residents[:size]], residents[size:]
            if not members:
                break
            income = D(rng.randrange(0, 1300 * len(members), 10))
            self.households.append(Household(f"CZ-DB-{k + 1:04d}", members, income, k % 3 == 0))
        self.supported = [
            citizen_id(rng.choice(DISTRICTS), date(1938 + k % 15, 1 + k % 12, 3 + k), 900 + k)
            for k in range(max(1, people // 800))
        ]
        self.sent = Sent()

    def of(self, kind: str) -> list[Citizen]:
        return [p for p in self.citizens if p.kind == kind]

    def roster(self, employer: str) -> list[Citizen]:
        return [p for p in self.citizens if p.kind == "employee" and p.employer == employer]


async def settle(w: World, what: str) -> None:
    """Every service has consumed everything, and nothing new appeared meanwhile (what one
    service publishes is another's input); then the demo's reader has read it all."""
    services = [
        (w.enrollment, "enrollment"),
        (w.contributions, "contributions"),
        (w.medical, "medical"),
        (w.unemployment, "unemployment"),
        (w.welfare, "welfare"),
    ]
    while True:
        before = await w.offsets.total(*w.topics)
        await asyncio.gather(
            *(caught_up(s, w.inputs[name], w.offsets, what, timeout=240) for s, name in services)
        )
        if await w.offsets.total(*w.topics) == before:
            break
    await w.tap.drained(w.offsets)


def progress(text: str) -> None:
    say(f"  {time.strftime('%H:%M:%S')}  {text}")


async def city_months(desk: Desk, w: World, city: City) -> None:
    head(
        f"{CITY_NAME} ({CITY}): {len(city.citizens)} people, {len(city.employers)} employers,"
        f" {city.months} months (seed {city.seed})"
    )
    await _register(desk, w, city)
    await _history(desk, w, city)
    for k, start in enumerate(city.month_starts):
        await _month(desk, w, city, k, start)


async def _register(desk: Desk, w: World, city: City) -> None:
    t = moment(date(2024, 2, 20))
    for e in city.employers:
        await desk.send(
            c.RegisterEmployer(
                employer=e,
                name=f"常州示例企业{city.employers.index(e) + 1}",
                region=CITY,
                ownership=c.Ownership.PRIVATE,
                risk_class=city.risk[e],
                registered_on=date(2020, 1, 6),
            ),
            e,
            at=t,
        )
    for code, level, region in CITY_HOSPITALS:
        await desk.send(
            hospital_registration(code, level, region, name=f"{CITY_NAME} {level.value} hospital"),
            code,
            m.COMMANDS.name,
            t,
        )
    await desk.flush()
    await caught_up(w.enrollment, w.inputs["enrollment"], w.offsets, "the city's employers")
    for n, p in enumerate(city.citizens):
        await desk.send(
            c.RegisterPerson(
                citizen_id=p.cid,
                name=f"常州居民{n + 1}",
                hukou_region=CITY,
                residence=c.Residence.RURAL if p.rural else c.Residence.URBAN,
                registered_on=date(2024, 2, 1),
            ),
            p.cid,
            at=t,
        )
    await desk.flush()
    await caught_up(w.enrollment, w.inputs["enrollment"], w.offsets, "the city's people")
    for p in city.citizens:
        if p.kind == "employee":
            since = HISTORY_FROM if p.long_serving else FIRST_MONTH
            assert p.employer is not None
            await desk.send(
                c.StartEmployment(
                    citizen_id=p.cid, employer=p.employer, start_date=since, monthly_wage=p.wage
                ),
                p.cid,
                at=moment(since, 8),
            )
        elif p.kind == "resident":
            jan = date(2025, 1, 1)
            tier = city.rng.choice([100, 300, 500, 1000])
            await desk.send(
                c.EnrolResidentPension(
                    citizen_id=p.cid, region=CITY, start_date=jan, yearly_tier=tier
                ),
                p.cid,
                at=moment(jan, 10),
            )
            await desk.send(
                c.EnrolResidentMedical(citizen_id=p.cid, region=CITY, start_date=jan),
                p.cid,
                at=moment(jan, 10),
            )
        elif p.kind == "flexible":
            await desk.send(
                c.EnrolFlexibleWorker(
                    citizen_id=p.cid,
                    region=CITY,
                    start_date=FIRST_MONTH,
                    declared_base=D(city.rng.randrange(4000, 9000, 100)),
                    unemployment=False,
                ),
                p.cid,
                at=moment(FIRST_MONTH, 8),
            )
    await desk.flush()
    await settle(w, "the city's enrolments")
    progress(
        f"registered {len(city.employers)} employers, {len(CITY_HOSPITALS)} hospitals and"
        f" {len(city.citizens)} people: {len(city.of('employee'))} employees"
        f" ({sum(p.long_serving for p in city.citizens)} since {month_of(HISTORY_FROM)}),"
        f" {len(city.of('resident'))} residents, {len(city.of('flexible'))} flexible workers,"
        f" {len(city.of('none'))} not insured"
    )


def _assessments(w: World, period: str) -> dict[str, dict[str, Any]]:
    """The bureau's latest revision of each assessment of a period (a part of an employer's
    assessment repeats its totals)."""
    out: dict[str, dict[str, Any]] = {}
    for a in w.tap.of(cc.ASSESSMENTS.named(code=CITY_BUREAU), "TaxAssessmentIssued"):
        if a["period"] == period:
            held = out.get(a["assessment_id"])
            if held is None or held["revision"] < a["revision"]:
                out[a["assessment_id"]] = a
    return out


async def _collect(
    desk: Desk, w: World, city: City, periods: list[str], paid_on: date, short: bool
) -> None:
    """The tax bureau collects what it was asked for the periods; with `short`, a few
    employers pay less and a few flexible workers nothing."""
    topic = cc.COLLECTIONS.named(code=CITY_BUREAU)
    for period in periods:
        for n, a in enumerate(sorted(_assessments(w, period).values(), key=_order)):
            due = D(a["amount_due"])
            if due <= 0:
                continue
            cid_ = f"{CITY_BUREAU.upper()}-{period}-{n:05d}"
            # the payer's luck is its own: drawn from the seed and the assessment, not from
            # the order the platform's answers came in
            luck = random.Random(f"{city.seed}:{a['assessment_id']}")
            if a["payer"] == "employer":
                amount = due
                if short and luck.random() < 0.04:
                    share = D(luck.choice(["0.80", "0.90", "0.95"]))
                    amount = (due * share).quantize(D("0.01"))
                msg: Any = employer_collected(cid_, a["employer"], period, amount)
                key = a["employer"]
            else:
                if short and luck.random() < 0.05:
                    continue
                amount = due
                msg = person_collected(cid_, a["citizen_id"], period, D(amount))
                key = a["citizen_id"]
            city.sent.collected[period] = city.sent.collected.get(period, D(0)) + amount
            await desk.send(msg, key, topic, moment(paid_on, 10))
    await desk.flush()


def _order(a: dict[str, Any]) -> tuple[str, str]:
    return (a["payer"], a["assessment_id"])


async def _history(desk: Desk, w: World, city: City) -> None:
    """The long-serving employees' months before the city's first, closed and paid in full;
    the residents' year 2025 is assessed with January and paid in January."""
    month = HISTORY_FROM
    n = 0
    while month < FIRST_MONTH:
        period = month_of(month)
        await desk.send(
            cc.ClosePeriod(region=CITY, month=period),
            CITY,
            cc.COMMANDS.name,
            moment(next_month(month), 2),
        )
        await desk.flush()
        await caught_up(w.contributions, w.inputs["contributions"], w.offsets, f"close {period}")
        await w.tap.drained(w.offsets)
        periods = [period, "2025"] if period == "2025-01" else [period]
        await _collect(desk, w, city, periods, next_month(month) + timedelta(days=9), short=False)
        await caught_up(w.contributions, w.inputs["contributions"], w.offsets, f"pay {period}")
        month, n = next_month(month), n + 1
    await settle(w, "the city's history")
    progress(
        f"history: {n} months closed from {month_of(HISTORY_FROM)}, assessed to {CITY_BUREAU}"
        " and paid; the residents' year 2025 assessed and paid"
    )


def _claim(city: City, p: Citizen, start: date, n: int) -> tuple[str, str, dict[str, Any], date]:
    rng = city.rng
    hospital = CITY_HOSPITALS[p.hospital][0]
    inpatient = rng.random() < 0.4
    admitted = start + timedelta(days=rng.randrange(20))

    def line(category: str, low: int, high: int, most: int = 1) -> dict[str, str]:
        qty = rng.randint(1, most)  # whole yuan a unit: the amount is exactly qty x unit
        return claim_line(category, f"{rng.randrange(low, high) * qty}.00", str(qty))

    if inpatient:
        discharged: date | None = admitted + timedelta(days=rng.randint(2, 7))
        lines = [
            line("treatment", 300, 3000, 8),
            line("class_a_drug", 10, 300, 20),
            line("class_b_drug", 20, 700, 6),
        ]
        if rng.random() < 0.5:
            lines.append(line("material", 300, 9000))
        if rng.random() < 0.3:
            lines.append(line("outside_scope", 50, 1500))
        claim_id = f"ZY-{start:%Y%m}-{n:05d}"
    else:
        discharged = None
        lines = [line("treatment", 40, 600), line("class_a_drug", 5, 80, 6)]
        claim_id = f"MZ-{start:%Y%m}-{n:05d}"
    body = claim_body(
        hospital,
        claim_id,
        p.cid,
        lines,
        visit="inpatient" if inpatient else "outpatient",
        admitted=admitted,
        discharged=discharged,
        diagnosis=rng.choice(["J18.9", "I10", "E11.9", "K35.8", "S72.0", "N39.0"]),
    )
    return hospital, claim_id, body, (discharged or admitted) + timedelta(days=1)


async def _month(desk: Desk, w: World, city: City, k: int, start: date) -> None:
    rng, month = city.rng, month_of(start)
    end, after = last_day(start), next_month(start)
    began = time.monotonic()
    # the job centre registers last month's lay-offs; some recipients find work again
    registered = 0
    for p in city.citizens:
        if p.kind == "laid off" and p.unemployed_since is not None and p.unemployed_since <= start:
            await desk.send(
                unemployed_registration(p.cid, CITY, start + timedelta(days=4)),
                p.cid,
                u.COMMANDS.name,
                moment(start + timedelta(days=4)),
            )
            p.kind = "unemployed"
            registered += 1
    city.sent.registrations[month] = registered
    hires = 0
    for p in city.citizens:
        again = p.kind == "unemployed" and p.unemployed_since is not None
        if (again and rng.random() < 0.3) or (p.kind == "none" and k > 0 and rng.random() < 0.1):
            p.kind, p.employer = "employee", rng.choice(city.employers)
            p.wage = D(rng.randrange(3500, 12000, 10))
            p.unemployed_since, day = None, start + timedelta(days=9 if again else 2)
            await desk.send(
                c.StartEmployment(
                    citizen_id=p.cid, employer=p.employer, start_date=day, monthly_wage=p.wage
                ),
                p.cid,
                at=moment(day, 8),
            )
            hires += 1
    city.sent.hires[month] = hires
    # the civil-affairs office
    if k == 0:
        for n, h in enumerate(city.households):
            on = start + timedelta(days=3 + n % 20)
            await desk.send(
                allowance_application(h.id, CITY, h.members, h.income, on, rural=h.rural),
                h.id,
                wf.COMMANDS.name,
                moment(on),
            )
        for n, cid in enumerate(city.supported):
            on = start + timedelta(days=5 + n % 20)
            await desk.send(support_application(cid, CITY, on), cid, wf.COMMANDS.name, moment(on))
        city.sent.applications = len(city.households) + len(city.supported)
    elif k == 2:
        for h in city.households[:2]:
            on = start + timedelta(days=17)
            h.income += D(600)
            await desk.send(
                household_review(h.id, h.members, h.income, on), h.id, wf.COMMANDS.name, moment(on)
            )
    elif k == 3:
        h = city.households[-1]
        on = start + timedelta(days=24)
        await desk.send(allowance_stop(h.id, on), h.id, wf.COMMANDS.name, moment(on))
    await desk.flush()
    await settle(w, f"{month}: registrations and hires")
    # the hospitals: about one person in thirty a month, each at the person's own hospital
    insured = [p for p in city.citizens if p.kind != "none" or rng.random() < 0.05]
    patients = rng.sample(insured, k=min(len(insured), max(3, len(city.citizens) // 30)))
    claims = [_claim(city, p, start, n + 1) for n, p in enumerate(patients)]
    for hospital, claim_id, body, sent_on in sorted(claims, key=lambda x: (x[3], x[1])):
        await desk.send_raw(
            m.CLAIMS.named(code=hospital),
            claim_id,
            _json(body),
            m.ClaimSubmitted.TYPE,
            moment(sent_on, 10),
            f"/partners/{hospital}",
        )
    city.sent.claims[month] = len(claims)
    # the employers declare the month's wages (some with a raise)
    for e in city.employers:
        staff = city.roster(e)
        if not staff:
            continue
        if city.raise_month[e] == k:
            for p in staff:
                p.wage = (p.wage * D("1.03")).quantize(D("0.01"))
        lines = [cc.WageLine(person=city.ref[p.cid], wage=p.wage) for p in staff]
        lines.sort(key=lambda x: x.person)
        await desk.send(
            cc.DeclareWages(employer=e, month=month, wages=lines),
            e,
            cc.COMMANDS.name,
            moment(start + timedelta(days=24)),
        )
    await desk.flush()
    await settle(w, f"{month}: claims and wages")
    # lay-offs at the month's end (mostly among the long-serving), a few resignations
    laid_off = 0
    for p in city.of("employee"):
        chance = 0.04 if p.long_serving else 0.006
        if rng.random() < chance:
            voluntary = rng.random() < 0.15
            assert p.employer is not None
            await desk.send(
                c.EndEmployment(
                    citizen_id=p.cid,
                    employer=p.employer,
                    end_date=end,
                    separation=c.Separation.VOLUNTARY if voluntary else c.Separation.INVOLUNTARY,
                ),
                p.cid,
                at=moment(end, 18),
            )
            p.kind, p.employer, p.unemployed_since = "laid off", None, after
            if voluntary:
                p.kind = "none"
            laid_off += 1
    city.sent.lay_offs[month] = laid_off
    await desk.flush()
    await settle(w, f"{month}: lay-offs")
    # the scheduler closes the month in every service
    await desk.send(
        cc.ClosePeriod(region=CITY, month=month), CITY, cc.COMMANDS.name, moment(after, 2)
    )
    await desk.send(m.CloseMonth(month=month), month, m.COMMANDS.name, moment(after, 3))
    await desk.send(
        u.ClosePaymentMonth(region=CITY, month=month), CITY, u.COMMANDS.name, moment(after, 4)
    )
    await desk.send(
        wf.ClosePaymentMonth(region=CITY, month=month), CITY, wf.COMMANDS.name, moment(after, 5)
    )
    await desk.flush()
    await settle(w, f"{month}: the closes")
    # the tax bureau collects on the 15th; the statistics bureau releases the index on the 12th
    await _collect(desk, w, city, [month], after + timedelta(days=14), short=True)
    cpi, food = CPI[k % len(CPI)], FOOD_CPI[k % len(FOOD_CPI)]
    city.sent.cpi[month] = cpi
    await desk.send(
        cpi_release(CITY, month, cpi, food),
        CITY,
        u.CPI.named(code=CITY_STATS),
        moment(after + timedelta(days=11)),
    )
    await desk.flush()
    await settle(w, f"{month}: collections and the index")
    answered = sum(
        1
        for h, _, _ in CITY_HOSPITALS
        for b in w.tap.of(m.SETTLEMENTS.named(code=h), "SettlementResult")
        if b["claim_id"][3:9] == f"{start:%Y%m}"
    )
    progress(
        f"{month}: {hires} hired, {registered} registered at the job centre, {len(claims)} claims"
        f" ({answered} answered), {laid_off} left their jobs, closed, collected"
        f" {yuan(city.sent.collected.get(month, D(0)))}, CPI +{cpi}%"
        f"  [{time.monotonic() - began:.0f}s]"
    )


def _json(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode()
