"""The commit script's guarantees, checked against a real Redis."""

from __future__ import annotations

import uuid

import pytest
import redis.asyncio as aioredis

from shebao_common.runtime.store import CommitPlan, OutboxEntry, Store, StreamId

pytestmark = pytest.mark.integration


@pytest.fixture
async def store(infra):
    client = aioredis.Redis.from_url(infra.redis_url)
    yield Store(client, f"storetest-{uuid.uuid4().hex[:8]}")
    await client.aclose()


def _plan(store: Store, expected: str, new: str, **kw) -> CommitPlan:
    plan = CommitPlan(ttl=60, **kw)
    plan.offsets.append((store.offsets_key("s"), "t:0", expected, new))
    return plan


async def test_commit_writes_everything_or_nothing(store: Store) -> None:
    k = store.state_key("acct:1")
    entry = OutboxEntry(store.outbox_key("s", "t", 0), StreamId(1, 0), "out", b"k", b"v", b"[]")
    plan = _plan(
        store,
        "",
        "1",
        marks=[(store.mark_key("e1"), "f1")],
        reads=[(k, 0)],
        writes=[(k, 1, b'{"x":1}')],
        outbox=[entry],
        increments={(store.counter_key("c"), "n"): 3},
    )
    assert (await store.commit(plan)).status == "OK"
    assert await store.load_offsets("s", ["t:0"]) == [1]
    assert await store.load_state([k]) == [(1, b'{"x":1}')]
    assert await store.counters("c") == {"n": 3}
    rows = await store.outbox_range(entry.stream, None)
    assert [(r.id, r.value) for r in rows] == [(StreamId(1, 0), b"v")]

    # The same batch again (a retry after a lost reply) is recognised, not applied twice.
    assert (await store.commit(plan)).status == "ALREADY"
    assert await store.counters("c") == {"n": 3}


async def test_fenced_when_another_consumer_moved_the_partition(store: Store) -> None:
    assert (await store.commit(_plan(store, "", "5"))).status == "OK"
    k = store.state_key("acct:2")
    stale = _plan(store, "3", "4", writes=[(k, 1, b"{}")], reads=[(k, 0)])
    result = await store.commit(stale)
    assert result.status == "FENCED"
    assert await store.load_state([k]) == [(0, None)], "nothing of a fenced batch is written"


async def test_duplicate_event_refuses_the_batch(store: Store) -> None:
    assert (
        await store.commit(_plan(store, "", "1", marks=[(store.mark_key("e9"), "f9")]))
    ).status == "OK"
    again = _plan(
        store,
        "1",
        "2",
        marks=[(store.mark_key("e9"), "f9"), (store.mark_key("e10"), "f10")],
        increments={(store.counter_key("c"), "n"): 1},
    )
    result = await store.commit(again)
    assert result.status == "DUPLICATE"
    assert result.items == (store.mark_key("e9"), "f9")
    assert await store.counters("c") == {}


async def test_conflict_when_a_read_key_changed(store: Store) -> None:
    k = store.state_key("acct:3")
    assert (
        await store.commit(_plan(store, "", "1", reads=[(k, 0)], writes=[(k, 1, b"{}")]))
    ).status == "OK"
    # A writer that read version 0 must not overwrite version 1.
    result = await store.commit(_plan(store, "1", "2", reads=[(k, 0)], writes=[(k, 1, b'{"y":2}')]))
    assert result.status == "CONFLICT"
    assert result.items == (k,)
    assert await store.load_state([k]) == [(1, b"{}")]


async def test_a_batch_larger_than_one_command_reads_and_writes_every_key(store: Store) -> None:
    """The script reads and writes a batch's keys a thousand to a command: 2,500 of each take
    three, and the last of each is checked and written like the first."""
    n = 2500
    keys = [store.state_key(f"acct:big{i}") for i in range(n)]
    marks = [(store.mark_key(f"big{i}"), f"f{i}") for i in range(n)]
    first = _plan(
        store,
        "",
        "1",
        marks=marks,
        reads=[(k, 0) for k in keys],
        writes=[(k, 1, b'{"i":%d}' % i) for i, k in enumerate(keys)],
    )
    assert (await store.commit(first)).status == "OK"
    assert await store.load_state(keys) == [(1, b'{"i":%d}' % i) for i in range(n)]
    assert all(await store.client.mget([m for m, _ in marks]))
    assert 0 < await store.client.ttl(marks[-1][0]) <= 60

    # the last key of the last chunk changed since it was read: a conflict naming it alone
    stale = [(k, 1) for k in keys[:-1]] + [(keys[-1], 0)]
    result = await store.commit(_plan(store, "1", "2", reads=stale, writes=[(keys[0], 2, b"{}")]))
    assert (result.status, result.items) == ("CONFLICT", (keys[-1],))
    # the last mark of the last chunk seen before: a duplicate naming it
    fresh = [(store.mark_key(f"new{i}"), "f") for i in range(n - 1)]
    result = await store.commit(_plan(store, "1", "2", marks=[*fresh, marks[-1]]))
    assert (result.status, result.items) == ("DUPLICATE", marks[-1])
    assert await store.load_state([keys[0]]) == [(1, b'{"i":0}')]


async def test_trim_removes_only_acknowledged_entries(store: Store) -> None:
    stream = store.outbox_key("s", "t", 0)
    entries = [
        OutboxEntry(stream, StreamId(o, 0), "out", b"k", b"%d" % o, b"[]") for o in (1, 2, 3)
    ]
    assert (await store.commit(_plan(store, "", "3", outbox=entries))).status == "OK"
    await store.trim([(stream, StreamId(2, 0))])
    rows = await store.outbox_range(stream, None)
    assert [r.id for r in rows] == [StreamId(3, 0)]


async def test_delete_leaves_a_versioned_tombstone(store: Store) -> None:
    k = store.state_key("acct:4")
    await store.commit(_plan(store, "", "1", reads=[(k, 0)], writes=[(k, 1, b"{}")]))
    await store.commit(_plan(store, "1", "2", reads=[(k, 1)], writes=[(k, 2, b"")]))
    assert await store.load_state([k]) == [(2, None)]
    assert await store.client.ttl(k) > 0


async def test_state_another_partition_owns_is_read_from_its_slot_and_never_written(
    infra,
) -> None:
    """`Entity.owner`: a branch is owned by its code's partition. A record of another partition
    reads it from there, unversioned and read-only; the owner's own record reads it as ever."""
    from shebao_common.domain import Entity, StateModel
    from shebao_common.runtime.apply import Slot, UndeclaredState, decide, open_slots
    from shebao_common.runtime.model import Decision, Handler
    from shebao_common.runtime.store import Layout, default_partition

    class Branch(StateModel):
        open: bool

    branch = Entity("branch", Branch, owner=lambda code: code)
    key = branch.key("b-17")
    client = aioredis.Redis.from_url(infra.redis_url)
    store = Store(client, f"storetest-{uuid.uuid4().hex[:8]}", Layout("x", 4))
    try:
        home = default_partition("b-17", 4)
        other = (home + 1) % 4
        assert store.layout.home(key, other) == home and store.layout.home(key, home) == home
        await client.set(store.state_key(key.name, home), b'3|{"open":true}')

        mine = await store.snapshot({key.name: key}, home)
        theirs = await store.snapshot({key.name: key}, other)
        assert mine == {key.name: (3, Branch(open=True))}
        assert theirs == {key.name: (-1, Branch(open=True))}, "read-only, not version-checked"
        assert await client.get(store.state_key(key.name, other)) is None

        def close(state, message, ctx) -> Decision:
            assert state.get(key) == Branch(open=True)
            return Decision().put(key, Branch(open=False))

        handler = Handler(Branch, close, lambda m, c: [key])  # type: ignore[arg-type]
        for snapshot, allowed in ((mine, True), (theirs, False)):
            working: dict[str, Slot] = {}
            names = open_slots([key], working, snapshot)
            if allowed:
                decide(handler, None, None, names, working, lambda e: None, None)  # type: ignore[arg-type]
                assert working[key.name].value == Branch(open=False)
            else:
                with pytest.raises(UndeclaredState, match="another partition owns it"):
                    decide(handler, None, None, names, working, lambda e: None, None)  # type: ignore[arg-type]
                assert working[key.name].value == Branch(open=True), "nothing applied"
    finally:
        await client.aclose()
