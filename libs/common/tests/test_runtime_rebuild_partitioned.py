"""A rebuild of a partitioned layout writes every value where the live service would have
(real Kafka, real Redis: one node and a Redis Cluster).

The engine's edges first, on a log written by hand: a decision belongs to the input partition
that decided it (named in its `shebao-from` header), not to the partition of the log topic it
sits on; a key another partition owns (`Entity.owner`) is read from its owner's slot and never
written; marks, offsets and counters go to the slot of their partition. Then the ledger as a
whole: run live and partitioned, stopped, its keyspace recorded, wiped and rebuilt, and the
rebuilt keyspace is the live one key by key.
"""

from __future__ import annotations

import random
import time
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions
from ledger_app import Deposit, Deposited, LedgerSettings, ledger, runtime
from ledger_harness import (
    LEDGER_PARTITIONS,
    LedgerProcess,
    deposit_all,
    new_ledger,
    producer,
    random_deposits,
    read_all,
)

from shebao_common.kafka_security import client_options
from shebao_common.runtime import (
    Context,
    Decision,
    Entity,
    FromDecisions,
    HandlerTable,
    State,
    StateModel,
    Subscription,
)
from shebao_common.runtime import rebuild as rebuild_module
from shebao_common.runtime.codec import H_FROM
from shebao_common.runtime.rebuild import Rebuild, RebuildError, rebuild
from shebao_common.runtime.store import Layout, Store, default_partition, split_state
from shebao_contracts.types import Money
from shebao_devinfra.testing import create_topics, message_record, redis_for, wait_until

pytestmark = [pytest.mark.integration]

T0 = datetime(2025, 3, 1, 9, tzinfo=UTC)
N = LEDGER_PARTITIONS


class Seen(StateModel):
    balance: Money
    applied: int
    a_balance: Money | None = None
    """What the fold read of account A's balance (a key A's partition owns)."""


SEEN = Entity("seen", Seen)
A_BALANCE = Entity("a-balance", Seen, owner=lambda account: account)
"""Kept by account A's partition only; every other partition may read it."""


def fold_table() -> HandlerTable:
    """Folds a Deposited into the account's state; A's deposits also keep A's balance under a
    key A owns, which the others read (a write from another partition would be refused)."""
    fold = HandlerTable()

    @fold.on(Deposited, needs=lambda ev, ctx: [SEEN.key(ev.account), A_BALANCE.key("A")])
    def deposited(state: State, ev: Deposited, ctx: Context) -> Decision:
        a = state.get(A_BALANCE.key("A"))
        d = (
            Decision()
            .put(
                SEEN.key(ev.account),
                Seen(
                    balance=ev.balance,
                    applied=ev.applied,
                    a_balance=None if a is None else a.balance,
                ),
            )
            .incr("ledger", "deposits")
            .incr("ledger", "fen", int(ev.amount * 100))
        )
        if ev.account == "A":
            d = d.put(A_BALANCE.key("A"), Seen(balance=ev.balance, applied=ev.applied))
        return d

    return fold


def _accounts() -> dict[str, int]:
    """A and two more accounts, each of another partition: name → its partition."""
    homes = {"A": default_partition("A", N)}
    for n in range(100):
        name = f"acct-{n}"
        p = default_partition(name, N)
        if p not in homes.values():
            homes[name] = p
        if len(homes) == 3:
            return homes
    raise AssertionError("no three accounts of three partitions")


async def _keys(client: Any, prefix: str) -> set[str]:
    return {k.decode() async for k in client.scan_iter(match=f"{prefix}:*", count=1000)}


async def _delete_all(client: Any, prefix: str) -> None:
    for k in await _keys(client, prefix):
        await client.delete(k)


def _job(lg: Any, bootstrap: str, store: Store, sub: Subscription) -> Rebuild:
    return Rebuild(
        service=lg.service,
        bootstrap=bootstrap,
        store=store,
        registry=lg.registry,
        subscriptions=[sub],
        produces=[lg.events],
        env=None,
        max_record_bytes=1 << 20,
        dedupe_ttl=3600,
    )


def _quiet_handlers() -> HandlerTable:
    handlers = HandlerTable()
    handlers.on(Deposit)(lambda state, m, ctx: Decision())
    return handlers


@pytest.mark.parametrize("held", ["in memory", "written out"])
async def test_a_decision_is_rebuilt_in_the_slot_of_the_partition_that_decided_it(
    infra: Any, any_redis_url: str, held: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The log topic is keyed otherwise than the commands: every event sits on another
    partition than the command partition that decided it. Each account's state, each mark,
    each offset and each partition's counts land in the slot of the command's partition, and
    nowhere else. A's balance, a key A's partition owns, is read by the others' folds from A's
    working state (`in memory`) or, once written out, from A's slot in Redis (`written out`:
    one record a batch, everything written out after each), and written by none of them."""
    if held == "written out":
        monkeypatch.setattr(rebuild_module, "BATCH", 1)
        monkeypatch.setattr(rebuild_module, "FLUSH_KEYS", 1)
    lg = ledger(uuid.uuid4().hex[:8])
    await create_topics(infra.kafka_bootstrap, [lg.commands.name, lg.events.name])
    client = redis_for(any_redis_url)
    store = Store(client, lg.service, Layout(lg.service, N))
    homes = _accounts()
    a, b, c = homes
    # the events sit on the one partition none of the accounts' commands are on (in the order
    # below, which the others' reads of A's balance rely on)
    spare = next(p for p in range(N) if p not in homes.values())
    # (account, command offset, amount, balance, applied): A's first, so the others read it
    decided = [
        (a, 0, "10.00", "10.00", 1),
        (b, 0, "7.25", "7.25", 1),
        (a, 1, "5.50", "15.50", 2),
        (b, 1, "1.00", "8.25", 2),
        (c, 0, "3.00", "3.00", 1),
        (c, 4, "2.00", "5.00", 2),
    ]
    now = int(time.time() * 1000)
    prod = await producer(infra.kafka_bootstrap)
    for n, (account, offset, amount, balance, applied) in enumerate(decided):
        ev = Deposited(account=account, amount=amount, balance=balance, applied=applied)
        k, v, h = message_record(ev, message_id=f"ev-{n}", time=T0, source="/shebao/ledger")
        origin = f"commands|{lg.commands.name}|{homes[account]}|{offset}|fp{n}"
        h = [*h, ("causation-id", f"cmd-{n}".encode()), (H_FROM, origin.encode())]
        await prod.send_and_wait(
            lg.events.name, key=k, value=v, headers=h, partition=spare, timestamp_ms=now
        )
    await prod.stop()
    sub = Subscription(
        "commands",
        (lg.commands,),
        _quiet_handlers(),
        rebuild=FromDecisions(log=(lg.events,), fold=fold_table()),
    )
    try:
        report = await _job(lg, infra.kafka_bootstrap, store, sub).run()
        assert report.folded == {"commands": 6}

        async def state(name: str, p: int) -> bytes | None:
            return split_state(await client.get(store.state_key(name, p)))[1]

        # each account in its partition's slot only, as A's balance was when its fold ran
        expected = {
            a: b'{"balance":"15.50","applied":2,"a_balance":"10.00"}',
            b: b'{"balance":"8.25","applied":2,"a_balance":"15.50"}',
            c: b'{"balance":"5.00","applied":2,"a_balance":"15.50"}',
        }
        for account, value in expected.items():
            for p in range(N):
                got = await state(f"seen:{account}", p)
                assert got == (value if p == homes[account] else None), (account, p)
        # A's balance: in A's slot, written by A's deposits only (B's and C's read it)
        for p in range(N):
            got = await state("a-balance:A", p)
            want = b'{"balance":"15.50","applied":2,"a_balance":null}'
            assert got == (want if p == homes[a] else None), p
        # marks in the slot of the partition whose command they mark
        for n, (account, *_rest) in enumerate(decided):
            for p in range(N):
                mark = await client.get(store.mark_key(f"cmd-{n}", p))
                assert mark == (f"fp{n}".encode() if p == homes[account] else None), (n, p)
        # offsets: each partition's own field in its own slot
        for p in range(N):
            held_fields = await client.hgetall(store.offsets_key("commands", p))
            last = [off for acc, off, *_ in decided if homes[acc] == p]
            if not last:  # the partition no command of the log is from
                assert held_fields == {}, p
                continue
            want_fields = {f"{lg.commands.name}:{p}".encode(): f"{max(last) + 1}".encode()}
            assert held_fields == want_fields, p
        # counters: each partition's deposits in its slot, summing to the totals
        for p in range(N):
            got_counts = {
                k.decode(): int(v)
                for k, v in (await client.hgetall(store.counter_key("ledger", p))).items()
            }
            mine = [d for d in decided if homes[d[0]] == p]
            want_counts = (
                {
                    "deposits": len(mine),
                    "fen": sum(int(Decimal(d[2]) * 100) for d in mine),
                }
                if mine
                else {}
            )
            assert got_counts == want_counts, p
        assert await store.counters("ledger") == {"deposits": 6, "fen": 2875}
        # nothing else was written
        tags = {p: store.slot_prefix(p) for p in range(N)}
        keys = await _keys(client, store.prefix)
        assert {k for k in keys if not any(k.startswith(t + ":") for t in tags.values())} == {
            store.layout_key
        }
        assert await client.hget(store.layout_key, "partitions") == str(N).encode()
        assert len(keys) == 1 + 3 + 1 + 6 + 3 + 3  # layout, seen, a-balance, marks, off, c
    finally:
        await _delete_all(client, store.prefix)
        await client.aclose()


async def test_a_partitioned_rebuild_refuses_what_it_cannot_place(infra: Any) -> None:
    """Refused in words: inputs of another partition count than the layout (before anything
    is wiped), a decision whose header names a partition the layout has no slot for, and a log
    record that names no origin at all."""
    lg = ledger(uuid.uuid4().hex[:8])
    await create_topics(infra.kafka_bootstrap, [lg.commands.name, lg.events.name])
    client = redis_for(str(infra.redis_url))
    sub = Subscription(
        "commands",
        (lg.commands,),
        _quiet_handlers(),
        rebuild=FromDecisions(log=(lg.events,), fold=fold_table()),
    )
    prod = await producer(infra.kafka_bootstrap)

    async def publish(origin: str | None, partition: int) -> None:
        ev = Deposited(account="A", amount="1.00", balance="1.00", applied=1)
        k, v, h = message_record(ev, message_id=uuid.uuid4().hex, time=T0, source="/shebao/ledger")
        h = [*h, ("causation-id", b"cmd")]
        if origin is not None:
            h.append((H_FROM, origin.encode()))
        await prod.send_and_wait(lg.events.name, key=k, value=v, headers=h, partition=partition)

    two = Store(client, lg.service, Layout(lg.service, 2))
    four = Store(client, lg.service, Layout(lg.service, N))
    try:
        await client.set(f"{four.prefix}:{four.layout.tag(0)}:s:kept", b"1|{}")
        # a layout of 2 partitions, inputs of 4: refused before the wipe it was told to do
        with pytest.raises(RebuildError, match=f"laid out for 2 partitions.*{lg.commands.name}"):
            await _job(lg, infra.kafka_bootstrap, two, sub).run(wipe=True)
        assert await _keys(client, four.prefix) == {f"{four.prefix}:{four.layout.tag(0)}:s:kept"}

        # a decision of command partition 7, which a layout of 4 has no slot for
        await publish(f"commands|{lg.commands.name}|7|0|fp", 1)
        with pytest.raises(RebuildError, match=f"{lg.commands.name}:7.*laid out for 4"):
            await _job(lg, infra.kafka_bootstrap, four, sub).run(wipe=True)
        await _delete_all(client, four.prefix)

        lg2 = ledger(uuid.uuid4().hex[:8])
        await create_topics(infra.kafka_bootstrap, [lg2.commands.name, lg2.events.name])
        lg, sub = (
            lg2,
            Subscription(
                "commands",
                (lg2.commands,),
                _quiet_handlers(),
                rebuild=FromDecisions(log=(lg2.events,), fold=fold_table()),
            ),
        )
        four = Store(client, lg.service, Layout(lg.service, N))
        # a decision that names no origin: which slot it belongs to is unknown
        await publish(f"commands|{lg.commands.name}|1|0|fp", 2)
        await publish(None, 3)
        with pytest.raises(RebuildError, match=f"{lg.events.name}:3 offset 0 .*names no input"):
            await _job(lg, infra.kafka_bootstrap, four, sub).run()
    finally:
        await prod.stop()
        for s in (two, four):
            await _delete_all(client, s.prefix)
        await client.aclose()


async def test_decisions_made_with_another_partition_count_are_refused(infra: Any) -> None:
    """A deposit was produced (Kafka's default partitioner) and decided while the topics had 2
    partitions; they have 4 now. Its account goes to another partition with 4, whose slot a
    rebuild keeping the decision where it was made would not fill: refused before the wipe it
    was told to do, nothing changed."""
    lg = ledger(uuid.uuid4().hex[:8])
    await create_topics(infra.kafka_bootstrap, [lg.commands.name, lg.events.name], partitions=2)
    account = next(f"acct-{i}" for i in range(100) if default_partition(f"acct-{i}", N) >= 2)
    prod = await producer(infra.kafka_bootstrap)
    k, v, h = message_record(
        Deposit(account=account, amount="1.00"), message_id="cmd-0", time=T0, key=account
    )
    sent = await prod.send_and_wait(lg.commands.name, key=k, value=v, headers=h)
    assert sent.partition == default_partition(account, 2) != default_partition(account, N)
    ev = Deposited(account=account, amount="1.00", balance="1.00", applied=1)
    k, v, h = message_record(ev, message_id="ev-0", time=T0, source="/shebao/ledger", key=account)
    origin = f"commands|{lg.commands.name}|{sent.partition}|{sent.offset}|fp"
    h = [*h, ("causation-id", b"cmd-0"), (H_FROM, origin.encode())]
    await prod.send_and_wait(lg.events.name, key=k, value=v, headers=h)
    await prod.stop()
    admin = AIOKafkaAdminClient(**client_options(bootstrap=infra.kafka_bootstrap))
    await admin.start()
    try:
        await admin.create_partitions(
            {t: NewPartitions(total_count=N) for t in (lg.commands.name, lg.events.name)}
        )
    finally:
        await admin.close()
    client = redis_for(str(infra.redis_url))
    store = Store(client, lg.service, Layout(lg.service, N))
    sub = Subscription(
        "commands",
        (lg.commands,),
        _quiet_handlers(),
        rebuild=FromDecisions(log=(lg.events,), fold=fold_table()),
    )
    kept = store.state_key("kept", 0)
    try:
        await client.set(kept, b"1|{}")
        at = f"{lg.commands.name}:{sent.partition} offset {sent.offset}"
        with pytest.raises(RebuildError, match=f"{at} sits on another partition.*not supported"):
            await _job(lg, infra.kafka_bootstrap, store, sub).run(wipe=True)
        assert await _keys(client, store.prefix) == {kept}
    finally:
        await _delete_all(client, store.prefix)
        await client.aclose()


async def _keyspace(client: Any, store: Store) -> dict[str, Any]:
    """Every key of the service and what it holds: a state value's data (its version counts
    the writes, which a rebuild makes once), a mark's fingerprint, a hash's fields; outbox and
    parked streams are left out (a rebuild writes none: the live ones' entries are published)."""
    out: dict[str, Any] = {}
    for k in sorted(await _keys(client, store.prefix)):
        kind = (await client.type(k)).decode()
        if kind == "stream":
            continue
        if kind == "hash":
            out[k] = {f.decode(): v.decode() for f, v in (await client.hgetall(k)).items()}
        elif ":s:" in k:
            out[k] = split_state(await client.get(k))[1]
        else:
            out[k] = (await client.get(k)).decode()
    return out


async def test_a_partitioned_ledger_rebuilt_from_its_events_is_the_live_one_key_by_key(
    infra: Any, any_redis_url: str, tmp_path: Path
) -> None:
    """The ledger runs live and partitioned over some hundreds of deposits on several accounts,
    every event published; stopped, its keyspace is recorded, wiped and rebuilt from its events
    (`rebuild(runtime, wipe=True)`): state, counters and offsets equal in every slot, the marks
    present in the same slots with the same fingerprints."""
    rng = random.Random(20261205)
    # the session's broker outlives the parameter: each Redis kind gets topics of its own
    kind = "cluster" if "+cluster://" in any_redis_url else "single"
    lg = await new_ledger(infra.kafka_bootstrap, f"prebuild{kind}", rng)
    n = 300
    deposits = random_deposits(rng, n, 30)  # acct-017, -024, -028, -029 are of partition 0
    proc = LedgerProcess(lg.ledger_id, infra.kafka_bootstrap, any_redis_url, tmp_path)
    client = redis_for(any_redis_url)
    rt = runtime(
        lg,
        LedgerSettings(
            KAFKA_BOOTSTRAP_SERVERS=infra.kafka_bootstrap,
            REDIS_URL=any_redis_url,
            REDIS_USERNAME=None,
            REDIS_PASSWORD=None,
            REDIS_PASSWORD_FILE=None,
            topic_partitions=LEDGER_PARTITIONS,
        ),
    )
    assert rt.layout == Layout(lg.service, LEDGER_PARTITIONS)
    store = Store(client, lg.service, rt.layout)
    prod = await producer(infra.kafka_bootstrap)
    try:
        proc.start()
        await proc.wait_ready()
        await deposit_all(prod, client, lg, deposits)

        async def published() -> bool:
            return len(await read_all(infra.kafka_bootstrap, lg.events.name)) >= n

        await wait_until(published, timeout=60, interval=0.5)
        proc.stop()
        live = await _keyspace(client, store)
        # the live keyspace as expected: every slot used, one mark per deposit
        by_slot: Counter[int] = Counter()
        for key in live:
            for p in range(LEDGER_PARTITIONS):
                if key.startswith(store.slot_prefix(p) + ":"):
                    by_slot[p] += 1
        assert len(by_slot) == LEDGER_PARTITIONS
        marks = {k for k in live if ":dd:" in k}
        assert len(marks) == n

        report = await rebuild(rt, wipe=True)
        assert report.folded == {"commands": n}
        assert report.stopped == {}
        rebuilt = await _keyspace(client, store)
        assert sorted(rebuilt) == sorted(live)
        wrong = {k: (live[k], rebuilt[k]) for k in live if live[k] != rebuilt[k]}
        assert wrong == {}
        # each slot's counters are that partition's deposits, summing to the whole
        per_slot: defaultdict[int, int] = defaultdict(int)
        for account, count in deposits.count.items():
            per_slot[default_partition(account, LEDGER_PARTITIONS)] += count
        for p in range(LEDGER_PARTITIONS):
            key = store.counter_key("ledger", p)
            assert int(rebuilt.get(key, {}).get("deposits", 0)) == per_slot[p], p
        # the marks expire as the live ones would (the service's dedupe TTL, 7 days)
        ttl = await client.ttl(sorted(marks)[0])
        assert 7 * 24 * 3600 - 120 < ttl <= 7 * 24 * 3600
    finally:
        proc.stop()
        await prod.stop()
        await _delete_all(client, store.prefix)
        await client.aclose()
