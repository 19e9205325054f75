"""A hospital's claim through its life: settled once, refused with a record of why, cancelled once.

- A claim id already settled, sent again with the same body for the same patient (a resend),
  is answered again as it was, and nothing is paid twice; with a different body it is refused
  (`duplicate_claim_different_body`): the hospital cancels it first.
- A refused claim's record remembers the refusal; a settled claim's record stays as it is.
- A cancellation reverses exactly what its settlement added to the year's totals; an unknown,
  refused or already cancelled claim cannot be cancelled.
- A person's yearly totals are kept for `YEARS_KEPT` calendar years.
Each answer counts in its hospital's month (`statements.tally`), that of the answer's record time.

Every decision that changes state is published on the events topic (`ClaimSettled`,
`ClaimRefused`, `ClaimCancelled`), and the new state is computed from that event by the same
function a rebuild folds it with (`settled`, `refused`, `cancelled`): what the log of record says
and what the service holds cannot differ.
"""

from __future__ import annotations

from datetime import datetime

from shebao_common.domain import Effects, Refused
from shebao_contracts import medical as m
from shebao_contracts.enrollment import Scheme
from shebao_contracts.trusted import trusted

from . import statements
from .adjudication import add, adjudicate, claim_year
from .answers import answer_topic, settled_result
from .calendar import month_of
from .model import Accumulators, ClaimRecord, Coverage, Hospital, YearTotals
from .params import Params

YEARS_KEPT = 3  # calendar years of totals kept per person: enough for late cancellations
R = m.ClaimRejection


def _delta(t: m.ClaimTotals) -> YearTotals:
    return trusted(
        YearTotals,
        fund=t.fund,
        in_scope_out_of_pocket=t.in_scope_out_of_pocket,
        serious_illness=t.serious_illness,
        assistance=t.assistance,
        outpatient_pool=t.outpatient_pool,
    )


def settled(
    ev: m.ClaimSettled, accumulators: Accumulators | None
) -> tuple[ClaimRecord, Accumulators, Effects]:
    """The claim's record and the person's totals after the settlement `ev`, and its tally."""
    acc = accumulators or Accumulators()
    delta = _delta(ev.totals)
    new_totals = add(acc.year(ev.year), delta)
    years = {y: t for y, t in acc.years.items() if y > ev.year - YEARS_KEPT}
    years[ev.year] = new_totals
    record = trusted(
        ClaimRecord,
        person=ev.person,
        fingerprint=ev.fingerprint,
        status="settled",
        year=ev.year,
        month=ev.month,
        amounts=ev.amounts,
        delta=delta,
        ytd_fund_paid=new_totals.fund,
        reasons=tuple(ev.reasons),
        detail="",
    )
    fx = statements.tally(Effects(), ev.hospital, ev.month, statements.SETTLED, ev.amounts)
    return record, trusted(Accumulators, years=years), fx


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
    result = adjudicate(claim, coverage or Coverage(), acc.year(year), hospital, params)
    d = result.delta
    # built from amounts this service computed, in fen: nothing to validate again on the hot path
    # (the property test folds them back from their JSON and finds the same state)
    totals = trusted(
        m.ClaimTotals,
        fund=d.fund,
        in_scope_out_of_pocket=d.in_scope_out_of_pocket,
        serious_illness=d.serious_illness,
        assistance=d.assistance,
        outpatient_pool=d.outpatient_pool,
    )
    ev = trusted(
        m.ClaimSettled,
        hospital=claim.hospital,
        claim_id=claim.claim_id,
        person=claim.person,
        fingerprint=fingerprint,
        visit_type=claim.visit_type,
        admission_date=claim.admission_date,
        discharge_date=claim.discharge_date,
        scheme=Scheme(result.scheme),
        region=result.region,
        year=year,
        month=month_of(at),  # reconciled in the month it is answered, not that of the stay
        amounts=result.amounts,
        totals=totals,
        ytd_fund_paid=add(acc.year(year), _delta(totals)).fund,
        reasons=[r.value for r in result.reasons],
    )
    record_after, acc_after, tally = settled(ev, acc)
    answer = settled_result(claim.hospital, claim.claim_id, record_after)
    fx = Effects().emit(answer_topic(claim.hospital), claim.claim_id, answer).extend(tally)
    return record_after, acc_after, fx.emit(m.EVENTS, claim.person, ev)


def refused(ev: m.ClaimRefused, record: ClaimRecord | None) -> tuple[ClaimRecord | None, Effects]:
    """The claim's record after the refusal `ev` (None: a settled claim's record stays as it is;
    others remember the refusal), and its tally as rejected in the month of the refusal."""
    kept = None
    if record is None or record.status != "settled":
        kept = ClaimRecord(
            person=ev.person,
            fingerprint=ev.fingerprint,
            status="rejected",
            reasons=(ev.reason,),
            detail=ev.detail,
        )
    return kept, statements.tally(Effects(), ev.hospital, ev.month, statements.REJECTED)


def refusal(
    claim: m.ClaimReceived,
    fingerprint: str,
    at: datetime,
    record: ClaimRecord | None,
    why: Refused,
) -> tuple[ClaimRecord | None, Effects]:
    """The claim's record after `settle` refused it (see `refused`), and the refusal published."""
    ev = m.ClaimRefused(
        hospital=claim.hospital,
        claim_id=claim.claim_id,
        person=claim.person,
        fingerprint=fingerprint,
        month=month_of(at),
        reason=why.reason.value,
        detail=why.detail,
    )
    kept, fx = refused(ev, record)
    return kept, fx.emit(m.EVENTS, claim.person, ev)


def cancelled(
    ev: m.ClaimCancelled, record: ClaimRecord, accumulators: Accumulators | None
) -> tuple[ClaimRecord, Accumulators, Effects]:
    """The claim's record and its person's totals after the cancellation `ev`: its settlement
    taken off the year, reconciled in the cancellation's month as the payment was in its own."""
    assert record.year is not None and record.delta is not None and record.amounts is not None
    acc = accumulators or Accumulators()
    reversed_totals = add(acc.year(record.year), record.delta, -1)
    years = {**acc.years, record.year: reversed_totals}
    fx = statements.tally(
        Effects(), ev.hospital, ev.month, statements.CANCELLED, record.amounts, sign=-1
    )
    return record.model_copy(update={"status": "cancelled"}), Accumulators(years=years), fx


def cancel(
    c: m.CancellationReceived,
    at: datetime,
    record: ClaimRecord | None,
    accumulators: Accumulators | None,
) -> tuple[ClaimRecord, Accumulators, Effects]:
    """The claim's record cancelled and its settlement taken off the year's totals, or
    `Refused`; the hospital answered and the cancellation published."""
    if record is None or record.person != c.person or record.status == "rejected":
        raise Refused(R.UNKNOWN_CLAIM, f"no settled claim {c.claim_id} for this patient")
    if record.status == "cancelled":
        raise Refused(R.CLAIM_ALREADY_CANCELLED, f"claim {c.claim_id} was cancelled before")
    assert record.year is not None and record.delta is not None and record.amounts is not None
    acc = accumulators or Accumulators()
    ev = m.ClaimCancelled(
        hospital=c.hospital,
        claim_id=c.claim_id,
        person=c.person,
        month=month_of(at),
        year=record.year,
        reversed=record.amounts,
        ytd_fund_paid=add(acc.year(record.year), record.delta, -1).fund,
    )
    after, acc_after, tally = cancelled(ev, record, acc)
    answer = m.CancellationResult(
        hospital=c.hospital,
        claim_id=c.claim_id,
        outcome=m.CancellationOutcome.CANCELLED,
        reversed=record.amounts,
        ytd_fund_paid=ev.ytd_fund_paid,
        year=record.year,
    )
    fx = Effects().emit(answer_topic(c.hospital), c.claim_id, answer).extend(tally)
    return after, acc_after, fx.emit(m.EVENTS, c.person, ev)
