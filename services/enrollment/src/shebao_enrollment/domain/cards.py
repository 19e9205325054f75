"""Cards: a person's one valid card, and the index that keeps a number from being issued twice."""

from __future__ import annotations

from datetime import date

from shebao_common.domain import Effects, Refused
from shebao_contracts import enrollment as c

from .change import PersonChange
from .model import CardOwner, Person
from .persons import alive

R = c.Rejection


def issue_card(
    person: Person | None, owner: CardOwner | None, cmd: c.IssueCard
) -> tuple[Person, CardOwner, Effects]:
    p = alive(person)
    if p.card is not None:
        raise Refused(R.CARD_ALREADY_ISSUED, f"card {p.card.number} is valid; replace it instead")
    return _new_card(p, owner, cmd.card_number, cmd.issued_on, None)


def replace_card(
    person: Person | None, owner: CardOwner | None, cmd: c.ReplaceCard
) -> tuple[Person, CardOwner, Effects]:
    p = alive(person)
    if p.card is None:
        raise Refused(R.NO_CARD_TO_REPLACE, "no card was issued")
    return _new_card(p, owner, cmd.card_number, cmd.issued_on, p.card.number)


def _new_card(
    p: Person, owner: CardOwner | None, number: str, on: date, replaces: str | None
) -> tuple[Person, CardOwner, Effects]:
    if owner is not None:
        raise Refused(R.CARD_NUMBER_IN_USE, f"card number {number} was issued before")
    tx = PersonChange(p)
    event = c.CardIssued(person=p.ref, card_number=number, issued_on=on, replaces=replaces)
    tx.emit(event)
    person, fx = tx.done()
    return person, owner_of(event), fx


def owner_of(ev: c.CardIssued) -> CardOwner:
    """The holder the card's number is indexed to, for ever (replaced or not)."""
    return CardOwner(person=ev.person)
