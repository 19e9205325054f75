"""Enrollment's own state: persons (with the raw citizen ID, which stays here), employers, cards,
and the coverage counters."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from shebao_common.domain import Entity, StateModel, counter_set
from shebao_contracts.enrollment import (
    Basis,
    Insurance,
    Ownership,
    Residence,
    Scheme,
    Sex,
)

PENSION_SCHEMES = frozenset(
    {Scheme.EMPLOYEE_PENSION, Scheme.RESIDENT_PENSION, Scheme.LAND_EXPROPRIATED_PENSION}
)
MEDICAL_SCHEMES = frozenset({Scheme.EMPLOYEE_MEDICAL, Scheme.RESIDENT_MEDICAL})


class Membership(StateModel):
    """A current membership; ended ones leave only history."""

    scheme: Scheme
    region: str
    active: bool
    """False while suspended: the relationship (and account) remains, contributions stop."""
    since: date
    first_enrolled: date
    basis: Basis
    employer: str | None = None
    declared_base: Decimal | None = None
    yearly_tier: int | None = None
    risk_class: int | None = None
    expropriation_record: str | None = None

    @property
    def insurance(self) -> Insurance:
        return self.scheme.insurance


class Employment(StateModel):
    employer: str
    region: str
    start_date: date
    monthly_wage: Decimal
    risk_class: int


class Card(StateModel):
    number: str
    issued_on: date


class PendingTransfer(StateModel):
    """Relationships that left a region and have not yet arrived in the other."""

    transfer_id: str
    from_region: str
    to_region: str
    on: date
    memberships: tuple[Membership, ...]


class HistoryEntry(StateModel):
    on: date
    what: str
    scheme: Scheme | None = None
    region: str | None = None
    detail: str = ""


class Person(StateModel):
    ref: str
    citizen_id: str
    name: str
    birth_date: date
    sex: Sex
    hukou_region: str
    residence: Residence
    registered_on: date
    deceased_on: date | None = None
    employment: Employment | None = None
    memberships: tuple[Membership, ...] = ()
    card: Card | None = None
    pending_transfers: tuple[PendingTransfer, ...] = ()
    transfer_ids: tuple[str, ...] = ()
    history: tuple[HistoryEntry, ...] = ()

    def membership(self, scheme: Scheme) -> Membership | None:
        return next((m for m in self.memberships if m.scheme == scheme), None)

    def active_in(self, group: frozenset[Scheme]) -> Membership | None:
        return next((m for m in self.memberships if m.scheme in group and m.active), None)


class Employer(StateModel):
    code: str
    name: str
    region: str
    ownership: Ownership
    risk_class: int
    registered_on: date


class CardOwner(StateModel):
    """Index from a card number to its holder, so a number is never issued twice (the valid
    card is the holder's `card`)."""

    person: str


# Each kind is kept with the partition of the key its records come keyed by where the state is
# partitioned (`Entity.owner`): a person with his reference (the events and the work topic are
# keyed by it; his commands, keyed by citizen ID, are handed there), an employer with its code, a
# card number's holder with the number.
PERSON = Entity("person", Person, owner=lambda ref: ref)
EMPLOYER = Entity("employer", Employer, owner=lambda code: code)
CARD = Entity("card", CardOwner, owner=lambda number: number)
COVERAGE = counter_set("coverage")
"""Per region (`COVERAGE.key(region)`): persons insured per insurance, and per scheme as
`scheme:<scheme>`, moved by every membership that becomes (in)active."""
