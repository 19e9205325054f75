"""Enrollment: who is insured, in which scheme, since when and where.

Commands come from service counters and the online portal on `shebao.enrollment.commands.v1`,
keyed by the citizen ID (persons) or the employer code (employers); they carry the raw citizen ID,
which stays in the enrollment service. Events go out on `shebao.enrollment.events.v1`, keyed by
the pseudonymous person reference or the employer code, and never carry the citizen ID.
Every command id is the CloudEvents `ce_id`: resending a command is harmless, reusing its id for
another command is refused (`id_conflict`).

A command records what has happened: an event it dates (a registration, the birth in the citizen
ID, an employment's start or end, an enrolment, a transfer, a card's issue, a death) after the
day, in China Standard Time, of its ce_time is refused (`service_date_in_future`); the tolerance
is the policy parameter `enrollment.future_event_tolerance_days`. Only the year of a resident
pension tier is chosen in advance.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import Field, StringConstraints, WithJsonSchema

from .audit import audit_topic
from .envelope import Message
from .topics import ServiceContract, Topic
from .types import CitizenId, EmployerCode, Money, PersonRef, RegionCode, SealedCitizenId

SERVICE = "enrollment"


class Insurance(StrEnum):
    PENSION = "pension"
    MEDICAL = "medical"
    UNEMPLOYMENT = "unemployment"
    WORK_INJURY = "work_injury"
    MATERNITY = "maternity"


class Scheme(StrEnum):
    """A scheme a person can be a member of; each belongs to one of the five insurances."""

    EMPLOYEE_PENSION = "employee_pension"
    RESIDENT_PENSION = "resident_pension"
    LAND_EXPROPRIATED_PENSION = "land_expropriated_pension"
    EMPLOYEE_MEDICAL = "employee_medical"
    RESIDENT_MEDICAL = "resident_medical"
    UNEMPLOYMENT = "unemployment"
    WORK_INJURY = "work_injury"
    MATERNITY = "maternity"

    @property
    def insurance(self) -> Insurance:
        return SCHEME_INSURANCE[self]


SCHEME_INSURANCE: dict[Scheme, Insurance] = {
    Scheme.EMPLOYEE_PENSION: Insurance.PENSION,
    Scheme.RESIDENT_PENSION: Insurance.PENSION,
    Scheme.LAND_EXPROPRIATED_PENSION: Insurance.PENSION,
    Scheme.EMPLOYEE_MEDICAL: Insurance.MEDICAL,
    Scheme.RESIDENT_MEDICAL: Insurance.MEDICAL,
    Scheme.UNEMPLOYMENT: Insurance.UNEMPLOYMENT,
    Scheme.WORK_INJURY: Insurance.WORK_INJURY,
    Scheme.MATERNITY: Insurance.MATERNITY,
}

EMPLOYEE_SCHEMES = (
    Scheme.EMPLOYEE_PENSION,
    Scheme.EMPLOYEE_MEDICAL,
    Scheme.UNEMPLOYMENT,
    Scheme.WORK_INJURY,
    Scheme.MATERNITY,
)


class Basis(StrEnum):
    """Why the person is a member: through an employer, as a flexible worker, as a resident..."""

    EMPLOYMENT = "employment"
    FLEXIBLE = "flexible"
    RESIDENT = "resident"
    LAND_EXPROPRIATED = "land_expropriated"


class Sex(StrEnum):
    MALE = "male"
    FEMALE = "female"


class Residence(StrEnum):
    URBAN = "urban"
    RURAL = "rural"


class Ownership(StrEnum):
    STATE = "state"
    COLLECTIVE = "collective"
    PRIVATE = "private"
    FOREIGN = "foreign"
    HK_MACAO_TAIWAN = "hk_macao_taiwan"
    INDIVIDUAL = "individual"
    PUBLIC_INSTITUTION = "public_institution"
    GOVERNMENT = "government"


class Separation(StrEnum):
    """How an employment ended; only an involuntary separation can lead to unemployment benefit."""

    VOLUNTARY = "voluntary"
    INVOLUNTARY = "involuntary"


class StopReason(StrEnum):
    EMPLOYMENT_ENDED = "employment_ended"
    SWITCHED_SCHEME = "switched_scheme"
    TRANSFERRED_OUT = "transferred_out"
    MOVED_REGION = "moved_region"
    DECEASED = "deceased"


class CardReplacement(StrEnum):
    LOST = "lost"
    DAMAGED = "damaged"
    EXPIRED = "expired"


class Rejection(StrEnum):
    """Why enrollment refused a command (the runtime adds malformed_json, schema_violation, the
    citizen_id_* and money_* reasons, and id_conflict for a reused command id)."""

    PERSON_NOT_REGISTERED = "person_not_registered"
    PERSON_ALREADY_REGISTERED = "person_already_registered"
    PERSON_DECEASED = "person_deceased"
    EMPLOYER_NOT_REGISTERED = "employer_not_registered"
    EMPLOYER_ALREADY_REGISTERED = "employer_already_registered"
    ALREADY_EMPLOYED = "already_employed"
    NO_SUCH_EMPLOYMENT = "no_such_employment"
    DATE_BEFORE_START = "date_before_start"
    BELOW_WORKING_AGE = "below_working_age"
    ABOVE_RETIREMENT_AGE = "above_retirement_age"
    AGE_OUTSIDE_RESIDENT_PENSION = "age_outside_resident_pension"
    ALREADY_IN_PENSION_SCHEME = "already_in_pension_scheme"
    ALREADY_IN_MEDICAL_SCHEME = "already_in_medical_scheme"
    NOT_ENROLLED = "not_enrolled"
    INVALID_TIER = "invalid_tier"
    UNEMPLOYMENT_NOT_OFFERED = "unemployment_not_offered_to_flexible_workers"
    NOT_RURAL_RESIDENT = "not_rural_resident"
    TRANSFER_REQUIRED = "transfer_required"
    NOTHING_TO_TRANSFER = "nothing_to_transfer"
    SAME_REGION = "same_region"
    UNKNOWN_TRANSFER = "unknown_transfer"
    TRANSFER_ID_IN_USE = "transfer_id_in_use"
    STILL_EMPLOYED_IN_REGION = "still_employed_in_region"
    CARD_ALREADY_ISSUED = "card_already_issued"
    NO_CARD_TO_REPLACE = "no_card_to_replace"
    CARD_NUMBER_IN_USE = "card_number_in_use"
    # an event (registration, birth, start, end, transfer, card, death) after the day of the
    # command's ce_time (China Standard Time)
    SERVICE_DATE_IN_FUTURE = "service_date_in_future"


Tier = Annotated[int, Field(ge=1, description="Yearly resident pension contribution tier in yuan")]
RiskClass = Annotated[int, Field(ge=1, le=8, description="Industry risk class 1-8 (work injury)")]
Name = Annotated[str, Field(min_length=1, max_length=100)]
SealedName = Annotated[
    str,
    StringConstraints(pattern=r"^s1\.[A-Za-z0-9_-]{22,600}$"),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": "^s1\\.[A-Za-z0-9_-]{22,600}$",
            "description": (
                "The person's name encrypted by enrollment for itself (AES-SIV, bound to the "
                "person reference): only enrollment opens it, when it rebuilds its state from "
                "its events; to every other reader it is noise."
            ),
            "examples": ["s1.6oDxZemrZYgkXViuc3QQY_DRDicVFg"],
        }
    ),
]

_ID = "320102199003071220"
_EMPLOYER = "91320100MA1XXXXX0Y"

# --------------------------------------------------------------------------------------------
# Commands


class RegisterEmployer(Message):
    """Register an employer (unit) in its pooling region."""

    TYPE = "shebao.enrollment.RegisterEmployer"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "employer": _EMPLOYER,
        "name": "南京示例科技有限公司",
        "region": "320100",
        "ownership": "private",
        "risk_class": 2,
        "registered_on": "2024-03-01",
    }
    employer: EmployerCode
    name: Name
    region: RegionCode
    ownership: Ownership
    risk_class: RiskClass
    registered_on: date


class RegisterPerson(Message):
    """Register a person by citizen ID; the birth date and sex are read from the ID."""

    TYPE = "shebao.enrollment.RegisterPerson"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "citizen_id": _ID,
        "name": "王芳",
        "hukou_region": "320100",
        "residence": "urban",
        "registered_on": "2024-03-01",
    }
    citizen_id: CitizenId
    name: Name
    hukou_region: RegionCode
    residence: Residence
    registered_on: date


class StartEmployment(Message):
    """The person starts working for a registered employer: enrols in the employee insurances."""

    TYPE = "shebao.enrollment.StartEmployment"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "citizen_id": _ID,
        "employer": _EMPLOYER,
        "start_date": "2024-03-01",
        "monthly_wage": "8500.00",
    }
    citizen_id: CitizenId
    employer: EmployerCode
    start_date: date
    monthly_wage: Money


class EndEmployment(Message):
    """The employment ends: the employee insurances are suspended."""

    TYPE = "shebao.enrollment.EndEmployment"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "citizen_id": _ID,
        "employer": _EMPLOYER,
        "end_date": "2025-06-30",
        "separation": "involuntary",
    }
    citizen_id: CitizenId
    employer: EmployerCode
    end_date: date
    separation: Separation


class EnrolFlexibleWorker(Message):
    """A flexible worker or freelancer joins employee pension and medical insurance (and
    unemployment insurance where the region offers it) on a self-declared base."""

    TYPE = "shebao.enrollment.EnrolFlexibleWorker"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "citizen_id": _ID,
        "region": "320100",
        "start_date": "2024-07-01",
        "declared_base": "6000.00",
        "unemployment": True,
    }
    citizen_id: CitizenId
    region: RegionCode
    start_date: date
    declared_base: Money
    unemployment: bool = False
    maternity: bool = False


class EnrolResidentPension(Message):
    """Join the urban and rural resident pension scheme with a yearly contribution tier."""

    TYPE = "shebao.enrollment.EnrolResidentPension"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "citizen_id": _ID,
        "region": "320100",
        "start_date": "2024-01-01",
        "yearly_tier": 500,
    }
    citizen_id: CitizenId
    region: RegionCode
    start_date: date
    yearly_tier: Tier


class ChooseResidentPensionTier(Message):
    """Choose next year's resident pension tier."""

    TYPE = "shebao.enrollment.ChooseResidentPensionTier"
    EXAMPLE: ClassVar[dict[str, Any]] = {"citizen_id": _ID, "year": 2025, "yearly_tier": 1000}
    citizen_id: CitizenId
    year: Annotated[int, Field(ge=2000, le=2200)]
    yearly_tier: Tier


class EnrolResidentMedical(Message):
    """Join the resident basic medical insurance scheme."""

    TYPE = "shebao.enrollment.EnrolResidentMedical"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "citizen_id": _ID,
        "region": "320100",
        "start_date": "2024-01-01",
    }
    citizen_id: CitizenId
    region: RegionCode
    start_date: date


class EnrolLandExpropriatedFarmer(Message):
    """Insure a farmer whose land is expropriated ("insure first, then expropriate")."""

    TYPE = "shebao.enrollment.EnrolLandExpropriatedFarmer"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "citizen_id": _ID,
        "region": "321300",
        "start_date": "2024-05-01",
        "expropriation_record": "ZD-321300-2024-0117",
    }
    citizen_id: CitizenId
    region: RegionCode
    start_date: date
    expropriation_record: Annotated[str, Field(min_length=1, max_length=64)]


class TransferOut(Message):
    """Move the person's relationships to another pooling region: pension, medical and
    unemployment, whichever the person holds, unless `insurances` names fewer. Work injury and
    maternity carry nothing over: they end when the person joins them in the new region."""

    TYPE = "shebao.enrollment.TransferOut"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "citizen_id": _ID,
        "transfer_id": "TR-2025-000123",
        "to_region": "320500",
        "date": "2025-07-01",
        "insurances": ["pension", "medical"],
    }
    citizen_id: CitizenId
    transfer_id: Annotated[str, Field(min_length=1, max_length=64)]
    to_region: RegionCode
    date: date
    insurances: tuple[Insurance, ...] = (
        Insurance.PENSION,
        Insurance.MEDICAL,
        Insurance.UNEMPLOYMENT,
    )


class TransferIn(Message):
    """Receive a relationship: the other half of a transfer-out inside the province (same
    transfer id), or a transfer from outside the province."""

    TYPE = "shebao.enrollment.TransferIn"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "citizen_id": _ID,
        "transfer_id": "TR-2025-000123",
        "region": "320500",
        "from_region": "320100",
        "date": "2025-07-15",
    }
    citizen_id: CitizenId
    transfer_id: Annotated[str, Field(min_length=1, max_length=64)]
    region: RegionCode
    from_region: RegionCode
    date: date
    insurances: tuple[Insurance, ...] = Field(
        (Insurance.PENSION, Insurance.MEDICAL),
        description="what arrives from outside the province (inside, the transfer-out says)",
    )


class IssueCard(Message):
    """Issue the person's social-security card."""

    TYPE = "shebao.enrollment.IssueCard"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "citizen_id": _ID,
        "card_number": "A32010203",
        "issued_on": "2024-03-15",
    }
    citizen_id: CitizenId
    card_number: Annotated[str, Field(pattern=r"^[A-Z0-9]{6,20}$")]
    issued_on: date


class ReplaceCard(Message):
    """Replace the card; the old card number is invalidated."""

    TYPE = "shebao.enrollment.ReplaceCard"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "citizen_id": _ID,
        "card_number": "A32010977",
        "issued_on": "2025-02-01",
        "reason": "lost",
    }
    citizen_id: CitizenId
    card_number: Annotated[str, Field(pattern=r"^[A-Z0-9]{6,20}$")]
    issued_on: date
    reason: CardReplacement


class RecordDeath(Message):
    """Record a death: every membership ends."""

    TYPE = "shebao.enrollment.RecordDeath"
    EXAMPLE: ClassVar[dict[str, Any]] = {"citizen_id": _ID, "date_of_death": "2025-09-30"}
    citizen_id: CitizenId
    date_of_death: date


PERSON_COMMANDS: tuple[type[Message], ...] = (
    RegisterPerson,
    StartEmployment,
    EndEmployment,
    EnrolFlexibleWorker,
    EnrolResidentPension,
    ChooseResidentPensionTier,
    EnrolResidentMedical,
    EnrolLandExpropriatedFarmer,
    TransferOut,
    TransferIn,
    IssueCard,
    ReplaceCard,
    RecordDeath,
)

# --------------------------------------------------------------------------------------------
# Events

_REF = "9f2c4e0b7a1d3c5e8f6a0b2d4c6e8a1f"


class EmployerRegistered(Message):
    """An employer was registered."""

    TYPE = "shebao.enrollment.EmployerRegistered"
    EXAMPLE: ClassVar[dict[str, Any]] = RegisterEmployer.EXAMPLE
    employer: EmployerCode
    name: Name
    region: RegionCode
    ownership: Ownership
    risk_class: RiskClass
    registered_on: date


class PersonRegistered(Message):
    """A person was registered; birth date and sex come from the citizen ID (rules need them).

    `sealed_citizen_id` is the citizen ID encrypted for the one service that must name the person
    to a partner (contributions, to the tax bureau); no other service can open it. `sealed_name`
    is the name encrypted by enrollment for itself: its state is rebuilt from these events, and
    no event carries a name in clear (absent from events published before it was added)."""

    TYPE = "shebao.enrollment.PersonRegistered"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "person": _REF,
        "birth_date": "1990-03-07",
        "sex": "female",
        "hukou_region": "320100",
        "residence": "urban",
        "registered_on": "2024-03-01",
        "sealed_citizen_id": "v1.yISbZO1eAkKbiGdegO7dES8eihlaBaVJLpMM_qtVDuyFBA",
        "sealed_name": "s1.6oDxZemrZYgkXViuc3QQY_DRDicVFg",
    }
    person: PersonRef
    birth_date: date
    sex: Sex
    hukou_region: RegionCode
    residence: Residence
    registered_on: date
    sealed_citizen_id: SealedCitizenId
    sealed_name: SealedName | None = None


class EmploymentStarted(Message):
    """The person started working for an employer."""

    TYPE = "shebao.enrollment.EmploymentStarted"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "person": _REF,
        "employer": _EMPLOYER,
        "region": "320100",
        "start_date": "2024-03-01",
        "monthly_wage": "8500.00",
        "risk_class": 2,
    }
    person: PersonRef
    employer: EmployerCode
    region: RegionCode
    start_date: date
    monthly_wage: Money
    risk_class: RiskClass


class EmploymentEnded(Message):
    """The employment ended, voluntarily or not (unemployment benefit needs to know which)."""

    TYPE = "shebao.enrollment.EmploymentEnded"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "person": _REF,
        "employer": _EMPLOYER,
        "region": "320100",
        "end_date": "2025-06-30",
        "separation": "involuntary",
    }
    person: PersonRef
    employer: EmployerCode
    region: RegionCode
    end_date: date
    separation: Separation


class MembershipStarted(Message):
    """The person became a member of a scheme (enrolled), or was re-enrolled after a transfer."""

    TYPE = "shebao.enrollment.MembershipStarted"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "person": _REF,
        "scheme": "employee_pension",
        "insurance": "pension",
        "region": "320100",
        "since": "2024-03-01",
        "first_enrolled": "2024-03-01",
        "basis": "employment",
        "employer": _EMPLOYER,
        "declared_base": "8500.00",
        "birth_date": "1990-03-07",
        "sex": "female",
    }
    person: PersonRef
    scheme: Scheme
    insurance: Insurance
    region: RegionCode
    since: date
    first_enrolled: date = Field(description="start of the uninterrupted story, across transfers")
    basis: Basis
    employer: EmployerCode | None = None
    declared_base: Money | None = Field(None, description="monthly wage or self-declared base")
    yearly_tier: Tier | None = None
    risk_class: RiskClass | None = None
    transfer_id: str | None = None
    expropriation_record: str | None = None
    birth_date: date
    sex: Sex
    active: bool = Field(
        True, description="false when it starts suspended (an employee relationship transferred in)"
    )


class MembershipSuspended(Message):
    """Contributions to the scheme stop (e.g. the employment ended); the membership remains."""

    TYPE = "shebao.enrollment.MembershipSuspended"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "person": _REF,
        "scheme": "employee_pension",
        "insurance": "pension",
        "region": "320100",
        "on": "2025-06-30",
        "reason": "employment_ended",
    }
    person: PersonRef
    scheme: Scheme
    insurance: Insurance
    region: RegionCode
    on: date
    reason: StopReason


class MembershipResumed(Message):
    """A suspended membership is active again (a new employment in the same region)."""

    TYPE = "shebao.enrollment.MembershipResumed"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "person": _REF,
        "scheme": "employee_pension",
        "insurance": "pension",
        "region": "320100",
        "on": "2025-09-01",
        "basis": "employment",
        "employer": _EMPLOYER,
        "declared_base": "9000.00",
    }
    person: PersonRef
    scheme: Scheme
    insurance: Insurance
    region: RegionCode
    on: date
    basis: Basis
    employer: EmployerCode | None = None
    declared_base: Money | None = None
    risk_class: RiskClass | None = None


class MembershipChanged(Message):
    """The terms of an active membership changed: a flexible worker found an employer, or the
    person changed employer within the region (new base, new risk class)."""

    TYPE = "shebao.enrollment.MembershipChanged"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "person": _REF,
        "scheme": "employee_pension",
        "insurance": "pension",
        "region": "320100",
        "on": "2025-03-01",
        "basis": "employment",
        "employer": _EMPLOYER,
        "declared_base": "9800.00",
        "risk_class": 2,
    }
    person: PersonRef
    scheme: Scheme
    insurance: Insurance
    region: RegionCode
    on: date
    basis: Basis
    employer: EmployerCode | None = None
    declared_base: Money | None = None
    risk_class: RiskClass | None = None


class MembershipEnded(Message):
    """The membership ended (switched scheme, transferred out, deceased)."""

    TYPE = "shebao.enrollment.MembershipEnded"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "person": _REF,
        "scheme": "resident_pension",
        "insurance": "pension",
        "region": "320100",
        "on": "2024-03-01",
        "reason": "switched_scheme",
    }
    person: PersonRef
    scheme: Scheme
    insurance: Insurance
    region: RegionCode
    on: date
    reason: StopReason
    transfer_id: str | None = None


class ResidentPensionTierChosen(Message):
    """The person chose a resident pension tier for a year."""

    TYPE = "shebao.enrollment.ResidentPensionTierChosen"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "person": _REF,
        "region": "320100",
        "year": 2025,
        "yearly_tier": 1000,
    }
    person: PersonRef
    region: RegionCode
    year: int
    yearly_tier: Tier


class PersonTransferredOut(Message):
    """The person's relationships left a region; the matching PersonTransferredIn carries the
    same transfer id, so the two are one story."""

    TYPE = "shebao.enrollment.PersonTransferredOut"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "person": _REF,
        "transfer_id": "TR-2025-000123",
        "from_region": "320100",
        "to_region": "320500",
        "on": "2025-07-01",
        "schemes": ["employee_pension", "employee_medical"],
    }
    person: PersonRef
    transfer_id: str
    from_region: RegionCode
    to_region: RegionCode
    on: date
    schemes: tuple[Scheme, ...]


class PersonTransferredIn(Message):
    """The person's relationships arrived in a region (from a transfer-out or another province)."""

    TYPE = "shebao.enrollment.PersonTransferredIn"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "person": _REF,
        "transfer_id": "TR-2025-000123",
        "from_region": "320100",
        "to_region": "320500",
        "on": "2025-07-15",
        "schemes": ["employee_pension", "employee_medical"],
        "within_province": True,
    }
    person: PersonRef
    transfer_id: str
    from_region: RegionCode
    to_region: RegionCode
    on: date
    schemes: tuple[Scheme, ...]
    within_province: bool


class CardIssued(Message):
    """A social-security card was issued; `replaces` names the card it invalidates."""

    TYPE = "shebao.enrollment.CardIssued"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "person": _REF,
        "card_number": "A32010977",
        "issued_on": "2025-02-01",
        "replaces": "A32010203",
    }
    person: PersonRef
    card_number: str
    issued_on: date
    replaces: str | None = None


class PersonDeceased(Message):
    """The person died; every membership has ended."""

    TYPE = "shebao.enrollment.PersonDeceased"
    EXAMPLE: ClassVar[dict[str, Any]] = {"person": _REF, "on": "2025-09-30"}
    person: PersonRef
    on: date


class CommandRejected(Message):
    """A command was refused; the record key is the command id."""

    TYPE = "shebao.enrollment.CommandRejected"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "command_id": "0b8f0a52-3c4d-4b7e-9d0a-2f6c1e8a7b31",
        "command_type": "shebao.enrollment.StartEmployment",
        "reason": "employer_not_registered",
        "detail": "employer 91320100MA1XXXXX0Y is not registered",
        "person": _REF,
    }
    command_id: str
    command_type: str
    reason: str = Field(description="a Rejection value, or a validation reason of the runtime")
    detail: str = ""
    person: PersonRef | None = None
    employer: EmployerCode | None = None


# --------------------------------------------------------------------------------------------
# The service's own work topic: where a partitioned state hands a record to the partition that
# keeps what it changes (`STATE_LAYOUT`), and the card numbers' holders in every layout

CardNumber = Annotated[str, Field(pattern=r"^[A-Z0-9]{6,20}$")]
_SEALED_ID = "v1.yISbZO1eAkKbiGdegO7dES8eihlaBaVJLpMM_qtVDuyFBA"


class CommandForwarded(Message):
    """A command handed to the partition that keeps what it changes, when the service's state is
    partitioned and the command arrived keyed otherwise: a person's command (keyed by citizen
    ID) to the partition of his reference, an employer's to its code's. Decided there as if it
    had come keyed right, and answered under its own `command_id`. `command` holds the command's
    fields but the citizen ID and the name, which travel sealed (raw IDs stay on the commands
    topic)."""

    TYPE = "shebao.enrollment.CommandForwarded"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "command_id": "0b8f0a52-3c4d-4b7e-9d0a-2f6c1e8a7b31",
        "command_type": "shebao.enrollment.StartEmployment",
        "person": _REF,
        "sealed_citizen_id": _SEALED_ID,
        "command": {
            "employer": _EMPLOYER,
            "start_date": "2024-03-01",
            "monthly_wage": "8000.00",
        },
    }
    command_id: str = Field(min_length=1, max_length=200)
    command_type: str
    person: PersonRef | None = None
    employer: EmployerCode | None = None
    sealed_citizen_id: SealedCitizenId | None = None
    sealed_name: SealedName | None = None
    command: dict[str, Any]


class _CardClaim(Message):
    """A card command's number on its way between the person's partition and the number's: a
    number is issued to one person ever, and the number's holder is kept with the number."""

    card_number: CardNumber
    person: PersonRef
    command_id: str = Field(min_length=1, max_length=200)
    command_type: str
    issued_on: date
    reason: CardReplacement | None = None
    """The replacement's reason (a ReplaceCard); None for an IssueCard."""


_CLAIM: dict[str, Any] = {
    "card_number": "A32010977",
    "person": _REF,
    "command_id": "5d1c2b3a-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
    "command_type": "shebao.enrollment.ReplaceCard",
    "issued_on": "2025-02-01",
    "reason": "lost",
}


class CardNumberHeld(Message):
    """A card was issued at once, the number's holder kept with the person (in one slot, or on
    the person's partition): the number's holder, on the record of the holders a rebuild folds
    (keyed by the card number). Nothing acts on it live."""

    TYPE = "shebao.enrollment.CardNumberHeld"
    EXAMPLE: ClassVar[dict[str, Any]] = {"card_number": "A32010977", "person": _REF}
    card_number: CardNumber
    person: PersonRef


class CardNumberClaimed(_CardClaim):
    """The person's partition found the person may have the card and asks the number's partition
    (keyed by the card number) to hold the number for him."""

    TYPE = "shebao.enrollment.CardNumberClaimed"
    EXAMPLE: ClassVar[dict[str, Any]] = _CLAIM


class CardNumberGranted(_CardClaim):
    """The number is now held for the person (keyed by his reference): his partition issues the
    card, or refuses the command if he changed meanwhile (the number then stays his, unissued,
    as every number once held does: docs/CAPACITY.md)."""

    TYPE = "shebao.enrollment.CardNumberGranted"
    EXAMPLE: ClassVar[dict[str, Any]] = _CLAIM


class CardNumberRefused(_CardClaim):
    """The number was held before (keyed by the claimant's reference): his partition refuses the
    command (`card_number_in_use`)."""

    TYPE = "shebao.enrollment.CardNumberRefused"
    EXAMPLE: ClassVar[dict[str, Any]] = _CLAIM


# --------------------------------------------------------------------------------------------
# Topics and contract

COMMANDS: Topic = Topic(
    "shebao.enrollment.commands.v1",
    owner=SERVICE,
    key="citizen ID (person commands) or employer code (RegisterEmployer)",
    messages=(RegisterEmployer, *PERSON_COMMANDS),
    description="Commands from service counters and the online portal.",
)

EVENTS: Topic = Topic(
    "shebao.enrollment.events.v1",
    owner=SERVICE,
    key="person reference, employer code (EmployerRegistered) or command id (CommandRejected)",
    messages=(
        EmployerRegistered,
        PersonRegistered,
        EmploymentStarted,
        EmploymentEnded,
        MembershipStarted,
        MembershipSuspended,
        MembershipResumed,
        MembershipChanged,
        MembershipEnded,
        ResidentPensionTierChosen,
        PersonTransferredOut,
        PersonTransferredIn,
        CardIssued,
        PersonDeceased,
        CommandRejected,
    ),
    description="Everything that happened to persons, employers and memberships.",
)

WORK: Topic = Topic(
    "shebao.enrollment.work.v1",
    owner=SERVICE,
    key="person reference, employer code (a RegisterEmployer keyed otherwise) or card number "
    "(CardNumberHeld, CardNumberClaimed)",
    messages=(
        CommandForwarded,
        CardNumberHeld,
        CardNumberClaimed,
        CardNumberGranted,
        CardNumberRefused,
    ),
    description="Private hand-offs of the enrollment service (where its state is partitioned) and "
    "the card numbers' holders; nobody else reads or writes it.",
)

# Imported here, not at the top: the other contracts read this module's schemes and events, and
# the lifetime record reads theirs. The package imports this module first (`__init__`), so each
# of them finds it complete up to here.
from . import contributions, medical, unemployment, welfare  # noqa: E402

AUDIT: Topic = audit_topic(SERVICE)

CONTRACT = ServiceContract(
    service=SERVICE,
    title="shebao enrollment",
    description=__doc__ or "",
    consumes=(
        COMMANDS,
        WORK,
        EVENTS,  # with every other service's events: a person's lifetime record (记录一生)
        contributions.EVENTS,
        medical.EVENTS,
        unemployment.EVENTS,
        welfare.EVENTS,
    ),
    produces=(EVENTS, WORK, AUDIT),
)
