"""Checks on a hospital's message before it is accepted for adjudication (pure)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from shebao_common.policy import PROVINCE, MissingParameter, Policy
from shebao_contracts.medical import (
    ClaimCancellation,
    ClaimRejection,
    ClaimSubmitted,
    VisitType,
)
from shebao_contracts.types import money

from .adjudication import Refused
from .calendar import local_day
from .model import Hospital

R = ClaimRejection


def check_claim(
    claim: ClaimSubmitted,
    topic_code: str,
    hospital: Hospital | None,
    received: datetime,
    policy: Policy,
) -> Refused | None:
    """None when the claim may go to adjudication; `received` is the moment the platform got it
    (the record's time), the `policy` gives the tolerance for service dates after it."""
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
    future = _in_future(claim, hospital, received, policy)
    if future is not None:
        return future
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


def _in_future(
    claim: ClaimSubmitted, hospital: Hospital | None, received: datetime, policy: Policy
) -> Refused | None:
    """A claim may not describe the future: its last day (discharge, or the visit) must not be
    after the day it was received, give or take the tolerance in force that day."""
    today = local_day(received)
    region = hospital.region if hospital is not None else PROVINCE
    try:
        tolerance = int(policy.get("medical.future_service_tolerance_days", region, today))
    except MissingParameter:  # a ce_time before any value (1970): no tolerance, not a crash
        tolerance = 0
    last = claim.discharge_date or claim.admission_date
    if last > today + timedelta(days=tolerance):
        what = "discharge" if claim.visit_type == VisitType.INPATIENT else "visit"
        return Refused(
            R.SERVICE_DATE_IN_FUTURE,
            f"{what} on {last} is after {today}, the day the claim was sent (ce_time)"
            + (f", by more than {tolerance} days" if tolerance else ""),
        )
    return None


def check_cancellation(cancellation: ClaimCancellation, topic_code: str) -> Refused | None:
    if cancellation.hospital != topic_code:
        return Refused(
            R.HOSPITAL_MISMATCH,
            f"cancellation names {cancellation.hospital} but was sent on the topic of {topic_code}",
        )
    return None
