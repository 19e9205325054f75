"""Shared value types of every contract: money, citizen ID, region code, person reference.

Each validation failure carries a named reason (the pydantic error type), which the runtime
returns to the partner and writes into the dead-letter headers.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from operator import mul
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    PlainSerializer,
    PlainValidator,
    StringConstraints,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from .limits import CONTROL_CHARACTERS, MAX_MONEY_WHOLE_DIGITS

FEN = Decimal("0.01")


class ValueRefusal(StrEnum):
    """Why a value of a shared type was refused: the pydantic error type, which the runtime
    returns as the reason (described in `shebao_contracts.reasons`)."""

    MONEY_FORMAT = "money_format"
    MONEY_NOT_STRING = "money_not_string"
    MONEY_PRECISION = "money_precision"
    MONEY_OUT_OF_RANGE = "money_out_of_range"
    MONEY_NEGATIVE = "money_negative"
    MONEY_NOT_POSITIVE = "money_not_positive"
    CITIZEN_ID_TYPE = "citizen_id_type"
    CITIZEN_ID_LEGACY_15 = "citizen_id_legacy_15"
    CITIZEN_ID_LENGTH = "citizen_id_length"
    CITIZEN_ID_CHARACTERS = "citizen_id_characters"
    CITIZEN_ID_BIRTH_DATE = "citizen_id_birth_date"
    CITIZEN_ID_CHECKSUM = "citizen_id_checksum"
    CITIZEN_ID_AS_IDENTIFIER = "citizen_id_as_identifier"
    TEXT_CONTROL_CHARACTER = "text_control_character"


# ---------------------------------------------------------------------------------------------
# Money: Decimal yuan, two places, ROUND_HALF_UP in arithmetic; a JSON string on the wire.

_MONEY_TEXT = re.compile(r"^-?(0|[1-9][0-9]{0,14})(\.[0-9]{1,2})?$")


def money(value: Decimal | int | str) -> Decimal:
    """Quantise an amount to the fen, rounding half up. The one place where amounts are rounded."""
    return Decimal(value).quantize(FEN, rounding=ROUND_HALF_UP)


_MONEY_LIMIT = 10**MAX_MONEY_WHOLE_DIGITS


def _out_of_range() -> PydanticCustomError:
    return PydanticCustomError(
        ValueRefusal.MONEY_OUT_OF_RANGE,
        f"money has at most {MAX_MONEY_WHOLE_DIGITS} whole digits",
    )


_money_match = re.compile(_MONEY_TEXT.pattern[1:-1]).fullmatch  # [0-9]: ASCII digits only


def _money_text(value: str) -> Decimal:
    """Parse "-1234.56": no leading zeros, at most two places, at most 15 whole digits."""
    if _money_match(value) is not None:
        amount = Decimal(value)
        return amount if value[-3:-2] == "." else amount.quantize(FEN)
    raise PydanticCustomError(
        ValueRefusal.MONEY_FORMAT,
        "money must be a decimal string with at most two decimal places, got {value}",
        {"value": repr(value[:40])},
    )


def _parse_money(value: Any) -> Decimal:
    if type(value) is str:
        return _money_text(value)
    if isinstance(value, (bool, float)):
        # A float on the wire has already lost fen; refusing it is the only safe answer.
        raise PydanticCustomError(
            ValueRefusal.MONEY_NOT_STRING,
            'money must be a decimal string such as "12.30", not a float',
        )
    if isinstance(value, int):
        if -_MONEY_LIMIT < value < _MONEY_LIMIT:
            return money(value)
        raise _out_of_range()
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise PydanticCustomError(ValueRefusal.MONEY_PRECISION, "money must be a finite amount")
        if value.adjusted() >= MAX_MONEY_WHOLE_DIGITS:
            raise _out_of_range()
        if value != value.quantize(FEN, rounding=ROUND_HALF_UP):
            raise PydanticCustomError(
                ValueRefusal.MONEY_PRECISION, "money has more than two decimal places"
            )
        return money(value)
    raise PydanticCustomError(ValueRefusal.MONEY_FORMAT, "money must be a decimal string")


def decimal_text(value: Decimal) -> str:
    """An amount's wire text: `format(value, "f")`, plain digits, never an exponent. `str()`
    gives the same text wherever its own has no exponent (every amount kept to the fen), at a
    third of the cost: a claim's events write some thirty amounts (issue 20)."""
    text = str(value)
    return text if "E" not in text and "e" not in text else format(value, "f")


Money = Annotated[
    Decimal,
    PlainValidator(_parse_money),
    PlainSerializer(decimal_text, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": _MONEY_TEXT.pattern,
            "description": "Amount in yuan as a decimal string with at most two decimal places.",
            "examples": ["1622.00"],
        }
    ),
]


def _parse_non_negative_money(value: Any) -> Decimal:
    # The hot path of every claim line: a string goes straight to the text rule.
    amount = _money_text(value) if type(value) is str else _parse_money(value)
    if amount.is_signed():  # "-0.00" too, as the published pattern says
        raise PydanticCustomError(ValueRefusal.MONEY_NEGATIVE, "this amount cannot be negative")
    return amount


def _parse_positive_money(value: Any) -> Decimal:
    amount = _parse_money(value)
    if amount <= 0:
        raise PydanticCustomError(ValueRefusal.MONEY_NOT_POSITIVE, "this amount must be above zero")
    return amount


# What the bounded types accept, as the schema's pattern: a partner validating locally gets the
# platform's answer (a property test checks each pattern against its validator).
NON_NEGATIVE_MONEY_PATTERN = r"^(0|[1-9][0-9]{0,14})(\.[0-9]{1,2})?$"
POSITIVE_MONEY_PATTERN = r"^(0\.(0[1-9]|[1-9][0-9]?)|[1-9][0-9]{0,14}(\.[0-9]{1,2})?)$"


def _bounded_money(parse: Any, pattern: str, description: str) -> Any:
    return Annotated[
        Decimal,
        PlainValidator(parse),
        PlainSerializer(decimal_text, return_type=str, when_used="json"),
        WithJsonSchema(
            {
                "type": "string",
                "pattern": pattern,
                "description": "Amount in yuan as a decimal string with at most two decimal "
                f"places; {description}.",
                "examples": ["1622.00"],
            }
        ),
    ]


# Field(ge=0) and friends do not apply to Money: its validator replaces pydantic's decimal
# validation (for speed), so bounds live in these types; a contract test refuses the others.
NonNegativeMoney = _bounded_money(
    _parse_non_negative_money, NON_NEGATIVE_MONEY_PATTERN, "not negative"
)
PositiveMoney = _bounded_money(_parse_positive_money, POSITIVE_MONEY_PATTERN, "above zero")


# ---------------------------------------------------------------------------------------------
# Citizen ID (GB 11643-1999): the social-security number.

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


_ID_ZEROS = 48 * sum(_ID_WEIGHTS)  # the weighted sum of seventeen ASCII "0" characters


def citizen_id_check_char(first17: str) -> str:
    """The MOD 11-2 check character of 17 ASCII digits (weights applied to the byte values)."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError("the first 17 characters of a citizen ID are ASCII digits")
    return _ID_CHECK[(sum(map(mul, first17.encode(), _ID_WEIGHTS)) - _ID_ZEROS) % 11]


def citizen_id_birth_date(citizen_id: str) -> date:
    return date(int(citizen_id[6:10]), int(citizen_id[10:12]), int(citizen_id[12:14]))


def validate_citizen_id(value: Any) -> str:
    """Return the ID upper-cased, or raise with the reason it is not a valid 18-character ID."""
    if not isinstance(value, str):
        raise PydanticCustomError(ValueRefusal.CITIZEN_ID_TYPE, "citizen ID must be a string")
    text = value.strip().upper()
    if len(text) == 15 and text.isdigit():
        raise PydanticCustomError(
            ValueRefusal.CITIZEN_ID_LEGACY_15,
            "15-digit first-generation IDs are not accepted; give the 18-character ID",
        )
    if len(text) != 18:
        raise PydanticCustomError(
            ValueRefusal.CITIZEN_ID_LENGTH,
            "citizen ID must have 18 characters, got {n}",
            {"n": len(text)},
        )
    if not text.isascii() or not text[:17].isdigit() or not (text[17].isdigit() or text[17] == "X"):
        raise PydanticCustomError(
            ValueRefusal.CITIZEN_ID_CHARACTERS, "citizen ID must be 17 digits and a digit or X"
        )
    try:
        born = citizen_id_birth_date(text)
    except ValueError:
        raise PydanticCustomError(
            ValueRefusal.CITIZEN_ID_BIRTH_DATE, "citizen ID holds no valid birth date"
        ) from None
    if born.year < 1850:
        raise PydanticCustomError(
            ValueRefusal.CITIZEN_ID_BIRTH_DATE, "citizen ID birth year before 1850"
        )
    if citizen_id_check_char(text[:17]) != text[17]:
        raise PydanticCustomError(
            ValueRefusal.CITIZEN_ID_CHECKSUM, "citizen ID check character is wrong"
        )
    return text


CitizenId = Annotated[
    str,
    BeforeValidator(validate_citizen_id),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": "^[0-9]{17}[0-9X]$",
            "description": (
                "18-character citizen ID (GB 11643-1999) with a valid birth date and MOD 11-2 "
                "check character. Only on topics whose partner needs it."
            ),
            "examples": ["11010519491231002X"],
        }
    ),
]


_ID_CANDIDATE = re.compile(r"(?<![0-9])(?<![0-9]\.)[0-9]{17}[0-9Xx](?![0-9])")


def find_citizen_ids(text: str) -> list[str]:
    """The valid citizen IDs in a text (upper-cased, in order): 17 ASCII digits and a digit or X,
    not inside a longer run of digits nor the fraction of a decimal number (0.054605...), with a
    real birth date and the right check character. A timestamp, an offset, a hash or a measured
    duration is not one (issue 18's scan and the envelope's check)."""
    found = []
    for m in _ID_CANDIDATE.finditer(text):
        try:
            found.append(validate_citizen_id(m.group()))
        except PydanticCustomError:
            continue
    return found


def _not_a_citizen_id(value: Any) -> Any:
    if type(value) is str and find_citizen_ids(value):
        raise PydanticCustomError(
            ValueRefusal.CITIZEN_ID_AS_IDENTIFIER,
            "an identifier must not hold a citizen ID number; a person is named only in the"
            " citizen ID fields",
        )
    return value


NotACitizenId = AfterValidator(_not_a_citizen_id)
"""Add to `Annotated[str, ...]` of an identifier a partner or office chooses (a claim id, a
household id) that the platform carries on into its own events and keys, where a person is
named only by the keyed reference (issue 18); refused as citizen_id_as_identifier."""


def mask_citizen_id(citizen_id: str) -> str:
    """320102********1234: area code and the last four kept, the birth date hidden."""
    if len(citizen_id) == 18:
        return f"{citizen_id[:6]}********{citizen_id[-4:]}"
    return "*" * len(citizen_id)


# ---------------------------------------------------------------------------------------------
# Text a partner types: no control or bidirectional formatting characters.


def _no_control_characters(value: Any) -> Any:
    # Refused by name before the field's own pattern or length is checked.
    if type(value) is str and CONTROL_CHARACTERS.search(value):
        raise PydanticCustomError(
            ValueRefusal.TEXT_CONTROL_CHARACTER,
            "text must not contain control or bidirectional formatting characters",
        )
    return value


NoControlCharacters = BeforeValidator(_no_control_characters)
"""Add to `Annotated[str, ...]` of free text from partners; refused as text_control_character."""


# ---------------------------------------------------------------------------------------------
# Codes and references.

RegionCode = Annotated[
    str,
    StringConstraints(pattern=r"^[1-8][0-9]{5}$"),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": "^[1-8][0-9]{5}$",
            "description": "6-digit administrative division code of a pooling region, e.g. 320100",
            "examples": ["320100"],
        }
    ),
]

PersonRef = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9a-f]{32}$"),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": "^[0-9a-f]{32}$",
            "description": (
                "Pseudonymous person reference: keyed HMAC-SHA256 of the citizen ID, first 128 "
                "bits in hex. Stable for a person; not reversible without the key."
            ),
            "examples": ["9f2c4e0b7a1d3c5e8f6a0b2d4c6e8a1f"],
        }
    ),
]

SealedCitizenId = Annotated[
    str,
    StringConstraints(pattern=r"^v1\.[A-Za-z0-9_-]{40,80}$"),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": "^v1\\.[A-Za-z0-9_-]{40,80}$",
            "description": (
                "The person's citizen ID encrypted by enrollment (AES-SIV, bound to the person "
                "reference); only a service given the sealing key can open it."
            ),
            "examples": ["v1.yISbZO1eAkKbiGdegO7dES8eihlaBaVJLpMM_qtVDuyFBA"],
        }
    ),
]

EmployerCode = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9A-Z]{18}$"),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": "^[0-9A-Z]{18}$",
            "description": "Unified social credit code of the employer (18 characters)",
            "examples": ["91320100MA1XXXXX0Y"],
        }
    ),
]

PartnerCode = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{1,30}$"),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": "^[a-z0-9][a-z0-9-]{1,30}$",
            "description": "A partner's code as it appears in its topic names",
            "examples": ["h320102001"],
        }
    ),
]
