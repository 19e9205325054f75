"""The months a decision pays from, and the rule that a command may not date the future. The
month arithmetic and the rule are the platform's (`shebao_common.months`,
`shebao_common.domain.not_in_future`), re-exported or bound to welfare's parameter here."""

from __future__ import annotations

from datetime import date, datetime

from shebao_common import domain as common
from shebao_common.months import first_day as first_day
from shebao_common.months import months_in as months_in
from shebao_common.months import of as of
from shebao_common.months import quarter as quarter
from shebao_common.months import shift as shift
from shebao_contracts import welfare as w

from .env import Env


def after(day: date) -> str:
    """The month after the day's: a decision pays from it."""
    return shift(of(day), 1)


def not_in_future(day: date, received: datetime, region: str, what: str, env: Env) -> None:
    common.not_in_future(
        day,
        received,
        lambda today: env.params.future_tolerance_days(region, today),
        w.Rejection.SERVICE_DATE_IN_FUTURE,
        what,
    )
