"""What a tax bureau reports back: the collections it made.

The one place that spells a bureau's report: when the contract changes how a report names
what was collected, the builders here change and their callers follow."""

from __future__ import annotations

from decimal import Decimal

from shebao_contracts import contributions as cc


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
