"""The service's parameters, read through typed accessors for a region and a day.

Values live in `parameters.toml` beside this file (and the province's shared file); each has its
source. Only this module names parameters by their keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from shebao_common.policy import MissingParameter, Policy
from shebao_contracts.enrollment import Residence, Sex
from shebao_contracts.unemployment import Variant

BENEFIT = "unemployment.benefit_standard"
MINIMUM_LIVING = "assistance.minimum_living_standard"
MINIMUM_WAGE = "wage.minimum_monthly"
REGIONS = "unemployment.regions"


@dataclass(frozen=True)
class Durations:
    """Entitlement months by whole years of credited contributions."""

    min_months: int
    """Credited months needed at least (12)."""
    by_years: tuple[tuple[int, int], ...]
    """(from whole years, months), ascending: (1, 12), (5, 18), (10, 24)."""
    max_months: int
    """A spell's months at most, carried months included (24)."""

    def months_for(self, credited: int) -> int:
        years = credited // 12
        months = 0
        for from_years, m in self.by_years:
            if years >= from_years:
                months = m
        return months


@dataclass(frozen=True)
class MedicalContribution:
    base: Decimal
    rate: Decimal


@dataclass(frozen=True)
class SubsidyRule:
    variant: Variant
    cpi_trigger: Decimal
    """Percent: CPI year on year at or above it triggers the subsidy."""
    cpi_higher: Decimal | None = None
    """Jiangsu and quarterly: at or above it, the higher share."""
    divisor: int | None = None
    """Jiangsu and quarterly: the subsidy is the 低保 standard / divisor (12)..."""
    higher_divisor: int | None = None
    """... or / higher_divisor (8) at or above `cpi_higher`."""
    food_trigger: Decimal | None = None
    """National 2016: food CPI at or above it triggers too."""


@dataclass(frozen=True)
class Params:
    policy: Policy

    def benefit_standard(self, region: str, month_start: date) -> Decimal:
        """The monthly unemployment benefit in the region in force on the month's first day."""
        return self.policy.decimal(BENEFIT, region, month_start)

    def minimum_living_standard(self, region: str, on: date, residence: Residence) -> Decimal:
        """The monthly 低保 standard per person, urban or rural."""
        table = self.policy.table(MINIMUM_LIVING, region, on)
        return Decimal(str(table[residence.value]))

    def minimum_wage(self, region: str, on: date) -> Decimal:
        return self.policy.decimal(MINIMUM_WAGE, region, on)

    def durations(self, region: str, on: date) -> Durations:
        t = self.policy.table("unemployment.duration", region, on)
        return Durations(
            min_months=int(t["min_months"]),
            by_years=tuple(sorted((int(y), int(m)) for y, m in t["months_by_years"].items())),
            max_months=int(t["max_months"]),
        )

    def medical_contribution(self, region: str, month_start: date) -> MedicalContribution:
        """What the fund pays for a recipient's employee medical insurance: base and rate."""
        t = self.policy.table("unemployment.medical_contribution", region, month_start)
        return MedicalContribution(base=Decimal(str(t["base"])), rate=Decimal(str(t["rate"])))

    def retirement_age(self, region: str, on: date, sex: Sex) -> int:
        return int(self.policy.table("pension.retirement_age", region, on)[sex.value])

    def subsidy_rule(self, region: str, month_start: date) -> SubsidyRule:
        t = self.policy.table("price_subsidy.rule", region, month_start)

        def dec(key: str) -> Decimal | None:
            return Decimal(str(t[key])) if key in t else None

        trigger = dec("cpi_trigger")
        assert trigger is not None, "price_subsidy.rule needs cpi_trigger"
        return SubsidyRule(
            variant=Variant(t["variant"]),
            cpi_trigger=trigger,
            cpi_higher=dec("cpi_higher"),
            divisor=int(t["divisor"]) if "divisor" in t else None,
            higher_divisor=int(t["higher_divisor"]) if "higher_divisor" in t else None,
            food_trigger=dec("food_trigger"),
        )

    def future_tolerance_days(self, region: str, on: date) -> int:
        return int(self.policy.get("unemployment.future_event_tolerance_days", region, on))

    def statistics_bureau(self, region: str, on: date) -> str | None:
        """The bureau whose releases count for the region (its partner code)."""
        try:
            return str(self.policy.get("stats.bureau", region, on))
        except MissingParameter:
            return None

    def problems(self) -> list[str]:
        """Every benefit standard outside [the urban 低保 standard, the minimum wage] on a day
        either changes, in words: a parameter file with one must not start the service."""
        out: list[str] = []
        entries = self.policy.describe()
        watched = {BENEFIT, MINIMUM_LIVING, MINIMUM_WAGE}
        regions = sorted({e["region"] for e in entries if e["name"] == BENEFIT})
        days = sorted(
            {date.fromisoformat(e["effective_from"]) for e in entries if e["name"] in watched}
        )
        for region in regions:
            for day in days:
                try:
                    benefit = self.benefit_standard(region, day)
                except MissingParameter:
                    continue
                try:
                    floor = self.minimum_living_standard(region, day, Residence.URBAN)
                    ceiling = self.minimum_wage(region, day)
                except MissingParameter as e:
                    out.append(f"{BENEFIT} of {region} on {day} ({benefit}) cannot be checked: {e}")
                    continue
                if not floor <= benefit <= ceiling:
                    out.append(
                        f"{BENEFIT} of {region} on {day} is {benefit}, outside the 低保 standard "
                        f"{floor} and the minimum wage {ceiling} in force that day"
                    )
        return out


class InvalidParameters(ValueError):
    """The parameter files break a rule between parameters: the service refuses to start."""


def checked(params: Params) -> Params:
    problems = params.problems()
    if problems:
        raise InvalidParameters(
            "the unemployment parameters are inconsistent:\n  - " + "\n  - ".join(problems)
        )
    return params
