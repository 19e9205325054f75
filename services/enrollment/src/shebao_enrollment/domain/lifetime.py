"""A person's lifetime record (记录一生): every scheme, credited month, payment and claim, in order.

Assembled from what the platform's services publish about the person: enrollment's own events
(registration, employment, memberships, transfers, card), contributions' credited months and
transfer amounts, medical settlement's claims, unemployment benefits and subsidies, welfare's
assistance. Each event becomes one entry: the day it counts on, what happened, and its facts
as text. Entries are kept sorted by (day, kind, facts), not by arrival: the topics reach this
projection in any interleaving, and the record must read the same however they did (a rebuild
replays them from the start). An entry already there is not added twice.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from enum import Enum
from typing import Any

from shebao_common.domain import Entity, StateModel
from shebao_contracts import contributions as cc
from shebao_contracts import enrollment as en
from shebao_contracts import medical as m
from shebao_contracts import unemployment as u
from shebao_contracts import welfare as w
from shebao_contracts.envelope import Message


class Entry(StateModel):
    on: date
    kind: str
    facts: dict[str, str]

    def sort_key(self) -> tuple[date, str, tuple[tuple[str, str], ...]]:
        return (self.on, self.kind, tuple(sorted(self.facts.items())))


class Lifetime(StateModel):
    entries: tuple[Entry, ...] = ()


LIFETIME = Entity("lifetime", Lifetime, owner=lambda ref: ref)
"""Kept with the person's reference, by which every event it follows is keyed."""


def _month(text: str) -> date:
    """The first day of a period "YYYY-MM" (or of a yearly period "YYYY")."""
    return date(int(text[:4]), int(text[5:7]) if len(text) >= 7 else 1, 1)


def _text(value: Any) -> str:
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return ",".join(_text(v) for v in value)
    return str(value)


On = Callable[[Any], date]
_KINDS: dict[type[Message], tuple[str, On, tuple[str, ...]]] = {
    en.PersonRegistered: ("registered", lambda e: e.registered_on, ("hukou_region", "residence")),
    en.EmploymentStarted: (
        "employment_started",
        lambda e: e.start_date,
        ("employer", "region", "monthly_wage"),
    ),
    en.EmploymentEnded: (
        "employment_ended",
        lambda e: e.end_date,
        ("employer", "region", "separation"),
    ),
    en.MembershipStarted: ("membership_started", lambda e: e.since, ("scheme", "region", "basis")),
    en.MembershipSuspended: (
        "membership_suspended",
        lambda e: e.on,
        ("scheme", "region", "reason"),
    ),
    en.MembershipResumed: ("membership_resumed", lambda e: e.on, ("scheme", "region", "basis")),
    en.MembershipChanged: ("membership_changed", lambda e: e.on, ("scheme", "region", "basis")),
    en.MembershipEnded: ("membership_ended", lambda e: e.on, ("scheme", "region", "reason")),
    en.PersonTransferredOut: (
        "transferred_out",
        lambda e: e.on,
        ("transfer_id", "from_region", "to_region"),
    ),
    en.PersonTransferredIn: (
        "transferred_in",
        lambda e: e.on,
        ("transfer_id", "from_region", "to_region"),
    ),
    en.CardIssued: ("card_issued", lambda e: e.issued_on, ("card_number",)),
    en.PersonDeceased: ("deceased", lambda e: e.on, ()),
    cc.ContributionCredited: (
        "month_credited",
        lambda e: _month(e.period),
        ("period", "months", "source", "insurances", "employer"),
    ),
    cc.TransferAmountComputed: (
        "transfer_amount",
        lambda e: e.on,
        ("transfer_id", "from_region", "to_region", "total"),
    ),
    m.ClaimSettled: (
        "claim_settled",
        lambda e: e.discharge_date or e.admission_date,
        ("hospital", "claim_id", "visit_type", "scheme", "region"),
    ),
    m.ClaimCancelled: ("claim_cancelled", lambda e: _month(e.month), ("hospital", "claim_id")),
    u.BenefitGranted: (
        "benefit_granted",
        lambda e: e.registered_on,
        ("region", "first_month", "credited_months", "entitlement_months"),
    ),
    u.BenefitPaid: ("benefit_paid", lambda e: _month(e.month), ("region", "month", "amount")),
    u.MedicalContributionPaid: (
        "medical_paid_by_unemployment_fund",
        lambda e: _month(e.month),
        ("region", "month", "amount"),
    ),
    u.BenefitStopped: ("benefit_stopped", lambda e: e.on, ("region", "cause", "months_left")),
    u.PriceSubsidyPaid: (
        "price_subsidy_paid",
        lambda e: _month(e.period),
        ("region", "period", "amount"),
    ),
    w.RecipientStatusChanged: (
        "assistance_status",
        lambda e: e.effective_from,
        ("status", "region"),
    ),
    w.SupportDecided: (
        "support_decided",
        lambda e: _month(e.from_month),
        ("region", "monthly_support"),
    ),
    w.AssistancePaid: (
        "assistance_paid",
        lambda e: _month(e.month),
        ("region", "month", "status", "amount"),
    ),
    w.PriceSubsidyPaid: (
        "price_subsidy_paid",
        lambda e: _month(e.period),
        ("region", "period", "amount"),
    ),
    w.PensionPaidOnBehalf: (
        "pension_paid_on_behalf",
        lambda e: date(e.year, 1, 1),
        ("region", "year", "tier", "amount"),
    ),
}
EVENTS: tuple[type[Message], ...] = tuple(_KINDS)
"""The events a lifetime record is assembled from; each names its person (`person`)."""


def entry(ev: Message) -> Entry:
    kind, on, fields = _KINDS[type(ev)]
    facts = {f: _text(v) for f in fields if (v := getattr(ev, f)) is not None}
    if isinstance(ev, m.ClaimSettled):
        facts["fund_payment"] = _text(ev.amounts.fund_payment)
        facts["patient_payable"] = _text(ev.amounts.patient_payable)
        facts["medical_assistance_payment"] = _text(ev.amounts.medical_assistance_payment)
    return Entry(on=on(ev), kind=kind, facts=facts)


def record(lifetime: Lifetime | None, ev: Message) -> Lifetime | None:
    """The record with the event's entry in its place; None if it was there already."""
    new = entry(ev)
    entries = (lifetime or Lifetime()).entries
    if new in entries:
        return None
    return Lifetime(entries=tuple(sorted((*entries, new), key=Entry.sort_key)))
