"""The service's state: cases (a 低保 household, or a 特困 person), persons, regions, directory.

Keys and who writes them:
  case:<id>                  Case       commands (decisions), work (payments, subsidies)
  person:<ref>               Person     commands (membership), unemployment events, work
  region:<code>              Region     commands (closes)
  directory:<region>:<shard> Directory  work (who a region's payment runs reach)
  paid:<region>:<period>     counters   work (what was paid, for the read side)
"""

from __future__ import annotations

import zlib
from decimal import Decimal

from shebao_common.domain import Entity, StateKey, StateModel, counter_set
from shebao_contracts.welfare import (
    SUPPORT_CASE_PREFIX,
    AssistanceStatus,
    Residence,
    SelfCare,
    StopReason,
)

DIRECTORY_SHARDS = 16


class Step(StateModel):
    """What a case pays from a month on: the household's members and income as decided."""

    from_month: str
    members: tuple[str, ...]
    income: Decimal
    """The household's total monthly income (低保); 0 for a 特困 person."""


class Case(StateModel):
    id: str
    status: AssistanceStatus
    region: str
    residence: Residence
    self_care: SelfCare | None = None
    """特困 only: the care part of the support."""
    steps: tuple[Step, ...] = ()
    active: bool = True
    last_month: str | None = None
    """The last month paid, once stopped."""
    stop_reason: StopReason | None = None
    paid: tuple[str, ...] = ()
    grants: dict[str, int] = {}
    """Temporary assistance: year -> grants paid."""
    grant_ids: tuple[str, ...] = ()
    pension: tuple[str, ...] = ()
    """`<person>:<year>`: the years the government paid a member's resident-pension tier."""

    def step(self, month: str) -> Step | None:
        """The decision in force in the month: the latest from that month or before."""
        found = [s for s in self.steps if s.from_month <= month]
        return found[-1] if found else None

    def pays(self, month: str) -> bool:
        first = self.steps[0].from_month if self.steps else None
        return (
            first is not None
            and first <= month
            and (self.last_month is None or month <= self.last_month)
        )

    @property
    def members(self) -> tuple[str, ...]:
        return self.steps[-1].members if self.steps else ()


class Person(StateModel):
    ref: str
    case: str | None = None
    """The active case the person belongs to, or is held for (`held`): whether it counts them
    is the case's to say (its members)."""
    held: tuple[str, ...] = ()
    """Partitioned: the command ids of the household's claims holding the person for `case`
    whose decision has not come back yet (each ends with a `MemberSet` naming it)."""
    subsidies: dict[str, Decimal] = {}
    """Price subsidies paid: period -> amount."""


class Subsidy(StateModel):
    """A triggered price subsidy per person, by residence."""

    urban: Decimal
    rural: Decimal


class Region(StateModel):
    closed: tuple[str, ...] = ()
    triggered: dict[str, Subsidy] = {}
    """Price subsidies triggered, by period: a case paid a month of one after the trigger
    (a late payment run) pays its members then."""


class Directory(StateModel):
    cases: tuple[str, ...] = ()


SUPPORT = SUPPORT_CASE_PREFIX
"""No household's id begins so (the contract refuses it: household_id_reserved)."""


def support_case(person: str) -> str:
    """The case id of a 特困 person's support."""
    return f"{SUPPORT}{person}"


def case_owner(case: str) -> str:
    """The record key a case is kept with, partitioned (`Entity.owner`): a household's id, a
    特困 person's reference (the support is kept with the person)."""
    return case.removeprefix(SUPPORT)


# partitioned (`Entity.owner`): a household with its id, a support and a person with the person
# reference, a region with its code, a directory shard with "region:shard", each the record key
# its own commands and work come keyed by
CASE = Entity("case", Case, owner=case_owner)
PERSON = Entity("person", Person, owner=lambda ref: ref)
REGION = Entity("region", Region, owner=lambda code: code)
DIRECTORY = Entity("directory", Directory, owner=lambda shard: shard)
PAID = counter_set("paid")
"""Totals per region and period, in fen: allowance_fen, households; support_fen, supported;
temporary_fen, grants; subsidy_fen, subsidy_recipients."""
CaseKey = StateKey[Case]
PersonKey = StateKey[Person]


def shard_of(case: str, shards: int = DIRECTORY_SHARDS) -> int:
    return zlib.crc32(case.encode()) % shards
