"""Unit-level runner: applies a handler table to messages over an in-memory state.

It does per record what the processor does (declared `needs`, a view limited to them, writes
checked against them, counters, emitted events), without a broker or Redis, so a service's
rules can be tested in microseconds. Flows are proven with real Kafka and Redis elsewhere.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from typing import Any

from shebao_contracts.envelope import Envelope, Message

from .model import Context, Counters, Emit, HandlerTable, StateKey

_ids = itertools.count(1)


class _View:
    def __init__(self, store: dict[str, Any], allowed: set[str], counters: Any) -> None:
        self._store = store
        self._allowed = allowed
        self._counters = counters

    def get(self, key: StateKey[Any]) -> Any:
        if key.name not in self._allowed:
            raise AssertionError(f"undeclared read of {key.name}")
        if key.entity.counters:
            return Counters(values=self._counters(key.name))
        return self._store.get(key.name)


class HandlerRunner:
    def __init__(self, table: HandlerTable, env: Any) -> None:
        self.table = table
        self.env = env
        self.store: dict[str, Any] = {}
        self.counters: Counter[tuple[str, str]] = Counter()
        self.emitted: list[Emit] = []

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
        ctx = Context(
            env,
            env.id,
            topic,
            0,
            n,
            key,
            self.env,
            dict(topic_fields or {}),
            body=message.model_dump_json().encode(),
        )
        needs = {k.name for k in handler.needs(message, ctx)}
        decision = handler.fn(_View(self.store, needs, self.counter_values), message, ctx)
        for k, value in decision.writes.items():
            if k.name not in needs:
                raise AssertionError(f"undeclared write of {k.name}")
            self.store[k.name] = value
        for inc in decision.increments:
            self.counters[(inc.counter, inc.field)] += inc.by
        self.emitted += decision.emits
        return list(decision.emits)

    def get(self, key: StateKey[Any]) -> Any:
        return self.store.get(key.name)

    def counter_values(self, name: str) -> dict[str, int]:
        return {f: v for (c, f), v in self.counters.items() if c == name}
