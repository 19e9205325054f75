"""What enrollment publishes about made-up people, for a consumer fed without enrollment."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from shebao_contracts import enrollment as ce


def employee_memberships(
    person: str,
    employer: str,
    region: str,
    since: date,
    wage: Decimal,
    *,
    risk_class: int,
    birth_date: date,
    sex: ce.Sex | str,
) -> list[ce.MembershipStarted]:
    """The five memberships an employment starts (pension, medical, unemployment, work injury,
    maternity), based on the wage; the risk class goes to work injury only."""
    return [
        ce.MembershipStarted(
            person=person,
            scheme=scheme,
            insurance=scheme.insurance,
            region=region,
            since=since,
            first_enrolled=since,
            basis=ce.Basis.EMPLOYMENT,
            employer=employer,
            declared_base=wage,
            risk_class=risk_class if scheme == ce.Scheme.WORK_INJURY else None,
            birth_date=birth_date,
            sex=sex,
        )
        for scheme in ce.EMPLOYEE_SCHEMES
    ]


def medical_membership(
    person: str,
    scheme: ce.Scheme | str,
    region: str,
    since: date,
    *,
    birth_date: date,
    sex: ce.Sex | str,
) -> ce.MembershipStarted:
    """Medical cover (employees' or residents' scheme) since a day, all a claim's patient needs."""
    return ce.MembershipStarted(
        person=person,
        scheme=scheme,
        insurance=ce.Insurance.MEDICAL,
        region=region,
        since=since,
        first_enrolled=since,
        basis=ce.Basis.EMPLOYMENT,
        birth_date=birth_date,
        sex=sex,
    )
