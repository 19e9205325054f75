"""Start-up never blocks HTTP or SIGTERM: alive at once, ready only once started.

The ledger service runs as a real process with a real Redis. With nothing listening at its Kafka
bootstrap address it answers /healthz at once and /readyz 503 naming Kafka, and SIGTERM or
Ctrl-C ends it within seconds (start-up used to retry topic creation inside the ASGI lifespan:
no HTTP and no signal handling until it succeeded). Against the real broker it becomes ready,
applies deposits exactly once and stops gracefully; started before its broker is reachable, it
becomes ready once the broker answers and then processes what is waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from ledger_harness import (
    LedgerProcess,
    assert_applied_exactly_once,
    http_get,
    ledger_counter,
    new_ledger,
    producer,
    random_deposits,
)

from shebao_devinfra.local import free_port

pytestmark = pytest.mark.integration

# Seconds from spawn. /healthz answering at all is what is asserted: while Kafka is unreachable
# start-up never ends, so an answer (with /readyz naming Kafka, `started` false) shows HTTP does
# not wait for it. How fast it answers is start-up speed, which a loaded machine stretches (the
# interpreter's imports take ~1.3 s here when idle, over 3 s in a busy CI run): not asserted.
HEALTHZ_WITHIN = 30.0
STOP_WITHIN = 5.0  # seconds from SIGTERM (or SIGINT) to exit while Kafka is unreachable
READY_WITHIN = 30.0  # seconds to ready against a broker that answers
APPLIED_WITHIN = 30.0


async def _first_healthz(proc: LedgerProcess, within: float) -> float:
    """Seconds from now until /healthz answers 200; fails at the deadline."""
    started = time.monotonic()
    deadline = started + within
    while time.monotonic() < deadline:
        assert proc.alive, proc.log_tail()
        status, _ = await http_get(f"{proc.url}/healthz")
        if status == 200:
            return time.monotonic() - started
        await asyncio.sleep(0.05)
    raise AssertionError(f"/healthz did not answer within {within}s:\n{proc.log_tail()}")


async def _not_ready_for_kafka(proc: LedgerProcess) -> None:
    status, body = await proc.get_json("/readyz")
    assert status == 503, body
    assert body["ready"] is False
    assert body["checks"] == {"redis": True, "kafka": False, "started": False}, body
    assert "kafka" in body["waiting_for"], body


async def _deposits_applied(r: aioredis.Redis, service: str, n: int) -> None:
    deadline = time.monotonic() + APPLIED_WITHIN
    while time.monotonic() < deadline:
        if await ledger_counter(r, service) >= n:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{n} deposits not applied within {APPLIED_WITHIN}s")


@contextlib.asynccontextmanager
async def _forwarder(port: int, target: str) -> AsyncIterator[None]:
    """A TCP relay from 127.0.0.1:port to the broker: the bootstrap address starts answering.

    Clients bootstrap through it and then talk to the broker's advertised address directly.
    """
    host, _, target_port = target.rpartition(":")

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(host, int(target_port))
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    server = await asyncio.start_server(serve, "127.0.0.1", port)
    try:
        yield
    finally:
        server.close()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_alive_not_ready_and_stoppable_while_kafka_is_unreachable(
    infra, tmp_path: Path, sig: signal.Signals
) -> None:
    nowhere = f"127.0.0.1:{free_port()}"  # nothing listens there
    proc = LedgerProcess(f"nokafka{random.randrange(10**6)}", nowhere, infra.redis_url, tmp_path)
    proc.start()
    try:
        await _first_healthz(proc, HEALTHZ_WITHIN)
        await _not_ready_for_kafka(proc)
        status, _ = await http_get(f"{proc.url}/metrics")
        assert status == 200

        assert proc.proc is not None
        proc.proc.send_signal(sig)
        try:
            rc = await asyncio.to_thread(proc.proc.wait, STOP_WITHIN)
        except Exception as exc:
            raise AssertionError(f"still running {STOP_WITHIN}s after {sig.name}") from exc
        assert rc in (0, -sig), f"exit status {rc}:\n{proc.log_tail()}"
        log = proc.log_text()
        assert "start-up interrupted" in log, log[-2000:]
        assert "service stopped" in log, log[-2000:]
    finally:
        proc.stop()


async def test_ready_against_the_broker_processes_and_stops_gracefully(
    infra, tmp_path: Path
) -> None:
    rng = random.Random(20261201)
    lg = await new_ledger(infra.kafka_bootstrap, "startup", rng)
    deposits = random_deposits(rng, 20, 5)
    proc = LedgerProcess(lg.ledger_id, infra.kafka_bootstrap, infra.redis_url, tmp_path)
    r = aioredis.Redis.from_url(infra.redis_url)
    prod = await producer(infra.kafka_bootstrap)
    proc.start()
    try:
        await _first_healthz(proc, HEALTHZ_WITHIN)
        await proc.wait_ready(READY_WITHIN)
        status, body = await proc.get_json("/readyz")
        assert (status, body) == (
            200,
            {
                "ready": True,
                "checks": {"redis": True, "kafka": True, "started": True},
                "parked_outputs": 0,
            },
        )
        for _, (key, value, headers) in deposits.records:
            await prod.send(lg.commands.name, key=key, value=value, headers=headers)
        await prod.flush()
        await _deposits_applied(r, lg.service, len(deposits.records))
        assert proc.terminate(timeout=30) < 30
        await assert_applied_exactly_once(r, lg, infra.kafka_bootstrap, deposits)
    finally:
        proc.stop()
        await prod.stop()
        await r.aclose()


async def test_becomes_ready_once_the_broker_answers(infra, tmp_path: Path) -> None:
    rng = random.Random(20261202)
    lg = await new_ledger(infra.kafka_bootstrap, "latebroker", rng)
    deposits = random_deposits(rng, 20, 5)
    port = free_port()
    proc = LedgerProcess(lg.ledger_id, f"127.0.0.1:{port}", infra.redis_url, tmp_path)
    r = aioredis.Redis.from_url(infra.redis_url)
    prod = await producer(infra.kafka_bootstrap)
    proc.start()
    try:
        # Deposits wait on the topic while the service cannot reach the broker.
        for _, (key, value, headers) in deposits.records:
            await prod.send(lg.commands.name, key=key, value=value, headers=headers)
        await prod.flush()
        await _first_healthz(proc, HEALTHZ_WITHIN)
        await _not_ready_for_kafka(proc)
        async with _forwarder(port, infra.kafka_bootstrap):
            await proc.wait_ready(READY_WITHIN)
            await _deposits_applied(r, lg.service, len(deposits.records))
            assert proc.terminate(timeout=30) < 30
        await assert_applied_exactly_once(r, lg, infra.kafka_bootstrap, deposits)
    finally:
        proc.stop()
        await prod.stop()
        await r.aclose()
