"""The handler tables, one per subscription: each message to its rule, with its keys declared.

Handlers translate and decide nothing: they read the keys a message needs, call the rule with
`ctx.env` and the record's time, and turn its answer into the decision; a refusal into a
CommandRejected keyed by the command id. An office names people by citizen ID: pseudonymised
here, at the boundary.

`welfare_log` is the service's log of record folded back into state (a rebuild, never a second
decision): every value the three deciding subscriptions write is computed from a record they
published, by the function the live rule computed it with.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from shebao_common.domain import Effects, Refused, StateKey
from shebao_common.runtime import (
    Context,
    Decision,
    HandlerTable,
    NotKeptHere,
    State,
    command_rejected,
    key_mismatch,
)
from shebao_contracts import unemployment as u
from shebao_contracts import welfare as w
from shebao_contracts.envelope import Message

from .domain import decisions, payments
from .domain.env import Env
from .domain.model import CASE, DIRECTORY, PERSON, REGION, Case, CaseKey, Person, support_case

command_handlers: HandlerTable[Env] = HandlerTable()
work_handlers: HandlerTable[Env] = HandlerTable()
unemployment_handlers: HandlerTable[Env] = HandlerTable()

Keys = list[StateKey[Any]]
R = w.Rejection
HouseholdCommand = (
    w.ApplyForAllowance | w.ReviewHousehold | w.StopAllowance | w.GrantTemporaryAssistance
)


def rejected(
    ctx: Context[Env],
    cmd: Message,
    refused: Refused,
    command_type: str | None = None,
    **names: str | None,
) -> Decision:
    """The sender's CommandRejected (`command_type`: the command's, where `cmd` carried it on)."""
    region = getattr(cmd, "region", None)
    return command_rejected(
        w.CommandRejected,
        w.EVENTS,
        ctx,
        cmd,
        refused,
        command_type=command_type,
        region=region,
        **names,
    )


def _misrouted(ctx: Context[Env], cmd: HouseholdCommand) -> Decision:
    """A household's command keyed otherwise than by its id, where the state is partitioned:
    the partition it reached does not keep the household."""
    refused = key_mismatch(
        R.COMMAND_KEY_MISMATCH, ctx, cmd, f"its household id {cmd.household_id!r}"
    )
    return rejected(ctx, cmd, refused, household_id=cmd.household_id)


def _kept(state: State, key: StateKey[Any]) -> None:
    """A record handed on here must find what it names kept here (`NotKeptHere`)."""
    if not state.owns(key):
        raise NotKeptHere(f"a record about {key.name} handed to a partition that does not keep it")


def _refs(cmd: w.ApplyForAllowance | w.ReviewHousehold, ctx: Context[Env]) -> list[str]:
    # one member named twice is one member
    return list(dict.fromkeys(ctx.env.refs.person_ref(cid) for cid in cmd.members))


def _household(cmd: w.ApplyForAllowance | w.ReviewHousehold, ctx: Context[Env]) -> Keys:
    return [CASE.key(cmd.household_id), *(PERSON.key(r) for r in _refs(cmd, ctx))]


HouseholdRule = Callable[..., tuple[Case, dict[str, Person], Effects]]
"""decisions.apply_allowance or decisions.review: (case, persons, command, time, env)."""


def _decide(
    state: State,
    cmd: w.ApplyForAllowance | w.ReviewHousehold,
    ctx: Context[Env],
    rule: HouseholdRule,
) -> Decision:
    """Decided here when every member it joins is kept here (one slot, or the household's
    partition). Else, the members read where they are kept (so one
    in another household is refused at once), the claim handed from member to member
    (`ApplicationClaim`, `ReviewClaim`), each held for the household, and decided when it comes
    back (`_claimed`)."""
    key = CASE.key(cmd.household_id)
    if not state.owns(key):
        return _misrouted(ctx, cmd)
    refs = _refs(cmd, ctx)
    persons: dict[str, Person | None] = {r: state.get(PERSON.key(r)) for r in refs}
    try:
        case, joined, fx = rule(state.get(key), persons, cmd, ctx.time, ctx.env)
    except Refused as refused:
        return rejected(ctx, cmd, refused, household_id=cmd.household_id)
    # every member kept elsewhere is claimed, a member already too: his hold keeps him from
    # being cleared by a leave of this household still on its way to him
    away = [r for r in persons if r in joined and not state.owns(PERSON.key(r))]
    if away:
        return Decision().emit(w.WORK, away[0], _claim(cmd, refs, away, ctx.event_id))
    return _decided(state, key, case, joined, fx)


def _decided(
    state: State, key: CaseKey, case: Case, joined: dict[str, Person], fx: Effects
) -> Decision:
    """The case and its members written; a member kept on another partition was held there."""
    d = Decision().put(key, case)
    for ref, p in joined.items():
        if state.owns(PERSON.key(ref)):
            d.put(PERSON.key(ref), p)
    return d.apply(fx)


def _claim(
    cmd: w.ApplyForAllowance | w.ReviewHousehold, refs: list[str], away: list[str], cid: str
) -> w.ApplicationClaim | w.ReviewClaim:
    """The command handed on by its members' references, never their citizen IDs."""
    kind = w.ApplicationClaim if isinstance(cmd, w.ApplyForAllowance) else w.ReviewClaim
    return kind(command_id=cid, members=refs, claim=away, **cmd.model_dump(exclude={"members"}))


@command_handlers.on(w.ApplyForAllowance, needs=_household)
def apply_allowance(state: State, cmd: w.ApplyForAllowance, ctx: Context[Env]) -> Decision:
    return _decide(state, cmd, ctx, decisions.apply_allowance)


@command_handlers.on(w.ReviewHousehold, needs=_household)
def review_household(state: State, cmd: w.ReviewHousehold, ctx: Context[Env]) -> Decision:
    return _decide(state, cmd, ctx, decisions.review)


@command_handlers.on(w.StopAllowance, needs=lambda cmd, ctx: [CASE.key(cmd.household_id)])
def stop_allowance(state: State, cmd: w.StopAllowance, ctx: Context[Env]) -> Decision:
    key = CASE.key(cmd.household_id)
    if not state.owns(key):
        return _misrouted(ctx, cmd)
    try:
        case, fx = decisions.stop_recorded(state.get(key), cmd, ctx.time, ctx.env)
    except Refused as refused:
        return rejected(ctx, cmd, refused, household_id=cmd.household_id)
    return Decision().put(key, case).apply(fx)


def _supported(cmd: w.ApplyForSupport | w.StopSupport, ctx: Context[Env]) -> Keys:
    ref = ctx.env.refs.person_ref(cmd.citizen_id)
    return [CASE.key(support_case(ref)), PERSON.key(ref)]


@command_handlers.on(w.ApplyForSupport, needs=_supported)
def apply_support(state: State, cmd: w.ApplyForSupport, ctx: Context[Env]) -> Decision:
    """Decided here, or, where the state is partitioned and the citizen ID's partition does not
    keep the person, handed to his reference's (`support_forwarded`)."""
    ref = ctx.env.refs.person_ref(cmd.citizen_id)
    if state.owns(PERSON.key(ref)):
        return _support(state, cmd, ref, ctx)
    fields = cmd.model_dump(exclude={"citizen_id"})
    forward = w.SupportForwarded(command_id=ctx.event_id, person=ref, **fields)
    return Decision().emit(w.WORK, ref, forward)


def _support(
    state: State,
    cmd: w.ApplyForSupport | w.SupportForwarded,
    ref: str,
    ctx: Context[Env],
    command_type: str | None = None,
) -> Decision:
    ckey, pkey = CASE.key(support_case(ref)), PERSON.key(ref)
    try:
        case, person, fx = decisions.apply_support(
            state.get(ckey), state.get(pkey), ref, cmd, ctx.time, ctx.env
        )
    except Refused as refused:
        return rejected(ctx, cmd, refused, command_type, person=ref)
    return Decision().put(ckey, case).put(pkey, person).apply(fx)


@command_handlers.on(w.StopSupport, needs=lambda cmd, ctx: _supported(cmd, ctx)[:1])
def stop_support(state: State, cmd: w.StopSupport, ctx: Context[Env]) -> Decision:
    ref = ctx.env.refs.person_ref(cmd.citizen_id)
    key = CASE.key(support_case(ref))
    if state.owns(key):
        return _stop_support(state, cmd, ref, ctx)
    forward = w.SupportStopForwarded(
        command_id=ctx.event_id, person=ref, on=cmd.on, reason=cmd.reason
    )
    return Decision().emit(w.WORK, ref, forward)


def _stop_support(
    state: State,
    cmd: w.StopSupport | w.SupportStopForwarded,
    ref: str,
    ctx: Context[Env],
    command_type: str | None = None,
) -> Decision:
    key = CASE.key(support_case(ref))
    try:
        case, fx = decisions.stop_recorded(state.get(key), cmd, ctx.time, ctx.env)
    except Refused as refused:
        return rejected(ctx, cmd, refused, command_type, person=ref)
    return Decision().put(key, case).apply(fx)


@command_handlers.on(
    w.GrantTemporaryAssistance, needs=lambda cmd, ctx: [CASE.key(cmd.household_id)]
)
def grant(state: State, cmd: w.GrantTemporaryAssistance, ctx: Context[Env]) -> Decision:
    key = CASE.key(cmd.household_id)
    if not state.owns(key):
        return _misrouted(ctx, cmd)
    try:
        case, fx = payments.grant(state.get(key), cmd, ctx.time, ctx.env)
    except Refused as refused:
        return rejected(ctx, cmd, refused, household_id=cmd.household_id)
    return Decision().put(key, case).apply(fx)


@command_handlers.on(w.ClosePaymentMonth, needs=lambda cmd, ctx: [REGION.key(cmd.region)])
def close_month(state: State, cmd: w.ClosePaymentMonth, ctx: Context[Env]) -> Decision:
    key = REGION.key(cmd.region)
    if not state.owns(key):
        refused = key_mismatch(R.COMMAND_KEY_MISMATCH, ctx, cmd, f"its region {cmd.region!r}")
        return rejected(ctx, cmd, refused)
    try:
        region, fx = payments.close(state.get(key), cmd, ctx.time, ctx.env)
    except Refused as refused:
        return rejected(ctx, cmd, refused)
    return Decision().put(key, region).apply(fx)


# ---------------------------------------------------------------------------------------------
# shebao.welfare.work.v1: commands handed to the partition that keeps what they change


Claim = w.ApplicationClaim | w.ReviewClaim


def _claim_keys(m: Claim, ctx: Context[Env]) -> Keys:
    if m.claim and not m.refused:
        return [PERSON.key(m.claim[0])]
    return [CASE.key(m.household_id), *(PERSON.key(r) for r in m.members)]


def _on_claim(state: State, msg: Claim, ctx: Context[Env], rule: HouseholdRule) -> Decision:
    """At a member's partition, held; back at the household's, decided."""
    if msg.claim and not msg.refused:
        return _hold(state, msg)
    return _claimed(state, msg, ctx, rule)


def _hold(state: State, msg: Claim) -> Decision:
    """The member held for the household by this claim unless in another one (then the claim
    goes back, refused); handed on to the next member, or back to the household after the
    last. The decision's `MemberSet` ends the hold."""
    ref, rest = msg.claim[0], msg.claim[1:]
    key = PERSON.key(ref)
    _kept(state, key)
    p = state.get(key)
    if p is not None and p.case not in (None, msg.household_id):
        back = msg.model_copy(update={"claim": [], "refused": True})
        return Decision().emit(w.WORK, msg.household_id, back)
    d = Decision().put(key, decisions.held(p, ref, msg.household_id, msg.command_id))
    on = msg.model_copy(update={"claim": rest, "held": [*msg.held, ref]})
    return d.emit(w.WORK, rest[0] if rest else msg.household_id, on)


def _claimed(state: State, msg: Claim, ctx: Context[Env], rule: HouseholdRule) -> Decision:
    """Decided as if it had come keyed by the household, every member held (those kept on
    other partitions as their partitions hold them: in this household), answered under its
    command id. Either way each member it held is told (`_holds_ended`)."""
    key = CASE.key(msg.household_id)
    _kept(state, key)
    answer = dataclasses.replace(ctx, event_id=msg.command_id)
    kind = w.ApplyForAllowance if isinstance(msg, w.ApplicationClaim) else w.ReviewHousehold
    persons: dict[str, Person | None] = {
        r: state.get(PERSON.key(r))
        if state.owns(PERSON.key(r))
        else Person(ref=r, case=msg.household_id)
        for r in msg.members
    }
    try:
        if msg.refused:
            raise Refused(
                R.MEMBER_IN_ANOTHER_HOUSEHOLD,
                "a member belongs to another household; it must change or stop first",
            )
        case, joined, fx = rule(state.get(key), persons, msg, ctx.time, ctx.env)
    except Refused as refused:
        d = rejected(answer, msg, refused, kind.TYPE, household_id=msg.household_id)
        return _holds_ended(d, msg, None)
    return _holds_ended(_decided(state, key, case, joined, fx), msg, msg.household_id)


def _holds_ended(d: Decision, msg: Claim, decided: str | None) -> Decision:
    """Each member the claim held told its decision (`decided`, the household) or its refusal:
    the household as it stands then decides whether he is its member (`member_set`)."""
    for ref in msg.held:
        end = w.MemberSet(
            person=ref,
            case=decided,
            left=None if decided else msg.household_id,
            command_id=msg.command_id,
        )
        d.emit(w.WORK, ref, end)
    return d


@work_handlers.on(w.ApplicationClaim, needs=_claim_keys)
def application_claim(state: State, msg: w.ApplicationClaim, ctx: Context[Env]) -> Decision:
    return _on_claim(state, msg, ctx, decisions.apply_allowance)


@work_handlers.on(w.ReviewClaim, needs=_claim_keys)
def review_claim(state: State, msg: w.ReviewClaim, ctx: Context[Env]) -> Decision:
    return _on_claim(state, msg, ctx, decisions.review)


@work_handlers.on(
    w.SupportForwarded,
    needs=lambda m, ctx: [CASE.key(support_case(m.person)), PERSON.key(m.person)],
)
def support_forwarded(state: State, msg: w.SupportForwarded, ctx: Context[Env]) -> Decision:
    """Decided as if it had come keyed by the person, answered under its command id."""
    _kept(state, PERSON.key(msg.person))
    answer = dataclasses.replace(ctx, event_id=msg.command_id)
    return _support(state, msg, msg.person, answer, w.ApplyForSupport.TYPE)


@work_handlers.on(w.SupportStopForwarded, needs=lambda m, ctx: [CASE.key(support_case(m.person))])
def support_stop_forwarded(
    state: State, msg: w.SupportStopForwarded, ctx: Context[Env]
) -> Decision:
    _kept(state, CASE.key(support_case(msg.person)))
    answer = dataclasses.replace(ctx, event_id=msg.command_id)
    return _stop_support(state, msg, msg.person, answer, w.StopSupport.TYPE)


# ---------------------------------------------------------------------------------------------
# shebao.welfare.work.v1


def _shard(m: w.PayShard | w.SubsidyShard | w.DirectorySet, ctx: Context[Env]) -> Keys:
    return [DIRECTORY.key(m.region, str(m.shard))]


@work_handlers.on(w.PayShard, needs=_shard)
def pay_shard(state: State, msg: w.PayShard, ctx: Context[Env]) -> Decision:
    d = state.get(DIRECTORY.key(msg.region, str(msg.shard)))
    return Decision().apply(payments.pay_shard(d, msg))


@work_handlers.on(w.SubsidyShard, needs=_shard)
def subsidy_shard(state: State, msg: w.SubsidyShard, ctx: Context[Env]) -> Decision:
    d = state.get(DIRECTORY.key(msg.region, str(msg.shard)))
    return Decision().apply(payments.subsidy_shard(d, msg))


@work_handlers.on(w.DirectorySet, needs=_shard)
def directory_set(state: State, msg: w.DirectorySet, ctx: Context[Env]) -> Decision:
    key = DIRECTORY.key(msg.region, str(msg.shard))
    return Decision().put(key, payments.set_directory(state.get(key), msg))


@work_handlers.on(w.PayCase, needs=lambda m, ctx: [CASE.key(m.case), REGION.key(m.region)])
def pay_case(state: State, msg: w.PayCase, ctx: Context[Env]) -> Decision:
    key = CASE.key(msg.case)
    case, fx = payments.pay(state.get(key), state.get(REGION.key(msg.region)), msg, ctx.env)
    d = Decision()
    if case is not None:
        d.put(key, case)
    return d.apply(fx)


@work_handlers.on(w.PayCaseSubsidy, needs=lambda m, ctx: [CASE.key(m.case)])
def pay_case_subsidy(state: State, msg: w.PayCaseSubsidy, ctx: Context[Env]) -> Decision:
    return Decision().apply(payments.case_subsidy(state.get(CASE.key(msg.case)), msg))


@work_handlers.on(w.PaySubsidy, needs=lambda m, ctx: [PERSON.key(m.person)])
def pay_subsidy(state: State, msg: w.PaySubsidy, ctx: Context[Env]) -> Decision:
    key = PERSON.key(msg.person)
    p, fx = payments.pay_subsidy(state.get(key), msg)
    return Decision().put(key, p).apply(fx)


def _named(m: w.MemberSet) -> str | None:
    """The case a MemberSet is about: the one left, or the one whose claim it decided."""
    return m.left or (m.case if m.command_id is not None else None)


def _member(m: w.MemberSet, ctx: Context[Env]) -> Keys:
    named = _named(m)
    return [PERSON.key(m.person), *([CASE.key(named)] if named else [])]


@work_handlers.on(w.MemberSet, needs=_member)
def member_set(state: State, msg: w.MemberSet, ctx: Context[Env]) -> Decision:
    key = PERSON.key(msg.person)
    named = _named(msg)
    case = state.get(CASE.key(named)) if named else None
    return Decision().put(key, decisions.member_set(state.get(key), msg, case))


# ---------------------------------------------------------------------------------------------
# shebao.unemployment-subsidies.events.v1


@unemployment_handlers.on(u.PriceSubsidyTriggered, needs=lambda t, ctx: [REGION.key(t.region)])
def price_subsidy(state: State, t: u.PriceSubsidyTriggered, ctx: Context[Env]) -> Decision:
    key = REGION.key(t.region)
    region, fx = payments.triggered(state.get(key), t, ctx.env)
    return Decision().put(key, region).apply(fx)


# ---------------------------------------------------------------------------------------------
# The log of record: shebao.welfare.events.v1 and shebao.welfare.work.v1 folded into state
#
# One table for the three deciding subscriptions (declared on `commands`; `work` and
# `unemployment` rebuild their positions only): a case is written by the offices' decisions
# and by its payments, a person by joins and leaves and by price subsidies, a region by closes
# and by triggers, so their values are the fold of one pass over the log. A value's records are
# keyed alike and so read in order: a household's by its id, a 特困 person's and a person's by
# the person reference, a region's by its shard 0 on the work topic.
#
# What each folds, and by which function:
#   AllowanceDecided, AllowanceStopped  case:<id>     decisions.decided, decisions.stopped
#   SupportDecided                      case:<id>     decisions.supported
#   AssistancePaid                      case:<id>     payments.paid (pension years, totals)
#   TemporaryAssistancePaid             case:<id>     payments.granted
#   RecipientStatusChanged              person:<ref>  decisions.membership (the case joined, or
#                                                     left: MemberSet's effect, decided with it)
#   PriceSubsidyPaid                    person:<ref>  payments.subsidy_paid
#   PayShard (shard 0)                  region:<code> payments.closed
#   SubsidyShard (shard 0)              region:<code> payments.triggered_in
#   DirectorySet                        directory:<region>:<shard>  payments.set_directory
# PensionPaidOnBehalf is AssistancePaid's consequence; CommandRejected changed nothing.

welfare_log: HandlerTable[Env] = HandlerTable()


def _case_of(case: Any, what: str) -> Any:
    if case is None:
        raise ValueError(f"the log {what} a case it never decided")
    return case


@welfare_log.on(w.AllowanceDecided, needs=lambda ev, ctx: [CASE.key(ev.household_id)])
def fold_decided(state: State, ev: w.AllowanceDecided, ctx: Context[Env]) -> Decision:
    key = CASE.key(ev.household_id)
    return Decision().put(key, decisions.decided(state.get(key), ev))


@welfare_log.on(w.AllowanceStopped, needs=lambda ev, ctx: [CASE.key(ev.household_id)])
def fold_stopped(state: State, ev: w.AllowanceStopped, ctx: Context[Env]) -> Decision:
    key = CASE.key(ev.household_id)
    return Decision().put(key, decisions.stopped(_case_of(state.get(key), "stops"), ev))


@welfare_log.on(w.SupportDecided, needs=lambda ev, ctx: [CASE.key(support_case(ev.person))])
def fold_supported(state: State, ev: w.SupportDecided, ctx: Context[Env]) -> Decision:
    return Decision().put(CASE.key(support_case(ev.person)), decisions.supported(ev))


@welfare_log.on(w.AssistancePaid, needs=lambda ev, ctx: [CASE.key(payments.paid_case(ev))])
def fold_paid(state: State, ev: w.AssistancePaid, ctx: Context[Env]) -> Decision:
    key = CASE.key(payments.paid_case(ev))
    case, _, counted = payments.paid(_case_of(state.get(key), "pays"), ev)
    return Decision().put(key, case).apply(counted)


@welfare_log.on(w.TemporaryAssistancePaid, needs=lambda ev, ctx: [CASE.key(ev.household_id)])
def fold_granted(state: State, ev: w.TemporaryAssistancePaid, ctx: Context[Env]) -> Decision:
    key = CASE.key(ev.household_id)
    case, counted = payments.granted(_case_of(state.get(key), "grants to"), ev)
    return Decision().put(key, case).apply(counted)


@welfare_log.on(w.RecipientStatusChanged, needs=lambda ev, ctx: [PERSON.key(ev.person)])
def fold_status(state: State, ev: w.RecipientStatusChanged, ctx: Context[Env]) -> Decision:
    key = PERSON.key(ev.person)
    return Decision().put(key, decisions.membership(state.get(key), ev))


@welfare_log.on(w.PriceSubsidyPaid, needs=lambda ev, ctx: [PERSON.key(ev.person)])
def fold_subsidy(state: State, ev: w.PriceSubsidyPaid, ctx: Context[Env]) -> Decision:
    key = PERSON.key(ev.person)
    p, counted = payments.subsidy_paid(state.get(key), ev)
    return Decision().put(key, p).apply(counted)


def _shard_zero(m: w.PayShard | w.SubsidyShard, ctx: Context[Env]) -> Keys:
    return [REGION.key(m.region)] if m.shard == 0 else []


@welfare_log.on(w.PayShard, needs=_shard_zero)
def fold_closed(state: State, msg: w.PayShard, ctx: Context[Env]) -> Decision:
    """A close fans out one PayShard a shard, shard 0 always: it stands for the close."""
    if msg.shard != 0:
        return Decision()
    key = REGION.key(msg.region)
    return Decision().put(key, payments.closed(state.get(key), msg.month))


@welfare_log.on(w.SubsidyShard, needs=_shard_zero)
def fold_triggered(state: State, msg: w.SubsidyShard, ctx: Context[Env]) -> Decision:
    """A trigger fans out one SubsidyShard a shard, shard 0 always: it stands for the trigger."""
    if msg.shard != 0:
        return Decision()
    key = REGION.key(msg.region)
    region = payments.triggered_in(state.get(key), msg.period, msg.urban_amount, msg.rural_amount)
    return Decision().put(key, region)


welfare_log.on(w.DirectorySet, needs=_shard)(directory_set)
