"""Handler tables of the four stages: ingest, adjudicate, coverage projection, statements.

- ingest reads every hospital's claims topic (by pattern), checks the message, pseudonymises the
  patient and re-keys the claim by person onto the commands topic, or answers the hospital;
- adjudicate reads the commands topic keyed by person, so one person's claims are settled in
  order and the yearly totals never race; it answers on the hospital's settlements topic;
- coverage folds enrollment and welfare events into each person's coverage;
- statements aggregates settlements per hospital and month and answers month closes; a claim
  counts in the month it was settled or cancelled in (of its record's time), not of its stay.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from shebao_common.policy import Policy
from shebao_common.pseudonym import Pseudonymizer
from shebao_common.runtime import (
    NOTHING,
    Context,
    Counters,
    Decision,
    Emit,
    HandlerTable,
    RejectedRecord,
    State,
)
from shebao_contracts import contributions as k
from shebao_contracts import enrollment as e
from shebao_contracts import medical as m
from shebao_contracts.trusted import trusted
from shebao_contracts.welfare import RecipientStatusChanged

from .domain import coverage as cov
from .domain.adjudication import Refused, add, adjudicate, claim_year
from .domain.calendar import month_of
from .domain.intake import check_cancellation, check_claim
from .domain.model import (
    ACCUMULATORS,
    CLAIM,
    COVERAGE,
    HOSPITAL,
    HOSPITAL_INDEX,
    HOSPITAL_MONTH,
    ZERO,
    Accumulators,
    ClaimRecord,
    Coverage,
    Hospital,
    HospitalIndex,
)

YEARS_KEPT = 3  # calendar years of totals kept per person: enough for late cancellations


@dataclass(frozen=True)
class Env:
    policy: Policy
    refs: Pseudonymizer


def _env(ctx: Context) -> Env:
    env = ctx.policy
    assert isinstance(env, Env)
    return env


def answer_topic(hospital: str) -> str:
    return m.SETTLEMENTS.named(code=hospital)


def rejected_result(hospital: str, claim_id: str, reason: str, detail: str) -> m.SettlementResult:
    return m.SettlementResult(
        hospital=hospital,
        claim_id=claim_id,
        outcome=m.Outcome.REJECTED,
        reasons=[reason],
        detail=detail,
    )


def rejected_cancellation(
    hospital: str, claim_id: str, reason: str, detail: str
) -> m.CancellationResult:
    return m.CancellationResult(
        hospital=hospital,
        claim_id=claim_id,
        outcome=m.CancellationOutcome.REJECTED,
        reasons=[reason],
        detail=detail,
    )


# ------------------------------------------------------------------------------------------------
# ingest

ingest = HandlerTable()


def _topic_hospital(msg: Any, ctx: Context) -> list[Any]:
    return [HOSPITAL.key(ctx.topic_fields["code"])]


@ingest.on(m.ClaimSubmitted, needs=_topic_hospital)
def receive_claim(state: State, claim: m.ClaimSubmitted, ctx: Context) -> Decision:
    code = ctx.topic_fields["code"]
    # ce_time, not the Kafka timestamp: both are the sender's clock, ce_time alone replays alike
    received = ctx.time
    refused = check_claim(claim, code, state.get(HOSPITAL.key(code)), received, _env(ctx).policy)
    if refused is not None:
        return Decision().emit(
            answer_topic(code),
            claim.claim_id,
            rejected_result(code, claim.claim_id, refused.reason.value, refused.detail),
        )
    person = _env(ctx).refs.person_ref(claim.patient_citizen_id)
    forward = m.ClaimReceived(
        hospital=code,
        claim_id=claim.claim_id,
        person=person,
        visit_type=claim.visit_type,
        admission_date=claim.admission_date,
        discharge_date=claim.discharge_date,
        diagnosis_code=claim.diagnosis_code,
        lines=claim.lines,
        total=claim.total,
    )
    return Decision().emit(m.COMMANDS, person, forward)


@ingest.on(m.ClaimCancellation)
def receive_cancellation(state: State, c: m.ClaimCancellation, ctx: Context) -> Decision:
    code = ctx.topic_fields["code"]
    refused = check_cancellation(c, code)
    if refused is not None:
        return Decision().emit(
            answer_topic(code),
            c.claim_id,
            rejected_cancellation(code, c.claim_id, refused.reason.value, refused.detail),
        )
    person = _env(ctx).refs.person_ref(c.patient_citizen_id)
    return Decision().emit(
        m.COMMANDS,
        person,
        m.CancellationReceived(hospital=code, claim_id=c.claim_id, person=person),
    )


def reject_hospital_record(r: RejectedRecord) -> Emit | None:
    """A message a hospital sent that could not be read: answered by name on its own topic."""
    code = r.topic_fields.get("code")
    if not code:
        return None
    claim_id = (r.key or "")[:64]
    if r.envelope is not None and r.envelope.type == m.ClaimCancellation.TYPE:
        answer: Any = rejected_cancellation(code, claim_id, r.reason, r.detail)
    else:
        answer = rejected_result(code, claim_id, r.reason, r.detail)
    return Emit(answer_topic(code), claim_id or "unknown", answer)


# ------------------------------------------------------------------------------------------------
# adjudicate

adjudication = HandlerTable()


def _claim_keys(c: Any, ctx: Context) -> list[Any]:
    return [
        COVERAGE.key(c.person),
        ACCUMULATORS.key(c.person),
        CLAIM.key(c.hospital, c.claim_id),
        HOSPITAL.key(c.hospital),
    ]


@adjudication.on(m.ClaimReceived, needs=_claim_keys)
def adjudicate_claim(state: State, claim: m.ClaimReceived, ctx: Context) -> Decision:
    record = state.get(CLAIM.key(claim.hospital, claim.claim_id))
    fp = ctx.digest  # of the pseudonymised claim as ingest wrote it: a resend has the same
    month = month_of(ctx.time)  # reconciled in the month it is answered, not that of the stay
    topic = answer_topic(claim.hospital)
    if record is not None and record.status == "settled":
        if record.fingerprint == fp and record.person == claim.person:
            # the same claim again: the same answer again, and nothing paid twice
            return Decision().emit(
                topic, claim.claim_id, _settled_result(claim.hospital, claim.claim_id, record)
            )
        return _refuse_claim(
            claim,
            fp,
            Refused(
                m.ClaimRejection.DUPLICATE_CLAIM_DIFFERENT_BODY,
                f"claim {claim.claim_id} was settled with a different body; "
                "cancel it before resubmitting",
            ),
            month,
            keep=record,
        )
    hospital = state.get(HOSPITAL.key(claim.hospital))
    if hospital is None:
        return _refuse_claim(
            claim,
            fp,
            Refused(
                m.ClaimRejection.HOSPITAL_NOT_DESIGNATED, f"{claim.hospital} is not registered"
            ),
            month,
        )
    acc = state.get(ACCUMULATORS.key(claim.person)) or Accumulators()
    year = claim_year(claim)
    totals = acc.year(year)
    coverage = state.get(COVERAGE.key(claim.person)) or Coverage()
    result = adjudicate(claim, coverage, totals, hospital, _env(ctx).policy)
    if isinstance(result, Refused):
        return _refuse_claim(claim, fp, result, month)
    new_totals = add(totals, result.delta)
    years = {y: t for y, t in acc.years.items() if y > year - YEARS_KEPT}
    years[year] = new_totals
    settled = trusted(
        ClaimRecord,
        person=claim.person,
        fingerprint=fp,
        status="settled",
        year=year,
        month=month,
        amounts=result.amounts,
        delta=result.delta,
        ytd_fund_paid=new_totals.fund,
        reasons=tuple(r.value for r in result.reasons),
        detail="",
    )
    d = (
        Decision()
        .put(ACCUMULATORS.key(claim.person), trusted(Accumulators, years=years))
        .put(CLAIM.key(claim.hospital, claim.claim_id), settled)
        .emit(topic, claim.claim_id, _settled_result(claim.hospital, claim.claim_id, settled))
    )
    return _tally(d, claim.hospital, month, "settled", result.amounts)


def _tally(
    d: Decision, hospital: str, month: str, kind: str, a: m.Amounts | None = None, sign: int = 1
) -> Decision:
    """Count the claim in its hospital's month, in fen."""
    month_key = HOSPITAL_MONTH.key(hospital, month)
    d.incr(month_key, kind, 1)
    if a is not None:
        d.incr(month_key, "fund_fen", sign * int(a.fund_payment * 100))
        d.incr(month_key, "serious_illness_fen", sign * int(a.serious_illness_payment * 100))
        d.incr(month_key, "assistance_fen", sign * int(a.medical_assistance_payment * 100))
    return d


def _settled_result(hospital: str, claim_id: str, record: ClaimRecord) -> m.SettlementResult:
    # built from a record this service wrote: nothing to validate again on the hot path
    return trusted(
        m.SettlementResult,
        hospital=hospital,
        claim_id=claim_id,
        outcome=m.Outcome.SETTLED,
        amounts=record.amounts,
        ytd_fund_paid=record.ytd_fund_paid,
        year=record.year,
        reasons=list(record.reasons),
        detail="",
    )


def _refuse_claim(
    claim: m.ClaimReceived,
    fp: str,
    refused: Refused,
    month: str,
    keep: ClaimRecord | None = None,
) -> Decision:
    d = Decision()
    if keep is None:  # a settled claim's record stays as it is; others remember the refusal
        d.put(
            CLAIM.key(claim.hospital, claim.claim_id),
            ClaimRecord(
                person=claim.person,
                fingerprint=fp,
                status="rejected",
                reasons=(refused.reason.value,),
                detail=refused.detail,
            ),
        )
    d.emit(
        answer_topic(claim.hospital),
        claim.claim_id,
        rejected_result(claim.hospital, claim.claim_id, refused.reason.value, refused.detail),
    )
    return _tally(d, claim.hospital, month, "rejected")


@adjudication.on(
    m.CancellationReceived,
    needs=lambda c, ctx: [ACCUMULATORS.key(c.person), CLAIM.key(c.hospital, c.claim_id)],
)
def cancel_claim(state: State, c: m.CancellationReceived, ctx: Context) -> Decision:
    record = state.get(CLAIM.key(c.hospital, c.claim_id))
    topic = answer_topic(c.hospital)
    R = m.ClaimRejection
    if record is None or record.person != c.person or record.status == "rejected":
        return Decision().emit(
            topic,
            c.claim_id,
            rejected_cancellation(
                c.hospital,
                c.claim_id,
                R.UNKNOWN_CLAIM.value,
                f"no settled claim {c.claim_id} for this patient",
            ),
        )
    if record.status == "cancelled":
        return Decision().emit(
            topic,
            c.claim_id,
            rejected_cancellation(
                c.hospital,
                c.claim_id,
                R.CLAIM_ALREADY_CANCELLED.value,
                f"claim {c.claim_id} was cancelled before",
            ),
        )
    assert record.year is not None and record.delta is not None and record.amounts is not None
    acc = state.get(ACCUMULATORS.key(c.person)) or Accumulators()
    reversed_totals = add(acc.year(record.year), record.delta, -1)
    years = {**acc.years, record.year: reversed_totals}
    d = (
        Decision()
        .put(ACCUMULATORS.key(c.person), Accumulators(years=years))
        .put(CLAIM.key(c.hospital, c.claim_id), record.model_copy(update={"status": "cancelled"}))
        .emit(
            topic,
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
    )
    # the reversal is reconciled in the month of the cancellation, as the payment was in its own
    return _tally(d, c.hospital, month_of(ctx.time), "cancelled", record.amounts, sign=-1)


@adjudication.on(
    m.RegisterHospital, needs=lambda h, ctx: [HOSPITAL.key(h.hospital), HOSPITAL_INDEX.key("all")]
)
def register_hospital(state: State, h: m.RegisterHospital, ctx: Context) -> Decision:
    index = state.get(HOSPITAL_INDEX.key("all")) or HospitalIndex()
    d = Decision().put(
        HOSPITAL.key(h.hospital),
        Hospital(
            code=h.hospital,
            name=h.name,
            level=h.level,
            region=h.region,
            designated_from=h.designated_from,
            designated_to=h.designated_to,
        ),
    )
    if h.hospital not in index.codes:
        d.put(HOSPITAL_INDEX.key("all"), HospitalIndex(codes=(*index.codes, h.hospital)))
    return d


@adjudication.on(m.CloseMonth, needs=lambda c, ctx: [HOSPITAL_INDEX.key("all")])
def close_month(state: State, c: m.CloseMonth, ctx: Context) -> Decision:
    index = state.get(HOSPITAL_INDEX.key("all")) or HospitalIndex()
    d = Decision()
    for code in index.codes:
        d.emit(m.EVENTS, code, m.StatementDue(hospital=code, month=c.month))
    return d


# ------------------------------------------------------------------------------------------------
# coverage projection

coverage = HandlerTable()


def _person(ev: Any, ctx: Context) -> list[Any]:
    return [COVERAGE.key(ev.person)]


def _projection(fold: Callable[[Coverage, Any], Coverage], medical_only: bool) -> Any:
    """A handler folding one kind of event into the person's coverage."""

    def handle(state: State, ev: Any, ctx: Context) -> Decision:
        if medical_only and ev.scheme not in cov.MEDICAL:
            return NOTHING
        current = state.get(COVERAGE.key(ev.person)) or Coverage()
        return Decision().put(COVERAGE.key(ev.person), fold(current, ev))

    return handle


# event -> how it changes coverage; membership events count only for the medical schemes
_FOLDS: tuple[tuple[type[Any], Callable[[Coverage, Any], Coverage], bool], ...] = (
    (e.MembershipStarted, cov.started, True),
    (e.MembershipSuspended, cov.suspended, True),
    (e.MembershipResumed, cov.resumed, True),
    (e.MembershipEnded, cov.ended, True),
    (e.PersonDeceased, cov.deceased, False),
    (k.InterruptionOpened, cov.interrupted, False),
    (k.InterruptionClosed, cov.resumed_paying, False),
    (RecipientStatusChanged, cov.assistance, False),
)
for _message, _fold, _medical_only in _FOLDS:
    coverage.on(_message, needs=_person)(_projection(_fold, _medical_only))


# ------------------------------------------------------------------------------------------------
# statements

statements = HandlerTable()


def _months_to_date(ev: Any, ctx: Context) -> list[Any]:
    """The hospital's months of the year, January to the statement's month."""
    year, last = ev.month[:4], int(ev.month[5:7])
    return [HOSPITAL_MONTH.key(ev.hospital, f"{year}-{n:02d}") for n in range(1, last + 1)]


def _yuan(fen: int) -> Decimal:
    return (Decimal(fen) / 100).quantize(Decimal("0.01"))


@statements.on(m.StatementDue, needs=_months_to_date)
def statement_due(state: State, ev: m.StatementDue, ctx: Context) -> Decision:
    """The month's claims and payments as settled in it; the year to date up to this month only,
    so a month closed late does not count the months after it."""
    months = [state.get(k) or Counters() for k in _months_to_date(ev, ctx)]
    month = months[-1]
    first_day = date(int(ev.month[:4]), int(ev.month[5:7]), 1)
    budget = _env(ctx).policy.decimal("medical.hospital_annual_budget", ev.hospital, first_day)
    ytd = _yuan(sum(c.get("fund_fen") for c in months))
    used = (ytd / budget).quantize(Decimal("0.0001"), ROUND_HALF_UP) if budget else None
    return Decision().emit(
        answer_topic(ev.hospital),
        ev.month,
        m.MonthlyStatement(
            hospital=ev.hospital,
            month=ev.month,
            claims_settled=month.get("settled"),
            claims_cancelled=month.get("cancelled"),
            claims_rejected=month.get("rejected"),
            fund_payment=_yuan(month.get("fund_fen")),
            serious_illness_payment=_yuan(month.get("serious_illness_fen")),
            medical_assistance_payment=_yuan(month.get("assistance_fen")),
            year_to_date_fund_payment=ytd,
            annual_budget=budget if budget else None,
            budget_used=str(used) if used is not None else None,
        ),
    )


__all__ = ["ZERO", "Env", "adjudication", "coverage", "ingest", "statements"]
