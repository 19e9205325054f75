"""A partitioned layout (`store.Layout`) and a changed partition count.

State owned by input partition p lives under p's hash tag; a topic that gains partitions moves
the ownership of keys (an account's deposits go to another partition, whose slot has never held
that account). The service then refuses to consume: it stays up, not ready, and says why in
/readyz and its log, and nothing in Redis changes. The keyspace also records the layout it was
written with, and a service started with another one is refused the same way.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions
from ledger_harness import (
    LEDGER_PARTITIONS,
    Deposits,
    LedgerProcess,
    deposit_all,
    ledger_counter,
    ledger_store,
    new_ledger,
    producer,
    random_deposits,
)

from shebao_common.kafka_security import client_options
from shebao_common.runtime.store import Layout, default_partition
from shebao_devinfra.testing import wait_until

pytestmark = pytest.mark.integration


async def _not_ready_because(proc: LedgerProcess, *words: str) -> dict[str, Any]:
    body: dict[str, Any] = {}

    async def refused() -> bool:
        nonlocal body
        status, body = await proc.get_json("/readyz")
        return status == 503 and all(w in str(body.get("waiting_for", "")) for w in words)

    await wait_until(refused, timeout=60)
    return body


@dataclass
class Run:
    lg: Any
    deposits: Deposits
    proc: LedgerProcess
    redis: Any
    prod: Any


@contextlib.asynccontextmanager
async def _deposited(
    infra: Any, tmp_path: Path, name: str, rng: random.Random, n: int, accounts: int
) -> AsyncIterator[Run]:
    """A ledger of its own, started, its `n` deposits sent and every one applied; stopped after."""
    lg = await new_ledger(infra.kafka_bootstrap, name, rng)
    deposits = random_deposits(rng, n, accounts)
    proc = LedgerProcess(lg.ledger_id, infra.kafka_bootstrap, infra.redis_url, tmp_path)
    r = aioredis.Redis.from_url(infra.redis_url)
    prod = await producer(infra.kafka_bootstrap)
    try:
        proc.start()
        await proc.wait_ready()
        await deposit_all(prod, r, lg, deposits)
        yield Run(lg, deposits, proc, r, prod)
    finally:
        proc.stop()
        await prod.stop()
        await r.aclose()


async def test_partitioned_state_lives_with_its_partition(infra: Any, tmp_path: Path) -> None:
    rng = random.Random(20261201)
    async with _deposited(infra, tmp_path, "layout", rng, 40, 7) as run:
        r, store = run.redis, ledger_store(run.redis, run.lg)
        # each account's state is under the tag of the partition its key goes to, and only there
        for account in run.deposits.count:
            home = default_partition(account, LEDGER_PARTITIONS)
            for p in range(LEDGER_PARTITIONS):
                held = await r.get(store.state_key(f"account:{account}", p))
                assert (held is not None) == (p == home), (account, p, home)
        # the counters are kept per partition and add up to the whole
        per_partition = [
            int(await r.hget(store.counter_key("ledger", p), "deposits") or 0)
            for p in range(LEDGER_PARTITIONS)
        ]
        assert sum(per_partition) == 40 and sum(1 for n in per_partition if n) > 1
        assert await r.hget(store.layout_key, "partitions") == str(LEDGER_PARTITIONS).encode()


async def test_a_changed_partition_count_is_refused_at_start(infra: Any, tmp_path: Path) -> None:
    rng = random.Random(20261202)
    async with _deposited(infra, tmp_path, "repartition", rng, 30, 5) as run:
        lg, proc, r = run.lg, run.proc, run.redis
        proc.terminate()
        before = {k async for k in r.scan_iter(match=f"shebao:{lg.service}:*")}

        admin = AIOKafkaAdminClient(**client_options(bootstrap=infra.kafka_bootstrap))
        await admin.start()
        try:
            await admin.create_partitions({lg.commands.name: NewPartitions(total_count=6)})
        finally:
            await admin.close()

        proc.start()
        body = await _not_ready_because(proc, "state layout", f"{lg.commands.name} has 6")
        assert "docs/CAPACITY.md#changing-partition-counts" in body["waiting_for"]
        assert body["checks"]["redis"] and body["checks"]["kafka"]
        # refused, not crashed: alive, and nothing was read or written
        more = random_deposits(rng, 5, 5)
        for _, (k, v, h) in more.records:
            await run.prod.send_and_wait(lg.commands.name, key=k, value=v, headers=h)
        assert proc.alive
        assert await ledger_counter(r, lg) == 30
        assert {k async for k in r.scan_iter(match=f"shebao:{lg.service}:*")} == before
        assert "has 6" in proc.log_text()


async def test_a_keyspace_of_another_layout_is_refused(infra: Any, tmp_path: Path) -> None:
    rng = random.Random(20261203)
    lg = await new_ledger(infra.kafka_bootstrap, "relayout", rng)
    r = aioredis.Redis.from_url(infra.redis_url)
    # the keyspace says it was written as one slot; the ledger starts partitioned
    one_slot = Layout(lg.service)
    await r.hset(f"shebao:{lg.service}:layout", "partitions", "0")
    proc = LedgerProcess(lg.ledger_id, infra.kafka_bootstrap, infra.redis_url, tmp_path)
    proc.start()
    try:
        body = await _not_ready_because(proc, "laid out for one slot", "4 partitions")
        assert "rebuild" in body["waiting_for"]
        assert one_slot.tag() == "{" + lg.service + "}"
    finally:
        proc.stop()
        await r.aclose()


async def test_a_keyspace_from_before_hash_tags_is_refused(infra: Any, tmp_path: Path) -> None:
    """A release before hash tags kept the offsets at shebao:<service>:off:<subscription>: a
    service that found no state of its own there would read its inputs from the start and
    decide again. It refuses, and names the rebuild that moves the state over."""
    rng = random.Random(20261204)
    lg = await new_ledger(infra.kafka_bootstrap, "legacy", rng)
    r = aioredis.Redis.from_url(infra.redis_url)
    await r.hset(f"shebao:{lg.service}:off:commands", f"{lg.commands.name}:0", "17")
    proc = LedgerProcess(lg.ledger_id, infra.kafka_bootstrap, infra.redis_url, tmp_path)
    proc.start()
    try:
        body = await _not_ready_because(proc, "before hash tags", "rebuild --wipe")
        assert f"shebao:{lg.service}:off:" in body["waiting_for"]
        assert not await r.exists(f"shebao:{lg.service}:layout")
    finally:
        proc.stop()
        await r.aclose()
