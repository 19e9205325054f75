"""The handler table: each command to its rule, with the state it needs declared up front.

Handlers translate: state in, rule called, its new state written and its effects (events on
`shebao.enrollment.events.v1`, coverage counts) applied. A refusal, the date check's first
(`dates.not_in_future`), becomes a CommandRejected event keyed by the command id; nothing else
changes.

Where the state is partitioned (`STATE_LAYOUT`, a Redis Cluster) each kind is kept with the
partition of its own key (`domain/model.py`): a command keyed by citizen ID cannot reach the
partition of the person's reference, so it is handed there on the work topic (`CommandForwarded`,
the citizen ID and name sealed) and decided there by the same handler; an employer's command keyed
otherwise than by its code likewise. In one slot every record keeps everything and decides at once.

A card number's holder is kept with the number. Where that is another partition than the
person's, a card takes a round trip on the work topic: the person's partition checks the person
and asks the number's partition to hold the number (`CardNumberClaimed`, keyed by the number),
which answers (`CardNumberGranted` or `...Refused`, keyed by the person), and the person's
partition then issues the card or refuses the command. A card issued at once publishes its
holder there too (`CardNumberHeld`): a rebuild folds every holder from the work topic, by the
number's owner, and every person from the events, by the person's (either layout, and a move
from one to the other).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from shebao_common.domain import Effects, Refused
from shebao_common.runtime import (
    Context,
    Decision,
    HandlerTable,
    NotKeptHere,
    State,
    StateKey,
    command_rejected,
)
from shebao_contracts import enrollment as c
from shebao_contracts.envelope import Message

from .domain import cards, dates, employers, employment, lifetime, persons, residents, transfers
from .domain.change import PERSON_EVENTS, PersonEvent, evolved
from .domain.env import Env
from .domain.model import CARD, EMPLOYER, PERSON, CardOwner, Person

handlers: HandlerTable[Env] = HandlerTable()
work_handlers: HandlerTable[Env] = HandlerTable()
"""The work topic: commands handed to their owner's partition, and a card number's round trip."""

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
    if not state.owns(key):
        return _forward(cmd, ctx)
    before = state.get(key)

    def decide() -> Decision:
        person, fx = rule(before)
        return Decision().put(key, person).apply(fx)

    return _answer(cmd, ctx, before, decide)


def _on_card(state: State, cmd: Any, ctx: Context[Env], rule: CardRule) -> Decision:
    """Where the number's holder is kept with the person (one slot, or the same partition),
    the card issued at once, the holder published on the work topic (`CardNumberHeld`, the
    record a rebuild folds it from). Else, the person found fit for it (the holder read where
    it is kept, so a number issued before is refused at once), the number claimed from its
    partition (`card_number_claimed`): the card is issued when it is granted."""
    key, number = _person_key(cmd, ctx), CARD.key(cmd.card_number)
    if not state.owns(key):
        return _forward(cmd, ctx)
    before, owner = state.get(key), state.get(number)

    def decide() -> Decision:
        person, new_owner, fx = rule(before, owner)
        if not state.owns(number):
            claim = _card_claim(cmd, person.ref, ctx.event_id)
            return Decision().emit(c.WORK, cmd.card_number, claim)
        held = c.CardNumberHeld(card_number=cmd.card_number, person=person.ref)
        decision = Decision().put(number, new_owner).put(key, person).apply(fx)
        return decision.emit(c.WORK, cmd.card_number, held)

    return _answer(cmd, ctx, before, decide)


_COMMANDS: tuple[type[Message], ...] = (c.RegisterEmployer, *c.PERSON_COMMANDS)
COMMAND_TYPES: dict[str, type[Message]] = {t.TYPE: t for t in _COMMANDS}


def _forward(cmd: Any, ctx: Context[Env]) -> Decision:
    """The command handed to the partition that keeps what it changes (the state is partitioned
    and it came keyed otherwise), the citizen ID and the person's name sealed."""
    if ctx.topic == c.WORK.name:
        raise NotKeptHere(f"{cmd.TYPE} handed to partition {ctx.partition}, which does not keep it")
    if isinstance(cmd, c.RegisterEmployer):
        fields = cmd.model_dump(mode="json")
        forward = c.CommandForwarded(
            command_id=ctx.event_id, command_type=cmd.TYPE, employer=cmd.employer, command=fields
        )
        return Decision().emit(c.WORK, cmd.employer, forward)
    ids, person = ctx.env.ids, isinstance(cmd, c.RegisterPerson)
    ref = ids.person_ref(cmd.citizen_id)
    forward = c.CommandForwarded(
        command_id=ctx.event_id,
        command_type=cmd.TYPE,
        person=ref,
        sealed_citizen_id=ids.seal(cmd.citizen_id),
        sealed_name=ctx.env.names.seal(cmd.name, ref) if person else None,
        command=cmd.model_dump(
            mode="json", exclude={"citizen_id", "name"} if person else {"citizen_id"}
        ),
    )
    return Decision().emit(c.WORK, ref, forward)


def _opened(msg: c.CommandForwarded, env: Env) -> Message:
    """The command a partition handed on, its seals opened."""
    kind = COMMAND_TYPES.get(msg.command_type)
    if kind is None:
        raise ValueError(f"a forwarded {msg.command_type!r}, which is no enrollment command")
    fields = dict(msg.command)
    if msg.person is not None:
        if msg.sealed_citizen_id is None:
            raise ValueError(f"a forwarded {msg.command_type} of {msg.person} without its ID")
        fields["citizen_id"] = env.ids.open(msg.sealed_citizen_id, msg.person)
        if msg.sealed_name is not None:
            fields["name"] = env.names.open(msg.sealed_name, msg.person)
    return kind.model_validate(fields)


def _card_claim(cmd: c.IssueCard | c.ReplaceCard, ref: str, command_id: str) -> c.CardNumberClaimed:
    """The claim of a card command's number, for `ref`."""
    return c.CardNumberClaimed(
        card_number=cmd.card_number,
        person=ref,
        command_id=command_id,
        command_type=cmd.TYPE,
        issued_on=cmd.issued_on,
        reason=getattr(cmd, "reason", None),
    )


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
    if not state.owns(key):
        return _forward(cmd, ctx)
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


for _decided in PERSON_EVENTS:  # a CardIssued too: its number's holder is on the work topic
    enrollment_log.on(_decided, needs=_its_person)(_folded)


def _its_number(m: Any, ctx: Context[Env]) -> list[StateKey[Any]]:
    return [CARD.key(m.card_number)]


def fold_holder(state: State, msg: Any, ctx: Context[Env]) -> Decision:
    """A card number's holder: held at once (`CardNumberHeld`) or granted to a claim."""
    return Decision().put(CARD.key(msg.card_number), CardOwner(person=msg.person))


enrollment_log.on(c.CardNumberHeld, needs=_its_number)(fold_holder)
enrollment_log.on(c.CardNumberGranted, needs=_its_number)(fold_holder)


# ------------------------------------------------------------------------------------------------
# the work topic (a partitioned state's hand-offs)


def _forwarded_needs(msg: c.CommandForwarded, ctx: Context[Env]) -> list[StateKey[Any]]:
    cmd = _opened(msg, ctx.env)
    handler = handlers.get(cmd.TYPE)
    assert handler is not None
    return list(handler.needs(cmd, ctx))


@work_handlers.on(c.CommandForwarded, needs=_forwarded_needs)
def command_forwarded(state: State, msg: c.CommandForwarded, ctx: Context[Env]) -> Decision:
    """Decided as if it had come keyed by what it changes, answered under its own id."""
    cmd = _opened(msg, ctx.env)
    handler = handlers.get(cmd.TYPE)
    assert handler is not None
    return handler.fn(state, cmd, dataclasses.replace(ctx, event_id=msg.command_id))


@work_handlers.on(c.CardNumberClaimed, needs=lambda m, ctx: [CARD.key(m.card_number)])
def card_number_claimed(state: State, msg: c.CardNumberClaimed, ctx: Context[Env]) -> Decision:
    """The number held for the claimant if no one held it; he is told either way."""
    key = CARD.key(msg.card_number)
    if state.get(key) is not None:
        return Decision().emit(c.WORK, msg.person, c.CardNumberRefused(**dict(msg)))
    granted = c.CardNumberGranted(**dict(msg))  # the same fields: the answer names the claim
    return Decision().put(key, CardOwner(person=msg.person)).emit(c.WORK, msg.person, granted)


def _card_command(msg: Any, person: Person | None) -> c.IssueCard | c.ReplaceCard:
    """The card command whose number was claimed, as it was sent (the ID the person's own)."""
    if person is None:
        raise ValueError(f"a card number was claimed for {msg.person}, who is not registered")
    fields = {"citizen_id": person.citizen_id, "card_number": msg.card_number}
    if msg.command_type == c.ReplaceCard.TYPE:
        return c.ReplaceCard.model_validate(
            {**fields, "issued_on": msg.issued_on, "reason": msg.reason}
        )
    return c.IssueCard.model_validate({**fields, "issued_on": msg.issued_on})


def _claimed(m: Any, ctx: Context[Env]) -> list[StateKey[Any]]:
    return [PERSON.key(m.person)]


@work_handlers.on(c.CardNumberGranted, needs=_claimed)
def card_number_granted(state: State, msg: c.CardNumberGranted, ctx: Context[Env]) -> Decision:
    """The number is his: the card issued, or the command refused if he changed meanwhile."""
    key = PERSON.key(msg.person)
    before = state.get(key)
    cmd = _card_command(msg, before)
    issue = cards.replace_card if isinstance(cmd, c.ReplaceCard) else cards.issue_card

    def decide() -> Decision:
        person, _, fx = issue(before, None, cmd)  # type: ignore[arg-type]
        return Decision().put(key, person).apply(fx)

    return _answer(cmd, dataclasses.replace(ctx, event_id=msg.command_id), before, decide)


@work_handlers.on(c.CardNumberRefused, needs=_claimed)
def card_number_refused(state: State, msg: c.CardNumberRefused, ctx: Context[Env]) -> Decision:
    before = state.get(PERSON.key(msg.person))
    refused = Refused(
        c.Rejection.CARD_NUMBER_IN_USE, f"card number {msg.card_number} was issued before"
    )
    command = _card_command(msg, before)
    return rejected(command, dataclasses.replace(ctx, event_id=msg.command_id), refused, before)


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
