"""What the bureaus report: a tax bureau the collections it made, a statistics bureau its price
index.

The one place that spells a bureau's report: when the contract changes how a report names
what was collected or released, the builders here change and their callers follow."""

from __future__ import annotations

from decimal import Decimal

from shebao_contracts import contributions as cc
from shebao_contracts import unemployment as u


def employer_collected(
    collection_id: str, employer: str, month: str, amount: Decimal
) -> cc.EmployerContributionsCollected:
    """The bureau collected `amount` from an employer for a month."""
    return cc.EmployerContributionsCollected(
        collection_id=collection_id, employer=employer, month=month, amount=amount
    )


def collection_body(collection_id: str, employer: str, month: str, amount: str) -> dict[str, str]:
    """The same report as the bureau's JSON, to send as it is or to spoil."""
    return {"collection_id": collection_id, "employer": employer, "month": month, "amount": amount}


def person_collected(
    collection_id: str, citizen_id: str, period: str, amount: Decimal
) -> cc.PersonContributionsCollected:
    """The bureau collected `amount` from a person it names by citizen ID: a flexible worker's
    month (`2025-03`) or a resident's year (`2025`)."""
    return cc.PersonContributionsCollected(
        collection_id=collection_id, citizen_id=citizen_id, period=period, amount=amount
    )


def cpi_release(region: str, month: str, cpi_yoy: str, food_cpi_yoy: str) -> u.CpiReleased:
    """The statistics bureau's release of a region's consumer price index for a month and its
    food part, each a year-on-year change in percent as the bureau writes it ("3.2", "-0.5")."""
    return u.CpiReleased(region=region, month=month, cpi_yoy=cpi_yoy, food_cpi_yoy=food_cpi_yoy)
