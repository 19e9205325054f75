"""The handler tables, one per subscription: each message to its rule, with its keys declared.

Handlers translate and decide nothing: they read the keys a message needs, call the rule with
`ctx.env` and the record's time, and turn its answer into the decision; a refusal into the
sender's answer (a CommandRejected keyed by the command id; to a statistics bureau, a
CpiRejected on its answers topic).
"""

from __future__ import annotations

from typing import Any

from shebao_common.domain import Refused, StateKey
from shebao_common.runtime import Context, Decision, Emit, HandlerTable, RejectedRecord, State
from shebao_common.runtime import command_rejected as answer_refused
from shebao_contracts import contributions as cc
from shebao_contracts import enrollment as ce
from shebao_contracts import unemployment as u
from shebao_contracts import welfare as w
from shebao_contracts.envelope import Message

from .domain import following, payments, registration, subsidy
from .domain.env import Env
from .domain.model import DIRECTORY, PERSON, REGION, PersonKey, RegionKey

enrollment_handlers: HandlerTable[Env] = HandlerTable()
contributions_handlers: HandlerTable[Env] = HandlerTable()
welfare_handlers: HandlerTable[Env] = HandlerTable()
command_handlers: HandlerTable[Env] = HandlerTable()
work_handlers: HandlerTable[Env] = HandlerTable()
cpi_handlers: HandlerTable[Env] = HandlerTable()


def _person(m: Message, ctx: Context[Env]) -> list[PersonKey]:
    return [PERSON.key(getattr(m, "person"))]  # noqa: B009 - the followed events name one


def _follow(state: State, event: Message, ctx: Context[Env]) -> Decision:
    (key,) = _person(event, ctx)
    p, fx = following.follow(state.get(key), event, ctx.env)
    return Decision().put(key, p).apply(fx)


for _event in (ce.PersonRegistered, ce.EmploymentStarted, ce.EmploymentEnded, ce.PersonDeceased):
    enrollment_handlers.on(_event, needs=_person)(_follow)
contributions_handlers.on(cc.ContributionCredited, needs=_person)(_follow)
welfare_handlers.on(w.RecipientStatusChanged, needs=_person)(_follow)


# ---------------------------------------------------------------------------------------------
# shebao.unemployment-subsidies.commands.v1


def command_rejected(
    ctx: Context[Env], cmd: Message, refused: Refused, person: str | None = None
) -> Decision:
    region = getattr(cmd, "region", None)
    return answer_refused(
        u.CommandRejected, u.EVENTS, ctx, cmd, refused, person=person, region=region
    )


def _named(cmd: u.RegisterUnemployed | u.StopBenefit, ctx: Context[Env]) -> PersonKey:
    """A job centre names the person by citizen ID: pseudonymised here, at the boundary."""
    return PERSON.key(ctx.env.refs.person_ref(cmd.citizen_id))


def _registration_keys(cmd: u.RegisterUnemployed, ctx: Context[Env]) -> list[PersonKey | RegionKey]:
    return [_named(cmd, ctx), REGION.key(cmd.region)]


@command_handlers.on(u.RegisterUnemployed, needs=_registration_keys)
def register_unemployed(state: State, cmd: u.RegisterUnemployed, ctx: Context[Env]) -> Decision:
    key = _named(cmd, ctx)
    try:
        p, fx = registration.register(
            state.get(key), state.get(REGION.key(cmd.region)), cmd, ctx.time, ctx.env
        )
    except Refused as refused:
        return command_rejected(ctx, cmd, refused, key.id)
    return Decision().put(key, p).apply(fx)


@command_handlers.on(u.StopBenefit, needs=lambda cmd, ctx: [_named(cmd, ctx)])
def stop_benefit(state: State, cmd: u.StopBenefit, ctx: Context[Env]) -> Decision:
    key = _named(cmd, ctx)
    try:
        p, fx = registration.stop_recorded(state.get(key), cmd, ctx.time, ctx.env)
    except Refused as refused:
        return command_rejected(ctx, cmd, refused, key.id)
    return Decision().put(key, p).apply(fx)


@command_handlers.on(u.ClosePaymentMonth, needs=lambda cmd, ctx: [REGION.key(cmd.region)])
def close_month(state: State, cmd: u.ClosePaymentMonth, ctx: Context[Env]) -> Decision:
    key = REGION.key(cmd.region)
    try:
        region, fx = payments.close(state.get(key), cmd, ctx.time, ctx.env)
    except Refused as refused:
        return command_rejected(ctx, cmd, refused)
    return Decision().put(key, region).apply(fx)


# ---------------------------------------------------------------------------------------------
# shebao.unemployment-subsidies.work.v1


Keys = list[StateKey[Any]]


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
def directory_set(state: State, msg: u.DirectorySet, ctx: Context[Env]) -> Decision:
    key = DIRECTORY.key(msg.region, str(msg.shard))
    return Decision().put(key, payments.set_directory(state.get(key), msg))


def _person_and_region(m: u.PayRecipient | u.PaySubsidy, ctx: Context[Env]) -> Keys:
    return [PERSON.key(m.person), REGION.key(m.region)]


@work_handlers.on(u.PayRecipient, needs=_person_and_region)
def pay_recipient(state: State, msg: u.PayRecipient, ctx: Context[Env]) -> Decision:
    key = PERSON.key(msg.person)
    p, fx = payments.pay(state.get(key), state.get(REGION.key(msg.region)), msg, ctx.env)
    d = Decision()
    if p is not None:
        d.put(key, p)
    return d.apply(fx)


@work_handlers.on(u.PaySubsidy, needs=_person_and_region)
def pay_subsidy(state: State, msg: u.PaySubsidy, ctx: Context[Env]) -> Decision:
    key = PERSON.key(msg.person)
    p, region = state.get(key), state.get(REGION.key(msg.region))
    triggered = region.triggered.get(msg.period) if region is not None else None
    if p is None or triggered is None:
        return Decision()
    p, fx = subsidy.pay(p, msg.region, msg.period, triggered)
    return Decision().put(key, p).apply(fx)


# ---------------------------------------------------------------------------------------------
# partner.stats.<code>.cpi.v1


def _bureau(ctx: Context[Env]) -> str:
    return ctx.topic_fields["code"]


@cpi_handlers.on(u.CpiReleased, needs=lambda m, ctx: [REGION.key(m.region)])
def cpi_released(state: State, msg: u.CpiReleased, ctx: Context[Env]) -> Decision:
    key = REGION.key(msg.region)
    try:
        region, fx = subsidy.release(state.get(key), msg, _bureau(ctx), ctx.time, ctx.env)
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
    return Decision().put(key, region).apply(fx)


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
