"""Decisions on cases: a household's allowance (低保), a person's support (特困), reviews, stops.

低保 (DOMAIN.md): a household whose per-capita income is below the local standard (urban or
rural, in force on the day of the decision) and whose assets pass is paid, monthly, (standard -
per-capita income) x members, from the month after the decision; the standard is the one in
force each month paid. A review recomputes from the month after it (or stops the household
when it is no longer below). 特困: a person unable to work, without income and without anybody
obliged to support them gets the basic standard (a multiple of the 低保 standard, at least 1.3)
plus a care part by self-care ability. A person is in one active case at a time; every change
of a person's status is published, dated, for medical assistance.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from shebao_common.domain import Effects, Refused
from shebao_contracts import welfare as w
from shebao_contracts.types import money

from . import months
from .env import Env
from .model import Case, Person, Step, shard_of, support_case

R = w.Rejection
S = w.AssistanceStatus


def per_capita(income: Decimal, members: int) -> Decimal:
    return money(income / members)


def allowance(standard: Decimal, step: Step) -> Decimal:
    """(standard - per-capita income) x members, to the fen; never below zero."""
    n = len(step.members)
    return max(Decimal("0.00"), money((standard - per_capita(step.income, n)) * n))


def support(case: Case, month: str, env: Env) -> tuple[Decimal, Decimal]:
    """特困: the basic part and the care part of a month."""
    on = months.first_day(month)
    assert case.self_care is not None
    basic = money(
        env.params.support_ratio(case.region, on)
        * env.params.standard(case.region, on, case.residence)
    )
    return basic, env.params.care(case.region, on, case.self_care)


def status(person: str, s: w.AssistanceStatus, region: str, on: date) -> w.RecipientStatusChanged:
    return w.RecipientStatusChanged(person=person, status=s, region=region, effective_from=on)


def _directory(fx: Effects, region: str, case: str, env: Env) -> None:
    shard = shard_of(case, env.shards)
    fx.emit(
        w.WORK,
        f"{region}:{shard}",
        w.DirectorySet(region=region, shard=shard, case=case, active=True),
    )


def _free(persons: dict[str, Person | None], case: str) -> None:
    """Refuse when a person is in another active case."""
    taken = [p for p in persons.values() if p is not None and p.case not in (None, case)]
    if taken:
        raise Refused(
            R.MEMBER_IN_ANOTHER_HOUSEHOLD,
            f"{len(taken)} member(s) belong to another household; it must change or stop first",
        )


def _eligible(
    income: Decimal, n: int, region: str, residence: w.Residence, on: date, env: Env
) -> Decimal:
    standard = env.params.standard(region, on, residence)
    pc = per_capita(income, n)
    if pc >= standard:
        raise Refused(
            R.INCOME_NOT_BELOW_STANDARD,
            f"per-capita income {pc} is not below the standard {standard}",
        )
    return standard


def apply_allowance(
    case: Case | None,
    persons: dict[str, Person | None],
    cmd: w.ApplyForAllowance,
    received: datetime,
    env: Env,
) -> tuple[Case, dict[str, Person], Effects]:
    months.not_in_future(cmd.applied_on, received, cmd.region, "the application", env)
    if case is not None and case.active:
        raise Refused(R.HOUSEHOLD_ALREADY_ACTIVE, f"{cmd.household_id} receives the allowance")
    _free(persons, cmd.household_id)
    if not cmd.assets_within_limit:
        raise Refused(R.ASSETS_ABOVE_LIMIT, "the household's assets failed the asset test")
    members = tuple(persons)
    _eligible(cmd.monthly_income, len(members), cmd.region, cmd.residence, cmd.applied_on, env)
    step = Step(from_month=months.after(cmd.applied_on), members=members, income=cmd.monthly_income)
    case = Case(
        id=cmd.household_id,
        status=S.MINIMUM_LIVING_ALLOWANCE,
        region=cmd.region,
        residence=cmd.residence,
        steps=(step,),
        grants=case.grants if case is not None else {},
        grant_ids=case.grant_ids if case is not None else (),
        pension=case.pension if case is not None else (),  # paid once a year, across spells
    )
    fx = Effects()
    fx.emit(w.EVENTS, case.id, _decided(case, step, env))
    start = months.first_day(step.from_month)
    for ref in members:
        fx.emit(w.EVENTS, ref, status(ref, S.MINIMUM_LIVING_ALLOWANCE, case.region, start))
    _directory(fx, case.region, case.id, env)
    joined = {
        ref: (p or Person(ref=ref)).model_copy(update={"case": case.id})
        for ref, p in persons.items()
    }
    return case, joined, fx


def _decided(case: Case, step: Step, env: Env) -> w.AllowanceDecided:
    standard = env.params.standard(case.region, months.first_day(step.from_month), case.residence)
    n = len(step.members)
    return w.AllowanceDecided(
        household_id=case.id,
        region=case.region,
        members=n,
        standard=standard,
        per_capita_income=per_capita(step.income, n),
        monthly_allowance=allowance(standard, step),
        from_month=step.from_month,
    )


def review(
    case: Case | None,
    persons: dict[str, Person | None],
    cmd: w.ReviewHousehold,
    received: datetime,
    env: Env,
) -> tuple[Case, dict[str, Person], Effects]:
    """The allowance from the month after the review; those who left the household lose their
    status that month, those who joined gain it; no longer below the standard: stopped."""
    if case is None:
        raise Refused(R.UNKNOWN_HOUSEHOLD, f"no household {cmd.household_id}")
    if not case.active:
        raise Refused(R.HOUSEHOLD_NOT_ACTIVE, f"{case.id} stopped in {case.last_month}")
    months.not_in_future(cmd.on, received, case.region, "the review", env)
    _free(persons, case.id)
    members = tuple(persons)
    try:
        _eligible(cmd.monthly_income, len(members), case.region, case.residence, cmd.on, env)
    except Refused:
        stopped, fx = stop(case, cmd.on, w.StopReason.INCOME_ABOVE_STANDARD, env)
        return stopped, {}, fx
    step = Step(from_month=months.after(cmd.on), members=members, income=cmd.monthly_income)
    before = set(case.members)
    case = case.model_copy(update={"steps": (*case.steps, step)})
    fx = Effects().emit(w.EVENTS, case.id, _decided(case, step, env))
    start = months.first_day(step.from_month)
    for ref in members:
        if ref not in before:
            fx.emit(w.EVENTS, ref, status(ref, case.status, case.region, start))
    for ref in sorted(before - set(members)):
        fx.emit(w.EVENTS, ref, status(ref, S.NONE, case.region, start))
        fx.emit(w.WORK, ref, w.MemberSet(person=ref, case=None, left=case.id))
    joined = {
        ref: (p or Person(ref=ref)).model_copy(update={"case": case.id})
        for ref, p in persons.items()
    }
    return case, joined, fx


def stop(case: Case, on: date, reason: w.StopReason, env: Env) -> tuple[Case, Effects]:
    """The case stops after the month of `on` (that month is the last paid); its members lose
    their status from the first day of the next."""
    last = months.of(on)
    case = case.model_copy(update={"active": False, "last_month": last, "stop_reason": reason})
    fx = Effects().emit(
        w.EVENTS,
        case.id,
        w.AllowanceStopped(
            household_id=case.id, region=case.region, on=on, reason=reason, last_month=last
        ),
    )
    start = months.first_day(months.shift(last, 1))
    for ref in case.members:
        fx.emit(w.EVENTS, ref, status(ref, S.NONE, case.region, start))
        fx.emit(w.WORK, ref, w.MemberSet(person=ref, case=None, left=case.id))
    return case, fx


def stop_recorded(
    case: Case | None, cmd: w.StopAllowance | w.StopSupport, received: datetime, env: Env
) -> tuple[Case, Effects]:
    if case is None:
        what = cmd.household_id if isinstance(cmd, w.StopAllowance) else "support of the person"
        raise Refused(R.UNKNOWN_HOUSEHOLD, f"no {what}")
    if not case.active:
        raise Refused(R.HOUSEHOLD_NOT_ACTIVE, f"{case.id} stopped in {case.last_month}")
    months.not_in_future(cmd.on, received, case.region, "the stop", env)
    return stop(case, cmd.on, cmd.reason, env)


def apply_support(
    case: Case | None,
    person: Person | None,
    ref: str,
    cmd: w.ApplyForSupport,
    received: datetime,
    env: Env,
) -> tuple[Case, Person, Effects]:
    months.not_in_future(cmd.applied_on, received, cmd.region, "the application", env)
    if not (cmd.unable_to_work and cmd.no_income and cmd.no_supporter):
        raise Refused(
            R.NOT_EXTREME_POVERTY,
            "extreme-poverty support needs all three: unable to work, no income, no supporter",
        )
    cid = support_case(ref)
    if case is not None and case.active:
        raise Refused(R.ALREADY_SUPPORTED, f"supported since {case.steps[0].from_month}")
    _free({ref: person}, cid)
    step = Step(from_month=months.after(cmd.applied_on), members=(ref,), income=Decimal("0.00"))
    case = Case(
        id=cid,
        status=S.EXTREME_POVERTY,
        region=cmd.region,
        residence=cmd.residence,
        self_care=cmd.self_care,
        steps=(step,),
    )
    basic, care = support(case, step.from_month, env)
    fx = Effects().emit(
        w.EVENTS,
        ref,
        w.SupportDecided(
            person=ref,
            region=cmd.region,
            basic=basic,
            care=care,
            monthly_support=basic + care,
            from_month=step.from_month,
        ),
    )
    fx.emit(
        w.EVENTS, ref, status(ref, S.EXTREME_POVERTY, cmd.region, months.first_day(step.from_month))
    )
    _directory(fx, cmd.region, cid, env)
    return case, (person or Person(ref=ref)).model_copy(update={"case": cid}), fx


def member_set(p: Person | None, msg: w.MemberSet) -> Person:
    p = p or Person(ref=msg.person)
    if msg.case is None and p.case not in (None, msg.left):
        return p  # joined another case meanwhile: keep it
    return p.model_copy(update={"case": msg.case})
