"""Unit-level runner: applies a handler table to messages over an in-memory state.

Each message runs through `apply.decide`, the processor's own step: the view limited to the
declared `needs`, the write check, the emit check against the registry (the catalog's topics
unless told otherwise) and the encoding of every emitted event. What a handler may not do in
production fails here too, raised instead of dead-lettered, without a broker or Redis, so a
service's rules can be tested in microseconds. Flows are proven with real Kafka and Redis
elsewhere.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime, time
from types import ModuleType
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from shebao_contracts.envelope import Envelope, Message
from shebao_contracts.topics import Registry

from . import compiled
from .apply import EmitCheck, Slot, Snapshot, decide, open_slots
from .codec import Encoder, Item
from .model import Context, Counters, E, Emit, HandlerTable, StateKey, StateModel
from .store import Layout, OutboxEntry, StreamId, default_partition

_ids = itertools.count(1)


@functools.cache
def _catalog() -> Registry:
    from shebao_contracts.catalog import all_topics

    return all_topics()


def same_as_pydantic(value: BaseModel) -> None:
    """The compiled codec writes the value as pydantic does, and reads it back as pydantic
    does (issue 20): every message and state value the rule tests produce is a case."""
    body = value.model_dump_json().encode()
    assert compiled.encode(value) == body, f"{type(value).__name__}: {body!r}"
    c = compiled.compiled(type(value))
    fast = None if c is None else c.decode(body)  # whether or not a service reads it compiled
    if fast is not None:
        slow = type(value).model_validate_json(body)
        assert fast == slow and compiled.encode(fast) == body, f"{type(value).__name__}: {body!r}"


class HandlerRunner(Generic[E]):
    def __init__(
        self,
        table: HandlerTable[E],
        env: E,
        *,
        registry: Registry | None = None,
        partitions: int | None = None,
    ) -> None:
        """`partitions`: run as a partitioned layout of that many partitions does: a message
        belongs to its key's partition (Kafka's default partitioner; 0 without a key), and state
        another partition owns (`Entity.owner`) is read-only to it."""
        self.partitions = partitions
        self.layout = Layout("test", partitions)
        self.table = table
        self.env = env
        self.store: dict[str, Any] = {}
        self.counters: Counter[tuple[str, str]] = Counter()
        self.emitted: list[Emit] = []
        self.check = EmitCheck(registry if registry is not None else _catalog())
        self._encoder = Encoder("test", 1 << 20)

    def send(
        self,
        message: Message,
        *,
        topic: str = "test.topic.v1",
        topic_fields: Mapping[str, str] | None = None,
        when: date | datetime | None = None,
        key: str | None = None,
    ) -> list[Emit]:
        """Apply one message; returns what its handler emitted ([] when no handler wants it)."""
        handler = self.table.get(message.TYPE)
        if handler is None:
            return []
        n = next(_ids)
        if when is None:
            when = datetime(2025, 1, 1, 9, tzinfo=UTC)
        elif not isinstance(when, datetime):
            when = datetime.combine(when, time(9), UTC)
        env = Envelope(id=f"msg-{n}", type=message.TYPE, source="/test", time=when)
        fields = dict(topic_fields or {})
        partition = self._partition(key)
        ctx = Context(
            env,
            env.id,
            topic,
            partition,
            n,
            key,
            self.env,
            fields,
            body=message.model_dump_json().encode(),
        )
        needs = list(handler.needs(message, ctx))
        working: dict[str, Slot] = {}
        names = open_slots(needs, working, self._snapshot(needs, partition))
        cause = Item(record=None, headers={}, event_id=env.id, topic_fields=fields, envelope=env)
        stream = f"test:{topic}"

        def encode(i: int, emit: Emit) -> OutboxEntry:
            return self._encoder.event(emit, cause, i, stream, StreamId(n + 1, i), None)

        decision, _ = decide(handler, message, ctx, names, working, self.check, encode)
        for name, slot in working.items():
            if slot.dirty:
                self.store[name] = slot.value
                if slot.value is not None:
                    same_as_pydantic(slot.value)
        for emit in decision.emits:
            same_as_pydantic(emit.message)
        for inc in decision.increments:
            self.counters[(inc.counter, inc.field)] += inc.by
        self.emitted += decision.emits
        return list(decision.emits)

    def _partition(self, key: str | None) -> int:
        if self.partitions is None or key is None:
            return 0
        return default_partition(key, self.partitions)

    def _snapshot(self, needs: list[StateKey[Any]], partition: int = 0) -> Snapshot:
        snapshot: dict[str, tuple[int, StateModel | None]] = {}
        for k in needs:
            if k.entity.counters:
                snapshot[k.name] = (-1, Counters(values=self.counter_values(k.name)))
            else:
                mine = self.layout.home(k, partition) == partition
                snapshot[k.name] = (0 if mine else -1, self.store.get(k.name))
        return snapshot

    def get(self, key: StateKey[Any]) -> Any:
        return self.store.get(key.name)

    def counter_values(self, name: str) -> dict[str, int]:
        return {f: v for (c, f), v in self.counters.items() if c == name}


# ---------------------------------------------------------------------------------------------
# A service's rules scenarios run again partitioned (each service's *_partitioned tests)


def scenarios(module: ModuleType) -> list[tuple[str, Callable[[], object]]]:
    """The module's tests that take no argument (a rules module's scenarios), by name."""
    return [
        (name, fn)
        for name, fn in sorted(vars(module).items())
        if name.startswith("test_") and callable(fn) and not inspect.signature(fn).parameters
    ]


T = TypeVar("T")


@contextmanager
def made_partitioned(harness: type[T], partitions: int | None) -> Iterator[list[T]]:
    """Within, every `harness` made is partitioned so (its class attribute `PARTITIONS`, which
    its constructor reads); yields the list of those made, filled as they are."""
    made: list[T] = []
    init = harness.__init__
    before = vars(harness).get("PARTITIONS")

    def recording(self: T, *args: Any, **kw: Any) -> None:
        init(self, *args, **kw)
        made.append(self)

    patched: dict[str, Any] = {"PARTITIONS": partitions, "__init__": recording}
    for name, value in patched.items():
        setattr(harness, name, value)
    try:
        yield made
    finally:
        for name, value in {"PARTITIONS": before, "__init__": init}.items():
            setattr(harness, name, value)


def unnumbered(text: str) -> str:
    """A published message's text without what a hand-off shifts: the runner numbers every
    message it runs (`msg-<n>`, its offset), and an answer to a partner names the record's
    partition (its key's) and offset."""
    text = re.sub(r"msg-[0-9]+", "msg-*", text)
    return re.sub(r'"partition":[0-9]+,"offset":[0-9]+', '"partition":*,"offset":*', text)


def key_elsewhere(owner: str, partitions: int) -> str:
    """A record key whose partition (Kafka's default partitioner) is not `owner`'s: a record
    keyed otherwise than its topic's contract says."""
    home = default_partition(owner, partitions)
    return next(k for i in range(100) if default_partition(k := f"K-{i}", partitions) != home)
