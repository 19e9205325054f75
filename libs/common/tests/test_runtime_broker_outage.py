"""A broker outage mid-stream is ridden out: nothing skipped, nothing doubled, no restart needed.

The ledger service runs as a real process against a Kafka broker this test owns. Deposits flow
in; right after a burst, while the service is still applying and publishing it, the broker is
stopped (first a controlled SIGTERM shutdown, then a SIGKILL), left down for a while, and started
again on the same port with the same data directory; feeding resumes once it is back. Throughout,
the service process stays alive and is never restarted. After each outage it catches up by
itself: every deposit fed so far is applied and its outbox drains to the broker. At the end
every deposit was applied exactly once (counters, balances, each account's `applied` sequence
1..n without a gap), and every expected output event id is on the events topic.

While the broker is away the clients retry with backoff, not in a tight loop: the service's log
grows by at most MAX_LOG_LINES_PER_SECOND (aiokafka's producer once spun at a full core and logged
thousands of lines a second after a controlled shutdown; see relay._back_off_failed_metadata).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from ledger_harness import (
    LedgerProcess,
    assert_applied_exactly_once,
    cpu_seconds,
    http_get,
    ledger_counter,
    new_ledger,
    producer,
    random_deposits,
)

from shebao_devinfra.testing import redis_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

N_ACCOUNTS = 53
PHASES = (1500, 1000, 1000)  # deposits fed before the first outage, between, after the second
DOWN_SECONDS = 5.0  # plus its stop and start: unreachable ~13 s (SIGTERM), ~20 s (SIGKILL)
CATCH_UP_SECONDS = 45.0  # from the broker answering again to everything applied and published
# The consumer's retries (fetch, coordinator, metadata every 100 ms) log ~60-80 lines a second;
# a retry loop without backoff logs thousands.
MAX_LOG_LINES_PER_SECOND = 200


def _log_lines(proc: LedgerProcess) -> list[dict[str, Any]]:
    out = []
    for line in proc.log_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            out.append({"level": "raw", "logger": "-", "message": line})
    return out


def _summary(lines: list[dict[str, Any]]) -> str:
    kinds = Counter((d.get("level"), d.get("logger"), str(d.get("message"))[:90]) for d in lines)
    return "\n".join(f"  {n:5d} {lvl} {lg}: {msg}" for (lvl, lg, msg), n in kinds.most_common(25))


async def test_broker_outages_are_ridden_out_without_skips_or_doubles(
    restartable_kafka, any_redis_url: str, tmp_path: Path
) -> None:
    kafka = restartable_kafka
    rng = random.Random(20260618)
    lg = await new_ledger(kafka.bootstrap, "outage", rng)
    deposits = random_deposits(rng, sum(PHASES), N_ACCOUNTS)
    records = deposits.records

    proc = LedgerProcess(lg.ledger_id, kafka.bootstrap, any_redis_url, tmp_path)
    r = redis_for(any_redis_url)
    fed = 0
    died_at: list[float] = []
    t_start = time.monotonic()

    async def applied() -> int:
        return await ledger_counter(r, lg)

    async def outbox_len() -> int:
        total = 0
        async for key in r.scan_iter(match=f"shebao:{lg.service}:*:ob:*"):
            total += await r.xlen(key)
        return total

    async def watch() -> None:  # the service must never die, not even for a moment
        while True:
            if not proc.alive and not died_at:
                died_at.append(time.monotonic() - t_start)
            await asyncio.sleep(0.1)

    async def feed(n: int, per_second: float) -> None:
        """Send the next n deposits at a steady rate; return once the broker acked every one."""
        nonlocal fed
        prod = await producer(kafka.bootstrap, linger_ms=5)
        try:
            futures = []
            for i in range(fed, fed + n):
                key, value, headers = records[i][1]
                futures.append(
                    await prod.send(lg.commands.name, key=key, value=value, headers=headers)
                )
                if i % 25 == 0:
                    await asyncio.sleep(25 / per_second)
            await asyncio.gather(*futures)
        finally:
            await prod.stop()
        fed += n

    async def caught_up(since: float) -> tuple[float, float]:
        """Seconds until every deposit fed is applied, and until the outbox is drained."""
        deadline = since + CATCH_UP_SECONDS
        applied_after = published_after = None
        while time.monotonic() < deadline:
            now = time.monotonic()
            if applied_after is None and await applied() >= fed:
                applied_after = now - since
            if applied_after is not None and await outbox_len() == 0:
                published_after = now - since
                return applied_after, published_after
            await asyncio.sleep(0.1)
        raise AssertionError(
            f"no catch-up within {CATCH_UP_SECONDS:.0f}s of the broker's return: "
            f"{await applied()} of {fed} applied, {await outbox_len()} entries in the outbox\n"
            f"{proc.log_tail(60)}"
        )

    async def outage(kill: bool) -> None:
        how = "SIGKILL" if kill else "SIGTERM"
        before_lines = len(_log_lines(proc))
        at = await applied()
        pending = await outbox_len()
        cpu0 = cpu_seconds(proc.pid)
        t0 = time.monotonic()
        await asyncio.to_thread(kafka.down, kill=kill)
        stopped = time.monotonic() - t0
        await asyncio.sleep(DOWN_SECONDS)
        assert proc.alive, f"the service died while the broker was down:\n{proc.log_tail()}"
        status, _ = await http_get(f"{proc.url}/healthz")
        assert status == 200, "the service must stay alive (healthz) while the broker is down"
        status, _ = await http_get(f"{proc.url}/readyz")
        assert status == 503, "readyz must report the broker unreachable"
        t1 = time.monotonic()
        await asyncio.to_thread(kafka.up)
        t2 = time.monotonic()
        cpu1 = cpu_seconds(proc.pid)
        during = _log_lines(proc)[before_lines:]
        cpu = "?" if cpu0 is None or cpu1 is None else f"{cpu1 - cpu0:.1f}"
        summary = (
            f"{how}: broker stopped at {at}/{fed} applied, outbox {pending}; stop took "
            f"{stopped:.1f}s, unreachable {t2 - t0:.1f}s (start-up {t2 - t1:.1f}s); "
            f"service CPU {cpu}s and {len(during)} log lines while it was:\n{_summary(during)}"
        )
        assert len(during) <= MAX_LOG_LINES_PER_SECOND * (t2 - t0), f"a retry loop?\n{summary}"
        applied_s, published_s = await caught_up(t2)
        status, _ = await http_get(f"{proc.url}/readyz")
        assert status == 200, "readyz must recover once the broker is back"
        print(
            f"\n{summary}\n  caught up {applied_s:.1f}s (applied) / {published_s:.1f}s "
            "(published) after the broker answered"
        )

    watcher = asyncio.create_task(watch())
    try:
        proc.start()
        await proc.wait_ready()
        await feed(PHASES[0] - 500, per_second=600)
        await feed(500, per_second=50_000)  # a burst: the broker goes while it is in flight
        await outage(kill=False)
        await feed(PHASES[1] - 500, per_second=600)
        await feed(500, per_second=50_000)
        await outage(kill=True)
        await feed(PHASES[2], per_second=2000)
        await caught_up(time.monotonic())
        assert not died_at, f"the service process died at {died_at[0]:.1f}s"
        assert proc.starts == 1, "the service must recover without a restart"
        print(f"\nwhole log:\n{_summary(_log_lines(proc))}")
        assert proc.terminate() < 30, "SIGTERM must finish, flush and leave within 30 s"
    finally:
        watcher.cancel()
        proc.stop()

    n = sum(PHASES)
    out = await assert_applied_exactly_once(r, lg, kafka.bootstrap, deposits)
    assert await outbox_len() == 0
    await r.aclose()
    print(f"{out} records on the events topic for {n} distinct events")
