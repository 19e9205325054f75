"""The province's calendar, and the rule that a record may not describe the future.

Days are days of China Standard Time (UTC+8, no daylight saving), whatever offset a sender
writes its ce_time with: 2025-03-31T17:00:00Z is already 1 April in Jiangsu. "Now" is the
record's own time (its ce_time), never the service's clock: a record read again, or replayed,
is answered the same.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from shebao_common.domain import CHINA as CHINA
from shebao_common.domain import Refused
from shebao_common.domain import local_day as local_day
from shebao_contracts import contributions as cc

from .params import Params


def not_in_future(
    first: date, received: datetime, params: Params, region: str, what: str, sent: str
) -> None:
    """Refuse, `service_date_in_future`, what begins on `first` when that is after the day of
    the record's time, give or take the tolerance in force that day in the region. `what` says
    what begins then (a sentence's subject), `sent` what the record is."""
    today = local_day(received)
    tolerance = params.future_period_tolerance_days(region, today)
    if tolerance is None:  # a ce_time before any value (1970): no tolerance, not a crash
        tolerance = 0
    if first > today + timedelta(days=tolerance):
        raise Refused(
            cc.Rejection.SERVICE_DATE_IN_FUTURE,
            f"{what} on {first}, after {today}, the day the {sent} was sent (ce_time)"
            + (f", by more than {tolerance} days" if tolerance else ""),
        )
