"""Drives the ledger service as a real process against real Kafka and Redis."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from shebao_contracts.envelope import Envelope
from shebao_devinfra.local import free_port

APP = Path(__file__).with_name("ledger_app.py")
T0 = datetime(2026, 1, 1, tzinfo=UTC)


class LedgerProcess:
    def __init__(
        self, ledger_id: str, kafka: str, redis_url: str, log_dir: Path, **env: str
    ) -> None:
        self.ledger_id = ledger_id
        self.kafka = kafka
        self.redis_url = redis_url
        self.log_dir = log_dir
        self.env = env
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka,
            "REDIS_URL": self.redis_url,
            "LEDGER_ID": self.ledger_id,
            "SHEBAO_ENVIRONMENT": "test",
            "SHEBAO_LEDGER_HTTP_PORT": str(self.port),
            "SHEBAO_LEDGER_HTTP_HOST": "127.0.0.1",
            "SHEBAO_LEDGER_TOPIC_PARTITIONS": "4",
            "SHEBAO_LEDGER_SESSION_TIMEOUT_MS": "6000",
            "SHEBAO_LEDGER_HEARTBEAT_INTERVAL_MS": "1000",
            **self.env,
        }
        self.log_path = self.log_dir / f"{self.ledger_id}-{self.port}-{self.starts}.log"
        log = open(self.log_path, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, str(APP)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    async def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive:
                raise RuntimeError(
                    f"ledger process exited with {self.proc and self.proc.returncode}"
                )
            status, _ = await http_get(f"http://127.0.0.1:{self.port}/readyz")
            if status == 200:
                return
            await asyncio.sleep(0.2)
        raise TimeoutError("ledger process not ready")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self, timeout: float = 60.0) -> float:
        """SIGTERM; returns the seconds until the process was gone after a graceful shutdown."""
        assert self.proc is not None
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout)
        seconds = time.monotonic() - started
        # uvicorn re-raises the signal it handled once shutdown is complete, hence -SIGTERM.
        assert rc in (0, -signal.SIGTERM), f"exit status {rc}"
        log = self.log_path.read_text()
        assert "batches finished and outbox flushed" in log and "service stopped" in log
        return seconds

    def stop(self) -> None:
        if self.alive:
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait(10)


async def http_get(url: str) -> tuple[int, Any]:
    def call() -> tuple[int, Any]:
        try:
            with urllib.request.urlopen(url, timeout=3) as r:
                body = r.read()
                return r.status, body
        except urllib.error.HTTPError as e:
            return e.code, e.read()
        except OSError:
            return 0, b""

    return await asyncio.to_thread(call)


async def create_topics(bootstrap: str, names: Iterable[str], partitions: int = 4) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        new = [NewTopic(n, partitions, 1) for n in names if n not in existing]
        if new:
            await admin.create_topics(new)
    finally:
        await admin.close()


def deposit_record(
    cmd_id: str, account: str, amount: Decimal, seq: int = 0
) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    env = Envelope(
        id=cmd_id,
        type="test.ledger.Deposit",
        source="/test/teller",
        time=T0 + timedelta(seconds=seq),
        correlation_id=cmd_id,
    )
    body = json.dumps({"account": account, "amount": f"{amount:.2f}"}).encode()
    return account.encode(), body, env.to_headers()


async def producer(bootstrap: str, **kw: Any) -> AIOKafkaProducer:
    p = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, **kw)
    await p.start()
    return p


async def read_all(bootstrap: str, topic: str, timeout: float = 60.0) -> list[Any]:
    """Every record of a topic, from the beginning to the end offsets as of now."""
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await c.start()
    try:
        parts = c.partitions_for_topic(topic)
        deadline = time.monotonic() + timeout
        while not parts and time.monotonic() < deadline:
            await c._client.force_metadata_update()
            parts = c.partitions_for_topic(topic)
        tps = [TopicPartition(topic, p) for p in sorted(parts or [])]
        c.assign(tps)
        await c.seek_to_beginning(*tps)
        end = await c.end_offsets(tps)
        out: list[Any] = []
        while time.monotonic() < deadline:
            if all([await c.position(tp) >= end[tp] for tp in tps]):
                return out
            batch = await c.getmany(timeout_ms=500, max_records=5000)
            for recs in batch.values():
                out.extend(recs)
        raise TimeoutError(f"could not read {topic} to its end")
    finally:
        await c.stop()


def new_id() -> str:
    return str(uuid.uuid4())
