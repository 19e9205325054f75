"""Exactly-once effects survive SIGKILLed consumers and a Redis restart (real Kafka, real Redis).

10,000 deposits (plus 300 republished duplicates) flow into the ledger service while it is
SIGKILLed at five random moments and restarted, and Redis is restarted once from its AOF.
Afterwards every account's balance and count equal the expected totals exactly, every expected
output event id is on the events topic, and each account's `applied` sequence is 1..n without
a gap or a repeat: no effect was lost or applied twice.
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path
from typing import Any

import pytest
from ledger_harness import (
    LedgerProcess,
    assert_applied_exactly_once,
    ledger_counter,
    new_ledger,
    producer,
    random_deposits,
)
from redis.exceptions import RedisError

from shebao_devinfra.testing import redis_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

N_EVENTS = 10_000
N_DUPLICATES = 300
N_ACCOUNTS = 97
N_KILLS = 5


async def _counter(r: Any, service: str) -> int:
    for _ in range(100):  # the test's own client rides out the Redis restart too
        try:
            return await ledger_counter(r, service)
        except RedisError:  # a restart's LOADING, a failover's CLUSTERDOWN or refused connection
            await asyncio.sleep(0.2)
    raise TimeoutError("Redis did not come back")


async def test_ten_thousand_events_through_kills_and_a_redis_fault(
    infra, faulty_redis, tmp_path: Path
) -> None:
    rng = random.Random(20261129)
    # the session's broker outlives the parameter: each Redis kind gets topics of its own
    lg = await new_ledger(infra.kafka_bootstrap, f"chaos{faulty_redis.kind}", rng)
    deposits = random_deposits(rng, N_EVENTS, N_ACCOUNTS)
    records = deposits.records
    # Republished commands (same ce_id, same body), as an upstream relay does after a crash.
    plan = list(records)
    for _ in range(N_DUPLICATES):
        plan.insert(rng.randrange(len(plan)), rng.choice(records))

    # A killed consumer's partitions move once its session expires: 3 s, where the broker
    # allows sessions that short (one the tests started), instead of the tests' usual 6 s.
    quick = (
        {"SHEBAO_LEDGER_SESSION_TIMEOUT_MS": "3000", "SHEBAO_LEDGER_HEARTBEAT_INTERVAL_MS": "500"}
        if infra.short_sessions
        else {}
    )
    proc = LedgerProcess(lg.ledger_id, infra.kafka_bootstrap, faulty_redis.url, tmp_path, quick)
    r = redis_for(faulty_redis.url)
    prod = await producer(infra.kafka_bootstrap, linger_ms=5)
    faults_done = asyncio.Event()

    async def feed() -> None:
        # A steady trickle (~250/s), so that work keeps arriving across all the kills and the
        # Redis fault; what is left once they are done is sent at once.
        for n, (_, (key, value, headers)) in enumerate(plan):
            await prod.send(lg.commands.name, key=key, value=value, headers=headers)
            if n % 25 == 0 and not faults_done.is_set():
                await asyncio.sleep(0.1)
        await prod.flush()

    async def processing_resumed() -> int:
        """Wait until the (restarted) service applies deposits again; a kill then lands mid-work."""
        base = await _counter(r, lg.service)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            now = await _counter(r, lg.service)
            if now > base or now >= N_EVENTS:
                return now
            await asyncio.sleep(0.05)
        raise TimeoutError("the service did not resume processing")

    try:
        proc.start()
        await proc.wait_ready()
        feeding = asyncio.create_task(feed())
        for kill in range(1, N_KILLS + 1):
            await processing_resumed()
            await asyncio.sleep(rng.uniform(0.05, 0.8))
            at = await _counter(r, lg.service)
            proc.kill()
            print(f"SIGKILL {kill} at {at} deposits applied")
            proc.start()
            await proc.wait_ready()
        # Redis restarts from its append-only file while the consumer is applying deposits.
        await processing_resumed()
        await asyncio.sleep(rng.uniform(0.05, 0.5))
        what = await asyncio.to_thread(faulty_redis.fault, lg.service)
        print(f"{what}; at {await _counter(r, lg.service)} deposits")
        faults_done.set()
        await feeding
        deadline = time.monotonic() + 180
        while await _counter(r, lg.service) < N_EVENTS and time.monotonic() < deadline:
            assert proc.alive, "the service process died"
            await asyncio.sleep(0.5)
        assert proc.terminate() < 30, "SIGTERM must finish, flush and leave within 30 s"
    finally:
        proc.stop()
        await prod.stop()

    # Every deposit applied exactly once, in Redis and downstream.
    out = await assert_applied_exactly_once(r, lg, infra.kafka_bootstrap, deposits)
    await r.aclose()
    print(f"{out} records on the events topic for {N_EVENTS} distinct events")
