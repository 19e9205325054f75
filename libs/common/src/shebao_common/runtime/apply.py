"""The pure part of a batch: run each handler on a view of its declared state, check its decision,
encode what it emits, and plan the one commit. No I/O: the processor loads the snapshot before
and commits the plan after; the unit-test runner (`testing.py`) runs handlers through the same
`decide`, so a rule that passes there is held to what production holds it to.

A handler reads only the keys its `needs` declared, writes only those (never a counter set: that
is `Decision.incr`), and emits only a message type its target topic declares. Anything else is a
bug of the service: the processor dead-letters the record as `handler_error`, naming the fault.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry.trace import Status, StatusCode

from shebao_contracts.envelope import Message
from shebao_contracts.limits import MAX_KEY_BYTES
from shebao_contracts.topics import Registry, Topic

from .. import tracing
from ..logging import mask_ids, trace_id_var
from . import compiled
from .codec import R_HANDLER_ERROR, Encoder, Item, record_time
from .model import (
    Context,
    Decision,
    Emit,
    Handler,
    RejectedRecord,
    StateKey,
    StateModel,
    Subscription,
    check_emit,
)
from .store import CommitPlan, OutboxEntry, Store, StreamId

log = logging.getLogger("shebao.runtime")

TP = tuple[str, int]
Snapshot = Mapping[str, tuple[int, StateModel | None]]
"""Each declared key's (version, value) as loaded for the batch; version -1: read-only, never
version-checked (a counter set, or state another partition owns)."""


class UndeclaredState(RuntimeError):
    """A handler read or wrote a state key its `needs` did not declare: a bug in the service."""


@dataclass(slots=True)
class Slot:
    """A key's value in the batch's working state, as the handlers before have left it."""

    version: int
    value: StateModel | None
    cached: bool = True
    dirty: bool = False


class View:
    """What a handler sees: the batch's working state, limited to the keys it declared."""

    __slots__ = ("_allowed", "_working")

    def __init__(self, working: dict[str, Slot], allowed: set[str]) -> None:
        self._working = working
        self._allowed = allowed

    def get(self, key: StateKey[Any]) -> Any:
        name = key.name
        if name not in self._allowed:
            raise UndeclaredState(f"read of {name} not declared in needs()")
        return self._working[name].value

    def owns(self, key: StateKey[Any]) -> bool:
        name = key.name
        if name not in self._allowed:
            raise UndeclaredState(f"read of {name} not declared in needs()")
        return self._working[name].version >= 0


class EmitCheck:
    """Checks an emit against the registry the runtime runs with (`model.check_emit`)."""

    _MAX_NAMES = 100_000

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._topics: dict[str, Topic | None] = {}

    def topic(self, name: str) -> Topic | None:
        if name in self._topics:
            return self._topics[name]
        topic = self.registry.get(name)
        if len(self._topics) < self._MAX_NAMES:  # concrete partner names are many but bounded
            self._topics[name] = topic
        return topic

    def __call__(self, emit: Emit) -> None:
        check_emit(self.topic(emit.topic), emit.topic, emit.message)


def open_slots(
    needs: Iterable[StateKey[Any]], working: dict[str, Slot], snapshot: Snapshot
) -> set[str]:
    """The names a handler declared, each in the working state (from the snapshot if new)."""
    names = set()
    for k in needs:
        name = k.name
        names.add(name)
        if name not in working:
            version, value = snapshot[name]
            working[name] = Slot(version, value, k.entity.cached)
    return names


def decide(
    handler: Handler[Any],
    message: Message,
    ctx: Context[Any],
    names: set[str],
    working: dict[str, Slot],
    check: Callable[[Emit], None],
    encode: Callable[[int, Emit], OutboxEntry],
) -> tuple[Decision, list[OutboxEntry]]:
    """Run one handler on the declared `names` of the working state and apply its writes there.

    Raises on a bug of the handler (an exception of its own, an undeclared read or write, an
    undeclared message, an event that cannot be serialised), before any write is applied: the
    working state is then as the record found it.
    """
    decision = handler.fn(View(working, names), message, ctx)
    encoded = []
    for i, emit in enumerate(decision.emits):
        check(emit)
        encoded.append(encode(i, emit))
    for key in decision.writes:
        if key.name not in names:
            raise UndeclaredState(f"write of {key.name} not declared in needs()")
        if key.entity.counters:
            raise UndeclaredState(f"{key.name} is a counter set: use Decision.incr")
        if working[key.name].version < 0:
            raise UndeclaredState(
                f"write of {key.name}: another partition owns it (Entity.owner); a record "
                "may read it here, only one of its owner's partition writes it"
            )
    for key, value in decision.writes.items():
        slot = working[key.name]
        slot.value = value
        slot.dirty = True
    return decision, encoded


@dataclass(slots=True)
class Planned:
    """A batch's commit, before the partitions' offsets and the relay's trims are added."""

    plan: CommitPlan
    entries: list[OutboxEntry]
    """Outbox entries in commit order: events, dead letters, answers."""
    updates: dict[str, tuple[int, StateModel | None]]
    """Cached keys' values once the commit succeeds."""
    last_offsets: dict[TP, int]
    """Each partition's last record in the batch."""
    count: int
    """How many of the batch's items the commit holds: all, or the first ones whose outputs
    reached the planner's `max_output_bytes` (the rest are planned after it commits)."""
    written: set[str]
    """The names of the state the commit writes (the rest of the snapshot stays valid)."""


class Planner:
    """Plans one subscription's batches: handlers' decisions, dead letters and answers, marks,
    counters and state writes, from the decoded items and the snapshot of their declared state."""

    def __init__(
        self,
        *,
        subscription: Subscription,
        store: Store,
        encoder: Encoder,
        registry: Registry,
        dedupe_ttl: int,
        max_output_bytes: int | None = None,
    ) -> None:
        self.sub = subscription
        self.store = store  # its key names only
        self.encoder = encoder
        self.check = EmitCheck(registry)
        self.dedupe_ttl = dedupe_ttl
        self.max_output_bytes = max_output_bytes

    def stream_of(self, tp: TP) -> str:
        return self.store.outbox_key(self.sub.name, tp[0], tp[1])

    def plan(self, items: list[Item], snapshot: Snapshot, partition: int = 0) -> Planned:
        """The commit of `items`, all of one slot: records of input partition `partition` in a
        partitioned layout (`store.Layout`), any records in a one-slot layout.

        Its first items only, when their outputs pass `max_output_bytes`: a batch of records
        that fan out would hold every output and every new state value at once until its one
        commit (an employer's month assessed is an output per employee), so it is committed in
        parts, each at least one record, each with its partitions' offsets."""
        plan = CommitPlan(ttl=self.sub.dedupe_ttl or self.dedupe_ttl)
        working: dict[str, Slot] = {}
        entries: list[OutboxEntry] = []
        last_offsets: dict[TP, int] = {}
        budget = self.max_output_bytes
        size = 0
        count = 0
        for it in items:
            if budget is not None and size >= budget:
                break
            count += 1
            r = it.record
            tp = it.tp
            last_offsets[tp] = r.offset
            if it.skip:
                continue
            stream = self.stream_of(tp)
            base = r.offset + 1
            n = 0
            if it.reason is None:
                decision, encoded = self._run(it, working, snapshot, stream, base)
                if decision is None:
                    it.reason = R_HANDLER_ERROR  # recorded by _run; dead-lettered below
                else:
                    entries.extend(encoded)
                    n += len(encoded)
                    for inc in decision.increments:
                        plan.incr(self.store.counter_key(inc.counter, partition), inc.field, inc.by)
                    if budget is not None:
                        size += sum(len(e.value) + len(e.headers) for e in encoded)
                    if self.sub.trust_event_ids:
                        plan.marks.append(
                            (self.store.mark_key(it.event_id, partition), it.fingerprint)
                        )
            if it.reason is not None:
                entries.append(self.encoder.dead_letter(it, stream, StreamId(base, n)))
                n += 1
                if self.sub.reject is not None:
                    answers = self._answers(it, stream, base, n)
                    entries.extend(answers)
                    n += len(answers)
        updates: dict[str, tuple[int, StateModel | None]] = {}
        written: set[str] = set()
        for name, slot in working.items():
            if slot.version < 0:
                continue  # a counter snapshot: read without a version check
            key = self.store.state_key(name, partition)
            plan.reads.append((key, slot.version))
            if slot.dirty:
                data = b"" if slot.value is None else compiled.encode(slot.value)
                plan.writes.append((key, slot.version + 1, data))
                written.add(name)
                if slot.cached:
                    updates[name] = (slot.version + 1, slot.value)
        plan.outbox = entries
        return Planned(plan, entries, updates, last_offsets, count, written)

    def _run(
        self,
        it: Item,
        working: dict[str, Slot],
        snapshot: Snapshot,
        stream: str,
        base: int,
    ) -> tuple[Decision | None, list[OutboxEntry]]:
        """Run the handler and encode what it emits; a failure in either parks the record."""
        assert it.handler is not None and it.ctx is not None and it.message is not None
        names = open_slots(it.needs, working, snapshot)
        env = it.envelope
        assert env is not None
        span = None
        traceparent = env.traceparent
        if tracing.enabled():  # without an SDK the trace is passed on as it came, at no cost
            span = tracing.tracer.start_span(
                f"process {it.record.topic}",
                context=tracing.parent_context(env.traceparent),
                kind=tracing.CONSUMER,
                attributes={
                    "messaging.system": "kafka",
                    "messaging.destination.name": it.record.topic,
                    "messaging.kafka.offset": it.record.offset,
                    "cloudevents.event_type": env.type,
                },
            )
            traceparent = tracing.format_traceparent(span) or env.traceparent
        token = trace_id_var.set(tracing.trace_id_of(traceparent))

        def encode(i: int, emit: Emit) -> OutboxEntry:
            return self.encoder.event(emit, it, i, stream, StreamId(base, i), traceparent)

        try:
            return decide(it.handler, it.message, it.ctx, names, working, self.check, encode)
        except Exception as exc:
            # A pure handler that raises on a valid message, or whose decision breaks a rule
            # above, is a bug: the record is parked in the DLQ with the exception, the
            # partition moves on, the process stays up.
            if span is not None:
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            it.detail = mask_ids(f"{type(exc).__name__}: {exc}")[:2000]
            log.exception(
                "handler failed; record dead-lettered",
                extra={
                    "subscription": self.sub.name,
                    "topic": it.record.topic,
                    "offset": it.record.offset,
                    "event_type": env.type,
                },
            )
            return None, []
        finally:
            trace_id_var.reset(token)
            if span is not None:
                span.end()

    def _answers(self, it: Item, stream: str, base: int, n: int) -> list[OutboxEntry]:
        """The rejecter's answers to a refused record, encoded; none if the rejecter fails."""
        assert self.sub.reject is not None
        try:
            answer = self.sub.reject(self._rejected(it))
            answers = [] if answer is None else [answer] if isinstance(answer, Emit) else answer
            encoded = []
            for i, a in enumerate(answers):
                self.check(a)
                encoded.append(self.encoder.event(a, it, i, stream, StreamId(base, n + i), None))
            return encoded
        except Exception:
            # A bug of the service's rejecter (an exception, or an answer its topic does not
            # declare): the dead letter still keeps the record, and the rest of the batch goes on.
            log.exception(
                "rejecter failed; record dead-lettered without an answer",
                extra={"subscription": self.sub.name, "reason": it.reason},
            )
            return []

    @staticmethod
    def _rejected(it: Item) -> RejectedRecord:
        r = it.record
        return RejectedRecord(
            topic=r.topic,
            partition=r.partition,
            offset=r.offset,
            # a key over the limit is not echoed: the answer is keyed by position instead
            key=r.key.decode(errors="replace")
            if r.key is not None and len(r.key) <= MAX_KEY_BYTES
            else None,
            headers=it.headers,
            envelope=it.envelope,
            reason=it.reason or "",
            detail=it.detail,
            event_id=it.event_id,
            time=it.envelope.time if it.envelope else record_time(r.timestamp),
            topic_fields=it.topic_fields,
        )
