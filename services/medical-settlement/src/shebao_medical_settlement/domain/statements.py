"""A hospital's months and its monthly statement.

Every claim counts in its hospital's month as it is answered: settled, rejected or cancelled,
and the payments in fen (a cancellation subtracts what its settlement added). The month is that
of the answer's record time, where the hospital reconciles it, not that of the stay. A month's
statement gives the month as counted and the fund's payments of the year to date, January to
that month only, so a month closed late does not count the months after it; against the
hospital's annual budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from shebao_common.domain import Counters, Effects, StateKey, yuan
from shebao_contracts import medical as m

from .answers import answer_topic
from .model import HOSPITAL_MONTH
from .params import Params

SETTLED, REJECTED, CANCELLED = "settled", "rejected", "cancelled"
"""The counts of a hospital's month, one per claim answered so."""


def tally(
    fx: Effects,
    hospital: str,
    month: str,
    kind: str,
    amounts: m.Amounts | None = None,
    sign: int = 1,
) -> Effects:
    """Count the claim in its hospital's month, its payments in fen (`sign` -1 takes them off)."""
    month_key = HOSPITAL_MONTH.key(hospital, month)
    fx.count(month_key, kind, 1)
    if amounts is not None:
        paid = (
            ("fund_fen", amounts.fund_payment),
            ("serious_illness_fen", amounts.serious_illness_payment),
            ("assistance_fen", amounts.medical_assistance_payment),
        )
        for field, amount in paid:
            fx.count(month_key, field, sign * int(amount * 100))
    return fx


def months_to_date(hospital: str, month: str) -> list[StateKey[Counters]]:
    """The hospital's months of the year, January to `month` (YYYY-MM)."""
    year, last = month[:4], int(month[5:7])
    return [HOSPITAL_MONTH.key(hospital, f"{year}-{n:02d}") for n in range(1, last + 1)]


def statement(ev: m.StatementDue, months: Sequence[Counters | None], params: Params) -> Effects:
    """The hospital's statement of `ev.month`, from its `months_to_date` (None: nothing counted)."""
    counted = [c or Counters() for c in months]
    month = counted[-1]
    first_day = date(int(ev.month[:4]), int(ev.month[5:7]), 1)
    budget = params.hospital_annual_budget(ev.hospital, first_day)
    ytd = yuan(sum(c.get("fund_fen") for c in counted))
    used = (ytd / budget).quantize(Decimal("0.0001"), ROUND_HALF_UP) if budget else None
    return Effects().emit(
        answer_topic(ev.hospital),
        ev.month,
        m.MonthlyStatement(
            hospital=ev.hospital,
            month=ev.month,
            claims_settled=month.get(SETTLED),
            claims_cancelled=month.get(CANCELLED),
            claims_rejected=month.get(REJECTED),
            fund_payment=yuan(month.get("fund_fen")),
            serious_illness_payment=yuan(month.get("serious_illness_fen")),
            medical_assistance_payment=yuan(month.get("assistance_fen")),
            year_to_date_fund_payment=ytd,
            annual_budget=budget if budget else None,
            budget_used=str(used) if used is not None else None,
        ),
    )
