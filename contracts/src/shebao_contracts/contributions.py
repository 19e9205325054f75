"""Contributions: what is owed, what was paid and what it bought.

The service follows `shebao.enrollment.events.v1` to know every obligation, takes wage
declarations and the scheduler's period-close commands on `shebao.contributions.commands.v1`,
tells each region's tax bureau what is due on `partner.tax.<code>.assessments.v1` and books what
the bureau reports on `partner.tax.<code>.collections.v1`. What happened goes out on
`shebao.contributions.events.v1`, keyed by the person reference or the employer code.

A tax bureau knows people by their citizen ID, not by the platform's person reference, which it
cannot resolve: on the bureau's own topics (`partner.tax.<code>.*`) a person is named by
`citizen_id`, and the service maps it to and from the reference at that boundary (the reference
is the keyed pseudonym of the ID, as for hospitals; the way back is the ID enrollment sealed for
this service). Every other topic names the person by reference only.

Periods are months `YYYY-MM` (employers, flexible workers) or years `YYYY` (residents, who
contribute yearly). A period's contribution is due by the next period close of its region: an
assessment still unpaid then is booked as arrears.

`shebao.contributions.work.v1` is private to the service: the fan-out of a period close (one
record per directory shard, employer and person) and of a collection (one credit per person), so
no single handler touches thousands of state keys. Only the contributions service writes or reads
it; its messages are published here so that the log stays readable. It also records decisions
the events leave out (an assessment's person lines, a person's judgement), which no handler
reads live: a rebuild of the service folds them.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from . import enrollment
from .audit import audit_topic
from .envelope import Message
from .topics import Direction, ServiceContract, Topic
from .types import (
    CitizenId,
    EmployerCode,
    Money,
    NoControlCharacters,
    NonNegativeMoney,
    NotACitizenId,
    PartnerCode,
    PersonRef,
    PositiveMoney,
    RegionCode,
    SealedCitizenId,
)

SERVICE = "contributions"

Month = Annotated[
    str,
    StringConstraints(pattern=r"^[12][0-9]{3}-(0[1-9]|1[0-2])$"),
    Field(description="A contribution month, YYYY-MM", examples=["2025-03"]),
]
Period = Annotated[
    str,
    StringConstraints(pattern=r"^[12][0-9]{3}(-(0[1-9]|1[0-2]))?$"),
    Field(
        description="A contribution period: a month YYYY-MM, or a year YYYY for yearly payers",
        examples=["2025-03", "2025"],
    ),
]
CollectionId = Annotated[
    str,
    Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$"),
    NoControlCharacters,
    NotACitizenId,
]

Insurance = enrollment.Insurance


class Rejection(StrEnum):
    """Why the service refused a command or a bureau's report. The runtime adds malformed_json,
    schema_violation, the money_* reasons and id_conflict for records it cannot read."""

    # collections from a tax bureau
    UNKNOWN_ASSESSMENT = "unknown_assessment"
    WRONG_BUREAU = "wrong_bureau"
    COLLECTION_ID_CONFLICT = "collection_id_conflict"
    BREAKDOWN_MISMATCH = "breakdown_mismatch"
    # both: a wage month not started, a month to close not ended or a collected period not
    # started on the day of the record's ce_time (China Standard Time)
    SERVICE_DATE_IN_FUTURE = "service_date_in_future"
    # commands
    EMPLOYER_NOT_REGISTERED = "employer_not_registered"
    PERSON_NOT_EMPLOYED = "person_not_employed"
    ASSESSMENT_IN_COLLECTION = "assessment_in_collection"
    PERIOD_ALREADY_CLOSED = "period_already_closed"
    PERIOD_OUT_OF_ORDER = "period_out_of_order"
    NO_TAX_BUREAU = "no_tax_bureau"
    PERSON_NOT_KNOWN = "person_not_known"
    NOT_INTERRUPTED = "not_interrupted"
    ADVANCE_ID_IN_USE = "advance_id_in_use"
    NOTHING_TO_ADVANCE = "nothing_to_advance"
    # a command keyed otherwise than its contract says, where the state is partitioned
    COMMAND_KEY_MISMATCH = "command_key_mismatch"


class PayerKind(StrEnum):
    EMPLOYER = "employer"
    PERSON = "person"


class PaymentOutcome(StrEnum):
    SETTLED = "settled"
    """The amount due is paid in full: the persons' months are credited."""
    UNDERPAID = "underpaid"
    """Less than due: arrears are booked, nothing is credited."""
    OVERPAID = "overpaid"
    """More than due: the period is settled and the excess is held as a credit."""


class ClosedBy(StrEnum):
    ARREARS_PAID = "arrears_paid"
    RESUMED = "resumed"
    ADVANCED = "advanced"


_EMPLOYER = "91320100MA1XXXXX0Y"
_REF = "9f2c4e0b7a1d3c5e8f6a0b2d4c6e8a1f"
_REF2 = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
_CITIZEN = "11010519491231002X"
_SEALED = "v1.yISbZO1eAkKbiGdegO7dES8eihlaBaVJLpMM_qtVDuyFBA"


class Part(BaseModel):
    """A part of a message (a line, an amount): immutable, unknown fields ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore")


# --------------------------------------------------------------------------------------------
# Commands


class WageLine(Part):
    """One person's monthly wage in a declaration."""

    person: PersonRef
    wage: NonNegativeMoney


class DeclareWages(Message):
    """An employer declares its employees' wages for a month (the contribution wage).

    A later declaration for the same employer and month supersedes the earlier one for every
    person it lists; persons it does not list keep their earlier line. Before the month is
    assessed this simply changes what will be assessed; after, while the bureau has reported no
    collection for it, the assessment is revised and re-issued; once collection has started the
    correction is refused (`assessment_in_collection`). A month without a declaration is assessed
    on each person's most recent wage. A month is declared from its first day (China Standard
    Time) of the record's ce_time, not before (`service_date_in_future`).
    """

    TYPE = "shebao.contributions.DeclareWages"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "employer": _EMPLOYER,
        "month": "2025-03",
        "wages": [{"person": _REF, "wage": "8500.00"}, {"person": _REF2, "wage": "6200.00"}],
    }
    employer: EmployerCode
    month: Month
    wages: Annotated[list[WageLine], Field(min_length=1, max_length=20_000)]


class ClosePeriod(Message):
    """The scheduler closes a month for a region: everything owed for it is assessed.

    A region's months close in order, each once; the close of a month is also what moves the
    region's clock (arrears and interruptions are judged at closes, never by the wall clock).
    A month closes once it is over: from the first day of the next (China Standard Time) of the
    record's ce_time, not before (`service_date_in_future`).
    """

    TYPE = "shebao.contributions.ClosePeriod"
    EXAMPLE: ClassVar[dict[str, Any]] = {"region": "320100", "month": "2025-03"}
    region: RegionCode
    month: Month


class AdvanceContributions(Message):
    """ "Advance now, recover later" (先垫付后回收): a fund pays an interrupted person's missing
    pension months now, so the person resumes; the amount is recorded as an advance to recover.

    It covers every uncredited month of the open interruption up to the last judged month, at
    the flexible-worker pension rate on the floor base (employee pension) or the lowest tier
    (resident pension, per uncredited year). A later regular payment of such a month recovers
    the advance for it.
    """

    TYPE = "shebao.contributions.AdvanceContributions"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "person": _REF,
        "advance_id": "ADV-320100-2025-0042",
        "funded_by": "320100-employment-assistance-fund",
    }
    person: PersonRef
    advance_id: CollectionId
    funded_by: Annotated[str, Field(min_length=1, max_length=100)]


# --------------------------------------------------------------------------------------------
# Tax bureau: collections in, assessments and rejections out


class PersonAmount(Part):
    """One person's share of a collection, when the bureau reports one."""

    citizen_id: CitizenId
    amount: NonNegativeMoney


class EmployerContributionsCollected(Message):
    """The bureau collected an employer's contributions for a month.

    `collection_id` is the bureau's own id for the payment: reporting the same id again is
    harmless, reusing it with another amount is refused. Payments add up: the month is settled
    (its persons credited) once what was paid reaches the amount due. `persons`, when given,
    must add up to `amount` and name only assessed persons; it is checked, but there is no rule
    for crediting part of an assessment, so an underpayment credits nobody. A month that
    begins after the day (China Standard Time) of the report's ce_time is refused
    (`service_date_in_future`) before any assessment is looked up.
    """

    TYPE = "shebao.contributions.EmployerContributionsCollected"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "collection_id": "SWJ-320100-20250415-000123",
        "employer": _EMPLOYER,
        "month": "2025-03",
        "amount": "4301.25",
    }
    collection_id: CollectionId
    employer: EmployerCode
    month: Month
    amount: PositiveMoney
    persons: list[PersonAmount] | None = None


class PersonContributionsCollected(Message):
    """The bureau collected a flexible worker's month or a resident's year from the person, whom
    it names by citizen ID (the ID the person's assessment named).

    A period that begins after the day (China Standard Time) of the report's ce_time is refused
    (`service_date_in_future`); a year is collected during the year, from its first day.
    """

    TYPE = "shebao.contributions.PersonContributionsCollected"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "collection_id": "SWJ-320100-20250410-004711",
        "citizen_id": _CITIZEN,
        "period": "2025",
        "amount": "820.00",
    }
    collection_id: CollectionId
    citizen_id: CitizenId
    period: Period
    amount: PositiveMoney


class InsuranceAmounts(Part):
    """What one insurance contributes to an assessment or a credit."""

    insurance: Insurance
    employer_part: Money
    employee_part: Money


class _Line(Part):
    base: Money = Field(description="the wage clamped to 60%-300% of the regional average wage")
    employer_part: Money
    employee_part: Money


class PersonAssessment(_Line):
    """One person's line of an employer's assessment."""

    person: PersonRef


class TaxPersonAssessment(_Line):
    """One person's line of an employer's assessment, to the bureau: the person by citizen ID."""

    citizen_id: CitizenId


class _Assessment(Message):
    assessment_id: str
    revision: Annotated[int, Field(ge=1)]
    payer: PayerKind
    employer: EmployerCode | None = None
    region: RegionCode
    bureau: PartnerCode
    period: Period
    total: Money
    credit_applied: Money
    amount_due: Money
    by_insurance: list[InsuranceAmounts]
    person_count: int
    part: int = 1
    parts: int = 1


class AssessmentIssued(_Assessment):
    """What is due for a period, as an event (the bureau gets it as `TaxAssessmentIssued`).

    Issued at a period close; issued again with a higher `revision` when a wage correction
    changes it before collection started (the latest revision is the one to collect). An
    employer's overpayment credit is applied first: collect `amount_due`, not `total`. On the
    events topic the person lines are left out (`persons` is empty).
    """

    TYPE = "shebao.contributions.AssessmentIssued"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "assessment_id": f"E-{_EMPLOYER}-2025-03",
        "revision": 1,
        "payer": "employer",
        "employer": _EMPLOYER,
        "region": "320100",
        "bureau": "t320100",
        "period": "2025-03",
        "total": "4301.25",
        "credit_applied": "0.00",
        "amount_due": "4301.25",
        "by_insurance": [
            {"insurance": "pension", "employer_part": "1360.00", "employee_part": "680.00"},
            {"insurance": "medical", "employer_part": "680.00", "employee_part": "170.00"},
        ],
        "person_count": 1,
    }
    person: PersonRef | None = None
    persons: list[PersonAssessment] = Field(default_factory=list)
    insurances: list[CreditedInsurance] = Field(
        default_factory=list,
        description="a person's own assessment: each insurance's part, credited as it is once "
        "the period is paid (an employer's lines are kept on the work topic)",
    )


class TaxAssessmentIssued(_Assessment):
    """What the bureau is to collect for a period: an employer's month, a flexible worker's
    month or a resident's year.

    Issued at a period close; issued again with a higher `revision` when a wage correction
    changes it before collection started (the latest revision is the one to collect). An
    employer's overpayment credit is applied first: collect `amount_due`, not `total`. A person
    paying alone is named by `citizen_id`; an employer's person lines name each employee by
    citizen ID and travel in parts of at most 1,000 (`part` of `parts`), every part repeating
    the totals.
    """

    TYPE = "shebao.contributions.TaxAssessmentIssued"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "assessment_id": f"E-{_EMPLOYER}-2025-03",
        "revision": 1,
        "payer": "employer",
        "employer": _EMPLOYER,
        "region": "320100",
        "bureau": "t320100",
        "period": "2025-03",
        "total": "4301.25",
        "credit_applied": "0.00",
        "amount_due": "4301.25",
        "by_insurance": [
            {"insurance": "pension", "employer_part": "1360.00", "employee_part": "680.00"},
            {"insurance": "medical", "employer_part": "680.00", "employee_part": "170.00"},
        ],
        "persons": [
            {
                "citizen_id": _CITIZEN,
                "base": "8500.00",
                "employer_part": "2040.00",
                "employee_part": "850.00",
            }
        ],
        "person_count": 1,
        "part": 1,
        "parts": 1,
    }
    citizen_id: CitizenId | None = None
    persons: list[TaxPersonAssessment] = Field(default_factory=list)


class _CollectionRejected(Message):
    bureau: PartnerCode
    reason: str
    detail: str = ""
    collection_id: str | None = None
    employer: EmployerCode | None = None
    period: str | None = None
    partition: int
    offset: int


class CollectionRejected(_CollectionRejected):
    """A bureau's collection record was refused (the event; the bureau is answered with a
    `TaxCollectionRejected`), with a reason code (a `Rejection` value or a runtime reason such as
    malformed_json or schema_violation). `partition` and `offset` name the record on the bureau's
    collections topic; the record key is the collection id when known."""

    TYPE = "shebao.contributions.CollectionRejected"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "bureau": "t320100",
        "reason": "unknown_assessment",
        "detail": f"no assessment for {_EMPLOYER} in 2031-01",
        "collection_id": "SWJ-320100-20250415-000999",
        "employer": _EMPLOYER,
        "period": "2031-01",
        "partition": 3,
        "offset": 1042,
    }
    person: PersonRef | None = None


class TaxCollectionRejected(_CollectionRejected):
    """The answer to a collection report the platform refused, with a reason code (a `Rejection`
    value or a runtime reason such as malformed_json or schema_violation; each is listed with
    what to do in TAX_BUREAUS.md). `partition` and `offset` name the refused record on the
    bureau's collections topic; the record key is the collection id when it could be read. A
    person's report is answered with the citizen ID it named."""

    TYPE = "shebao.contributions.TaxCollectionRejected"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "bureau": "t320100",
        "reason": "unknown_assessment",
        "detail": "no assessment for the person in 2031-01",
        "collection_id": "SWJ-320100-20250415-000999",
        "citizen_id": _CITIZEN,
        "period": "2031-01",
        "partition": 3,
        "offset": 1042,
    }
    citizen_id: CitizenId | None = None


# --------------------------------------------------------------------------------------------
# Events


class PeriodClosed(Message):
    """A region's month was closed; its assessments follow."""

    TYPE = "shebao.contributions.PeriodClosed"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "region": "320100",
        "month": "2025-03",
        "bureau": "t320100",
    }
    region: RegionCode
    month: Month
    bureau: PartnerCode


class WagesDeclared(Message):
    """An employer's wage declaration was recorded; `corrected` lists superseded lines."""

    TYPE = "shebao.contributions.WagesDeclared"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "employer": _EMPLOYER,
        "month": "2025-03",
        "declared": 2,
        "corrected": [_REF],
        "wages": [{"person": _REF, "wage": "9200.00"}, {"person": _REF2, "wage": "6100.00"}],
    }
    employer: EmployerCode
    month: Month
    declared: int
    corrected: list[PersonRef] = Field(default_factory=list)
    wages: list[WageLine] = Field(
        default_factory=list,
        description="the lines as declared (the sheet of the month is every declaration's lines, "
        "the later superseding the earlier)",
    )


class _PaymentBooked(Message):
    assessment_id: str
    payer: PayerKind
    employer: EmployerCode | None = None
    period: Period
    bureau: PartnerCode
    collection_id: str
    amount: Money
    paid_total: Money
    amount_due: Money
    outcome: PaymentOutcome


class PaymentBooked(_PaymentBooked):
    """A collection was booked against an assessment (the event; the bureau that reported it is
    answered with a `TaxPaymentBooked`)."""

    TYPE = "shebao.contributions.PaymentBooked"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "assessment_id": f"E-{_EMPLOYER}-2025-03",
        "payer": "employer",
        "employer": _EMPLOYER,
        "period": "2025-03",
        "bureau": "t320100",
        "collection_id": "SWJ-320100-20250415-000123",
        "amount": "4301.25",
        "paid_total": "4301.25",
        "amount_due": "4301.25",
        "outcome": "settled",
    }
    person: PersonRef | None = None


class TaxPaymentBooked(_PaymentBooked):
    """The answer to a collection report the platform booked (keyed by the collection id): what
    the payer has paid in all for the period, and whether that settles it. A person is named by
    the citizen ID the report gave."""

    TYPE = "shebao.contributions.TaxPaymentBooked"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "assessment_id": "P-9f2c4e0b7a1d3c5e8f6a0b2d4c6e8a1f-2025",
        "payer": "person",
        "citizen_id": _CITIZEN,
        "period": "2025",
        "bureau": "t320100",
        "collection_id": "SWJ-320100-20250410-004711",
        "amount": "820.00",
        "paid_total": "820.00",
        "amount_due": "820.00",
        "outcome": "settled",
    }
    citizen_id: CitizenId | None = None


class ArrearsBooked(Message):
    """A period is not paid in full by its due date (the next close), or a payment fell short:
    nothing of it is credited until the arrears are paid."""

    TYPE = "shebao.contributions.ArrearsBooked"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "payer": "employer",
        "employer": _EMPLOYER,
        "period": "2025-03",
        "amount_due": "4301.25",
        "paid": "4000.00",
        "arrears": "301.25",
    }
    payer: PayerKind
    employer: EmployerCode | None = None
    person: PersonRef | None = None
    period: Period
    amount_due: Money
    paid: Money
    arrears: Money


class ArrearsCleared(Message):
    """Arrears of a period were paid: the period is settled and credited."""

    TYPE = "shebao.contributions.ArrearsCleared"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "payer": "employer",
        "employer": _EMPLOYER,
        "period": "2025-03",
        "paid": "4301.25",
    }
    payer: PayerKind
    employer: EmployerCode | None = None
    person: PersonRef | None = None
    period: Period
    paid: Money


class OverpaymentHeld(Message):
    """More than due was paid: the excess is held as a credit against the next assessment."""

    TYPE = "shebao.contributions.OverpaymentHeld"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "payer": "employer",
        "employer": _EMPLOYER,
        "period": "2025-03",
        "excess": "98.75",
        "credit_balance": "98.75",
    }
    payer: PayerKind
    employer: EmployerCode | None = None
    person: PersonRef | None = None
    period: Period
    excess: Money
    credit_balance: Money


class CreditedInsurance(Part):
    """One insurance's part of a credited contribution."""

    insurance: Insurance
    scheme: enrollment.Scheme
    base: Money
    employer_part: Money
    employee_part: Money
    subsidy: Money = Field(
        Decimal("0.00"),
        description="government subsidy and incentives (resident pension), and what the region"
        " pays on a land-expropriated farmer's behalf",
    )
    into_account: Money
    account_balance_after: Money | None = Field(
        None, description="the personal account after this credit (pension, medical)"
    )


class ContributionCredited(Message):
    """A person's contribution for a period was credited: months counted, accounts credited."""

    TYPE = "shebao.contributions.ContributionCredited"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "person": _REF,
        "period": "2025-03",
        "months": 1,
        "source": "employer",
        "employer": _EMPLOYER,
        "assessment_id": f"E-{_EMPLOYER}-2025-03",
        "insurances": [
            {
                "insurance": "pension",
                "scheme": "employee_pension",
                "base": "8500.00",
                "employer_part": "1360.00",
                "employee_part": "680.00",
                "subsidy": "0.00",
                "into_account": "680.00",
                "account_balance_after": "20400.00",
            }
        ],
    }
    person: PersonRef
    period: Period
    months: int = Field(description="contribution months this credit counts (12 for a year)")
    source: Literal["employer", "person", "advance", "unemployment_fund"] = Field(
        description="who paid: an employer, the person, a fund's advance (先垫付), or the"
        " unemployment fund (the medical month of a person on unemployment benefit)"
    )
    employer: EmployerCode | None = None
    assessment_id: str | None = None
    insurances: list[CreditedInsurance]
    region: RegionCode | None = Field(
        None, description="the region whose parameters counted it (the bases since 1998)"
    )


class PaidOnBehalfRecorded(Message):
    """The government's payment of a year's lowest resident-pension tier for a person was
    recorded: booked against the year's assessment now, or when the year is assessed."""

    TYPE = "shebao.contributions.PaidOnBehalfRecorded"
    EXAMPLE: ClassVar[dict[str, Any]] = {"person": _REF, "year": 2025, "amount": "200.00"}
    person: PersonRef
    year: Annotated[int, Field(ge=1900, le=2999)]
    amount: Money


class InterruptionOpened(Message):
    """断保: an enrolled person has had no credited month for the threshold number of months."""

    TYPE = "shebao.contributions.InterruptionOpened"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "person": _REF,
        "region": "320100",
        "since": "2025-01",
        "judged_through": "2025-03",
        "months_uncredited": 3,
    }
    person: PersonRef
    region: RegionCode
    since: Month = Field(description="the first uncredited month")
    judged_through: Month = Field(description="the last month whose payment window has closed")
    months_uncredited: int


class InterruptionClosed(Message):
    """The interruption ended: arrears paid, contributions resumed, or an advance paid."""

    TYPE = "shebao.contributions.InterruptionClosed"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "person": _REF,
        "region": "320100",
        "since": "2025-01",
        "closed_by": "arrears_paid",
        "credited": "2025-01",
    }
    person: PersonRef
    region: RegionCode
    since: Month
    closed_by: ClosedBy
    credited: Period = Field(description="the credit that closed it")


class AdvancedPeriod(Part):
    """One period a fund advanced: its amount, and the pension part credited for it."""

    period: Period
    amount: Money
    part: CreditedInsurance


class ContributionsAdvanced(Message):
    """A fund advanced an interrupted person's missing pension months; to be recovered."""

    TYPE = "shebao.contributions.ContributionsAdvanced"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "person": _REF,
        "advance_id": "ADV-320100-2025-0042",
        "funded_by": "320100-employment-assistance-fund",
        "periods": ["2025-01", "2025-02", "2025-03"],
        "amount": "2520.00",
        "outstanding": "2520.00",
    }
    person: PersonRef
    advance_id: str
    funded_by: str
    periods: list[Period]
    amount: Money
    outstanding: Money
    advanced: list[AdvancedPeriod] = Field(
        default_factory=list,
        description="each period's advance: what it costs the fund and the pension part it counts",
    )


class AdvanceRecovered(Message):
    """A regular payment arrived for an advanced period: the advance for it is recovered.

    The period was credited by the advance and is not credited again (no ContributionCredited
    counts its pension months a second time). It now counts on the regular contribution instead
    of the advance's: `into_account` is what that adds to the personal account.
    """

    TYPE = "shebao.contributions.AdvanceRecovered"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "person": _REF,
        "period": "2025-01",
        "amount": "840.00",
        "outstanding": "1680.00",
        "into_account": "96.00",
        "account_balance_after": "20496.00",
    }
    person: PersonRef
    period: Period
    amount: Money = Field(description="the advance recovered for the period")
    outstanding: Money = Field(description="what the person's advances still owe after this")
    into_account: Money = Field(
        Decimal("0.00"),
        description="the period's regular credit less the advance's, into the pension account",
    )
    account_balance_after: Money | None = Field(None, description="the pension account after it")
    base: Money | None = Field(
        None,
        description="what the regular contribution adds to the employee pension bases since 1998 "
        "(its base less the advance's, for a period from 1998)",
    )


class TransferAmountComputed(Message):
    """What moves with a transfer-out: the whole personal account, and for employee pension a
    pooled-fund share of the contribution bases since 1998 (12%, a parameter)."""

    TYPE = "shebao.contributions.TransferAmountComputed"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "person": _REF,
        "transfer_id": "TR-2025-000123",
        "from_region": "320100",
        "to_region": "320500",
        "on": "2025-07-01",
        "pension_account": "20400.00",
        "bases_since_1998": "255000.00",
        "pooled_share": "30600.00",
        "medical_account": "3000.00",
        "total": "54000.00",
    }
    person: PersonRef
    transfer_id: str
    from_region: RegionCode
    to_region: RegionCode
    on: date
    pension_account: Money
    bases_since_1998: Money
    pooled_share: Money
    medical_account: Money
    total: Money


class CommandRejected(Message):
    """A command was refused; the record key is the command id."""

    TYPE = "shebao.contributions.CommandRejected"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "command_id": "4f0c1c2e-9a8b-4e0d-8f7a-6b5c4d3e2f10",
        "command_type": "shebao.contributions.ClosePeriod",
        "reason": "period_already_closed",
        "detail": "320100 closed 2025-03 already",
        "region": "320100",
    }
    command_id: str
    command_type: str
    reason: str = Field(description="a Rejection value, or a validation reason of the runtime")
    detail: str = ""
    employer: EmployerCode | None = None
    person: PersonRef | None = None
    region: RegionCode | None = None


# --------------------------------------------------------------------------------------------
# The service's own fan-out (private)

Shard = Annotated[int, Field(ge=0, lt=4096)]


class AssessShard(Message):
    """Assess everything one directory shard of a region owes for a closed month."""

    TYPE = "shebao.contributions.AssessShard"
    EXAMPLE: ClassVar[dict[str, Any]] = {"region": "320100", "month": "2025-03", "shard": 7}
    region: RegionCode
    month: Month
    shard: Shard


class AssessEmployer(Message):
    """Assess one employer's roster for a closed month."""

    TYPE = "shebao.contributions.AssessEmployer"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "employer": _EMPLOYER,
        "region": "320100",
        "month": "2025-03",
    }
    employer: EmployerCode
    region: RegionCode
    month: Month


class AssessPerson(Message):
    """Assess one person who pays as a person (flexible worker, resident) at a month's close."""

    TYPE = "shebao.contributions.AssessPerson"
    EXAMPLE: ClassVar[dict[str, Any]] = {"person": _REF, "region": "320100", "month": "2025-03"}
    person: PersonRef
    region: RegionCode
    month: Month


class CreditPerson(Message):
    """Credit one person's line of a settled employer assessment."""

    TYPE = "shebao.contributions.CreditPerson"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "person": _REF,
        "period": "2025-03",
        "region": "320100",
        "employer": _EMPLOYER,
        "assessment_id": f"E-{_EMPLOYER}-2025-03",
        "insurances": [
            {
                "insurance": "pension",
                "scheme": "employee_pension",
                "base": "8500.00",
                "employer_part": "1360.00",
                "employee_part": "680.00",
                "into_account": "680.00",
            }
        ],
    }
    person: PersonRef
    period: Month
    region: RegionCode
    employer: EmployerCode
    assessment_id: str
    insurances: list[CreditedInsurance]


class CheckInterruption(Message):
    """Judge whether a person is interrupted as of a region's close of `month`."""

    TYPE = "shebao.contributions.CheckInterruption"
    EXAMPLE: ClassVar[dict[str, Any]] = {"person": _REF, "region": "320100", "month": "2025-06"}
    person: PersonRef
    region: RegionCode
    month: Month


class DirectoryEmployerAdded(Message):
    """An employer joins its region's directory (the closes reach it through its shard)."""

    TYPE = "shebao.contributions.DirectoryEmployerAdded"
    EXAMPLE: ClassVar[dict[str, Any]] = {"region": "320100", "shard": 7, "employer": _EMPLOYER}
    region: RegionCode
    shard: Shard
    employer: EmployerCode


class DirectoryPayerSet(Message):
    """A person starts or stops paying as a person in a region (`kind` None: stops)."""

    TYPE = "shebao.contributions.DirectoryPayerSet"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "region": "320100",
        "shard": 3,
        "person": _REF,
        "kind": "monthly",
    }
    region: RegionCode
    shard: Shard
    person: PersonRef
    kind: Literal["monthly", "yearly"] | None


class DirectoryWatchSet(Message):
    """Check a person who pays nobody's assessment (e.g. after a job ended) at a later close."""

    TYPE = "shebao.contributions.DirectoryWatchSet"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "region": "320100",
        "shard": 3,
        "person": _REF,
        "close": "2025-10",
    }
    region: RegionCode
    shard: Shard
    person: PersonRef
    close: Month | None = Field(description="the close at which to check; None cancels")


class RosterLeave(Message):
    """A person leaves an employer's roster without an EmploymentEnded (e.g. on death)."""

    TYPE = "shebao.contributions.RosterLeave"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "employer": _EMPLOYER,
        "person": _REF,
        "on": "2025-09-30",
    }
    employer: EmployerCode
    person: PersonRef
    on: date


class SealedShare(Part):
    """One person's share of a forwarded employer report: his reference and his citizen ID
    sealed, as the bureau's `PersonAmount` named him."""

    person: PersonRef
    sealed_citizen_id: SealedCitizenId
    amount: NonNegativeMoney


class _Forwarded(Message):
    """A bureau's report handed on: the bureau, and where its record is on its topic."""

    bureau: PartnerCode
    partition: int
    offset: int
    collection_id: CollectionId


class EmployerCollectionForwarded(_Forwarded):
    """A bureau's `EmployerContributionsCollected` handed to the partition that keeps the
    employer, when the service's state is partitioned and the report was keyed otherwise (a key
    that is not the employer code): decided there as if it had come in keyed right. `partition`
    and `offset` name the report on the bureau's collections topic; the persons' citizen IDs are
    sealed (raw IDs stay on the partner topics)."""

    TYPE = "shebao.contributions.EmployerCollectionForwarded"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "bureau": "t320100",
        "partition": 3,
        "offset": 1042,
        "collection_id": "SWJ-320100-20250415-000123",
        "employer": _EMPLOYER,
        "month": "2025-03",
        "amount": "4301.25",
    }
    employer: EmployerCode
    month: Month
    amount: PositiveMoney
    persons: list[SealedShare] | None = None


class PersonCollectionForwarded(_Forwarded):
    """A bureau's `PersonContributionsCollected` handed to the partition that keeps the person
    (keyed by his reference), when the service's state is partitioned: decided there. The
    citizen ID is sealed; the bureau's answer names it again."""

    TYPE = "shebao.contributions.PersonCollectionForwarded"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "bureau": "t320100",
        "partition": 3,
        "offset": 1043,
        "collection_id": "SWJ-320100-20250410-004711",
        "person": _REF,
        "sealed_citizen_id": _SEALED,
        "period": "2025",
        "amount": "820.00",
    }
    person: PersonRef
    sealed_citizen_id: SealedCitizenId
    period: Period
    amount: PositiveMoney


class RosterChanged(Message):
    """An employment enrollment reported (exactly one of `started`, `ended`), handed to the
    partition that keeps the employer, when the service's state is partitioned: the person's
    partition follows the person, this record the employer's roster. `sealed_citizen_id` is the
    person's, as the person's file held it, for the assessment's lines."""

    TYPE = "shebao.contributions.RosterChanged"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "employer": enrollment.EmploymentStarted.EXAMPLE["employer"],
        "person": enrollment.EmploymentStarted.EXAMPLE["person"],
        "started": enrollment.EmploymentStarted.EXAMPLE,
    }
    employer: EmployerCode
    person: PersonRef
    started: enrollment.EmploymentStarted | None = None
    ended: enrollment.EmploymentEnded | None = None
    sealed_citizen_id: SealedCitizenId | None = None


class AssessedLine(Part):
    """One person's line of an employer's assessment as the service keeps it (its parts follow
    from the base and the employer's risk class)."""

    person: PersonRef
    wage: Money
    base: Money
    sealed_citizen_id: SealedCitizenId | None = None


class AssessmentLines(Message):
    """The person lines of an employer's assessment (a revision, in parts of up to 1,000), as
    decided: its record in the service's own log (no handler reads it live; a rebuild does)."""

    TYPE = "shebao.contributions.AssessmentLines"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "employer": _EMPLOYER,
        "month": "2025-03",
        "region": "320100",
        "bureau": "t320100",
        "risk_class": 1,
        "revision": 1,
        "lines": [{"person": _REF, "wage": "8500.00", "base": "8500.00"}],
    }
    employer: EmployerCode
    month: Month
    region: RegionCode
    bureau: PartnerCode
    risk_class: Annotated[int, Field(ge=1, le=8)]
    revision: Annotated[int, Field(ge=1)]
    part: int = 1
    parts: int = 1
    lines: list[AssessedLine]


class ShardAssessed(Message):
    """What a close of `month` changed in a directory shard: the yearly payers it assessed for
    the year, and the watches it fired (no handler reads it live; a rebuild does)."""

    TYPE = "shebao.contributions.ShardAssessed"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "region": "320100",
        "month": "2025-01",
        "shard": 7,
        "yearly": [_REF],
        "fired": [],
    }
    region: RegionCode
    month: Month
    shard: Shard
    yearly: list[PersonRef] = Field(default_factory=list)
    fired: list[PersonRef] = Field(default_factory=list)


class EmployerAssessed(Message):
    """An employer's month was assessed (owing for nobody, or for some): the month the next
    close goes on from, and before which its ended employments are gone from the roster (no
    handler reads it live; a rebuild does)."""

    TYPE = "shebao.contributions.EmployerAssessed"
    EXAMPLE: ClassVar[dict[str, Any]] = {"employer": _EMPLOYER, "month": "2025-03"}
    employer: EmployerCode
    month: Month


class FollowedObligation(Part):
    """A membership as the service follows it from enrollment."""

    scheme: enrollment.Scheme
    region: RegionCode
    basis: enrollment.Basis
    active: bool
    since: date
    first_enrolled: date
    employer: EmployerCode | None = None
    declared_base: Money | None = None
    yearly_tier: int | None = None
    ended_on: date | None = None


class FollowedJob(Part):
    employer: EmployerCode
    region: RegionCode
    since: date


class PersonFollowed(Message):
    """What the service holds of a person from enrollment's events, after one of them changed
    it: its own record of the facts it decides on (no handler reads it live; a rebuild puts the
    last one read)."""

    TYPE = "shebao.contributions.PersonFollowed"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "person": _REF,
        "birth_date": "1985-05-05",
        "obligations": [
            {
                "scheme": "employee_pension",
                "region": "320100",
                "basis": "employment",
                "active": True,
                "since": "2019-01-01",
                "first_enrolled": "2019-01-01",
                "employer": _EMPLOYER,
            }
        ],
        "job": {"employer": _EMPLOYER, "region": "320100", "since": "2019-01-01"},
    }
    person: PersonRef
    sealed_citizen_id: SealedCitizenId | None = None
    birth_date: date | None = None
    deceased_on: date | None = None
    obligations: list[FollowedObligation] = Field(default_factory=list)
    job: FollowedJob | None = None
    obligated_through: Month | None = None
    tiers: dict[int, int] = Field(default_factory=dict, description="year -> resident tier")


class FollowedSpell(Part):
    since: date
    until: date


class RosterFollowed(Message):
    """One person's employment by an employer as the service follows it from enrollment, after
    an event changed it (no handler reads it live; a rebuild puts the last one read)."""

    TYPE = "shebao.contributions.RosterFollowed"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "employer": _EMPLOYER,
        "person": _REF,
        "since": "2019-01-01",
        "wage": "8500.00",
    }
    employer: EmployerCode
    person: PersonRef
    since: date
    until: date | None = None
    wage: Money
    sealed_citizen_id: SealedCitizenId | None = None
    hired_on: date | None = None
    earlier: list[FollowedSpell] = Field(default_factory=list)


class EmployerFollowed(Message):
    """An employer's registration as the service follows it from enrollment (no handler reads
    it live; a rebuild puts the last one read)."""

    TYPE = "shebao.contributions.EmployerFollowed"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "employer": _EMPLOYER,
        "region": "320100",
        "risk_class": 1,
        "name": "示例单位",
        "registered_on": "2018-01-01",
    }
    employer: EmployerCode
    region: RegionCode
    risk_class: Annotated[int, Field(ge=1, le=8)]
    name: str | None = None
    registered_on: date | None = None


class PersonJudged(Message):
    """Where the service stands with a person, after a change: how far he is judged for
    interruption, the close at which he is to be judged next if nobody assesses him, and who
    assesses him if he pays alone (no handler reads it live; a rebuild puts the last one read:
    a person's records share a partition)."""

    TYPE = "shebao.contributions.PersonJudged"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "person": _REF,
        "judged_through": "2025-05",
        "watch": "2025-09",
        "payer": None,
        "payer_region": None,
    }
    person: PersonRef
    judged_through: Month | None = None
    watch: Month | None = None
    payer: Literal["monthly", "yearly"] | None = None
    payer_region: RegionCode | None = None


# --------------------------------------------------------------------------------------------
# Topics and contract

COMMANDS = Topic(
    "shebao.contributions.commands.v1",
    owner=SERVICE,
    key="employer code (DeclareWages), region code (ClosePeriod), person reference (advances)",
    messages=(DeclareWages, ClosePeriod, AdvanceContributions),
    description="Wage declarations from employers, period closes from the scheduler, advances.",
)

WORK = Topic(
    "shebao.contributions.work.v1",
    owner=SERVICE,
    key="region:shard (shard work), employer code (employer work), person reference (persons)",
    messages=(
        AssessShard,
        AssessEmployer,
        AssessPerson,
        CreditPerson,
        CheckInterruption,
        DirectoryEmployerAdded,
        DirectoryPayerSet,
        DirectoryWatchSet,
        RosterLeave,
        AssessmentLines,
        ShardAssessed,
        EmployerAssessed,
        PersonJudged,
        PersonFollowed,
        RosterFollowed,
        EmployerFollowed,
        EmployerCollectionForwarded,
        PersonCollectionForwarded,
        RosterChanged,
    ),
    description="Private fan-out of the contributions service; nobody else reads or writes it.",
)

EVENTS: Topic = Topic(
    "shebao.contributions.events.v1",
    owner=SERVICE,
    key="person reference, employer code, region code (PeriodClosed) or command/collection id "
    "(rejections)",
    messages=(
        PeriodClosed,
        WagesDeclared,
        AssessmentIssued,
        PaymentBooked,
        ArrearsBooked,
        ArrearsCleared,
        OverpaymentHeld,
        ContributionCredited,
        InterruptionOpened,
        InterruptionClosed,
        ContributionsAdvanced,
        AdvanceRecovered,
        TransferAmountComputed,
        PaidOnBehalfRecorded,
        CommandRejected,
        CollectionRejected,
    ),
    description="What was assessed, paid, credited, interrupted and transferred.",
)

ASSESSMENTS = Topic(
    "partner.tax.{code}.assessments.v1",
    owner=SERVICE,
    key="employer code or assessment id (assessments); collection id (bookings, rejections)",
    messages=(TaxAssessmentIssued, TaxPaymentBooked, TaxCollectionRejected),
    description="To a tax bureau: what to collect in its regions, and the answer to each of its"
    " reports: booked (PaymentBooked) or refused (CollectionRejected).",
    direction=Direction.PARTNER_OUT,
)

COLLECTIONS = Topic(
    "partner.tax.{code}.collections.v1",
    owner=SERVICE,
    key="employer code, or the collection id for a person's report",
    messages=(EmployerContributionsCollected, PersonContributionsCollected),
    description="From a tax bureau: what it collected, per employer and month or per person.",
    direction=Direction.PARTNER_IN,
)

# Imported here, not at the top: the unemployment contract reads this module's events, and this
# one its events; whichever module is imported first is complete up to here when the other runs.
from . import unemployment, welfare  # noqa: E402

AUDIT: Topic = audit_topic(SERVICE)

CONTRACT = ServiceContract(
    service=SERVICE,
    title="shebao contributions",
    description=__doc__ or "",
    consumes=(enrollment.EVENTS, COMMANDS, WORK, COLLECTIONS, unemployment.EVENTS, welfare.EVENTS),
    produces=(EVENTS, WORK, ASSESSMENTS, AUDIT),
)
