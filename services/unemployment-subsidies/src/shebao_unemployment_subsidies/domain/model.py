"""The service's state: what it followed of persons, what it decided, regions, the directory.

Keys and who writes them (a value is written either only by projections of what other services
published, or only by this service's decisions, each of which it publishes: a rebuild replays
the first and folds the second from its own topics, `rebuild.py`):
  person:<ref>               Person     followed: enrollment (its fold replays enrollment's
                                        events), contributions and welfare (projections)
  benefit:<ref>              Benefit    decided: commands (register, stop), enrollment
                                        (re-employment, death), work (payments); folded from
                                        the events topic
  region:<code>              Region     decided: commands (closes); folded from the events topic
  prices:<code>              Prices     decided: cpi (releases); folded from the bureaus' answers
                                        and the events topic
  directory:<region>:<shard> Directory  decided: work (DirectorySet); folded from the work topic
  paid:<region>:<period>     counters   decided: work (payments); folded from the events topic
"""

from __future__ import annotations

import zlib
from datetime import date
from decimal import Decimal

from shebao_common.domain import Entity, StateKey, StateModel, counter_set
from shebao_contracts.enrollment import Residence, Separation, Sex
from shebao_contracts.unemployment import StopCause

DIRECTORY_SHARDS = 16
"""Shards per region directory: a payment run fans out to 16 records, each reaching a sixteenth
of the region's recipients. Changing it moves recipients between shards: a migration."""


class Separated(StateModel):
    """How the person's last employment ended."""

    employer: str
    region: str
    on: date
    separation: Separation


class Spell(StateModel):
    """One period of benefit, from a registration until it stops."""

    region: str
    registered_on: date
    first_month: str
    entitlement: int
    """Months granted at registration, carried months included."""
    paid: tuple[str, ...] = ()
    """Months paid, in order."""
    stopped_on: date | None = None
    cause: StopCause | None = None
    separated_on: date | None = None
    """The end of the employment the spell rests on (unknown for spells granted before it was
    published with the grant)."""

    @property
    def months_left(self) -> int:
        return self.entitlement - len(self.paid)

    @property
    def active(self) -> bool:
        return self.stopped_on is None

    def ended_by_job_from(self, day: date) -> bool:
        """A job starting on `day` ends this spell (re-employment) when the spell is active and
        the job started after the employment the spell rests on ended (unknown: on or after the
        registration). A job of before that, read late, is one the registration knew of.

        The rule reads the days only, never what was read before: a hire read again after a
        rebuild against a spell granted since decides as it did (nothing), because a spell is
        granted only once every job has ended, so on a separation on or after any hire read
        before it (`Person.separated` is the latest by date)."""
        if not self.active:
            return False
        if self.separated_on is not None:
            return day > self.separated_on
        return day >= self.registered_on


class Person(StateModel):
    """What the service followed of a person: enrollment's, contributions' and welfare's facts.
    Each source writes its own fields, so their interleaving does not matter."""

    ref: str
    registered: bool = False
    """Enrollment's PersonRegistered was seen (birth date, sex, residence known)."""
    birth_date: date | None = None
    sex: Sex | None = None
    residence: Residence = Residence.URBAN
    deceased_on: date | None = None
    jobs: dict[str, date] = {}
    """Current employments: employer -> since."""
    left: dict[str, date] = {}
    """Employer -> the last day of the latest employment with it that ended: a start of before
    it, read again (a resend), is a job that has ended."""
    separated: Separated | None = None
    """The employment that ended last (by its end date)."""
    credited: tuple[str, ...] = ()
    """Months of unemployment insurance credited (all regions), sorted, each once."""
    assistance: tuple[tuple[date, bool], ...] = ()
    """Welfare's statuses, dated: (from, a 低保 or 特困 recipient or not). Welfare pays the price
    subsidy of its recipients, so this service does not pay them a second time."""

    def welfare_recipient(self, day: date) -> bool:
        on = [r for start, r in sorted(self.assistance) if start <= day]
        return bool(on and on[-1])

    def credited_after(self, month: str | None) -> int:
        """Credited months after `month` (all when None): contributions restart counting
        after a spell began."""
        return sum(1 for m in self.credited if month is None or m > month)


class Benefit(StateModel):
    """What the service decided for a person: spells, months paid, subsidies paid. Each change is
    one of its published events, applied by the same function live and in a rebuild."""

    ref: str
    spell: Spell | None = None
    """The latest spell, active or stopped."""
    carried: int = 0
    """Unused months of stopped spells, for a later one."""
    benefit_months: tuple[str, ...] = ()
    """Every month benefit was paid, all spells: who is a recipient of a subsidy's period."""
    subsidies: dict[str, Decimal] = {}
    """Price subsidies paid: period -> amount."""

    @property
    def receiving(self) -> bool:
        return self.spell is not None and self.spell.active


class Release(StateModel):
    cpi_yoy: Decimal
    food_cpi_yoy: Decimal


class Triggered(StateModel):
    urban: Decimal
    rural: Decimal


class Region(StateModel):
    closed: tuple[str, ...] = ()
    """Payment months closed, in order."""


class Prices(StateModel):
    """A region's price index as its statistics bureau released it, and the subsidies it set."""

    releases: dict[str, Release] = {}
    """month -> the release in force."""
    triggered: dict[str, Triggered] = {}
    """period (month or quarter) -> the subsidy per person, once triggered."""
    paid: tuple[str, ...] = ()
    """Periods whose subsidy was paid out (a release can no longer change them)."""


class Directory(StateModel):
    """One shard of a region's recipients: whom the payment runs reach, each with the first month
    of its (earliest) spell in the directory, so a run of an earlier month does not reach it."""

    recipients: tuple[tuple[str, str], ...] = ()
    """(person, first month), sorted by person."""

    def reached(self, last_month: str) -> list[str]:
        """The recipients a run for a period ending with `last_month` reaches."""
        return [person for person, first in self.recipients if first <= last_month]


# Each kind is kept with the partition of the key its records come keyed by where the state is
# partitioned (`Entity.owner`): a person's file and benefit with his reference (the followed
# events and a recipient's payment are keyed by it; a job centre's command, keyed by citizen ID,
# is handed there), a region and its prices with the region code (closes, releases), a directory
# shard with "region:shard" (shard work).
PERSON = Entity("person", Person, owner=lambda ref: ref)
BENEFIT = Entity("benefit", Benefit, owner=lambda ref: ref)
REGION = Entity("region", Region, owner=lambda region: region)
PRICES = Entity("prices", Prices, owner=lambda region: region)
DIRECTORY = Entity("directory", Directory, owner=lambda shard: shard)
PAID = counter_set("paid")
"""Totals per region and period (`paid:<region>:<period>`), in fen: benefit_fen, medical_fen,
recipients; subsidy_fen, subsidy_recipients."""
PersonKey = StateKey[Person]
BenefitKey = StateKey[Benefit]
RegionKey = StateKey[Region]
PricesKey = StateKey[Prices]


def shard_of(person: str, shards: int = DIRECTORY_SHARDS) -> int:
    return zlib.crc32(person.encode()) % shards
