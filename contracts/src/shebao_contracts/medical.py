"""Medical settlement: hospitals submit claims, the platform adjudicates and answers.

A hospital writes to `partner.hospital.<code>.claims.v1` and reads
`partner.hospital.<code>.settlements.v1`; `<code>` is the hospital's code, and the topic is its
identity: a claim whose `hospital` differs from the topic's code is refused. Every claim gets
exactly one answer per submission: a `SettlementResult` (settled, or rejected with reason
codes). Resending an identical claim returns the same result again and pays nothing twice; a
claim can be cancelled (`ClaimCancellation`, answered by a `CancellationResult`) and then
resubmitted under the same claim id. Amounts are decimal strings in yuan with two places.

Records: key = the hospital's claim id; CloudEvents headers in binary mode (`ce_id`, `ce_type`,
`ce_source`, `ce_time`, `ce_specversion`, `content-type: application/json`), optional
`traceparent`. See `contracts/HOSPITALS.md` for the integration guide.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from . import contributions, enrollment, unemployment, welfare
from .audit import audit_topic
from .envelope import Message
from .limits import TEXT_PATTERN
from .topics import Direction, ServiceContract, Topic
from .types import (
    CitizenId,
    Money,
    NoControlCharacters,
    NonNegativeMoney,
    NotACitizenId,
    PartnerCode,
    PersonRef,
    RegionCode,
    decimal_text,
)

SERVICE = "medical-settlement"


class VisitType(StrEnum):
    INPATIENT = "inpatient"
    OUTPATIENT = "outpatient"


class ItemCategory(StrEnum):
    """Policy category of a line item (国家医保目录)."""

    CLASS_A_DRUG = "class_a_drug"  # 甲类: fully in scope
    CLASS_B_DRUG = "class_b_drug"  # 乙类: a self-pay share first, then in scope
    TREATMENT = "treatment"  # 诊疗项目
    MATERIAL = "material"  # 医用耗材
    OUTSIDE_SCOPE = "outside_scope"  # 目录外: paid by the patient


class HospitalLevel(StrEnum):
    PRIMARY = "primary"  # 一级 / community
    SECONDARY = "secondary"  # 二级
    TERTIARY = "tertiary"  # 三级


class Outcome(StrEnum):
    SETTLED = "settled"
    REJECTED = "rejected"


class CancellationOutcome(StrEnum):
    CANCELLED = "cancelled"
    REJECTED = "rejected"


class ClaimRejection(StrEnum):
    """Why a claim or cancellation was refused. Validation failures of the message itself carry
    the runtime's reasons instead: malformed_json, schema_violation, citizen_id_checksum (and the
    other citizen_id_*), money_format, money_not_string, record_too_large, missing_header,
    unknown_event_type."""

    NOT_INSURED_ON_SERVICE_DATE = "not_insured_on_service_date"
    # meaning: the patient is recorded as deceased before the date of service. action: give_up
    PERSON_DECEASED = "person_deceased"
    MEMBERSHIP_SUSPENDED = "membership_suspended"
    CONTRIBUTIONS_IN_ARREARS = "contributions_in_arrears"
    DUPLICATE_CLAIM_DIFFERENT_BODY = "duplicate_claim_different_body"
    TOTALS_DO_NOT_ADD_UP = "totals_do_not_add_up"
    HOSPITAL_MISMATCH = "hospital_mismatch"
    HOSPITAL_NOT_DESIGNATED = "hospital_not_designated"
    INVALID_DATES = "invalid_dates"
    # meaning: the stay ends or the visit is after the day of the claim's ce_time. action: correct
    SERVICE_DATE_IN_FUTURE = "service_date_in_future"
    UNKNOWN_CLAIM = "unknown_claim"
    CLAIM_ALREADY_CANCELLED = "claim_already_cancelled"


class AdjudicationReason(StrEnum):
    """Why a settled claim's fund payment is zero, or less than the scheme's ratio gives: the
    `reasons` of a settled `SettlementResult`, as FHIR ClaimResponse adjudication reasons."""

    # meaning: no line of the claim is in the policy scope, nothing is eligible. action: give_up
    ALL_OUTSIDE_SCOPE = "all_outside_scope"
    # meaning: the eligible amount does not exceed the admission's deductible. action: give_up
    BELOW_DEDUCTIBLE = "below_deductible"
    # meaning: the scheme's outpatient pooling does not pay at this level. action: give_up
    OUTPATIENT_POOLING_NOT_APPLICABLE = "outpatient_pooling_not_applicable"
    # meaning: the patient's yearly outpatient pooling limit is used up. action: give_up
    OUTPATIENT_POOL_EXHAUSTED = "outpatient_pool_exhausted"
    # meaning: the patient's yearly fund payment limit is used up. action: give_up
    ANNUAL_CAP_REACHED = "annual_cap_reached"


ClaimId = Annotated[
    str,
    Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:/-]+$"),
    NoControlCharacters,
    NotACitizenId,
]
DiagnosisCode = Annotated[
    str,
    Field(pattern=r"^[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?$", description="ICD-10 code, e.g. J18.9"),
]
_QUANTITY_TEXT = r"^(0\.(00[1-9]|0[1-9][0-9]?|[1-9][0-9]{0,2})|[1-9][0-9]{0,8}(\.[0-9]{1,3})?)$"
_quantity_match = re.compile(_QUANTITY_TEXT[1:-1]).fullmatch
_THOUSANDTH = Decimal("0.001")


def _parse_quantity(value: Any) -> Decimal:
    """Above zero, at most 9 whole digits and 3 places; a string exactly as the schema's pattern
    says (a partner's schema check gets the platform's answer), or a JSON number."""
    if type(value) is str:
        if _quantity_match(value) is not None:
            return Decimal(value)
    elif isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        amount = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
        if amount.is_finite() and 0 < amount < 10**9 and amount == amount.quantize(_THOUSANDTH):
            return amount
    raise PydanticCustomError(
        "quantity_format",
        "quantity must be above zero, with at most 9 whole digits and 3 decimal places",
    )


Quantity = Annotated[
    Decimal,
    PlainValidator(_parse_quantity),
    PlainSerializer(decimal_text, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "exclusiveMinimum": 0, "maximum": 999999999.999},
                {"type": "string", "pattern": _QUANTITY_TEXT},
            ],
            "description": "Quantity above zero, up to 9 whole digits and 3 decimal places",
        },
        mode="validation",
    ),
]

_EXAMPLE_LINES = [
    {
        "item_code": "XJ01CAA040A001",
        "category": "class_a_drug",
        "quantity": "10",
        "unit_price": "12.50",
        "amount": "125.00",
    },
    {
        "item_code": "XL01XEA125A001",
        "category": "class_b_drug",
        "quantity": "2",
        "unit_price": "860.00",
        "amount": "1720.00",
    },
    {
        "item_code": "001203000010000",
        "category": "treatment",
        "quantity": "5",
        "unit_price": "320.00",
        "amount": "1600.00",
    },
    {
        "item_code": "C0313020100000",
        "category": "material",
        "quantity": "1",
        "unit_price": "2400.00",
        "amount": "2400.00",
    },
    {
        "item_code": "ZF-NURSING-VIP",
        "category": "outside_scope",
        "quantity": "6",
        "unit_price": "150.00",
        "amount": "900.00",
    },
]
_CLAIM_EXAMPLE: dict[str, Any] = {
    "hospital": "h320102001",
    "claim_id": "ZY2025011500123",
    "patient_citizen_id": "320102199003071220",
    "visit_type": "inpatient",
    "admission_date": "2025-01-08",
    "discharge_date": "2025-01-15",
    "diagnosis_code": "J18.9",
    "lines": _EXAMPLE_LINES,
    "total": "6745.00",
}


class Part(BaseModel):
    """A part of a message (not a message of its own)."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class ClaimLine(Part):
    """One line item of a claim: amount = quantity x unit price, rounded half up to the fen."""

    item_code: Annotated[
        str,
        Field(
            min_length=1,
            max_length=40,
            pattern=TEXT_PATTERN,
            description="the hospital's item code; control characters are refused",
        ),
        NoControlCharacters,
    ]
    category: ItemCategory
    quantity: Quantity
    unit_price: NonNegativeMoney
    amount: NonNegativeMoney


class ClaimSubmitted(Message):
    """A hospital's claim for one visit (inpatient stay or outpatient visit)."""

    TYPE = "shebao.medical.ClaimSubmitted"
    EXAMPLE: ClassVar[dict[str, Any]] = _CLAIM_EXAMPLE
    hospital: PartnerCode = Field(description="must equal the code in the topic name")
    claim_id: ClaimId = Field(description="the hospital's own id; also the record key")
    patient_citizen_id: CitizenId
    visit_type: VisitType
    admission_date: date = Field(description="admission (inpatient) or visit (outpatient) date")
    discharge_date: date | None = Field(None, description="required for inpatient stays")
    diagnosis_code: DiagnosisCode
    lines: list[ClaimLine] = Field(min_length=1, max_length=1000)
    total: NonNegativeMoney = Field(description="sum of the line amounts")


class ClaimCancellation(Message):
    """Cancel (reverse) a settled claim, e.g. to correct and resubmit it."""

    TYPE = "shebao.medical.ClaimCancellation"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "hospital": "h320102001",
        "claim_id": "ZY2025011500123",
        "patient_citizen_id": "320102199003071220",
        "reason": "wrong diagnosis code, will resubmit",
    }
    hospital: PartnerCode
    claim_id: ClaimId
    patient_citizen_id: CitizenId
    reason: Annotated[str, Field(max_length=200, pattern=TEXT_PATTERN), NoControlCharacters] = ""


class Amounts(Part):
    """How a claim was adjudicated, in the categories hospital systems know from HL7 FHIR
    ClaimResponse.adjudication (the FHIR code is given for each)."""

    submitted: Money = Field(description="FHIR `submitted`: the claim total")
    outside_scope: Money = Field(description="items outside the policy scope, paid by the patient")
    class_b_self_pay: Money = Field(description="the self-pay share of class-B drugs")
    eligible: Money = Field(description="FHIR `eligible`: in-scope amount")
    deductible: Money = Field(description="FHIR `deductible`: 起付线 applied to this claim")
    fund_payment: Money = Field(description="FHIR `benefit`: paid by the basic medical fund")
    serious_illness_payment: Money = Field(description="second compensation (大病保险)")
    medical_assistance_payment: Money = Field(description="medical assistance (医疗救助)")
    patient_payable: Money = Field(
        description="FHIR `copay` in the wide sense: what the patient pays the hospital"
    )


_SETTLED_EXAMPLE: dict[str, Any] = {
    "hospital": "h320102001",
    "claim_id": "ZY2025011500123",
    "outcome": "settled",
    "amounts": {
        "submitted": "6745.00",
        "outside_scope": "900.00",
        "class_b_self_pay": "172.00",
        "eligible": "5673.00",
        "deductible": "800.00",
        "fund_payment": "3898.40",
        "serious_illness_payment": "0.00",
        "medical_assistance_payment": "0.00",
        "patient_payable": "2846.60",
    },
    "ytd_fund_paid": "3898.40",
    "year": 2025,
    "reasons": [],
}


class SettlementResult(Message):
    """The answer to a claim: settled with its amounts, or rejected with reason codes."""

    TYPE = "shebao.medical.SettlementResult"
    EXAMPLE: ClassVar[dict[str, Any]] = _SETTLED_EXAMPLE
    hospital: PartnerCode
    claim_id: str
    outcome: Outcome
    amounts: Amounts | None = Field(None, description="present when settled")
    ytd_fund_paid: Money | None = Field(
        None, description="the person's fund payments this calendar year, after this claim"
    )
    year: int | None = Field(None, description="the calendar year the claim counts in")
    reasons: list[str] = Field(
        default_factory=list,
        description="rejected: why (ClaimRejection codes); settled: why the fund paid nothing or "
        "less than its ratio gives (AdjudicationReason codes), empty when it paid in full",
    )
    detail: str = ""


class CancellationResult(Message):
    """The answer to a cancellation: what was reversed, or why not."""

    TYPE = "shebao.medical.CancellationResult"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "hospital": "h320102001",
        "claim_id": "ZY2025011500123",
        "outcome": "cancelled",
        "reversed": _SETTLED_EXAMPLE["amounts"],
        "ytd_fund_paid": "0.00",
        "year": 2025,
        "reasons": [],
    }
    hospital: PartnerCode
    claim_id: str
    outcome: CancellationOutcome
    reversed: Amounts | None = None
    ytd_fund_paid: Money | None = None
    year: int | None = None
    reasons: list[str] = Field(default_factory=list)
    detail: str = ""


class MonthlyStatement(Message):
    """A hospital's month: settled claims and fund payments, against its annual budget."""

    TYPE = "shebao.medical.MonthlyStatement"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "hospital": "h320102001",
        "month": "2025-01",
        "claims_settled": 1532,
        "claims_cancelled": 4,
        "claims_rejected": 27,
        "fund_payment": "2716548.20",
        "serious_illness_payment": "80512.00",
        "medical_assistance_payment": "12033.15",
        "year_to_date_fund_payment": "2716548.20",
        "annual_budget": "36000000.00",
        "budget_used": "0.0755",
    }
    hospital: PartnerCode
    month: Annotated[str, Field(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")]
    claims_settled: int
    claims_cancelled: int
    claims_rejected: int
    fund_payment: Money
    serious_illness_payment: Money
    medical_assistance_payment: Money
    year_to_date_fund_payment: Money
    annual_budget: Money | None = None
    budget_used: str | None = Field(None, description="year-to-date fund payment / annual budget")


# --------------------------------------------------------------------------------------------
# Internal: the hospital registry, re-keyed claims, statements


class RegisterHospital(Message):
    """Register (or re-register) a designated hospital (定点医疗机构)."""

    TYPE = "shebao.medical.RegisterHospital"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "hospital": "h320102001",
        "name": "南京市示例人民医院",
        "level": "tertiary",
        "region": "320100",
        "designated_from": "2015-01-01",
        "designated_to": None,
    }
    hospital: PartnerCode
    name: Annotated[str, Field(min_length=1, max_length=100)]
    level: HospitalLevel
    region: RegionCode
    designated_from: date
    designated_to: date | None = None


class CloseMonth(Message):
    """The scheduler closes a month: every hospital gets its statement."""

    TYPE = "shebao.medical.CloseMonth"
    EXAMPLE: ClassVar[dict[str, Any]] = {"month": "2025-01"}
    month: Annotated[str, Field(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")]


class ClaimReceived(Message):
    """A validated claim, pseudonymised and re-keyed by person for adjudication (internal)."""

    TYPE = "shebao.medical.ClaimReceived"
    hospital: PartnerCode
    claim_id: str
    person: PersonRef
    visit_type: VisitType
    admission_date: date
    discharge_date: date | None
    diagnosis_code: str
    lines: list[ClaimLine]
    total: Money


class CancellationReceived(Message):
    """A hospital's cancellation, pseudonymised and re-keyed by person (internal)."""

    TYPE = "shebao.medical.CancellationReceived"
    hospital: PartnerCode
    claim_id: str
    person: PersonRef


class SettlementRecorded(Message):
    """Deprecated, no longer emitted: hospital months are counters now. Kept because the
    published `.v1` topic may still hold such records."""

    TYPE = "shebao.medical.SettlementRecorded"
    hospital: PartnerCode
    claim_id: str
    month: str
    kind: Annotated[str, Field(pattern=r"^(settled|cancelled|rejected)$")]
    fund_payment: Money = Decimal("0.00")
    serious_illness_payment: Money = Decimal("0.00")
    medical_assistance_payment: Money = Decimal("0.00")


class StatementDue(Message):
    """Close a hospital's month (internal, keyed by hospital)."""

    TYPE = "shebao.medical.StatementDue"
    hospital: PartnerCode
    month: str


class ClaimTotals(Part):
    """What one claim adds to its person's running totals of the calendar year."""

    fund: Money
    in_scope_out_of_pocket: Money
    serious_illness: Money
    assistance: Money
    outpatient_pool: Money


_MONTH = Annotated[str, Field(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")]


class ClaimSettled(Message):
    """A claim settled: the decision as the hospital was answered, and what it added to the
    person's year (internal, keyed by person). With `ClaimRefused` and `ClaimCancelled` this is
    the log of record of adjudication: its state is rebuilt from them, never decided again."""

    TYPE = "shebao.medical.ClaimSettled"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "hospital": "h320102001",
        "claim_id": "ZY2025011500123",
        "person": "9f2c4e0b7a1d3c5e8f6a0b2d4c6e8a1f",
        "fingerprint": "9c1b0d2e3f4a5b6c7d8e9f0a1b2c3d4e",
        "visit_type": "inpatient",
        "admission_date": "2025-01-08",
        "discharge_date": "2025-01-15",
        "scheme": "employee_medical",
        "region": "320100",
        "year": 2025,
        "month": "2025-01",
        "amounts": _SETTLED_EXAMPLE["amounts"],
        "totals": {
            "fund": "3898.40",
            "in_scope_out_of_pocket": "1774.60",
            "serious_illness": "0.00",
            "assistance": "0.00",
            "outpatient_pool": "0.00",
        },
        "ytd_fund_paid": "3898.40",
        "reasons": [],
    }
    hospital: PartnerCode
    claim_id: str
    person: PersonRef
    fingerprint: str = Field(description="of the claim as received: tells a resend")
    visit_type: VisitType
    admission_date: date
    discharge_date: date | None
    scheme: enrollment.Scheme = Field(description="the scheme that paid")
    region: RegionCode = Field(description="the pooling region whose parameters applied")
    year: int = Field(description="the calendar year the claim counts in")
    month: _MONTH = Field(description="the month it was answered in, where it is reconciled")
    amounts: Amounts
    totals: ClaimTotals
    ytd_fund_paid: Money
    reasons: list[str] = Field(default_factory=list)


class ClaimRefused(Message):
    """A claim adjudication refused (internal, keyed by person)."""

    TYPE = "shebao.medical.ClaimRefused"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "hospital": "h320102001",
        "claim_id": "ZY2025011500124",
        "person": "9f2c4e0b7a1d3c5e8f6a0b2d4c6e8a1f",
        "fingerprint": "0d2e3f4a5b6c7d8e9f0a1b2c3d4e9c1b",
        "month": "2025-01",
        "reason": "not_insured",
        "detail": "no medical insurance on 2025-01-08",
    }
    hospital: PartnerCode
    claim_id: str
    person: PersonRef
    fingerprint: str
    month: _MONTH
    reason: str
    detail: str = ""


class ClaimCancelled(Message):
    """A settled claim cancelled: its settlement reversed (internal, keyed by person)."""

    TYPE = "shebao.medical.ClaimCancelled"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "hospital": "h320102001",
        "claim_id": "ZY2025011500123",
        "person": "9f2c4e0b7a1d3c5e8f6a0b2d4c6e8a1f",
        "month": "2025-02",
        "year": 2025,
        "reversed": _SETTLED_EXAMPLE["amounts"],
        "ytd_fund_paid": "0.00",
    }
    hospital: PartnerCode
    claim_id: str
    person: PersonRef
    month: _MONTH = Field(description="the month of the cancellation, where it is reconciled")
    year: int
    reversed: Amounts
    ytd_fund_paid: Money


class HospitalRegistered(RegisterHospital):
    """A hospital registered or re-registered, as `RegisterHospital` asked (internal, keyed by
    hospital)."""

    TYPE = "shebao.medical.HospitalRegistered"


# --------------------------------------------------------------------------------------------
# Topics and contract

CLAIMS = Topic(
    "partner.hospital.{code}.claims.v1",
    owner=SERVICE,
    key="the hospital's claim id",
    messages=(ClaimSubmitted, ClaimCancellation),
    description="Claims and cancellations from one hospital; the topic name is its identity.",
    direction=Direction.PARTNER_IN,
)

SETTLEMENTS = Topic(
    "partner.hospital.{code}.settlements.v1",
    owner=SERVICE,
    key="the hospital's claim id (statements: the month)",
    messages=(SettlementResult, CancellationResult, MonthlyStatement),
    description="Answers to one hospital: a result per submission and cancellation, statements.",
    direction=Direction.PARTNER_OUT,
)

COMMANDS = Topic(
    "shebao.medical-settlement.commands.v1",
    owner=SERVICE,
    key="person reference (claims), hospital code (RegisterHospital), month (CloseMonth)",
    messages=(ClaimReceived, CancellationReceived, RegisterHospital, CloseMonth),
    description="Adjudication work keyed by person, so one person's claims are in order.",
)

EVENTS = Topic(
    "shebao.medical-settlement.events.v1",
    owner=SERVICE,
    key="person reference (claim decisions), hospital code (registrations, statements due)",
    messages=(
        SettlementRecorded,
        StatementDue,
        ClaimSettled,
        ClaimRefused,
        ClaimCancelled,
        HospitalRegistered,
    ),
    description="What adjudication decided, claim by claim, and hospital months to close: the "
    "service's log of record.",
)

AUDIT: Topic = audit_topic(SERVICE)

CONTRACT = ServiceContract(
    service=SERVICE,
    title="shebao medical settlement",
    description=__doc__ or "",
    consumes=(
        CLAIMS,
        COMMANDS,
        EVENTS,
        enrollment.EVENTS,
        contributions.EVENTS,
        unemployment.EVENTS,
        welfare.EVENTS,
    ),
    produces=(SETTLEMENTS, COMMANDS, EVENTS, AUDIT),
)
