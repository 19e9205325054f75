"""Welfare (social assistance): minimum living allowance (低保), extreme-poverty support (特困),
temporary assistance.

Civil-affairs offices send their decisions' inputs on `shebao.welfare.commands.v1`: a household's
application (members by citizen ID, pseudonymised on receipt; income; the asset test), reviews,
stops, a person's extreme-poverty application, one-off temporary assistance; the scheduler closes
each region's month. The service decides and pays: a 低保 household gets (standard - per-capita
income) x members a month, a 特困 person the support standard. Every change of a person's status
goes out as `RecipientStatusChanged` (medical settlement grants medical assistance by it). It
follows the price-subsidy triggers of unemployment-subsidies and pays its recipients, except a
person the unemployment fund already pays for the period; and for each recipient the government
pays the lowest resident-pension tier of the year (`PensionPaidOnBehalf`).
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, Field, StringConstraints
from pydantic_core import PydanticCustomError

from .audit import audit_topic
from .envelope import Message
from .topics import ServiceContract, Topic
from .types import (
    CitizenId,
    Money,
    NonNegativeMoney,
    NotACitizenId,
    PersonRef,
    PositiveMoney,
    RegionCode,
)

SERVICE = "welfare"

Month = Annotated[
    str,
    StringConstraints(pattern=r"^[12][0-9]{3}-(0[1-9]|1[0-2])$"),
    Field(description="A calendar month, YYYY-MM", examples=["2025-03"]),
]
SUPPORT_CASE_PREFIX = "support:"
"""A 特困 person's support is the case `support:<person reference>`: no household's id."""


def _not_a_support_case(value: Any) -> Any:
    if type(value) is str and value.startswith(SUPPORT_CASE_PREFIX):
        raise PydanticCustomError(
            "household_id_reserved",
            "a household id must not begin with support:, which names a person's support",
        )
    return value


HouseholdId = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"),
    NotACitizenId,
    Field(description="The civil-affairs office's id of the household", examples=["NJ-DB-00017"]),
]
"""In events also a 特困 person's support case, `support:<person reference>`."""
OfficeHouseholdId = Annotated[
    HouseholdId,
    AfterValidator(_not_a_support_case),
    Field(description="The civil-affairs office's id of the household (not beginning support:)"),
]
"""A household id as an office sends it: never one that names a person's support."""
Shard = Annotated[int, Field(ge=0, lt=4096)]

_ID = "320102199003071220"
_ID2 = "320102201505050024"
_REF = "9f2c4e0b7a1d3c5e8f6a0b2d4c6e8a1f"


class AssistanceStatus(StrEnum):
    MINIMUM_LIVING_ALLOWANCE = "minimum_living_allowance"  # 低保
    EXTREME_POVERTY = "extreme_poverty"  # 特困供养
    NONE = "none"


class Residence(StrEnum):
    URBAN = "urban"
    RURAL = "rural"


class SelfCare(StrEnum):
    """How far a 特困 person can look after themselves: sets the care part of the support."""

    FULL = "full"
    PARTIAL = "partial"
    NONE = "none"


class StopReason(StrEnum):
    INCOME_ABOVE_STANDARD = "income_above_standard"
    MOVED_AWAY = "moved_away"
    DECEASED = "deceased"
    FALSE_DECLARATION = "false_declaration"
    WITHDRAWN = "withdrawn"


class Rejection(StrEnum):
    """Why welfare refused a command (the runtime adds the reading reasons)."""

    INCOME_NOT_BELOW_STANDARD = "income_not_below_standard"
    ASSETS_ABOVE_LIMIT = "assets_above_limit"
    MEMBER_IN_ANOTHER_HOUSEHOLD = "member_in_another_household"
    HOUSEHOLD_ALREADY_ACTIVE = "household_already_active"
    UNKNOWN_HOUSEHOLD = "unknown_household"
    HOUSEHOLD_NOT_ACTIVE = "household_not_active"
    NOT_EXTREME_POVERTY = "not_extreme_poverty"
    ALREADY_SUPPORTED = "already_supported"
    TEMPORARY_ASSISTANCE_LIMIT = "temporary_assistance_limit"
    AMOUNT_ABOVE_CAP = "amount_above_cap"
    MONTH_ALREADY_CLOSED = "month_already_closed"
    SERVICE_DATE_IN_FUTURE = "service_date_in_future"
    HOUSEHOLD_ID_RESERVED = "household_id_reserved"
    """A household id beginning with support: would name a 特困 person's support case."""
    COMMAND_KEY_MISMATCH = "command_key_mismatch"
    """Keyed otherwise than the topic says (a household's command by its id, a close by its
    region): where the state is partitioned it reached a partition that does not keep it."""


# --------------------------------------------------------------------------------------------
# Commands (civil-affairs offices, the scheduler)


class ApplyForAllowance(Message):
    """A household's application for the minimum living allowance (低保): its members, region,
    urban or rural, its total monthly income and the result of the asset test. Approved when the
    per-capita income is below the standard and the assets pass; paid from the next month."""

    TYPE = "shebao.welfare.ApplyForAllowance"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "household_id": "NJ-DB-00017",
        "region": "320100",
        "residence": "urban",
        "members": [_ID, _ID2],
        "monthly_income": "600.00",
        "assets_within_limit": True,
        "applied_on": "2025-02-10",
    }
    household_id: OfficeHouseholdId
    region: RegionCode
    residence: Residence
    members: Annotated[list[CitizenId], Field(min_length=1, max_length=20)]
    monthly_income: NonNegativeMoney
    assets_within_limit: bool
    applied_on: date


class ReviewHousehold(Message):
    """A periodic review, or a change of income or members: the allowance is recomputed from
    the month after `on` (and the household stopped if no longer eligible)."""

    TYPE = "shebao.welfare.ReviewHousehold"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "household_id": "NJ-DB-00017",
        "members": [_ID, _ID2],
        "monthly_income": "900.00",
        "on": "2025-05-20",
    }
    household_id: OfficeHouseholdId
    members: Annotated[list[CitizenId], Field(min_length=1, max_length=20)]
    monthly_income: NonNegativeMoney
    on: date


class StopAllowance(Message):
    """A household leaves the allowance on `on` (the month of `on` is the last one paid)."""

    TYPE = "shebao.welfare.StopAllowance"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "household_id": "NJ-DB-00017",
        "on": "2025-06-30",
        "reason": "moved_away",
    }
    household_id: OfficeHouseholdId
    on: date
    reason: StopReason


class ApplyForSupport(Message):
    """A person's application for extreme-poverty support (特困, the rural "five guarantees"):
    no ability to work, no income, nobody obliged to support them (the three "no"s). Approved
    when all three hold; paid from the next month."""

    TYPE = "shebao.welfare.ApplyForSupport"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "citizen_id": _ID,
        "region": "321300",
        "residence": "rural",
        "unable_to_work": True,
        "no_income": True,
        "no_supporter": True,
        "self_care": "partial",
        "applied_on": "2025-02-10",
    }
    citizen_id: CitizenId
    region: RegionCode
    residence: Residence
    unable_to_work: bool
    no_income: bool
    no_supporter: bool
    self_care: SelfCare
    applied_on: date


class StopSupport(Message):
    """A person's extreme-poverty support ends on `on` (the month of `on` is the last paid)."""

    TYPE = "shebao.welfare.StopSupport"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "citizen_id": _ID,
        "on": "2025-06-30",
        "reason": "deceased",
    }
    citizen_id: CitizenId
    on: date
    reason: StopReason


class GrantTemporaryAssistance(Message):
    """A one-off payment to a household for a sudden hardship: at most a multiple of the monthly
    低保 standard, a limited number of times a year."""

    TYPE = "shebao.welfare.GrantTemporaryAssistance"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "household_id": "NJ-DB-00017",
        "grant_id": "NJ-LS-2025-0042",
        "amount": "1500.00",
        "on": "2025-03-15",
        "reason": "house fire",
    }
    household_id: OfficeHouseholdId
    grant_id: HouseholdId
    amount: PositiveMoney
    on: date
    reason: Annotated[str, Field(min_length=1, max_length=200)]


class ClosePaymentMonth(Message):
    """The scheduler's monthly payment run for a region: each active household and supported
    person paid the month once. A month is closed once it is over, and once."""

    TYPE = "shebao.welfare.ClosePaymentMonth"
    EXAMPLE: ClassVar[dict[str, Any]] = {"region": "320100", "month": "2025-03"}
    region: RegionCode
    month: Month


# --------------------------------------------------------------------------------------------
# Events


class RecipientStatusChanged(Message):
    """A person's assistance status from a date: became a 低保 or 特困 recipient, or no longer is
    (status `none`). Medical settlement grants medical assistance by the status on the service
    date."""

    TYPE = "shebao.welfare.RecipientStatusChanged"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "person": "9f2c4e0b7a1d3c5e8f6a0b2d4c6e8a1f",
        "status": "minimum_living_allowance",
        "region": "321300",
        "effective_from": "2024-07-01",
        "case": "SQ-DB-00003",
    }
    person: PersonRef
    status: AssistanceStatus
    region: RegionCode
    effective_from: date
    case: str | None = Field(
        None,
        description="The case whose decision changed the status: the household id, or "
        "`support:<person>` for extreme-poverty support (absent in events before it was added)",
    )


class AllowanceDecided(Message):
    """A household's allowance from a month: on approval, and after each review (0.00 when the
    review found it no longer eligible, with the stop that follows)."""

    TYPE = "shebao.welfare.AllowanceDecided"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "household_id": "NJ-DB-00017",
        "region": "320100",
        "members": 2,
        "standard": "1100.00",
        "per_capita_income": "300.00",
        "monthly_allowance": "1600.00",
        "from_month": "2025-03",
        "residence": "urban",
        "member_refs": [_REF, "0d4b6f8a1c3e5a7b9d1f3a5c7e9b1d3f"],
        "monthly_income": "600.00",
    }
    household_id: HouseholdId
    region: RegionCode
    members: int
    standard: Money
    per_capita_income: Money
    monthly_allowance: Money
    from_month: Month
    residence: Residence | None = None
    """Urban or rural, as decided at the application (a review keeps it)."""
    member_refs: list[PersonRef] = Field(
        default_factory=list, description="The household's members from the month, as references"
    )
    monthly_income: Money | None = None
    """The household's total monthly income the allowance was computed from."""


class AllowanceStopped(Message):
    """A household left the allowance; `last_month` was the last one paid."""

    TYPE = "shebao.welfare.AllowanceStopped"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "household_id": "NJ-DB-00017",
        "region": "320100",
        "on": "2025-06-30",
        "reason": "moved_away",
        "last_month": "2025-06",
    }
    household_id: HouseholdId
    region: RegionCode
    on: date
    reason: StopReason
    last_month: Month


class SupportDecided(Message):
    """A person's extreme-poverty support from a month: the basic standard and the care part."""

    TYPE = "shebao.welfare.SupportDecided"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "person": _REF,
        "region": "321300",
        "basic": "1430.00",
        "care": "300.00",
        "monthly_support": "1730.00",
        "from_month": "2025-03",
        "residence": "rural",
        "self_care": "partial",
    }
    person: PersonRef
    region: RegionCode
    basic: Money
    care: Money
    monthly_support: Money
    from_month: Month
    residence: Residence | None = None
    self_care: SelfCare | None = None
    """The self-care ability the care part was decided by."""


class AssistancePaid(Message):
    """A month paid: to a 低保 household (`household_id`) or a 特困 person (`person`)."""

    TYPE = "shebao.welfare.AssistancePaid"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "household_id": "NJ-DB-00017",
        "region": "320100",
        "month": "2025-03",
        "status": "minimum_living_allowance",
        "amount": "1600.00",
    }
    household_id: HouseholdId | None = None
    person: PersonRef | None = None
    region: RegionCode
    month: Month
    status: AssistanceStatus
    amount: Money


class TemporaryAssistancePaid(Message):
    """A one-off temporary assistance was paid to a household."""

    TYPE = "shebao.welfare.TemporaryAssistancePaid"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "household_id": "NJ-DB-00017",
        "grant_id": "NJ-LS-2025-0042",
        "region": "320100",
        "on": "2025-03-15",
        "amount": "1500.00",
        "grants_this_year": 1,
    }
    household_id: HouseholdId
    grant_id: HouseholdId
    region: RegionCode
    on: date
    amount: Money
    grants_this_year: int


class PriceSubsidyPaid(Message):
    """A 低保 or 特困 person was paid the price subsidy of a period, once (a person the
    unemployment fund pays for the period is paid there, not here)."""

    TYPE = "shebao.welfare.PriceSubsidyPaid"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "person": _REF,
        "region": "320100",
        "period": "2025-03",
        "amount": "91.67",
    }
    person: PersonRef
    region: RegionCode
    period: str
    amount: Money


class PensionPaidOnBehalf(Message):
    """The government pays the lowest resident-pension tier of a year for a 低保 or 特困 person
    (contributions books it for a person in the resident pension scheme)."""

    TYPE = "shebao.welfare.PensionPaidOnBehalf"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "person": _REF,
        "region": "320100",
        "year": 2025,
        "tier": 100,
        "amount": "100.00",
    }
    person: PersonRef
    region: RegionCode
    year: int
    tier: int
    amount: Money


class CommandRejected(Message):
    """A command was refused; the record key is the command id."""

    TYPE = "shebao.welfare.CommandRejected"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "command_id": "4f0c1c2e-9a8b-4e0d-8f7a-6b5c4d3e2f10",
        "command_type": "shebao.welfare.ApplyForAllowance",
        "reason": "income_not_below_standard",
        "detail": "per-capita income 1100.00 is not below the standard 1100.00",
        "household_id": "NJ-DB-00017",
    }
    command_id: str
    command_type: str
    reason: str = Field(description="a Rejection value, or a validation reason of the runtime")
    detail: str = ""
    household_id: str | None = None
    person: PersonRef | None = None
    region: RegionCode | None = None


# --------------------------------------------------------------------------------------------
# The service's own fan-out (private)


class PayShard(Message):
    """Pay the households and supported persons of one directory shard for a closed month."""

    TYPE = "shebao.welfare.PayShard"
    EXAMPLE: ClassVar[dict[str, Any]] = {"region": "320100", "month": "2025-03", "shard": 3}
    region: RegionCode
    month: Month
    shard: Shard


class PayCase(Message):
    """Pay one case (a 低保 household, or a 特困 person's support) a closed month."""

    TYPE = "shebao.welfare.PayCase"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "case": "NJ-DB-00017",
        "region": "320100",
        "month": "2025-03",
    }
    case: str
    region: RegionCode
    month: Month


class SubsidyShard(Message):
    """Pay a triggered price subsidy to the recipients of one directory shard."""

    TYPE = "shebao.welfare.SubsidyShard"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "region": "320100",
        "period": "2025-03",
        "shard": 3,
        "urban_amount": "91.67",
        "rural_amount": "91.67",
    }
    region: RegionCode
    period: str
    shard: Shard
    urban_amount: Money
    rural_amount: Money


class PayCaseSubsidy(Message):
    """Pay a triggered price subsidy to the members of one case, if it paid in the period."""

    TYPE = "shebao.welfare.PayCaseSubsidy"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "case": "NJ-DB-00017",
        "region": "320100",
        "period": "2025-03",
        "urban_amount": "91.67",
        "rural_amount": "91.67",
    }
    case: str
    region: RegionCode
    period: str
    urban_amount: Money
    rural_amount: Money


class MemberSet(Message):
    """A person joins a case, or leaves it (`case` None): one active case a person. Naming a
    claim (`command_id`), it ends the claim's hold; the case as it stands then decides."""

    TYPE = "shebao.welfare.MemberSet"
    EXAMPLE: ClassVar[dict[str, Any]] = {"person": _REF, "case": None, "left": "NJ-DB-00017"}
    person: PersonRef
    case: str | None
    left: str | None = None
    """The case the person leaves: the membership is cleared only if it is still that one."""
    command_id: str | None = None
    """Partitioned: the household's claim whose hold on the person this ends, decided (`case`
    the household) or refused (`left` the household)."""


class PaySubsidy(Message):
    """Pay one recipient a period's price subsidy, once."""

    TYPE = "shebao.welfare.PaySubsidy"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "person": _REF,
        "region": "320100",
        "period": "2025-03",
        "amount": "91.67",
    }
    person: PersonRef
    region: RegionCode
    period: str
    amount: Money


class DirectorySet(Message):
    """A case joins or leaves a region's directory shard."""

    TYPE = "shebao.welfare.DirectorySet"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "region": "320100",
        "shard": 3,
        "case": "NJ-DB-00017",
        "active": True,
    }
    region: RegionCode
    shard: Shard
    case: str
    active: bool


class ApplicationClaim(Message):
    """A household's application, where the state is partitioned and members are kept on other
    partitions than the household: handed from member to member (`claim`, the first keys the
    record), each held for the household unless in another one, then back to the household's
    partition (keyed by its id once `claim` is empty or `refused`), which decides it. The members
    by reference only; the answer goes out under `command_id`."""

    TYPE = "shebao.welfare.ApplicationClaim"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "command_id": "c-7f3a",
        "household_id": "NJ-DB-00017",
        "region": "320100",
        "residence": "urban",
        "members": [_REF],
        "claim": [_REF],
        "held": [],
        "refused": False,
        "monthly_income": "600.00",
        "assets_within_limit": True,
        "applied_on": "2025-02-10",
    }
    command_id: str
    household_id: HouseholdId
    region: RegionCode
    residence: Residence
    members: Annotated[list[PersonRef], Field(min_length=1, max_length=20)]
    """Every member, in the application's order."""
    claim: list[PersonRef]
    """The members still to hold, kept on other partitions than the household."""
    held: list[PersonRef] = []
    """The members held for the household by this claim (in no case before it)."""
    refused: bool = False
    """A member is in another household: back to the household, to refuse and release."""
    monthly_income: NonNegativeMoney
    assets_within_limit: bool
    applied_on: date


class ReviewClaim(Message):
    """A household's review handed through its members' partitions, as `ApplicationClaim`."""

    TYPE = "shebao.welfare.ReviewClaim"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "command_id": "c-7f3b",
        "household_id": "NJ-DB-00017",
        "members": [_REF],
        "claim": [],
        "held": [_REF],
        "refused": False,
        "monthly_income": "900.00",
        "on": "2025-05-20",
    }
    command_id: str
    household_id: HouseholdId
    members: Annotated[list[PersonRef], Field(min_length=1, max_length=20)]
    claim: list[PersonRef]
    held: list[PersonRef] = []
    refused: bool = False
    monthly_income: NonNegativeMoney
    on: date


class SupportForwarded(Message):
    """A person's application for extreme-poverty support (keyed by citizen ID), handed to the
    partition that keeps the person, by reference; the answer goes out under `command_id`."""

    TYPE = "shebao.welfare.SupportForwarded"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "command_id": "c-7f3c",
        "person": _REF,
        "region": "321300",
        "residence": "rural",
        "unable_to_work": True,
        "no_income": True,
        "no_supporter": True,
        "self_care": "partial",
        "applied_on": "2025-02-10",
    }
    command_id: str
    person: PersonRef
    region: RegionCode
    residence: Residence
    unable_to_work: bool
    no_income: bool
    no_supporter: bool
    self_care: SelfCare
    applied_on: date


class SupportStopForwarded(Message):
    """A stop of a person's support (keyed by citizen ID), handed to the person's partition."""

    TYPE = "shebao.welfare.SupportStopForwarded"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "command_id": "c-7f3d",
        "person": _REF,
        "on": "2025-06-30",
        "reason": "deceased",
    }
    command_id: str
    person: PersonRef
    on: date
    reason: StopReason


# --------------------------------------------------------------------------------------------
# Topics and contract

COMMANDS = Topic(
    "shebao.welfare.commands.v1",
    owner=SERVICE,
    key="household id (households, grants), citizen ID (support), region code (closes)",
    messages=(
        ApplyForAllowance,
        ReviewHousehold,
        StopAllowance,
        ApplyForSupport,
        StopSupport,
        GrantTemporaryAssistance,
        ClosePaymentMonth,
    ),
    description="Civil-affairs offices' applications, reviews, stops and grants; payment runs.",
)

EVENTS: Topic = Topic(
    "shebao.welfare.events.v1",
    owner=SERVICE,
    key="person reference, household id, or command id (rejections)",
    messages=(
        RecipientStatusChanged,
        AllowanceDecided,
        AllowanceStopped,
        SupportDecided,
        AssistancePaid,
        TemporaryAssistancePaid,
        PriceSubsidyPaid,
        PensionPaidOnBehalf,
        CommandRejected,
    ),
    description="Assistance decisions about persons and households, and what was paid.",
)

WORK = Topic(
    "shebao.welfare.work.v1",
    owner=SERVICE,
    key=(
        "region:shard (shard work), household id or person reference (a payment, a member's "
        "claim or release, a command handed to the partition that keeps it)"
    ),
    messages=(
        PayShard,
        PayCase,
        SubsidyShard,
        PayCaseSubsidy,
        PaySubsidy,
        MemberSet,
        DirectorySet,
        ApplicationClaim,
        ReviewClaim,
        SupportForwarded,
        SupportStopForwarded,
    ),
    description=(
        "Private: the payment runs' fan-out, and (state partitioned) commands handed to the "
        "partition that keeps what they change; nobody else reads or writes it."
    ),
)

# Imported here, not at the top: the unemployment contract reads this module's statuses, and this
# one its price-subsidy triggers; whichever is imported first is complete up to here.
from . import unemployment  # noqa: E402

AUDIT: Topic = audit_topic(SERVICE)

CONTRACT = ServiceContract(
    service=SERVICE,
    title="shebao welfare",
    description=__doc__ or "",
    consumes=(COMMANDS, WORK, unemployment.EVENTS),
    produces=(EVENTS, WORK, AUDIT),
)
