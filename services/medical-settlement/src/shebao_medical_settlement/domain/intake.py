"""Checks on a hospital's message before it is accepted for adjudication (pure)."""

from __future__ import annotations

from decimal import Decimal

from shebao_contracts.medical import (
    ClaimCancellation,
    ClaimRejection,
    ClaimSubmitted,
    VisitType,
)
from shebao_contracts.types import money

from .adjudication import Refused
from .model import Hospital

R = ClaimRejection


def check_claim(
    claim: ClaimSubmitted, topic_code: str, hospital: Hospital | None
) -> Refused | None:
    if claim.hospital != topic_code:
        return Refused(
            R.HOSPITAL_MISMATCH,
            f"claim names hospital {claim.hospital} but was sent on the topic of {topic_code}",
        )
    if claim.visit_type == VisitType.INPATIENT:
        if claim.discharge_date is None or claim.discharge_date < claim.admission_date:
            return Refused(R.INVALID_DATES, "an inpatient stay needs discharge on/after admission")
    elif claim.discharge_date not in (None, claim.admission_date):
        return Refused(R.INVALID_DATES, "an outpatient visit has no discharge on another day")
    if hospital is None or not hospital.designated_on(claim.admission_date):
        return Refused(
            R.HOSPITAL_NOT_DESIGNATED, f"{topic_code} is not designated on {claim.admission_date}"
        )
    for n, line in enumerate(claim.lines, 1):
        expected = money(line.quantity * line.unit_price)
        if line.amount != expected:
            return Refused(
                R.TOTALS_DO_NOT_ADD_UP,
                f"line {n} ({line.item_code}): {line.quantity} x {line.unit_price} = "
                f"{expected}, not {line.amount}",
            )
    lines_total = sum((line.amount for line in claim.lines), Decimal("0.00"))
    if lines_total != claim.total:
        return Refused(
            R.TOTALS_DO_NOT_ADD_UP, f"lines add up to {lines_total}, the total says {claim.total}"
        )
    return None


def check_cancellation(cancellation: ClaimCancellation, topic_code: str) -> Refused | None:
    if cancellation.hospital != topic_code:
        return Refused(
            R.HOSPITAL_MISMATCH,
            f"cancellation names {cancellation.hospital} but was sent on the topic of {topic_code}",
        )
    return None
