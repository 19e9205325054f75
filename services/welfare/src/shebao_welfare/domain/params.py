"""The service's parameters, read through typed accessors for a region and a day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from shebao_common.policy import Policy
from shebao_contracts.welfare import Residence, SelfCare


@dataclass(frozen=True)
class TemporaryLimits:
    cap_months: Decimal
    """A grant is at most this many months of the household's 低保 standard."""
    per_year: int
    """Grants a household may receive in a calendar year."""


@dataclass(frozen=True)
class Params:
    policy: Policy

    def standard(self, region: str, on: date, residence: Residence) -> Decimal:
        """The monthly 低保 standard per person, urban or rural (shared with the price subsidy)."""
        table = self.policy.table("assistance.minimum_living_standard", region, on)
        return Decimal(str(table[residence.value]))

    def support_ratio(self, region: str, on: date) -> Decimal:
        """特困 basic support as a multiple of the 低保 standard (at least 1.3)."""
        return self.policy.decimal("assistance.extreme_poverty_ratio", region, on)

    def care(self, region: str, on: date, self_care: SelfCare) -> Decimal:
        """The monthly care part of 特困 support, by self-care ability."""
        return Decimal(
            str(self.policy.table("assistance.care_standard", region, on)[self_care.value])
        )

    def temporary(self, region: str, on: date) -> TemporaryLimits:
        t = self.policy.table("assistance.temporary", region, on)
        return TemporaryLimits(
            cap_months=Decimal(str(t["cap_months"])), per_year=int(t["per_year"])
        )

    def lowest_pension_tier(self, region: str, on: date) -> int:
        """The lowest resident-pension tier: what the government pays for a recipient."""
        return min(int(t) for t in self.policy.get("resident_pension.tiers", region, on))

    def future_tolerance_days(self, region: str, on: date) -> int:
        return int(self.policy.get("assistance.future_event_tolerance_days", region, on))
