"""The headers of the events a record causes: the CloudEvents envelope in its order, then the
origin (`shebao-from`). The encoder builds what the events of one cause share once (issue 20);
each event must still carry exactly the headers its own envelope gives, whatever came before it.
No broker needed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import orjson
from ledger_app import Deposited, handlers_for, ledger
from ledger_harness import deposit_record

from shebao_common.runtime.codec import H_FROM, Decoder, Encoder, Item, derived_event_id
from shebao_common.runtime.model import Emit
from shebao_common.runtime.store import OutboxEntry, StreamId
from shebao_contracts.envelope import Envelope

LG = ledger("headers")
TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
OTHER_TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def item(cmd_id: str, offset: int) -> Item:
    key, value, headers = deposit_record(cmd_id, "a1", Decimal("5.00"), seq=offset)
    r = SimpleNamespace(
        topic=LG.commands.name,
        partition=2,
        offset=offset,
        key=key,
        value=value,
        headers=headers,
        timestamp=1_700_000_000_000,
    )
    decoder = Decoder(
        LG.registry, handlers_for(LG), trust_event_ids=True, max_record_bytes=1 << 20, env=None
    )
    it = decoder.decode(r)
    assert it.reason is None, it.detail
    return it


def emit(subject: str | None = None, time: datetime | None = None) -> Emit:
    deposited = Deposited(account="a1", amount=Decimal("5.00"), balance=Decimal("5.00"), applied=1)
    return Emit(LG.events.name, "a1", deposited, time=time, subject=subject)


def expected(
    enc: Encoder, e: Emit, cause: Item, index: int, traceparent: str | None
) -> list[tuple[str, str]]:
    """The headers as the envelope itself writes them, then the origin."""
    env = cause.envelope
    assert env is not None
    pairs = Envelope(
        id=derived_event_id(cause.event_id, index),
        type=e.message.TYPE,
        source=enc.source,
        time=e.time or env.time,
        subject=e.subject,
        correlation_id=env.correlation_id or env.id,
        causation_id=env.id,
        traceparent=traceparent,
    ).header_pairs()
    r = cause.record
    return [*pairs, (H_FROM, f"sub|{r.topic}|{r.partition}|{r.offset}|{cause.fingerprint}")]


def headers_of(entry: OutboxEntry) -> list[tuple[str, str]]:
    stored = [tuple(p) for p in orjson.loads(entry.headers)]
    assert entry.header_list is not None
    assert [(k, v.decode()) for k, v in entry.header_list] == stored  # the producer's the same
    return stored  # type: ignore[return-value]


def test_every_event_of_a_cause_carries_its_own_envelope() -> None:
    enc = Encoder("ledger-headers", 1 << 18, subscription="sub")
    first, second = item("cmd-1", 7), item("cmd-2", 8)
    own_time = datetime(2025, 3, 9, 10, 0, tzinfo=UTC) + timedelta(hours=8)
    cases: list[tuple[Emit, Item, int, str | None]] = [
        (emit(), first, 0, TRACE),
        (emit(subject="a1"), first, 1, TRACE),  # the same cause: shared headers reused
        (emit(time=own_time), first, 2, TRACE),  # an event time of its own
        (emit(time=own_time), second, 1, TRACE),  # the same time, another cause
        (emit(), first, 3, TRACE),  # back to the cause's time
        (emit(), first, 4, OTHER_TRACE),  # another trace (a span of its own)
        (emit(), first, 5, None),  # no trace
        (emit(), second, 0, None),  # the next record: its own ids, offset and time
        (emit(), first, 6, None),  # a cause met again after another
    ]
    ids = set()
    for e, cause, index, trace in cases:
        entry = enc.event(e, cause, index, "s", StreamId(cause.record.offset + 1, index), trace)
        assert headers_of(entry) == expected(enc, e, cause, index, trace)
        ids.add(dict(headers_of(entry))["ce_id"])
    assert len(ids) == len(cases)


def test_an_event_time_of_another_offset_is_written_as_given() -> None:
    """Two times of the same instant in different offsets are equal datetimes but not the same
    `ce_time`: the encoder must not take one for the other."""
    enc = Encoder("ledger-headers", 1 << 18, subscription="sub")
    cause = item("cmd-3", 9)
    utc = datetime(2025, 3, 9, 2, 0, tzinfo=UTC)
    beijing = utc.astimezone(datetime.fromisoformat("2025-03-09T10:00:00+08:00").tzinfo)
    assert utc == beijing
    texts: list[Any] = []
    for t in (utc, beijing, utc):
        entry = enc.event(emit(time=t), cause, len(texts), "s", StreamId(10, 0), None)
        texts.append(dict(headers_of(entry))["ce_time"])
    assert texts == ["2025-03-09T02:00:00+00:00", "2025-03-09T10:00:00+08:00", texts[0]]
