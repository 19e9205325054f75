"""Exactly-once effects from at-least-once delivery: one batch, one atomic Redis commit.

For each batch the processor decodes every record, loads the state the handlers declared (from
its cache, the misses in one pipelined round trip), runs the pure handlers in order, and commits
state changes, dedupe marks, outbox entries, counters and the partitions' next offsets in one Lua
script. The partition's offset in Redis is the truth: on assignment the consumer seeks to it, and
a commit is refused if another consumer moved it (fencing). Anything a partner can send is
answered (dead letter, rejection); a transient fault is retried without skipping a record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import TopicPartition
from opentelemetry.trace import Status, StatusCode
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shebao_contracts.limits import MAX_KEY_BYTES
from shebao_contracts.topics import Registry

from .. import tracing
from ..logging import mask_ids, trace_id_var
from ..metrics import RuntimeMetrics
from .codec import R_HANDLER_ERROR, R_ID_CONFLICT, Decoder, Encoder, Item, record_time
from .model import (
    Counters,
    Decision,
    Emit,
    RejectedRecord,
    StateKey,
    StateModel,
    Subscription,
)
from .relay import Relay
from .store import CommitPlan, CommitResult, OutboxEntry, Store, StreamId

log = logging.getLogger("shebao.runtime")

TP = tuple[str, int]
TRANSIENT = (RedisConnectionError, RedisTimeoutError, OSError)


class UndeclaredState(RuntimeError):
    """A handler read or wrote a state key its `needs` did not declare: a bug in the service."""


@dataclass(slots=True)
class _Slot:
    version: int
    value: StateModel | None
    cached: bool = True
    dirty: bool = False


class _View:
    """What a handler sees: the batch's working state, limited to the keys it declared."""

    __slots__ = ("_allowed", "_working")

    def __init__(self, working: dict[str, _Slot], allowed: set[str]) -> None:
        self._working = working
        self._allowed = allowed

    def get(self, key: StateKey[Any]) -> Any:
        name = key.name
        if name not in self._allowed:
            raise UndeclaredState(f"read of {name} not declared in needs()")
        return self._working[name].value


class StateCache:
    """Decoded state by key with its version; cleared on every rebalance and conflict."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._data: dict[str, tuple[int, StateModel | None]] = {}

    def get(self, name: str) -> tuple[int, StateModel | None] | None:
        return self._data.get(name)

    def put(self, name: str, version: int, value: StateModel | None) -> None:
        data = self._data
        if name not in data and len(data) >= self.max_entries:
            # Evict the oldest tenth: cheap, and the next batch reloads what it needs.
            for k in list(data)[: max(1, self.max_entries // 10)]:
                del data[k]
        data[name] = (version, value)

    def drop(self, names: Iterable[str]) -> None:
        for n in names:
            self._data.pop(n, None)

    def clear(self) -> None:
        self._data.clear()


class Processor:
    """Runs one subscription's batches. Owns the partitions' positions and the state cache."""

    def __init__(
        self,
        *,
        service: str,
        subscription: Subscription,
        registry: Registry,
        store: Store,
        relay: Relay,
        metrics: RuntimeMetrics,
        policy: Any,
        dedupe_ttl: int,
        max_record_bytes: int,
        dlq_max_value_bytes: int,
        state_cache_entries: int,
        commit_kafka_every: float = 5.0,
    ) -> None:
        self.service = service
        self.sub = subscription
        self.store = store
        self.relay = relay
        self.metrics = metrics
        self.dedupe_ttl = dedupe_ttl
        self.decoder = Decoder(
            registry,
            subscription.handlers,
            trust_event_ids=subscription.trust_event_ids,
            max_record_bytes=subscription.max_record_bytes or max_record_bytes,
            policy=policy,
            canonical_fingerprints=subscription.canonical_fingerprints,
        )
        self.encoder = Encoder(service, dlq_max_value_bytes)
        self.cache = StateCache(state_cache_entries)
        self.lock = asyncio.Lock()
        self.next_offset: dict[TP, int | None] = {}
        self.consumer_getter: Callable[[], Any] = lambda: None
        self.stopping = False
        self.commit_kafka_every = commit_kafka_every
        self._last_kafka_commit = 0.0
        self._gap_seen: dict[TP, int] = {}
        self._offsets_key = store.offsets_key(subscription.name)
        self._phase = {
            p: metrics.phase_seconds.labels(subscription.name, p)
            for p in ("decode", "load", "plan", "commit", "handover")
        }
        self._m_records = {
            o: metrics.records.labels(subscription.name, o)
            for o in ("applied", "dead_lettered", "duplicate", "ignored", "stale")
        }

    # partitions ------------------------------------------------------------------------------

    def stream_of(self, tp: TP) -> str:
        return self.store.outbox_key(self.sub.name, tp[0], tp[1])

    @staticmethod
    def _field(tp: TP) -> str:
        return f"{tp[0]}:{tp[1]}"

    async def on_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        tps = [(tp.topic, tp.partition) for tp in assigned]
        async with self.lock:
            self.cache.clear()
            stored = await self._retry(
                "load offsets",
                self.store.load_offsets,
                self.sub.name,
                [self._field(t) for t in tps],
            )
            consumer = self.consumer_getter()
            for tp, off in zip(tps, stored, strict=True):
                self.next_offset[tp] = off
                ktp = TopicPartition(*tp)
                if consumer is not None:
                    if off is None:
                        await consumer.seek_to_beginning(ktp)
                    else:
                        consumer.seek(ktp, off)
            self.relay.recover(self.stream_of(tp) for tp in tps)
            self.metrics.assigned_partitions.labels(self.sub.name).set(len(self.next_offset))
            if tps:
                log.info(
                    "partitions assigned",
                    extra={
                        "subscription": self.sub.name,
                        "partitions": [self._field(t) for t in tps],
                        "offsets": stored,
                    },
                )

    async def on_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        tps = [(tp.topic, tp.partition) for tp in revoked]
        async with self.lock:  # waits for the batch in progress to commit
            with contextlib.suppress(TimeoutError):
                await self.relay.flush(timeout=10.0)
            await self._commit_kafka({tp: self.next_offset.get(tp) for tp in tps})
            for tp in tps:
                self.next_offset.pop(tp, None)
            self.relay.forget(self.stream_of(tp) for tp in tps)
            self.cache.clear()
            self.metrics.assigned_partitions.labels(self.sub.name).set(len(self.next_offset))

    async def _commit_kafka(self, offsets: dict[TP, int | None]) -> None:
        """Kafka's committed offset is advisory (lag monitoring); Redis holds the truth."""
        consumer = self.consumer_getter()
        todo = {TopicPartition(*tp): off for tp, off in offsets.items() if off is not None}
        if consumer is None or not todo:
            return
        try:
            await consumer.commit(todo)
        except Exception as exc:
            log.debug("advisory Kafka commit skipped: %s", exc)

    # batches ---------------------------------------------------------------------------------

    async def process(self, records: Sequence[Any]) -> None:
        if not records or self.stopping:
            return
        started = time.perf_counter()
        async with self.lock:
            kept = []
            first: dict[TP, int] = {}
            for r in records:
                tp = (r.topic, r.partition)
                if tp not in self.next_offset:
                    continue  # revoked while this batch was fetched
                expected = self.next_offset[tp]
                if expected is not None and r.offset < expected:
                    self._m_records["stale"].inc()
                    continue
                if tp not in first:
                    first[tp] = r.offset
                kept.append(r)
            gaps = self._gaps(first)
            if gaps:
                kept = [r for r in kept if (r.topic, r.partition) not in gaps]
            if not kept:
                return
            t0 = time.perf_counter()
            items = [self.decoder.decode(r) for r in kept]
            self._phase["decode"].inc(time.perf_counter() - t0)
            delay = 0.5
            while True:
                try:
                    await self._apply(items)
                    break
                except Exception:
                    # A fault of the runtime itself: hold the partition and say so, rather than
                    # let the consumer move past records that were never applied.
                    log.exception("batch failed; retrying", extra={"subscription": self.sub.name})
                    if self.stopping:
                        return
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 30.0)
            now = time.monotonic()
            if now - self._last_kafka_commit >= self.commit_kafka_every:
                self._last_kafka_commit = now
                await self._commit_kafka(dict(self.next_offset))
        self.metrics.batch_seconds.labels(self.sub.name).observe(time.perf_counter() - started)
        self.metrics.batch_records.labels(self.sub.name).observe(len(records))

    def _gaps(self, first: dict[TP, int]) -> set[TP]:
        """Partitions whose batch starts after the stored offset: seek back rather than skip.

        The consumer seeks to the stored offset on assignment, so this only happens when the
        broker's log no longer holds those records (retention); the second time the same gap is
        seen it is accepted and reported.
        """
        gaps: set[TP] = set()
        for tp, off in first.items():
            expected = self.next_offset.get(tp)
            if expected is None or off <= expected:
                self._gap_seen.pop(tp, None)
                continue
            if self._gap_seen.get(tp) == expected:
                log.error(
                    "records %s..%s of %s:%s are gone from the broker; continuing after them",
                    expected,
                    off - 1,
                    tp[0],
                    tp[1],
                    extra={"subscription": self.sub.name},
                )
                self._gap_seen.pop(tp, None)
                continue
            self._gap_seen[tp] = expected
            gaps.add(tp)
            consumer = self.consumer_getter()
            if consumer is not None:
                consumer.seek(TopicPartition(*tp), expected)
        return gaps

    async def _apply(self, items: list[Item]) -> None:
        seen: dict[str, str] = {}
        for it in items:  # the same event twice in one batch: apply it once
            if it.skip or it.reason is not None or not self.sub.trust_event_ids:
                continue
            if it.event_id in seen:
                self._seen_before(it, seen[it.event_id])
            else:
                seen[it.event_id] = it.fingerprint
        delay = 0.05
        while items:
            plan: CommitPlan | None = None
            try:
                t0 = time.perf_counter()
                snapshot = await self._load(
                    [k for it in items if not it.skip and it.reason is None for k in it.needs]
                )
                t1 = time.perf_counter()
                plan, entries, updates = self._plan(items, snapshot)
                t2 = time.perf_counter()
                result = await self.store.commit(plan)
                t3 = time.perf_counter()
                self._phase["load"].inc(t1 - t0)
                self._phase["plan"].inc(t2 - t1)
                self._phase["commit"].inc(t3 - t2)
            except TRANSIENT as exc:
                if plan is not None:
                    self.relay.return_trims(dict(plan.trims))
                if self.stopping:
                    log.warning(
                        "stopping with a batch uncommitted; its records will be redelivered"
                    )
                    return
                self.metrics.commit_retries.labels(self.sub.name, "transient").inc()
                log.warning("Redis unavailable, retrying the batch: %s", exc)
                await asyncio.sleep(delay + random.random() * delay)
                delay = min(delay * 2, 5.0)
                continue
            except (ResponseError, RedisError) as exc:
                # LOADING/BUSY after a restart, or a refused script: never skip the batch. A
                # fault that persists holds the partition (visible as lag and in the log)
                # instead of losing records.
                if plan is not None:
                    self.relay.return_trims(dict(plan.trims))
                if self.stopping:
                    return
                self.metrics.commit_retries.labels(self.sub.name, "redis_error").inc()
                if "LOADING" not in str(exc) and "BUSY" not in str(exc):
                    log.error("batch commit refused by Redis, retrying: %s", exc)
                await asyncio.sleep(delay + random.random() * delay)
                delay = min(delay * 2, 5.0)
                continue
            if result.status in ("OK", "ALREADY"):
                self._committed(items, plan, entries, updates)
                t0 = time.perf_counter()
                await self.relay.submit(entries)
                self._phase["handover"].inc(time.perf_counter() - t0)
                return
            self.relay.return_trims(dict(plan.trims))
            self.metrics.commit_retries.labels(self.sub.name, result.status.lower()).inc()
            if result.status == "DUPLICATE":
                stored = dict(zip(result.items[::2], result.items[1::2], strict=True))
                for it in items:
                    if it.skip or it.reason is not None or not self.sub.trust_event_ids:
                        continue
                    fingerprint = stored.get(self.store.mark_key(it.event_id))
                    if fingerprint is not None:
                        self._seen_before(it, fingerprint)
            elif result.status == "CONFLICT":
                self.cache.drop(k.removeprefix(self.store.state_key("")) for k in result.items)
            elif result.status == "FENCED":
                items = await self._refence(items)
            else:  # pragma: no cover - the script returns nothing else
                raise RuntimeError(f"unexpected commit result {result}")

    @staticmethod
    def _seen_before(it: Item, fingerprint: str) -> None:
        if fingerprint == it.fingerprint:
            it.skip = "duplicate"
        else:
            it.reason = R_ID_CONFLICT
            it.detail = f"id {it.event_id} was already used for a different body"

    async def _refence(self, items: list[Item]) -> list[Item]:
        """Another consumer moved a partition on: adopt its position, drop what it processed."""
        tps = sorted({it.tp for it in items})
        stored = await self.store.load_offsets(self.sub.name, [self._field(t) for t in tps])
        consumer = self.consumer_getter()
        for tp, off in zip(tps, stored, strict=True):
            if off != self.next_offset.get(tp):
                log.warning(
                    "partition %s:%s was moved to %s by another consumer",
                    tp[0],
                    tp[1],
                    off,
                    extra={"subscription": self.sub.name},
                )
                self.next_offset[tp] = off
                if consumer is not None and off is not None:
                    with contextlib.suppress(Exception):
                        consumer.seek(TopicPartition(*tp), off)
        self.cache.clear()
        kept = []
        for it in items:
            off = self.next_offset.get(it.tp)
            if off is None or it.record.offset >= off:
                kept.append(it)
            else:
                self._m_records["stale"].inc()
        return kept

    async def _load(self, keys: list[StateKey[Any]]) -> dict[str, tuple[int, StateModel | None]]:
        """The batch's snapshot of every declared key: cache hits, misses in one round trip."""
        snapshot: dict[str, tuple[int, StateModel | None]] = {}
        missing: dict[str, StateKey[Any]] = {}
        for k in keys:
            name = k.name
            if name in snapshot or name in missing:
                continue
            hit = self.cache.get(name)
            if hit is None:
                missing[name] = k
            else:
                snapshot[name] = hit
        tallies = [n for n, k in missing.items() if k.entity.counters]
        if tallies:  # counters: a fresh snapshot every batch, never cached, never version-checked
            for name, values in zip(tallies, await self.store.load_counters(tallies), strict=True):
                snapshot[name] = (-1, Counters(values=values))
                del missing[name]
        if missing:
            names = list(missing)
            rows = await self.store.load_state([self.store.state_key(n) for n in names])
            for name, (version, data) in zip(names, rows, strict=True):
                value = (
                    None if data is None else missing[name].entity.model.model_validate_json(data)
                )
                snapshot[name] = (version, value)
                if missing[name].entity.cached:
                    self.cache.put(name, version, value)
        return snapshot

    def _plan(
        self, items: list[Item], snapshot: dict[str, tuple[int, StateModel | None]]
    ) -> tuple[CommitPlan, list[OutboxEntry], dict[str, tuple[int, StateModel | None]]]:
        plan = CommitPlan(ttl=self.sub.dedupe_ttl or self.dedupe_ttl)
        working: dict[str, _Slot] = {}
        entries: list[OutboxEntry] = []
        last_offset: dict[TP, int] = {}
        for it in items:
            r = it.record
            tp = it.tp
            last_offset[tp] = r.offset
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
                        plan.incr(self.store.counter_key(inc.counter), inc.field, inc.by)
                    if self.sub.trust_event_ids:
                        plan.marks.append((self.store.mark_key(it.event_id), it.fingerprint))
            if it.reason is not None:
                entries.append(self.encoder.dead_letter(it, stream, StreamId(base, n)))
                n += 1
                if self.sub.reject is not None:
                    answers = self._answers(it, stream, base, n)
                    entries.extend(answers)
                    n += len(answers)
        for tp, last in last_offset.items():
            expected = self.next_offset.get(tp)
            plan.offsets.append(
                (
                    self._offsets_key,
                    self._field(tp),
                    "" if expected is None else str(expected),
                    str(last + 1),
                )
            )
        updates: dict[str, tuple[int, StateModel | None]] = {}
        for name, slot in working.items():
            if slot.version < 0:
                continue  # a counter snapshot: read without a version check
            key = self.store.state_key(name)
            plan.reads.append((key, slot.version))
            if slot.dirty:
                data = b"" if slot.value is None else slot.value.model_dump_json().encode()
                plan.writes.append((key, slot.version + 1, data))
                if slot.cached:
                    updates[name] = (slot.version + 1, slot.value)
        plan.outbox = entries
        plan.trims = list(self.relay.take_trims().items())
        return plan, entries, updates

    def _run(
        self,
        it: Item,
        working: dict[str, _Slot],
        snapshot: dict[str, tuple[int, StateModel | None]],
        stream: str,
        base: int,
    ) -> tuple[Decision | None, list[OutboxEntry]]:
        """Run the handler and encode what it emits; a failure in either parks the record."""
        assert it.handler is not None and it.ctx is not None and it.message is not None
        names = set()
        for k in it.needs:
            name = k.name
            names.add(name)
            if name not in working:
                version, value = snapshot[name]
                working[name] = _Slot(version, value, k.entity.cached)
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
        try:
            decision = it.handler.fn(_View(working, names), it.message, it.ctx)
            # Encoded before any write is applied: an event that cannot be serialised is a
            # handler bug, and its record must leave the working state untouched.
            encoded = [
                self.encoder.event(emit, it, i, stream, StreamId(base, i), traceparent)
                for i, emit in enumerate(decision.emits)
            ]
            for key in decision.writes:
                if key.name not in names:
                    raise UndeclaredState(f"write of {key.name} not declared in needs()")
                if key.entity.counters:
                    raise UndeclaredState(f"{key.name} is a counter set: use Decision.incr")
            for key, value in decision.writes.items():
                slot = working[key.name]
                slot.value = value
                slot.dirty = True
            return decision, encoded
        except Exception as exc:
            # A pure handler that raises on a valid message is a bug: the record is parked in the
            # DLQ with the exception, the partition moves on, the process stays up.
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
            return [
                self.encoder.event(a, it, i, stream, StreamId(base, n + i), None)
                for i, a in enumerate(answers)
            ]
        except Exception:
            # A bug of the service's rejecter: the dead letter still keeps the record, and the
            # rest of the batch goes on.
            log.exception(
                "rejecter failed; record dead-lettered without an answer",
                extra={"subscription": self.sub.name, "reason": it.reason},
            )
            return []

    def _rejected(self, it: Item) -> RejectedRecord:
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

    def _committed(
        self,
        items: list[Item],
        plan: CommitPlan,
        entries: list[OutboxEntry],
        updates: dict[str, tuple[int, StateModel | None]],
    ) -> None:
        for _, f, _, new in plan.offsets:
            topic, _, part = f.rpartition(":")
            self.next_offset[(topic, int(part))] = int(new)
        for name, (version, value) in updates.items():
            self.cache.put(name, version, value)
        m = self._m_records
        for it in items:
            if it.skip:
                m["duplicate" if it.skip == "duplicate" else "ignored"].inc()
            elif it.reason is not None:
                m["dead_lettered"].inc()
                self.metrics.dead_letters.labels(it.record.topic, it.reason).inc()
                log.warning(
                    "record dead-lettered",
                    extra={
                        "subscription": self.sub.name,
                        "topic": it.record.topic,
                        "partition": it.record.partition,
                        "offset": it.record.offset,
                        "reason": it.reason,
                        "detail": it.detail,
                    },
                )
            else:
                m["applied"].inc()

    async def _retry(self, what: str, fn: Callable[..., Any], *args: Any) -> Any:
        delay = 0.05
        while True:
            try:
                return await fn(*args)
            except (*TRANSIENT, RedisError) as exc:
                if self.stopping:  # SIGTERM while Redis is away: give up the partitions now
                    raise
                log.warning("%s failed, retrying: %s", what, exc)
                await asyncio.sleep(delay + random.random() * delay)
                delay = min(delay * 2, 5.0)


__all__ = ["CommitResult", "Processor", "UndeclaredState"]
