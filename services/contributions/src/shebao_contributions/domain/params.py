"""The parameters the contribution rules read, typed: one accessor per parameter.

Each accessor answers for a region on a date: the value in force that day, the region's own
before the province's (see `shebao_common.policy`). The values, each with its source, are in
`parameters.toml` beside this module and in the province's shared file; their names are written
here and nowhere else. A rule chooses the date (the first day of the month or year it assesses)
and reads `env.params`, never the policy by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from shebao_common.policy import MissingParameter, Policy


@dataclass(frozen=True, slots=True)
class Incentive:
    """The "contribute longer, receive more" incentive: `per_year` more subsidy into the resident
    pension account for each contribution year beyond `after_years`."""

    after_years: int
    per_year: Decimal


class Params:
    """The contribution parameters of `policy` (`Policy.of("shebao_contributions")`)."""

    def __init__(self, policy: Policy) -> None:
        self._policy = policy

    def _value(self, name: str, region: str, on: date) -> Any:
        return self._policy.get(name, region, on)

    def _decimal(self, name: str, region: str, on: date) -> Decimal:
        return self._policy.decimal(name, region, on)

    def _in_force(self, name: str, region: str, on: date) -> Any | None:
        """The value in force, or None where none is (a parameter that may have no value)."""
        try:
            return self._policy.get(name, region, on)
        except MissingParameter:
            return None

    # contribution base -------------------------------------------------------------------------

    def average_monthly_wage(self, region: str, on: date) -> Decimal:
        """The regional average monthly wage the base is clamped against."""
        return self._decimal("wage.average_monthly", region, on)

    def base_floor_ratio(self, region: str, on: date) -> Decimal:
        """The lowest base, as a share of the average wage (0.60)."""
        return self._decimal("contributions.base_floor_ratio", region, on)

    def base_ceiling_ratio(self, region: str, on: date) -> Decimal:
        """The highest base, as a share of the average wage (3.00)."""
        return self._decimal("contributions.base_ceiling_ratio", region, on)

    # employee insurances -----------------------------------------------------------------------

    def pension_employer_rate(self, region: str, on: date) -> Decimal:
        return self._decimal("pension.employer_rate", region, on)

    def pension_employee_rate(self, region: str, on: date) -> Decimal:
        return self._decimal("pension.employee_rate", region, on)

    def pension_account_rate(self, region: str, on: date) -> Decimal:
        """The share of the base credited to the personal pension account."""
        return self._decimal("pension.account_rate", region, on)

    def flexible_pension_rate(self, region: str, on: date) -> Decimal:
        """What a flexible worker pays for pension, alone, as a share of the base."""
        return self._decimal("flexible.pension_rate", region, on)

    def flexible_pension_account_rate(self, region: str, on: date) -> Decimal:
        """The part of the flexible worker's rate credited to his account."""
        return self._decimal("flexible.pension_account_rate", region, on)

    def medical_employer_rate(self, region: str, on: date) -> Decimal:
        return self._decimal("medical.employer_rate", region, on)

    def medical_employee_rate(self, region: str, on: date) -> Decimal:
        return self._decimal("medical.employee_rate", region, on)

    def medical_account_share_of_employer(self, region: str, on: date) -> Decimal:
        """The share of the employer's medical contribution credited to the personal account."""
        return self._decimal("medical.account_share_of_employer", region, on)

    def unemployment_employer_rate(self, region: str, on: date) -> Decimal:
        return self._decimal("unemployment.employer_rate", region, on)

    def unemployment_employee_rate(self, region: str, on: date) -> Decimal:
        return self._decimal("unemployment.employee_rate", region, on)

    def work_injury_rate_by_class(self, region: str, on: date) -> dict[str, Decimal]:
        """The employer's work-injury rate by industry risk class, keyed as written ("1"-"8")."""
        table = self._policy.table("work_injury.rate_by_class", region, on)
        return {k: Decimal(str(v)) for k, v in table.items()}

    def maternity_employer_rate(self, region: str, on: date) -> Decimal:
        return self._decimal("maternity.employer_rate", region, on)

    # residents and land-expropriated farmers (yearly) ------------------------------------------

    def resident_pension_tiers(self, region: str, on: date) -> tuple[int, ...]:
        """The yearly amounts a resident may choose to pay for pension."""
        return tuple(int(t) for t in self._value("resident_pension.tiers", region, on))

    def resident_pension_subsidy_by_tier(self, region: str, on: date) -> dict[int, Decimal]:
        """The subsidy from each tier up (the highest step not above the chosen tier applies)."""
        table = self._policy.table("resident_pension.subsidy_by_tier", region, on)
        return {int(k): Decimal(str(v)) for k, v in table.items()}

    def resident_pension_long_contribution_incentive(self, region: str, on: date) -> Incentive:
        table = self._policy.table("resident_pension.long_contribution_incentive", region, on)
        return Incentive(
            after_years=int(table["after_years"]), per_year=Decimal(str(table["per_year"]))
        )

    def resident_medical_yearly_premium(self, region: str, on: date) -> Decimal | None:
        """The resident medical premium of the year; None where none is in force."""
        value = self._in_force("resident_medical.yearly_premium", region, on)
        return None if value is None else Decimal(str(value))

    def land_expropriated_own_tier(self, region: str, on: date) -> int | None:
        """The tier a land-expropriated farmer pays himself; None where the scheme has none."""
        value = self._in_force("land_expropriated.own_tier", region, on)
        return None if value is None else int(value)

    def land_expropriated_yearly_paid_on_behalf(self, region: str, on: date) -> Decimal | None:
        """What the region pays into the farmer's account each year; None where it pays none."""
        value = self._in_force("land_expropriated.yearly_paid_on_behalf", region, on)
        return None if value is None else Decimal(str(value))

    # interruption, transfer, dates, collection ------------------------------------------------

    def interruption_months(self, region: str, on: date) -> int:
        """Consecutive uncredited months after which an enrolled person is interrupted."""
        return int(self._value("contributions.interruption_months", region, on))

    def transfer_pooled_share(self, region: str, on: date) -> Decimal:
        """The pooled-fund share of the contribution bases that moves with a transfer."""
        return self._decimal("transfer.pooled_share", region, on)

    def transfer_bases_since(self, region: str, on: date) -> str:
        """The first month (`YYYY-MM`) whose base counts for the pooled-fund share."""
        return str(self._value("transfer.bases_since", region, on))

    def future_period_tolerance_days(self, region: str, on: date) -> int | None:
        """Days a record may describe ahead of its own day; None before any value is in force."""
        value = self._in_force("contributions.future_period_tolerance_days", region, on)
        return None if value is None else int(value)

    def tax_bureau(self, region: str, on: date) -> str | None:
        """The partner code of the tax bureau collecting for the region; None where none does."""
        value = self._in_force("tax.bureau", region, on)
        return None if value is None else str(value)
