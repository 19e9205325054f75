"""A rebuild after records that decided nothing (real Kafka, real Redis).

A deciding subscription handles records that publish nothing: an exact resend, an audit that
only notes who looked, a record of no interest, a republished duplicate. Here a small bank runs
its live processor over such records (what it publishes is written to Kafka as the relay would),
its keyspace is kept, wiped and rebuilt from what it published, and the two are compared key by
key as e2e/tests/test_lifetimes.py compares them: state values, counters, offsets and marks.

The second case shows the rebuild's safety net: a record after the last published decision that
decided nothing originally, but would decide now against the rebuilt state, stops its partition;
the service decides it on resume.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from aiokafka import TopicPartition

from shebao_common.metrics import RuntimeMetrics
from shebao_common.runtime import (
    Context,
    Decision,
    Emit,
    Entity,
    FromDecisions,
    HandlerTable,
    RejectedRecord,
    State,
    StateModel,
    Subscription,
)
from shebao_common.runtime.processor import Processor
from shebao_common.runtime.rebuild import Rebuild
from shebao_common.runtime.store import OutboxEntry, Store
from shebao_contracts.envelope import Envelope, Message
from shebao_contracts.topics import Registry, Topic, dlq_name
from shebao_devinfra.testing import create_topics, producer, read_all

pytestmark = [pytest.mark.integration]

T0 = datetime(2025, 3, 1, 9, tzinfo=UTC)
TTL = 3600


class Deposit(Message):
    TYPE = "test.quiet.Deposit"
    account: str
    deposit_id: str
    fen: int


class Audit(Message):
    TYPE = "test.quiet.Audit"
    account: str
    auditor: str


class Freeze(Message):
    TYPE = "test.quiet.Freeze"
    account: str


class Remark(Message):
    """On the commands topic, of no interest to the bank (no handler)."""

    TYPE = "test.quiet.Remark"
    account: str
    text: str


class Deposited(Message):
    TYPE = "test.quiet.Deposited"
    account: str
    deposit_id: str
    fen: int
    balance: int


class Refused(Message):
    TYPE = "test.quiet.Refused"
    reason: str


class Account(StateModel):
    balance: int = 0
    deposits: list[str] = []
    frozen: bool = False


class Audited(StateModel):
    auditors: list[str] = []


ACCOUNT = Entity("account", Account)
AUDITED = Entity("audited", Audited)


class Bank:
    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:8]
        self.service = f"quiet-{tag}"
        self.commands = Topic(
            f"test.quiet.{tag}.commands.v1",
            owner="quiet",
            key="account",
            messages=(Deposit, Audit, Freeze, Remark),
            description="commands",
            partitions=2,
        )
        self.events = Topic(
            f"test.quiet.{tag}.events.v1",
            owner="quiet",
            key="account",
            messages=(Deposited, Refused),
            description="what the bank decided",
            partitions=2,
        )
        self.registry = Registry([self.commands, self.events])
        self.subscription = Subscription(
            "commands",
            (self.commands,),
            self.handlers(),
            reject=lambda r: self.reject(r),
            rebuild=FromDecisions(log=(self.events,), fold=self.fold()),
        )

    def handlers(self) -> HandlerTable:
        h = HandlerTable()

        @h.on(Deposit, needs=lambda m, ctx: [ACCOUNT.key(m.account)])
        def deposit(state: State, m: Deposit, ctx: Context) -> Decision:
            if m.fen <= 0:
                raise ValueError("a deposit of nothing")  # dead-lettered as handler_error
            acct = state.get(ACCOUNT.key(m.account)) or Account()
            if acct.frozen or m.deposit_id in acct.deposits:
                return Decision()  # held while frozen; an exact resend books nothing
            new = Account(
                balance=acct.balance + m.fen,
                deposits=[*acct.deposits, m.deposit_id],
                frozen=acct.frozen,
            )
            return (
                Decision()
                .put(ACCOUNT.key(m.account), new)
                .emit(
                    self.events,
                    m.account,
                    Deposited(
                        account=m.account, deposit_id=m.deposit_id, fen=m.fen, balance=new.balance
                    ),
                )
                .incr("quiet", "deposits")
                .incr("quiet", "fen", m.fen)
            )

        @h.on(Audit, needs=lambda m, ctx: [AUDITED.key(m.account)])
        def audit(state: State, m: Audit, ctx: Context) -> Decision:
            # noted, never published: a fold of the events cannot know it
            seen = state.get(AUDITED.key(m.account)) or Audited()
            if m.auditor in seen.auditors:
                return Decision()
            return (
                Decision()
                .put(AUDITED.key(m.account), Audited(auditors=[*seen.auditors, m.auditor]))
                .incr("quiet", "audits")
            )

        @h.on(Freeze, needs=lambda m, ctx: [ACCOUNT.key(m.account)])
        def freeze(state: State, m: Freeze, ctx: Context) -> Decision:
            acct = state.get(ACCOUNT.key(m.account)) or Account()
            return Decision().put(ACCOUNT.key(m.account), acct.model_copy(update={"frozen": True}))

        return h

    def fold(self) -> HandlerTable:
        f = HandlerTable()

        @f.on(Deposited, needs=lambda ev, ctx: [ACCOUNT.key(ev.account)])
        def deposited(state: State, ev: Deposited, ctx: Context) -> Decision:
            acct = state.get(ACCOUNT.key(ev.account)) or Account()
            new = acct.model_copy(
                update={"balance": ev.balance, "deposits": [*acct.deposits, ev.deposit_id]}
            )
            return (
                Decision()
                .put(ACCOUNT.key(ev.account), new)
                .incr("quiet", "deposits")
                .incr("quiet", "fen", ev.fen)
            )

        return f

    def reject(self, r: RejectedRecord) -> Emit:
        return Emit(self.events.name, r.key or "", Refused(reason=r.reason))


class KafkaRelay:
    """The relay's part, done by hand: what a batch committed is published after it."""

    def __init__(self) -> None:
        self.entries: list[OutboxEntry] = []

    async def submit(self, entries: list[OutboxEntry]) -> None:
        self.entries.extend(entries)

    def take_trims(self, within: str | None = None) -> dict[Any, Any]:
        return {}

    def return_trims(self, trims: Any) -> None:
        pass

    def recover(self, streams: Any) -> None:
        pass

    async def publish(self, bootstrap: str) -> int:
        prod = await producer(bootstrap)
        try:
            for e in self.entries:
                headers = e.header_list or [(k, v.encode()) for k, v in orjson.loads(e.headers)]
                await prod.send_and_wait(e.topic, key=e.key, value=e.value, headers=headers)
        finally:
            await prod.stop()
        n, self.entries = len(self.entries), []
        return n


def processor(bank: Bank, store: Store, relay: KafkaRelay) -> Processor:
    return Processor(
        service=bank.service,
        subscription=bank.subscription,
        registry=bank.registry,
        store=store,
        relay=relay,  # type: ignore[arg-type]
        metrics=RuntimeMetrics(bank.service),
        dedupe_ttl=TTL,
        max_record_bytes=1 << 20,
        dlq_max_value_bytes=10_000,
        state_cache_entries=100,
    )


Sent = tuple[int, str, Message | bytes]
"""(partition, command id, the message, or a body no contract reads)."""


async def run_live(infra: Any, bank: Bank, store: Store, sent: list[Sent]) -> None:
    """The commands sent, and the bank's live processor run over them one batch per record
    (each batch's outbox published before the next, as the relay does)."""
    prod = await producer(infra.kafka_bootstrap)
    try:
        for seq, (part, cmd_id, body) in enumerate(sent):
            mtype = Deposit.TYPE if isinstance(body, bytes) else body.TYPE
            env = Envelope(
                id=cmd_id, type=mtype, source="/test/teller", time=T0 + timedelta(seconds=seq)
            )
            value = body if isinstance(body, bytes) else body.model_dump_json().encode()
            await prod.send_and_wait(
                bank.commands.name,
                key=b"k",
                value=value,
                headers=env.to_headers(),
                partition=part,
            )
    finally:
        await prod.stop()
    records = await read_all(infra.kafka_bootstrap, bank.commands.name)
    relay = KafkaRelay()
    live = processor(bank, store, relay)
    await live.on_assigned([TopicPartition(bank.commands.name, p) for p in (0, 1)])
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        await live.process([r])
        await relay.publish(infra.kafka_bootstrap)


async def keyspace(r: aioredis.Redis, prefix: str) -> dict[str, Any]:
    """As e2e/tests/test_lifetimes.py's `_state`: state values without their version, counters,
    offsets and dedupe marks; outbox streams are not state."""
    out: dict[str, Any] = {}
    async for raw in r.scan_iter(match=f"{prefix}:*", count=1000):
        key = raw.decode()
        kind = key[len(prefix) + 1 :].split(":", 1)[0]
        if kind == "s":
            out[key] = (await r.get(key)).split(b"|", 1)[1]
        elif kind in ("c", "off"):
            out[key] = await r.hgetall(key)
        elif kind == "dd":
            out[key] = await r.get(key)
    return out


def job(infra: Any, bank: Bank, store: Store) -> Rebuild:
    return Rebuild(
        service=bank.service,
        bootstrap=infra.kafka_bootstrap,
        store=store,
        registry=bank.registry,
        subscriptions=[bank.subscription],
        produces=[bank.events],
        env=None,
        max_record_bytes=1 << 20,
        dedupe_ttl=TTL,
    )


async def setup(infra: Any) -> tuple[Bank, aioredis.Redis, Store]:
    bank = Bank()
    names = [bank.commands.name, bank.events.name, dlq_name(bank.commands.name)]
    await create_topics(infra.kafka_bootstrap, names, partitions=2)
    client = aioredis.Redis.from_url(infra.redis_url)
    return bank, client, Store(client, bank.service)


def dep(account: str, deposit_id: str, fen: int) -> Deposit:
    return Deposit(account=account, deposit_id=deposit_id, fen=fen)


async def test_records_that_decide_nothing_are_read_marked_and_rolled_over(infra: Any) -> None:
    bank, client, store = await setup(infra)
    first, audit = str(uuid.uuid4()), str(uuid.uuid4())
    sent: list[Sent] = [
        # partition 0: decisions with quiet records between them, and a quiet tail
        (0, first, dep("A", "d1", 100)),
        (0, str(uuid.uuid4()), Remark(account="A", text="no handler")),
        (0, str(uuid.uuid4()), dep("A", "d1", 100)),  # the partner's exact resend
        (0, first, dep("A", "d1", 100)),  # republished: a duplicate by its id
        (0, str(uuid.uuid4()), dep("A", "d2", -5)),  # the handler fails: dead letter, answer
        (0, str(uuid.uuid4()), b'{"account": "A"}'),  # unreadable: dead letter, answer
        (0, str(uuid.uuid4()), dep("A", "d3", 50)),  # the last decision published
        (0, str(uuid.uuid4()), dep("A", "d3", 50)),  # a resend
        (0, audit, Audit(account="A", auditor="alice")),  # a silent write, and a count
        (0, str(uuid.uuid4()), Audit(account="A", auditor="alice")),  # nothing new
        (0, str(uuid.uuid4()), Remark(account="A", text="no handler")),
        (0, audit, Audit(account="A", auditor="alice")),  # republished
        # partition 1: nothing it handled was ever published
        (1, str(uuid.uuid4()), Audit(account="B", auditor="bob")),
        (1, str(uuid.uuid4()), Remark(account="B", text="no handler")),
    ]
    try:
        await run_live(infra, bank, store, sent)
        prefix = store.slot_prefix()  # its one slot
        before = await keyspace(client, prefix)
        # what the live service kept: both partitions read to their ends, a mark for each
        # record it applied (quiet or not), none for a duplicate, a refusal or a remark
        assert before[store.offsets_key("commands")] == {
            f"{bank.commands.name}:0".encode(): b"12",
            f"{bank.commands.name}:1".encode(): b"2",
        }
        marked = {k for k in before if k.startswith(f"{prefix}:dd:")}
        applied = {0, 2, 6, 7, 8, 9, 12}
        assert marked == {store.mark_key(sent[i][1]) for i in applied}
        assert before[store.counter_key("quiet")] == {
            b"deposits": b"2",
            b"fen": b"150",
            b"audits": b"2",
        }

        job_ = job(infra, bank, store)
        report = await job_.run(wipe=True)
        after = await keyspace(client, prefix)
        assert sorted(after) == sorted(before)
        assert {k: (before[k], v) for k, v in after.items() if v != before[k]} == {}
        assert report.stopped == {}
        assert report.rolled == {"commands": 4}  # the resend, the audits, bob's audit
        for i in applied:  # each mark with the time it had left
            assert TTL - 120 < await client.ttl(store.mark_key(sent[i][1])) <= TTL

        # started again, the bank reads nothing again: every record is before its position
        relay = KafkaRelay()
        again = processor(bank, store, relay)
        await again.on_assigned([TopicPartition(bank.commands.name, p) for p in (0, 1)])
        for r in await read_all(infra.kafka_bootstrap, bank.commands.name):
            await again.process([r])
        assert relay.entries == []
        assert await keyspace(client, prefix) == before
    finally:
        async for key in client.scan_iter(match=f"{store.prefix}:*"):
            await client.delete(key)
        await client.aclose()


async def test_a_record_that_would_decide_now_stops_its_partition(infra: Any) -> None:
    bank, client, store = await setup(infra)
    held = str(uuid.uuid4())
    sent: list[Sent] = [
        (0, str(uuid.uuid4()), dep("A", "d1", 100)),
        # frozen silently, before a published decision: no fold can know it (a rule that
        # must survive a rebuild publishes what it decides)
        (0, str(uuid.uuid4()), Freeze(account="A")),
        (0, str(uuid.uuid4()), dep("C", "d5", 30)),  # the last decision published
        (0, held, dep("A", "d2", 40)),  # held: A is frozen; nothing published
        (0, str(uuid.uuid4()), Remark(account="A", text="no handler")),
        (1, str(uuid.uuid4()), Audit(account="B", auditor="bob")),  # a quiet partition
    ]
    try:
        await run_live(infra, bank, store, sent)
        before = await keyspace(client, store.slot_prefix())
        assert before[store.mark_key(held)] is not None

        report = await job(infra, bank, store).run(wipe=True)
        commands = bank.commands.name
        # the held deposit would be booked against the rebuilt account: partition 0 stops at
        # it, nothing written for it, and the partition with only quiet records rolls on
        assert report.stopped == {"commands": {f"{commands}:0": 3}}
        assert await store.load_offsets("commands", [f"{commands}:0", f"{commands}:1"]) == [3, 1]
        assert await client.get(store.mark_key(held)) is None
        after = await keyspace(client, store.slot_prefix())
        account = after[store.state_key(ACCOUNT.key("A").name)]
        assert orjson.loads(account) == {"balance": 100, "deposits": ["d1"], "frozen": False}
        assert after[store.state_key(AUDITED.key("B").name)] == b'{"auditors":["bob"]}'
        assert after[store.counter_key("quiet")] == before[store.counter_key("quiet")]

        # on resume the service decides it, as it would have without the rebuild's guess
        relay = KafkaRelay()
        again = processor(bank, store, relay)
        await again.on_assigned([TopicPartition(commands, p) for p in (0, 1)])
        records = await read_all(infra.kafka_bootstrap, commands)
        for r in sorted(records, key=lambda r: (r.partition, r.offset)):
            await again.process([r])
        published = [orjson.loads(e.value) for e in relay.entries]
        assert published == [{"account": "A", "deposit_id": "d2", "fen": 40, "balance": 140}]
    finally:
        async for key in client.scan_iter(match=f"{store.prefix}:*"):
            await client.delete(key)
        await client.aclose()
