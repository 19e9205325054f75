"""A rebuild folds a service's published decisions into its state, each once (real Kafka, real
Redis): the ledger's log is written here as the relay would have written it, a republished
record (same `ce_id`) among them, and the rebuild engine is run on it.

What medical settlement's rebuild does as a whole (state equal key by key, nothing published)
is e2e/tests/test_lifetimes.py's; this is the engine's edges: a resend in the log, positions per
partition, the dedupe marks, a refusal before anything is wiped.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import redis.asyncio as aioredis
from ledger_app import ACCOUNT, Account, Deposit, Deposited, DepositRejected, fold_for, ledger

from shebao_common.runtime import (
    Context,
    Decision,
    FromDecisions,
    HandlerTable,
    State,
    Subscription,
)
from shebao_common.runtime.codec import H_FROM
from shebao_common.runtime.rebuild import Rebuild, RebuildError
from shebao_common.runtime.store import Store, split_state
from shebao_contracts.topics import dlq_name
from shebao_devinfra.testing import create_topics, message_record, producer

pytestmark = [pytest.mark.integration]

T0 = datetime(2025, 3, 1, 9, tzinfo=UTC)


def fold_table() -> HandlerTable:
    return fold_for(ledger("fold"))  # the ledger's own log of record (its events)


async def test_the_log_is_folded_once_per_event_and_positions_follow_it(infra: Any) -> None:
    lg = ledger(uuid.uuid4().hex[:8])
    await create_topics(infra.kafka_bootstrap, [lg.commands.name, lg.events.name])
    client = aioredis.Redis.from_url(infra.redis_url)
    store = Store(client, lg.service)
    prod = await producer(infra.kafka_bootstrap)
    # What the ledger published: per account, the deposits it decided; the commands sit on
    # partition 0 and 1 at the offsets named in each event's shebao-from header.
    decided = [
        ("A", 0, 0, "10.00", "10.00", 1),
        ("A", 0, 2, "5.50", "15.50", 2),
        ("B", 1, 1, "7.25", "7.25", 1),
    ]
    for n, (account, part, offset, amount, balance, applied) in enumerate(decided):
        ev = Deposited(account=account, amount=amount, balance=balance, applied=applied)
        k, v, h = message_record(ev, message_id=f"ev-{n}", time=T0, source="/shebao/ledger")
        h = [
            *h,
            ("causation-id", f"cmd-{n}".encode()),
            (H_FROM, f"commands|{lg.commands.name}|{part}|{offset}|fp{n}".encode()),
        ]
        copies = 2 if n == 1 else 1  # the relay republished the second one after a crash
        # the third was decided two hours ago: its dedupe mark (an hour's TTL here) had expired
        at = int(time.time() * 1000) - (7_200_000 if n == 2 else 0)
        for _ in range(copies):
            await prod.send_and_wait(
                lg.events.name, key=k, value=v, headers=h, partition=part, timestamp_ms=at
            )
    await prod.stop()

    def job(sub: Subscription) -> Rebuild:
        return Rebuild(
            service=lg.service,
            bootstrap=infra.kafka_bootstrap,
            store=store,
            registry=lg.registry,
            subscriptions=[sub],
            produces=[lg.events],
            env=None,
            max_record_bytes=1 << 20,
            dedupe_ttl=3600,
        )

    handlers = HandlerTable()
    handlers.on(Deposit)(lambda state, m, ctx: Decision())
    try:
        # a subscription that decides but declares no log is refused, and nothing is written
        with pytest.raises(RebuildError, match="declares no log of record"):
            await job(Subscription("commands", (lg.commands,), handlers)).run(wipe=True)
        assert await job(Subscription("commands", (lg.commands,), handlers)).existing_keys() == 0

        sub = Subscription(
            "commands",
            (lg.commands,),
            handlers,
            rebuild=FromDecisions(log=(lg.events,), fold=fold_table()),
        )
        report = await job(sub).run()
        assert report.folded == {"commands": 3}  # four records, three events
        stored = {
            acct: split_state(await client.get(store.state_key(ACCOUNT.key(acct).name)))[1]
            for acct in ("A", "B")
        }
        assert stored == {
            "A": b'{"balance":"15.50","applied":2}',
            "B": b'{"balance":"7.25","applied":1}',
        }
        assert await store.counters("ledger") == {"deposits": 3, "fen": 2275}
        # each partition goes on after the last command whose decision was published
        assert await store.load_offsets(
            "commands", [f"{lg.commands.name}:0", f"{lg.commands.name}:1"]
        ) == [3, 2]
        assert [await client.get(store.mark_key(f"cmd-{n}")) for n in range(3)] == [
            b"fp0",
            b"fp1",
            None,
        ]
        assert 3500 < await client.ttl(store.mark_key("cmd-0")) <= 3600

        # the keyspace holds state now: a second rebuild is refused unless told to wipe
        with pytest.raises(RebuildError, match="empty keyspace"):
            await job(sub).run()
        again = await job(sub).run(wipe=True)
        assert again.folded == {"commands": 3}
        assert await store.counters("ledger") == {"deposits": 3, "fen": 2275}
    finally:
        async for key in client.scan_iter(match=f"{store.prefix}:*"):
            await client.delete(key)
        await client.aclose()


async def test_a_refused_record_restores_no_mark_and_a_refusal_changes_nothing(infra: Any) -> None:
    """An id reused for another body is refused (dead letter, and an answer that names the
    id as its cause): the id's mark is its first body's, as the service kept it, not the
    refused body's; a record refused by a handler error left no mark and gets none. And a
    subscription that published decisions without a log is refused before anything, even told
    to wipe, changes in a keyspace that holds state."""
    lg = ledger(uuid.uuid4().hex[:8])
    dlq = dlq_name(lg.commands.name)
    await create_topics(infra.kafka_bootstrap, [lg.commands.name, lg.events.name, dlq])
    client = aioredis.Redis.from_url(infra.redis_url)
    store = Store(client, lg.service)
    prod = await producer(infra.kafka_bootstrap)
    now = int(time.time() * 1000)

    async def published(topic: str, msg: Any, eid: str, cause: str, origin: str) -> None:
        k, v, h = message_record(msg, message_id=eid, time=T0, source="/shebao/ledger")
        h = [*h, ("causation-id", cause.encode()), (H_FROM, origin.encode())]
        await prod.send_and_wait(topic, key=k, value=v, headers=h, partition=0, timestamp_ms=now)

    async def dead_letter(cause: str, offset: int, reason: str) -> None:
        k, v, h = message_record(
            Deposit(account="A", amount="1.00"), message_id=cause, time=T0, source="/x"
        )
        h = [
            *h,
            ("dlq-reason", reason.encode()),
            ("dlq-topic", lg.commands.name.encode()),
            ("dlq-partition", b"0"),
            ("dlq-offset", str(offset).encode()),
            ("dlq-service", lg.service.encode()),
        ]
        await prod.send_and_wait(dlq, key=k, value=v, headers=h, timestamp_ms=now)

    c = lg.commands.name
    decided = Deposited(account="A", amount="10.00", balance="10.00", applied=1)
    # cmd-0 decided at offset 0; the same id with another body refused at offset 1, its answer
    # published after the decision
    await published(lg.events.name, decided, "ev-0", "cmd-0", f"commands|{c}|0|0|fpA")
    await dead_letter("cmd-0", 1, "id_conflict")
    refusal = DepositRejected(reason="id_conflict", offset=1)
    await published(lg.events.name, refusal, "ev-1", "cmd-0", f"commands|{c}|0|1|fpB")
    # cmd-1 at offset 2: its handler failed, answered and dead-lettered, never marked
    await dead_letter("cmd-1", 2, "handler_error")
    refusal = DepositRejected(reason="handler_error", offset=2)
    await published(lg.events.name, refusal, "ev-2", "cmd-1", f"commands|{c}|0|2|fpC")
    await prod.stop()

    def job(sub: Subscription) -> Rebuild:
        return Rebuild(
            service=lg.service,
            bootstrap=infra.kafka_bootstrap,
            store=store,
            registry=lg.registry,
            subscriptions=[sub],
            produces=[lg.events],
            env=None,
            max_record_bytes=1 << 20,
            dedupe_ttl=3600,
        )

    handlers = HandlerTable()
    handlers.on(Deposit)(lambda state, m, ctx: Decision())
    try:
        await client.set(f"{store.prefix}:s:kept", b"0|{}")
        with pytest.raises(RebuildError, match="declares no log of record"):
            await job(Subscription("commands", (lg.commands,), handlers)).run(wipe=True)
        assert [k async for k in client.scan_iter(match=f"{store.prefix}:*")] == [
            f"{store.prefix}:s:kept".encode()
        ]

        sub = Subscription(
            "commands",
            (lg.commands,),
            handlers,
            rebuild=FromDecisions(log=(lg.events,), fold=fold_table()),
        )
        await job(sub).run(wipe=True)
        assert await client.get(store.mark_key("cmd-0")) == b"fpA"
        assert await client.get(store.mark_key("cmd-1")) is None
        # it goes on after the refusals, which were decided too
        assert await store.load_offsets("commands", [f"{c}:0"]) == [3]
        assert await store.counters("ledger") == {"deposits": 1, "fen": 1000}
    finally:
        async for key in client.scan_iter(match=f"{store.prefix}:*"):
            await client.delete(key)
        await client.aclose()


async def test_records_that_decided_nothing_keep_their_marks_and_are_passed_over(
    infra: Any,
) -> None:
    """A deposit of 0.00 decides nothing (no event) but had its dedupe mark: before the last
    published decision its mark is found by reading the commands again; after it, the handler
    run on the rebuilt state still decides nothing, so the position passes it (as the service
    would) up to the first deposit that would decide something, where the service goes on."""
    lg = ledger(uuid.uuid4().hex[:8])
    await create_topics(infra.kafka_bootstrap, [lg.commands.name, lg.events.name])
    client = aioredis.Redis.from_url(infra.redis_url)
    store = Store(client, lg.service)
    prod = await producer(infra.kafka_bootstrap)
    amounts = ["10.00", "0.00", "5.50", "0.00", "1.00", "0.00"]
    fps = []  # each command's body fingerprint, as the service's decoder takes it
    for n, amount in enumerate(amounts):
        k, v, h = message_record(
            Deposit(account="A", amount=amount), message_id=f"cmd-{n}", time=T0, key="A"
        )
        fps.append(hashlib.blake2b(Deposit.TYPE.encode() + b"\n" + v, digest_size=12).hexdigest())
        await prod.send_and_wait(lg.commands.name, key=k, value=v, headers=h, partition=0)
    # what the ledger published before it lost its Redis: the first three commands were read,
    # the deposits at offsets 0 and 2 decided
    for n, (offset, balance, applied) in enumerate([(0, "10.00", 1), (2, "15.50", 2)]):
        ev = Deposited(account="A", amount=amounts[offset], balance=balance, applied=applied)
        k, v, h = message_record(ev, message_id=f"ev-{n}", time=T0, source="/shebao/ledger")
        h = [
            *h,
            ("causation-id", f"cmd-{offset}".encode()),
            (H_FROM, f"commands|{lg.commands.name}|0|{offset}|{fps[offset]}".encode()),
        ]
        await prod.send_and_wait(lg.events.name, key=k, value=v, headers=h, partition=0)
    await prod.stop()

    handlers = HandlerTable()

    @handlers.on(Deposit, needs=lambda m, ctx: [ACCOUNT.key(m.account)])
    def deposit(state: State, m: Deposit, ctx: Context) -> Decision:
        if m.amount == 0:
            return Decision().incr("ledger", "zeros")  # nothing to decide, only counted
        return Decision().emit(
            lg.events,
            m.account,
            Deposited(account=m.account, amount=m.amount, balance=m.amount, applied=1),
        )

    sub = Subscription(
        "commands",
        (lg.commands,),
        handlers,
        rebuild=FromDecisions(log=(lg.events,), fold=fold_table()),
    )
    job = Rebuild(
        service=lg.service,
        bootstrap=infra.kafka_bootstrap,
        store=store,
        registry=lg.registry,
        subscriptions=[sub],
        produces=[lg.events],
        env=None,
        max_record_bytes=1 << 20,
        dedupe_ttl=3600,
    )
    try:
        report = await job.run()
        assert report.folded == {"commands": 2}
        # offset 3 decided nothing again and is passed; offset 4 would decide: read from there
        assert await store.load_offsets("commands", [f"{lg.commands.name}:0"]) == [4]
        marks = [await client.get(store.mark_key(f"cmd-{n}")) for n in range(6)]
        # as the events name them, and as the service's decoder takes them
        assert marks[0] == fps[0].encode() and marks[2] == fps[2].encode()
        # found by reading the commands
        assert marks[1] == fps[1].encode() and marks[3] == fps[3].encode()
        assert marks[4:] == [None, None]
        # the zero passed over was counted as the service would have; the one before it was
        # counted when it was read, and a rebuild cannot know it (counters of decisions that
        # publish nothing are not restored)
        assert await store.counters("ledger") == {"deposits": 2, "fen": 1550, "zeros": 1}
    finally:
        async for key in client.scan_iter(match=f"{store.prefix}:*"):
            await client.delete(key)
        await client.aclose()


async def test_records_after_the_last_published_decision_that_decide_nothing_are_passed(
    infra: Any,
) -> None:
    """A subscription whose records mostly decide nothing (here a deposit of 0.00) goes on
    where it was, not after its last published decision: the records after that decision that
    decide nothing against the rebuilt state are applied by the rebuild (their state, counters
    and dedupe marks), up to the first that would publish, which is the service's to decide."""
    lg = ledger(uuid.uuid4().hex[:8])
    await create_topics(infra.kafka_bootstrap, [lg.commands.name, lg.events.name])
    client = aioredis.Redis.from_url(infra.redis_url)
    store = Store(client, lg.service)
    prod = await producer(infra.kafka_bootstrap)
    now = int(time.time() * 1000)
    # partition 0: a deposit decided and published (0), a zero (1), a deposit not decided when
    # the keyspace was lost (2), a zero after it (3); partition 1: zeros only, none published
    commands = [(0, "A", "10.00"), (0, "A", "0.00"), (0, "A", "4.00"), (0, "A", "0.00")]
    commands += [(1, "B", "0.00"), (1, "B", "0.00")]
    for n, (part, account, amount) in enumerate(commands):
        k, v, h = message_record(
            Deposit(account=account, amount=amount), message_id=f"cmd-{n}", time=T0
        )
        await prod.send_and_wait(
            lg.commands.name, key=k, value=v, headers=h, partition=part, timestamp_ms=now
        )
    ev = Deposited(account="A", amount="10.00", balance="10.00", applied=1)
    k, v, h = message_record(ev, message_id="ev-0", time=T0, source="/shebao/ledger")
    h = [*h, ("causation-id", b"cmd-0"), (H_FROM, f"commands|{lg.commands.name}|0|0|fp0".encode())]
    await prod.send_and_wait(lg.events.name, key=k, value=v, headers=h, partition=0)
    await prod.stop()

    handlers = HandlerTable()

    @handlers.on(Deposit, needs=lambda m, ctx: [ACCOUNT.key(m.account)])
    def deposit(state: State, m: Deposit, ctx: Context) -> Decision:
        acct = state.get(ACCOUNT.key(m.account)) or Account()
        seen = Account(balance=acct.balance, applied=acct.applied + 1)
        d = Decision().put(ACCOUNT.key(m.account), seen).incr("ledger", "seen")
        if m.amount == 0:
            return d  # nothing to publish
        new = Deposited(account=m.account, amount=m.amount, balance=acct.balance, applied=1)
        return d.emit(lg.events, m.account, new)

    sub = Subscription(
        "commands",
        (lg.commands,),
        handlers,
        rebuild=FromDecisions(log=(lg.events,), fold=fold_table()),
    )
    job = Rebuild(
        service=lg.service,
        bootstrap=infra.kafka_bootstrap,
        store=store,
        registry=lg.registry,
        subscriptions=[sub],
        produces=[lg.events],
        env=None,
        max_record_bytes=1 << 20,
        dedupe_ttl=3600,
    )
    try:
        await job.run()
        assert await store.load_offsets(
            "commands", [f"{lg.commands.name}:0", f"{lg.commands.name}:1"]
        ) == [2, 2]
        stored = {
            acct: split_state(await client.get(store.state_key(ACCOUNT.key(acct).name)))[1]
            for acct in ("A", "B")
        }
        # A: the fold of its deposit, then the zero after it; B: its two zeros
        assert stored == {
            "A": b'{"balance":"10.00","applied":2}',
            "B": b'{"balance":"0.00","applied":2}',
        }
        assert await store.counters("ledger") == {"deposits": 1, "fen": 1000, "seen": 3}
        marks = [await client.get(store.mark_key(f"cmd-{n}")) for n in range(6)]
        assert [m is not None for m in marks] == [True, True, False, False, True, True]
    finally:
        async for key in client.scan_iter(match=f"{store.prefix}:*"):
            await client.delete(key)
        await client.aclose()
