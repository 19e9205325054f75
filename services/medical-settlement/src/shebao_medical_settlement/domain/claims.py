"""A hospital's claim through its life: settled once, refused with a record of why, cancelled once.

- A claim id already settled, sent again with the same body for the same patient (a resend),
  is answered again as it was, and nothing is paid twice; with a different body it is refused
  (`duplicate_claim_different_body`): the hospital cancels it first.
- A refused claim's record remembers the refusal; a settled claim's record stays as it is.
- A cancellation reverses exactly what its settlement added to the year's totals; an unknown,
  refused or already cancelled claim cannot be cancelled.
- A person's yearly totals are kept for `YEARS_KEPT` calendar years.
Each answer counts in its hospital's month (`statements.tally`), that of the answer's record time.
"""

from __future__ import annotations

from datetime import datetime

from shebao_common.domain import Effects, Refused
from shebao_contracts import medical as m
from shebao_contracts.trusted import trusted

from . import statements
from .adjudication import add, adjudicate, claim_year
from .answers import answer_topic, settled_result
from .calendar import month_of
from .model import Accumulators, ClaimRecord, Coverage, Hospital
from .params import Params

YEARS_KEPT = 3  # calendar years of totals kept per person: enough for late cancellations
R = m.ClaimRejection


def settle(
    claim: m.ClaimReceived,
    fingerprint: str,
    at: datetime,
    record: ClaimRecord | None,
    hospital: Hospital | None,
    coverage: Coverage | None,
    accumulators: Accumulators | None,
    params: Params,
) -> tuple[ClaimRecord | None, Accumulators | None, Effects]:
    """The claim's settled record and the person's new yearly totals (both None for a resend,
    which changes nothing), or `Refused`. `fingerprint` tells a resend of the same body; `at`
    is the record's time, whose month the settlement is reconciled in."""
    if record is not None and record.status == "settled":
        if record.fingerprint == fingerprint and record.person == claim.person:
            # the same claim again: the same answer again, and nothing paid twice
            answer = settled_result(claim.hospital, claim.claim_id, record)
            return None, None, Effects().emit(answer_topic(claim.hospital), claim.claim_id, answer)
        raise Refused(
            R.DUPLICATE_CLAIM_DIFFERENT_BODY,
            f"claim {claim.claim_id} was settled with a different body; "
            "cancel it before resubmitting",
        )
    if hospital is None:
        raise Refused(R.HOSPITAL_NOT_DESIGNATED, f"{claim.hospital} is not registered")
    acc = accumulators or Accumulators()
    year = claim_year(claim)
    totals = acc.year(year)
    result = adjudicate(claim, coverage or Coverage(), totals, hospital, params)
    new_totals = add(totals, result.delta)
    years = {y: t for y, t in acc.years.items() if y > year - YEARS_KEPT}
    years[year] = new_totals
    month = month_of(at)  # reconciled in the month it is answered, not that of the stay
    settled = trusted(
        ClaimRecord,
        person=claim.person,
        fingerprint=fingerprint,
        status="settled",
        year=year,
        month=month,
        amounts=result.amounts,
        delta=result.delta,
        ytd_fund_paid=new_totals.fund,
        reasons=tuple(r.value for r in result.reasons),
        detail="",
    )
    fx = Effects().emit(
        answer_topic(claim.hospital),
        claim.claim_id,
        settled_result(claim.hospital, claim.claim_id, settled),
    )
    statements.tally(fx, claim.hospital, month, statements.SETTLED, result.amounts)
    return settled, trusted(Accumulators, years=years), fx


def refusal(
    claim: m.ClaimReceived,
    fingerprint: str,
    at: datetime,
    record: ClaimRecord | None,
    refused: Refused,
) -> tuple[ClaimRecord | None, Effects]:
    """The claim's record after `settle` refused it (None: a settled claim's record stays as it
    is; others remember the refusal), counted as rejected in the month of `at`."""
    kept = None
    if record is None or record.status != "settled":
        kept = ClaimRecord(
            person=claim.person,
            fingerprint=fingerprint,
            status="rejected",
            reasons=(refused.reason.value,),
            detail=refused.detail,
        )
    fx = statements.tally(Effects(), claim.hospital, month_of(at), statements.REJECTED)
    return kept, fx


def cancel(
    c: m.CancellationReceived,
    at: datetime,
    record: ClaimRecord | None,
    accumulators: Accumulators | None,
) -> tuple[ClaimRecord, Accumulators, Effects]:
    """The claim's record cancelled and its settlement taken off the year's totals, or
    `Refused`. The reversal is reconciled in the month of `at`, the cancellation's, as the
    payment was in its own."""
    if record is None or record.person != c.person or record.status == "rejected":
        raise Refused(R.UNKNOWN_CLAIM, f"no settled claim {c.claim_id} for this patient")
    if record.status == "cancelled":
        raise Refused(R.CLAIM_ALREADY_CANCELLED, f"claim {c.claim_id} was cancelled before")
    assert record.year is not None and record.delta is not None and record.amounts is not None
    acc = accumulators or Accumulators()
    reversed_totals = add(acc.year(record.year), record.delta, -1)
    years = {**acc.years, record.year: reversed_totals}
    fx = Effects().emit(
        answer_topic(c.hospital),
        c.claim_id,
        m.CancellationResult(
            hospital=c.hospital,
            claim_id=c.claim_id,
            outcome=m.CancellationOutcome.CANCELLED,
            reversed=record.amounts,
            ytd_fund_paid=reversed_totals.fund,
            year=record.year,
        ),
    )
    month = month_of(at)
    statements.tally(fx, c.hospital, month, statements.CANCELLED, record.amounts, sign=-1)
    return record.model_copy(update={"status": "cancelled"}), Accumulators(years=years), fx
