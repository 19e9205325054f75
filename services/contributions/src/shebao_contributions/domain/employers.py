"""An employer's side: roster, wage declarations, monthly assessment, collections.

Who owes a month: the employer that employs the person on the month's last day (so a person
changing jobs mid-month is assessed once, by the new employer). An employment always carries the
five employee insurances (enrollment enrols an employee in all of them), so the roster is kept per
employment, not per scheme. The wage of a month is the declared one, else the person's most
recent wage: his wage on the last assessment that had him since he was hired (as corrected), or
the wage at hiring.

The roster is kept as enrollment gave it (`EmployerFacts`: a re-hire after an employment ended
keeps the earlier one as a spell, its months still owed); what the assessments decided of it is
the employer ledger's (`EmployerLedger`: the month last assessed, before which ended employments
are gone; the wages carried forward; a leave on a death), and `roster_view` gives the rules the
roster as both say.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal

from shebao_common.domain import Effects, Refused
from shebao_common.policy import PROVINCE
from shebao_contracts import contributions as cc
from shebao_contracts import enrollment as ce
from shebao_contracts.envelope import Message
from shebao_contracts.trusted import trusted

from . import ledger as lg
from . import periods, tax
from .calendar import not_in_future
from .effects import fan_out, to_bureau, to_events
from .env import Env
from .model import (
    Carried,
    EmployerAssessment,
    EmployerFacts,
    EmployerFile,
    EmployerLedger,
    PersonLine,
    RosterEntry,
    Spell,
    WageSheet,
    employer_assessment_id,
    shard_of,
)
from .persons import arrears_booked, booking_events, payment_booked
from .rates import ZERO, Rates, bureau, interruption_months

R = cc.Rejection
# Lines and amounts inside messages are built with `trusted` from values this module
# computed (quantised Decimals, enums): one close makes tens of thousands of them, and
# validating them again cost more than the assessment itself. The runtime validates every
# message it reads, so a mistake here would still be caught, by the reader.
LINES_PER_PART = 1000
"""Person lines per AssessmentIssued record to a bureau: 1,000 lines stay far below 1 MB."""


# ---------------------------------------------------------------------------------------------
# Roster from enrollment


def _new_employer(code: str, region: str, risk_class: int, env: Env, fx: Effects) -> EmployerFacts:
    shard = shard_of(code, env.shards)
    fan_out(
        fx,
        f"{region}:{shard}",
        cc.DirectoryEmployerAdded(region=region, shard=shard, employer=code),
    )
    return EmployerFacts(code=code, region=region, risk_class=risk_class)


def apply_enrollment(
    e: EmployerFacts | None, event: Message, env: Env, *, sealed_id: str | None = None
) -> tuple[EmployerFacts | None, Effects]:
    """Employer registrations and employments (events of other aggregates may come first: the
    employer's file is created by whichever arrives first). `sealed_id` is the hired person's
    sealed citizen ID, kept on the roster for the assessment's lines to the bureau."""
    fx = Effects()
    match event:
        case ce.EmployerRegistered():
            e = e or _new_employer(event.employer, event.region, event.risk_class, env, fx)
            e = e.model_copy(
                update={
                    "name": event.name,
                    "registered_on": event.registered_on,
                    "risk_class": event.risk_class,
                }
            )
        case ce.EmploymentStarted():
            e = e or _new_employer(event.employer, event.region, event.risk_class, env, fx)
            e = e.model_copy(
                update={"roster": {**e.roster, event.person: _hired(e, event, sealed_id)}}
            )
        case ce.EmploymentEnded():
            e = _left(e, event.person, event.end_date) if e is not None else None
        case _:
            pass
    return e, fx


def _hired(e: EmployerFacts, event: ce.EmploymentStarted, sealed_id: str | None) -> RosterEntry:
    """A hiring: a new employment, or one still open continued (from its start, at the new
    wage); an earlier one that ended is kept as a spell, the months it covers still owed."""
    held = e.roster.get(event.person)
    sealed = sealed_id or (held.sealed_id if held is not None else None)
    if held is None:
        return RosterEntry(since=event.start_date, wage=event.monthly_wage, sealed_id=sealed)
    if held.until is None:
        return held.model_copy(
            update={"wage": event.monthly_wage, "sealed_id": sealed, "hired_on": event.start_date}
        )
    return RosterEntry(
        since=event.start_date,
        wage=event.monthly_wage,
        sealed_id=sealed,
        earlier=(*held.earlier, Spell(since=held.since, until=held.until)),
    )


def _left(e: EmployerFacts, person: str, on: date) -> EmployerFacts:
    entry = e.roster.get(person)
    if entry is None or (entry.until is not None and entry.until <= on):
        return e
    return e.model_copy(
        update={"roster": {**e.roster, person: entry.model_copy(update={"until": on})}}
    )


def registration(e: EmployerFacts) -> cc.EmployerFollowed:
    """The employer's registration as the service's own record of it."""
    return cc.EmployerFollowed(
        employer=e.code,
        region=e.region,
        risk_class=e.risk_class,
        name=e.name,
        registered_on=e.registered_on,
    )


def employment(code: str, person: str, entry: RosterEntry) -> cc.RosterFollowed:
    """One employment as the service's own record of it."""
    return cc.RosterFollowed(
        employer=code,
        person=person,
        since=entry.since,
        until=entry.until,
        wage=entry.wage,
        sealed_citizen_id=entry.sealed_id,
        hired_on=entry.hired_on,
        earlier=[cc.FollowedSpell(since=s.since, until=s.until) for s in entry.earlier],
    )


def followed(
    before: EmployerFacts | None, e: EmployerFacts | None, person: str | None, fx: Effects
) -> None:
    """What changed of the employer's facts, on the work topic (see `persons.follow`): its
    registration, the one employment an event changed."""
    if e is None:
        return
    if before is None or registration(before) != registration(e):
        fan_out(fx, e.code, registration(e))
    if person is None:
        return
    entry = e.roster.get(person)
    if entry is not None and (before is None or before.roster.get(person) != entry):
        fan_out(fx, e.code, employment(e.code, person, entry))


def registered(e: EmployerFacts | None, record: cc.EmployerFollowed) -> EmployerFacts:
    """A rebuild: the registration back, the roster as it was."""
    update = record.model_dump(include={"region", "risk_class", "name", "registered_on"})
    if e is None:
        return EmployerFacts(code=record.employer, **update)
    return e.model_copy(update=update)


def employed(e: EmployerFacts | None, record: cc.RosterFollowed) -> EmployerFacts | None:
    """A rebuild: the employment back (its registration, recorded first, is there)."""
    if e is None:
        return None
    entry = RosterEntry(
        since=record.since,
        until=record.until,
        wage=record.wage,
        sealed_id=record.sealed_citizen_id,
        hired_on=record.hired_on,
        earlier=tuple(Spell(since=s.since, until=s.until) for s in record.earlier),
    )
    return e.model_copy(update={"roster": {**e.roster, record.person: entry}})


def roster_view(f: EmployerFacts | None, ledger: EmployerLedger | None) -> EmployerFile | None:
    """The employer as the rules read it: its roster as enrollment gave it, less the employments
    that ended before the month last assessed, ended on a leave enrollment did not report (a
    death), and each at the wage of the last assessment that had the person since he was hired
    (else the wage at hiring)."""
    if f is None:
        return None
    led = ledger or EmployerLedger()
    last = periods.last_day(led.last_assessed) if led.last_assessed is not None else None
    roster = {}
    for person, entry in f.roster.items():
        until, left = entry.until, led.left.get(person)
        if left is not None and (until is None or until > left):
            until = left
        if last is not None and until is not None and until < last:
            continue  # assessed past its end: gone from the roster
        carried = led.carried.get(person)
        hired = entry.hired_on or entry.since
        wage = entry.wage
        if carried is not None and periods.last_day(carried.month) >= hired:
            wage = carried.wage
        roster[person] = entry.model_copy(update={"until": until, "wage": wage})
    return EmployerFile(
        code=f.code,
        region=f.region,
        risk_class=f.risk_class,
        name=f.name,
        registered_on=f.registered_on,
        roster=roster,
        last_assessed=led.last_assessed,
    )


def leave(ledger: EmployerLedger | None, person: str, on: date) -> EmployerLedger:
    """A person leaves the roster without an EmploymentEnded (a death): the earliest day wins."""
    led = ledger or EmployerLedger()
    held = led.left.get(person)
    if held is not None and held <= on:
        return led
    return led.model_copy(update={"left": {**led.left, person: on}})


def assessed(ledger: EmployerLedger, month: str) -> EmployerLedger:
    """The month last assessed (the close, and a rebuild folding its EmployerAssessed)."""
    return ledger.model_copy(update={"last_assessed": periods.later(ledger.last_assessed, month)})


def carry(
    ledger: EmployerLedger, month: str, revision: int, lines: Iterable[PersonLine]
) -> EmployerLedger:
    """Each person's wage on the latest assessment that had him carries forward (the close and
    a correction, and a rebuild folding their AssessmentLines in any order)."""
    carried = dict(ledger.carried)
    for ln in lines:
        held = carried.get(ln.person)
        if held is None or (held.month, held.revision) < (month, revision):
            carried[ln.person] = Carried(month=month, revision=revision, wage=ln.wage)
    return ledger.model_copy(update={"carried": dict(sorted(carried.items()))})


# ---------------------------------------------------------------------------------------------
# Assessment


def person_line(
    person: str, wage: Decimal, rates: Rates, risk: int, sealed_id: str | None
) -> PersonLine:
    """One person's line: the wage clamped to a base, the parts of the base."""
    base = rates.base(wage)
    return PersonLine(
        person=person,
        wage=wage,
        base=base,
        parts=rates.employee_parts(base, risk),
        sealed_id=sealed_id,
    )


def _lines(
    roster: dict[str, RosterEntry], wages: dict[str, Decimal], month: str, rates: Rates, risk: int
) -> tuple[PersonLine, ...]:
    out = []
    for person in sorted(roster):
        entry = roster[person]
        if not entry.owed(month):
            continue
        out.append(person_line(person, wages.get(person, entry.wage), rates, risk, entry.sealed_id))
    return tuple(out)


def assess_employer(
    e: EmployerFile | None,
    sheet: WageSheet | None,
    existing: EmployerAssessment | None,
    ledger: EmployerLedger | None,
    region: str,
    month: str,
    env: Env,
) -> tuple[EmployerAssessment | None, EmployerLedger | None, Effects]:
    """The monthly assessment of one employer at its region's close of `month`; `e` is the
    rules' view of it (`roster_view`).

    Also: last month still unpaid is booked as arrears, and when the employer has left N months
    in a row unsettled, each of its persons is judged for interruption. The month assessed and
    the wages the lines carry forward are the ledger's, each on the work topic for a rebuild.
    """
    fx = Effects()
    if (
        e is None
        or e.region != region
        or existing is not None
        or (e.last_assessed is not None and e.last_assessed >= month)
    ):
        return existing, ledger, fx
    code = bureau(env.params, region, month)
    if code is None:
        return existing, ledger, fx
    rates = Rates.of(env.params, region, month)
    wages = sheet.wages if sheet is not None else {}
    ledger, late = lg.overdue(ledger or EmployerLedger(), periods.shift(month, -1))
    if late is not None:
        to_events(fx, e.code, arrears_booked(late, cc.PayerKind.EMPLOYER, e.code))
    lines = _lines(e.roster, wages, month, rates, e.risk_class)
    ledger = carry(assessed(ledger, month), month, 1, lines)
    fan_out(fx, e.code, cc.EmployerAssessed(employer=e.code, month=month))
    assessment = None
    if lines:
        assessment = EmployerAssessment(
            employer=e.code,
            month=month,
            region=region,
            bureau=code,
            risk_class=e.risk_class,
            lines=lines,
        )
        aid = employer_assessment_id(e.code, month)
        ledger, due = lg.issue(ledger, month, aid, region, code, assessment.total)
        publish_assessment(assessment, due, fx, env)
        if due.settled:  # the held credit covered it
            fan_out_credits(assessment, due, fx)
    streak = lg.unsettled_streak(ledger, periods.shift(month, -1))
    if streak >= interruption_months(env.params, region, month):
        for line in lines:
            fan_out(
                fx,
                line.person,
                cc.CheckInterruption(person=line.person, region=region, month=month),
            )
    return assessment, ledger, fx


def publish_assessment(a: EmployerAssessment, due: lg.Due, fx: Effects, env: Env) -> None:
    """The summary as an event; to the bureau with its person lines (by citizen ID), in parts."""
    by_insurance: dict[ce.Insurance, list[Decimal]] = {}
    for line in a.lines:
        for part in line.parts:
            sums = by_insurance.setdefault(part.insurance, [ZERO, ZERO])
            sums[0] += part.employer_part
            sums[1] += part.employee_part
    summary = cc.AssessmentIssued(
        assessment_id=due.assessment_id,
        revision=due.revision,
        payer=cc.PayerKind.EMPLOYER,
        employer=a.employer,
        region=a.region,
        bureau=a.bureau,
        period=a.month,
        total=due.total,
        credit_applied=due.credit_applied,
        amount_due=due.amount_due,
        by_insurance=[
            trusted(cc.InsuranceAmounts, insurance=ins, employer_part=er, employee_part=ee)
            for ins, (er, ee) in by_insurance.items()
        ],
        person_count=len(a.lines),
    )
    to_events(fx, a.employer, summary)
    chunks = [a.lines[i : i + LINES_PER_PART] for i in range(0, len(a.lines), LINES_PER_PART)]
    for n, chunk in enumerate(chunks, start=1):
        to_bureau(
            fx,
            a.bureau,
            a.employer,
            tax.assessment(summary, env.ids, lines=chunk, part=n, parts=len(chunks)),
        )
    for n, chunk in enumerate(chunks, start=1):  # the lines as kept, for a rebuild to fold
        fan_out(
            fx,
            a.employer,
            cc.AssessmentLines(
                employer=a.employer,
                month=a.month,
                region=a.region,
                bureau=a.bureau,
                risk_class=a.risk_class,
                revision=a.revision,
                part=n,
                parts=len(chunks),
                lines=[
                    trusted(
                        cc.AssessedLine,
                        person=ln.person,
                        wage=ln.wage,
                        base=ln.base,
                        sealed_citizen_id=ln.sealed_id,
                    )
                    for ln in chunk
                ],
            ),
        )


def fan_out_credits(a: EmployerAssessment, due: lg.Due, fx: Effects) -> None:
    """A settled assessment: one credit per person, applied on the person's own key."""
    for line in a.lines:
        fan_out(
            fx,
            line.person,
            cc.CreditPerson(
                person=line.person,
                period=a.month,
                region=a.region,
                employer=a.employer,
                assessment_id=due.assessment_id,
                insurances=[
                    trusted(
                        cc.CreditedInsurance,
                        insurance=p.insurance,
                        scheme=p.scheme,
                        base=p.base,
                        employer_part=p.employer_part,
                        employee_part=p.employee_part,
                        subsidy=p.subsidy,
                        into_account=p.into_account,
                        account_balance_after=None,
                    )
                    for p in line.parts
                ],
            ),
        )


# ---------------------------------------------------------------------------------------------
# Wage declarations


def declare_wages(
    e: EmployerFile | None,
    sheet: WageSheet | None,
    assessment: EmployerAssessment | None,
    ledger: EmployerLedger | None,
    cmd: cc.DeclareWages,
    env: Env,
    received: datetime,
) -> tuple[WageSheet, EmployerAssessment | None, EmployerLedger | None, Effects]:
    """Record a declaration; supersede earlier lines; revise an assessment not yet in collection
    (whose wages then carry forward, if it is the latest to have the person).

    A month that has not begun on the day the declaration was sent (`received`, its ce_time)
    has no wages yet: refused whatever else is wrong with it."""
    region = e.region if e is not None else PROVINCE
    not_in_future(
        periods.first_day(cmd.month),
        received,
        env.params,
        region,
        f"wage month {cmd.month} begins",
        "declaration",
    )
    if e is None:
        raise Refused(R.EMPLOYER_NOT_REGISTERED, f"employer {cmd.employer} is not known")
    unknown = [w.person for w in cmd.wages if w.person not in e.roster]
    if unknown:
        raise Refused(
            R.PERSON_NOT_EMPLOYED,
            f"{len(unknown)} person(s) not employed by {cmd.employer}: {', '.join(unknown[:3])}",
        )
    fx = Effects()
    old = sheet.wages if sheet is not None else {}
    new = {w.person: w.wage for w in cmd.wages}
    corrected = sorted(p for p, wage in new.items() if p in old and old[p] != wage)
    sheet = declared(sheet, cmd.wages)
    due = ledger.due(cmd.month) if ledger is not None else None
    if assessment is not None and ledger is not None and due is not None:
        rates = Rates.of(env.params, assessment.region, cmd.month)
        lines = tuple(
            _relined(ln, new[ln.person], rates, assessment.risk_class)
            if ln.person in new and new[ln.person] != ln.wage
            else ln
            for ln in assessment.lines
        )
        if lines != assessment.lines:
            ledger, due = lg.revise(ledger, cmd.month, _total(lines))  # refuses once in collection
            assessment = assessment.model_copy(update={"lines": lines, "revision": due.revision})
            ledger = carry(ledger, cmd.month, due.revision, lines)
            publish_assessment(assessment, due, fx, env)
            if due.settled:
                fan_out_credits(assessment, due, fx)
    to_events(
        fx,
        cmd.employer,
        cc.WagesDeclared(
            employer=cmd.employer,
            month=cmd.month,
            declared=len(new),
            corrected=corrected,
            wages=list(cmd.wages),
        ),
    )
    return sheet, assessment, ledger, fx


def _relined(line: PersonLine, wage: Decimal, rates: Rates, risk: int) -> PersonLine:
    return person_line(line.person, wage, rates, risk, line.sealed_id)


def declared(sheet: WageSheet | None, wages: list[cc.WageLine]) -> WageSheet:
    """A month's sheet after a declaration: its lines supersede the earlier ones."""
    old = sheet.wages if sheet is not None else {}
    return WageSheet(wages={**old, **{w.person: w.wage for w in wages}})


def assessed_lines(
    a: EmployerAssessment | None, msg: cc.AssessmentLines, env: Env
) -> EmployerAssessment:
    """A rebuild: the assessment as its published lines say (a later revision replaces an
    earlier one whatever order they are read in; the parts of one revision add up)."""
    if a is not None and a.revision > msg.revision:
        return a
    rates = Rates.of(env.params, msg.region, msg.month)
    lines = [
        person_line(x.person, x.wage, rates, msg.risk_class, x.sealed_citizen_id) for x in msg.lines
    ]
    if a is not None and a.revision == msg.revision:
        held = {ln.person: ln for ln in a.lines}
        lines = [*held.values(), *(ln for ln in lines if ln.person not in held)]
    return EmployerAssessment(
        employer=msg.employer,
        month=msg.month,
        region=msg.region,
        bureau=msg.bureau,
        risk_class=msg.risk_class,
        revision=msg.revision,
        lines=tuple(sorted(lines, key=lambda ln: ln.person)),
    )


def _total(lines: tuple[PersonLine, ...]) -> Decimal:
    return sum((ln.employer_part + ln.employee_part for ln in lines), ZERO)


# ---------------------------------------------------------------------------------------------
# Collections


def book_employer_collection(
    assessment: EmployerAssessment | None,
    ledger: EmployerLedger | None,
    msg: cc.EmployerContributionsCollected,
    bureau_code: str,
    received: datetime,
    env: Env,
) -> tuple[EmployerLedger, Effects]:
    """A bureau's report of what an employer paid for a month; `received` is its ce_time.

    A month that begins after the day of the report is refused by that name before the
    assessment is looked up, found or not (one can exist when the report's ce_time is wrong):
    the bureau's mistake is the date, or its clock, not the payer."""
    due = ledger.due(msg.month) if ledger is not None else None
    not_in_future(
        periods.first_day(msg.month),
        received,
        env.params,
        due.region if due is not None else PROVINCE,
        f"month {msg.month} begins",
        "report",
    )
    if assessment is None or ledger is None or due is None:
        raise Refused(
            R.UNKNOWN_ASSESSMENT, f"no assessment for employer {msg.employer} in {msg.month}"
        )
    if due.bureau != bureau_code:
        raise Refused(
            R.WRONG_BUREAU,
            f"{due.assessment_id} ({due.region}) is collected by {due.bureau}, not {bureau_code}",
        )
    if msg.persons is not None:
        assessed = {ln.person for ln in assessment.lines}
        named = [env.ids.person_ref(x.citizen_id) for x in msg.persons]
        # named by position, never by ID: the detail also goes on the internal events topic
        stray = [f"persons[{i}]" for i, p in enumerate(named) if p not in assessed]
        reported = sum((x.amount for x in msg.persons), ZERO)
        if stray or reported != msg.amount or len(set(named)) != len(named):
            raise Refused(
                R.BREAKDOWN_MISMATCH,
                f"per-person amounts add up to {reported} for {msg.amount}"
                + (f"; not assessed: {', '.join(stray[:3])}" if stray else ""),
            )
    booking = lg.book(
        ledger, msg.month, msg.collection_id, msg.amount, bureau_code, received.date()
    )
    fx = Effects()
    if booking.outcome is None:
        return ledger, fx
    kind = cc.PayerKind.EMPLOYER
    booked = payment_booked(booking, kind, msg.employer)
    to_events(fx, msg.employer, booked)
    to_bureau(fx, bureau_code, msg.collection_id, tax.booking(booked, None))
    for ev in booking_events(booking, kind, msg.employer):
        to_events(fx, msg.employer, ev)
    if booking.newly_settled:
        fan_out_credits(assessment, booking.due, fx)
    return booking.ledger, fx
