"""Periods as the wire writes them: `YYYY-MM` (a month) and `YYYY` (a year, residents).

The month arithmetic is the platform's (`shebao_common.months`); what is here is about periods:
years, the months a period counts, spans, what an employment is owed for.
"""

from __future__ import annotations

from datetime import date

from shebao_common.months import first_day as first_day
from shebao_common.months import index as index
from shebao_common.months import last_day as last_day
from shebao_common.months import month as month
from shebao_common.months import of as of
from shebao_common.months import shift as shift


def year(m: str) -> int:
    return int(m[:4])


def is_year(period: str) -> bool:
    return len(period) == 4


def months_of(period: str) -> list[str]:
    """The months a period counts: itself, or the twelve months of a year."""
    if is_year(period):
        return [f"{period}-{mo:02d}" for mo in range(1, 13)]
    return [period]


def start_of(period: str) -> date:
    return date(int(period), 1, 1) if is_year(period) else first_day(period)


def last_month(period: str) -> str:
    return f"{period}-12" if is_year(period) else period


def span(first: str, last: str) -> list[str]:
    """Every month from `first` to `last`, both included (empty when first > last)."""
    return [month(i) for i in range(index(first), index(last) + 1)]


def later(a: str | None, b: str | None) -> str | None:
    """The later of two months, either possibly unknown."""
    if a is None:
        return b
    if b is None:
        return a
    return a if a >= b else b


def obligated_through(end_date: date) -> str:
    """The last month an employment is owed for: the employer employing a person on a month's
    last day owes that month, so an employment ending before a month's last day does not."""
    m = of(end_date)
    return m if end_date == last_day(m) else shift(m, -1)
