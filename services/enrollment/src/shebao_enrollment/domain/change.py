"""A change to a person: the transitions of its memberships, each an event in its history.

A rule changes a person only by the events it emits: each is applied by `evolved`, which gives
the person after the event (what it changed, and its entry in the history) and the coverage
counts it moved. A rebuild folds the published events with the same function (`handlers.
enrollment_log`), so the state it computes is the state the rules wrote, by construction.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from shebao_common.domain import Effects
from shebao_contracts import enrollment as c

from .model import COVERAGE, Card, Employment, HistoryEntry, Membership, PendingTransfer, Person

_LOCAL_ONLY = frozenset({c.Scheme.WORK_INJURY, c.Scheme.MATERNITY})
"""Schemes with no account and nothing to carry over to another region."""

PersonEvent = (
    c.PersonRegistered
    | c.EmploymentStarted
    | c.EmploymentEnded
    | c.MembershipStarted
    | c.MembershipSuspended
    | c.MembershipResumed
    | c.MembershipChanged
    | c.MembershipEnded
    | c.ResidentPensionTierChosen
    | c.PersonTransferredOut
    | c.PersonTransferredIn
    | c.CardIssued
    | c.PersonDeceased
)
PERSON_EVENTS: tuple[type[PersonEvent], ...] = (
    c.PersonRegistered,
    c.EmploymentStarted,
    c.EmploymentEnded,
    c.MembershipStarted,
    c.MembershipSuspended,
    c.MembershipResumed,
    c.MembershipChanged,
    c.MembershipEnded,
    c.ResidentPensionTierChosen,
    c.PersonTransferredOut,
    c.PersonTransferredIn,
    c.CardIssued,
    c.PersonDeceased,
)
"""Enrollment's events about a person: each changes the person's state (`evolved`)."""


def _insured(person: Person) -> set[tuple[c.Scheme, str]]:
    return {(m.scheme, m.region) for m in person.memberships if m.active}


def coverage_moves(before: Person, after: Person) -> Effects:
    """Insured counts per region move with every membership that becomes (in)active."""
    fx = Effects()
    old, new = _insured(before), _insured(after)
    for sign, changed in ((-1, old - new), (1, new - old)):
        for scheme, region in changed:
            fx.count(COVERAGE.key(region), scheme.insurance.value, sign)
            fx.count(COVERAGE.key(region), f"scheme:{scheme.value}", sign)
    return fx


def history_entry(ev: PersonEvent) -> HistoryEntry:
    """The event as the person's history tells it: the day, what happened, and a detail."""
    on, what, detail = _told(ev)
    return HistoryEntry(
        on=on,
        what=what,
        scheme=getattr(ev, "scheme", None),
        region=getattr(ev, "region", None),
        detail=detail,
    )


def _told(ev: PersonEvent) -> tuple[date, str, str]:
    match ev:
        case c.PersonRegistered():
            return ev.registered_on, "registered", ""
        case c.EmploymentStarted():
            return ev.start_date, "employment started", ev.employer
        case c.EmploymentEnded():
            return ev.end_date, "employment ended", ev.separation.value
        case c.MembershipStarted():
            return ev.since, "enrolled" if ev.active else "enrolled (suspended)", ""
        case c.MembershipSuspended():
            return ev.on, "suspended", ev.reason.value
        case c.MembershipResumed():
            return ev.on, "resumed", ""
        case c.MembershipChanged():
            return ev.on, "terms changed", ""
        case c.MembershipEnded():
            return ev.on, "ended", ev.reason.value
        case c.ResidentPensionTierChosen():
            return date(ev.year, 1, 1), "tier chosen", str(ev.yearly_tier)
        case c.PersonTransferredOut():
            return ev.on, "transferred out", f"{ev.transfer_id} to {ev.to_region}"
        case c.PersonTransferredIn():
            return ev.on, "transferred in", f"{ev.transfer_id} from {ev.from_region}"
        case c.CardIssued():
            what = "card issued" if ev.replaces is None else "card replaced"
            return ev.issued_on, what, ev.card_number
        case c.PersonDeceased():
            return ev.on, "deceased", ""


def _put(p: Person, m: Membership) -> dict[str, Any]:
    return {"memberships": (*(x for x in p.memberships if x.scheme != m.scheme), m)}


def _held(p: Person, scheme: c.Scheme) -> Membership:
    m = p.membership(scheme)
    if m is None:
        raise ValueError(f"person {p.ref} holds no {scheme.value} membership")
    return m


def _changes(p: Person, ev: PersonEvent) -> dict[str, Any]:
    """What the event changes in the person's state (its history aside)."""
    match ev:
        case c.PersonRegistered():
            return {}  # the person it creates is `persons.registered`
        case c.EmploymentStarted():
            job = Employment(
                employer=ev.employer,
                region=ev.region,
                start_date=ev.start_date,
                monthly_wage=ev.monthly_wage,
                risk_class=ev.risk_class,
            )
            return {"employment": job}
        case c.EmploymentEnded():
            return {"employment": None}
        case c.MembershipStarted():
            m = Membership(
                scheme=ev.scheme,
                region=ev.region,
                active=ev.active,
                since=ev.since,
                first_enrolled=ev.first_enrolled,
                basis=ev.basis,
                employer=ev.employer,
                declared_base=ev.declared_base,
                yearly_tier=ev.yearly_tier,
                risk_class=ev.risk_class,
                expropriation_record=ev.expropriation_record,
            )
            return _put(p, m)
        case c.MembershipSuspended():
            held = _held(p, ev.scheme)
            return _put(p, held.model_copy(update={"active": False, "since": ev.on}))
        case c.MembershipResumed() | c.MembershipChanged():
            terms: dict[str, Any] = {
                "basis": ev.basis,
                "employer": ev.employer,
                "declared_base": ev.declared_base,
                "risk_class": ev.risk_class,
            }
            if isinstance(ev, c.MembershipResumed):
                terms |= {"active": True, "since": ev.on}
            return _put(p, _held(p, ev.scheme).model_copy(update=terms))
        case c.MembershipEnded():
            if ev.transfer_id is not None and ev.reason == c.StopReason.TRANSFERRED_OUT:
                # it leaves with its transfer: the PersonTransferredOut that follows its
                # MembershipEnded events in the same decision keeps it as pending
                return {}
            return {"memberships": tuple(x for x in p.memberships if x.scheme != ev.scheme)}
        case c.ResidentPensionTierChosen():
            held = _held(p, c.Scheme.RESIDENT_PENSION)
            return _put(p, held.model_copy(update={"yearly_tier": ev.yearly_tier}))
        case c.PersonTransferredOut():
            moving = tuple(m for m in p.memberships if m.scheme in ev.schemes)
            pending = PendingTransfer(
                transfer_id=ev.transfer_id,
                from_region=ev.from_region,
                to_region=ev.to_region,
                on=ev.on,
                memberships=moving,
            )
            return {
                "memberships": tuple(m for m in p.memberships if m.scheme not in ev.schemes),
                "pending_transfers": (*p.pending_transfers, pending),
                "transfer_ids": (*p.transfer_ids, ev.transfer_id),
            }
        case c.PersonTransferredIn():
            # the memberships arrived with the MembershipStarted events before it
            rest = tuple(t for t in p.pending_transfers if t.transfer_id != ev.transfer_id)
            ids = p.transfer_ids if ev.within_province else (*p.transfer_ids, ev.transfer_id)
            return {"pending_transfers": rest, "transfer_ids": ids}
        case c.CardIssued():
            return {"card": Card(number=ev.card_number, issued_on=ev.issued_on)}
        case c.PersonDeceased():
            # its memberships ended with the MembershipEnded events before it
            return {"deceased_on": ev.on, "employment": None, "card": None}


def evolved(p: Person, ev: PersonEvent) -> tuple[Person, Effects]:
    """The person after one of its events, and the coverage counts the event moved: how a rule
    changes a person (`PersonChange.emit`), and how a rebuild folds the rule's events."""
    after = p.model_copy(update={**_changes(p, ev), "history": (*p.history, history_entry(ev))})
    return after, coverage_moves(p, after)


class PersonChange:
    """A person's new state, built by the events a rule emits (each applied by `evolved`), and
    the rule's effects: the events and the coverage counts they moved."""

    def __init__(self, person: Person) -> None:
        self.p = person
        self.fx = Effects()

    def emit(self, event: PersonEvent) -> None:
        self.fx.emit(c.EVENTS, self.p.ref, event)
        self.p, counted = evolved(self.p, event)
        self.fx.extend(counted)

    def done(self) -> tuple[Person, Effects]:
        return self.p, self.fx

    # membership transitions -------------------------------------------------------------------

    def _about(self, m: Membership) -> dict[str, Any]:
        """What every membership event says first: whose membership, of which scheme, where."""
        return {
            "person": self.p.ref,
            "scheme": m.scheme,
            "insurance": m.insurance,
            "region": m.region,
        }

    def start(self, m: Membership, transfer_id: str | None = None) -> None:
        self.emit(
            c.MembershipStarted(
                **self._about(m),
                since=m.since,
                first_enrolled=m.first_enrolled,
                basis=m.basis,
                employer=m.employer,
                declared_base=m.declared_base,
                yearly_tier=m.yearly_tier,
                risk_class=m.risk_class,
                transfer_id=transfer_id,
                expropriation_record=m.expropriation_record,
                birth_date=self.p.birth_date,
                sex=self.p.sex,
                active=m.active,
            )
        )

    def suspend(self, m: Membership, on: date, reason: c.StopReason) -> None:
        self.emit(c.MembershipSuspended(**self._about(m), on=on, reason=reason))

    def resume(self, m: Membership, on: date, basis: c.Basis, **terms: Any) -> None:
        self.emit(c.MembershipResumed(**self._about(m), on=on, basis=basis, **terms))

    def change(self, m: Membership, on: date, basis: c.Basis, **terms: Any) -> None:
        self.emit(c.MembershipChanged(**self._about(m), on=on, basis=basis, **terms))

    def end(
        self, m: Membership, on: date, reason: c.StopReason, transfer_id: str | None = None
    ) -> None:
        self.emit(
            c.MembershipEnded(**self._about(m), on=on, reason=reason, transfer_id=transfer_id)
        )

    def enrol(self, scheme: c.Scheme, region: str, on: date, basis: c.Basis, **terms: Any) -> None:
        """Start a new membership, active from `on`, its first enrolment; `terms` are the
        membership's other fields (employer, declared_base, yearly_tier...)."""
        self.start(
            Membership(
                scheme=scheme,
                region=region,
                active=True,
                since=on,
                first_enrolled=on,
                basis=basis,
                **terms,
            )
        )

    def join(
        self,
        scheme: c.Scheme,
        region: str,
        on: date,
        basis: c.Basis,
        *,
        employer: str | None = None,
        declared_base: Decimal | None = None,
        risk_class: int | None = None,
    ) -> None:
        """Enrol in an employee-type scheme: resume a suspended membership of the same region,
        change the terms of an active one, or start a new one. Callers checked the rules."""
        terms: dict[str, Any] = {
            "employer": employer,
            "declared_base": declared_base,
            "risk_class": risk_class,
        }
        m = self.p.membership(scheme)
        if m is not None and m.region != region and scheme in _LOCAL_ONLY:
            # no account and nothing to carry over: the old region's membership simply ends
            self.end(m, on, c.StopReason.MOVED_REGION)
            m = None
        if m is None:
            self.enrol(scheme, region, on, basis, **terms)
        elif m.active:
            self.change(m, on, basis, **terms)
        else:
            self.resume(m, on, basis, **terms)
