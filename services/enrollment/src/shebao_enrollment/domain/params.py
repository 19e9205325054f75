"""The parameters enrollment reads, each through one typed accessor.

Values come from `parameters.toml` beside this module and the province's shared file
(`Policy.of("shebao_enrollment")`); each is read for a region and the date a message is about.
A region's own value overrides the province's; none in force raises `MissingParameter`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from shebao_common.policy import Policy
from shebao_contracts.enrollment import Insurance, Sex


@dataclass(frozen=True, slots=True)
class RetirementAge:
    male: int
    female: int

    def of(self, sex: Sex) -> int:
        return self.male if sex == Sex.MALE else self.female


@dataclass(frozen=True, slots=True)
class AgeRange:
    """Ages from `lowest` to `highest`, both included."""

    lowest: int
    highest: int

    def __contains__(self, age: int) -> bool:
        return self.lowest <= age <= self.highest


@dataclass(frozen=True, slots=True)
class Population:
    """A region's insurable persons per insurance: the denominator of its coverage rate."""

    pension: int = 0
    medical: int = 0
    unemployment: int = 0
    work_injury: int = 0
    maternity: int = 0

    def of(self, insurance: Insurance) -> int:
        count: int = getattr(self, insurance.value)
        return count


class Params:
    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    def min_working_age(self, region: str, on: date) -> int:
        """`person.min_working_age`: the youngest age at which a person may work or be insured."""
        return int(self.policy.get("person.min_working_age", region, on))

    def retirement_age(self, region: str, on: date) -> RetirementAge:
        """`pension.retirement_age`: by sex; from it on, no employee scheme is joined."""
        ages = self.policy.table("pension.retirement_age", region, on)
        return RetirementAge(male=int(ages["male"]), female=int(ages["female"]))

    def resident_pension_contribution_ages(self, region: str, on: date) -> AgeRange:
        """`resident_pension.contribution_ages`: the ages at which a resident pays in."""
        ages = self.policy.table("resident_pension.contribution_ages", region, on)
        return AgeRange(lowest=int(ages["min"]), highest=int(ages["max"]))

    def resident_pension_tiers(self, region: str, on: date) -> tuple[int, ...]:
        """`resident_pension.tiers` (shared): the yearly amounts a resident may choose, in yuan."""
        return tuple(int(t) for t in self.policy.get("resident_pension.tiers", region, on))

    def flexible_unemployment_allowed(self, region: str, on: date) -> bool:
        """`flexible.unemployment_allowed`: whether the region admits flexible workers to
        unemployment insurance."""
        return bool(self.policy.get("flexible.unemployment_allowed", region, on))

    def future_event_tolerance_days(self, region: str, on: date) -> int:
        """`enrollment.future_event_tolerance_days`: how many days after the day a command is
        sent an event it dates may fall."""
        return int(self.policy.get("enrollment.future_event_tolerance_days", region, on))

    def coverage_target_rate(self, region: str, on: date) -> Decimal:
        """`coverage.target_rate`: the share of the insurable population to be insured."""
        return self.policy.decimal("coverage.target_rate", region, on)

    def coverage_population(self, region: str, on: date) -> Population:
        """`coverage.population`: the insurable persons per insurance (missing ones count 0)."""
        table = self.policy.table("coverage.population", region, on)
        return Population(**{i.value: int(table.get(i.value, 0)) for i in Insurance})
