"""Whatever exception the decode and plan paths raise, it is one record's refusal, not the batch's.

Issue 11 found one escape (decimal.InvalidOperation from a 30-digit amount): it left
Processor.process(), and the batch it came with was neither answered nor dead-lettered. Here each
exception class a value validator, a handler's `needs`, a handler or a rejecter could raise is
raised on purpose, one record each, among valid records in one batch; the batch commits to a real
Redis, every valid record is applied, every failing one has a named dead letter, and the
partition moves past them all.
"""

from __future__ import annotations

import decimal
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from aiokafka.structs import ConsumerRecord
from pydantic import field_validator

from shebao_common.metrics import RuntimeMetrics
from shebao_common.runtime import (
    Context,
    Decision,
    Emit,
    HandlerTable,
    RejectedRecord,
    State,
    Subscription,
)
from shebao_common.runtime.processor import Processor
from shebao_common.runtime.store import OutboxEntry, Store
from shebao_contracts.envelope import Envelope, Message
from shebao_contracts.topics import Registry, Topic

pytestmark = pytest.mark.integration


def _unicode_error() -> Exception:
    return UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")


def _recursion() -> Exception:
    return RecursionError("maximum recursion depth exceeded")


EXCEPTIONS: dict[str, Callable[[], BaseException]] = {
    "InvalidOperation": decimal.InvalidOperation,
    "DivisionByZero": decimal.DivisionByZero,
    "TypeError": TypeError,
    "KeyError": KeyError,
    "IndexError": IndexError,
    "AttributeError": AttributeError,
    "ZeroDivisionError": ZeroDivisionError,
    "OverflowError": OverflowError,
    "RecursionError": _recursion,
    "UnicodeDecodeError": _unicode_error,
    "RuntimeError": RuntimeError,
    "NotImplementedError": NotImplementedError,
    "LookupError": LookupError,
    "MemoryError": MemoryError,
    "UnicodeEncodeError": lambda: "\ud800".encode(),  # type: ignore[dict-item]
}


def _raise(name: str) -> None:
    made = EXCEPTIONS[name]()
    if isinstance(made, BaseException):
        raise made


class Probe(Message):
    TYPE = "test.probe.Probe"
    stage: str
    """ok, or where to raise: validate, needs, handle, reject."""
    exception: str = ""

    @field_validator("exception")
    @classmethod
    def _validate(cls, v: str, info: Any) -> str:
        if info.data.get("stage") == "validate":
            _raise(v)
        return v


class Probed(Message):
    TYPE = "test.probe.Probed"
    stage: str


class ProbeRejected(Message):
    TYPE = "test.probe.ProbeRejected"
    reason: str


IN = Topic("test.probe.in.v1", owner="probe", key="id", messages=(Probe,), description="in")
OUT = Topic(
    "test.probe.out.v1",
    owner="probe",
    key="id",
    messages=(Probed, ProbeRejected),
    description="out",
)

handlers = HandlerTable()


def _needs(m: Probe, ctx: Context) -> list[Any]:
    if m.stage == "needs":
        _raise(m.exception)
    return []


@handlers.on(Probe, needs=_needs)
def handle(state: State, m: Probe, ctx: Context) -> Decision:
    if m.stage == "handle":
        _raise(m.exception)
    return Decision().emit(OUT, ctx.key or "", Probed(stage=m.stage))


def reject(r: RejectedRecord) -> Emit:
    if r.key and r.key.startswith("reject-"):
        _raise(r.key.removeprefix("reject-"))
    return Emit(OUT.name, r.key or "", ProbeRejected(reason=r.reason))


class CollectingRelay:
    """Stands in for the relay: the processor hands it the committed outbox entries."""

    def __init__(self) -> None:
        self.entries: list[OutboxEntry] = []

    async def submit(self, entries: list[OutboxEntry]) -> None:
        self.entries.extend(entries)

    def take_trims(self, within: str | None = None) -> dict[Any, Any]:
        return {}

    def return_trims(self, trims: Any) -> None:
        pass

    def recover(self, streams: Any) -> None:
        pass


def record(offset: int, key: str, body: dict[str, str]) -> ConsumerRecord[bytes, bytes]:
    env = Envelope(
        id=str(uuid.uuid4()),
        type=Probe.TYPE,
        source="/test",
        time=datetime(2026, 1, 1, tzinfo=UTC),
    )
    value = json.dumps(body).encode()
    return ConsumerRecord(
        IN.name, 0, offset, 0, 0, key.encode(), value, None, len(key), len(value), env.to_headers()
    )


async def test_every_exception_class_becomes_a_named_dead_letter(infra) -> None:
    client = aioredis.Redis.from_url(infra.redis_url)
    store = Store(client, f"probe-{uuid.uuid4().hex[:8]}")
    relay = CollectingRelay()
    proc = Processor(
        service="probe",
        subscription=Subscription("in", (IN,), handlers, reject=reject),
        registry=Registry([IN, OUT]),
        store=store,
        relay=relay,  # type: ignore[arg-type]
        metrics=RuntimeMetrics("probe"),
        env=None,
        dedupe_ttl=60,
        max_record_bytes=10_000,
        dlq_max_value_bytes=10_000,
        state_cache_entries=100,
    )
    proc.next_offset[(IN.name, 0)] = None
    records, expected = [], {}
    for name in EXCEPTIONS:
        try:
            _raise(name)
        except ValueError:  # pydantic wraps a validator's ValueError in its ValidationError
            unreadable = "schema_violation"
        except Exception:
            unreadable = "invalid_value"
        for stage, reason in (
            ("validate", unreadable),
            ("needs", "handler_error"),
            ("handle", "handler_error"),
        ):
            key = f"{stage}-{name}"
            records.append(record(len(records), key, {"stage": stage, "exception": name}))
            expected[key] = reason
            records.append(record(len(records), f"ok-{key}", {"stage": "ok"}))
            expected[f"ok-{key}"] = "applied"
        # The record is refused (no stage field); then its rejecter raises.
        key = f"reject-{name}"
        records.append(record(len(records), key, {"exception": name}))
        expected[key] = "schema_violation"
    try:
        await proc.process(records)
        assert proc.next_offset[(IN.name, 0)] == len(records), "the partition moved past all"
        got: dict[str, list[str]] = {}
        for e in relay.entries:
            headers = dict(orjson.loads(e.headers))
            kind = headers.get("dlq-reason") or headers["ce_type"].rsplit(".", 1)[1]
            got.setdefault(e.key.decode(), []).append(kind)
        for key, reason in expected.items():
            if reason == "applied":
                assert got[key] == ["Probed"], key
            elif key.startswith("reject-"):
                assert got[key] == [reason], f"{key}: the dead letter stays, without an answer"
            else:
                assert got[key] == [reason, "ProbeRejected"], key
    finally:
        await client.aclose()
