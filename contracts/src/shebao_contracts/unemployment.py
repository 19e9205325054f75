"""Unemployment subsidies: unemployment benefits and the CPI-linked price subsidy.

A job centre registers a person as unemployed on `shebao.unemployment-subsidies.commands.v1`, by
citizen ID (pseudonymised on receipt). The service decides eligibility only from what it has
followed: enrollment's events (registration, employments and how they ended, death) and the
contributions credited for unemployment insurance (`shebao.contributions.events.v1`, across
regions). A monthly payment run per region (`ClosePaymentMonth`) pays every active recipient
once: a `BenefitPaid`, and a `MedicalContributionPaid` that contributions books as the person's
credited medical month.

The statistics bureau of a region publishes the monthly consumer price index on its own topic
(`partner.stats.<code>.cpi.v1`) and reads the answers on `partner.stats.<code>.answers.v1`.
When a release crosses the threshold of the rule in force for the region and month, the service
publishes `PriceSubsidyTriggered` (for the welfare service's recipients too) and pays each
benefit recipient of that month the subsidy once.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import Field, StringConstraints

from . import enrollment
from .audit import audit_topic
from .envelope import Message
from .topics import Direction, ServiceContract, Topic
from .types import CitizenId, Money, PartnerCode, PersonRef, RegionCode

SERVICE = "unemployment-subsidies"

Month = Annotated[
    str,
    StringConstraints(pattern=r"^[12][0-9]{3}-(0[1-9]|1[0-2])$"),
    Field(description="A calendar month, YYYY-MM", examples=["2025-03"]),
]
PercentChange = Annotated[
    str,
    StringConstraints(pattern=r"^-?(0|[1-9][0-9]?)(\.[0-9])?$"),
    Field(
        description="A year-on-year change in percent with at most one decimal place, as the "
        'bureau releases it: "3.2" is +3.2%, "-0.5" is -0.5%',
        examples=["3.2"],
    ),
]
Shard = Annotated[int, Field(ge=0, lt=4096)]

_ID = "320102199003071220"
_REF = "9f2c4e0b7a1d3c5e8f6a0b2d4c6e8a1f"


class Rejection(StrEnum):
    """Why the service refused a command or a statistics release (the runtime adds the reading
    reasons: malformed_json, schema_violation, citizen_id_*, id_conflict...)."""

    PERSON_NOT_REGISTERED = "person_not_registered"
    PERSON_DECEASED = "person_deceased"
    RETIRED = "retired"
    STILL_EMPLOYED = "still_employed"
    NO_EMPLOYMENT_ENDED = "no_employment_ended"
    SEPARATION_VOLUNTARY = "separation_voluntary"
    INSUFFICIENT_CONTRIBUTIONS = "insufficient_contributions"
    ALREADY_RECEIVING = "already_receiving"
    NOT_RECEIVING = "not_receiving"
    MONTH_ALREADY_CLOSED = "month_already_closed"
    PERIOD_ALREADY_PAID = "period_already_paid"
    WRONG_REGION = "wrong_region"
    SERVICE_DATE_IN_FUTURE = "service_date_in_future"
    COMMAND_KEY_MISMATCH = "command_key_mismatch"
    RELEASE_KEY_MISMATCH = "release_key_mismatch"


class StopCause(StrEnum):
    """Why a benefit stopped. A job centre records the last two; the others the service sees."""

    REEMPLOYED = "reemployed"
    RETIRED = "retired"
    DECEASED = "deceased"
    ENTITLEMENT_USED = "entitlement_used"
    REFUSED_SUITABLE_WORK = "refused_suitable_work"
    EMIGRATED = "emigrated"


class RecordedCause(StrEnum):
    """The stops a job centre records (the service sees the others itself)."""

    REFUSED_SUITABLE_WORK = "refused_suitable_work"
    EMIGRATED = "emigrated"


class Variant(StrEnum):
    """The price-subsidy rule in force for a region and month (a policy parameter)."""

    JIANGSU_MONTHLY = "jiangsu_monthly"
    """CPI >= 3%: 1/12 of the month's 低保 standard; >= 5%: 1/8. Monthly."""
    NATIONAL_2016 = "national_2016"
    """CPI >= 3.5% or food CPI >= 6%: the 低保 standard times the triggering rise. Monthly."""
    QUARTERLY_2011 = "quarterly_2011"
    """The 2011 source's quarterly subsidy: the quarter's average CPI against the Jiangsu
    thresholds, three months' worth, paid once after the quarter's last release."""


# --------------------------------------------------------------------------------------------
# Commands (job centres, the scheduler)


class RegisterUnemployed(Message):
    """A job centre registers a person as unemployed (失业登记) in its region."""

    TYPE = "shebao.unemployment.RegisterUnemployed"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "citizen_id": _ID,
        "region": "320100",
        "registered_on": "2025-03-03",
    }
    citizen_id: CitizenId
    region: RegionCode
    registered_on: date


class StopBenefit(Message):
    """A job centre records why a recipient's benefit stops: the person refused suitable work or
    emigrated. The months left are kept for a later spell, as on any other stop."""

    TYPE = "shebao.unemployment.StopBenefit"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "citizen_id": _ID,
        "on": "2025-06-15",
        "cause": "refused_suitable_work",
    }
    citizen_id: CitizenId
    on: date
    cause: RecordedCause


class ClosePaymentMonth(Message):
    """The scheduler's monthly payment run for a region: every active recipient is paid the
    month once. A month is closed once it is over, and once."""

    TYPE = "shebao.unemployment.ClosePaymentMonth"
    EXAMPLE: ClassVar[dict[str, Any]] = {"region": "320100", "month": "2025-03"}
    region: RegionCode
    month: Month


# --------------------------------------------------------------------------------------------
# The statistics bureau


class CpiReleased(Message):
    """The bureau's release of a region's consumer price index for a month, year on year. A
    release for a month already released supersedes it while no subsidy of that period was paid;
    after that it is refused (`period_already_paid`)."""

    TYPE = "shebao.unemployment.CpiReleased"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "region": "320100",
        "month": "2025-03",
        "cpi_yoy": "3.2",
        "food_cpi_yoy": "5.1",
    }
    region: RegionCode
    month: Month
    cpi_yoy: PercentChange
    food_cpi_yoy: PercentChange


class CpiAccepted(Message):
    """The answer to a release that was recorded: whether it triggered the subsidy."""

    TYPE = "shebao.unemployment.CpiAccepted"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "region": "320100",
        "month": "2025-03",
        "variant": "jiangsu_monthly",
        "triggered": True,
        "superseded": False,
        "cpi_yoy": "3.2",
        "food_cpi_yoy": "5.1",
    }
    region: RegionCode
    month: Month
    variant: Variant
    triggered: bool
    superseded: bool = Field(description="it replaced an earlier release of the same month")
    cpi_yoy: PercentChange | None = Field(
        None, description="the index as recorded (the release's own value)"
    )
    food_cpi_yoy: PercentChange | None = Field(
        None, description="the food index as recorded (the release's own value)"
    )


class CpiRejected(Message):
    """The answer to a release that was refused, with its reason; `partition` and `offset` name
    the record on the bureau's topic."""

    TYPE = "shebao.unemployment.CpiRejected"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "bureau": "s320100",
        "reason": "period_already_paid",
        "detail": "the subsidy of 320100 for 2025-03 was paid; a new release cannot change it",
        "region": "320100",
        "month": "2025-03",
        "partition": 0,
        "offset": 17,
    }
    bureau: PartnerCode
    reason: str
    detail: str = ""
    region: str | None = None
    month: str | None = None
    partition: int
    offset: int


# --------------------------------------------------------------------------------------------
# Events


class BenefitGranted(Message):
    """A registration was accepted: the entitlement of the new spell, paid from its first
    month (the month of registration)."""

    TYPE = "shebao.unemployment.BenefitGranted"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "person": _REF,
        "region": "320100",
        "registered_on": "2025-03-03",
        "first_month": "2025-03",
        "credited_months": 62,
        "entitlement_months": 18,
        "carried_months": 0,
        "months_left": 18,
        "separated_on": "2025-02-28",
    }
    person: PersonRef
    region: RegionCode
    registered_on: date
    first_month: Month
    credited_months: int = Field(description="unemployment-insurance months credited, all regions")
    entitlement_months: int = Field(description="months these contributions give (12, 18, 24)")
    carried_months: int = Field(description="unused months of an earlier spell added")
    months_left: int = Field(description="the spell's months, at most 24")
    separated_on: date | None = Field(
        None,
        description="the end of the employment the spell rests on: a job started after it "
        "stops the benefit (re-employment), one started on or before it does not",
    )


class BenefitPaid(Message):
    """A recipient's month was paid."""

    TYPE = "shebao.unemployment.BenefitPaid"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "person": _REF,
        "region": "320100",
        "month": "2025-03",
        "amount": "1800.00",
        "months_left": 17,
    }
    person: PersonRef
    region: RegionCode
    month: Month
    amount: Money
    months_left: int


class MedicalContributionPaid(Message):
    """The unemployment fund paid a recipient's employee medical contribution for a month:
    contributions credits it as the person's medical month."""

    TYPE = "shebao.unemployment.MedicalContributionPaid"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "person": _REF,
        "region": "320100",
        "month": "2025-03",
        "base": "5800.00",
        "amount": "580.00",
    }
    person: PersonRef
    region: RegionCode
    month: Month
    base: Money = Field(description="the lowest contribution base (60% of the average wage)")
    amount: Money


class BenefitStopped(Message):
    """A recipient's benefit stopped; `months_left` stay for a later spell."""

    TYPE = "shebao.unemployment.BenefitStopped"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "person": _REF,
        "region": "320100",
        "on": "2025-06-01",
        "cause": "reemployed",
        "months_left": 15,
    }
    person: PersonRef
    region: RegionCode
    on: date
    cause: StopCause
    months_left: int


class PaymentMonthClosed(Message):
    """A region's month was closed; its payments follow, one per recipient."""

    TYPE = "shebao.unemployment.PaymentMonthClosed"
    EXAMPLE: ClassVar[dict[str, Any]] = {"region": "320100", "month": "2025-03"}
    region: RegionCode
    month: Month


class PriceSubsidyTriggered(Message):
    """Living costs rose past the rule in force: the subsidy per person of a period. The welfare
    service pays its own recipients from it; this service pays its benefit recipients."""

    TYPE = "shebao.unemployment.PriceSubsidyTriggered"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "region": "320100",
        "period": "2025-03",
        "variant": "jiangsu_monthly",
        "cpi_yoy": "5.2",
        "food_cpi_yoy": "7.0",
        "urban_amount": "112.50",
        "rural_amount": "112.50",
    }
    region: RegionCode
    period: Annotated[str, Field(description="a month YYYY-MM, or a quarter YYYY-Qn")]
    variant: Variant
    cpi_yoy: PercentChange
    food_cpi_yoy: PercentChange
    urban_amount: Money
    rural_amount: Money


class PriceSubsidyPaid(Message):
    """A benefit recipient was paid the price subsidy of a period, once."""

    TYPE = "shebao.unemployment.PriceSubsidyPaid"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "person": _REF,
        "region": "320100",
        "period": "2025-03",
        "amount": "112.50",
    }
    person: PersonRef
    region: RegionCode
    period: str
    amount: Money


class CommandRejected(Message):
    """A command was refused; the record key is the command id."""

    TYPE = "shebao.unemployment.CommandRejected"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "command_id": "4f0c1c2e-9a8b-4e0d-8f7a-6b5c4d3e2f10",
        "command_type": "shebao.unemployment.RegisterUnemployed",
        "reason": "separation_voluntary",
        "detail": "the last employment ended by the person's own choice on 2025-02-28",
        "person": _REF,
    }
    command_id: str
    command_type: str
    reason: str = Field(description="a Rejection value, or a validation reason of the runtime")
    detail: str = ""
    person: PersonRef | None = None
    region: RegionCode | None = None


# --------------------------------------------------------------------------------------------
# The service's own fan-out (private)


class PayShard(Message):
    """Pay the recipients of one directory shard of a region for a closed month."""

    TYPE = "shebao.unemployment.PayShard"
    EXAMPLE: ClassVar[dict[str, Any]] = {"region": "320100", "month": "2025-03", "shard": 3}
    region: RegionCode
    month: Month
    shard: Shard


class PayRecipient(Message):
    """Pay one recipient a closed month (and the month's price subsidy, if triggered)."""

    TYPE = "shebao.unemployment.PayRecipient"
    EXAMPLE: ClassVar[dict[str, Any]] = {"person": _REF, "region": "320100", "month": "2025-03"}
    person: PersonRef
    region: RegionCode
    month: Month


class SubsidyShard(Message):
    """Pay a triggered period's subsidy to the recipients of one directory shard."""

    TYPE = "shebao.unemployment.SubsidyShard"
    EXAMPLE: ClassVar[dict[str, Any]] = {"region": "320100", "period": "2025-03", "shard": 3}
    region: RegionCode
    period: str
    shard: Shard


class PaySubsidy(Message):
    """Pay one recipient a triggered period's subsidy, if the person was paid benefit in it."""

    TYPE = "shebao.unemployment.PaySubsidy"
    EXAMPLE: ClassVar[dict[str, Any]] = {"person": _REF, "region": "320100", "period": "2025-03"}
    person: PersonRef
    region: RegionCode
    period: str


class DirectorySet(Message):
    """A person joins (or leaves) the recipients of a region's directory shard."""

    TYPE = "shebao.unemployment.DirectorySet"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "region": "320100",
        "shard": 3,
        "person": _REF,
        "active": True,
        "first_month": "2025-03",
    }
    region: RegionCode
    shard: Shard
    person: PersonRef
    active: bool
    first_month: Month | None = Field(
        None,
        description="the first month of the spell that joins: a payment run of an earlier "
        "month does not reach it (unknown: every run reaches it)",
    )


class RegistrationForwarded(Message):
    """A job centre's `RegisterUnemployed` (keyed by citizen ID) handed to the partition that
    keeps the person (keyed by his reference), when the service's state is partitioned: decided
    there, and answered under its own `command_id`. The citizen ID does not travel: the service
    keeps none."""

    TYPE = "shebao.unemployment.RegistrationForwarded"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "command_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
        "person": _REF,
        "region": "320100",
        "registered_on": "2025-03-03",
    }
    command_id: str = Field(min_length=1, max_length=200)
    person: PersonRef
    region: RegionCode
    registered_on: date


class StopForwarded(Message):
    """A job centre's `StopBenefit` handed to the person's partition, as `RegistrationForwarded`."""

    TYPE = "shebao.unemployment.StopForwarded"
    EXAMPLE: ClassVar[dict[str, Any]] = {
        "command_id": "1b4e28ba-2fa1-41d2-883f-0016d3cca427",
        "person": _REF,
        "on": "2025-06-15",
        "cause": "refused_suitable_work",
    }
    command_id: str = Field(min_length=1, max_length=200)
    person: PersonRef
    on: date
    cause: RecordedCause


# --------------------------------------------------------------------------------------------
# Topics and contract

COMMANDS = Topic(
    "shebao.unemployment-subsidies.commands.v1",
    owner=SERVICE,
    key="citizen ID (registrations, stops), region code (ClosePaymentMonth)",
    messages=(RegisterUnemployed, StopBenefit, ClosePaymentMonth),
    description="Registrations and stops from job centres; monthly payment runs (scheduler).",
)

WORK = Topic(
    "shebao.unemployment-subsidies.work.v1",
    owner=SERVICE,
    key="region:shard (shard work), person reference (a recipient's payment, a command handed "
    "to the person's partition)",
    messages=(
        PayShard,
        PayRecipient,
        SubsidyShard,
        PaySubsidy,
        DirectorySet,
        RegistrationForwarded,
        StopForwarded,
    ),
    description="Private fan-out of the payment runs, and a job centre's command handed to its "
    "person's partition where the state is partitioned; nobody else reads or writes it.",
)

EVENTS: Topic = Topic(
    "shebao.unemployment-subsidies.events.v1",
    owner=SERVICE,
    key="person reference, region code (closes, triggers) or command id (rejections)",
    messages=(
        BenefitGranted,
        BenefitPaid,
        MedicalContributionPaid,
        BenefitStopped,
        PaymentMonthClosed,
        PriceSubsidyTriggered,
        PriceSubsidyPaid,
        CommandRejected,
    ),
    description="Entitlements, payments, stops and price subsidies.",
)

CPI = Topic(
    "partner.stats.{code}.cpi.v1",
    owner=SERVICE,
    key="region code",
    messages=(CpiReleased,),
    description="From a statistics bureau: the monthly consumer price index of its regions.",
    direction=Direction.PARTNER_IN,
)

ANSWERS = Topic(
    "partner.stats.{code}.answers.v1",
    owner=SERVICE,
    key="region code and month",
    messages=(CpiAccepted, CpiRejected),
    description="To a statistics bureau: the answer to each release.",
    direction=Direction.PARTNER_OUT,
)

# Imported here, not at the top: contributions' and welfare's contracts read this module's
# events, and this one theirs; whichever module is imported first is complete up to here.
from . import contributions, welfare  # noqa: E402

AUDIT: Topic = audit_topic(SERVICE)

CONTRACT = ServiceContract(
    service=SERVICE,
    title="shebao unemployment subsidies",
    description=__doc__ or "",
    consumes=(enrollment.EVENTS, contributions.EVENTS, welfare.EVENTS, COMMANDS, WORK, CPI),
    produces=(EVENTS, WORK, ANSWERS, AUDIT),
)
