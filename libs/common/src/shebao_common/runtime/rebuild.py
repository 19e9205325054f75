"""Rebuild a service's state from the log of record, without deciding anything again.

A service whose Redis is lost (or wiped) must not read its inputs from offset 0 and decide again:
other services' events and its own commands interleave differently on a replay, so it would
answer partners a second time, with different amounts. Its published topics are the record of
what it decided, and the rebuild reads them:

- every event a service publishes names the record that decided it (the `shebao-from` header:
  subscription, topic, partition, offset, fingerprint): so each subscription's position is just
  after the last record whose decision was published, and its dedupe marks are the causes of
  what it published; once every state is rebuilt, the position moves on over the records after
  it that decide nothing against that state (applied as the service would apply them again), up
  to the first that would publish (`past_undecided`). The marks of records that decided nothing
  before a published decision are not restored: a subscription whose records often decide
  nothing is better not deduplicated by event id;
- a subscription that decides (`Subscription.rebuild` is a `FromDecisions`) gets its state by
  folding the decisions on its log topics with its fold table, handlers like any other that
  must emit nothing;
- a subscription that only projects other services' events into state (`rebuild` None) emits
  nothing, so reading its inputs again from the start decides nothing: it is replayed to the
  end of its topics.

Nothing is published and no consumer group is touched; the state, counters, offsets and marks
are written to the service's (empty) Redis keyspace, and the service then starts as usual, going
on from where its published decisions end. Run it with the service stopped:
`python -m <service package> rebuild [--wipe]`.

State is held in memory by key while a topic is read, and written out in chunks, so a rebuild
needs memory for `FLUSH_KEYS` values, not for the whole state. Dedupe marks are restored only
for records still within their subscription's TTL, each with the time it had left.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shebao_contracts.envelope import H_CAUSATION, EnvelopeError, read_headers
from shebao_contracts.topics import Topic, dlq_name

from ..domain import Counters
from .apply import Slot, decide, open_slots
from .codec import H_FROM, Decoder, Item
from .model import Emit, FromDecisions, HandlerTable, StateModel, Subscription
from .store import OutboxEntry, Store

log = logging.getLogger("shebao.rebuild")

FLUSH_KEYS = 50_000
"""Values held in memory before the changed ones are written out (and read back when needed)."""
BATCH = 1000
SEEN_IDS = 1_000_000
"""Event ids remembered while a topic is folded, to drop a republished record: a relay's resend
follows its original closely, so a window this long holds both."""
TP = tuple[str, int]


class RebuildError(RuntimeError):
    """The rebuild cannot go on: said in words, nothing half-written is left unexplained."""


@dataclass
class Found:
    """What the service's published topics say about one subscription."""

    positions: dict[TP, int] = field(default_factory=dict)
    """Each input partition's last offset whose decision was published."""
    marks: dict[str, tuple[str, int]] = field(default_factory=dict)
    """Event id of each cause → its body fingerprint and when it was decided (ms), for the
    causes still within the dedupe TTL (trusted subscriptions only)."""
    refused: dict[TP, int] = field(default_factory=dict)
    """Each input partition's last offset whose record was dead-lettered."""


@dataclass
class Report:
    """What a rebuild did, for the operator and for tests."""

    published_read: int = 0
    folded: dict[str, int] = field(default_factory=dict)
    """Records each subscription folded or replayed."""
    keys_written: int = 0
    offsets: dict[str, dict[str, int]] = field(default_factory=dict)
    seconds: float = 0.0


def _no_emit(emit: Emit) -> None:
    raise RebuildError(
        f"a rebuild handler emitted {emit.message.TYPE} to {emit.topic}: a fold or a projection "
        "must emit nothing (a subscription that decides needs a FromDecisions fold); the "
        "keyspace may hold part of the rebuild: mend the service and run it again with --wipe"
    )


def _no_encode(i: int, emit: Emit) -> OutboxEntry:  # never reached: _no_emit raises first
    raise AssertionError


class _Decides(Exception):
    """A record read past the published decisions would publish: the service's to decide."""


def _decides(emit: Emit) -> None:
    raise _Decides


class _Topics:
    """Concrete topic names on the broker, and which subscription reads each."""

    def __init__(self, names: Iterable[str], subscriptions: Sequence[Subscription]) -> None:
        self.names = set(names)
        self.subscriptions = subscriptions

    def concrete(self, topics: Iterable[Topic]) -> list[str]:
        out = []
        for t in topics:
            if t.is_template:
                out.extend(sorted(n for n in self.names if t.match(n) is not None))
            elif t.name in self.names:
                out.append(t.name)
        return out

    def reader(self, topic: str) -> Subscription | None:
        return next(
            (s for s in self.subscriptions if any(t.match(topic) is not None for t in s.topics)),
            None,
        )


class Rebuild:
    def __init__(
        self,
        *,
        service: str,
        bootstrap: str,
        store: Store,
        registry: Any,
        subscriptions: Sequence[Subscription],
        produces: Sequence[Topic],
        env: Any,
        max_record_bytes: int,
        dedupe_ttl: int,
    ) -> None:
        self.service = service
        self.bootstrap = bootstrap
        self.store = store
        self.registry = registry
        self.subscriptions = list(subscriptions)
        self.produces = list(produces)
        self.env = env
        self.max_record_bytes = max_record_bytes
        self.dedupe_ttl = dedupe_ttl
        self.working: dict[str, Slot] = {}
        self.counts: dict[tuple[str, str], int] = {}
        self.report = Report()
        self.partitions: dict[str, list[int]] = {}
        """Every topic on the broker and its partitions, as found when the rebuild starts."""

    def _ttl(self, sub: str) -> int:
        found = next((s for s in self.subscriptions if s.name == sub), None)
        return (found.dedupe_ttl if found else None) or self.dedupe_ttl

    def _marks_from(self, sub: str) -> int:
        """The earliest record time (ms) whose dedupe mark would still be kept: marks expire
        after the subscription's TTL, and a rebuild restores only those the service still had
        (not one per decision since the log began)."""
        return int((time.time() - self._ttl(sub)) * 1000)

    # the keyspace -----------------------------------------------------------------------------

    async def existing_keys(self) -> int:
        n = 0
        async for _ in self.store.client.scan_iter(match=f"{self.store.prefix}:*", count=1000):
            n += 1
        return n

    async def wipe(self) -> int:
        n = 0
        batch: list[bytes] = []
        async for k in self.store.client.scan_iter(match=f"{self.store.prefix}:*", count=1000):
            batch.append(k)
            if len(batch) >= 1000:
                n += await self.store.client.delete(*batch)
                batch = []
        if batch:
            n += await self.store.client.delete(*batch)
        return n

    # Kafka ------------------------------------------------------------------------------------

    async def _find_partitions(self) -> None:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self.bootstrap, client_id=f"shebao-{self.service}-rebuild"
        )
        await admin.start()
        try:
            for t in await admin.describe_topics():
                name = t.get("topic") or t.get("name")
                if name and not t.get("is_internal"):
                    self.partitions[name] = sorted(p["partition"] for p in t["partitions"])
        finally:
            await admin.close()

    async def _consumer(self) -> AIOKafkaConsumer:
        c = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            enable_auto_commit=False,
            group_id=None,
            client_id=f"shebao-{self.service}-rebuild",
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )
        await c.start()
        return c

    async def _bounds(
        self, consumer: AIOKafkaConsumer, topics: Sequence[str], start: Mapping[TP, int] | None
    ) -> dict[TopicPartition, tuple[int, int]]:
        """Each partition of `topics` that holds records after its start (`start`, else its
        beginning) and before its end as found now: (from, end). Two requests for them all."""
        tps = [TopicPartition(t, p) for t in topics for p in self.partitions.get(t, [])]
        if not tps:
            return {}
        # assigned first: the client asks for offsets only of topics it holds metadata for (an
        # unknown one waits out the request timeout)
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        begins = await consumer.beginning_offsets(tps)
        out = {}
        for tp in tps:
            first = max(begins[tp], (start or {}).get((tp.topic, tp.partition), begins[tp]))
            if first < ends[tp]:
                out[tp] = (first, ends[tp])
        return out

    async def _read(
        self,
        consumer: AIOKafkaConsumer,
        topics: Sequence[str],
        start: Mapping[TP, int] | None = None,
    ) -> Any:  # AsyncIterator[list[ConsumerRecord]]
        """The records of `topics` from `start` (else the beginning) up to their ends as found
        now, each partition's in its order (what a fold relies on; partitions interleave)."""
        todo = await self._bounds(consumer, topics, start)
        if not todo:
            return
        consumer.assign(list(todo))
        for tp, (first, _) in todo.items():
            consumer.seek(tp, first)
        while todo:
            got = await consumer.getmany(*todo, timeout_ms=1000, max_records=BATCH)
            records = [r for tp, rs in got.items() for r in rs if r.offset < todo[tp][1]]
            if records:
                yield records
            for tp in [tp for tp in todo if await consumer.position(tp) >= todo[tp][1]]:
                del todo[tp]
                consumer.pause(tp)

    # the published decisions -------------------------------------------------------------------

    async def scan(self, consumer: AIOKafkaConsumer, topics: _Topics) -> dict[str, Found]:
        """Where each subscription's published decisions end, and what they had applied."""
        found = {s.name: Found() for s in self.subscriptions}
        published = self.produces
        consumed = [t for s in self.subscriptions for t in s.topics]
        names = topics.concrete(published)
        names += [dlq_name(n) for n in topics.concrete(consumed) if dlq_name(n) in topics.names]
        async for records in self._read(consumer, sorted(set(names))):
            for r in records:
                self.report.published_read += 1
                try:
                    headers = read_headers(r.headers or [])
                except EnvelopeError:
                    continue  # not one of ours: a service writes valid headers
                origin = headers.get(H_FROM)
                if origin is not None:
                    sub, topic, part, off, fp = origin.split("|")
                    if sub in found:
                        f = found[sub]
                        key = (topic, int(part))
                        f.positions[key] = max(f.positions.get(key, -1), int(off))
                        cause = headers.get(H_CAUSATION)
                        if cause and fp and r.timestamp >= self._marks_from(sub):
                            f.marks[cause] = (fp, r.timestamp)
                elif "dlq-topic" in headers and headers.get("dlq-service") == self.service:
                    # a dead letter: its record was decided (refused) too
                    reader = topics.reader(headers["dlq-topic"])
                    if reader is not None:
                        f = found[reader.name]
                        key = (headers["dlq-topic"], int(headers["dlq-partition"]))
                        f.refused[key] = max(f.refused.get(key, -1), int(headers["dlq-offset"]))
        return found

    async def past_undecided(
        self,
        consumer: AIOKafkaConsumer,
        sub: Subscription,
        topics: Sequence[str],
        start: dict[TP, int],
        marks: dict[str, tuple[str, int]] | None,
    ) -> dict[TP, int]:
        """Each partition's position moved on over the records after `start` that decide nothing
        now: those the subscription has no handler for, and those whose handler, run against the
        rebuilt state, publishes nothing (their writes, counters and marks kept, as the service
        would keep them reading them again); up to the first that would publish: that one, and
        all after it, it had not decided yet. Run once every state is rebuilt.

        A subscription whose records mostly decide nothing (a hire, for a service that stops a
        benefit on re-employment) then goes on where it was, not after its last published
        decision. Sound only if a record that decided nothing decides nothing again against the
        state as rebuilt: the service's rules must make it so (by the records' dates)."""
        out = dict(start)
        stopped: set[TP] = set()
        decoder = Decoder(
            self.registry,
            sub.handlers,
            trust_event_ids=sub.trust_event_ids,
            max_record_bytes=self.max_record_bytes,
            env=self.env,
        )
        since = self._marks_from(sub.name)
        async for records in self._read(consumer, topics, start):
            decoded = [decoder.decode(r) for r in records]
            handled = [it for it in decoded if it.skip is None and it.reason is None]
            snapshot = await self._snapshot(handled)
            for it in decoded:  # each partition's records in their order
                tp = it.tp
                if tp in stopped:
                    continue
                if it.skip is not None:
                    out[tp] = it.record.offset + 1  # of no interest: consumed deciding nothing
                    continue
                seen = marks.get(it.event_id) if marks is not None else None
                if it.reason is None and seen is not None and seen[0] == it.fingerprint:
                    out[tp] = it.record.offset + 1  # a resend of what was decided: a duplicate
                    continue
                if it.reason is not None or it.handler is None or seen is not None:
                    stopped.add(tp)  # refused or decided when read: not decided yet
                    continue
                assert it.ctx is not None and it.message is not None
                names = open_slots(it.needs, self.working, snapshot)
                try:
                    decision, _ = decide(
                        it.handler, it.message, it.ctx, names, self.working, _decides, _no_encode
                    )
                except _Decides:
                    stopped.add(tp)  # it publishes: the service's to decide (nothing written)
                    continue
                for inc in decision.increments:
                    key = (inc.counter, inc.field)
                    self.counts[key] = self.counts.get(key, 0) + inc.by
                if marks is not None and it.record.timestamp >= since:
                    marks[it.event_id] = (it.fingerprint, it.record.timestamp)
                out[tp] = it.record.offset + 1
            if len(self.working) >= FLUSH_KEYS:
                await self.flush()
        return out

    # folding ----------------------------------------------------------------------------------

    async def _snapshot(self, items: list[Item]) -> dict[str, tuple[int, StateModel | None]]:
        """The batch's keys not in the working state, as stored; counter sets with what this
        rebuild has counted and not written out yet."""
        missing = {k.name: k for it in items for k in it.needs if k.name not in self.working}
        snapshot = await self.store.snapshot(missing)
        for name, (version, value) in snapshot.items():
            if version < 0 and isinstance(value, Counters):
                mine = {f: by for (c, f), by in self.counts.items() if c == name}
                values = {
                    f: value.values.get(f, 0) + mine.get(f, 0) for f in {*value.values, *mine}
                }
                snapshot[name] = (-1, Counters(values=values))
        return snapshot

    async def fold(
        self,
        consumer: AIOKafkaConsumer,
        name: str,
        table: HandlerTable[Any],
        topics: Sequence[str],
        trusted: bool,
        marks: dict[str, tuple[str, int]] | None,
    ) -> dict[TP, int]:
        """Run `table`'s handlers over `topics` as they stand, keeping what they write; each
        event once (a producer's resend carries the same id). The positions read to."""
        decoder = Decoder(
            self.registry,
            table,
            trust_event_ids=True,
            max_record_bytes=self.max_record_bytes,
            env=self.env,
        )
        seen: OrderedDict[str, None] = OrderedDict()
        since = self._marks_from(name)
        ends: dict[TP, int] = {}
        n = 0
        async for records in self._read(consumer, topics):
            items = []
            for r in records:
                ends[(r.topic, r.partition)] = r.offset
                it = decoder.decode(r)
                if it.reason is not None or it.skip is not None or it.handler is None:
                    continue  # refused (dead-lettered) or not of interest when first read
                if not trusted:
                    it.event_id = f"{r.topic}/{r.partition}/{r.offset}"
                if it.event_id in seen:
                    continue
                seen[it.event_id] = None
                if len(seen) > SEEN_IDS:
                    seen.popitem(last=False)
                items.append(it)
            snapshot = await self._snapshot(items)
            for it in items:
                assert it.handler is not None and it.ctx is not None and it.message is not None
                names = open_slots(it.needs, self.working, snapshot)
                decision, _ = decide(
                    it.handler, it.message, it.ctx, names, self.working, _no_emit, _no_encode
                )
                for inc in decision.increments:
                    key = (inc.counter, inc.field)
                    self.counts[key] = self.counts.get(key, 0) + inc.by
                if marks is not None and trusted and it.record.timestamp >= since:
                    marks[it.event_id] = (it.fingerprint, it.record.timestamp)
                n += 1
            if len(self.working) >= FLUSH_KEYS:
                await self.flush()
        self.report.folded[name] = self.report.folded.get(name, 0) + n
        return ends

    async def flush(self) -> None:
        """Write the dirty values out and forget them; counters too."""
        pipe = self.store.client.pipeline(transaction=False)
        n = 0
        for name, slot in self.working.items():
            if not slot.dirty or slot.version < 0:
                continue
            key = self.store.state_key(name)
            if slot.value is None:
                pipe.set(key, f"{slot.version + 1}|", ex=self.dedupe_ttl)
            else:
                data = slot.value.model_dump_json().encode()
                pipe.set(key, f"{slot.version + 1}|".encode() + data)
            n += 1
        for (counter, f), by in self.counts.items():
            pipe.hincrby(self.store.counter_key(counter), f, by)
        await pipe.execute()
        self.report.keys_written += n
        self.working.clear()
        self.counts.clear()

    # the whole of it --------------------------------------------------------------------------

    async def run(self, *, wipe: bool = False) -> Report:
        started = time.monotonic()
        await self._find_partitions()
        consumer = await self._consumer()
        try:
            topics = _Topics(self.partitions, self.subscriptions)
            found = await self.scan(consumer, topics)
            # refused before anything is wiped or written
            for sub in self.subscriptions:
                if sub.rebuild is None and found[sub.name].positions:
                    raise RebuildError(
                        f"{self.service}: subscription {sub.name!r} published decisions but "
                        "declares no log of record (Subscription.rebuild=FromDecisions(...)): "
                        "reading its inputs again would decide again; nothing was changed"
                    )
            if wipe:
                log.info("wiping the service's keys", extra={"keys": await self.wipe()})
            elif (n := await self.existing_keys()) > 0:
                raise RebuildError(
                    f"{self.service}: {n} keys under {self.store.prefix}: a rebuild writes into "
                    "an empty keyspace; stop the service and delete them first (or pass --wipe)"
                )
            offsets: dict[str, dict[TP, int]] = {}
            marks: dict[str, dict[str, tuple[str, int]]] = {}
            starts: dict[str, dict[TP, int]] = {}
            for sub in self.subscriptions:
                f = found[sub.name]
                how = sub.rebuild
                if isinstance(how, FromDecisions):
                    if how.fold is not None:
                        await self.fold(
                            consumer, sub.name, how.fold, topics.concrete(how.log), True, None
                        )
                    last = dict(f.refused)
                    for tp, off in f.positions.items():
                        last[tp] = max(last.get(tp, -1), off)
                    starts[sub.name] = {tp: off + 1 for tp, off in last.items()}
                    if sub.trust_event_ids:
                        marks[sub.name] = f.marks
                else:
                    got: dict[str, tuple[str, int]] = {}
                    ends = await self.fold(
                        consumer,
                        sub.name,
                        sub.handlers,
                        topics.concrete(sub.topics),
                        sub.trust_event_ids,
                        got,
                    )
                    offsets[sub.name] = {tp: off + 1 for tp, off in ends.items()}
                    marks[sub.name] = got
            # every state rebuilt: where each deciding subscription goes on
            for sub in self.subscriptions:
                if sub.name in starts:
                    offsets[sub.name] = await self.past_undecided(
                        consumer,
                        sub,
                        topics.concrete(sub.topics),
                        starts[sub.name],
                        marks.get(sub.name),
                    )
            await self.flush()
            await self._finish(offsets, marks)
        finally:
            await consumer.stop()
        self.report.seconds = time.monotonic() - started
        self.report.offsets = {
            s: {f"{t}:{p}": o for (t, p), o in sorted(offs.items())} for s, offs in offsets.items()
        }
        return self.report

    async def _finish(
        self,
        offsets: Mapping[str, dict[TP, int]],
        marks: Mapping[str, dict[str, tuple[str, int]]],
    ) -> None:
        pipe = self.store.client.pipeline(transaction=False)
        for sub, offs in offsets.items():
            if offs:
                pipe.hset(
                    self.store.offsets_key(sub),
                    mapping={f"{t}:{p}": str(o) for (t, p), o in offs.items()},
                )
        now_ms = int(time.time() * 1000)
        for sub, got in marks.items():
            ttl = self._ttl(sub)
            for eid, (fp, at) in got.items():
                left = ttl - (now_ms - at) // 1000  # what the mark had left when it was lost
                if left > 0:
                    pipe.set(self.store.mark_key(eid), fp, ex=left)
        await pipe.execute()


async def rebuild(runtime: Any, *, wipe: bool = False) -> Report:
    """Rebuild `runtime`'s service (a `ServiceRuntime`, not started) from its log of record."""
    import redis.asyncio as aioredis

    s = runtime.settings
    client = aioredis.Redis.from_url(s.redis_url)
    try:
        job = Rebuild(
            service=runtime.name,
            bootstrap=s.kafka_bootstrap_servers,
            store=Store(client, runtime.name),
            registry=runtime.registry,
            subscriptions=runtime.every_subscription,
            produces=runtime.produces,
            env=runtime.env,
            max_record_bytes=s.max_record_bytes,
            dedupe_ttl=s.dedupe_ttl_seconds,
        )
        return await job.run(wipe=wipe)
    finally:
        await client.aclose()


def main(runtime: Any, argv: Sequence[str]) -> int:
    """`<service> rebuild [--wipe]`: print what was rebuilt; a refusal in words, exit 2."""
    import json
    import sys

    wipe = "--wipe" in argv
    try:
        report = asyncio.run(rebuild(runtime, wipe=wipe))
    except RebuildError as exc:
        print(f"rebuild refused: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(cast(Any, report).__dict__, indent=2, default=str))
    return 0
