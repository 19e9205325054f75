"""Months and periods as the wire writes them: `YYYY-MM` (a month) and `YYYY` (a year).

Arithmetic goes through a month index (year * 12 + month - 1) so that "three months later" or
"the months between" never depend on calendar tricks.
"""

from __future__ import annotations

import calendar
from datetime import date


def index(month: str) -> int:
    """`2025-03` -> a month number that subtracts and compares."""
    return int(month[:4]) * 12 + int(month[5:7]) - 1


def month(idx: int) -> str:
    return f"{idx // 12:04d}-{idx % 12 + 1:02d}"


def of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def shift(m: str, months: int) -> str:
    return month(index(m) + months)


def first_day(m: str) -> date:
    return date(int(m[:4]), int(m[5:7]), 1)


def last_day(m: str) -> date:
    y, mo = int(m[:4]), int(m[5:7])
    return date(y, mo, calendar.monthrange(y, mo)[1])


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
