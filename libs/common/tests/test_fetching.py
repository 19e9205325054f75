"""A consumer's fetch waits for a batch's worth while records flow, not while idle (fetching.py).

The unit tests script the fetcher's answers; the integration test runs aiokafka's own Fetcher
against the real broker, which is also what pins the private attributes the feature sets: an
aiokafka that renames them fails here.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from shebao_common.kafka_security import client_options
from shebao_common.runtime.fetching import AdaptiveFetch, adapt_fetches, poll_without_blind_sleep
from shebao_common.runtime.service import _Rebalance
from shebao_common.settings import ServiceSettings
from shebao_devinfra.testing import create_topics, fetches_asked, producer, wait_until


class ScriptedFetcher:
    """aiokafka's Fetcher as far as the feature uses it: each fetch answers the next of
    `answers` (True: it brought records) and notes how it was asked."""

    def __init__(self, answers: list[bool]) -> None:
        self._fetch_min_bytes, self._fetch_max_wait_ms = 1, 500
        self.answers = list(answers)
        self.asked: list[tuple[int, int]] = []

    async def _proc_fetch_request(self, assignment: Any, node_id: Any, request: Any) -> bool:
        self.asked.append((self._fetch_min_bytes, self._fetch_max_wait_ms))
        return self.answers.pop(0)


async def test_busy_after_records_idle_after_an_empty_fetch() -> None:
    fetcher = ScriptedFetcher([True, True, False, False, True, False])
    consumer = SimpleNamespace(_fetcher=fetcher)
    adaptive = adapt_fetches(consumer, 16384, 20)
    assert adaptive is not None
    for _ in range(6):
        # the fetcher calls the attribute it holds: the wrapped step
        await fetcher._proc_fetch_request(None, 0, None)
    idle, busy = (1, 500), (16384, 20)
    assert fetcher.asked == [idle, busy, busy, idle, idle, busy]
    assert adaptive.fetches == {"idle": 3, "busy": 3}
    assert (fetcher._fetch_min_bytes, fetcher._fetch_max_wait_ms) == idle


def test_installed_once_off_at_one_byte_and_never_looser_than_the_consumer() -> None:
    fetcher = ScriptedFetcher([])
    consumer = SimpleNamespace(_fetcher=fetcher)
    assert adapt_fetches(consumer, 1, 20) is None  # off: aiokafka's way
    assert adapt_fetches(SimpleNamespace(_fetcher=None), 16384, 20) is None  # not started
    first = adapt_fetches(consumer, 16384, 20)
    assert first is not None and adapt_fetches(consumer, 65536, 5) is first
    # a consumer configured to wait longer for more is not made to wait less for less
    eager = ScriptedFetcher([])
    eager._fetch_min_bytes, eager._fetch_max_wait_ms = 65536, 10
    assert AdaptiveFetch(eager, 16384, 20).busy == (65536, 10)


async def test_every_subscription_adapts_its_fetches_on_assignment() -> None:
    fetcher = ScriptedFetcher([])
    consumer = SimpleNamespace(_fetcher=fetcher)
    assigned: list[Any] = []

    async def on_assigned(tps: Any) -> None:
        assigned.append(tps)

    processor = SimpleNamespace(
        partitions=SimpleNamespace(consumer_getter=lambda: consumer), on_assigned=on_assigned
    )
    settings = ServiceSettings(fetch_busy_min_bytes=8192, fetch_busy_max_wait_ms=15)
    await _Rebalance(processor, settings).on_partitions_assigned(["tp"])  # type: ignore[arg-type]
    installed = adapt_fetches(consumer, 8192, 15)
    assert installed is not None and installed.busy == (8192, 15)
    assert fetcher._proc_fetch_request == installed.fetch
    assert assigned == [["tp"]]


@pytest.mark.integration
async def test_against_the_broker_records_arrive_once_and_the_fetcher_goes_busy_and_idle(
    infra,
) -> None:
    topic = f"fetching.{random.randrange(10**9)}"
    await create_topics(infra.kafka_bootstrap, [topic], partitions=4)
    c = AIOKafkaConsumer(
        topic,
        **client_options(bootstrap=infra.kafka_bootstrap),
        group_id=f"fetching-{random.randrange(10**9)}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await c.start()
    prod = await producer(infra.kafka_bootstrap)
    try:

        async def assigned() -> bool:
            return bool(c.assignment())

        await wait_until(assigned, timeout=30)
        adaptive = adapt_fetches(c, 16384, 20)
        assert adaptive is not None
        asked = fetches_asked(c)
        got: list[int] = []
        for step in range(5):  # a trickle: 4 records at a time, over every partition
            for i in range(4):
                n = 4 * step + i
                await prod.send_and_wait(topic, str(n).encode(), partition=i)
            await asyncio.sleep(0.005)
        while len(got) < 20:
            batch = await c.getmany(timeout_ms=2000)
            assert batch, f"only {len(got)} of 20 records came back"
            got += [int(r.value) for recs in batch.values() for r in recs]
        assert sorted(got) == list(range(20))  # each once, none lost
        for p in range(4):
            assert await c.position(TopicPartition(topic, p)) == 5
        await asyncio.sleep(0.6)  # idle again: a busy fetch came back empty
        assert (16384, 20) in asked, asked  # after records, the broker was asked to wait
        assert asked[-1] == (1, 500), asked  # and an idle consumer is answered at once
        assert adaptive.fetches["busy"] >= 1 and adaptive.fetches["idle"] >= 1
        assert adaptive.mode == "idle"
    finally:
        await prod.stop()
        await c.stop()


# ------------------------------------------------------------------------------------------------
# polling: no blind sleep after an empty poll (poll_without_blind_sleep)


class Polled:
    """aiokafka's consumer as FastStream's batch subscriber polls it: `getmany` answers the
    next of `answers`, after waiting as long as it says (a full timeout, or not at all)."""

    def __init__(self, answers: list[tuple[bool, dict[Any, list[Any]]]]) -> None:
        self.answers = list(answers)

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[Any, list[Any]]:
        waits, records = self.answers.pop(0)
        if waits:  # nothing came within the timeout (not with asyncio.sleep: that is watched)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.Event().wait(), timeout_ms / 1000)
        return records


def batch_subscriber(timeout_ms: int) -> Any:
    """FastStream's own batch subscriber, as the runtime makes it (nothing connected)."""
    from faststream.kafka import KafkaBroker

    sub = KafkaBroker().subscriber("t.poll", batch=True, batch_timeout_ms=timeout_ms, max_records=7)
    poll_without_blind_sleep(sub)
    return sub


async def test_an_empty_poll_that_waited_its_timeout_is_not_slept_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slept: list[float] = []
    real_sleep = asyncio.sleep

    async def watched(delay: float, *a: Any) -> Any:
        slept.append(delay)
        return await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", watched)
    sub = batch_subscriber(timeout_ms=40)
    tp = TopicPartition("t.poll", 0)
    consumer = Polled([(True, {}), (False, {tp: ["r1", "r2"]}), (False, {})])
    assert await sub.get_msg(consumer) == ()  # FastStream's own slept 40 ms more here
    assert all(d < 0.001 for d in slept), slept
    assert await sub.get_msg(consumer) == ("r1", "r2")
    slept.clear()
    # one that came back at once (nothing assigned yet) waits the rest: no busy loop
    assert await sub.get_msg(consumer) == ()
    assert len(slept) == 1 and 0.03 < slept[0] <= 0.04


def test_every_subscription_of_a_service_polls_so(monkeypatch: pytest.MonkeyPatch) -> None:
    from ledger_app import ledger, two_subscriptions

    from shebao_common.runtime import service

    monkeypatch.setattr(service, "setup_logging", lambda *args, **kwargs: None)
    rt = two_subscriptions(ledger("polls"))
    rt.build_app()  # connects nothing
    assert rt.broker is not None and len(rt.broker.subscribers) == 2
    for sub in rt.broker.subscribers:
        assert sub.get_msg.__qualname__.startswith("poll_without_blind_sleep"), sub
