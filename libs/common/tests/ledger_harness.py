"""Drives the ledger service as a real process against real Kafka and Redis."""

from __future__ import annotations

import json
import random
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from aiokafka.admin import AIOKafkaAdminClient
from ledger_app import Ledger, ledger

from shebao_common.kafka_security import client_options
from shebao_common.runtime.codec import derived_event_id
from shebao_common.runtime.store import Layout, Store
from shebao_contracts.envelope import Envelope
from shebao_devinfra.testing import (  # re-exported for the runtime tests
    ServiceProcess,
    cpu_seconds,
    create_topics,
    http_get,
    producer,
    read_all,
    wait_until,
)

__all__ = [
    "LEDGER_PARTITIONS",
    "Deposits",
    "LedgerProcess",
    "assert_applied_exactly_once",
    "cpu_seconds",
    "create_topics",
    "deposit_all",
    "deposit_record",
    "http_get",
    "ledger_counter",
    "ledger_store",
    "new_id",
    "new_ledger",
    "producer",
    "random_deposits",
    "read_all",
]

HERE = Path(__file__).parent
LEDGER_PARTITIONS = 4
"""The ledger's topics' partitions (`ledger_app.ledger`), and so its state's slots."""


def ledger_store(r: Any, lg: Ledger | str) -> Store:
    """The ledger's keys as its runtime lays them out (partitioned by account)."""
    service = lg if isinstance(lg, str) else lg.service
    return Store(r, service, Layout(service, LEDGER_PARTITIONS))


async def ledger_counter(r: Any, lg: Ledger | str, field: str = "deposits") -> int:
    """A field of the ledger's counters, summed over its partitions."""
    return (await ledger_store(r, lg).counters("ledger")).get(field, 0)


T0 = datetime(2026, 1, 1, tzinfo=UTC)


class LedgerProcess(ServiceProcess):
    def __init__(
        self,
        ledger_id: str,
        kafka: str,
        redis_url: str,
        log_dir: Path,
        env: dict[str, str] | None = None,
    ) -> None:
        super().__init__(
            "ledger",
            "ledger_app",
            kafka=kafka,
            redis_url=redis_url,
            log_dir=log_dir,
            env={
                "PYTHONPATH": str(HERE),
                "LEDGER_ID": ledger_id,
                "SHEBAO_LEDGER_METADATA_MAX_AGE_MS": "30000",
                "SHEBAO_LEDGER_TOPIC_PARTITIONS": str(LEDGER_PARTITIONS),
                **(env or {}),
            },
            keys_of=ledger(ledger_id).service,  # its runtime's name, ledger-<id>
        )


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


def new_id() -> str:
    return str(uuid.uuid4())


async def new_ledger(bootstrap: str, name: str, rng: random.Random) -> Ledger:
    """A ledger of its own (its topics created), so that tests never share state."""
    lg = ledger(f"{name}{rng.randrange(10**6)}")
    commands, events = lg.commands.name, lg.events.name
    admin = AIOKafkaAdminClient(**client_options(bootstrap=bootstrap))
    await admin.start()
    try:
        # a seeded name met twice on one broker would read the other test's deposits too
        assert commands not in await admin.list_topics(), f"ledger {lg.ledger_id} is taken"
    finally:
        await admin.close()
    await create_topics(bootstrap, [commands, events, commands + ".dlq"])
    return lg


Record = tuple[bytes, bytes, list[tuple[str, bytes]]]


@dataclass
class Deposits:
    """Deposit commands and the balances and counts applying each once must give."""

    records: list[tuple[str, Record]] = field(default_factory=list)
    """(command id, (key, value, headers)) in the order they were made."""
    balance: defaultdict[str, Decimal] = field(
        default_factory=lambda: defaultdict(lambda: Decimal("0.00"))
    )
    count: Counter[str] = field(default_factory=Counter)


def random_deposits(rng: random.Random, n: int, accounts: int) -> Deposits:
    d = Deposits()
    for i in range(n):
        account = f"acct-{rng.randrange(accounts):03d}"
        amount = Decimal(rng.randint(1, 500_000)) / 100
        cmd_id = new_id()
        d.balance[account] += amount
        d.count[account] += 1
        d.records.append((cmd_id, deposit_record(cmd_id, account, amount, i)))
    return d


async def deposit_all(prod: Any, r: Any, lg: Ledger, deposits: Deposits) -> None:
    """Send every deposit to the running ledger and wait until it applied them all (its
    deposits counter, summed over its slots)."""
    for _, (k, v, h) in deposits.records:
        await prod.send_and_wait(lg.commands.name, key=k, value=v, headers=h)
    n = len(deposits.records)

    async def applied() -> bool:
        return await ledger_counter(r, lg) == n

    await wait_until(applied, timeout=60)


async def assert_applied_exactly_once(
    r: aioredis.Redis, lg: Ledger, bootstrap: str, deposits: Deposits
) -> int:
    """Every deposit applied once: counters, balances and each account's `applied` count in
    Redis; downstream every expected event id present, republishes byte-identical, no id that
    no input explains, and each account's sequence 1..n without a gap or a repeat. Returns the
    number of records on the events topic."""
    service, expected_balance, expected_count = lg.service, deposits.balance, deposits.count
    n = sum(expected_count.values())
    store = ledger_store(r, service)
    counters = await store.counters("ledger")
    assert counters["deposits"] == n
    assert counters["fen"] == sum(int(v * 100) for v in expected_balance.values())
    for account, balance in expected_balance.items():
        raw = await store.get_state(f"account:{account}", owner=account)
        state = json.loads(raw or b"{}")
        assert Decimal(state["balance"]) == balance, account
        assert state["applied"] == expected_count[account], account

    out = await read_all(bootstrap, lg.events.name)
    by_id: dict[str, bytes] = {}
    for rec in out:
        eid = dict(rec.headers)["ce_id"].decode()
        if eid in by_id:
            assert by_id[eid] == rec.value, "a republished event must be byte-identical"
        by_id[eid] = rec.value
    expected_ids = {derived_event_id(cmd_id, 0) for cmd_id, _ in deposits.records}
    assert expected_ids <= set(by_id), f"{len(expected_ids - set(by_id))} output events missing"
    assert len(by_id) == n, "an output event id that no input explains"
    applied: dict[str, list[int]] = defaultdict(list)
    for value in by_id.values():
        ev = json.loads(value)
        applied[ev["account"]].append(ev["applied"])
    for account, seqs in applied.items():
        assert sorted(seqs) == list(range(1, expected_count[account] + 1)), account
    return len(out)
