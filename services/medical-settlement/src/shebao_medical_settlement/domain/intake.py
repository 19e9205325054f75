"""A hospital's message accepted for adjudication: checked, its patient pseudonymised, and
re-keyed by person onto the commands topic, so one person's claims are settled in order."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from shebao_common import domain as common
from shebao_common.domain import Effects, Refused
from shebao_common.policy import PROVINCE
from shebao_contracts import medical as m
from shebao_contracts.medical import (
    ClaimCancellation,
    ClaimRejection,
    ClaimSubmitted,
    VisitType,
)
from shebao_contracts.types import money

from .env import Env
from .model import ClaimHolder, Hospital
from .params import Params

R = ClaimRejection


def accept_claim(
    claim: ClaimSubmitted,
    topic_code: str,
    hospital: Hospital | None,
    holder: ClaimHolder | None,
    received: datetime,
    env: Env,
) -> tuple[ClaimHolder | None, Effects]:
    """The claim, checked (`check_claim`), on to adjudication as the patient's ClaimReceived,
    and the claim id's holder if it had none (None: held already, by this patient)."""
    check_claim(claim, topic_code, hospital, received, env.params)
    person = env.refs.person_ref(claim.patient_citizen_id)
    if holder is not None and holder.person != person:
        # Each patient's claims are settled where that patient's state is (keyed by person):
        # the id of another patient's claim would be met there by no record at all, and the
        # hospital would hold two answers for one id. Settled, refused or cancelled, an id is
        # its first patient's.
        raise Refused(
            R.DUPLICATE_CLAIM_DIFFERENT_BODY,
            f"claim {claim.claim_id} was submitted for another patient; a claim id names one "
            "patient's visit: send this one under a new id",
        )
    forward = m.ClaimReceived(
        hospital=topic_code,
        claim_id=claim.claim_id,
        person=person,
        visit_type=claim.visit_type,
        admission_date=claim.admission_date,
        discharge_date=claim.discharge_date,
        diagnosis_code=claim.diagnosis_code,
        lines=claim.lines,
        total=claim.total,
    )
    return (None if holder else held(person)), Effects().emit(m.COMMANDS, person, forward)


def held(person: str) -> ClaimHolder:
    """The holder of a claim id as its first forwarded claim makes it: deciding and folding the
    log of record alike."""
    return ClaimHolder(person=person)


def accept_cancellation(cancellation: ClaimCancellation, topic_code: str, env: Env) -> Effects:
    """The cancellation, checked, on to adjudication as the patient's CancellationReceived."""
    check_cancellation(cancellation, topic_code)
    person = env.refs.person_ref(cancellation.patient_citizen_id)
    return Effects().emit(
        m.COMMANDS,
        person,
        m.CancellationReceived(hospital=topic_code, claim_id=cancellation.claim_id, person=person),
    )


def check_claim(
    claim: ClaimSubmitted,
    topic_code: str,
    hospital: Hospital | None,
    received: datetime,
    params: Params,
) -> None:
    """Returns when the claim may go to adjudication, raises `Refused` otherwise; `received` is
    the moment the platform got it (the record's time), `params` give the tolerance for service
    dates after it."""
    if claim.hospital != topic_code:
        raise Refused(
            R.HOSPITAL_MISMATCH,
            f"claim names hospital {claim.hospital} but was sent on the topic of {topic_code}",
        )
    if claim.visit_type == VisitType.INPATIENT:
        if claim.discharge_date is None or claim.discharge_date < claim.admission_date:
            raise Refused(R.INVALID_DATES, "an inpatient stay needs discharge on/after admission")
    elif claim.discharge_date not in (None, claim.admission_date):
        raise Refused(R.INVALID_DATES, "an outpatient visit has no discharge on another day")
    _not_in_future(claim, hospital, received, params)
    if hospital is None or not hospital.designated_on(claim.admission_date):
        raise Refused(
            R.HOSPITAL_NOT_DESIGNATED, f"{topic_code} is not designated on {claim.admission_date}"
        )
    for n, line in enumerate(claim.lines, 1):
        expected = money(line.quantity * line.unit_price)
        if line.amount != expected:
            raise Refused(
                R.TOTALS_DO_NOT_ADD_UP,
                f"line {n} ({line.item_code}): {line.quantity} x {line.unit_price} = "
                f"{expected}, not {line.amount}",
            )
    lines_total = sum((line.amount for line in claim.lines), Decimal("0.00"))
    if lines_total != claim.total:
        raise Refused(
            R.TOTALS_DO_NOT_ADD_UP, f"lines add up to {lines_total}, the total says {claim.total}"
        )


def _not_in_future(
    claim: ClaimSubmitted, hospital: Hospital | None, received: datetime, params: Params
) -> None:
    """A claim may not describe the future: its last day (discharge, or the visit) must not be
    after the day it was received, give or take the tolerance in force that day."""
    region = hospital.region if hospital is not None else PROVINCE
    common.not_in_future(
        claim.discharge_date or claim.admission_date,
        received,
        lambda today: params.future_service_tolerance_days(region, today),
        R.SERVICE_DATE_IN_FUTURE,
        "discharge" if claim.visit_type == VisitType.INPATIENT else "visit",
        "claim",
    )


def check_cancellation(cancellation: ClaimCancellation, topic_code: str) -> None:
    if cancellation.hospital != topic_code:
        raise Refused(
            R.HOSPITAL_MISMATCH,
            f"cancellation names {cancellation.hospital} but was sent on the topic of {topic_code}",
        )
