"""The answers a hospital reads on its own settlements topic: a claim settled or refused, a
cancellation done or refused (the refusals by name, as `Refused` or the runtime's reasons)."""

from __future__ import annotations

from typing import Any

from shebao_contracts import medical as m
from shebao_contracts.trusted import trusted

from .model import ClaimRecord


def answer_topic(hospital: str) -> str:
    return m.SETTLEMENTS.named(code=hospital)


def settled_result(hospital: str, claim_id: str, record: ClaimRecord) -> m.SettlementResult:
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


def rejected_result(hospital: str, claim_id: str, reason: str, detail: str) -> m.SettlementResult:
    return m.SettlementResult(
        outcome=m.Outcome.REJECTED, **_refusal(hospital, claim_id, reason, detail)
    )


def rejected_cancellation(
    hospital: str, claim_id: str, reason: str, detail: str
) -> m.CancellationResult:
    return m.CancellationResult(
        outcome=m.CancellationOutcome.REJECTED, **_refusal(hospital, claim_id, reason, detail)
    )


def _refusal(hospital: str, claim_id: str, reason: str, detail: str) -> dict[str, Any]:
    """What a refused claim's and a refused cancellation's answers say alike."""
    return {"hospital": hospital, "claim_id": claim_id, "reasons": [reason], "detail": detail}
