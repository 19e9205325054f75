"""The handler table: each command to its rule, with the state it needs declared up front.

Handlers translate: state in, rule called, its new state written and its effects (events on
`shebao.enrollment.events.v1`, coverage counts) applied. A refusal, the date check's first
(`dates.not_in_future`), becomes a CommandRejected event keyed by the command id; nothing else
changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shebao_common.domain import Effects, Refused
from shebao_common.runtime import Context, Decision, HandlerTable, State, StateKey, command_rejected
from shebao_contracts import enrollment as c
from shebao_contracts.envelope import Message

from .domain import cards, dates, employers, employment, lifetime, persons, residents, transfers
from .domain.change import PERSON_EVENTS, PersonEvent, evolved
from .domain.env import Env
from .domain.model import CARD, EMPLOYER, PERSON, CardOwner, Person

handlers: HandlerTable[Env] = HandlerTable()

PersonRule = Callable[[Person | None], tuple[Person, Effects]]
"""A rule deciding on the person a command names (None when not registered)."""
CardRule = Callable[[Person | None, CardOwner | None], tuple[Person, CardOwner, Effects]]
"""A rule deciding on the person and the holder of the card number the command names."""


def _person_key(cmd: Any, ctx: Context[Env]) -> StateKey[Person]:
    return PERSON.key(ctx.env.ids.person_ref(cmd.citizen_id))


def _person(cmd: Any, ctx: Context[Env]) -> list[StateKey[Any]]:
    return [_person_key(cmd, ctx)]


def _person_and_employer(cmd: Any, ctx: Context[Env]) -> list[StateKey[Any]]:
    return [_person_key(cmd, ctx), EMPLOYER.key(cmd.employer)]


def _person_and_card(cmd: Any, ctx: Context[Env]) -> list[StateKey[Any]]:
    return [_person_key(cmd, ctx), CARD.key(cmd.card_number)]


def _answer(
    cmd: Message, ctx: Context[Env], before: Person | None, decide: Callable[[], Decision]
) -> Decision:
    """The rule's decision, or, refused, the sender's CommandRejected. The dates are checked
    before anything the state could say."""
    try:
        dates.not_in_future(cmd, ctx.time, ctx.env)
        return decide()
    except Refused as refused:
        return rejected(cmd, ctx, refused, before)


def _on_person(state: State, cmd: Message, ctx: Context[Env], rule: PersonRule) -> Decision:
    key = _person_key(cmd, ctx)
    before = state.get(key)

    def decide() -> Decision:
        person, fx = rule(before)
        return Decision().put(key, person).apply(fx)

    return _answer(cmd, ctx, before, decide)


def _on_card(state: State, cmd: Any, ctx: Context[Env], rule: CardRule) -> Decision:
    key, number = _person_key(cmd, ctx), CARD.key(cmd.card_number)
    before, owner = state.get(key), state.get(number)

    def decide() -> Decision:
        person, new_owner, fx = rule(before, owner)
        return Decision().put(number, new_owner).put(key, person).apply(fx)

    return _answer(cmd, ctx, before, decide)


def rejected(
    cmd: Message, ctx: Context[Env], refused: Refused, person: Person | None = None
) -> Decision:
    return command_rejected(
        c.CommandRejected,
        c.EVENTS,
        ctx,
        cmd,
        refused,
        person=person.ref if person is not None else None,
        employer=getattr(cmd, "employer", None),
    )


# ------------------------------------------------------------------------------------------------


@handlers.on(c.RegisterEmployer, needs=lambda cmd, ctx: [EMPLOYER.key(cmd.employer)])
def register_employer(state: State, cmd: c.RegisterEmployer, ctx: Context[Env]) -> Decision:
    key = EMPLOYER.key(cmd.employer)
    existing = state.get(key)

    def decide() -> Decision:
        employer, fx = employers.register_employer(existing, cmd)
        return Decision().put(key, employer).apply(fx)

    return _answer(cmd, ctx, None, decide)


@handlers.on(c.RegisterPerson, needs=_person)
def register_person(state: State, cmd: c.RegisterPerson, ctx: Context[Env]) -> Decision:
    return _on_person(state, cmd, ctx, lambda p: persons.register_person(p, cmd, ctx.env))


@handlers.on(c.StartEmployment, needs=_person_and_employer)
def start_employment(state: State, cmd: c.StartEmployment, ctx: Context[Env]) -> Decision:
    employer = state.get(EMPLOYER.key(cmd.employer))
    return _on_person(
        state, cmd, ctx, lambda p: employment.start_employment(p, employer, cmd, ctx.env)
    )


@handlers.on(c.EndEmployment, needs=_person)
def end_employment(state: State, cmd: c.EndEmployment, ctx: Context[Env]) -> Decision:
    return _on_person(state, cmd, ctx, lambda p: employment.end_employment(p, cmd))


@handlers.on(c.EnrolFlexibleWorker, needs=_person)
def enrol_flexible_worker(state: State, cmd: c.EnrolFlexibleWorker, ctx: Context[Env]) -> Decision:
    return _on_person(state, cmd, ctx, lambda p: employment.enrol_flexible_worker(p, cmd, ctx.env))


@handlers.on(c.EnrolResidentPension, needs=_person)
def enrol_resident_pension(
    state: State, cmd: c.EnrolResidentPension, ctx: Context[Env]
) -> Decision:
    return _on_person(state, cmd, ctx, lambda p: residents.enrol_resident_pension(p, cmd, ctx.env))


@handlers.on(c.ChooseResidentPensionTier, needs=_person)
def choose_tier(state: State, cmd: c.ChooseResidentPensionTier, ctx: Context[Env]) -> Decision:
    return _on_person(
        state, cmd, ctx, lambda p: residents.choose_resident_pension_tier(p, cmd, ctx.env)
    )


@handlers.on(c.EnrolResidentMedical, needs=_person)
def enrol_resident_medical(
    state: State, cmd: c.EnrolResidentMedical, ctx: Context[Env]
) -> Decision:
    return _on_person(state, cmd, ctx, lambda p: residents.enrol_resident_medical(p, cmd))


@handlers.on(c.EnrolLandExpropriatedFarmer, needs=_person)
def enrol_land_expropriated_farmer(
    state: State, cmd: c.EnrolLandExpropriatedFarmer, ctx: Context[Env]
) -> Decision:
    return _on_person(
        state, cmd, ctx, lambda p: residents.enrol_land_expropriated_farmer(p, cmd, ctx.env)
    )


@handlers.on(c.TransferOut, needs=_person)
def transfer_out(state: State, cmd: c.TransferOut, ctx: Context[Env]) -> Decision:
    return _on_person(state, cmd, ctx, lambda p: transfers.transfer_out(p, cmd))


@handlers.on(c.TransferIn, needs=_person)
def transfer_in(state: State, cmd: c.TransferIn, ctx: Context[Env]) -> Decision:
    return _on_person(state, cmd, ctx, lambda p: transfers.transfer_in(p, cmd))


@handlers.on(c.IssueCard, needs=_person_and_card)
def issue_card(state: State, cmd: c.IssueCard, ctx: Context[Env]) -> Decision:
    return _on_card(state, cmd, ctx, lambda p, owner: cards.issue_card(p, owner, cmd))


@handlers.on(c.ReplaceCard, needs=_person_and_card)
def replace_card(state: State, cmd: c.ReplaceCard, ctx: Context[Env]) -> Decision:
    return _on_card(state, cmd, ctx, lambda p, owner: cards.replace_card(p, owner, cmd))


@handlers.on(c.RecordDeath, needs=_person)
def record_death(state: State, cmd: c.RecordDeath, ctx: Context[Env]) -> Decision:
    return _on_person(state, cmd, ctx, lambda p: persons.record_death(p, cmd))


# ------------------------------------------------------------------------------------------------
# the commands' log of record: the state they decided, folded from what they published (a
# rebuild, never a second decision), each value computed by the function the rule computed it
# with: `employers.registered`, `persons.registered` (the citizen ID and name opened from their
# seals) and, for every event about a person, `evolved`, which also moves the coverage counts as
# the rule moved them. A CommandRejected changed nothing: it has no fold.
#
# Read again after a rebuild: the commands after the last one whose decision was published.
# Every command a handler decides publishes something (its events, or its CommandRejected), so
# none of them had been decided: reading them decides them for the first time. A resend dropped
# as a duplicate is dropped again, by the dedupe mark the rebuild restores from the original's
# `shebao-from` (while the mark's TTL runs, as it would have been).

enrollment_log: HandlerTable[Env] = HandlerTable()


def _its_person(ev: Any, ctx: Context[Env]) -> list[StateKey[Any]]:
    return [PERSON.key(ev.person)]


@enrollment_log.on(c.EmployerRegistered, needs=lambda ev, ctx: [EMPLOYER.key(ev.employer)])
def fold_employer(state: State, ev: c.EmployerRegistered, ctx: Context[Env]) -> Decision:
    return Decision().put(EMPLOYER.key(ev.employer), employers.registered(ev))


def _folded(state: State, ev: PersonEvent, ctx: Context[Env]) -> Decision:
    key = PERSON.key(ev.person)
    if isinstance(ev, c.PersonRegistered):
        before = persons.reopened(ev, ctx.env)
    else:
        found = state.get(key)
        if found is None:
            raise ValueError(f"the log has a {ev.TYPE} of {ev.person}, whom it never registered")
        before = found
    after, fx = evolved(before, ev)
    return Decision().put(key, after).apply(fx)


for _decided in PERSON_EVENTS:
    if _decided is not c.CardIssued:
        enrollment_log.on(_decided, needs=_its_person)(_folded)


@enrollment_log.on(
    c.CardIssued, needs=lambda ev, ctx: [PERSON.key(ev.person), CARD.key(ev.card_number)]
)
def fold_card(state: State, ev: c.CardIssued, ctx: Context[Env]) -> Decision:
    return _folded(state, ev, ctx).put(CARD.key(ev.card_number), cards.owner_of(ev))


# ------------------------------------------------------------------------------------------------
# the lifetime record: a projection of every service's events about a person (it emits nothing,
# so a rebuild reads its topics again from the start)

lifetime_table: HandlerTable[Env] = HandlerTable()


def _its_record(ev: Any, ctx: Context[Env]) -> list[StateKey[Any]]:
    return [] if ev.person is None else [lifetime.LIFETIME.key(ev.person)]


def _recorded(state: State, ev: Any, ctx: Context[Env]) -> Decision:
    """The event's entry in its person's record (an event about nobody in particular, such as
    a household's payment, is in no one's)."""
    if ev.person is None:
        return Decision()
    key = lifetime.LIFETIME.key(ev.person)
    after = lifetime.record(state.get(key), ev)
    return Decision() if after is None else Decision().put(key, after)


for _event in lifetime.EVENTS:
    lifetime_table.on(_event, needs=_its_record)(_recorded)
