"""No command describes the future: the events a command dates, checked against its record time."""

from __future__ import annotations

from datetime import date, datetime

from shebao_common import domain as common
from shebao_common.domain import CHINA as CHINA
from shebao_common.domain import local_day as local_day
from shebao_common.policy import PROVINCE
from shebao_contracts import enrollment as c
from shebao_contracts.envelope import Message
from shebao_contracts.types import citizen_id_birth_date

from .env import Env


def event_dates(cmd: Message) -> list[tuple[str, date]]:
    """The events a command dates, each of which has happened by the time it is sent.

    Not among them: the year of a resident pension tier (ChooseResidentPensionTier chooses next
    year's tier in advance: a choice for a year to come, not an event). Everything else here
    takes effect when the command is applied (a membership starts, is suspended or ends, the
    person counts as employed, transferred, dead), so a date to come would make the record say
    now what is not yet true: an office sends it once it has happened."""
    match cmd:
        case c.RegisterEmployer() | c.RegisterPerson():
            dates = [("registration", cmd.registered_on)]
            if isinstance(cmd, c.RegisterPerson):
                dates.append(("birth (from the citizen ID)", citizen_id_birth_date(cmd.citizen_id)))
            return dates
        case c.StartEmployment():
            return [("employment start", cmd.start_date)]
        case c.EndEmployment():
            return [("employment end", cmd.end_date)]
        case (
            c.EnrolFlexibleWorker()
            | c.EnrolResidentPension()
            | c.EnrolResidentMedical()
            | c.EnrolLandExpropriatedFarmer()
        ):
            return [("enrolment start", cmd.start_date)]
        case c.TransferOut() | c.TransferIn():
            return [("transfer", cmd.date)]
        case c.IssueCard() | c.ReplaceCard():
            return [("card issue", cmd.issued_on)]
        case c.RecordDeath():
            return [("death", cmd.date_of_death)]
        case _:
            return []


def not_in_future(cmd: Message, received: datetime, env: Env) -> None:
    """Refuse, `service_date_in_future`, a command dating an event after the day of its record
    time (`received`), give or take the tolerance in force that day: the region's where the
    command names one (the region, or a person's hukou region), else the province's."""
    region = getattr(cmd, "region", None) or getattr(cmd, "hukou_region", None) or PROVINCE
    for what, on in event_dates(cmd):
        common.not_in_future(
            on,
            received,
            lambda today: env.params.future_event_tolerance_days(region, today),
            c.Rejection.SERVICE_DATE_IN_FUTURE,
            what,
        )
