"""CitizenId and Money: accepted values, and the named reason for each rejection."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, TypeAdapter, ValidationError

from shebao_contracts import welfare as w
from shebao_contracts.types import (
    NON_NEGATIVE_MONEY_PATTERN,
    POSITIVE_MONEY_PATTERN,
    CitizenId,
    Money,
    NonNegativeMoney,
    PositiveMoney,
    citizen_id_check_char,
    decimal_text,
    mask_citizen_id,
    money,
)

CITIZEN_ID: TypeAdapter[str] = TypeAdapter(CitizenId)
MONEY: TypeAdapter[Decimal] = TypeAdapter(Money)

VALID_IDS = ["11010519491231002X", "440524188001010014"]
ID_CHARS = "0123456789X"


def reason(adapter: TypeAdapter[Any], value: Any, *, json: bool = False) -> str:
    """The pydantic error type a value is rejected with: the reason partners are told."""
    validate = adapter.validate_json if json else adapter.validate_python
    with pytest.raises(ValidationError) as exc:
        validate(value)
    errors = exc.value.errors()
    assert len(errors) == 1
    return errors[0]["type"]


@st.composite
def citizen_ids(draw: st.DrawFn) -> str:
    """17 random digits holding a real birth date, plus their check character."""
    area = draw(st.text("0123456789", min_size=6, max_size=6))
    born = draw(st.dates(min_value=date(1850, 1, 1), max_value=date(9999, 12, 31)))
    sequence = draw(st.text("0123456789", min_size=3, max_size=3))
    first17 = f"{area}{born:%Y%m%d}{sequence}"
    return first17 + citizen_id_check_char(first17)


# ---------------------------------------------------------------------------------------------
# CitizenId


@pytest.mark.parametrize("value", VALID_IDS)
def test_known_citizen_ids_are_valid(value: str) -> None:
    assert CITIZEN_ID.validate_python(value) == value


def test_lower_case_x_is_normalised() -> None:
    assert CITIZEN_ID.validate_python("11010519491231002x") == "11010519491231002X"


@given(citizen_ids())
def test_generated_citizen_ids_are_valid(value: str) -> None:
    assert CITIZEN_ID.validate_python(value) == value


@given(citizen_ids(), st.integers(min_value=0, max_value=17), st.sampled_from(ID_CHARS))
def test_any_single_character_change_is_rejected(value: str, position: int, char: str) -> None:
    if value[position] == char:
        char = ID_CHARS[(ID_CHARS.index(char) + 1) % len(ID_CHARS)]
    changed = value[:position] + char + value[position + 1 :]
    assert reason(CITIZEN_ID, changed) in {
        "citizen_id_checksum",
        "citizen_id_birth_date",
        "citizen_id_characters",
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("110105491231002", "citizen_id_legacy_15"),
        ("11010519491231002", "citizen_id_length"),
        ("11010519491231002X1", "citizen_id_length"),
        ("", "citizen_id_length"),
        ("110105199902300014", "citizen_id_birth_date"),  # 1999-02-30
        ("110105199913010014", "citizen_id_birth_date"),  # month 13
        ("110105184901010014", "citizen_id_birth_date"),  # before 1850
        ("11010519491231002Y", "citizen_id_characters"),
        ("1101051949123X0021", "citizen_id_characters"),
        ("110105194912310021", "citizen_id_checksum"),
        (110105194912310021, "citizen_id_type"),
    ],
)
def test_invalid_citizen_id_reasons(value: Any, expected: str) -> None:
    assert reason(CITIZEN_ID, value) == expected


@given(st.text("0123456789", min_size=17, max_size=17))
def test_check_character_follows_gb_11643(first17: str) -> None:
    """The fast check character agrees with the standard's definition, written plainly."""
    weights = [2 ** (17 - i) % 11 for i in range(17)]  # 7, 9, 10, 5, 8, 4, 2, 1, 6, 3, ...
    total = sum(int(c) * w for c, w in zip(first17, weights, strict=True))
    assert citizen_id_check_char(first17) == "10X98765432"[total % 11]


def test_non_ascii_digits_are_refused() -> None:
    arabic_indic = "".join(chr(0x660 + int(c)) if c.isdigit() else c for c in VALID_IDS[1])
    assert arabic_indic[:17].isdigit()
    assert reason(CITIZEN_ID, arabic_indic) == "citizen_id_characters"


@given(st.text("0123456789", min_size=15, max_size=15))
def test_every_15_digit_id_is_legacy(value: str) -> None:
    assert reason(CITIZEN_ID, value) == "citizen_id_legacy_15"


def test_mask_citizen_id_keeps_area_and_last_four() -> None:
    assert mask_citizen_id("320102198001011234") == "320102********1234"
    masked = mask_citizen_id(VALID_IDS[0])
    assert masked == "110105********002X"
    assert re.fullmatch(r"[0-9]{6}\*{8}[0-9]{3}[0-9X]", masked)
    assert mask_citizen_id("12345") == "*****"


# ---------------------------------------------------------------------------------------------
# Money


def test_money_accepts_a_two_place_string() -> None:
    assert MONEY.validate_python("12.30") == Decimal("12.30")
    assert str(MONEY.validate_python("12.3")) == "12.30"
    assert str(MONEY.validate_python("-0.5")) == "-0.50"


@pytest.mark.parametrize("value", ["12.345", "12.", ".5", "1e3", "01.00", "12,30", " 12.30", ""])
def test_money_rejects_malformed_text(value: str) -> None:
    assert reason(MONEY, value) == "money_format"


NON_NEGATIVE: TypeAdapter[Decimal] = TypeAdapter(NonNegativeMoney)
MONEY_ALPHABET = "0123456789.-+eE ,\n\u0660\u0669"


@given(
    st.one_of(
        st.text(MONEY_ALPHABET, max_size=22),
        st.from_regex(r"\A-?(0|[1-9][0-9]{0,14})(\.[0-9]{1,2})?\Z"),
    )
)
def test_money_text_is_exactly_the_published_pattern(text: str) -> None:
    """Money and NonNegativeMoney accept a string iff the schema's pattern matches it, and
    read it as its value to the fen."""
    published = re.fullmatch(r"-?(0|[1-9][0-9]{0,14})(\.[0-9]{1,2})?", text, flags=re.ASCII)
    if published is None:
        assert reason(MONEY, text) == "money_format"
        assert reason(NON_NEGATIVE, text) == "money_format"
        return
    value = MONEY.validate_python(text)
    assert value == Decimal(text) and value.as_tuple().exponent == -2
    if value.is_signed():  # below zero, or "-0.00", which the non-negative pattern refuses
        assert reason(NON_NEGATIVE, text) == "money_negative"
    else:
        kept = NON_NEGATIVE.validate_python(text)
        assert kept == value and str(kept) == str(value)


@pytest.mark.parametrize("value", [12.3, 12.0, True])
def test_money_rejects_floats_and_booleans(value: Any) -> None:
    assert reason(MONEY, value) == "money_not_string"


def test_money_rejects_a_json_number_with_a_fraction() -> None:
    assert reason(MONEY, "12.3", json=True) == "money_not_string"


def test_money_accepts_an_integer_as_whole_yuan() -> None:
    value = MONEY.validate_python(12)
    assert value == Decimal("12.00")
    assert str(value) == "12.00"
    assert str(MONEY.validate_json("12")) == "12.00"


def test_money_rejects_a_decimal_with_fen_fractions() -> None:
    assert reason(MONEY, Decimal("1.005")) == "money_precision"
    assert str(MONEY.validate_python(Decimal("1.5"))) == "1.50"


def test_money_is_a_json_string() -> None:
    class Paid(BaseModel):
        amount: Money

    paid = Paid(amount="12.30")
    assert paid.model_dump_json() == '{"amount":"12.30"}'
    assert MONEY.dump_json(Decimal("12.30")) == b'"12.30"'
    assert paid.model_dump() == {"amount": Decimal("12.30")}  # a Decimal inside Python


@given(st.decimals(min_value=-(10**12), max_value=10**12, places=2, allow_nan=False))
def test_money_round_trips_through_json(value: Decimal) -> None:
    text = MONEY.dump_json(value)
    assert MONEY.validate_json(text) == value


def test_money_rounds_half_up() -> None:
    assert money(Decimal("0.005")) == Decimal("0.01")
    assert money("0.005") == Decimal("0.01")
    assert money("2.675") == Decimal("2.68")
    assert money("-2.675") == Decimal("-2.68")  # half away from zero
    assert money("0.004") == Decimal("0.00")
    assert str(money(7)) == "7.00"
    # Why amounts must never pass through a float: 2.675 as a float is 2.67499999...
    assert money(Decimal(2.675)) == Decimal("2.67")  # noqa: RUF032 - the float is the point


@given(st.decimals(min_value=-(10**9), max_value=10**9, places=3, allow_nan=False))
def test_money_rounds_to_the_fen(value: Decimal) -> None:
    rounded = money(value)
    assert rounded.as_tuple().exponent == -2
    assert abs(rounded - value) <= Decimal("0.005")


def test_no_contract_puts_a_numeric_bound_on_money() -> None:
    """Money's validator replaces pydantic's decimal one, so Field(ge=...) on a Money field
    would be silently ignored: bounded amounts use NonNegativeMoney or PositiveMoney."""
    import annotated_types

    from shebao_contracts.catalog import all_topics
    from shebao_contracts.types import _parse_money

    def money_fields(model: type) -> list[tuple[str, object]]:
        out = []
        for name, f in model.model_fields.items():  # type: ignore[attr-defined]
            validators = [getattr(m, "func", None) for m in f.metadata]
            if _parse_money in validators:
                out.append((f"{model.__name__}.{name}", f))
            for arg in getattr(f.annotation, "__args__", ()) or ():
                if isinstance(arg, type) and hasattr(arg, "model_fields"):
                    out += money_fields(arg)
        return out

    bounds = (annotated_types.Ge, annotated_types.Gt, annotated_types.Le, annotated_types.Lt)
    offenders = []
    for topic in all_topics():
        for message in topic.messages:
            for name, f in money_fields(message):
                if any(isinstance(m, bounds) for m in f.metadata):
                    offenders.append(name)
    assert offenders == []


POSITIVE: TypeAdapter[Decimal] = TypeAdapter(PositiveMoney)


@given(
    st.one_of(
        st.text(MONEY_ALPHABET, max_size=22),
        st.from_regex(r"\A-?(0|[1-9][0-9]{0,14})(\.[0-9]{1,2})?\Z"),
        st.from_regex(r"\A0\.[0-9]{1,2}\Z"),
    )
)
def test_bounded_money_accepts_exactly_its_published_pattern(text: str) -> None:
    """A partner validating a string against the published schema gets the platform's answer:
    NonNegativeMoney and PositiveMoney accept a string iff their schema's pattern matches it."""
    for adapter, pattern in (
        (NON_NEGATIVE, NON_NEGATIVE_MONEY_PATTERN),
        (POSITIVE, POSITIVE_MONEY_PATTERN),
    ):
        # as a JSON Schema validator reads it (ECMA-262: `$` is the end of the text; in Python
        # it also matches before a final newline, which hypothesis found with "0\n")
        published = re.search(pattern.replace("$", r"\Z"), text, flags=re.ASCII) is not None
        try:
            adapter.validate_python(text)
            accepted = True
        except ValidationError:
            accepted = False
        assert accepted == published, (text, pattern)
        schema = adapter.json_schema(mode="validation")
        assert schema["pattern"] == pattern


@pytest.mark.parametrize(
    "kind", [w.ApplyForAllowance, w.ReviewHousehold, w.StopAllowance, w.GrantTemporaryAssistance]
)
def test_a_household_id_naming_a_persons_support_is_refused_by_name(kind: Any) -> None:
    """A 特困 person's support is kept as the case `support:<reference>`: an office's household
    id so named would read, review or stop that person's support (found 2026-12-02)."""
    body = {**kind.EXAMPLE, "household_id": "support:9f2c4e0b7a1d3c5e8f6a0b2d4c6e8a1f"}
    with pytest.raises(ValidationError) as caught:
        kind.model_validate(body)
    assert [e["type"] for e in caught.value.errors()] == ["household_id_reserved"]
    assert kind.model_validate({**body, "household_id": "NJ-support:1"})


@given(
    st.decimals(allow_nan=True, allow_infinity=True)
    | st.builds(
        lambda digits, exp, sign: Decimal(f"{sign}{digits}E{exp}"),
        st.integers(min_value=0, max_value=10**18),
        st.integers(min_value=-12, max_value=8),
        st.sampled_from(["", "-"]),
    )
)
def test_an_amounts_wire_text_is_format_f_whatever_the_decimal(value: Decimal) -> None:
    """`decimal_text` takes `str()`'s cheaper path only where it writes what `format(d, "f")`
    writes: an exponent in the value (1E+2, 1E-7) never reaches the wire."""
    assert decimal_text(value) == format(value, "f")


def test_amounts_on_the_wire_never_carry_an_exponent() -> None:
    class Paid(BaseModel):
        amount: Money

    # built without validation, as a rule's results are (`trusted`): not quantised on the way
    assert Paid.model_construct(amount=Decimal("1E+2")).model_dump_json() == '{"amount":"100"}'
    assert Paid.model_construct(amount=Decimal("0E-7")).model_dump_json() == (
        '{"amount":"0.0000000"}'
    )
    assert Paid(amount=money("12.3")).model_dump_json() == '{"amount":"12.30"}'
