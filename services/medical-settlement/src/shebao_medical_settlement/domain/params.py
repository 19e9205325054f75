"""The parameters medical settlement reads, typed: one accessor per parameter of
`parameters.toml` (and of the province's shared data), the only place that knows their names.

Each is read for a pooling region (the insured's; for the annual budget, the hospital's code)
and the day the rule is about. Amounts and ratios come back as the Decimals the data writes,
unrounded: a rule rounds where it applies them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar, cast

from shebao_common.policy import Policy
from shebao_contracts.enrollment import Scheme
from shebao_contracts.medical import HospitalLevel
from shebao_contracts.welfare import AssistanceStatus

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class OutpatientPooling:
    """Outpatient pooling of a scheme: its ratio, up to a yearly limit, at the listed levels."""

    ratio: Decimal
    yearly_cap: Decimal
    levels: frozenset[HospitalLevel]


@dataclass(frozen=True, slots=True)
class SeriousIllness:
    """The yearly in-scope out-of-pocket above `threshold` is reimbursed again at `ratio`."""

    threshold: Decimal
    ratio: Decimal


@dataclass(frozen=True, slots=True)
class Assistance:
    """Medical assistance of a 低保 / 特困 status: what it pays of what remains, its yearly limit,
    and how it lowers the serious-illness threshold (a factor) and raises its ratio (a bonus)."""

    ratio: Decimal
    yearly_cap: Decimal
    serious_threshold_factor: Decimal
    serious_ratio_bonus: Decimal


def _decimal(value: Any) -> Decimal:
    return Decimal(str(value))


def _pooling(p: Mapping[str, Any]) -> OutpatientPooling:
    return OutpatientPooling(
        ratio=_decimal(p["ratio"]),
        yearly_cap=_decimal(p["yearly_cap"]),
        levels=frozenset(HospitalLevel(level) for level in p["levels"]),
    )


def _serious_illness(p: Mapping[str, Any]) -> SeriousIllness:
    return SeriousIllness(threshold=_decimal(p["threshold"]), ratio=_decimal(p["ratio"]))


def _assistance(p: Mapping[str, Any]) -> Assistance:
    return Assistance(
        ratio=_decimal(p["ratio"]),
        yearly_cap=_decimal(p["yearly_cap"]),
        serious_threshold_factor=_decimal(p["serious_threshold_factor"]),
        serious_ratio_bonus=_decimal(p["serious_ratio_bonus"]),
    )


class Params:
    """Typed reads of the service's policy parameters (`Policy.of("shebao_medical_settlement")`)."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self._parsed: dict[tuple[int, str, str], Any] = {}

    def _in_table(
        self, name: str, region: str, on: date, row: str, col: str, parse: Callable[[Any], T]
    ) -> T:
        """`parse` of the table's cell (its row when `col` is empty), once per value in force:
        the rules read a few per claim, and each value lives as long as the policy."""
        entry = self.policy.entry(name, region, on)
        key = (id(entry), row, col)
        hit = self._parsed.get(key)
        if hit is None:
            table = entry.value
            if not isinstance(table, Mapping):
                raise TypeError(f"{name} is not a table")
            hit = self._parsed[key] = parse(table[row][col] if col else table[row])
        return cast(T, hit)

    def arrears_grace_months(self, region: str, on: date) -> int:
        """Months after the first unpaid one during which claims are still covered."""
        return int(self.policy.get("medical.arrears_grace_months", region, on))

    def future_service_tolerance_days(self, region: str, on: date) -> int:
        """Days a claim's last day may be after the day it was received (MissingParameter before
        any value is in force)."""
        return int(self.policy.get("medical.future_service_tolerance_days", region, on))

    def class_b_self_pay_ratio(self, region: str, on: date) -> Decimal:
        return self.policy.decimal("medical.class_b_self_pay_ratio", region, on)

    def yearly_fund_cap(self, scheme: Scheme, region: str, on: date) -> Decimal:
        """The most the fund pays for one person in a year (封顶线)."""
        return self._in_table("medical.yearly_fund_cap", region, on, scheme.value, "", _decimal)

    def outpatient_pooling(self, scheme: Scheme, region: str, on: date) -> OutpatientPooling:
        return self._in_table("medical.outpatient_pooling", region, on, scheme.value, "", _pooling)

    def inpatient_deductible(
        self, scheme: Scheme, level: HospitalLevel, region: str, on: date
    ) -> Decimal:
        """The deductible per admission (起付线) at a hospital of `level`."""
        name = "medical.inpatient_deductible"
        return self._in_table(name, region, on, scheme.value, level.value, _decimal)

    def inpatient_ratio(
        self, scheme: Scheme, level: HospitalLevel, region: str, on: date
    ) -> Decimal:
        """The fund's share of an inpatient stay's eligible amount above the deductible."""
        name = "medical.inpatient_ratio"
        return self._in_table(name, region, on, scheme.value, level.value, _decimal)

    def serious_illness(self, scheme: Scheme, region: str, on: date) -> SeriousIllness:
        name = "medical.serious_illness"
        return self._in_table(name, region, on, scheme.value, "", _serious_illness)

    def assistance(self, status: AssistanceStatus, region: str, on: date) -> Assistance:
        return self._in_table("medical.assistance", region, on, status.value, "", _assistance)

    def hospital_annual_budget(self, hospital: str, on: date) -> Decimal:
        """A hospital's annual fund budget (总额预算): the data's region slot holds its code."""
        return self.policy.decimal("medical.hospital_annual_budget", hospital, on)
