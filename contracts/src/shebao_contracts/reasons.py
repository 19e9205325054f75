"""Every refusal reason a sender can get back, what it means and what to do, per topic.

The reason codes are the members of the code's enums (`RecordRefusal`, `ValueRefusal` and each
service's rejections); this module says what each means and what the sender should do, and which
of them can come back for a record sent on each topic. `python -m shebao_contracts.gen` writes
the tables into the partner guides and the AsyncAPI documents from here, so that neither can
list a code the platform does not send, or miss one it does; a test checks that every member of
every reason enum is described here and placed on a topic.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from . import contributions as cc
from . import enrollment as en
from . import medical as md
from . import unemployment as un
from . import welfare as wf
from .limits import RecordRefusal
from .types import ValueRefusal


class Action(StrEnum):
    """What a sender does with a refusal."""

    CORRECT = "correct"
    """Correct the message (or what it depends on) and send it again."""
    RETRY = "retry"
    """Send the same message again later: what it depends on has not arrived yet."""
    GIVE_UP = "give_up"
    """Do not send it again: the answer is final for this message."""
    REPORT = "report"
    """Tell the platform's operators: the platform failed on a valid message."""
    NONE = "none"
    """Nothing: the message was accepted; the reason explains an amount (a settled claim)."""


ACTION_TEXT = {
    Action.CORRECT: "correct and resend",
    Action.RETRY: "wait and resend",
    Action.GIVE_UP: "give up",
    Action.REPORT: "report to the operators",
    Action.NONE: "nothing (settled)",
}


@dataclass(frozen=True)
class Reason:
    code: str
    meaning: str
    action: Action


R, V, C, E, M = RecordRefusal, ValueRefusal, cc.Rejection, en.Rejection, md.ClaimRejection
U = un.Rejection
W = wf.Rejection
Z = md.AdjudicationReason
A = Action

_IN_FUTURE = (
    "the message describes the future: what it dates (a stay or visit, a month to declare, pay"
    " or close, an event) has not happened by the day of its ce_time (China Standard Time)",
    A.CORRECT,
)
"""One code, one meaning: medical settlement, contributions and enrollment refuse a date after
the record's time by the same name (DOMAIN.md, Dates)."""

_DESCRIBED: dict[StrEnum, tuple[str, Action]] = {
    # -- the record itself (runtime) ----------------------------------------------------------
    R.RECORD_TOO_LARGE: ("the record's body is larger than the topic allows", A.CORRECT),
    R.KEY_TOO_LARGE: ("the record's key is longer than 256 bytes", A.CORRECT),
    R.TOO_MANY_HEADERS: ("the record carries more than 32 headers", A.CORRECT),
    R.HEADER_TOO_LARGE: (
        "a header is longer than its limit (1 KiB; 128 characters for ids, type and source)",
        A.CORRECT,
    ),
    R.HEADERS_TOO_LARGE: ("the headers are larger than 8 KiB in all", A.CORRECT),
    R.DUPLICATE_HEADER: ("a header the platform reads appears more than once", A.CORRECT),
    R.INVALID_HEADER_ENCODING: ("a header value is not UTF-8", A.CORRECT),
    R.HEADER_CONTROL_CHARACTER: (
        "a CloudEvents or tracing header holds a control or bidirectional formatting character",
        A.CORRECT,
    ),
    R.CITIZEN_ID_IN_HEADER: (
        "ce_id, correlation-id or causation-id holds a citizen ID number; name the person in"
        " the body only",
        A.CORRECT,
    ),
    R.MISSING_HEADER: ("a required CloudEvents header is missing or empty", A.CORRECT),
    R.UNSUPPORTED_SPECVERSION: ("ce_specversion is not 1.0", A.CORRECT),
    R.UNSUPPORTED_CONTENT_TYPE: ("content-type is not application/json", A.CORRECT),
    R.INVALID_TIME: (
        "ce_time is not an RFC 3339 timestamp with an offset, or, on a partner's topic, more than"
        " 5 minutes later than the broker received the record (check the sender's clock)",
        A.CORRECT,
    ),
    R.SOURCE_MISMATCH: (
        "ce_source is not /partners/<code> of the topic the record was written to",
        A.CORRECT,
    ),
    R.UNKNOWN_TOPIC: ("the topic is not in the platform's registry", A.GIVE_UP),
    R.UNKNOWN_EVENT_TYPE: ("ce_type is not a message type of this topic", A.CORRECT),
    R.EMPTY_BODY: ("the record has no body", A.CORRECT),
    R.MALFORMED_JSON: ("the body is not JSON, or nests deeper than 200 levels", A.CORRECT),
    R.SCHEMA_VIOLATION: (
        "a field is missing, of the wrong type, or outside its schema (pattern, length, range)",
        A.CORRECT,
    ),
    R.INVALID_VALUE: ("a value could not be read for a reason no other code covers", A.CORRECT),
    R.ID_CONFLICT: ("the message id (ce_id) was used before for a different body", A.CORRECT),
    R.HANDLER_ERROR: (
        "the platform failed on this valid message; it is kept for the operators",
        A.REPORT,
    ),
    # -- values ---------------------------------------------------------------------------------
    V.MONEY_FORMAT: ("an amount is not a decimal string with at most two places", A.CORRECT),
    V.MONEY_NOT_STRING: ("an amount is a JSON number (or NaN), not a string", A.CORRECT),
    V.MONEY_PRECISION: ("an amount has more than two decimal places", A.CORRECT),
    V.MONEY_OUT_OF_RANGE: ("an amount has more than 15 whole digits", A.CORRECT),
    V.MONEY_NEGATIVE: ("an amount that cannot be negative is negative", A.CORRECT),
    V.MONEY_NOT_POSITIVE: ("an amount that must be above zero is not", A.CORRECT),
    V.CITIZEN_ID_TYPE: ("a citizen ID is not a string", A.CORRECT),
    V.CITIZEN_ID_LEGACY_15: ("a 15-digit first-generation ID; give the 18-character ID", A.CORRECT),
    V.CITIZEN_ID_LENGTH: ("a citizen ID does not have 18 characters", A.CORRECT),
    V.CITIZEN_ID_CHARACTERS: ("a citizen ID is not 17 ASCII digits and a digit or X", A.CORRECT),
    V.CITIZEN_ID_BIRTH_DATE: ("a citizen ID holds no valid birth date", A.CORRECT),
    V.CITIZEN_ID_CHECKSUM: ("a citizen ID's check character is wrong", A.CORRECT),
    V.CITIZEN_ID_AS_IDENTIFIER: (
        "an identifier (claim, collection, advance, household or grant id) holds a citizen ID"
        " number; choose an id that names no person",
        A.CORRECT,
    ),
    V.TEXT_CONTROL_CHARACTER: (
        "a text field holds a control or bidirectional formatting character (NUL, U+202E)",
        A.CORRECT,
    ),
    # -- medical settlement -----------------------------------------------------------------
    M.NOT_INSURED_ON_SERVICE_DATE: (
        "the patient had no medical membership on the date of service",
        A.GIVE_UP,
    ),
    M.MEMBERSHIP_SUSPENDED: ("the patient's medical membership was suspended then", A.GIVE_UP),
    M.CONTRIBUTIONS_IN_ARREARS: (
        "the patient's contributions are unpaid past the grace period",
        A.GIVE_UP,
    ),
    M.DUPLICATE_CLAIM_DIFFERENT_BODY: (
        "the claim id was settled with another body (cancel it before resubmitting), or is"
        " another patient's claim (a claim id is one patient's: use a new one)",
        A.CORRECT,
    ),
    M.TOTALS_DO_NOT_ADD_UP: (
        "a line's amount is not quantity x unit price, or the total is not the lines' sum",
        A.CORRECT,
    ),
    M.HOSPITAL_MISMATCH: ("the claim's hospital is not the topic's partner code", A.CORRECT),
    M.HOSPITAL_NOT_DESIGNATED: (
        "the hospital is not registered as designated on the date of service",
        A.GIVE_UP,
    ),
    M.INVALID_DATES: (
        "a stay without a discharge on or after admission, or a visit with one",
        A.CORRECT,
    ),
    M.PERSON_DECEASED: (
        "the patient is recorded as deceased before the date of service",
        A.GIVE_UP,
    ),
    M.SERVICE_DATE_IN_FUTURE: _IN_FUTURE,
    M.UNKNOWN_CLAIM: ("no settled claim with this id for this patient", A.GIVE_UP),
    M.CLAIM_ALREADY_CANCELLED: ("the claim was cancelled before", A.GIVE_UP),
    # -- medical settlement: why a settled claim's fund payment is zero or reduced ----------------
    Z.ALL_OUTSIDE_SCOPE: (
        "settled: no line is in the policy scope, so nothing is eligible",
        A.NONE,
    ),
    Z.BELOW_DEDUCTIBLE: ("settled: the eligible amount does not exceed the deductible", A.NONE),
    Z.OUTPATIENT_POOLING_NOT_APPLICABLE: (
        "settled: the scheme's outpatient pooling does not pay at this hospital level",
        A.NONE,
    ),
    Z.OUTPATIENT_POOL_EXHAUSTED: (
        "settled: the patient's yearly outpatient pooling limit is used up",
        A.NONE,
    ),
    Z.ANNUAL_CAP_REACHED: ("settled: the patient's yearly fund payment limit is used up", A.NONE),
    # -- contributions: tax bureaus -----------------------------------------------------------
    C.UNKNOWN_ASSESSMENT: ("no assessment for that payer and period", A.CORRECT),
    C.WRONG_BUREAU: ("another bureau collects for the assessment's region", A.GIVE_UP),
    C.COLLECTION_ID_CONFLICT: (
        "the collection id was booked before with another amount",
        A.CORRECT,
    ),
    C.BREAKDOWN_MISMATCH: (
        "the per-person amounts do not add up to the amount or name persons not assessed",
        A.CORRECT,
    ),
    # -- contributions: commands ----------------------------------------------------------------
    C.EMPLOYER_NOT_REGISTERED: ("the employer is not known to contributions", A.RETRY),
    C.PERSON_NOT_EMPLOYED: ("a wage line names a person the employer does not employ", A.CORRECT),
    C.ASSESSMENT_IN_COLLECTION: (
        "the month's assessment is settled or in collection; a correction needs a"
        " supplementary assessment",
        A.GIVE_UP,
    ),
    C.PERIOD_ALREADY_CLOSED: ("the region closed this month already", A.GIVE_UP),
    C.PERIOD_OUT_OF_ORDER: ("an earlier month of the region is not closed yet", A.CORRECT),
    C.NO_TAX_BUREAU: ("no tax bureau collects for the region in that month", A.GIVE_UP),
    C.PERSON_NOT_KNOWN: ("no contributions file for the person", A.RETRY),
    C.NOT_INTERRUPTED: ("the person has no interrupted contributions to advance", A.GIVE_UP),
    C.ADVANCE_ID_IN_USE: ("the advance id was recorded before", A.CORRECT),
    C.NOTHING_TO_ADVANCE: ("no pension membership with missing months", A.GIVE_UP),
    C.COMMAND_KEY_MISMATCH: (  # contributions', unemployment subsidies', welfare's (one fact)
        "the record key is not the one the commands topic's contract gives the command (the"
        " employer code of a DeclareWages, the region code of a ClosePeriod or a"
        " ClosePaymentMonth, the person reference of an AdvanceContributions, the household id"
        " of a household's application, review, stop or grant): the service's state is"
        " partitioned by key",
        A.CORRECT,
    ),
    C.SERVICE_DATE_IN_FUTURE: _IN_FUTURE,  # commands and collections
    # -- enrollment commands ------------------------------------------------------------------
    W.INCOME_NOT_BELOW_STANDARD: (
        "the household's per-capita income is not below the local 低保 standard",
        A.GIVE_UP,
    ),
    W.ASSETS_ABOVE_LIMIT: ("the household's assets failed the asset test", A.GIVE_UP),
    W.MEMBER_IN_ANOTHER_HOUSEHOLD: (
        "a member belongs to another active household (or is supported): that one changes or"
        " stops first",
        A.RETRY,
    ),
    W.HOUSEHOLD_ALREADY_ACTIVE: ("the household receives the allowance already", A.GIVE_UP),
    W.UNKNOWN_HOUSEHOLD: ("no household with that id", A.CORRECT),
    W.HOUSEHOLD_NOT_ACTIVE: ("the household's allowance was stopped", A.GIVE_UP),
    W.NOT_EXTREME_POVERTY: (
        "extreme-poverty support needs all three: unable to work, no income, no supporter",
        A.GIVE_UP,
    ),
    W.ALREADY_SUPPORTED: ("the person receives extreme-poverty support already", A.GIVE_UP),
    W.TEMPORARY_ASSISTANCE_LIMIT: (
        "the household had the most temporary assistance grants a year allows",
        A.GIVE_UP,
    ),
    W.AMOUNT_ABOVE_CAP: ("the grant is above the cap (months of the 低保 standard)", A.CORRECT),
    W.MONTH_ALREADY_CLOSED: ("the region's payment month was closed already", A.GIVE_UP),
    W.HOUSEHOLD_ID_RESERVED: (
        "a household id begins with support:, which names a person's extreme-poverty support",
        A.CORRECT,
    ),
    W.SERVICE_DATE_IN_FUTURE: _IN_FUTURE,
    U.PERSON_DECEASED: ("the person is recorded as deceased", A.GIVE_UP),
    U.RETIRED: ("the person is of pension age on the date of registration", A.GIVE_UP),
    U.STILL_EMPLOYED: ("the person has an employment that has not ended", A.RETRY),
    U.NO_EMPLOYMENT_ENDED: (
        "no employment of the person ended on or before the date of registration",
        A.RETRY,
    ),
    U.SEPARATION_VOLUNTARY: (
        "the last employment ended by the person's own choice: no benefit",
        A.GIVE_UP,
    ),
    U.INSUFFICIENT_CONTRIBUTIONS: (
        "fewer than 12 months of unemployment insurance credited (since the last spell), and no"
        " months carried from an earlier one",
        A.GIVE_UP,
    ),
    U.ALREADY_RECEIVING: ("the person is receiving benefit already", A.GIVE_UP),
    U.NOT_RECEIVING: ("the person receives no benefit to stop", A.GIVE_UP),
    U.MONTH_ALREADY_CLOSED: ("the region's payment month was closed already", A.GIVE_UP),
    U.PERIOD_ALREADY_PAID: (
        "the price subsidy of that month (or quarter) was paid; a release cannot change it",
        A.GIVE_UP,
    ),
    U.WRONG_REGION: ("another statistics bureau releases that region's index", A.GIVE_UP),
    U.SERVICE_DATE_IN_FUTURE: _IN_FUTURE,
    U.RELEASE_KEY_MISMATCH: (
        "the record key is not the region code the release names: the service's state is"
        " partitioned by key",
        A.CORRECT,
    ),
    E.PERSON_NOT_REGISTERED: ("the person is not registered", A.CORRECT),
    E.PERSON_ALREADY_REGISTERED: ("the person is registered already", A.GIVE_UP),
    E.PERSON_DECEASED: ("the person is recorded as deceased", A.GIVE_UP),
    E.EMPLOYER_NOT_REGISTERED: (
        "the employer is not registered (yet): commands on different keys are not ordered, so a"
        " hire sent right after its employer's registration may be read first; resend it, with"
        " a new ce_id, once EmployerRegistered is out",
        A.RETRY,
    ),
    E.EMPLOYER_ALREADY_REGISTERED: ("the employer is registered already", A.GIVE_UP),
    E.ALREADY_EMPLOYED: ("the person is employed already (end that employment first)", A.CORRECT),
    E.NO_SUCH_EMPLOYMENT: ("the person is not employed by that employer", A.CORRECT),
    E.DATE_BEFORE_START: ("the end date is before the start date", A.CORRECT),
    E.BELOW_WORKING_AGE: ("the person is below working age on that date", A.GIVE_UP),
    E.ABOVE_RETIREMENT_AGE: ("the person is above retirement age on that date", A.GIVE_UP),
    E.AGE_OUTSIDE_RESIDENT_PENSION: (
        "the person's age is outside the resident pension scheme's range",
        A.GIVE_UP,
    ),
    E.ALREADY_IN_PENSION_SCHEME: ("the person is active in a pension scheme", A.GIVE_UP),
    E.ALREADY_IN_MEDICAL_SCHEME: ("the person is active in a medical scheme", A.GIVE_UP),
    E.NOT_ENROLLED: ("the person is not in the resident pension scheme", A.CORRECT),
    E.INVALID_TIER: ("the yearly tier is not one the region offers", A.CORRECT),
    E.UNEMPLOYMENT_NOT_OFFERED: (
        "unemployment insurance is not offered to flexible workers there",
        A.GIVE_UP,
    ),
    E.NOT_RURAL_RESIDENT: ("the person is not a rural resident", A.GIVE_UP),
    E.TRANSFER_REQUIRED: (
        "the insurance is active in another region: transfer it first (the detail says which)",
        A.CORRECT,
    ),
    E.NOTHING_TO_TRANSFER: ("no active insurance to transfer", A.GIVE_UP),
    E.SAME_REGION: ("the transfer's destination is the region it comes from", A.CORRECT),
    E.UNKNOWN_TRANSFER: ("no pending transfer with that id", A.CORRECT),
    E.TRANSFER_ID_IN_USE: ("the transfer id was used before", A.CORRECT),
    E.STILL_EMPLOYED_IN_REGION: ("the person is still employed in the region", A.CORRECT),
    E.CARD_ALREADY_ISSUED: ("the person holds a card already", A.GIVE_UP),
    E.NO_CARD_TO_REPLACE: ("the person holds no card to replace", A.CORRECT),
    E.CARD_NUMBER_IN_USE: ("the card number was issued before", A.CORRECT),
    E.SERVICE_DATE_IN_FUTURE: _IN_FUTURE,
}

SCHEMA_DETECTABLE: frozenset[str] = frozenset(
    {
        R.MALFORMED_JSON,
        R.SCHEMA_VIOLATION,
        R.EMPTY_BODY,
        *(m for m in ValueRefusal if m.startswith("money_")),
        V.CITIZEN_ID_TYPE,
        V.CITIZEN_ID_LEGACY_15,
        V.CITIZEN_ID_LENGTH,
        V.CITIZEN_ID_CHARACTERS,
        V.TEXT_CONTROL_CHARACTER,
    }
)
"""The reasons a partner finds by validating the body against the published JSON Schema; every
other one only the platform can find (the record's headers and size, a citizen ID's check
character and birth date, and the rules that need state or arithmetic). Checked against every
record of the hostile suite by e2e/tests/test_published_schemas.py."""

REASONS: Mapping[str, Reason] = {
    str(member): Reason(str(member), meaning, action)
    for member, (meaning, action) in _DESCRIBED.items()
}
"""Every reason code the platform sends, by code."""

# -- per topic: what can come back for a record written to it ----------------------------------

_READING = [r for r in RecordRefusal if r not in (R.UNKNOWN_TOPIC, R.SOURCE_MISMATCH)]
_PARTNER = [*_READING, R.SOURCE_MISMATCH]
_PARTNER.remove(R.ID_CONFLICT)  # a partner's record is identified by its position, not ce_id
_MONEY = [m for m in ValueRefusal if m.startswith("money_")]
_CITIZEN_ID = [m for m in ValueRefusal if m.startswith("citizen_id_")]

_COLLECTION_ONLY = (
    C.UNKNOWN_ASSESSMENT,
    C.WRONG_BUREAU,
    C.COLLECTION_ID_CONFLICT,
    C.BREAKDOWN_MISMATCH,
)

_RELEASE_ONLY = (U.PERIOD_ALREADY_PAID, U.WRONG_REGION, U.RELEASE_KEY_MISMATCH)

TOPIC_REFUSALS: Mapping[str, tuple[StrEnum, ...]] = {
    md.CLAIMS.name: (
        *_PARTNER,
        *_MONEY,
        *_CITIZEN_ID,
        V.TEXT_CONTROL_CHARACTER,
        *md.ClaimRejection,
        *md.AdjudicationReason,
    ),
    cc.COLLECTIONS.name: (
        *_PARTNER,
        *_MONEY,
        *_CITIZEN_ID,
        V.TEXT_CONTROL_CHARACTER,
        *_COLLECTION_ONLY,
        C.SERVICE_DATE_IN_FUTURE,
    ),
    cc.COMMANDS.name: (
        *_READING,
        *_MONEY,
        V.CITIZEN_ID_AS_IDENTIFIER,  # an advance id
        *(r for r in cc.Rejection if r not in _COLLECTION_ONLY),
    ),
    en.COMMANDS.name: (*_READING, *_MONEY, *_CITIZEN_ID, *en.Rejection),
    un.COMMANDS.name: (
        *_READING,
        *_CITIZEN_ID,
        *(r for r in un.Rejection if r not in _RELEASE_ONLY),
    ),
    un.CPI.name: (*_PARTNER, *_RELEASE_ONLY, U.SERVICE_DATE_IN_FUTURE),
    wf.COMMANDS.name: (*_READING, *_MONEY, *_CITIZEN_ID, *wf.Rejection),
}
"""The reasons a record written to each topic can be refused with (partner-in and command
topics: the topics people and partners write to)."""


def refusals(topic_name: str) -> list[Reason]:
    """The topic's refusals: the service's own first, then the values', then the record's."""
    members = dict.fromkeys(TOPIC_REFUSALS.get(topic_name, ()))
    order = {ValueRefusal: 1, RecordRefusal: 2}
    ranked = sorted(members, key=lambda m: order.get(type(m), 0))
    # An undescribed member still appears (test_reasons fails until it is described).
    return [REASONS.get(str(m)) or Reason(str(m), "(not described)", A.CORRECT) for m in ranked]


def undescribed(enums: Iterable[type[StrEnum]]) -> list[str]:
    """Members of the given reason enums that have no description here."""
    return [f"{e.__name__}.{m.name}" for e in enums for m in e if m not in _DESCRIBED]


REASON_ENUMS: tuple[type[StrEnum], ...] = (
    RecordRefusal,
    ValueRefusal,
    md.ClaimRejection,
    md.AdjudicationReason,
    cc.Rejection,
    en.Rejection,
    un.Rejection,
    wf.Rejection,
)
