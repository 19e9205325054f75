"""Months as the wire writes them (`YYYY-MM`), and quarters (`YYYY-Qn`): the arithmetic every
domain needs, through a month index (year * 12 + month - 1) so that "three months later" or
"the months between" never depend on calendar tricks. Pure: no runtime."""

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


def next_first_day(m: str) -> date:
    """The first day after the month: when it is over."""
    return first_day(shift(m, 1))


def quarter(m: str) -> str:
    """The quarter of a month: `2025-05` -> `2025-Q2`."""
    return f"{m[:4]}-Q{(int(m[5:7]) - 1) // 3 + 1}"


def is_quarter(period: str) -> bool:
    return "-Q" in period


def months_of_quarter(q: str) -> list[str]:
    first = (int(q[-1]) - 1) * 3 + 1
    return [f"{q[:4]}-{n:02d}" for n in range(first, first + 3)]


def months_in(period: str) -> list[str]:
    """A month, or the three months of a quarter."""
    return months_of_quarter(period) if is_quarter(period) else [period]
