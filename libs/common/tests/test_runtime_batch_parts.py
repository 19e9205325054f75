"""A batch whose outputs outgrow `commit_max_output_bytes` is committed in parts, each with its
partitions' offsets, and nothing is lost or doubled, even when the process is killed between
parts. The ledger service runs as a real process on the real broker and Redis, with the bound at
its floor (1 KiB: two deposits' events), on a backlog, so that its batches are large."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from ledger_harness import (
    LedgerProcess,
    assert_applied_exactly_once,
    ledger_counter,
    new_ledger,
    producer,
    random_deposits,
)

from shebao_devinfra.testing import wait_until

pytestmark = pytest.mark.integration

PARTS = {"SHEBAO_LEDGER_COMMIT_MAX_OUTPUT_BYTES": "1024"}


async def test_a_large_batch_is_committed_in_parts_and_each_deposit_applied_once(
    infra, tmp_path: Path
) -> None:
    rng = random.Random(20261202)
    lg = await new_ledger(infra.kafka_bootstrap, "parts", rng)
    deposits = random_deposits(rng, 2000, 12)  # a backlog long enough to be killed within
    prod = await producer(infra.kafka_bootstrap)
    r = aioredis.Redis.from_url(infra.redis_url)
    proc = LedgerProcess(lg.ledger_id, infra.kafka_bootstrap, infra.redis_url, tmp_path, PARTS)
    try:
        for _, (key, value, headers) in deposits.records:
            await prod.send(lg.commands.name, key=key, value=value, headers=headers)
        await prod.flush()
        proc.start()
        await proc.wait_ready(60)

        # Killed once some parts of the backlog's first batches have committed, and not all.
        # Nothing may come between the look and the kill: on a quick machine the whole backlog
        # was applied within the 0.2 s between two looks of the default interval, and in a CI
        # run beside the unit tests within one scrape of the metrics after the look
        # (2026-12-04). So the parts are read in the background from the start, the look is
        # every 5 ms, and the kill follows it at once.
        parts = 0.0

        async def read_parts() -> None:
            nonlocal parts
            while True:  # a counter: the highest read (a scrape that failed reads 0)
                read = await proc.metric("shebao_batch_parts_total", subscription="commands")
                parts = max(parts, read)
                await asyncio.sleep(0.005)

        reader = asyncio.create_task(read_parts())

        async def some_applied_in_parts() -> bool:
            return parts > 0 and await ledger_counter(r, lg) >= 50

        try:
            await wait_until(some_applied_in_parts, timeout=60, interval=0.005)
            proc.kill()
        finally:
            reader.cancel()
        assert parts > 0, "no batch was committed in parts"
        assert await ledger_counter(r, lg) < len(deposits.records), "all applied before the kill"

        proc.start()
        await proc.wait_ready(60)

        async def all_applied() -> bool:
            return await ledger_counter(r, lg) >= len(deposits.records)

        await wait_until(all_applied, timeout=90)
        await asyncio.sleep(1)  # anything applied twice would show in the counters by now
        assert proc.terminate(timeout=30) < 30
        await assert_applied_exactly_once(r, lg, infra.kafka_bootstrap, deposits)
    finally:
        proc.stop()
        await prod.stop()
        await r.aclose()
