"""The months a decision pays from, and the rule that a command may not date the future. The
month arithmetic is the platform's (`shebao_common.months`), re-exported for the rules."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from shebao_common.domain import Refused, local_day
from shebao_common.months import first_day as first_day
from shebao_common.months import months_in as months_in
from shebao_common.months import next_first_day
from shebao_common.months import of as of
from shebao_common.months import quarter as quarter
from shebao_common.months import shift as shift
from shebao_contracts import welfare as w

from .env import Env


def after(day: date) -> str:
    """The month after the day's: a decision pays from it."""
    return shift(of(day), 1)


def not_in_future(day: date, received: datetime, region: str, what: str, env: Env) -> None:
    today = local_day(received)
    if day > today + timedelta(days=env.params.future_tolerance_days(region, today)):
        raise Refused(
            w.Rejection.SERVICE_DATE_IN_FUTURE,
            f"{what} {day} is after {today}, the day the command was sent (ce_time)",
        )


def not_over(month: str, received: datetime) -> None:
    today = local_day(received)
    if next_first_day(month) > today:
        raise Refused(
            w.Rejection.SERVICE_DATE_IN_FUTURE,
            f"{month} is not over on {today}, the day the command was sent (ce_time)",
        )
