"""What a run started (stopped whatever happens) and the services' state it drops."""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis

from shebao_common.runtime.store import Store

from ..testing import ServiceProcess, cpu_seconds, http_get


async def drop_service_state(redis_url: str, service: str) -> None:
    """Delete a service's keys in Redis (state, offsets, outboxes, dedupe marks).

    The benchmark re-creates the service's topics, so what the service stored about the old ones
    goes too: offsets stored for the old topics would point past the new ones' ends (a second
    `make bench` against the same `make infra-up` Redis waited for records it skipped)."""
    r = aioredis.Redis.from_url(redis_url)
    try:
        batch: list[bytes] = []
        prefix = Store(r, service).prefix  # the store's key layout, not a copy of it
        async for key in r.scan_iter(match=f"{prefix}:*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                await r.unlink(*batch)
                batch.clear()
        if batch:
            await r.unlink(*batch)
    finally:
        await r.aclose()


STARTED: list[ServiceProcess] = []
"""Every service process this run started: a failure stops what is left of them."""


def launch(*procs: ServiceProcess) -> None:
    for p in procs:
        STARTED.append(p)
        p.start()


async def answering_cpu(p: ServiceProcess, timeout: float = 60.0) -> float:
    """The process's CPU seconds (every thread) when it first answers HTTP (/healthz, polled
    every 20 ms): its imports done, before it has connected or consumed anything."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, _ = await http_get(f"{p.url}/healthz")
        if status == 200:
            return cpu_seconds(p.pid) or 0.0
        await asyncio.sleep(0.02)
    raise TimeoutError(f"{p.name} never answered:\n{p.log_tail()}")
