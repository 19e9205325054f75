"""The handler tables, one per subscription: each message to its rule, with its keys declared.

Handlers translate and decide nothing: they read the keys a message needs, call the rule with
`ctx.env` and the record's time, and turn its answer into the decision; a refusal into the
sender's answer (a CommandRejected keyed by the command id; to a statistics bureau, a
CpiRejected on its answers topic).

The fold tables (`*_log`) rebuild the decided state from what the service published
(`rebuild.py`): handlers over its own events, work and answers topics that write what the live
decision wrote, computed by the same functions from the event (`registration.granted`,
`stops.stopped`, `payments.paid`...), and emit nothing. `enrollment_log` replays enrollment's
events into the followed facts, as the enrollment subscription's projection part does.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from shebao_common.domain import Refused, StateKey
from shebao_common.runtime import (
    Context,
    Decision,
    Emit,
    HandlerTable,
    RejectedRecord,
    State,
    key_mismatch,
)
from shebao_common.runtime import command_rejected as answer_refused
from shebao_contracts import contributions as cc
from shebao_contracts import enrollment as ce
from shebao_contracts import unemployment as u
from shebao_contracts import welfare as w
from shebao_contracts.envelope import Message

from .domain import following, payments, registration, stops, subsidy
from .domain.env import Env
from .domain.model import BENEFIT, DIRECTORY, PERSON, PRICES, REGION, Benefit, PersonKey

Keys = list[StateKey[Any]]

enrollment_handlers: HandlerTable[Env] = HandlerTable()
contributions_handlers: HandlerTable[Env] = HandlerTable()
welfare_handlers: HandlerTable[Env] = HandlerTable()
command_handlers: HandlerTable[Env] = HandlerTable()
work_handlers: HandlerTable[Env] = HandlerTable()
handed_handlers: HandlerTable[Env] = HandlerTable()
"""The work topic's commands handed to their person's partition (a subscription of its own: its
records are deduplicated by event id, the payment runs' are not)."""
cpi_handlers: HandlerTable[Env] = HandlerTable()

enrollment_log: HandlerTable[Env] = HandlerTable()
"""Enrollment's events into the followed facts (the enrollment subscription's rebuild)."""
benefit_log: HandlerTable[Env] = HandlerTable()
"""The events topic into benefits, regions' closes and the paid totals (the commands
subscription's rebuild, for every subscription whose decisions change a benefit)."""
directory_log: HandlerTable[Env] = HandlerTable()
"""The work topic's directory changes into the directory (the work subscription's rebuild)."""
prices_log: HandlerTable[Env] = HandlerTable()
"""The bureaus' answers and the triggers into the regions' prices (the cpi subscription's)."""


# ---------------------------------------------------------------------------------------------
# followed: shebao.enrollment.events.v1, shebao.contributions.events.v1, shebao.welfare.events.v1


def _person(m: Message, ctx: Context[Env]) -> list[PersonKey]:
    return [PERSON.key(getattr(m, "person"))]  # noqa: B009 - the followed events name one


def _follow(state: State, event: Message, ctx: Context[Env]) -> Decision:
    (key,) = _person(event, ctx)
    return Decision().put(key, following.follow(state.get(key), event))


def _person_and_benefit(m: Message, ctx: Context[Env]) -> Keys:
    ref: str = getattr(m, "person")  # noqa: B009 - the followed events name one
    return [PERSON.key(ref), BENEFIT.key(ref)]


def _follow_and_decide(state: State, event: Message, ctx: Context[Env]) -> Decision:
    """The fact followed, and what it decides of the benefit (a re-employment or a death stops
    it): in one decision, so a registration never reads one without the other."""
    ref: str = getattr(event, "person")  # noqa: B009 - the followed events name one
    d = _follow(state, event, ctx)
    b, fx = following.decisions(state.get(BENEFIT.key(ref)), event, ctx.env)
    if fx:
        assert b is not None
        d.put(BENEFIT.key(ref), b)
    return d.apply(fx)


_FOLLOWED: tuple[type[Message], ...] = (ce.PersonRegistered, ce.EmploymentEnded)
_DECIDING: tuple[type[Message], ...] = (ce.EmploymentStarted, ce.PersonDeceased)
for _event in _FOLLOWED:
    enrollment_handlers.on(_event, needs=_person)(_follow)
for _event in _DECIDING:
    enrollment_handlers.on(_event, needs=_person_and_benefit)(_follow_and_decide)
for _event in (*_FOLLOWED, *_DECIDING):
    enrollment_log.on(_event, needs=_person)(_follow)
contributions_handlers.on(cc.ContributionCredited, needs=_person)(_follow)
welfare_handlers.on(w.RecipientStatusChanged, needs=_person)(_follow)


# ---------------------------------------------------------------------------------------------
# shebao.unemployment-subsidies.commands.v1


def command_rejected(
    ctx: Context[Env],
    cmd: Message,
    refused: Refused,
    person: str | None = None,
    command_type: str | None = None,
) -> Decision:
    region = getattr(cmd, "region", None)
    return answer_refused(
        u.CommandRejected,
        u.EVENTS,
        ctx,
        cmd,
        refused,
        command_type=command_type,
        person=person,
        region=region,
    )


def _named(cmd: u.RegisterUnemployed | u.StopBenefit, ctx: Context[Env]) -> str:
    """A job centre names the person by citizen ID: pseudonymised here, at the boundary."""
    return ctx.env.refs.person_ref(cmd.citizen_id)


def _registration_keys(ref: str, region: str) -> Keys:
    return [PERSON.key(ref), BENEFIT.key(ref), REGION.key(region)]


@command_handlers.on(
    u.RegisterUnemployed, needs=lambda cmd, ctx: _registration_keys(_named(cmd, ctx), cmd.region)
)
def register_unemployed(state: State, cmd: u.RegisterUnemployed, ctx: Context[Env]) -> Decision:
    """Decided here, or, where the state is partitioned and the citizen ID's partition does not
    keep the person, handed to his reference's (`registration_forwarded`)."""
    ref = _named(cmd, ctx)
    if state.owns(BENEFIT.key(ref)):
        return _register(state, cmd, ref, ctx)
    forward = u.RegistrationForwarded(
        command_id=ctx.event_id, person=ref, region=cmd.region, registered_on=cmd.registered_on
    )
    return Decision().emit(u.WORK, ref, forward)


def _register(
    state: State,
    cmd: u.RegisterUnemployed | u.RegistrationForwarded,
    ref: str,
    ctx: Context[Env],
    command_type: str | None = None,
) -> Decision:
    try:
        b, fx = registration.register(
            state.get(PERSON.key(ref)),
            state.get(BENEFIT.key(ref)),
            state.get(REGION.key(cmd.region)),
            cmd,
            ctx.time,
            ctx.env,
        )
    except Refused as refused:
        return command_rejected(ctx, cmd, refused, ref, command_type)
    return Decision().put(BENEFIT.key(ref), b).apply(fx)


@command_handlers.on(u.StopBenefit, needs=lambda cmd, ctx: [BENEFIT.key(_named(cmd, ctx))])
def stop_benefit(state: State, cmd: u.StopBenefit, ctx: Context[Env]) -> Decision:
    key = BENEFIT.key(_named(cmd, ctx))
    if state.owns(key):
        return _stop(state, cmd, key, ctx)
    forward = u.StopForwarded(command_id=ctx.event_id, person=key.id, on=cmd.on, cause=cmd.cause)
    return Decision().emit(u.WORK, key.id, forward)


def _stop(
    state: State,
    cmd: u.StopBenefit | u.StopForwarded,
    key: StateKey[Benefit],
    ctx: Context[Env],
    command_type: str | None = None,
) -> Decision:
    try:
        b, fx = registration.stop_recorded(state.get(key), cmd, ctx.time, ctx.env)
    except Refused as refused:
        return command_rejected(ctx, cmd, refused, key.id, command_type)
    return Decision().put(key, b).apply(fx)


@command_handlers.on(u.ClosePaymentMonth, needs=lambda cmd, ctx: [REGION.key(cmd.region)])
def close_month(state: State, cmd: u.ClosePaymentMonth, ctx: Context[Env]) -> Decision:
    key = REGION.key(cmd.region)
    if not state.owns(key):  # keyed otherwise than by the region, where the state is partitioned
        refused = key_mismatch(
            u.Rejection.COMMAND_KEY_MISMATCH, ctx, cmd, f"its region {cmd.region!r}"
        )
        return command_rejected(ctx, cmd, refused)
    try:
        region, fx = payments.close(state.get(key), cmd, ctx.time, ctx.env)
    except Refused as refused:
        return command_rejected(ctx, cmd, refused)
    return Decision().put(key, region).apply(fx)


# ---------------------------------------------------------------------------------------------
# shebao.unemployment-subsidies.work.v1: a job centre's command handed to its person's partition


@handed_handlers.on(
    u.RegistrationForwarded, needs=lambda m, ctx: _registration_keys(m.person, m.region)
)
def registration_forwarded(
    state: State, msg: u.RegistrationForwarded, ctx: Context[Env]
) -> Decision:
    """Decided as if it had come keyed by the person, answered under its command id."""
    command = dataclasses.replace(ctx, event_id=msg.command_id)
    return _register(state, msg, msg.person, command, u.RegisterUnemployed.TYPE)


@handed_handlers.on(u.StopForwarded, needs=lambda m, ctx: [BENEFIT.key(m.person)])
def stop_forwarded(state: State, msg: u.StopForwarded, ctx: Context[Env]) -> Decision:
    command = dataclasses.replace(ctx, event_id=msg.command_id)
    return _stop(state, msg, BENEFIT.key(msg.person), command, u.StopBenefit.TYPE)


# ---------------------------------------------------------------------------------------------
# shebao.unemployment-subsidies.work.v1


def _shard(m: u.PayShard | u.SubsidyShard | u.DirectorySet, ctx: Context[Env]) -> Keys:
    return [DIRECTORY.key(m.region, str(m.shard))]


@work_handlers.on(u.PayShard, needs=_shard)
def pay_shard(state: State, msg: u.PayShard, ctx: Context[Env]) -> Decision:
    d = state.get(DIRECTORY.key(msg.region, str(msg.shard)))
    return Decision().apply(payments.fan_out(d, msg.region, u.PayRecipient, msg.month))


@work_handlers.on(u.SubsidyShard, needs=_shard)
def subsidy_shard(state: State, msg: u.SubsidyShard, ctx: Context[Env]) -> Decision:
    d = state.get(DIRECTORY.key(msg.region, str(msg.shard)))
    return Decision().apply(payments.fan_out(d, msg.region, u.PaySubsidy, msg.period))


@work_handlers.on(u.DirectorySet, needs=_shard)
@directory_log.on(u.DirectorySet, needs=_shard)
def directory_set(state: State, msg: u.DirectorySet, ctx: Context[Env]) -> Decision:
    key = DIRECTORY.key(msg.region, str(msg.shard))
    return Decision().put(key, payments.set_directory(state.get(key), msg))


def _recipient(m: u.PayRecipient | u.PaySubsidy, ctx: Context[Env]) -> Keys:
    return [PERSON.key(m.person), BENEFIT.key(m.person), PRICES.key(m.region)]


@work_handlers.on(u.PayRecipient, needs=_recipient)
def pay_recipient(state: State, msg: u.PayRecipient, ctx: Context[Env]) -> Decision:
    key = BENEFIT.key(msg.person)
    b, fx = payments.pay(
        state.get(PERSON.key(msg.person)),
        state.get(key),
        state.get(PRICES.key(msg.region)),
        msg,
        ctx.env,
    )
    d = Decision()
    if b is not None and fx:
        d.put(key, b)
    return d.apply(fx)


@work_handlers.on(u.PaySubsidy, needs=_recipient)
def pay_subsidy(state: State, msg: u.PaySubsidy, ctx: Context[Env]) -> Decision:
    key = BENEFIT.key(msg.person)
    p, b, prices = (
        state.get(PERSON.key(msg.person)),
        state.get(key),
        state.get(PRICES.key(msg.region)),
    )
    triggered = prices.triggered.get(msg.period) if prices is not None else None
    if p is None or b is None or triggered is None:
        return Decision()
    b, fx = subsidy.pay(p, b, msg.region, msg.period, triggered)
    return Decision().put(key, b).apply(fx) if fx else Decision()


# ---------------------------------------------------------------------------------------------
# partner.stats.<code>.cpi.v1


def _bureau(ctx: Context[Env]) -> str:
    return ctx.topic_fields["code"]


@cpi_handlers.on(u.CpiReleased, needs=lambda m, ctx: [PRICES.key(m.region)])
def cpi_released(state: State, msg: u.CpiReleased, ctx: Context[Env]) -> Decision:
    key = PRICES.key(msg.region)
    try:
        if not state.owns(key):  # keyed otherwise than by the region, the state partitioned
            raise Refused(
                u.Rejection.RELEASE_KEY_MISMATCH,
                f"keyed {ctx.key!r}: a release is keyed by its region {msg.region!r}",
            )
        prices, fx = subsidy.release(state.get(key), msg, _bureau(ctx), ctx.time, ctx.env)
    except Refused as refused:
        code = _bureau(ctx)
        return Decision().emit(
            u.ANSWERS.named(code=code),
            f"{msg.region}:{msg.month}",
            u.CpiRejected(
                bureau=code,
                reason=refused.reason.value,
                detail=refused.detail,
                region=msg.region,
                month=msg.month,
                partition=ctx.partition,
                offset=ctx.offset,
            ),
        )
    return Decision().put(key, prices).apply(fx)


def reject_invalid_release(r: RejectedRecord) -> Emit | None:
    """A release the runtime could not read: the bureau hears it by name on its answers topic."""
    code = r.topic_fields.get("code")
    if code is None:
        return None
    return Emit(
        u.ANSWERS.named(code=code),
        r.key or f"{r.partition}/{r.offset}",
        u.CpiRejected(
            bureau=code, reason=r.reason, detail=r.detail, partition=r.partition, offset=r.offset
        ),
    )


# ---------------------------------------------------------------------------------------------
# The folds of the log of record: what each published decision changed, by the live functions


def _benefit(ev: Message, ctx: Context[Env]) -> Keys:
    return [BENEFIT.key(getattr(ev, "person"))]  # noqa: B009 - benefit events name one


@benefit_log.on(u.BenefitGranted, needs=_benefit)
def fold_granted(state: State, ev: u.BenefitGranted, ctx: Context[Env]) -> Decision:
    key = BENEFIT.key(ev.person)
    return Decision().put(key, registration.granted(state.get(key), ev))


def _granted(state: State, ref: str) -> Benefit:
    b = state.get(BENEFIT.key(ref))
    if b is None:
        raise ValueError(f"the log decides on a benefit of {ref} that it never granted")
    return b


@benefit_log.on(u.BenefitStopped, needs=_benefit)
def fold_stopped(state: State, ev: u.BenefitStopped, ctx: Context[Env]) -> Decision:
    return Decision().put(BENEFIT.key(ev.person), stops.stopped(_granted(state, ev.person), ev))


@benefit_log.on(u.BenefitPaid, needs=_benefit)
def fold_paid(state: State, ev: u.BenefitPaid, ctx: Context[Env]) -> Decision:
    b, fx = payments.paid(_granted(state, ev.person), ev)
    return Decision().put(BENEFIT.key(ev.person), b).apply(fx)


@benefit_log.on(u.MedicalContributionPaid, needs=_benefit)  # (where it counts, partitioned)
def fold_medical_paid(state: State, ev: u.MedicalContributionPaid, ctx: Context[Env]) -> Decision:
    return Decision().apply(payments.medical_paid(ev))


@benefit_log.on(u.PriceSubsidyPaid, needs=_benefit)
def fold_subsidy_paid(state: State, ev: u.PriceSubsidyPaid, ctx: Context[Env]) -> Decision:
    b, fx = subsidy.subsidy_paid(_granted(state, ev.person), ev)
    return Decision().put(BENEFIT.key(ev.person), b).apply(fx)


@benefit_log.on(u.PaymentMonthClosed, needs=lambda ev, ctx: [REGION.key(ev.region)])
def fold_closed(state: State, ev: u.PaymentMonthClosed, ctx: Context[Env]) -> Decision:
    key = REGION.key(ev.region)
    return Decision().put(key, payments.closed(state.get(key), ev))


@prices_log.on(u.CpiAccepted, needs=lambda ev, ctx: [PRICES.key(ev.region)])
def fold_recorded(state: State, ev: u.CpiAccepted, ctx: Context[Env]) -> Decision:
    key = PRICES.key(ev.region)
    return Decision().put(key, subsidy.recorded(state.get(key), ev))


@prices_log.on(u.PriceSubsidyTriggered, needs=lambda ev, ctx: [PRICES.key(ev.region)])
def fold_triggered(state: State, ev: u.PriceSubsidyTriggered, ctx: Context[Env]) -> Decision:
    key = PRICES.key(ev.region)
    return Decision().put(key, subsidy.set_off(state.get(key), ev))
