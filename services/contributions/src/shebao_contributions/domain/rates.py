"""The parameters in force for a region and a month, and the contribution arithmetic.

Rounding (one rule everywhere): every amount is the exact product of a base and a rate (or
rates) quantised ONCE to the fen, half up — per person, per insurance, per part. Totals are sums of
quantised amounts and are never rounded again. The base itself is the wage (already in fen)
clamped between the floor and the ceiling, which are quantised to the fen from the average wage.
So a medical account credit is `money(base * employee_rate) + money(base * employer_rate *
share)`, and an employer's total is the sum of its persons' quantised parts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from shebao_common.domain import StateModel
from shebao_contracts.enrollment import Insurance, Scheme
from shebao_contracts.trusted import trusted
from shebao_contracts.types import money

from . import periods
from .params import Params

ZERO = Decimal("0.00")


class Part(StateModel):
    """One insurance's contribution for one person and period, as assessed and as credited.

    For a person who pays alone (flexible worker, resident) `employer_part` is the part an
    employer would otherwise pay (for pension: the pooled part) and `employee_part` the rest;
    the person pays both. `subsidy` is what the government adds (resident pension).
    """

    insurance: Insurance
    scheme: Scheme
    base: Decimal
    employer_part: Decimal = ZERO
    employee_part: Decimal = ZERO
    subsidy: Decimal = ZERO
    into_account: Decimal = ZERO

    @property
    def payable(self) -> Decimal:
        return self.employer_part + self.employee_part

    @classmethod
    def of(
        cls,
        insurance: Insurance,
        scheme: Scheme,
        base: Decimal,
        *,
        employer_part: Decimal = ZERO,
        employee_part: Decimal = ZERO,
        subsidy: Decimal = ZERO,
        into_account: Decimal = ZERO,
    ) -> Part:
        """A part from amounts quantised here. Built without re-validation: an assessment makes
        five per person, and validating them again was most of the CPU of a period close."""
        return trusted(
            cls,
            insurance=insurance,
            scheme=scheme,
            base=base,
            employer_part=employer_part,
            employee_part=employee_part,
            subsidy=subsidy,
            into_account=into_account,
        )


def payable(parts: Iterable[Part]) -> Decimal:
    return sum((p.payable for p in parts), ZERO)


@dataclass(frozen=True)
class Rates:
    """Everything an assessment of one region and month needs, read once from the parameters."""

    region: str
    month: str
    average_wage: Decimal
    floor: Decimal
    ceiling: Decimal
    pension_employer: Decimal
    pension_employee: Decimal
    pension_account: Decimal
    flexible_pension: Decimal
    flexible_pension_account: Decimal
    medical_employer: Decimal
    medical_employee: Decimal
    medical_account_share: Decimal
    unemployment_employer: Decimal
    unemployment_employee: Decimal
    work_injury_by_class: Mapping[str, Decimal]
    maternity_employer: Decimal

    @classmethod
    def of(cls, params: Params, region: str, month: str) -> Rates:
        on = periods.first_day(month)
        average = params.average_monthly_wage(region, on)
        return cls(
            region=region,
            month=month,
            average_wage=average,
            floor=money(average * params.base_floor_ratio(region, on)),
            ceiling=money(average * params.base_ceiling_ratio(region, on)),
            pension_employer=params.pension_employer_rate(region, on),
            pension_employee=params.pension_employee_rate(region, on),
            pension_account=params.pension_account_rate(region, on),
            flexible_pension=params.flexible_pension_rate(region, on),
            flexible_pension_account=params.flexible_pension_account_rate(region, on),
            medical_employer=params.medical_employer_rate(region, on),
            medical_employee=params.medical_employee_rate(region, on),
            medical_account_share=params.medical_account_share_of_employer(region, on),
            unemployment_employer=params.unemployment_employer_rate(region, on),
            unemployment_employee=params.unemployment_employee_rate(region, on),
            work_injury_by_class=params.work_injury_rate_by_class(region, on),
            maternity_employer=params.maternity_employer_rate(region, on),
        )

    # bases -------------------------------------------------------------------------------------

    def base(self, wage: Decimal) -> Decimal:
        """The contribution base: the wage clamped to [60%, 300%] of the average wage."""
        return min(max(money(wage), self.floor), self.ceiling)

    # employees ---------------------------------------------------------------------------------

    def employee_parts(self, base: Decimal, risk_class: int) -> tuple[Part, ...]:
        """The five employee insurances of one person on one base."""
        return (
            Part.of(
                insurance=Insurance.PENSION,
                scheme=Scheme.EMPLOYEE_PENSION,
                base=base,
                employer_part=money(base * self.pension_employer),
                employee_part=money(base * self.pension_employee),
                into_account=money(base * self.pension_account),
            ),
            self._medical(base),
            self._unemployment(base),
            Part.of(
                insurance=Insurance.WORK_INJURY,
                scheme=Scheme.WORK_INJURY,
                base=base,
                employer_part=money(base * self.work_injury_by_class[str(risk_class)]),
            ),
            self._maternity(base),
        )

    def _medical(self, base: Decimal) -> Part:
        return Part.of(
            insurance=Insurance.MEDICAL,
            scheme=Scheme.EMPLOYEE_MEDICAL,
            base=base,
            employer_part=money(base * self.medical_employer),
            employee_part=money(base * self.medical_employee),
            into_account=money(base * self.medical_employee)
            + money(base * self.medical_employer * self.medical_account_share),
        )

    def _unemployment(self, base: Decimal) -> Part:
        return Part.of(
            insurance=Insurance.UNEMPLOYMENT,
            scheme=Scheme.UNEMPLOYMENT,
            base=base,
            employer_part=money(base * self.unemployment_employer),
            employee_part=money(base * self.unemployment_employee),
        )

    def _maternity(self, base: Decimal) -> Part:
        return Part.of(
            insurance=Insurance.MATERNITY,
            scheme=Scheme.MATERNITY,
            base=base,
            employer_part=money(base * self.maternity_employer),
        )

    # flexible workers --------------------------------------------------------------------------

    def flexible_pension_part(self, base: Decimal) -> Part:
        """20% of the base, 8% of it into the account; the rest is the pooled part."""
        return Part.of(
            insurance=Insurance.PENSION,
            scheme=Scheme.EMPLOYEE_PENSION,
            base=base,
            employer_part=money(base * (self.flexible_pension - self.flexible_pension_account)),
            employee_part=money(base * self.flexible_pension_account),
            into_account=money(base * self.flexible_pension_account),
        )

    def flexible_parts(self, base: Decimal, schemes: Iterable[Scheme]) -> tuple[Part, ...]:
        """A flexible worker pays alone: pension at the flexible rate, the other insurances he
        joined at the employee schemes' employer and employee rates together."""
        out: list[Part] = []
        for scheme in sorted(set(schemes), key=_SCHEME_ORDER.index):
            if scheme == Scheme.EMPLOYEE_PENSION:
                out.append(self.flexible_pension_part(base))
            elif scheme == Scheme.EMPLOYEE_MEDICAL:
                out.append(self._medical(base))
            elif scheme == Scheme.UNEMPLOYMENT:
                out.append(self._unemployment(base))
            elif scheme == Scheme.MATERNITY:
                out.append(self._maternity(base))
        return tuple(out)


_SCHEME_ORDER = list(Scheme)


# ---------------------------------------------------------------------------------------------
# Residents (yearly)


@dataclass(frozen=True)
class ResidentRates:
    year: int
    tiers: tuple[int, ...]
    subsidy_by_tier: Mapping[int, Decimal]
    incentive_after_years: int
    incentive_per_year: Decimal
    medical_premium: Decimal | None
    land_expropriated_tier: int | None = None
    paid_on_behalf: Decimal | None = None
    """What the region pays into a land-expropriated farmer's account for the year."""

    @classmethod
    def of(cls, params: Params, region: str, year: int) -> ResidentRates:
        on = date(year, 1, 1)
        incentive = params.resident_pension_long_contribution_incentive(region, on)
        premium = params.resident_medical_yearly_premium(region, on)
        tier = params.land_expropriated_own_tier(region, on)
        on_behalf = params.land_expropriated_yearly_paid_on_behalf(region, on)
        if tier is None or on_behalf is None:  # the scheme is both values or none
            tier, on_behalf = None, None
        return cls(
            year=year,
            tiers=params.resident_pension_tiers(region, on),
            subsidy_by_tier=params.resident_pension_subsidy_by_tier(region, on),
            incentive_after_years=incentive.after_years,
            incentive_per_year=incentive.per_year,
            medical_premium=premium,
            land_expropriated_tier=tier,
            paid_on_behalf=on_behalf,
        )

    def subsidy(self, tier: int) -> Decimal:
        """The subsidy of the highest subsidy step not above the tier (30 from 100, 60 from 500)."""
        steps = [t for t in self.subsidy_by_tier if t <= tier]
        return money(self.subsidy_by_tier[max(steps)]) if steps else ZERO

    def incentive(self, years_before: int) -> Decimal:
        """The longer-contribution incentive for a year that is the (years_before + 1)-th."""
        return (
            money(self.incentive_per_year) if years_before >= self.incentive_after_years else ZERO
        )

    def pension_part(self, tier: int, years_before: int) -> Part:
        subsidy = self.subsidy(tier) + self.incentive(years_before)
        amount = money(tier)
        return Part.of(
            insurance=Insurance.PENSION,
            scheme=Scheme.RESIDENT_PENSION,
            base=amount,
            employee_part=amount,
            subsidy=subsidy,
            into_account=amount + subsidy,
        )

    def land_expropriated_part(self, tier: int, years_before: int) -> Part | None:
        """His own tier as a resident pays it, and what the region pays on his behalf, into
        the account with the resident subsidy (credited on payment)."""
        if self.paid_on_behalf is None:
            return None
        own = self.pension_part(tier, years_before)
        on_behalf = money(self.paid_on_behalf)
        return Part.of(
            insurance=Insurance.PENSION,
            scheme=Scheme.LAND_EXPROPRIATED_PENSION,
            base=own.base,
            employee_part=own.employee_part,
            subsidy=own.subsidy + on_behalf,
            into_account=own.into_account + on_behalf,
        )

    def medical_part(self) -> Part | None:
        if self.medical_premium is None:
            return None
        premium = money(self.medical_premium)
        return Part.of(
            insurance=Insurance.MEDICAL,
            scheme=Scheme.RESIDENT_MEDICAL,
            base=premium,
            employee_part=premium,
        )


# ---------------------------------------------------------------------------------------------
# Other parameters


def bureau(params: Params, region: str, month: str) -> str | None:
    """The partner code of the tax bureau collecting for the region that month."""
    return params.tax_bureau(region, periods.first_day(month))


def interruption_months(params: Params, region: str, month: str) -> int:
    return params.interruption_months(region, periods.first_day(month))


@dataclass(frozen=True)
class TransferRates:
    pooled_share: Decimal
    bases_since: str

    @classmethod
    def of(cls, params: Params, region: str, on: date) -> TransferRates:
        return cls(
            pooled_share=params.transfer_pooled_share(region, on),
            bases_since=params.transfer_bases_since(region, on),
        )
