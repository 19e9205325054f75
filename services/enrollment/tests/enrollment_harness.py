"""Runs enrollment's pure handlers over an in-memory state, the way the runtime does per record.

Unit-level only: no broker, no Redis. It computes `needs`, hands the handler a view of exactly
those keys, applies the decision's writes and counters, and returns the events.
"""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, date, datetime, time
from typing import Any

from shebao_common.policy import Policy
from shebao_common.pseudonym import Pseudonymizer
from shebao_common.runtime import Context
from shebao_contracts import enrollment as c
from shebao_contracts.envelope import Envelope, Message
from shebao_contracts.types import citizen_id_check_char
from shebao_enrollment.domain.model import PERSON, Person
from shebao_enrollment.domain.rules import Env
from shebao_enrollment.handlers import handlers

_ids = itertools.count(1)
POLICY = Policy.load()


def citizen_id(birth: date, *, male: bool = True, region: str = "320102", n: int = 0) -> str:
    seq = (n * 2 + (1 if male else 0)) % 1000
    first17 = f"{region}{birth:%Y%m%d}{seq:03d}"
    return first17 + citizen_id_check_char(first17)


class _View:
    def __init__(self, store: dict[str, Any], allowed: set[str]) -> None:
        self.store, self.allowed = store, allowed

    def get(self, key: Any) -> Any:
        assert key.name in self.allowed, f"undeclared read of {key.name}"
        return self.store.get(key.name)


class Domain:
    def __init__(self, key: bytes = b"unit-test-pseudonym-key") -> None:
        self.env = Env(POLICY, Pseudonymizer(key))
        self.store: dict[str, Any] = {}
        self.counters: Counter[tuple[str, str]] = Counter()
        self.events: list[tuple[str, Message]] = []

    def send(self, cmd: Message, when: date | None = None) -> list[Message]:
        handler = handlers.get(cmd.TYPE)
        assert handler is not None
        n = next(_ids)
        when = when or date(2025, 1, 1)
        env = Envelope(
            id=f"cmd-{n}",
            type=cmd.TYPE,
            source="/test/counter",
            time=datetime.combine(when, time(9), UTC),
        )
        ctx = Context(env, env.id, c.COMMANDS.name, 0, n, None, self.env, {})
        needs = {k.name for k in handler.needs(cmd, ctx)}
        decision = handler.fn(_View(self.store, needs), cmd, ctx)
        for key, value in decision.writes.items():
            assert key.name in needs, f"undeclared write of {key.name}"
            self.store[key.name] = value
        for inc in decision.increments:
            self.counters[(inc.counter, inc.field)] += inc.by
        out = [e.message for e in decision.emits]
        self.events += [(e.key, e.message) for e in decision.emits]
        return out

    def person(self, cid: str) -> Person:
        p = self.store.get(PERSON.key(self.env.refs.person_ref(cid)).name)
        assert p is not None
        return p

    def ref(self, cid: str) -> str:
        return self.env.refs.person_ref(cid)


def rejection(events: list[Message]) -> str | None:
    for e in events:
        if isinstance(e, c.CommandRejected):
            return e.reason
    return None


def types(events: list[Message]) -> list[str]:
    return [type(e).__name__ for e in events]
