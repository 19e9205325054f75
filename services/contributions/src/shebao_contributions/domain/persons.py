"""A person's side: obligations from enrollment, credits, accounts, interruption, transfer.

Interruption (断保). A month's contribution is due by the next close of the region (a resident's
year by the first close of the next year). At a close of month C the person is judged through
J = C - 1 (a yearly payer through December of the previous year). The person is interrupted when
the months from the last credited month (or from enrolment) up to J number at least N (the
`contributions.interruption_months` parameter): no credited month for N consecutive months. It
closes when a credit brings that count below N: the arrears were paid, the person resumed paying
(a later month credited), or a fund advanced the missing months.

Nobody sweeps every person at every close. A person is judged when something reaches him at a
close: his own assessment (paying alone), his employer's assessment when the employer has not
settled N months in a row, or a watch set in the region's directory when he stopped paying (a job
ended): the watch fires at the first close at which he could be interrupted and, if he is not
yet (a late credit), is set again for the next such close.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from shebao_common.domain import Effects, Refused
from shebao_common.policy import PROVINCE
from shebao_contracts import contributions as cc
from shebao_contracts import enrollment as ce
from shebao_contracts import unemployment as un
from shebao_contracts import welfare as wf
from shebao_contracts.envelope import Message
from shebao_contracts.trusted import trusted
from shebao_contracts.types import money

from . import ledger as lg
from . import periods, tax
from .calendar import not_in_future
from .effects import fan_out, to_bureau, to_events
from .env import Env
from .model import (
    PENSION_SCHEMES,
    YEARLY_SCHEMES,
    Advanced,
    Interruption,
    Job,
    Obligation,
    PayerKind,
    PersonFacts,
    PersonFile,
    TransferRecord,
    person_assessment_id,
    shard_of,
)
from .rates import ZERO, Part, Rates, ResidentRates, TransferRates, bureau, interruption_months

Source = Literal["employer", "person", "advance", "unemployment_fund"]
R = cc.Rejection


# ---------------------------------------------------------------------------------------------
# Obligations from enrollment events


def apply_enrollment(
    person: PersonFile | None, event: Message, env: Env
) -> tuple[PersonFile, Effects]:
    """Follow one enrollment event about a person; keep the region directory in step."""
    ref: str = getattr(event, "person")  # noqa: B009 - every person event has one
    before = person or PersonFile(ref=ref)
    p = before
    fx = Effects()
    match event:
        case ce.PersonRegistered():
            p = p.model_copy(
                update={"birth_date": event.birth_date, "sealed_id": event.sealed_citizen_id}
            )
        case ce.MembershipStarted():
            tiers = dict(p.tiers)
            if event.yearly_tier is not None:
                tiers.setdefault(event.since.year, event.yearly_tier)
            obligation = Obligation(
                scheme=event.scheme,
                region=event.region,
                basis=event.basis,
                # a relationship transferred in for an employee starts suspended
                active=event.active,
                since=event.since,
                first_enrolled=event.first_enrolled,
                employer=event.employer,
                declared_base=event.declared_base,
                yearly_tier=event.yearly_tier,
            )
            p = _put(p, obligation).model_copy(
                update={"tiers": tiers, "birth_date": p.birth_date or event.birth_date}
            )
        case ce.MembershipSuspended():
            o = p.obligations.get(event.scheme)
            if o is not None:
                p = _put(p, o.model_copy(update={"active": False, "since": event.on}))
        case ce.MembershipResumed() | ce.MembershipChanged():
            o = p.obligations.get(event.scheme)
            if o is not None:
                update: dict[str, object] = {
                    "basis": event.basis,
                    "employer": event.employer,
                    "declared_base": event.declared_base,
                }
                if isinstance(event, ce.MembershipResumed):
                    update |= {"active": True, "since": event.on}
                p = _put(p, o.model_copy(update=update))
        case ce.MembershipEnded() if event.reason == ce.StopReason.DECEASED:
            o = p.obligations.get(event.scheme)
            if o is not None:  # kept: a month whose last day he lived is still assessed
                p = _put(p, o.model_copy(update={"ended_on": event.on}))
        case ce.MembershipEnded():
            p = p.model_copy(
                update={
                    "obligations": {s: o for s, o in p.obligations.items() if s != event.scheme}
                }
            )
        case ce.EmploymentStarted():
            job = Job(employer=event.employer, region=event.region, since=event.start_date)
            p = p.model_copy(update={"job": job})
        case ce.EmploymentEnded():
            through = periods.later(p.obligated_through, periods.obligated_through(event.end_date))
            kept = p.job if p.job is not None and p.job.employer != event.employer else None
            p = p.model_copy(update={"job": kept, "obligated_through": through})
        case ce.ResidentPensionTierChosen():
            p = p.model_copy(update={"tiers": {**p.tiers, event.year: event.yearly_tier}})
        case ce.PersonDeceased():
            if p.job is not None:
                fan_out(
                    fx,
                    p.job.employer,
                    cc.RosterLeave(employer=p.job.employer, person=ref, on=event.on),
                )
            p = p.model_copy(update={"deceased_on": event.on, "job": None})
        case _:
            pass
    p = _reconcile_directory(before, p, env, fx)
    if p.facts() != before.facts():  # the facts decided on, on the service's own log
        fan_out(fx, ref, followed(p.facts()))
    return _noted(before, p, fx), fx


def _noted(before: PersonFile, p: PersonFile, fx: Effects) -> PersonFile:
    """How far the person is judged and when he is to be judged next are decisions the events
    do not show: a change of either is recorded on the work topic (for a rebuild to fold)."""
    if _standing(before) != _standing(p):
        fan_out(
            fx,
            p.ref,
            cc.PersonJudged(
                person=p.ref,
                judged_through=p.judged_through,
                watch=p.watch,
                payer=p.payer,
                payer_region=p.payer_region,
            ),
        )
    return p


def _standing(p: PersonFile) -> tuple[str | None, ...]:
    return (p.judged_through, p.watch, p.payer, p.payer_region)


def standing(p: PersonFile, record: cc.PersonJudged) -> PersonFile:
    """A rebuild: where the service stood with the person, as its last PersonJudged says."""
    through = periods.later(p.judged_through, record.judged_through)
    update = {"watch": record.watch, "payer": record.payer, "payer_region": record.payer_region}
    return p.model_copy(update={"judged_through": through, **update})


def followed(f: PersonFacts) -> cc.PersonFollowed:
    """The person's facts as the service's own record of them (see `follow`)."""
    return cc.PersonFollowed(
        person=f.ref,
        sealed_citizen_id=f.sealed_id,
        birth_date=f.birth_date,
        deceased_on=f.deceased_on,
        obligations=[cc.FollowedObligation(**o.model_dump()) for o in f.obligations.values()],
        job=cc.FollowedJob(**f.job.model_dump()) if f.job is not None else None,
        obligated_through=f.obligated_through,
        tiers=dict(f.tiers),
    )


def facts_of(record: cc.PersonFollowed) -> PersonFacts:
    """The facts a PersonFollowed records (a rebuild puts them back)."""
    return PersonFacts(
        ref=record.person,
        sealed_id=record.sealed_citizen_id,
        birth_date=record.birth_date,
        deceased_on=record.deceased_on,
        obligations={o.scheme: Obligation(**o.model_dump()) for o in record.obligations},
        job=Job(**record.job.model_dump()) if record.job is not None else None,
        obligated_through=record.obligated_through,
        tiers=dict(record.tiers),
    )


def _put(p: PersonFile, o: Obligation) -> PersonFile:
    return p.model_copy(update={"obligations": {**p.obligations, o.scheme: o}})


def payer_of(p: PersonFile) -> tuple[PayerKind, str] | None:
    """Who assesses the person: None while an employer does (or nobody does). A flexible worker
    who died stays a monthly payer until the close after his last month (see assess_person)."""
    if p.job is not None:
        return None
    if p.deceased_on is not None:
        return ("monthly", p.payer_region) if p.payer == "monthly" and p.payer_region else None
    active = sorted((o for o in p.obligations.values() if o.active), key=lambda o: o.scheme.value)
    flexible = [o for o in active if o.basis == ce.Basis.FLEXIBLE]
    if flexible:
        return "monthly", flexible[0].region
    yearly = [o for o in active if o.scheme in YEARLY_SCHEMES]
    if yearly:
        return "yearly", yearly[0].region
    return None


def _reconcile_directory(before: PersonFile, p: PersonFile, env: Env, fx: Effects) -> PersonFile:
    now = payer_of(p)
    was = (before.payer, before.payer_region) if before.payer and before.payer_region else None
    if now != was:
        shard = shard_of(p.ref, env.shards)
        if was is not None and (now is None or now[1] != was[1]):
            fan_out(
                fx,
                f"{was[1]}:{shard}",
                cc.DirectoryPayerSet(region=was[1], shard=shard, person=p.ref, kind=None),
            )
        if now is not None:
            fan_out(
                fx,
                f"{now[1]}:{shard}",
                cc.DirectoryPayerSet(region=now[1], shard=shard, person=p.ref, kind=now[0]),
            )
        p = p.model_copy(
            update={"payer": now[0] if now else None, "payer_region": now[1] if now else None}
        )
    return _schedule_watch(p, env, fx)


def _schedule_watch(p: PersonFile, env: Env, fx: Effects) -> PersonFile:
    """Someone enrolled whom nobody assesses is judged at the first close that could find him
    interrupted."""
    region = p.home_region
    if (
        p.paying
        or p.deceased_on is not None
        or p.interruption is not None
        or p.watch is not None
        or region is None
        or p.enrolled_from is None
    ):
        return p
    start = _streak_start(p)
    close = periods.shift(start, interruption_months(env.params, region, start) + 1)
    shard = shard_of(p.ref, env.shards)
    fan_out(
        fx,
        f"{region}:{shard}",
        cc.DirectoryWatchSet(region=region, shard=shard, person=p.ref, close=close),
    )
    return p.model_copy(update={"watch": close})


def _streak_start(p: PersonFile) -> str:
    """The last month not counted as uncredited: the last credited or owed-by-someone month."""
    enrolled = p.enrolled_from
    assert enrolled is not None
    floor = periods.shift(enrolled, -1)
    return periods.later(periods.later(p.last_credited, p.obligated_through), floor) or floor


# ---------------------------------------------------------------------------------------------
# Interruption


def judged_month(p: PersonFile, close: str) -> str:
    """The last month whose payment window has closed at the close of `close`."""
    if p.payer == "yearly":
        return f"{periods.year(close) - 1:04d}-12"
    return periods.shift(close, -1)


def uncredited_streak(p: PersonFile, through: str) -> int:
    """Months from the last credited month (or enrolment) up to `through`."""
    enrolled = p.enrolled_from
    if enrolled is None:
        return 0
    start = periods.later(p.last_credited, periods.shift(enrolled, -1))
    assert start is not None
    return max(periods.index(through) - periods.index(start), 0)


def judge(
    p: PersonFile, close: str, env: Env, *, from_watch: bool = False
) -> tuple[PersonFile, Effects]:
    """Judge the person at a region's close; open an interruption when N months are uncredited."""
    fx = Effects()
    before = p
    if from_watch and p.watch is not None and p.watch <= close:
        p = p.model_copy(update={"watch": None})
    region = p.home_region
    if p.deceased_on is not None or region is None:
        return _noted(before, p, fx), fx
    through = periods.later(p.judged_through, judged_month(p, close))
    assert through is not None
    p = p.model_copy(update={"judged_through": through})
    if p.interruption is None:
        streak = uncredited_streak(p, through)
        if streak >= interruption_months(env.params, region, through):
            opened = cc.InterruptionOpened(
                person=p.ref,
                region=region,
                since=periods.shift(through, 1 - streak),
                judged_through=through,
                months_uncredited=streak,
            )
            p = interrupted(p, opened)
            to_events(fx, p.ref, opened)
    p = _schedule_watch(p, env, fx)
    return _noted(before, p, fx), fx


def interrupted(p: PersonFile, opened: cc.InterruptionOpened) -> PersonFile:
    """The interruption as opened (the live judgement, and a rebuild folding its event: one
    whose closing was read first stays closed)."""
    through = periods.later(p.judged_through, opened.judged_through)
    if opened.since in p.closed_since:
        return p.model_copy(update={"judged_through": through})
    gap = Interruption(region=opened.region, since=opened.since, opened_at=opened.judged_through)
    return p.model_copy(update={"interruption": gap, "judged_through": through})


def uninterrupted(p: PersonFile, since: str) -> PersonFile:
    """The interruption that began in `since` closed (the live credit, and a rebuild folding
    its event, read before or after the opening)."""
    gap = p.interruption if p.interruption is not None and p.interruption.since != since else None
    closed = tuple(sorted({*p.closed_since, since}))
    return p.model_copy(update={"interruption": gap, "closed_since": closed})


def payer_set(p: PersonFile, region: str, kind: PayerKind | None) -> PersonFile:
    """Who assesses the person, as the region's directory is told (a region's 'stops' does not
    undo another region's 'starts')."""
    if kind is not None:
        return p.model_copy(update={"payer": kind, "payer_region": region})
    if p.payer_region != region:
        return p
    return p.model_copy(update={"payer": None, "payer_region": None})


# ---------------------------------------------------------------------------------------------
# Credits


def _bases_count(part: Part | cc.CreditedInsurance, period: str, region: str, env: Env) -> bool:
    """Whether a pension part's base counts in the bases since 1998 (the transfer's share)."""
    since = TransferRates.of(env.params, region, periods.start_of(period)).bases_since
    return part.scheme == ce.Scheme.EMPLOYEE_PENSION and period >= since


def count(
    p: PersonFile, period: str, part: Part | cc.CreditedInsurance, region: str, env: Env
) -> PersonFile:
    """One insurance's months of a period counted, its account credited (the live credit, and a
    rebuild folding a ContributionCredited: sums and a union, in any order)."""
    months = periods.months_of(period)
    have = p.months(part.insurance)
    credited = {**p.credited, part.insurance: tuple(sorted(set(have) | set(months)))}
    update: dict[str, object] = {
        "credited": dict(sorted(credited.items())),
        "last_credited": periods.later(p.last_credited, periods.last_month(period)),
    }
    if part.insurance == ce.Insurance.PENSION:
        update["pension_account"] = p.pension_account + part.into_account
        if _bases_count(part, period, region, env):
            update["pension_bases_since_1998"] = p.pension_bases_since_1998 + part.base
    elif part.insurance == ce.Insurance.MEDICAL:
        update["medical_account"] = p.medical_account + part.into_account
    return p.model_copy(update=update)


def recover(
    p: PersonFile, period: str, amount: Decimal, into: Decimal, base: Decimal
) -> PersonFile:
    """A regular payment of an advanced period: the advance recovered, the difference credited
    (the live credit, and a rebuild folding an AdvanceRecovered)."""
    return p.model_copy(
        update={
            "advances": {k: v for k, v in p.advances.items() if k != period},
            "recovered": tuple(sorted({*p.recovered, period})),
            "advance_outstanding": p.advance_outstanding - amount,
            "pension_account": p.pension_account + into,
            "pension_bases_since_1998": p.pension_bases_since_1998 + base,
            "last_credited": periods.later(p.last_credited, periods.last_month(period)),
        }
    )


def credit(
    p: PersonFile,
    period: str,
    parts: tuple[Part, ...] | list[Part],
    source: Source,
    env: Env,
    *,
    region: str,
    employer: str | None = None,
    assessment_id: str | None = None,
) -> tuple[PersonFile, Effects]:
    """Count a settled period's months and credit the accounts, each insurance once per month.

    A month already credited is not credited again. A regular payment of a month a fund
    advanced recovers that advance instead: the month stays counted once (by the advance), the
    account keeps the regular credit, the advance's amount leaves the outstanding balance.
    """
    fx = Effects()
    months = periods.months_of(period)
    lines: list[cc.CreditedInsurance] = []
    recovered = False
    before = p
    for part in parts:
        if set(months) <= set(p.months(part.insurance)):
            advanced = p.advances.get(period) if part.insurance == ce.Insurance.PENSION else None
            if advanced is None or source == "advance":
                continue  # credited before: a month counts once
            # counted by the advance: recovered, not credited again
            into = part.into_account - advanced.part.into_account
            base = (
                part.base - advanced.part.base if _bases_count(part, period, region, env) else ZERO
            )
            p = recover(p, period, advanced.amount, into, base)
            recovered = True
            to_events(
                fx,
                p.ref,
                cc.AdvanceRecovered(
                    person=p.ref,
                    period=period,
                    amount=advanced.amount,
                    outstanding=p.advance_outstanding,
                    into_account=into,
                    account_balance_after=p.pension_account,
                    base=base,
                ),
            )
            continue
        p = count(p, period, part, region, env)
        balance: Decimal | None = None
        if part.insurance == ce.Insurance.PENSION:
            balance = p.pension_account
        elif part.insurance == ce.Insurance.MEDICAL:
            balance = p.medical_account
        lines.append(
            trusted(  # from a validated part (see employers.py)
                cc.CreditedInsurance,
                insurance=part.insurance,
                scheme=part.scheme,
                base=part.base,
                employer_part=part.employer_part,
                employee_part=part.employee_part,
                subsidy=part.subsidy,
                into_account=part.into_account,
                account_balance_after=balance,
            )
        )
    if not lines and not recovered:
        return before, fx
    if lines:
        to_events(
            fx,
            p.ref,
            cc.ContributionCredited(
                person=p.ref,
                period=period,
                months=len(months),
                source=source,
                employer=employer,
                assessment_id=assessment_id,
                insurances=lines,
                region=region,
            ),
        )
    if before.interruption is not None and p.judged_through is not None:
        n = interruption_months(env.params, before.interruption.region, p.judged_through)
        if uncredited_streak(p, p.judged_through) < n:
            closed_by = (
                cc.ClosedBy.ADVANCED
                if source == "advance"
                else cc.ClosedBy.ARREARS_PAID
                if periods.last_month(period) <= p.judged_through
                else cc.ClosedBy.RESUMED
            )
            to_events(
                fx,
                p.ref,
                cc.InterruptionClosed(
                    person=p.ref,
                    region=before.interruption.region,
                    since=before.interruption.since,
                    closed_by=closed_by,
                    credited=period,
                ),
            )
            p = uninterrupted(p, before.interruption.since)
    return p, fx


# ---------------------------------------------------------------------------------------------
# Persons who pay alone: flexible workers (monthly), residents (yearly)


def assess_person(
    p: PersonFile | None, region: str, month: str, env: Env
) -> tuple[PersonFile | None, Effects]:
    """At a region's close: book last period's arrears, judge, and assess what the person owes.

    A flexible worker owes the month for each flexible membership active on its last day, on
    the declared base clamped like a wage; one who died owes the months whose last day he lived,
    like an employee, and leaves the directory at the close after the last of them (which books
    it as arrears if unpaid). A resident owes a year once, at the first close of the year he is
    enrolled at: the year's tier (plus the subsidy, credited on payment) and the resident
    medical premium. A land-expropriated farmer likewise owes his own tier; what the region pays
    on his behalf is credited with the subsidy.
    """
    fx = Effects()
    if p is None or p.payer is None or p.payer_region != region:
        return p, fx
    code = bureau(env.params, region, month)
    if code is None:
        return p, fx
    yearly = p.payer == "yearly"
    period = str(periods.year(month)) if yearly else month
    previous = str(periods.year(month) - 1) if yearly else periods.shift(month, -1)
    ledger, late = lg.overdue(p.ledger, previous)
    if late is not None:
        to_events(fx, p.ref, arrears_booked(late, cc.PayerKind.PERSON, p.ref))
    p = p.model_copy(update={"ledger": ledger})
    p, judged = judge(p, month, env)
    fx.extend(judged)
    if p.deceased_on is not None and month > periods.obligated_through(p.deceased_on):
        shard = shard_of(p.ref, env.shards)
        fan_out(
            fx,
            f"{region}:{shard}",
            cc.DirectoryPayerSet(region=region, shard=shard, person=p.ref, kind=None),
        )
        return _noted(p, payer_set(p, region, None), fx), fx
    if p.ledger.due(period) is not None:
        return p, fx
    parts = (
        _resident_parts(p, int(period), region, env) if yearly else _flexible_parts(p, month, env)
    )
    if not parts:
        return p, fx
    total = sum((x.payable for x in parts), ZERO)
    aid = person_assessment_id(p.ref, period)
    ledger, due = lg.issue(p.ledger, period, aid, region, code, total)
    p = p.model_copy(update={"ledger": ledger, "assessed": {**p.assessed, period: parts}})
    issued = _issued(aid, due, p.ref, parts)
    to_events(fx, p.ref, issued)
    to_bureau(fx, code, aid, tax.assessment(issued, env.ids, citizen_id=tax.named(p, env.ids)))
    if due.settled:  # the held credit covered it
        p, credited = _settle(p, period, region, aid, env)
        fx.extend(credited)
    elif yearly:  # the government may have paid for this year before it was assessed
        p, on_behalf = _book_on_behalf(p, int(period), env)
        fx.extend(on_behalf)
    return p, fx


def _flexible_parts(p: PersonFile, month: str, env: Env) -> tuple[Part, ...]:
    last = periods.last_day(month)
    owed = [
        o
        for o in p.obligations.values()
        if o.active
        and o.basis == ce.Basis.FLEXIBLE
        and o.since <= last
        and (o.ended_on is None or o.ended_on >= last)
    ]
    if not owed:
        return ()
    rates = Rates.of(env.params, owed[0].region, month)
    declared = next((o.declared_base for o in owed if o.declared_base is not None), None)
    base = rates.base(declared if declared is not None else rates.floor)
    return rates.flexible_parts(base, [o.scheme for o in owed])


def _resident_parts(p: PersonFile, year: int, region: str, env: Env) -> tuple[Part, ...]:
    rr = ResidentRates.of(env.params, region, year)
    end = date(year, 12, 31)
    parts: list[Part] = []
    pension = p.obligations.get(ce.Scheme.RESIDENT_PENSION)
    if pension is not None and pension.active and pension.since <= end:
        tier = p.tiers.get(year, pension.yearly_tier or min(rr.tiers))
        parts.append(rr.pension_part(tier, p.pension_years_before))
    farmer = p.obligations.get(ce.Scheme.LAND_EXPROPRIATED_PENSION)
    if farmer is not None and farmer.active and farmer.since <= end:
        tier = p.tiers.get(year, farmer.yearly_tier or rr.land_expropriated_tier or min(rr.tiers))
        part = rr.land_expropriated_part(tier, p.pension_years_before)
        if part is not None:
            parts.append(part)
    medical = p.obligations.get(ce.Scheme.RESIDENT_MEDICAL)
    if medical is not None and medical.active and medical.since <= end:
        part = rr.medical_part()
        if part is not None:
            parts.append(part)
    return tuple(parts)


def _issued(aid: str, due: lg.Due, person: str, parts: tuple[Part, ...]) -> cc.AssessmentIssued:
    return cc.AssessmentIssued(
        assessment_id=aid,
        revision=due.revision,
        payer=cc.PayerKind.PERSON,
        person=person,
        region=due.region,
        bureau=due.bureau,
        period=due.period,
        total=due.total,
        credit_applied=due.credit_applied,
        amount_due=due.amount_due,
        by_insurance=[
            cc.InsuranceAmounts(
                insurance=x.insurance, employer_part=x.employer_part, employee_part=x.employee_part
            )
            for x in parts
        ],
        person_count=1,
        insurances=[_credited_line(x) for x in parts],
    )


def settled(p: PersonFile, period: str) -> tuple[PersonFile, tuple[Part, ...]]:
    """A period of the person's own paid in full: its assessed parts, to credit, leave the file."""
    parts = p.assessed.get(period, ())
    rest = {k: v for k, v in p.assessed.items() if k != period}
    return p.model_copy(update={"assessed": rest}), parts


def _settle(
    p: PersonFile, period: str, region: str, aid: str, env: Env
) -> tuple[PersonFile, Effects]:
    p, parts = settled(p, period)
    return credit(p, period, parts, "person", env, region=region, assessment_id=aid)


def book_person_collection(
    p: PersonFile | None,
    msg: cc.PersonContributionsCollected,
    bureau_code: str,
    received: datetime,
    env: Env,
) -> tuple[PersonFile, Effects]:
    """A bureau's report of what a person paid for a month or a year; `received` is its
    ce_time; `p` is the file of the person the report's citizen ID refers to. A period that
    begins after the day of the report is refused by that name first (see
    book_employer_collection); a year is paid during the year, from its first day."""
    due = p.ledger.due(msg.period) if p is not None else None
    not_in_future(
        periods.start_of(msg.period),
        received,
        env.params,
        due.region if due is not None else PROVINCE,
        f"{'year' if periods.is_year(msg.period) else 'month'} {msg.period} begins",
        "report",
    )
    if p is None or due is None:
        raise Refused(
            R.UNKNOWN_ASSESSMENT,
            f"no assessment in {msg.period} for the person the citizen ID names",
        )
    if due.bureau != bureau_code:
        raise Refused(
            R.WRONG_BUREAU, f"{due.assessment_id} is collected by {due.bureau}, not {bureau_code}"
        )
    booking = lg.book(
        p.ledger, msg.period, msg.collection_id, msg.amount, bureau_code, received.date()
    )
    fx = Effects()
    if booking.outcome is None:
        return p, fx
    p = p.model_copy(update={"ledger": booking.ledger})
    booked = payment_booked(booking, cc.PayerKind.PERSON, p.ref)
    to_events(fx, p.ref, booked)
    to_bureau(fx, bureau_code, msg.collection_id, tax.booking(booked, msg.citizen_id))
    for e in booking_events(booking, cc.PayerKind.PERSON, p.ref):
        to_events(fx, p.ref, e)
    if booking.newly_settled:
        p, credited = _settle(p, msg.period, due.region, due.assessment_id, env)
        fx.extend(credited)
    return p, fx


# ---------------------------------------------------------------------------------------------
# Ledger events shared with employers


def _payer_fields(kind: cc.PayerKind, payer: str) -> dict[str, str]:
    return {"employer": payer} if kind == cc.PayerKind.EMPLOYER else {"person": payer}


def arrears_booked(due: lg.Due, kind: cc.PayerKind, payer: str) -> cc.ArrearsBooked:
    return cc.ArrearsBooked(
        payer=kind,
        period=due.period,
        amount_due=due.amount_due,
        paid=due.paid,
        arrears=due.arrears,
        **_payer_fields(kind, payer),
    )


def payment_booked(b: lg.Booking[Any], kind: cc.PayerKind, payer: str) -> cc.PaymentBooked:
    assert b.payment is not None and b.outcome is not None
    return cc.PaymentBooked(
        assessment_id=b.due.assessment_id,
        payer=kind,
        period=b.due.period,
        bureau=b.payment.bureau,
        collection_id=b.payment.collection_id,
        amount=b.payment.amount,
        paid_total=b.due.paid,
        amount_due=b.due.amount_due,
        outcome=b.outcome,
        **_payer_fields(kind, payer),
    )


def booking_events(b: lg.Booking[Any], kind: cc.PayerKind, payer: str) -> list[Message]:
    out: list[Message] = []
    if b.outcome == cc.PaymentOutcome.UNDERPAID:
        out.append(arrears_booked(b.due, kind, payer))
    if b.arrears_cleared:
        out.append(
            cc.ArrearsCleared(
                payer=kind, period=b.due.period, paid=b.due.paid, **_payer_fields(kind, payer)
            )
        )
    if b.excess > ZERO:
        out.append(
            cc.OverpaymentHeld(
                payer=kind,
                period=b.due.period,
                excess=b.excess,
                credit_balance=b.ledger.credit,
                **_payer_fields(kind, payer),
            )
        )
    return out


# ---------------------------------------------------------------------------------------------
# Advance now, recover later


def advance(
    p: PersonFile | None, cmd: cc.AdvanceContributions, env: Env
) -> tuple[PersonFile, Effects]:
    """A fund pays the interrupted person's missing pension periods now (see the contract)."""
    if p is None:
        raise Refused(R.PERSON_NOT_KNOWN, f"no contributions file for {cmd.person}")
    if cmd.advance_id in p.advance_ids:
        raise Refused(R.ADVANCE_ID_IN_USE, f"advance {cmd.advance_id} was recorded before")
    gap = p.interruption
    if gap is None or p.judged_through is None:
        raise Refused(R.NOT_INTERRUPTED, "the person is not interrupted")
    have = set(p.months(ce.Insurance.PENSION))
    missing = [m for m in periods.span(gap.since, p.judged_through) if m not in have]
    todo: list[tuple[str, Part, Decimal]] = []
    if p.obligations.get(ce.Scheme.RESIDENT_PENSION) is not None:
        years = sorted({periods.year(m) for m in missing})
        for y in years:
            rr = ResidentRates.of(env.params, gap.region, y)
            part = rr.pension_part(min(rr.tiers), p.pension_years_before)
            todo.append((str(y), part, part.employee_part))
    elif p.obligations.get(ce.Scheme.EMPLOYEE_PENSION) is not None:
        for m in missing:
            rates = Rates.of(env.params, gap.region, m)
            part = rates.flexible_pension_part(rates.floor)
            todo.append((m, part, part.payable))
    if not todo:
        raise Refused(R.NOTHING_TO_ADVANCE, "no pension membership with missing months")
    fx = Effects()
    total = money(sum((amount for _, _, amount in todo), ZERO))
    p = advanced(p, cmd.advance_id, [(period, amount, part) for period, part, amount in todo])
    to_events(
        fx,
        p.ref,
        cc.ContributionsAdvanced(
            person=p.ref,
            advance_id=cmd.advance_id,
            funded_by=cmd.funded_by,
            periods=[period for period, _, _ in todo],
            amount=total,
            outstanding=p.advance_outstanding,
            advanced=[
                cc.AdvancedPeriod(period=period, amount=amount, part=_credited_line(part))
                for period, part, amount in todo
            ],
        ),
    )
    for period, part, _ in todo:
        p, credited = credit(p, period, [part], "advance", env, region=gap.region)
        fx.extend(credited)
    return p, fx


# ---------------------------------------------------------------------------------------------
# Transfer out


def advanced(p: PersonFile, advance_id: str, todo: list[tuple[str, Decimal, Part]]) -> PersonFile:
    """The periods a fund advanced, to recover (the live advance, and a rebuild folding a
    ContributionsAdvanced: one whose recovery was read first is not to recover again)."""
    advances = dict(p.advances)
    for period, amount, part in todo:
        if period not in p.recovered:
            advances[period] = Advanced(advance_id=advance_id, amount=amount, part=part)
    advances = dict(sorted(advances.items()))
    total = money(sum((amount for _, amount, _ in todo), ZERO))
    return p.model_copy(
        update={
            "advances": advances,
            "advance_ids": (*p.advance_ids, advance_id),
            "advance_outstanding": p.advance_outstanding + total,
        }
    )


def part_of(x: cc.CreditedInsurance) -> Part:
    """A part as a message carries it."""
    return Part.of(
        x.insurance,
        x.scheme,
        x.base,
        employer_part=x.employer_part,
        employee_part=x.employee_part,
        subsidy=x.subsidy,
        into_account=x.into_account,
    )


def _credited_line(part: Part) -> cc.CreditedInsurance:
    return cc.CreditedInsurance(
        insurance=part.insurance,
        scheme=part.scheme,
        base=part.base,
        employer_part=part.employer_part,
        employee_part=part.employee_part,
        subsidy=part.subsidy,
        into_account=part.into_account,
    )


def transfer_out(
    p: PersonFile, event: ce.PersonTransferredOut, env: Env
) -> tuple[PersonFile, cc.TransferAmountComputed]:
    """The whole personal account moves, plus for employee pension a pooled-fund share of the
    contribution bases since 1998; the medical account moves with a medical relationship.

    The accounts are the person's and follow him (this file is province-wide): the event is what
    the funds of the two regions settle between them.
    """
    schemes = set(event.schemes)
    rates = TransferRates.of(env.params, event.from_region, event.on)
    pension_moves = bool(schemes & PENSION_SCHEMES)
    pension = p.pension_account if pension_moves else ZERO
    bases = p.pension_bases_since_1998 if ce.Scheme.EMPLOYEE_PENSION in schemes else ZERO
    pooled = money(bases * rates.pooled_share)
    medical = p.medical_account if ce.Scheme.EMPLOYEE_MEDICAL in schemes else ZERO
    total = pension + pooled + medical
    computed = cc.TransferAmountComputed(
        person=p.ref,
        transfer_id=event.transfer_id,
        from_region=event.from_region,
        to_region=event.to_region,
        on=event.on,
        pension_account=pension,
        bases_since_1998=bases,
        pooled_share=pooled,
        medical_account=medical,
        total=total,
    )
    return transferred(p, computed), computed


def transferred(p: PersonFile, computed: cc.TransferAmountComputed) -> PersonFile:
    """The transfer on the person's file (the live rule, and a rebuild folding its event)."""
    record = TransferRecord(
        transfer_id=computed.transfer_id,
        on=computed.on,
        from_region=computed.from_region,
        to_region=computed.to_region,
        total=computed.total,
    )
    return p.model_copy(update={"transfers": (*p.transfers, record)})


# ---------------------------------------------------------------------------------------------
# The unemployment fund's medical months


def fund_medical(
    p: PersonFile | None, msg: un.MedicalContributionPaid, env: Env
) -> tuple[PersonFile, Effects]:
    """The unemployment fund paid a benefit recipient's employee medical contribution for a
    month: the month is credited as a medical month (once), as the employer's used to be, so the
    person is neither interrupted nor without medical cover. Nothing goes into the personal
    account: the fund pays the pooled contribution only (DOMAIN.md: practice varies)."""
    p = p or PersonFile(ref=msg.person)
    part = Part(
        insurance=ce.Insurance.MEDICAL,
        scheme=ce.Scheme.EMPLOYEE_MEDICAL,
        base=msg.base,
        employer_part=msg.amount,
    )
    return credit(p, msg.month, (part,), "unemployment_fund", env, region=msg.region)


# ---------------------------------------------------------------------------------------------
# What the government pays for a welfare recipient


GOVERNMENT = "government"
"""Who collected a payment made on the person's behalf (in place of a bureau's code)."""


def paid_on_behalf(
    p: PersonFile | None, msg: wf.PensionPaidOnBehalf, env: Env
) -> tuple[PersonFile, Effects]:
    """Welfare: the government pays the lowest resident-pension tier of a year for a 低保 or
    特困 recipient. Booked as a payment against the year's resident assessment (now, or when the
    year is assessed): the person pays the rest of a higher tier, the year is credited once paid
    in full. Nothing is booked for a person outside the resident pension scheme."""
    p = p or PersonFile(ref=msg.person)
    if msg.year in p.paid_on_behalf:
        return p, Effects()
    p = recorded_on_behalf(p, msg.year, msg.amount)
    recorded = to_events(
        Effects(), p.ref, cc.PaidOnBehalfRecorded(person=p.ref, year=msg.year, amount=msg.amount)
    )
    p, fx = _book_on_behalf(p, msg.year, env)
    return p, recorded.extend(fx)


def book_on_behalf(p: PersonFile, year: int) -> tuple[PersonFile, lg.Booking[lg.Ledger] | None]:
    """The government's payment of the year booked against its resident assessment, once both
    are known (the live rule, and a rebuild folding either in any order)."""
    period, amount = str(year), p.paid_on_behalf.get(year)
    due = p.ledger.due(period)
    parts = p.assessed.get(period, ())
    resident = any(x.scheme == ce.Scheme.RESIDENT_PENSION for x in parts)
    if amount is None or due is None or not resident:
        return p, None
    booking = lg.book(
        p.ledger,
        period,
        f"{GOVERNMENT}-{year}",
        min(amount, due.amount_due),
        GOVERNMENT,
        date(year, 1, 1),
    )
    if booking.outcome is None:
        return p, None
    return p.model_copy(update={"ledger": booking.ledger}), booking


def recorded_on_behalf(p: PersonFile, year: int, amount: Decimal) -> PersonFile:
    """The government's payment of a year, recorded (the rule, and a rebuild folding it)."""
    paid = dict(sorted({**p.paid_on_behalf, year: amount}.items()))
    return p.model_copy(update={"paid_on_behalf": paid})


def _book_on_behalf(p: PersonFile, year: int, env: Env) -> tuple[PersonFile, Effects]:
    fx = Effects()
    p, booking = book_on_behalf(p, year)
    if booking is None:
        return p, fx
    for e in booking_events(booking, cc.PayerKind.PERSON, p.ref):
        to_events(fx, p.ref, e)
    if booking.newly_settled:
        due = booking.due
        p, credited = _settle(p, str(year), due.region, due.assessment_id, env)
        fx.extend(credited)
    return p, fx
