"""Medical settlement's state: a person's coverage and yearly accumulators, claims, hospitals."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from shebao_common.domain import Entity, StateModel, counter_set
from shebao_contracts.enrollment import Scheme
from shebao_contracts.medical import Amounts, HospitalLevel
from shebao_contracts.welfare import AssistanceStatus

ZERO = Decimal("0.00")


class Period(StateModel):
    """A stretch of a medical membership, both ends inclusive; `end` None = still running."""

    scheme: Scheme
    region: str
    active: bool
    start: date
    end: date | None = None

    def covers(self, day: date) -> bool:
        return self.start <= day and (self.end is None or day <= self.end)


class StatusPeriod(StateModel):
    status: AssistanceStatus
    start: date


class Coverage(StateModel):
    """What adjudication needs to know about a person, projected from other services' events."""

    periods: tuple[Period, ...] = ()
    assistance: tuple[StatusPeriod, ...] = ()
    arrears_since: date | None = None
    """First unpaid month of medical contributions still in arrears, if any."""
    deceased_on: date | None = None
    benefit: tuple[Period, ...] = ()
    """Spells of unemployment benefit: the unemployment fund pays the person's employee medical
    insurance meanwhile (DOMAIN.md), so each counts as an active employee-medical period. Kept
    apart from the memberships, whose events (a suspension at the job's end, read in any order
    with the benefit's) must not close them."""

    def on(self, day: date) -> Period | None:
        """The period covering the day, a membership's or a benefit spell's: an active one
        first."""
        hits = [p for p in (*self.periods, *self.benefit) if p.covers(day)]
        return next((p for p in hits if p.active), hits[0] if hits else None)

    def assistance_on(self, day: date) -> AssistanceStatus:
        status = AssistanceStatus.NONE
        for s in sorted(self.assistance, key=lambda s: s.start):
            if s.start <= day:
                status = s.status
        return status


class YearTotals(StateModel):
    """A person's running totals for one calendar year; never negative."""

    fund: Decimal = ZERO
    in_scope_out_of_pocket: Decimal = ZERO
    serious_illness: Decimal = ZERO
    assistance: Decimal = ZERO
    outpatient_pool: Decimal = ZERO


class Accumulators(StateModel):
    """Yearly totals per calendar year (only recent years are kept)."""

    years: dict[int, YearTotals] = {}

    def year(self, y: int) -> YearTotals:
        totals = self.years.get(y)
        return _NO_TOTALS if totals is None else totals


_NO_TOTALS = YearTotals()
"""A year with nothing counted yet: one shared value (state is immutable), not a model
validated for each claim of a person's first in the year (issue 20)."""


class ClaimRecord(StateModel):
    """The last submission of a hospital's claim id and what became of it."""

    person: str
    fingerprint: str
    status: str  # settled, rejected, cancelled
    year: int | None = None
    month: str | None = None
    """The month it was settled in (of the record's time), where the hospital reconciles it."""
    amounts: Amounts | None = None
    delta: YearTotals | None = None
    """What the settlement added to the year's totals; a cancellation subtracts exactly this."""
    ytd_fund_paid: Decimal | None = None
    reasons: tuple[str, ...] = ()
    detail: str = ""


class Hospital(StateModel):
    code: str
    name: str
    level: HospitalLevel
    region: str
    designated_from: date
    designated_to: date | None = None

    def designated_on(self, day: date) -> bool:
        return self.designated_from <= day and (
            self.designated_to is None or day <= self.designated_to
        )


class HospitalIndex(StateModel):
    """The hospitals known, as a release before `HOSPITALS` kept them: read, never written."""

    codes: tuple[str, ...] = ()


class ClaimHolder(StateModel):
    """The patient a hospital's claim id was first forwarded for: the id is that patient's."""

    person: str


# A person's, by person reference: the key of the claims (commands) and of the other services'
# events about the person (coverage), so the same partition of each owns it.
COVERAGE = Entity("coverage", Coverage, owner=lambda person: person)
ACCUMULATORS = Entity("accumulators", Accumulators, owner=lambda person: person)
CLAIM = Entity("claim", ClaimRecord, cached=False)  # one per claim, rarely read again
# A claim's record lives with its patient (adjudication is keyed by person); which patient a
# claim id belongs to is kept where the hospital's claims arrive, keyed by claim id (its id is
# `<hospital>:<claim id>`), so that the id of one patient's claim is refused for another
# wherever each patient's state lives.
CLAIM_HOLDER = Entity(
    "claim-holder", ClaimHolder, cached=False, owner=lambda ident: ident.partition(":")[2]
)
# Registered by the bureau keyed by its code: the partition of the code owns it, and the
# claims of every patient (any partition) read it from there.
HOSPITAL = Entity("hospital", Hospital, owner=lambda code: code)
HOSPITAL_INDEX = Entity("hospital-index", HospitalIndex)
HOSPITALS = counter_set("hospitals")
"""Every hospital registered, one field per code (`hospitals.register`)."""
# A hospital's month as counters (fen and claim counts): every partition of the adjudication
# adds to them at once, so they are commutative increments, not owned state. A year to date is
# the sum of its months up to the statement's.
HOSPITAL_MONTH = counter_set("hospital-month")
