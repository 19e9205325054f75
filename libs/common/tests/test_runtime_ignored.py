"""What a subscription does with a record of a type it has no handler for (unit tests, no broker).

An event of the platform's own producers that the subscription ignores is not read: nothing uses
its body or its fingerprint, and the services that handle its type check it (issue 20: medical
settlement's statements read every claim's events in full only to ignore them). A partner's
record, and a command people typed, is read whatever its type: a malformed one is refused.
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from ledger_app import handlers_for, ledger
from ledger_harness import deposit_record

from shebao_common.runtime.codec import R_EMPTY, R_UNKNOWN_TYPE, Decoder
from shebao_contracts.envelope import Envelope

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
