"""The service's state: persons, employers, assessments, ledgers, the region directory and clock.

Keys and who writes them (the runtime checks versions, so a key written by two subscriptions is
safe; it only retries). Every value is the fold of what the service published
(`handlers.decision_log`: a rebuild), so a map that two subscriptions add to is kept in key order:
  person:<ref>                 PersonFacts       enrollment (what enrollment said of the person)
  account:<ref>                Account           work (credits, checks), collections, commands
                                                 (advances), unemployment, welfare, transfers,
                                                 enrollment (who assesses him, his watch)
  employer:<code>              EmployerFacts     enrollment (registration, roster)
  wages:<code>:<YYYY-MM>       WageSheet         commands (declarations)
  assessment:<code>:<YYYY-MM>  EmployerAssessment work (issue), commands (revision)
  ledger:<code>                EmployerLedger    work (issue, overdue, the month assessed, a
                                                 leave on a death), collections, commands
  directory:<region>:<shard>   Directory         work only
  clock:<region>               RegionClock       commands (period close)
"""

from __future__ import annotations

import zlib
from datetime import date
from decimal import Decimal
from typing import Literal

from shebao_common.domain import Entity, StateModel
from shebao_contracts.enrollment import Basis, Insurance, Scheme
from shebao_contracts.trusted import trusted

from . import periods
from .ledger import Ledger
from .rates import ZERO, Part

PayerKind = Literal["monthly", "yearly"]

PENSION_SCHEMES = frozenset(
    {Scheme.EMPLOYEE_PENSION, Scheme.RESIDENT_PENSION, Scheme.LAND_EXPROPRIATED_PENSION}
)
RESIDENT_SCHEMES = frozenset({Scheme.RESIDENT_PENSION, Scheme.RESIDENT_MEDICAL})
YEARLY_SCHEMES = RESIDENT_SCHEMES | {Scheme.LAND_EXPROPRIATED_PENSION}
"""Schemes a person pays by the year."""
FLEXIBLE_SCHEMES = frozenset(
    {Scheme.EMPLOYEE_PENSION, Scheme.EMPLOYEE_MEDICAL, Scheme.UNEMPLOYMENT, Scheme.MATERNITY}
)
ENROLLED_INSURANCES = frozenset({Insurance.PENSION, Insurance.MEDICAL})
"""A live pension or medical membership makes a person 'enrolled' for the interruption rule."""


# ---------------------------------------------------------------------------------------------
# Persons


class Obligation(StateModel):
    """A membership as enrollment reported it: what the person may owe, where, since when."""

    scheme: Scheme
    region: str
    basis: Basis
    active: bool
    since: date
    first_enrolled: date
    employer: str | None = None
    declared_base: Decimal | None = None
    yearly_tier: int | None = None
    ended_on: date | None = None
    """The day of the person's death, which ended it: the months he lived through stay owed."""


class Job(StateModel):
    employer: str
    region: str
    since: date


class Interruption(StateModel):
    region: str
    since: str
    """The first uncredited month."""
    opened_at: str
    """The last judged month when it opened."""


class Advanced(StateModel):
    """A pension period someone else paid for the person, to be recovered."""

    advance_id: str
    amount: Decimal
    part: Part


class TransferRecord(StateModel):
    transfer_id: str
    on: date
    from_region: str
    to_region: str
    total: Decimal


class PersonFile(StateModel):
    ref: str
    sealed_id: str | None = None
    """The citizen ID enrollment sealed for this service: opened only to name the person to a
    tax bureau."""
    birth_date: date | None = None
    deceased_on: date | None = None
    obligations: dict[Scheme, Obligation] = {}
    job: Job | None = None
    obligated_through: str | None = None
    """The last month a past employment was owed for (judging someone who stopped paying)."""
    tiers: dict[int, int] = {}
    """Resident pension tier chosen per year."""

    credited: dict[Insurance, tuple[str, ...]] = {}
    """Credited months per insurance, sorted."""
    pension_account: Decimal = ZERO
    medical_account: Decimal = ZERO
    pension_bases_since_1998: Decimal = ZERO
    """Sum of the employee pension bases of credited months from 1998 (the transfer's 12%)."""
    last_credited: str | None = None

    judged_through: str | None = None
    interruption: Interruption | None = None
    closed_since: tuple[str, ...] = ()
    """The first uncredited months of the interruptions closed (each opens once: a later one
    starts after the credit that closed it)."""
    watch: str | None = None
    """The close at which a check is scheduled in the directory, if any."""

    payer: PayerKind | None = None
    payer_region: str | None = None
    ledger: Ledger = Ledger()
    """Periods the person pays alone (flexible months, resident years)."""
    assessed: dict[str, tuple[Part, ...]] = {}
    """The parts of those periods' assessments, until credited."""

    paid_on_behalf: dict[int, Decimal] = {}
    """Years the government pays the lowest resident-pension tier for the person (a 低保 or
    特困 recipient): booked against the year's assessment as a payment."""
    advances: dict[str, Advanced] = {}
    advance_ids: tuple[str, ...] = ()
    advance_outstanding: Decimal = ZERO
    recovered: tuple[str, ...] = ()
    """Periods whose advance was recovered (a period is advanced once: it is credited then)."""
    transfers: tuple[TransferRecord, ...] = ()

    # derived ---------------------------------------------------------------------------------

    def months(self, insurance: Insurance) -> tuple[str, ...]:
        return self.credited.get(insurance, ())

    def live(self) -> list[Obligation]:
        """Memberships that make the person 'enrolled' (pension, medical; active or not)."""
        return [o for o in self.obligations.values() if o.scheme.insurance in ENROLLED_INSURANCES]

    @property
    def enrolled_from(self) -> str | None:
        starts = [o.first_enrolled for o in self.live()]
        return periods.of(min(starts)) if starts else None

    @property
    def home_region(self) -> str | None:
        live = sorted(self.live(), key=lambda o: (not o.active, o.scheme.value))
        return live[0].region if live else None

    @property
    def paying(self) -> bool:
        """Someone assesses this person every period: an employer or the person."""
        return self.deceased_on is None and (self.job is not None or self.payer is not None)

    @property
    def pension_years_before(self) -> int:
        return len(self.months(Insurance.PENSION)) // 12

    # the two halves it is kept in -------------------------------------------------------------

    @classmethod
    def of(cls, ref: str, facts: PersonFacts | None, account: Account | None) -> PersonFile:
        """The person as the rules read him: what enrollment said, and what was decided."""
        f = facts or PersonFacts(ref=ref)
        a = account or Account(ref=ref)
        values = {n: getattr(f, n) for n in PersonFacts.model_fields}
        values |= {n: getattr(a, n) for n in Account.model_fields}
        return trusted(cls, **values)

    def facts(self) -> PersonFacts:
        return trusted(PersonFacts, **{n: getattr(self, n) for n in PersonFacts.model_fields})

    def account(self) -> Account:
        return trusted(Account, **{n: getattr(self, n) for n in Account.model_fields})


class PersonFacts(StateModel):
    """What enrollment said of a person (the `enrollment` projection writes it, nothing else)."""

    ref: str
    sealed_id: str | None = None
    birth_date: date | None = None
    deceased_on: date | None = None
    obligations: dict[Scheme, Obligation] = {}
    job: Job | None = None
    obligated_through: str | None = None
    tiers: dict[int, int] = {}


class Account(StateModel):
    """What the service decided for a person: rebuilt from its published decisions."""

    ref: str
    credited: dict[Insurance, tuple[str, ...]] = {}
    pension_account: Decimal = ZERO
    medical_account: Decimal = ZERO
    pension_bases_since_1998: Decimal = ZERO
    last_credited: str | None = None
    judged_through: str | None = None
    interruption: Interruption | None = None
    closed_since: tuple[str, ...] = ()
    watch: str | None = None
    payer: PayerKind | None = None
    payer_region: str | None = None
    ledger: Ledger = Ledger()
    assessed: dict[str, tuple[Part, ...]] = {}
    paid_on_behalf: dict[int, Decimal] = {}
    advances: dict[str, Advanced] = {}
    advance_ids: tuple[str, ...] = ()
    advance_outstanding: Decimal = ZERO
    recovered: tuple[str, ...] = ()
    """Periods whose advance was recovered (a period is advanced once: it is credited then)."""
    transfers: tuple[TransferRecord, ...] = ()


# Where each kind lives when the state is partitioned (`Entity.owner`): with the record key the
# work topic gives it, the person reference, the employer code, "region:shard", the region.
PERSON = Entity("person", PersonFacts, owner=lambda ref: ref)
ACCOUNT = Entity("account", Account, owner=lambda ref: ref)


# ---------------------------------------------------------------------------------------------
# Employers


class Spell(StateModel):
    """An earlier employment of the person by the same employer."""

    since: date
    until: date


class RosterEntry(StateModel):
    since: date
    until: date | None = None
    wage: Decimal
    """The wage at hiring (as enrollment said it); in the rules' view of the roster, the most
    recent wage: the one of the last assessment that had the person, if later than the hiring."""
    sealed_id: str | None = None
    """The employee's sealed citizen ID, for the assessment's lines to the bureau."""
    hired_on: date | None = None
    """The start of the latest employment, when it continued an open one (else `since`)."""
    earlier: tuple[Spell, ...] = ()

    def owed(self, month: str) -> bool:
        """Employed on the month's last day: that employer owes the month."""
        last = periods.last_day(month)
        if self.since <= last and (self.until is None or self.until >= last):
            return True
        return any(s.since <= last <= s.until for s in self.earlier)


class EmployerFacts(StateModel):
    """What enrollment said of an employer (the `enrollment` projection writes it, nothing
    else): its registration, and each person's employment as hired and left."""

    code: str
    region: str
    risk_class: int
    name: str | None = None
    registered_on: date | None = None
    roster: dict[str, RosterEntry] = {}


class Carried(StateModel):
    """A person's wage on the last assessment that had him (its month and revision)."""

    month: str
    revision: int
    wage: Decimal


class EmployerLedger(Ledger):
    """An employer's ledger, and what the assessments decided of its roster: the month last
    assessed (the employments that ended before it are gone), the wage each assessment carried
    forward, and a leave enrollment did not report (a death)."""

    last_assessed: str | None = None
    carried: dict[str, Carried] = {}
    left: dict[str, date] = {}


class EmployerFile(StateModel):
    """The employer as the rules read it: its facts, with its roster as the assessments left it
    (see `employers.roster_view`)."""

    code: str
    region: str
    risk_class: int
    name: str | None = None
    registered_on: date | None = None
    roster: dict[str, RosterEntry] = {}
    last_assessed: str | None = None


class WageSheet(StateModel):
    """An employer's declared wages for one month, latest line per person."""

    wages: dict[str, Decimal] = {}


class PersonLine(StateModel):
    person: str
    wage: Decimal
    base: Decimal
    parts: tuple[Part, ...]
    sealed_id: str | None = None

    @property
    def employer_part(self) -> Decimal:
        return sum((p.employer_part for p in self.parts), ZERO)

    @property
    def employee_part(self) -> Decimal:
        return sum((p.employee_part for p in self.parts), ZERO)


class EmployerAssessment(StateModel):
    employer: str
    month: str
    region: str
    bureau: str
    risk_class: int
    revision: int = 1
    lines: tuple[PersonLine, ...]

    @property
    def total(self) -> Decimal:
        return sum((ln.employer_part + ln.employee_part for ln in self.lines), ZERO)

    def line(self, person: str) -> PersonLine | None:
        return next((ln for ln in self.lines if ln.person == person), None)


def _employer_of(ident: str) -> str:
    """The employer code of an "<employer>:<month>" key (a code has no colon)."""
    return ident.partition(":")[0]


EMPLOYER = Entity("employer", EmployerFacts, owner=lambda code: code)
# A month's wage sheet and assessment are written at the close and read again once or twice (a
# correction, the collection): large (a line per employee) and not worth keeping decoded.
WAGES = Entity("wages", WageSheet, cached=False, owner=_employer_of)
ASSESSMENT = Entity("assessment", EmployerAssessment, cached=False, owner=_employer_of)
LEDGER = Entity("ledger", EmployerLedger, owner=lambda code: code)


def employer_assessment_id(employer: str, month: str) -> str:
    """Readable, unique and derived: the same assessment always has the same id."""
    return f"E-{employer}-{month}"


def person_assessment_id(person: str, period: str) -> str:
    return f"P-{person}-{period}"


# ---------------------------------------------------------------------------------------------
# Regions


class PayerEntry(StateModel):
    kind: PayerKind
    assessed_year: int | None = None
    """Yearly payers: the last year whose assessment was issued."""


class Directory(StateModel):
    """One shard of a region's directory: who the closes of that region must reach."""

    employers: tuple[str, ...] = ()
    payers: dict[str, PayerEntry] = {}
    watches: dict[str, str] = {}
    """person -> the close at which to check whether the person is interrupted."""


def shard_of(identity: str, shards: int) -> int:
    """A stable shard for an employer code or person reference (never Python's hash())."""
    return zlib.crc32(identity.encode()) % shards


class RegionClock(StateModel):
    last_closed: str | None = None


DIRECTORY = Entity("directory", Directory, owner=lambda shard: shard)
CLOCK = Entity("clock", RegionClock, owner=lambda region: region)
