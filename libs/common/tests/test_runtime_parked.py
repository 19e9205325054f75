"""An output the broker can never take is parked; the outputs behind it go on; replay publishes it.

The ledger's relay may send records of at most 20,000 bytes here (SHEBAO_LEDGER_MAX_PUBLISH_BYTES
stands for a broker's message.max.bytes). A deposit to an account with a 30,000-character name is
applied, but its event is larger than that: before, the relay failed, reset and republished the
same entry forever, and no later event was ever published. Now the entry moves to the parked
stream (counted by `shebao_outbox_parked_entries`, reported by /readyz), every later deposit's
event is published, and `python -m shebao_common.parked replay` publishes the parked one once
the limit allows it, with its original event id.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from ledger_harness import (
    LedgerProcess,
    create_topics,
    deposit_record,
    http_get,
    ledger_counter,
    ledger_store,
    new_id,
    producer,
    read_all,
)

from shebao_common.runtime.codec import derived_event_id

pytestmark = pytest.mark.integration


def _run_parked(
    command: str, service: str, bootstrap: str, redis_url: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shebao_common.parked", command, "--service", service],
        env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "REDIS_URL": redis_url},
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_an_unpublishable_output_is_parked_and_replayed(infra, tmp_path: Path) -> None:
    ledger_id = f"park{int(time.time() * 1000) % 10**8}"
    service = f"ledger-{ledger_id}"
    commands = f"test.ledger.{ledger_id}.commands.v1"
    events = f"test.ledger.{ledger_id}.events.v1"
    await create_topics(infra.kafka_bootstrap, [commands, events, commands + ".dlq"])
    proc = LedgerProcess(
        ledger_id,
        infra.kafka_bootstrap,
        infra.redis_url,
        tmp_path,
        env={"SHEBAO_LEDGER_MAX_PUBLISH_BYTES": "20000"},
    )
    prod = await producer(infra.kafka_bootstrap)
    r = aioredis.Redis.from_url(infra.redis_url)
    big_account = "b" * 30_000
    try:
        proc.start()
        await proc.wait_ready()
        sent: list[str] = []
        for i in range(60):
            cmd = new_id()
            account = big_account if i == 20 else f"a{i % 5}"
            key, value, headers = deposit_record(cmd, account, Decimal("1.00"), i)
            await prod.send(commands, key=key[:50], value=value, headers=headers)
            sent.append(cmd)
        await prod.flush()
        big = sent[20]

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            published = {
                dict(rec.headers)["ce_id"].decode()
                for rec in await read_all(infra.kafka_bootstrap, events)
            }
            if len(published) >= 59:
                break
            await asyncio.sleep(0.3)
        expected = {derived_event_id(c, 0) for c in sent}
        assert published == expected - {derived_event_id(big, 0)}, "later outputs went on"

        assert await ledger_store(r, service).parked_count() == 1
        metrics = (await http_get(f"{proc.url}/metrics"))[1].decode()
        assert "shebao_outbox_parked_entries 1.0" in metrics
        assert f'shebao_outbox_parked_total{{reason="too_large",topic="{events}"}} 1.0' in metrics
        status, body = await http_get(f"{proc.url}/readyz")
        # Still ready (the read side serves, other outputs flow), and saying what waits.
        assert status == 200 and json.loads(body)["parked_outputs"] == 1
        assert proc.alive

        listed = _run_parked("list", service, infra.kafka_bootstrap, infra.redis_url)
        assert listed.returncode == 0, listed.stderr
        assert f"{events}  too_large" in listed.stdout
        assert "1 parked output(s)" in listed.stdout

        replayed = _run_parked(
            "replay", service, infra.kafka_bootstrap, infra.redis_url
        )  # its producer allows 1 MB records
        assert replayed.returncode == 0, replayed.stdout + replayed.stderr
        assert "1 published, 0 still parked" in replayed.stdout
        assert await ledger_store(r, service).parked_count() == 0
        out = await read_all(infra.kafka_bootstrap, events)
        ids = [dict(rec.headers)["ce_id"].decode() for rec in out]
        assert sorted(ids) == sorted(expected), "every output published exactly once"
        parked = next(
            rec for rec in out if dict(rec.headers)["ce_id"].decode() == derived_event_id(big, 0)
        )
        assert json.loads(parked.value)["account"] == big_account
    finally:
        proc.stop()
        await prod.stop()
        await r.aclose()


async def test_outputs_to_a_missing_topic_are_parked_until_it_exists(
    infra, kafka_without_auto_create, tmp_path: Path
) -> None:
    """On a broker that creates no topic by itself (as in production), outputs to a topic that
    does not exist are parked after one wait for its metadata, the inputs are still applied and
    the service stays up; once the topic is created, `replay` publishes every one of them."""
    bootstrap = kafka_without_auto_create.bootstrap
    ledger_id = f"miss{int(time.time() * 1000) % 10**8}"
    service = f"ledger-{ledger_id}"
    commands = f"test.ledger.{ledger_id}.commands.v1"
    events = f"test.ledger.{ledger_id}.events.v1"
    await create_topics(bootstrap, [commands, commands + ".dlq"])
    proc = LedgerProcess(
        ledger_id,
        bootstrap,
        infra.redis_url,
        tmp_path,
        env={
            "SHEBAO_LEDGER_CREATE_TOPICS": "false",
            "SHEBAO_LEDGER_PRODUCER_REQUEST_TIMEOUT_MS": "3000",
        },
    )
    prod = await producer(bootstrap)
    r = aioredis.Redis.from_url(infra.redis_url)
    sent = []
    try:
        proc.start()
        await proc.wait_ready()
        for i in range(10):
            cmd = new_id()
            key, value, headers = deposit_record(cmd, f"a{i % 3}", Decimal("1.00"), i)
            await prod.send(commands, key=key, value=value, headers=headers)
            sent.append(cmd)
        await prod.flush()

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and await ledger_store(r, service).parked_count() < 10:
            await asyncio.sleep(0.3)
        assert await ledger_store(r, service).parked_count() == 10
        assert await ledger_counter(r, service) == 10
        metrics = (await http_get(f"{proc.url}/metrics"))[1].decode()
        assert f'shebao_outbox_parked_total{{reason="topic_missing",topic="{events}"}} 10.0' in (
            metrics
        )
        status, body = await http_get(f"{proc.url}/readyz")
        assert status == 200 and json.loads(body)["parked_outputs"] == 10
        assert proc.alive

        await create_topics(bootstrap, [events])
        replayed = _run_parked("replay", service, bootstrap, infra.redis_url)
        assert "10 published, 0 still parked" in replayed.stdout, replayed.stdout + replayed.stderr
        out = await read_all(bootstrap, events)
        assert sorted(dict(rec.headers)["ce_id"].decode() for rec in out) == sorted(
            derived_event_id(c, 0) for c in sent
        )
    finally:
        proc.stop()
        await prod.stop()
        await r.aclose()
