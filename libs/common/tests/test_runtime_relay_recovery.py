"""An outbox taken over after a crash is published once: the new owner sends only what the broker
does not hold yet (real Kafka, real Redis).

A process killed after the broker took its sends and before it trimmed them from the outbox left
them in Redis, and the next owner published them all again: a hospital read the same answer twice.
`make chaos`'s question about duplicates found it: two SIGKILLs of medical settlement under a
steady stream of claims gave 40 of 3,000 claims a second, identical `SettlementResult`, against
HOSPITALS.md's "exactly one".
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaProducer

from shebao_common.kafka_security import client_options
from shebao_common.metrics import RuntimeMetrics
from shebao_common.runtime.relay import Relay, published_since
from shebao_common.runtime.store import CommitPlan, OutboxEntry, Store, StreamId
from shebao_devinfra.testing import create_topics, read_all, wait_until

pytestmark = [pytest.mark.integration]


async def test_a_new_owner_publishes_only_what_the_broker_lacks(infra: Any) -> None:
    bootstrap = infra.kafka_bootstrap
    topic = f"relay-recovery-{uuid.uuid4().hex[:8]}"
    await create_topics(bootstrap, [topic])
    client = aioredis.Redis.from_url(infra.redis_url)
    store = Store(client, f"relay-recovery-{uuid.uuid4().hex[:8]}")
    stream = store.outbox_key("answers", "claims", 0)

    def entry(n: int) -> OutboxEntry:
        headers = [("ce_id", f"{topic}-{n}"), ("ce_type", "test.Answer")]
        return OutboxEntry(
            stream=stream,
            id=StreamId(n + 1, 0),
            topic=topic,
            key=f"claim-{n}".encode(),
            value=json.dumps({"claim_id": f"claim-{n}"}).encode(),
            headers=orjson.dumps(headers),
            header_list=[(k, v.encode()) for k, v in headers],
        )

    async def commit(entries: list[OutboxEntry]) -> None:
        assert (await store.commit(CommitPlan(ttl=600, outbox=entries))).status == "OK"

    def relay(name: str) -> Relay:
        return Relay(
            store,
            lambda: AIOKafkaProducer(
                **client_options(bootstrap=bootstrap), acks="all", enable_idempotence=True
            ),
            RuntimeMetrics(name),
            trim_interval=3600,  # nothing trimmed but by flush() or stop()
            find_published=lambda topics, since, wanted: published_since(
                bootstrap, topics, since, wanted
            ),
        )

    async def on_topic() -> list[str]:
        return [dict(r.headers)["ce_id"].decode() for r in await read_all(bootstrap, topic)]

    try:
        # -- the first owner: five answers committed, published, acknowledged, then SIGKILL --------
        first = relay("relay-first")
        await first.start()
        answered = [entry(n) for n in range(5)]
        await commit(answered)
        await first.submit(answered)

        async def five() -> bool:
            return len(await on_topic()) == 5

        await wait_until(five, timeout=30)
        for task in first._tasks:  # killed: no flush, no trim
            task.cancel()
        await asyncio.gather(*first._tasks, return_exceptions=True)
        assert first._producer is not None
        await first._producer.stop()
        assert await client.xlen(stream) == 5, "the kill left the acknowledged answers untrimmed"
        # ... and two more committed that it never got to send
        await commit([entry(5), entry(6)])

        # -- the next owner takes the outbox over -------------------------------------------------
        second = relay("relay-second")
        await second.start()
        second.recover([stream])

        async def the_last_two() -> bool:
            return {f"{topic}-5", f"{topic}-6"} <= set(await on_topic())

        await wait_until(the_last_two, timeout=60)  # sent after any republished earlier one
        await second.flush(timeout=60)
        await second.stop()

        published = await on_topic()
        assert sorted(published) == [f"{topic}-{n}" for n in range(7)], published
        assert await client.xlen(stream) == 0, "what the broker holds is trimmed, sent or not"
    finally:
        await client.aclose()


async def test_flush_waits_for_a_recovery_in_progress(infra: Any) -> None:
    """A graceful shutdown flushes the relay: it must not return while a recovery is still
    reading the outbox page by page (it did, once one page's sends were acknowledged)."""
    bootstrap = infra.kafka_bootstrap
    topic = f"relay-flush-{uuid.uuid4().hex[:8]}"
    await create_topics(bootstrap, [topic])
    client = aioredis.Redis.from_url(infra.redis_url)
    store = Store(client, f"relay-flush-{uuid.uuid4().hex[:8]}")
    stream = store.outbox_key("answers", "claims", 0)
    n = 3500  # several of the recovery's pages of 1,000

    def entry(i: int) -> OutboxEntry:
        headers = [("ce_id", f"{topic}-{i}"), ("ce_type", "test.Answer")]
        return OutboxEntry(
            stream=stream,
            id=StreamId(i + 1, 0),
            topic=topic,
            key=f"claim-{i}".encode(),
            value=b"{}",
            headers=orjson.dumps(headers),
        )

    relay = Relay(
        store,
        lambda: AIOKafkaProducer(
            **client_options(bootstrap=bootstrap), acks="all", enable_idempotence=True
        ),
        RuntimeMetrics("relay-flush"),
        trim_interval=3600,
    )
    try:
        assert (
            await store.commit(CommitPlan(ttl=600, outbox=[entry(i) for i in range(n)]))
        ).status == "OK"
        await relay.start()
        relay.recover([stream])
        await relay.flush(timeout=120)
        assert len(await read_all(bootstrap, topic)) == n
        assert await client.xlen(stream) == 0
        await relay.stop()
    finally:
        await client.aclose()
