"""A payer's ledger: what is due per period, what the bureau reported paid, arrears and credit.

The same rules serve an employer (one ledger per employer) and a person paying alone (a ledger
inside the person's file):
- issuing an assessment applies the held credit first; what remains is the amount due;
- payments add up; once they reach the amount due the period is settled (and only then its
  months are credited); the excess over the amount due is held as a credit;
- a payment short of the amount due books arrears and credits nothing: there is no rule for
  crediting part of an assessment;
- a period still unpaid at the next close of its region is booked as arrears too;
- a collection id seen again with the same amount is a resend and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Generic, Literal, Self, TypeVar

from shebao_common.domain import Refused, StateModel
from shebao_contracts.contributions import PaymentOutcome, Rejection

from . import periods
from .rates import ZERO

Status = Literal["open", "arrears", "settled"]


class Due(StateModel):
    period: str
    assessment_id: str
    revision: int = 1
    region: str
    bureau: str
    total: Decimal
    credit_applied: Decimal = ZERO
    paid: Decimal = ZERO
    status: Status = "open"
    collections: dict[str, Decimal] = {}

    @property
    def amount_due(self) -> Decimal:
        return self.total - self.credit_applied

    @property
    def arrears(self) -> Decimal:
        """What is overdue: nothing while the period is open (not yet due) or settled."""
        return max(self.amount_due - self.paid, ZERO) if self.status == "arrears" else ZERO

    @property
    def settled(self) -> bool:
        return self.status == "settled"


class Payment(StateModel):
    collection_id: str
    period: str
    amount: Decimal
    outcome: PaymentOutcome
    bureau: str
    booked_on: date


class Ledger(StateModel):
    dues: dict[str, Due] = {}
    credit: Decimal = ZERO
    """Overpayments held, applied to the next assessment."""
    payments: tuple[Payment, ...] = ()

    def due(self, period: str) -> Due | None:
        return self.dues.get(period)

    def with_due(self, due: Due) -> Self:
        """The due of its period replaced; dues kept in period order (whatever order the
        subscriptions that issue and book them decided in)."""
        return self.model_copy(
            update={"dues": dict(sorted({**self.dues, due.period: due}.items()))}
        )

    @property
    def arrears(self) -> Decimal:
        return sum((d.arrears for d in self.dues.values()), ZERO)


L = TypeVar("L", bound=Ledger)
"""A person's ledger, or an employer's (`EmployerLedger`): each rule keeps the kind it got."""


def issue(
    ledger: L,
    period: str,
    assessment_id: str,
    region: str,
    bureau: str,
    total: Decimal,
    *,
    applied: Decimal | None = None,
    revision: int = 1,
) -> tuple[L, Due]:
    """Book a new assessment, applying the held credit first.

    `applied` is the credit applied as published, for a rebuild: then the held credit at the
    time of folding (which depends on the order payments and assessments are read back) is not
    consulted, only reduced by it."""
    if applied is None:
        applied = min(ledger.credit, total)
    due = Due(
        period=period,
        assessment_id=assessment_id,
        revision=revision,
        region=region,
        bureau=bureau,
        total=total,
        credit_applied=applied,
    )
    if due.amount_due == ZERO:
        due = due.model_copy(update={"status": "settled"})
    return ledger.model_copy(update={"credit": ledger.credit - applied}).with_due(due), due


def revise(
    ledger: L,
    period: str,
    total: Decimal,
    *,
    applied: Decimal | None = None,
    revision: int | None = None,
) -> tuple[L, Due]:
    """A corrected assessment before any collection: the credit is applied afresh (`applied`
    and `revision` as published, for a rebuild: see `issue`)."""
    old = ledger.dues[period]
    if old.paid != ZERO or old.collections or old.settled:
        raise Refused(
            Rejection.ASSESSMENT_IN_COLLECTION,
            f"{old.assessment_id} is {'settled' if old.settled else 'in collection'}; "
            "a correction now needs a supplementary assessment",
        )
    pool = ledger.credit + old.credit_applied
    if applied is None:
        applied = min(pool, total)
    due = old.model_copy(
        update={
            "revision": old.revision + 1 if revision is None else revision,
            "total": total,
            "credit_applied": applied,
            "status": "settled" if total == applied else old.status,
        }
    )
    return ledger.model_copy(update={"credit": pool - applied}).with_due(due), due


@dataclass
class Booking(Generic[L]):
    """What a collection did to a period."""

    ledger: L
    due: Due
    outcome: PaymentOutcome | None
    """None: a resend of a collection already booked (nothing changed)."""
    newly_settled: bool = False
    arrears_cleared: bool = False
    excess: Decimal = ZERO
    payment: Payment | None = None
    notes: list[str] = field(default_factory=list)


def book(
    ledger: L,
    period: str,
    collection_id: str,
    amount: Decimal,
    bureau: str,
    booked_on: date,
) -> Booking[L]:
    """Book a bureau's collection for a period (the bureau was checked by the caller)."""
    due = ledger.dues[period]
    seen = due.collections.get(collection_id)
    if seen is not None:
        if seen == amount:
            return Booking(ledger, due, None)
        raise Refused(
            Rejection.COLLECTION_ID_CONFLICT,
            f"collection {collection_id} was booked with {seen}, now reported with {amount}",
        )
    was_settled, was_arrears = due.settled, due.status == "arrears"
    paid = due.paid + amount
    collections = dict(sorted({**due.collections, collection_id: amount}.items()))
    credit = ledger.credit
    excess = ZERO
    if was_settled:
        excess = amount
        status: Status = "settled"
    elif paid >= due.amount_due:
        excess = paid - due.amount_due
        status = "settled"
    else:
        status = "arrears"
    credit += excess
    if status == "arrears":
        outcome = PaymentOutcome.UNDERPAID
    elif excess > ZERO:
        outcome = PaymentOutcome.OVERPAID
    else:
        outcome = PaymentOutcome.SETTLED
    due = due.model_copy(update={"paid": paid, "status": status, "collections": collections})
    payment = Payment(
        collection_id=collection_id,
        period=period,
        amount=amount,
        outcome=outcome,
        bureau=bureau,
        booked_on=booked_on,
    )
    # in the order of their days (then ids), not of arrival: a person's own payment and the
    # government's for him are booked by two subscriptions, in either order
    payments = tuple(
        sorted((*ledger.payments, payment), key=lambda x: (x.booked_on, x.collection_id))
    )
    new = ledger.model_copy(update={"credit": credit, "payments": payments})
    return Booking(
        ledger=new.with_due(due),
        due=due,
        outcome=outcome,
        newly_settled=status == "settled" and not was_settled,
        arrears_cleared=was_arrears and status == "settled",
        excess=excess,
        payment=payment,
    )


def issued(
    ledger: L,
    period: str,
    assessment_id: str,
    revision: int,
    region: str,
    bureau: str,
    total: Decimal,
    applied: Decimal,
) -> L:
    """A rebuild: the ledger after an assessment as published (`AssessmentIssued`), whatever
    order its revisions are read back in (each relay publishes its own subscription's events):
    a revision no later than the one held changes nothing (a later one replaced it)."""
    held = ledger.due(period)
    if held is None:
        ledger, _ = issue(
            ledger,
            period,
            assessment_id,
            region,
            bureau,
            total,
            applied=applied,
            revision=revision,
        )
    elif held.revision < revision:
        ledger, _ = revise(ledger, period, total, applied=applied, revision=revision)
    return ledger


def overdue(ledger: L, period: str) -> tuple[L, Due | None]:
    """At the close after a period: an assessment nobody paid becomes arrears (returned)."""
    due = ledger.dues.get(period)
    if due is None or due.status != "open":
        return ledger, None
    due = due.model_copy(update={"status": "arrears"})
    return ledger.with_due(due), due


def unsettled_streak(ledger: Ledger, through: str) -> int:
    """How many consecutive monthly periods ending at `through` are assessed and not settled."""
    n = 0
    m = through
    while True:
        due = ledger.dues.get(m)
        if due is None or due.settled:
            return n
        n += 1
        m = periods.shift(m, -1)
