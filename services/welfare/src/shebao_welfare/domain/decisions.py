"""Decisions on cases: a household's allowance (低保), a person's support (特困), reviews, stops.

低保 (DOMAIN.md): a household whose per-capita income is below the local standard (urban or
rural, in force on the day of the decision) and whose assets pass is paid, monthly, (standard -
per-capita income) x members, from the month after the decision; the standard is the one in
force each month paid. A review recomputes from the month after it (or stops the household
when it is no longer below). 特困: a person unable to work, without income and without anybody
obliged to support them gets the basic standard (a multiple of the 低保 standard, at least 1.3)
plus a care part by self-care ability. A person is in one active case at a time; every change
of a person's status is published, dated, for medical assistance.

Each decision is published with the facts it changed state by, and the state is computed from
the published event by one function (`decided`, `stopped`, `supported`, `joined`, `left`): the
live decision calls it on the event it emits, and a rebuild on the event as it reads it back from
the log (handlers.welfare_log), so the two cannot drift.
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


def status(
    person: str, s: w.AssistanceStatus, region: str, on: date, case: str
) -> w.RecipientStatusChanged:
    return w.RecipientStatusChanged(
        person=person, status=s, region=region, effective_from=on, case=case
    )


def joined(p: Person | None, ref: str, case: str) -> Person:
    """The person once a decision of `case` made them its member."""
    return (p or Person(ref=ref)).model_copy(update={"case": case})


def held(p: Person | None, ref: str, case: str, claim: str) -> Person:
    """The person held for `case` by its claim `claim` (partitioned: `handlers._hold`), until
    the decision comes back (`member_set`)."""
    p = p or Person(ref=ref)
    return p.model_copy(update={"case": case, "held": (*p.held, claim)})


def left(p: Person | None, ref: str, case: str | None) -> Person:
    """The person once they left `case`: no longer in a case, unless they are in another one
    meanwhile (a leave never undoes a later join elsewhere)."""
    p = p or Person(ref=ref)
    if p.case not in (None, case):
        return p
    return p.model_copy(update={"case": None, "held": ()})


def membership(p: Person | None, ev: w.RecipientStatusChanged) -> Person:
    """A person's case as their published status says: joined with a status, left with none."""
    if ev.case is None:
        raise ValueError(f"a status event of {ev.person} names no case: the log predates it")
    if ev.status is S.NONE:
        return left(p, ev.person, ev.case)
    return joined(p, ev.person, ev.case)


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
    cmd: w.ApplyForAllowance | w.ApplicationClaim,
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
    ev = _decided(cmd.household_id, cmd.region, cmd.residence, step, env)
    case = decided(case, ev)
    fx = Effects()
    fx.emit(w.EVENTS, case.id, ev)
    start = months.first_day(step.from_month)
    for ref in members:
        fx.emit(w.EVENTS, ref, status(ref, S.MINIMUM_LIVING_ALLOWANCE, case.region, start, case.id))
    _directory(fx, case.region, case.id, env)
    return case, {ref: joined(p, ref, case.id) for ref, p in persons.items()}, fx


def _decided(
    household: str, region: str, residence: w.Residence, step: Step, env: Env
) -> w.AllowanceDecided:
    standard = env.params.standard(region, months.first_day(step.from_month), residence)
    n = len(step.members)
    return w.AllowanceDecided(
        household_id=household,
        region=region,
        members=n,
        standard=standard,
        per_capita_income=per_capita(step.income, n),
        monthly_allowance=allowance(standard, step),
        from_month=step.from_month,
        residence=residence,
        member_refs=list(step.members),
        monthly_income=step.income,
    )


def decided(case: Case | None, ev: w.AllowanceDecided) -> Case:
    """The household's case once `ev` was decided: a new spell when it had none active (an
    application; the temporary assistance and the pension years paid carry over), else a
    review's step from its month."""
    if ev.residence is None or ev.monthly_income is None or len(ev.member_refs) != ev.members:
        raise ValueError(f"{ev.household_id}: an AllowanceDecided without its facts (old log)")
    step = Step(from_month=ev.from_month, members=tuple(ev.member_refs), income=ev.monthly_income)
    if case is not None and case.active:
        return case.model_copy(update={"steps": (*case.steps, step)})
    return Case(
        id=ev.household_id,
        status=S.MINIMUM_LIVING_ALLOWANCE,
        region=ev.region,
        residence=ev.residence,
        steps=(step,),
        grants=case.grants if case is not None else {},
        grant_ids=case.grant_ids if case is not None else (),
        pension=case.pension if case is not None else (),  # paid once a year, across spells
    )


def review(
    case: Case | None,
    persons: dict[str, Person | None],
    cmd: w.ReviewHousehold | w.ReviewClaim,
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
    ev = _decided(case.id, case.region, case.residence, step, env)
    case = decided(case, ev)
    fx = Effects().emit(w.EVENTS, case.id, ev)
    start = months.first_day(step.from_month)
    for ref in members:
        if ref not in before:
            fx.emit(w.EVENTS, ref, status(ref, case.status, case.region, start, case.id))
    for ref in sorted(before - set(members)):
        fx.emit(w.EVENTS, ref, status(ref, S.NONE, case.region, start, case.id))
        fx.emit(w.WORK, ref, w.MemberSet(person=ref, case=None, left=case.id))
    return case, {ref: joined(p, ref, case.id) for ref, p in persons.items()}, fx


def stop_key(case: Case) -> str:
    """The record key of a case's stop: a 特困 person's by the person (with the rest of their
    events, so a log reader meets them in order), a household's by its id."""
    return case.members[0] if case.status is S.EXTREME_POVERTY else case.id


def stop(case: Case, on: date, reason: w.StopReason, env: Env) -> tuple[Case, Effects]:
    """The case stops after the month of `on` (that month is the last paid); its members lose
    their status from the first day of the next."""
    last = months.of(on)
    ev = w.AllowanceStopped(
        household_id=case.id, region=case.region, on=on, reason=reason, last_month=last
    )
    case = stopped(case, ev)
    fx = Effects().emit(w.EVENTS, stop_key(case), ev)
    start = months.first_day(months.shift(last, 1))
    for ref in case.members:
        fx.emit(w.EVENTS, ref, status(ref, S.NONE, case.region, start, case.id))
        fx.emit(w.WORK, ref, w.MemberSet(person=ref, case=None, left=case.id))
    return case, fx


def stopped(case: Case, ev: w.AllowanceStopped) -> Case:
    """The case once `ev` stopped it: `last_month` is the last one it pays."""
    return case.model_copy(
        update={"active": False, "last_month": ev.last_month, "stop_reason": ev.reason}
    )


def stop_recorded(
    case: Case | None,
    cmd: w.StopAllowance | w.StopSupport | w.SupportStopForwarded,
    received: datetime,
    env: Env,
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
    cmd: w.ApplyForSupport | w.SupportForwarded,
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
    case = _support_case(
        ref, cmd.region, cmd.residence, cmd.self_care, months.after(cmd.applied_on)
    )
    basic, care = support(case, case.steps[0].from_month, env)
    ev = w.SupportDecided(
        person=ref,
        region=cmd.region,
        basic=basic,
        care=care,
        monthly_support=basic + care,
        from_month=case.steps[0].from_month,
        residence=cmd.residence,
        self_care=cmd.self_care,
    )
    case = supported(ev)
    fx = Effects().emit(w.EVENTS, ref, ev)
    start = months.first_day(ev.from_month)
    fx.emit(w.EVENTS, ref, status(ref, S.EXTREME_POVERTY, cmd.region, start, cid))
    _directory(fx, cmd.region, cid, env)
    return case, joined(person, ref, cid), fx


def _support_case(
    ref: str, region: str, residence: w.Residence, self_care: w.SelfCare, from_month: str
) -> Case:
    step = Step(from_month=from_month, members=(ref,), income=Decimal("0.00"))
    return Case(
        id=support_case(ref),
        status=S.EXTREME_POVERTY,
        region=region,
        residence=residence,
        self_care=self_care,
        steps=(step,),
    )


def supported(ev: w.SupportDecided) -> Case:
    """A 特困 person's case once `ev` decided their support (a new case each time)."""
    if ev.residence is None or ev.self_care is None:
        raise ValueError("a SupportDecided without its residence and self-care (old log)")
    return _support_case(ev.person, ev.region, ev.residence, ev.self_care, ev.from_month)


def member_set(p: Person | None, msg: w.MemberSet, named: Case | None) -> Person:
    """A leave decided by a review or a stop, or (partitioned) the end of a claim's hold: its
    decision (`command_id` and `case`) or its refusal (`command_id` and `left`). `named` is the
    case it names as it stands now, and decides: a member of it when it counts the person
    (active, among its members: a later review took them back, or the claim's decision did),
    else cleared from it, unless still held for it by another claim on its way. So the rule
    depends on what was decided, not on when the record is read or in which order the
    household's records arrive: read again after a rebuild, it changes nothing."""
    if msg.case is not None and msg.command_id is None:
        return joined(p, msg.person, msg.case)
    p = p or Person(ref=msg.person)
    still = tuple(c for c in p.held if c != msg.command_id)
    if named is not None and named.active and msg.person in named.members:
        return p.model_copy(update={"case": named.id, "held": still})
    if p.case is not None and p.case == (msg.case or msg.left) and not still:
        return left(p, msg.person, p.case)
    return p.model_copy(update={"held": still})
