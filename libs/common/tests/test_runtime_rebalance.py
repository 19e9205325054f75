"""Partitions moving between instances keep effects exactly-once (scale out, then scale in)."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
from ledger_harness import (
    LedgerProcess,
    create_topics,
    deposit_record,
    ledger_counter,
    ledger_store,
    new_id,
    producer,
    read_all,
)

from shebao_devinfra.testing import redis_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

N = 4000


async def test_two_instances_share_and_hand_over_partitions(
    infra, any_redis_url: str, tmp_path: Path
) -> None:
    ledger_id = f"rebal{int(time.time() * 1000) % 10**8}"
    service = f"ledger-{ledger_id}"
    commands = f"test.ledger.{ledger_id}.commands.v1"
    events = f"test.ledger.{ledger_id}.events.v1"
    await create_topics(infra.kafka_bootstrap, [commands, events, commands + ".dlq"])
    a = LedgerProcess(ledger_id, infra.kafka_bootstrap, any_redis_url, tmp_path)
    b = LedgerProcess(ledger_id, infra.kafka_bootstrap, any_redis_url, tmp_path)
    prod = await producer(infra.kafka_bootstrap)
    r = redis_for(any_redis_url)
    expected: Counter[str] = Counter()

    async def applied() -> int:
        return await ledger_counter(r, service)

    async def feed(start: int, n: int) -> None:
        for i in range(start, start + n):
            acct = f"a{i % 31}"
            expected[acct] += 1
            key, value, headers = deposit_record(new_id(), acct, Decimal("1.00"), i)
            await prod.send(commands, key=key, value=value, headers=headers)
            if i % 20 == 0:
                await asyncio.sleep(0.05)
        await prod.flush()

    try:
        a.start()
        await a.wait_ready()
        await feed(0, N // 4)
        b.start()  # scale out: the group rebalances while deposits keep coming
        await b.wait_ready()
        await feed(N // 4, N // 2)
        a.terminate()  # scale in: A finishes its batch, flushes, leaves; B takes over
        await feed(3 * N // 4, N // 4)
        deadline = time.monotonic() + 120
        while await applied() < N and time.monotonic() < deadline:
            await asyncio.sleep(0.3)
        assert await applied() == N
        assert b.alive
        b.terminate()  # flushes the outbox before the events topic is read
    finally:
        a.stop()
        b.stop()
        await prod.stop()

    seqs: dict[str, set[int]] = defaultdict(set)
    for rec in await read_all(infra.kafka_bootstrap, events):
        ev = json.loads(rec.value)
        seqs[ev["account"]].add(ev["applied"])
    for acct, n in expected.items():
        raw = await ledger_store(r, service).get_state(f"account:{acct}", owner=acct)
        assert json.loads(raw)["applied"] == n
        assert seqs[acct] == set(range(1, n + 1))
    await r.aclose()
