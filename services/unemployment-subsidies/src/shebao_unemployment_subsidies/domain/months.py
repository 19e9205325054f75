"""Months `YYYY-MM`, quarters `YYYY-Qn`, and the province's day (China Standard Time)."""

from __future__ import annotations

from datetime import date

from shebao_common.domain import CHINA as CHINA
from shebao_common.domain import local_day as local_day


def of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def index(month: str) -> int:
    return int(month[:4]) * 12 + int(month[5:7]) - 1


def month(idx: int) -> str:
    return f"{idx // 12:04d}-{idx % 12 + 1:02d}"


def shift(m: str, months: int) -> str:
    return month(index(m) + months)


def first_day(m: str) -> date:
    return date(int(m[:4]), int(m[5:7]), 1)


def next_first_day(m: str) -> date:
    """The first day after the month: when it is over."""
    return first_day(shift(m, 1))


def quarter(m: str) -> str:
    return f"{m[:4]}-Q{(int(m[5:7]) - 1) // 3 + 1}"


def months_of_quarter(q: str) -> list[str]:
    first = (int(q[-1]) - 1) * 3 + 1
    return [f"{q[:4]}-{n:02d}" for n in range(first, first + 3)]


def is_quarter(period: str) -> bool:
    return "-Q" in period
