"""What a hospital sends: claim lines and claims as the JSON it writes, cancellations, and the
scheduler's registration of a hospital."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from shebao_contracts import medical as m
from shebao_contracts.types import money

CATEGORIES = ("class_a_drug", "class_b_drug", "treatment", "material", "outside_scope")
"""The item categories a claim line may have."""

Line = dict[str, str]
"""A claim line as JSON: item_code, category, quantity, unit_price, amount."""


def claim_line(category: str, amount: str, qty: str = "1", *, item_code: str | None = None) -> Line:
    """A line of `qty` items costing `amount` in all (unit price rounded half up to the fen);
    its item code is `IT-<category>` unless given."""
    return {
        "item_code": item_code if item_code is not None else f"IT-{category}",
        "category": category,
        "quantity": qty,
        "unit_price": str(money(Decimal(amount) / Decimal(qty))),
        "amount": amount,
    }


def example_lines(*, item_code: str | None = None) -> list[Line]:
    """The worked example of a stay: 6,745.00 submitted, of which 900.00 outside the scope and
    1,720.00 of class-B drugs (an employee at a tertiary hospital: fund 3,898.40)."""
    return [
        claim_line("class_a_drug", "125.00", "10", item_code=item_code),
        claim_line("class_b_drug", "1720.00", "2", item_code=item_code),
        claim_line("treatment", "1600.00", "5", item_code=item_code),
        claim_line("material", "2400.00", item_code=item_code),
        claim_line("outside_scope", "900.00", "6", item_code=item_code),
    ]


def random_lines(rng: random.Random) -> list[Line]:
    """Three to six lines of random items, quantities and prices (drawn from `rng` in a fixed
    order, so one seed gives the same claims)."""
    lines = []
    for _ in range(rng.randint(3, 6)):
        qty = rng.randint(1, 10)
        unit = Decimal(rng.randint(100, 300_000)) / 100
        lines.append(
            {
                "item_code": f"X{rng.randrange(10**9):09d}",
                "category": rng.choice(CATEGORIES),
                "quantity": str(qty),
                "unit_price": f"{unit:.2f}",
                "amount": f"{unit * qty:.2f}",
            }
        )
    return lines


def _day(value: date | str) -> str:
    return value.isoformat() if isinstance(value, date) else value


def claim_body(
    hospital: str,
    claim_id: str,
    patient: str,
    lines: Sequence[Line],
    *,
    visit: str = "inpatient",
    admitted: date | str = "2025-01-08",
    discharged: date | str | None = "2025-01-15",
    diagnosis: str = "J18.9",
    total: str | None = None,
) -> dict[str, Any]:
    """A claim as the hospital's JSON (`ClaimSubmitted`): an outpatient visit has no discharge
    date; the total is the sum of the lines unless given. The lines are copied, so that a
    caller may spoil the body without touching them."""
    return {
        "hospital": hospital,
        "claim_id": claim_id,
        "patient_citizen_id": patient,
        "visit_type": visit,
        "admission_date": _day(admitted),
        "discharge_date": _day(discharged) if visit == "inpatient" and discharged else None,
        "diagnosis_code": diagnosis,
        "lines": [dict(x) for x in lines],
        "total": total if total is not None else str(sum(Decimal(x["amount"]) for x in lines)),
    }


def random_claim(
    rng: random.Random,
    hospital: str,
    claim_id: str,
    patient: str,
    *,
    visit: str = "inpatient",
    admitted: date | str = "2025-01-08",
    discharged: date | str | None = "2025-01-15",
) -> dict[str, Any]:
    """A claim of three to six random lines (`random_lines`) as the hospital's JSON."""
    lines = random_lines(rng)
    return claim_body(
        hospital, claim_id, patient, lines, visit=visit, admitted=admitted, discharged=discharged
    )


def random_claims(
    rng: random.Random,
    claim_ids: Iterable[str],
    hospitals: Sequence[str],
    patient: Callable[[int], str],
    *,
    visit: str = "inpatient",
    admitted: date | str = "2025-01-08",
    discharged: date | str | None = "2025-01-15",
) -> Iterator[dict[str, Any]]:
    """A `random_claim` per id, the hospitals taking turns: the i-th claim is sent by
    hospitals[i % len(hospitals)] for the patient `patient(i)`. A patient drawn from `rng` is
    drawn before the claim's lines, so one seed gives the same claims for the same patients."""
    for i, claim_id in enumerate(claim_ids):
        who = patient(i)
        yield random_claim(
            rng,
            hospitals[i % len(hospitals)],
            claim_id,
            who,
            visit=visit,
            admitted=admitted,
            discharged=discharged,
        )


def cancellation_body(
    hospital: str, claim_id: str, patient: str, reason: str | None = None
) -> dict[str, str]:
    """A claim's cancellation as the hospital's JSON (`ClaimCancellation`)."""
    body = {"hospital": hospital, "claim_id": claim_id, "patient_citizen_id": patient}
    if reason is not None:
        body["reason"] = reason
    return body


def hospital_registration(
    code: str,
    level: m.HospitalLevel | str,
    region: str,
    *,
    name: str | None = None,
    designated_from: date = date(2015, 1, 1),
) -> m.RegisterHospital:
    """The scheduler's registration of a designated hospital (named by its code unless given)."""
    return m.RegisterHospital(
        hospital=code,
        name=name if name is not None else code,
        level=m.HospitalLevel(level),
        region=region,
        designated_from=designated_from,
    )
