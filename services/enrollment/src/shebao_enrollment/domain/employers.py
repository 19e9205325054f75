"""Employers: registration, before an employer can employ anyone."""

from __future__ import annotations

from shebao_common.domain import Effects, Refused
from shebao_contracts import enrollment as c

from .model import Employer

R = c.Rejection


def register_employer(
    existing: Employer | None, cmd: c.RegisterEmployer
) -> tuple[Employer, Effects]:
    if existing is not None:
        raise Refused(R.EMPLOYER_ALREADY_REGISTERED, f"employer {cmd.employer} exists")
    event = c.EmployerRegistered(
        employer=cmd.employer,
        name=cmd.name,
        region=cmd.region,
        ownership=cmd.ownership,
        risk_class=cmd.risk_class,
        registered_on=cmd.registered_on,
    )
    return registered(event), Effects().emit(c.EVENTS, event.employer, event)


def registered(ev: c.EmployerRegistered) -> Employer:
    """The employer a registration creates: deciding, and folding the published event."""
    return Employer(
        code=ev.employer,
        name=ev.name,
        region=ev.region,
        ownership=ev.ownership,
        risk_class=ev.risk_class,
        registered_on=ev.registered_on,
    )
