"""Months `YYYY-MM` and quarters `YYYY-Qn`, and the rule that a command may not date the future."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from shebao_common.domain import Refused, local_day
from shebao_contracts import welfare as w

from .env import Env

FEN = Decimal("0.01")


def yuan(x: Decimal) -> Decimal:
    return x.quantize(FEN, ROUND_HALF_UP)


def of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def shift(m: str, n: int) -> str:
    i = int(m[:4]) * 12 + int(m[5:7]) - 1 + n
    return f"{i // 12:04d}-{i % 12 + 1:02d}"


def first_day(m: str) -> date:
    return date(int(m[:4]), int(m[5:7]), 1)


def after(day: date) -> str:
    """The month after the day's: a decision pays from it."""
    return shift(of(day), 1)


def months_of(period: str) -> list[str]:
    """A month, or the three months of a quarter `YYYY-Qn`."""
    if "-Q" not in period:
        return [period]
    first = (int(period[-1]) - 1) * 3 + 1
    return [f"{period[:4]}-{n:02d}" for n in range(first, first + 3)]


def quarter(m: str) -> str:
    return f"{m[:4]}-Q{(int(m[5:7]) - 1) // 3 + 1}"


def not_in_future(day: date, received: datetime, region: str, what: str, env: Env) -> None:
    today = local_day(received)
    if day > today + timedelta(days=env.params.future_tolerance_days(region, today)):
        raise Refused(
            w.Rejection.SERVICE_DATE_IN_FUTURE,
            f"{what} {day} is after {today}, the day the command was sent (ce_time)",
        )


def not_over(month: str, received: datetime) -> None:
    today = local_day(received)
    if first_day(shift(month, 1)) > today:
        raise Refused(
            w.Rejection.SERVICE_DATE_IN_FUTURE,
            f"{month} is not over on {today}, the day the command was sent (ce_time)",
        )
