"""A change to a person: the transitions of its memberships, each an event in its history."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from shebao_common.domain import Effects
from shebao_contracts import enrollment as c
from shebao_contracts.envelope import Message

from .model import COVERAGE, HistoryEntry, Membership, Person

_LOCAL_ONLY = frozenset({c.Scheme.WORK_INJURY, c.Scheme.MATERNITY})
"""Schemes with no account and nothing to carry over to another region."""


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


class PersonChange:
    """Builds a person's new state and its events, recording each event in the person's history;
    `done` adds the coverage counts the memberships moved."""

    def __init__(self, person: Person) -> None:
        self.before = person
        self.p = person
        self.fx = Effects()
        self._history: list[HistoryEntry] = []

    def emit(self, event: Message, on: date, what: str, detail: str = "") -> None:
        self.fx.emit(c.EVENTS, self.p.ref, event)
        self._history.append(
            HistoryEntry(
                on=on,
                what=what,
                scheme=getattr(event, "scheme", None),
                region=getattr(event, "region", None),
                detail=detail,
            )
        )

    def set(self, **changes: object) -> None:
        self.p = self.p.model_copy(update=changes)

    def put(self, m: Membership) -> None:
        rest = tuple(x for x in self.p.memberships if x.scheme != m.scheme)
        self.set(memberships=(*rest, m))

    def drop(self, scheme: c.Scheme) -> None:
        self.set(memberships=tuple(x for x in self.p.memberships if x.scheme != scheme))

    def done(self) -> tuple[Person, Effects]:
        person = self.p.model_copy(update={"history": (*self.p.history, *self._history)})
        return person, self.fx.extend(coverage_moves(self.before, person))

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
        self.put(m)
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
            ),
            m.since,
            "enrolled" if m.active else "enrolled (suspended)",
        )

    def suspend(self, m: Membership, on: date, reason: c.StopReason) -> None:
        self.put(m.model_copy(update={"active": False, "since": on}))
        self.emit(
            c.MembershipSuspended(**self._about(m), on=on, reason=reason),
            on,
            "suspended",
            reason.value,
        )

    def resume(self, m: Membership, on: date, basis: c.Basis, **terms: object) -> None:
        new = m.model_copy(update={"active": True, "since": on, "basis": basis, **terms})
        self._new_terms(c.MembershipResumed, new, on, "resumed")

    def change(self, m: Membership, on: date, basis: c.Basis, **terms: object) -> None:
        new = m.model_copy(update={"basis": basis, **terms})
        self._new_terms(c.MembershipChanged, new, on, "terms changed")

    def _new_terms(
        self,
        event: type[c.MembershipResumed | c.MembershipChanged],
        new: Membership,
        on: date,
        what: str,
    ) -> None:
        self.put(new)
        self.emit(
            event(
                **self._about(new),
                on=on,
                basis=new.basis,
                employer=new.employer,
                declared_base=new.declared_base,
                risk_class=new.risk_class,
            ),
            on,
            what,
        )

    def end(
        self, m: Membership, on: date, reason: c.StopReason, transfer_id: str | None = None
    ) -> None:
        self.drop(m.scheme)
        self.emit(
            c.MembershipEnded(
                **self._about(m),
                on=on,
                reason=reason,
                transfer_id=transfer_id,
            ),
            on,
            "ended",
            reason.value,
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
        terms: dict[str, object] = {
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
