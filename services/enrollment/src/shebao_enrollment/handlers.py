"""The handler table: each command to its rule, with the state it needs declared up front.

Handlers translate: state in, rule called, outcome turned into state writes, events on
`shebao.enrollment.events.v1` and coverage counter changes. A refusal becomes a CommandRejected
event keyed by the command id; nothing else changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shebao_common.runtime import (
    Context,
    Decision,
    Emit,
    HandlerTable,
    RejectedRecord,
    State,
    StateKey,
)
from shebao_contracts import enrollment as c
from shebao_contracts.envelope import Message

from .domain import rules
from .domain.model import CARD, EMPLOYER, PERSON, Person
from .domain.rules import Env, Outcome, Refused

handlers = HandlerTable()


def coverage_counter(region: str) -> str:
    return f"coverage:{region}"


def _env(ctx: Context) -> Env:
    env = ctx.policy
    assert isinstance(env, Env)
    return env


def _person_key(cmd: Any, ctx: Context) -> StateKey[Person]:
    return PERSON.key(_env(ctx).ids.person_ref(cmd.citizen_id))


def _person(cmd: Any, ctx: Context) -> list[StateKey[Any]]:
    return [_person_key(cmd, ctx)]


def _person_and_employer(cmd: Any, ctx: Context) -> list[StateKey[Any]]:
    return [_person_key(cmd, ctx), EMPLOYER.key(cmd.employer)]


def _person_and_card(cmd: Any, ctx: Context) -> list[StateKey[Any]]:
    return [_person_key(cmd, ctx), CARD.key(cmd.card_number)]


def _active(person: Person | None) -> set[tuple[c.Scheme, str]]:
    if person is None:
        return set()
    return {(m.scheme, m.region) for m in person.memberships if m.active}


def _coverage_changes(d: Decision, before: Person | None, after: Person | None) -> None:
    """Insured counts per region move with every membership that becomes (in)active."""
    old, new = _active(before), _active(after)
    for sign, changed in ((-1, old - new), (1, new - old)):
        for scheme, region in changed:
            d.incr(coverage_counter(region), scheme.insurance.value, sign)
            d.incr(coverage_counter(region), f"scheme:{scheme.value}", sign)


def _decision(
    ctx: Context, cmd: Message, before: Person | None, decide: Callable[[], Outcome]
) -> Decision:
    try:
        rules.not_in_future(cmd, ctx.time, _env(ctx))  # before anything the state could say
        out = decide()
    except Refused as refused:
        return rejected(ctx, cmd, refused.reason.value, refused.detail, before)
    d = Decision()
    if out.employer is not None:
        d.put(EMPLOYER.key(out.employer.code), out.employer)
    for number, owner in out.cards.items():
        d.put(CARD.key(number), owner)
    key = out.employer.code if out.employer is not None else ""
    if out.person is not None:
        d.put(PERSON.key(out.person.ref), out.person)
        _coverage_changes(d, before, out.person)
        key = out.person.ref
    for event in out.events:
        d.emit(c.EVENTS, key, event)
    return d


def rejected(
    ctx: Context, cmd: Message, reason: str, detail: str, person: Person | None = None
) -> Decision:
    employer = getattr(cmd, "employer", None)
    return Decision().emit(
        c.EVENTS,
        ctx.event_id,
        c.CommandRejected(
            command_id=ctx.event_id,
            command_type=cmd.TYPE,
            reason=reason,
            detail=detail,
            person=person.ref if person is not None else None,
            employer=employer,
        ),
    )


def reject_invalid(r: RejectedRecord) -> Emit | None:
    """A command that could not be read: answered by name, keyed by its command id."""
    command_id = r.envelope.id if r.envelope is not None else r.event_id
    return Emit(
        c.EVENTS.name,
        command_id,
        c.CommandRejected(
            command_id=command_id,
            command_type=r.envelope.type if r.envelope is not None else "",
            reason=r.reason,
            detail=r.detail,
        ),
    )


# ------------------------------------------------------------------------------------------------


@handlers.on(c.RegisterEmployer, needs=lambda cmd, ctx: [EMPLOYER.key(cmd.employer)])
def register_employer(state: State, cmd: c.RegisterEmployer, ctx: Context) -> Decision:
    existing = state.get(EMPLOYER.key(cmd.employer))
    return _decision(ctx, cmd, None, lambda: rules.register_employer(existing, cmd))


@handlers.on(c.RegisterPerson, needs=_person)
def register_person(state: State, cmd: c.RegisterPerson, ctx: Context) -> Decision:
    existing = state.get(_person_key(cmd, ctx))
    return _decision(ctx, cmd, existing, lambda: rules.register_person(existing, cmd, _env(ctx)))


@handlers.on(c.StartEmployment, needs=_person_and_employer)
def start_employment(state: State, cmd: c.StartEmployment, ctx: Context) -> Decision:
    person = state.get(_person_key(cmd, ctx))
    employer = state.get(EMPLOYER.key(cmd.employer))
    return _decision(
        ctx, cmd, person, lambda: rules.start_employment(person, employer, cmd, _env(ctx))
    )


@handlers.on(c.EndEmployment, needs=_person)
def end_employment(state: State, cmd: c.EndEmployment, ctx: Context) -> Decision:
    person = state.get(_person_key(cmd, ctx))
    return _decision(ctx, cmd, person, lambda: rules.end_employment(person, cmd))


@handlers.on(c.EnrolFlexibleWorker, needs=_person)
def enrol_flexible_worker(state: State, cmd: c.EnrolFlexibleWorker, ctx: Context) -> Decision:
    person = state.get(_person_key(cmd, ctx))
    return _decision(ctx, cmd, person, lambda: rules.enrol_flexible_worker(person, cmd, _env(ctx)))


@handlers.on(c.EnrolResidentPension, needs=_person)
def enrol_resident_pension(state: State, cmd: c.EnrolResidentPension, ctx: Context) -> Decision:
    person = state.get(_person_key(cmd, ctx))
    return _decision(ctx, cmd, person, lambda: rules.enrol_resident_pension(person, cmd, _env(ctx)))


@handlers.on(c.ChooseResidentPensionTier, needs=_person)
def choose_tier(state: State, cmd: c.ChooseResidentPensionTier, ctx: Context) -> Decision:
    person = state.get(_person_key(cmd, ctx))
    return _decision(
        ctx, cmd, person, lambda: rules.choose_resident_pension_tier(person, cmd, _env(ctx))
    )


@handlers.on(c.EnrolResidentMedical, needs=_person)
def enrol_resident_medical(state: State, cmd: c.EnrolResidentMedical, ctx: Context) -> Decision:
    person = state.get(_person_key(cmd, ctx))
    return _decision(ctx, cmd, person, lambda: rules.enrol_resident_medical(person, cmd))


@handlers.on(c.EnrolLandExpropriatedFarmer, needs=_person)
def enrol_land_expropriated_farmer(
    state: State, cmd: c.EnrolLandExpropriatedFarmer, ctx: Context
) -> Decision:
    person = state.get(_person_key(cmd, ctx))
    return _decision(
        ctx, cmd, person, lambda: rules.enrol_land_expropriated_farmer(person, cmd, _env(ctx))
    )


@handlers.on(c.TransferOut, needs=_person)
def transfer_out(state: State, cmd: c.TransferOut, ctx: Context) -> Decision:
    person = state.get(_person_key(cmd, ctx))
    return _decision(ctx, cmd, person, lambda: rules.transfer_out(person, cmd))


@handlers.on(c.TransferIn, needs=_person)
def transfer_in(state: State, cmd: c.TransferIn, ctx: Context) -> Decision:
    person = state.get(_person_key(cmd, ctx))
    return _decision(ctx, cmd, person, lambda: rules.transfer_in(person, cmd))


@handlers.on(c.IssueCard, needs=_person_and_card)
def issue_card(state: State, cmd: c.IssueCard, ctx: Context) -> Decision:
    person = state.get(_person_key(cmd, ctx))
    owner = state.get(CARD.key(cmd.card_number))
    return _decision(ctx, cmd, person, lambda: rules.issue_card(person, owner, cmd))


@handlers.on(c.ReplaceCard, needs=_person_and_card)
def replace_card(state: State, cmd: c.ReplaceCard, ctx: Context) -> Decision:
    person = state.get(_person_key(cmd, ctx))
    owner = state.get(CARD.key(cmd.card_number))
    return _decision(ctx, cmd, person, lambda: rules.replace_card(person, owner, cmd))


@handlers.on(c.RecordDeath, needs=_person)
def record_death(state: State, cmd: c.RecordDeath, ctx: Context) -> Decision:
    person = state.get(_person_key(cmd, ctx))
    return _decision(ctx, cmd, person, lambda: rules.record_death(person, cmd))
