"""The service's state: persons (what it followed and their spells), regions, the directory.

Keys and who writes them:
  person:<ref>               Person     enrollment, contributions (follow), commands (register,
                                        stop), work (payments)
  region:<code>              Region     commands (closes), cpi (releases)
  directory:<region>:<shard> Directory  work only (who a region's payment runs reach)
  paid:<region>:<period>     counters   work (what was paid, for the read side)
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

    @property
    def months_left(self) -> int:
        return self.entitlement - len(self.paid)

    @property
    def active(self) -> bool:
        return self.stopped_on is None


class Person(StateModel):
    ref: str
    registered: bool = False
    """Enrollment's PersonRegistered was seen (birth date, sex, residence known)."""
    birth_date: date | None = None
    sex: Sex | None = None
    residence: Residence = Residence.URBAN
    deceased_on: date | None = None
    jobs: dict[str, date] = {}
    """Current employments: employer -> since."""
    separated: Separated | None = None
    credited: tuple[str, ...] = ()
    """Months of unemployment insurance credited (all regions), sorted, each once."""
    spell: Spell | None = None
    """The latest spell, active or stopped."""
    carried: int = 0
    """Unused months of stopped spells, for a later one."""
    benefit_months: tuple[str, ...] = ()
    """Every month benefit was paid, all spells: who is a recipient of a subsidy's period."""
    subsidies: dict[str, Decimal] = {}
    """Price subsidies paid: period -> amount."""
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
    releases: dict[str, Release] = {}
    """month -> the release in force."""
    triggered: dict[str, Triggered] = {}
    """period (month or quarter) -> the subsidy per person, once triggered."""
    paid: tuple[str, ...] = ()
    """Periods whose subsidy was paid out (a release can no longer change them)."""


class Directory(StateModel):
    """One shard of a region's recipients: whom the payment runs reach."""

    recipients: tuple[str, ...] = ()


PERSON = Entity("person", Person)
REGION = Entity("region", Region)
DIRECTORY = Entity("directory", Directory)
PAID = counter_set("paid")
"""Totals per region and period (`paid:<region>:<period>`), in fen: benefit_fen, medical_fen,
recipients; subsidy_fen, subsidy_recipients."""
PersonKey = StateKey[Person]
RegionKey = StateKey[Region]


def shard_of(person: str, shards: int = DIRECTORY_SHARDS) -> int:
    return zlib.crc32(person.encode()) % shards
