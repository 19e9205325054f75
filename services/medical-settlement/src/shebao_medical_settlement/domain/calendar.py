"""The province's calendar: which day and month a record's time falls in.

Service dates and months are days of China Standard Time (UTC+8, no daylight saving), whatever
offset a sender writes its ce_time with: 2025-03-31T17:00:00Z is already 1 April in Jiangsu.
"""

from __future__ import annotations

from datetime import datetime

from shebao_common.domain import CHINA as CHINA
from shebao_common.domain import local_day as local_day


def month_of(when: datetime) -> str:
    """YYYY-MM of a record's time: the month a settlement is reconciled in."""
    day = local_day(when)
    return f"{day.year:04d}-{day.month:02d}"
