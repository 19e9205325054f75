"""What the offices send: the civil-affairs office (低保 households, 特困 support) and the job
centre (registration as unemployed). The bureaus' reports (a person's collection, the CPI
release) are in `reports`.

Each builder returns the published contract's message, so that a caller sends it with
`message_record` or checks it against the schema; the topic each goes to is the contract's
(`welfare.COMMANDS`, `unemployment.COMMANDS`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from shebao_contracts import unemployment as u
from shebao_contracts import welfare as wf


def allowance_application(
    household_id: str,
    region: str,
    members: Sequence[str],
    monthly_income: Decimal | str,
    applied_on: date,
    *,
    rural: bool = False,
    assets_within_limit: bool = True,
) -> wf.ApplyForAllowance:
    """A household's application for 低保 at the civil-affairs office: its members by citizen
    ID, their total monthly income and the result of the asset test."""
    return wf.ApplyForAllowance(
        household_id=household_id,
        region=region,
        residence=wf.Residence.RURAL if rural else wf.Residence.URBAN,
        members=list(members),
        monthly_income=Decimal(monthly_income),
        assets_within_limit=assets_within_limit,
        applied_on=applied_on,
    )


def household_review(
    household_id: str, members: Sequence[str], monthly_income: Decimal | str, on: date
) -> wf.ReviewHousehold:
    """The office's review of a household: its members and income as found on `on`."""
    return wf.ReviewHousehold(
        household_id=household_id,
        members=list(members),
        monthly_income=Decimal(monthly_income),
        on=on,
    )


def allowance_stop(
    household_id: str, on: date, reason: wf.StopReason | str = wf.StopReason.MOVED_AWAY
) -> wf.StopAllowance:
    """The office stops a household's 低保 from a day."""
    return wf.StopAllowance(household_id=household_id, on=on, reason=wf.StopReason(reason))


def support_application(
    citizen_id: str,
    region: str,
    applied_on: date,
    *,
    rural: bool = True,
    self_care: wf.SelfCare | str = wf.SelfCare.PARTIAL,
) -> wf.ApplyForSupport:
    """An application for extreme-poverty support (特困) of a person who meets the three "no"s:
    unable to work, without income, without anybody obliged to support them."""
    return wf.ApplyForSupport(
        citizen_id=citizen_id,
        region=region,
        residence=wf.Residence.RURAL if rural else wf.Residence.URBAN,
        unable_to_work=True,
        no_income=True,
        no_supporter=True,
        self_care=wf.SelfCare(self_care),
        applied_on=applied_on,
    )


def unemployed_registration(citizen_id: str, region: str, on: date) -> u.RegisterUnemployed:
    """The job centre registers a person as unemployed (失业登记) in its region."""
    return u.RegisterUnemployed(citizen_id=citizen_id, region=region, registered_on=on)
