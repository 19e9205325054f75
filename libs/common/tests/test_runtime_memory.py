"""What a batch holds in memory, and for how long, checked without a broker: batch sizes, outbox
entry sizes, a processed batch freed."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
import weakref
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from ledger_app import LedgerSettings, ledger, runtime, two_subscriptions

from shebao_common.runtime import service
from shebao_common.runtime.codec import _headers_json


def test_a_subscription_may_take_smaller_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "setup_logging", lambda *args, **kwargs: None)
    lg = ledger("batches")
    rt = two_subscriptions(lg, LedgerSettings(batch_max_records=300), events_max_records=7)
    rt.build_app()  # connects nothing
    assert rt.broker is not None
    sizes = {s.group_id: s.max_records for s in rt.broker.subscribers}
    assert sizes == {f"shebao.{lg.service}.commands": 300, f"shebao.{lg.service}.events": 7}


def test_outbox_headers_take_their_size_not_a_serialiser_buffer() -> None:
    pairs = [
        ("ce_specversion", "1.0"),
        ("ce_id", "0123456789abcdef0123456789abcdef"),
        ("ce_type", "shebao.contributions.ContributionCredited"),
        ("ce_source", "/shebao/contributions"),
        ("ce_time", "2025-04-15T00:00:00+00:00"),
    ]
    expected = orjson.dumps(pairs)
    tracemalloc.start()
    try:
        kept = [_headers_json(pairs) for _ in range(500)]
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert kept[0] == expected
    # orjson's own bytes hold a 4 KiB buffer each; an entry's headers are about 300 bytes here
    assert held < 500 * 2 * len(expected)


def test_a_batch_sends_each_counter_field_once() -> None:
    """Counter changes of a batch are summed before the commit: one HINCRBY per field."""
    import msgpack

    from shebao_common.runtime.store import CommitPlan

    plan = CommitPlan(ttl=60)
    for by in (1, 2, -1, 5):
        plan.incr("c:hospital-month:h1:2025-03", "settled", by)
    plan.incr("c:hospital-month:h1:2025-03", "fund_fen", 1234)
    plan.incr("c:hospital-month:h2:2025-03", "settled", 1)
    counters = msgpack.unpackb(plan.packed(), raw=False)[6]
    assert sorted(map(tuple, counters)) == [
        ("c:hospital-month:h1:2025-03", "fund_fen", 1234),
        ("c:hospital-month:h1:2025-03", "settled", 7),
        ("c:hospital-month:h2:2025-03", "settled", 1),
    ]


# ------------------------------------------------------------------------------------------------
# a batch's records are freed when it is processed (service.in_own_context)


@pytest.fixture
async def timer_due_sooner() -> AsyncIterator[None]:
    """A timer due before the 10 s ones below, as a service always has (heartbeats, fetch
    waits): a cancelled timer behind it is not at the head of the loop's heap, so the loop does
    not sweep it at its next turn."""
    sooner = asyncio.get_running_loop().call_later(5, lambda: None)
    yield
    sooner.cancel()


async def waits_for_a_reply() -> None:
    """As redis-py waits for each reply: inside an `asyncio.timeout`, whose timer is cancelled."""
    async with asyncio.timeout(10):
        await asyncio.sleep(0)


async def test_a_batch_is_freed_once_processed_though_its_timers_are_still_scheduled(
    monkeypatch: pytest.MonkeyPatch, timer_due_sooner: None
) -> None:
    """FastStream's context holds the message, and so the batch of records, while the handler
    runs; every timer made meanwhile (redis-py's socket timeout around each reply) copies that
    context, and a cancelled timer stays in the loop's heap until its time comes. Processed in
    FastStream's context, each batch stayed alive ~10 s after it was done, several batches at a
    time, and every young garbage collection scanned them again."""
    from faststream.kafka import TestKafkaBroker

    monkeypatch.setattr(service, "setup_logging", lambda *args, **kwargs: None)
    lg = ledger("freed")
    rt = runtime(lg)
    rt.build_app()  # connects nothing
    assert rt.broker is not None
    seen: list[weakref.ref[Any]] = []

    async def process(records: Any) -> None:
        seen.append(weakref.ref(records[0]))
        await waits_for_a_reply()

    (proc,) = rt.processors
    monkeypatch.setattr(proc, "process", process)
    async with TestKafkaBroker(rt.broker) as br:
        await br.publish(b"{}", topic=lg.commands.name, key=b"a1")
        await br.publish(b"{}", topic=lg.commands.name, key=b"a2")
    assert len(seen) == 2
    gc.collect()
    scheduled = asyncio.get_running_loop()._scheduled  # type: ignore[attr-defined]
    assert sum(h.cancelled() for h in scheduled) >= 2  # its timers are still there
    assert [r() for r in seen] == [None, None]  # but the batches are gone


async def test_a_cancelled_timer_keeps_the_context_it_was_made_in(timer_due_sooner: None) -> None:
    """What the test above guards against, shown directly: a timer made in a context that holds
    a batch keeps the batch after it is cancelled, unless the work ran in a context of its own."""
    from contextvars import ContextVar

    message: ContextVar[Any] = ContextVar("message")

    class Batch(list[Any]):
        pass

    async def handled(apart: bool) -> weakref.ref[Batch]:
        batch = Batch([object()])
        token = message.set(batch)
        try:
            await (service.in_own_context(waits_for_a_reply()) if apart else waits_for_a_reply())
        finally:
            message.reset(token)
        return weakref.ref(batch)

    kept, freed = await handled(apart=False), await handled(apart=True)
    gc.collect()
    assert kept() is not None
    assert freed() is None
