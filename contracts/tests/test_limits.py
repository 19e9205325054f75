"""Every bound a sender must keep is refused by its name (shebao_contracts.limits)."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from shebao_contracts import limits
from shebao_contracts.envelope import Envelope, EnvelopeError, read_headers, valid_traceparent
from shebao_contracts.medical import ClaimSubmitted
from shebao_contracts.types import money

GOOD = [
    ("ce_specversion", b"1.0"),
    ("ce_id", b"c-1"),
    ("ce_type", b"shebao.medical.ClaimSubmitted"),
    ("ce_source", b"/partners/h320102001"),
    ("ce_time", b"2025-01-15T08:00:00+00:00"),
]
TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def refusal(headers: list[tuple[str, bytes | None]]) -> str:
    with pytest.raises(EnvelopeError) as e:
        read_headers(headers)
    return e.value.reason


def test_headers_within_the_limits_are_read() -> None:
    env = Envelope.from_headers(read_headers([*GOOD, ("traceparent", TRACE.encode())]))
    assert env.id == "c-1" and env.traceparent == TRACE


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ([("x-big", b"x" * (limits.MAX_HEADER_VALUE_BYTES + 1))], "header_too_large"),
        ([("x" * (limits.MAX_HEADER_NAME_CHARS + 1), b"1")], "header_too_large"),
        ([(f"x-{i}", b"1") for i in range(limits.MAX_HEADERS)], "too_many_headers"),
        ([(f"x-{i}", b"v" * 1000) for i in range(9)], "headers_too_large"),
        ([("ce_type", b"shebao.medical.ClaimCancellation")], "duplicate_header"),
        ([("correlation-id", b"c" * (limits.MAX_ID_CHARS + 1))], "header_too_large"),
        ([("ce_subject", b"s\x00")], "header_control_character"),
        ([("x-note", b"\xff\xfe")], "invalid_header_encoding"),
    ],
)
def test_each_header_limit_is_refused_by_name(
    extra: list[tuple[str, bytes]], reason: limits.RecordRefusal
) -> None:
    assert refusal([*GOOD, *extra]) == reason


def test_an_overlong_id_is_refused_not_copied_into_answers() -> None:
    headers = [(k, b"i" * 600_000 if k == "ce_id" else v) for k, v in GOOD]
    assert refusal(headers) == "header_too_large"
    headers = [(k, b"i" * (limits.MAX_ID_CHARS + 1) if k == "ce_id" else v) for k, v in GOOD]
    assert refusal(headers) == "header_too_large"


@pytest.mark.parametrize("name", ["ce_id", "correlation-id", "causation-id"])
def test_an_envelope_id_that_is_a_citizen_id_is_refused(name: str) -> None:
    """Those ids go on with everything the record causes (issue 18); the detail names the
    header, not the ID."""
    headers = [(k, v) for k, v in GOOD if k != name]
    with pytest.raises(EnvelopeError) as e:
        Envelope.from_headers(read_headers([*headers, (name, b"msg-11010519491231002x")]))
    assert e.value.reason == limits.RecordRefusal.CITIZEN_ID_IN_HEADER
    assert name in e.value.detail and "1949" not in e.value.detail
    # a number that is no citizen ID (its check character is wrong) is an id like any other
    fine = Envelope.from_headers(read_headers([*headers, (name, b"110105194912310021")]))
    assert "110105194912310021" in (fine.id, fine.correlation_id, fine.causation_id)


def test_unread_headers_may_repeat() -> None:
    assert read_headers([*GOOD, ("x-hop", b"a"), ("x-hop", b"b")])["x-hop"] == "b"


def test_a_malformed_traceparent_is_ignored_as_w3c_says() -> None:
    assert valid_traceparent(TRACE) == TRACE
    for bad in ("", "00-xyz", "ff" + TRACE[2:], "00-" + "0" * 32 + TRACE[35:], "x" * 55):
        assert valid_traceparent(bad) is None
    env = Envelope.from_headers(read_headers([*GOOD, ("traceparent", b"00-nonsense")]))
    assert env.traceparent is None


def test_the_cloudevents_sdk_traceparent_extension_is_read() -> None:
    env = Envelope.from_headers(read_headers([*GOOD, ("ce_traceparent", TRACE.encode())]))
    assert env.traceparent == TRACE


def _claim(**changes: object) -> str:
    body = dict(ClaimSubmitted.EXAMPLE or {})
    body.update(changes)
    return json.dumps(body)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (_claim().replace('"6745.00"', "1" + "0" * 30), "money_out_of_range"),
        (_claim().replace('"6745.00"', "1e309"), "money_not_string"),
        (_claim().replace('"6745.00"', "NaN"), "money_not_string"),
        (_claim(claim_id="ZY\x00001"), "text_control_character"),
        (_claim(claim_id="ZY\u202e001"), "text_control_character"),
        (
            _claim(lines=[{**(ClaimSubmitted.EXAMPLE or {})["lines"][0], "item_code": "A\u202eB"}]),
            "text_control_character",
        ),
    ],
)
def test_values_beyond_the_bounds_are_refused_by_name(body: str, reason: str) -> None:
    with pytest.raises(ValidationError) as e:
        ClaimSubmitted.model_validate_json(body)
    assert e.value.errors()[0]["type"] == reason


def test_money_limit_is_fifteen_whole_digits() -> None:
    assert money(10**15 - 1) == 10**15 - 1
    body = _claim().replace('"6745.00"', str(10**limits.MAX_MONEY_WHOLE_DIGITS))
    with pytest.raises(ValidationError):
        ClaimSubmitted.model_validate_json(body)


def test_every_money_refusal_detail_is_a_finished_sentence() -> None:
    with pytest.raises(ValidationError) as e:
        ClaimSubmitted.model_validate_json(_claim(total="12.345"))
    message = e.value.errors()[0]["msg"]
    assert "{" not in message and "'12.345'" in message


def test_every_refused_control_character_is_unprintable() -> None:
    """read_headers runs the pattern only on text that str.isprintable() refuses."""
    named = [chr(c) for c in range(0x110000) if limits.CONTROL_CHARACTERS.match(chr(c))]
    assert len(named) == 76
    assert not any(ch.isprintable() for ch in named)
