"""Exactly-once effects from at-least-once delivery: one batch, one atomic Redis commit.

For each batch the processor decodes every record (`codec`), loads the state the handlers
declared (from its cache, the misses in one pipelined round trip), plans the commit by running the
pure handlers in order (`apply`, shared with the unit-test runner), and commits state changes,
dedupe marks, outbox entries, counters and the partitions' next offsets in one Lua script. The
partition's offset in Redis is the truth (`partitions`): on assignment the consumer seeks to it,
and a commit is refused if another consumer moved it (fencing). Anything a partner can send is
answered (dead letter, rejection); a transient fault is retried without skipping a record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from aiokafka import TopicPartition
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shebao_contracts.topics import Registry

from ..metrics import RuntimeMetrics
from .apply import TP, Planned, Planner, UndeclaredState
from .codec import R_ID_CONFLICT, Decoder, Encoder, Item
from .model import StateKey, StateModel, Subscription
from .partitions import Partitions
from .relay import Relay
from .store import CommitPlan, CommitResult, OutboxEntry, Store

log = logging.getLogger("shebao.runtime")

TRANSIENT = (RedisConnectionError, RedisTimeoutError, OSError)


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
        env: Any = None,
        dedupe_ttl: int,
        max_record_bytes: int,
        dlq_max_value_bytes: int,
        state_cache_entries: int,
        commit_kafka_every: float = 5.0,
        wait_replicas: int = 0,
        wait_timeout_ms: int = 1000,
        commit_max_output_bytes: int | None = None,
    ) -> None:
        """`env` is what handlers get as `ctx.env`."""
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
            env=env,
            canonical_fingerprints=subscription.canonical_fingerprints,
        )
        self.encoder = Encoder(service, dlq_max_value_bytes, subscription.name)
        self.planner = Planner(
            subscription=subscription,
            store=store,
            encoder=self.encoder,
            registry=registry,
            dedupe_ttl=dedupe_ttl,
            max_output_bytes=commit_max_output_bytes,
        )
        self.partitions = Partitions(store, subscription.name)
        self.cache = StateCache(state_cache_entries)
        self.lock = asyncio.Lock()
        self.held: set[str] = set()
        """Topics whose partition count differs from the partitioned layout's: never read."""
        self.stopping = False
        self.commit_kafka_every = commit_kafka_every
        self.wait_replicas = wait_replicas
        self.wait_timeout_ms = wait_timeout_ms
        self._last_kafka_commit = 0.0
        self._phase = {
            p: metrics.phase_seconds.labels(subscription.name, p)
            for p in ("decode", "load", "plan", "commit", "handover")
        }
        self._m_records = {
            o: metrics.records.labels(subscription.name, o)
            for o in ("applied", "dead_lettered", "duplicate", "ignored", "stale")
        }

    @property
    def next_offset(self) -> dict[TP, int | None]:
        """The assigned partitions' next offsets (see `Partitions`)."""
        return self.partitions.next_offset

    # partitions ------------------------------------------------------------------------------

    def stream_of(self, tp: TP) -> str:
        return self.partitions.stream_of(tp)

    async def on_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        tps = [(tp.topic, tp.partition) for tp in assigned]
        tps = self._hold_miscounted(tps)
        async with self.lock:
            self.cache.clear()
            stored = await self._retry("load offsets", self.partitions.load, tps)
            await self.partitions.assign(tps, stored)
            self.relay.recover(self.stream_of(tp) for tp in tps)
            self.metrics.assigned_partitions.labels(self.sub.name).set(len(self.next_offset))
            if tps:
                log.info(
                    "partitions assigned",
                    extra={
                        "subscription": self.sub.name,
                        "partitions": [Partitions.field(t) for t in tps],
                        "offsets": stored,
                    },
                )

    def _hold_miscounted(self, tps: list[TP]) -> list[TP]:
        """Where the state is partitioned, a topic of another partition count than the layout's
        (a partner's topic created after the start's check, `ServiceRuntime._check_layout`)
        would have its records decided in slots that do not own their keys: its partitions are
        paused, never read, and said so in the log; the others go on."""
        layout, consumer = self.store.layout, self.partitions.consumer_getter()
        if not layout.partitioned or consumer is None:
            return tps
        kept = []
        for topic, part in tps:
            count = len(consumer.partitions_for_topic(topic) or ()) or layout.partitions
            if count == layout.partitions and topic not in self.held:
                kept.append((topic, part))
                continue
            consumer.pause(TopicPartition(topic, part))
            if topic not in self.held:
                self.held.add(topic)
                log.error(
                    "%s has %s partitions and the state is laid out for %s: its records are "
                    "not read (docs/CAPACITY.md#changing-partition-counts); recreate it with %s "
                    "partitions",
                    topic,
                    count,
                    layout.partitions,
                    layout.partitions,
                    extra={"subscription": self.sub.name},
                )
        return kept

    async def on_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        tps = [(tp.topic, tp.partition) for tp in revoked]
        async with self.lock:  # waits for the batch in progress to commit
            with contextlib.suppress(TimeoutError):
                await self.relay.flush(timeout=10.0)
            await self.partitions.commit_kafka({tp: self.next_offset.get(tp) for tp in tps})
            self.partitions.revoke(tps)
            self.relay.forget(self.stream_of(tp) for tp in tps)
            self.cache.clear()
            self.metrics.assigned_partitions.labels(self.sub.name).set(len(self.next_offset))

    # batches ---------------------------------------------------------------------------------

    async def process(self, records: Sequence[Any]) -> None:
        if not records or self.stopping:
            return
        started = time.perf_counter()
        if self.held:  # fetched before their partitions were paused: not read
            records = [r for r in records if r.topic not in self.held]
        async with self.lock:
            kept, stale = self.partitions.admit(records)
            if stale:
                self._m_records["stale"].inc(stale)
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
                    # a slot that committed before the fault is not applied twice
                    items = [it for it in items if self._pending(it)]
            now = time.monotonic()
            if now - self._last_kafka_commit >= self.commit_kafka_every:
                self._last_kafka_commit = now
                await self.partitions.commit_kafka(dict(self.next_offset))
        self.metrics.batch_seconds.labels(self.sub.name).observe(time.perf_counter() - started)
        self.metrics.batch_records.labels(self.sub.name).observe(len(records))

    async def _apply(self, items: list[Item]) -> None:
        seen: dict[str, str] = {}
        for it in items:  # the same event twice in one batch: apply it once
            if it.skip or it.reason is not None or not self.sub.trust_event_ids:
                continue
            if it.event_id in seen:
                self._seen_before(it, seen[it.event_id])
            else:
                seen[it.event_id] = it.fingerprint
        # one slot for the service, or one per input partition: one commit per slot, all at once
        groups: dict[int, list[Item]] = {0: items}
        if self.store.layout.partitioned:
            groups = {}
            for it in items:
                groups.setdefault(it.tp[1], []).append(it)
        if len(groups) == 1:
            ((part, group),) = groups.items()
            await self._apply_slot(group, part)
            return
        done = await asyncio.gather(
            *(self._apply_slot(g, part) for part, g in groups.items()), return_exceptions=True
        )
        # every slot has finished (committed or not) before a fault is raised: the retry then
        # takes only the records still after their partition's position (`process`)
        for outcome in done:
            if isinstance(outcome, BaseException):
                raise outcome

    async def _apply_slot(self, items: list[Item], partition: int) -> None:
        """Decide and commit `items`, all of one slot (`store.Layout`), until committed."""
        within = self.store.slot_prefix(partition) + ":"
        delay = 0.05
        carried: dict[str, tuple[int, StateModel | None]] = {}
        while items:
            plan: CommitPlan | None = None
            try:
                t0 = time.perf_counter()
                snapshot = await self._load(
                    [k for it in items if not it.skip and it.reason is None for k in it.needs],
                    partition,
                    carried,
                )
                carried = {}  # used once: a retry (conflict, fence, outage) reads afresh
                t1 = time.perf_counter()
                plan, planned = self._plan(items, snapshot, partition, within)
                t2 = time.perf_counter()
                result = await self.store.commit(plan)
                if result.status in ("OK", "ALREADY") and self.wait_replicas > 0:
                    # outputs leave only once a replica holds their commit: a failover then
                    # loses no commit whose outputs anyone has seen (docs/CAPACITY.md)
                    await self._replicated(plan)
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
                # LOADING/BUSY after a restart, CLUSTERDOWN/MOVED during a failover, or a
                # refused script: never skip the batch. A fault that persists holds the
                # partition (visible as lag and in the log) instead of losing records.
                if plan is not None:
                    self.relay.return_trims(dict(plan.trims))
                if self.stopping:
                    return
                self.metrics.commit_retries.labels(self.sub.name, "redis_error").inc()
                if not any(w in str(exc) for w in ("LOADING", "BUSY", "CLUSTERDOWN", "MOVED")):
                    log.error("batch commit refused by Redis, retrying: %s", exc)
                await asyncio.sleep(delay + random.random() * delay)
                delay = min(delay * 2, 5.0)
                continue
            if result.status in ("OK", "ALREADY"):
                done, items = items[: planned.count], items[planned.count :]
                self._committed(done, plan, planned.entries, planned.updates, partition)
                t0 = time.perf_counter()
                await self.relay.submit(planned.entries)
                self._phase["handover"].inc(time.perf_counter() - t0)
                if items:  # the rest of the batch: its outputs were too many for one commit
                    self.metrics.batch_parts.labels(self.sub.name).inc()
                    # what the part did not write is as it was read: not read and decoded again
                    carried = {
                        name: value
                        for name, value in snapshot.items()
                        if name not in planned.written and value[0] >= 0  # counters: fresh
                    }
                delay = 0.05
                continue
            self.relay.return_trims(dict(plan.trims))
            self.metrics.commit_retries.labels(self.sub.name, result.status.lower()).inc()
            if result.status == "DUPLICATE":
                stored = dict(zip(result.items[::2], result.items[1::2], strict=True))
                for it in items:
                    if it.skip or it.reason is not None or not self.sub.trust_event_ids:
                        continue
                    fingerprint = stored.get(self.store.mark_key(it.event_id, partition))
                    if fingerprint is not None:
                        self._seen_before(it, fingerprint)
            elif result.status == "CONFLICT":
                head = self.store.state_prefix(partition)
                self.cache.drop(self._cached(partition, k.removeprefix(head)) for k in result.items)
            elif result.status == "FENCED":
                items = await self._refence(items)
            else:  # pragma: no cover - the script returns nothing else
                raise RuntimeError(f"unexpected commit result {result}")

    async def _replicated(self, plan: CommitPlan) -> None:
        """WAIT for the configured replicas; a commit they did not all take in time is said
        (metric and log) and its outputs go on: holding them would stop the service whenever a
        replica is away, and a master without its replica has none to fail over to."""
        got = await self.store.replicated(plan, self.wait_replicas, self.wait_timeout_ms)
        if got < self.wait_replicas:
            self.metrics.unreplicated.labels(self.sub.name).inc()
            log.warning(
                "a commit reached %s of %s replicas within %s ms; its outputs go on",
                got,
                self.wait_replicas,
                self.wait_timeout_ms,
                extra={"subscription": self.sub.name},
            )

    def _pending(self, it: Item) -> bool:
        """Whether the item's record is still after its partition's committed position."""
        off = self.next_offset.get(it.tp)
        return off is None or it.record.offset >= off

    @staticmethod
    def _seen_before(it: Item, fingerprint: str) -> None:
        if fingerprint == it.fingerprint:
            it.skip = "duplicate"
        else:
            it.reason = R_ID_CONFLICT
            it.detail = f"id {it.event_id} was already used for a different body"

    async def _refence(self, items: list[Item]) -> list[Item]:
        """Another consumer moved a partition on: adopt its position, drop what it processed."""
        kept, stale = await self.partitions.refence(items)
        self.cache.clear()
        if stale:
            self._m_records["stale"].inc(stale)
        return kept

    def _cached(self, partition: int, name: str) -> str:
        """A name in the cache: state of two slots never meets in it."""
        return f"{partition}|{name}" if self.store.layout.partitioned else name

    async def _load(
        self,
        keys: list[StateKey[Any]],
        partition: int = 0,
        carried: dict[str, tuple[int, StateModel | None]] | None = None,
    ) -> dict[str, tuple[int, StateModel | None]]:
        """The batch's snapshot of every declared key: what `carried` holds (read for this
        batch's earlier part, and not written since), cache hits, misses in one round trip."""
        snapshot: dict[str, tuple[int, StateModel | None]] = {}
        missing: dict[str, StateKey[Any]] = {}
        for k in keys:
            name = k.name
            if name in snapshot or name in missing:
                continue
            hit = carried.get(name) if carried else None
            if hit is None:
                hit = self.cache.get(self._cached(partition, name))
            if hit is None:
                missing[name] = k
            else:
                snapshot[name] = hit
        if missing:
            # counters: a fresh snapshot every batch, never cached, never version-checked
            for name, (version, value) in (await self.store.snapshot(missing, partition)).items():
                snapshot[name] = (version, value)
                if version >= 0 and missing[name].entity.cached:
                    self.cache.put(self._cached(partition, name), version, value)
        return snapshot

    def _plan(
        self,
        items: list[Item],
        snapshot: dict[str, tuple[int, StateModel | None]],
        partition: int,
        within: str,
    ) -> tuple[CommitPlan, Planned]:
        """The commit of the first items (all of them, unless their outputs outgrew
        `commit_max_output_bytes`: `Planned.count` says how many)."""
        planned = self.planner.plan(items, snapshot, partition)
        plan = planned.plan
        plan.offsets = self.partitions.fence(planned.last_offsets)
        plan.trims = list(self.relay.take_trims(within).items())
        return plan, planned

    def _committed(
        self,
        items: list[Item],
        plan: CommitPlan,
        entries: list[OutboxEntry],
        updates: dict[str, tuple[int, StateModel | None]],
        partition: int,
    ) -> None:
        self.partitions.committed(plan.offsets)
        for name, (version, value) in updates.items():
            self.cache.put(self._cached(partition, name), version, value)
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


__all__ = ["CommitResult", "Processor", "StateCache", "UndeclaredState"]
