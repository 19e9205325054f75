"""What a subscription does with a record of a type it has no handler for (unit tests, no broker).

An event of the platform's own producers that the subscription ignores is not read: nothing uses
its body or its fingerprint, and the services that handle its type check it (issue 20: medical
settlement's statements read every claim's events in full only to ignore them). Its `ce_type` and
its sizes tell it, so the rest of its envelope is not read either. A partner's record, and a
command people typed, is read whatever its type: a malformed one is refused.
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from ledger_app import handlers_for, ledger
from ledger_harness import deposit_record

from shebao_common.runtime.codec import (
    R_EMPTY,
    R_INVALID_TIME,
    R_KEY_TOO_LARGE,
    R_TOO_LARGE,
    R_UNKNOWN_TYPE,
    Decoder,
)
from shebao_contracts.envelope import H_TIME, Envelope
from shebao_contracts.limits import MAX_HEADERS, MAX_KEY_BYTES, RecordRefusal

LG = ledger("ignored")
MALFORMED = b'{"account": "a1", "amount": 12.5}'  # a float amount: refused when read


def record(topic: str, type_: str, value: bytes, event_id: str = "ev-1") -> Any:
    env = Envelope(
        id=event_id, type=type_, source="/test/ledger", time=datetime(2026, 1, 1, tzinfo=UTC)
    )
    return SimpleNamespace(
        topic=topic,
        partition=0,
        offset=3,
        key=b"a1",
        value=value,
        headers=env.to_headers(),
        timestamp=1_767_225_600_000,
    )


def decoder(*, trust_event_ids: bool = True, canonical_fingerprints: bool = False) -> Decoder:
    return Decoder(
        LG.registry,
        handlers_for(LG),
        trust_event_ids=trust_event_ids,
        max_record_bytes=1_000_000,
        env=None,
        canonical_fingerprints=canonical_fingerprints,
    )


def test_an_ignored_event_of_our_own_producers_is_not_read() -> None:
    it = decoder().decode(record(LG.events.name, "test.ledger.Deposited", MALFORMED))
    assert (it.skip, it.reason, it.message) == ("ignored", None, None)


@pytest.mark.parametrize(
    "kind", [{"trust_event_ids": False}, {"canonical_fingerprints": True}], ids=["partner", "typed"]
)
def test_a_partners_record_or_a_typed_command_is_read_whatever_its_type(
    kind: dict[str, bool],
) -> None:
    it = decoder(**kind).decode(record(LG.events.name, "test.ledger.Deposited", MALFORMED))
    assert it.skip is None
    assert it.reason == "money_not_string"


def test_a_type_the_subscription_handles_is_read_and_checked() -> None:
    it = decoder().decode(record(LG.commands.name, "test.ledger.Deposit", MALFORMED))
    assert (it.skip, it.reason) == (None, "money_not_string")
    _, body, _ = deposit_record("cmd-1", "a1", 12)  # type: ignore[arg-type]
    it = decoder().decode(record(LG.commands.name, "test.ledger.Deposit", body))
    assert it.skip is None and it.reason is None and it.message is not None
    assert it.fingerprint


def test_an_unknown_type_or_an_empty_body_is_still_refused() -> None:
    it = decoder().decode(record(LG.events.name, "test.ledger.Nothing", b"{}"))
    assert it.reason == R_UNKNOWN_TYPE
    it = decoder().decode(record(LG.events.name, "test.ledger.Deposited", b""))
    assert it.reason == R_EMPTY


def _with_time(r: Any, text: bytes) -> Any:
    r.headers = [(k, text if k == H_TIME else v) for k, v in r.headers]
    return r


def test_an_ignored_events_envelope_is_not_read_either() -> None:
    """Its readers refuse a bad ce_time; a subscription with no use for the event never reads it."""
    it = decoder().decode(_with_time(record(LG.events.name, "test.ledger.Deposited", b"{}"), b"x"))
    assert (it.skip, it.reason, it.envelope) == ("ignored", None, None)
    handled = _with_time(record(LG.commands.name, "test.ledger.Deposit", b"{}"), b"x")
    assert decoder().decode(handled).reason == R_INVALID_TIME


def test_an_ignored_type_over_a_limit_is_still_refused() -> None:
    def ignored(**changes: Any) -> Any:
        r = record(LG.events.name, "test.ledger.Deposited", b"{}")
        for k, v in changes.items():
            setattr(r, k, v)
        return r

    small = Decoder(
        LG.registry,
        handlers_for(LG),
        trust_event_ids=True,
        max_record_bytes=100,
        env=None,
    )
    assert small.decode(ignored(value=b" " * 101)).reason == R_TOO_LARGE
    assert decoder().decode(ignored(key=b"k" * (MAX_KEY_BYTES + 1))).reason == R_KEY_TOO_LARGE
    many = ignored()
    many.headers = [*many.headers, *[("x-pad", b"")] * MAX_HEADERS]
    assert decoder().decode(many).reason == RecordRefusal.TOO_MANY_HEADERS
    assert decoder().decode(ignored()).skip == "ignored"
