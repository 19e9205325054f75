"""Rebuild a service's state from the log of record, without deciding anything again.

A service whose Redis is lost (or wiped) must not read its inputs from offset 0 and decide again:
other services' events and its own commands interleave differently on a replay, so it would
answer partners a second time, with different amounts. Its published topics are the record of
what it decided, and the rebuild reads them:

- every event a service publishes names the record that decided it (the `shebao-from` header:
  subscription, topic, partition, offset, fingerprint), and every dead letter the record it
  refused: so each subscription has decided at least up to just after the last of them;
- a subscription that decides (`Subscription.rebuild` is a `FromDecisions`) gets its state by
  folding the decisions on its log topics with its fold table, handlers like any other that
  must emit nothing;
- a subscription that only projects other services' events into state (`rebuild` None) emits
  nothing, so reading its inputs again from the start decides nothing: it is replayed to the
  end of its topics, as its live processor read them (its decoder, its duplicates, the records
  it dead-lettered passed over).

Once every fold and replay is done, the state is complete, and each deciding subscription rolls
forward from its last published decision: its live handlers run on the records after it, against
the rebuilt state. A record whose handler emits nothing is taken as read: its writes and counts
are kept, its mark restored, the partition's position moves past it (so do a record it has no
handler for and a duplicate of a marked event). The first record that would publish something
stops its partition, with nothing written for it: a handler that would emit or fail, a record
the decoder refuses, an id marked for another body (the live service would answer those with a
dead letter, and had not: the dead letters found are all before the position). That record is
decided live on resume. This is the module's own rule at work: a record that decided nothing
decides nothing again against the rebuilt state, since rules depend on event dates, never on
arrival; and a record that would decide now although it published nothing originally shows the
rebuilt state differs from what it met (a silent write before the last published decision, which
no fold can know), so it is left to the live service rather than taken silently.

Dedupe marks are those the live processor wrote: one per record it applied (decoded, handled,
not dead-lettered; the first of an event id, a resend of it being a duplicate), with the
decoder's fingerprint, on trusted subscriptions only, for records still within the TTL, each with
the time it had left. A deciding subscription's are read from its inputs, from the TTL window's
start (`offsets_for_times`) to its position, with the causes of its publications still within
the TTL whose records the broker no longer holds.

Every value goes where the live processor would have written it. In a one-slot layout that is
the service's one slot. In a partitioned layout (`store.Layout`, one slot per input partition):

- a record read from a subscription's own inputs (a projection's replay, the marks before the
  position, the roll forward) belongs to its input partition; a record of a log of record to the
  input partition whose record decided it, named in its `shebao-from` header (the log topic may
  be keyed otherwise) unless the keys it declares all name one owner (`Entity.owner`: then that
  owner's, where the live service wrote them), or, decided by another subscription of the
  service, to the owner of the keys it declares: a log record the fold applies that names
  neither is refused;
- each key a handler declares is read and written in its partition's slot, except a key another
  partition owns (`Entity.owner`, `Layout.home`): that one is read-only for the record (version
  -1, a write refused, as live), read as its owner's working state holds it now, else from its
  owner's slot; a fold meets the others' writes in the order of its log partition (across log
  partitions, in the order the broker hands them over);
- dedupe marks, counters and offsets go to the slot of the record's partition (a publication's
  cause: the partition it was read from); a handler reading a counter set sees the sum over
  every slot, with what the rebuild has counted and not written yet;
- input topics of another partition count than the layout's are refused before anything is
  wiped, and a record of a partition the layout has no slot for is refused in words.

A decision belongs to the partition that decided it: this serves a lost keyspace, or a move from
one slot to partitions, with the partition count the decisions were made with. After a change of
the input topics' count many keys belong to another partition than the one that decided them,
and the state would land in slots their new owners never read: not supported yet
(docs/CAPACITY.md#changing-partition-counts).

Nothing is published and no consumer group is touched; the state, counters, offsets and marks
are written to the service's (empty) Redis keyspace, and the service then starts as usual, going
on from where its published decisions, and the quiet records after them, end. Run it with the
service stopped: `python -m <service package> rebuild [--wipe]`.

State is held in memory by key while a topic is read, and written out in chunks, so a rebuild
needs memory for `FLUSH_KEYS` values, not for the whole state (and for the ids of the records
dead-lettered, and the marks within the TTL).
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
from ..kafka_security import client_options
from . import compiled
from .apply import Slot, decide, open_slots
from .codec import H_FROM, Decoder, Item
from .model import Decision, Emit, FromDecisions, HandlerTable, StateModel, Subscription
from .store import OutboxEntry, Store, default_partition

log = logging.getLogger("shebao.rebuild")

FLUSH_KEYS = 50_000
"""Values held in memory before the changed ones are written out (and read back when needed)."""
BATCH = 1000
SEEN_IDS = 1_000_000
"""Event ids remembered while a topic is folded, to drop a republished record: a relay's resend
follows its original closely, so a window this long holds both."""
TP = tuple[str, int]
At = tuple[str, int, int]
"""A record: topic, partition, offset."""
Marks = dict[tuple[int, str], tuple[str, int]]
"""(partition, event id) → body fingerprint and when it was applied (ms): the dedupe marks to
restore, each in the slot of the input partition whose record it marks (partition 0 in a
one-slot layout, which has one slot for them all)."""
Snapshot = dict[str, tuple[int, StateModel | None]]


class RebuildError(RuntimeError):
    """The rebuild cannot go on: said in words, nothing half-written is left unexplained."""


@dataclass
class Found:
    """What the service's published topics say about one subscription."""

    positions: dict[TP, int] = field(default_factory=dict)
    """Each input partition's last offset whose decision was published."""
    causes: dict[str, list[tuple[str, int, At]]] = field(default_factory=dict)
    """Event id of each cause → for each publication naming it (still within the dedupe TTL):
    its body fingerprint, when it was published (ms) and where the cause was read. An id can be
    named by a decision and, later, by the refusal of another record that reused it."""
    refused: dict[TP, int] = field(default_factory=dict)
    """Each input partition's last offset whose record was dead-lettered."""
    dead: set[At] = field(default_factory=set)
    """Every input record that was dead-lettered: the live service applied it not, marked it
    not (a handler that failed on it, an id reused for another body, an unreadable record)."""


@dataclass
class Report:
    """What a rebuild did, for the operator and for tests."""

    published_read: int = 0
    folded: dict[str, int] = field(default_factory=dict)
    """Records each subscription folded or replayed."""
    rolled: dict[str, int] = field(default_factory=dict)
    """Records each deciding subscription took as read after its last published decision,
    their handlers deciding nothing against the rebuilt state."""
    stopped: dict[str, dict[str, int]] = field(default_factory=dict)
    """Each deciding subscription's partitions that stop before a record that would decide
    something now (`<topic>:<partition>` → its offset): the service decides it on resume."""
    keys_written: int = 0
    offsets: dict[str, dict[str, int]] = field(default_factory=dict)
    seconds: float = 0.0


def _no_emit(emit: Emit) -> None:
    raise RebuildError(
        f"a rebuild handler emitted {emit.message.TYPE} to {emit.topic}: a fold or a projection "
        "must emit nothing (a subscription that decides needs a FromDecisions fold); the "
        "keyspace may hold part of the rebuild: mend the service and run it again with --wipe"
    )


class _WouldEmit(Exception):
    """A live handler would publish something for this record: it decides, so a rebuild stops."""


def _would_emit(emit: Emit) -> None:
    raise _WouldEmit(f"{emit.message.TYPE} to {emit.topic}")


def _no_encode(i: int, emit: Emit) -> OutboxEntry:  # never reached: the check raises first
    raise AssertionError


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
        self.working: dict[int, dict[str, Slot]] = {}
        """The state held in memory, by the partition whose slot holds it, then by name (one
        partition, 0, in a one-slot layout); a value another partition owns, read-only there,
        has version -1 and is forgotten after its batch, as counter sets are."""
        self.counts: dict[tuple[int, str, str], int] = {}
        """What was counted and not written out yet: (partition, counter, field) → by."""
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
        """Keys of the service's state (the record of its layout is not state)."""
        n = 0
        async for k in self.store.scan(f"{self.store.prefix}:*"):
            n += k != self.store.layout_key
        return n

    async def wipe(self) -> int:
        """Delete every key of the service, 1,000 at a time (a cluster client sends each key to
        its slot's node: redis-py's `RedisCluster.delete` splits the keys by slot)."""
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
            **client_options(bootstrap=self.bootstrap), client_id=f"shebao-{self.service}-rebuild"
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
            **client_options(bootstrap=self.bootstrap),
            enable_auto_commit=False,
            group_id=None,
            client_id=f"shebao-{self.service}-rebuild",
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )
        await c.start()
        return c

    async def _bounds(
        self,
        consumer: AIOKafkaConsumer,
        topics: Sequence[str],
        start: Mapping[TP, int] | None,
        until: Mapping[TP, int] | None = None,
        since_ms: int | None = None,
    ) -> dict[TopicPartition, tuple[int, int]]:
        """Each partition of `topics` that holds records after its start and before its end:
        (from, end). The start is `start`'s, else the first record at or after `since_ms`, else
        the partition's beginning; the end is `until`'s (a partition not in it: none read) else
        the end as found now. A few requests for them all."""
        tps = [TopicPartition(t, p) for t in topics for p in self.partitions.get(t, [])]
        if not tps:
            return {}
        # assigned first: the client asks for offsets only of topics it holds metadata for (an
        # unknown one waits out the request timeout)
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        begins = await consumer.beginning_offsets(tps)
        if since_ms is not None:
            at = await consumer.offsets_for_times({tp: since_ms for tp in tps})
            begins = {tp: ends[tp] if at[tp] is None else at[tp].offset for tp in tps}
        out = {}
        for tp in tps:
            key = (tp.topic, tp.partition)
            first = max(begins[tp], (start or {}).get(key, begins[tp]))
            end = ends[tp] if until is None else min(ends[tp], until.get(key, 0))
            if first < end:
                out[tp] = (first, end)
        return out

    async def _read(
        self,
        consumer: AIOKafkaConsumer,
        topics: Sequence[str],
        start: Mapping[TP, int] | None = None,
        until: Mapping[TP, int] | None = None,
        since_ms: int | None = None,
    ) -> Any:  # AsyncIterator[list[ConsumerRecord]]
        """The records of `topics` between their bounds (`_bounds`), each partition's in its
        order (what a fold relies on; partitions interleave)."""
        todo = await self._bounds(consumer, topics, start, until, since_ms)
        if not todo:
            return
        consumer.assign(list(todo))
        for tp, (first, _) in todo.items():
            consumer.seek(tp, first)
        while todo:
            got = await consumer.getmany(*todo, timeout_ms=1000, max_records=BATCH)
            records = [
                r for tp, rs in got.items() if tp in todo for r in rs if r.offset < todo[tp][1]
            ]
            if records:
                yield records
            for tp in [tp for tp in todo if await consumer.position(tp) >= todo[tp][1]]:
                del todo[tp]
                consumer.pause(tp)

    def _check_partitions(self, topics: _Topics) -> None:
        """Refuse, before anything is wiped or written, a partitioned layout the inputs do not
        fit: a topic the service names with another partition count than the layout's (as the
        live service refuses it), or any input with more (its records would have no slot). A
        log of record may have any count: its records go to the partitions that decided them."""
        n = self.store.layout.partitions
        if n is None:
            return
        wrong = sorted(
            {
                f"{name} has {len(self.partitions.get(name, []))}"
                for sub in self.subscriptions
                for t in sub.topics
                for name in topics.concrete([t])
                if len(self.partitions.get(name, [])) > n
                or (not t.is_template and len(self.partitions.get(name, [])) != n)
            }
        )
        if wrong:
            raise RebuildError(
                f"{self.service}: its state is laid out for {n} partitions "
                f"(SHEBAO_TOPIC_PARTITIONS) and {', '.join(wrong)}: rebuild with the topics' "
                "partition count (docs/CAPACITY.md#changing-partition-counts); nothing was changed"
            )

    async def _check_count_unchanged(
        self, consumer: AIOKafkaConsumer, topics: _Topics, found: Mapping[str, Found]
    ) -> None:
        """Refuse, before anything is wiped or written, to rebuild a partitioned layout from
        decisions made with another partition count: the first record of each partition of the
        service's own input topics (not a partner's template topic, whose producers may
        partition otherwise, as the live service's check leaves them out too) and each
        partition's last decided record must sit on the partition their key goes to with the
        layout's count (Kafka's default partitioner, which the layout relies on).
        After a change of the count they sit where the old count put them, the rebuild would
        keep their state in those partitions' slots, and the keys' new owners would never read
        it (docs/CAPACITY.md#changing-partition-counts)."""
        n = self.store.layout.partitions
        if n is None:
            return
        probe: dict[TopicPartition, set[int]] = {}
        for sub in self.subscriptions:
            tps = [
                TopicPartition(t, p)
                for t in topics.concrete([t for t in sub.topics if not t.is_template])
                for p in self.partitions.get(t, [])
            ]
            if not tps:
                continue
            consumer.assign(tps)
            begins = await consumer.beginning_offsets(tps)
            ends = await consumer.end_offsets(tps)
            for tp in tps:
                last = found[sub.name].positions.get((tp.topic, tp.partition))
                for at in (begins[tp], last):
                    if at is not None and begins[tp] <= at < ends[tp]:
                        probe.setdefault(tp, set()).add(at)
        wrong = [
            f"{r.topic}:{r.partition} offset {r.offset}"
            for tp, offsets in probe.items()
            for r in await self._records_at(consumer, tp, sorted(offsets))
            if r.key is not None and default_partition(r.key, n) != r.partition
        ]
        if wrong:
            raise RebuildError(
                f"{self.service}: the record at {', '.join(wrong[:5])} sits on another "
                f"partition than its key goes to with {n} partitions: its topic's partition "
                "count was changed after it, and a rebuild keeps each decision in the slot of "
                "the partition that made it, which its key's new owner never reads; a rebuild "
                "into a changed partition count is not supported yet "
                "(docs/CAPACITY.md#changing-partition-counts); nothing was changed"
            )

    async def _records_at(
        self, consumer: AIOKafkaConsumer, tp: TopicPartition, offsets: Sequence[int]
    ) -> list[Any]:
        """The records of `tp` at `offsets` (each still on the broker), read one by one."""
        consumer.assign([tp])
        out = []
        for at in offsets:
            consumer.seek(tp, at)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                got = await consumer.getmany(tp, timeout_ms=1000, max_records=1)
                rs = [r for r in got.get(tp, []) if r.offset >= at]
                if rs:
                    out.append(rs[0])
                    break
        return out

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
                            read_at = (topic, int(part), int(off))
                            f.causes.setdefault(cause, []).append((fp, r.timestamp, read_at))
                elif "dlq-topic" in headers and headers.get("dlq-service") == self.service:
                    # a dead letter: its record was decided (refused) too
                    reader = topics.reader(headers["dlq-topic"])
                    if reader is not None:
                        f = found[reader.name]
                        key = (headers["dlq-topic"], int(headers["dlq-partition"]))
                        at = int(headers["dlq-offset"])
                        f.refused[key] = max(f.refused.get(key, -1), at)
                        f.dead.add((*key, at))
        return found

    # folding ----------------------------------------------------------------------------------

    def _slot(self, topic: str, partition: int, offset: int | None = None) -> int:
        """The partition whose slot holds what a record of `partition` of `topic` writes: its
        own in a partitioned layout, 0 in a one-slot layout. A partition the layout has no slot
        for is refused in words (the topics have more partitions than the state's layout)."""
        n = self.store.layout.partitions
        if n is None:
            return 0
        if not 0 <= partition < n:
            at = f"{topic}:{partition}" + ("" if offset is None else f" offset {offset}")
            raise RebuildError(
                f"{self.service}: a record of {at}, and the state is laid out for {n} "
                "partitions (SHEBAO_TOPIC_PARTITIONS): rebuild with the topics' partition count "
                "(docs/CAPACITY.md#changing-partition-counts); the keyspace may hold part of "
                "the rebuild: run it again with --wipe"
            )
        return partition

    def _origin(self, it: Item, subscription: str) -> int:
        """The partition a record of `subscription`'s log of record belongs to: the input
        partition of the record that decided it, named in its `shebao-from` header (the log
        topic may be keyed otherwise than the inputs, or have another partition count), when
        `subscription` decided it, unless every key its fold declares names one owner
        (`Entity.owner`): that owner's, the one partition whose records write them live. A
        record another subscription of the service decided (a fold may rebuild state of its own
        from another's decisions, e.g. medical settlement's ingest from adjudication's events)
        belongs to the owner of the keys it declares, which must name one (or, declaring none,
        to the partition that decided it). 0 in a one-slot layout."""
        r = it.record
        layout = self.store.layout
        if not layout.partitioned:
            return 0
        origin = it.headers.get(H_FROM)
        parts = origin.split("|") if origin else []
        if len(parts) != 5 or not parts[2].isdigit():
            raise RebuildError(
                f"{self.service}: the record at {r.topic}:{r.partition} offset {r.offset} of its "
                f"log of record names no input partition that decided it ({H_FROM} header "
                f"{origin!r}): a partitioned layout keeps what it decided in that partition's "
                "slot and cannot tell which; the keyspace may hold part of the rebuild: run it "
                "again with --wipe once the log is mended"
            )
        kept = [k for k in it.needs if not k.entity.counters]
        owned = {layout.home(k) for k in kept if k.entity.owner is not None}
        if parts[0] == subscription:
            if len(owned) == 1 and all(k.entity.owner is not None for k in kept):
                # every key it folds names one owner: the live service wrote them there, as
                # it can write a key nowhere else (a record of its work topic that another
                # partition decided, e.g. a directory entry a person's partition published)
                return owned.pop()
            return self._slot(parts[1], int(parts[2]))
        if not kept:
            # it folds into no state (welfare's payment shard but the first stands for nothing):
            # whatever it counts, the partition that decided it counted live
            return self._slot(parts[1], int(parts[2]))
        if len(owned) != 1:
            raise RebuildError(
                f"{self.service}: the record at {r.topic}:{r.partition} offset {r.offset} was "
                f"decided by {parts[0]!r}, and {subscription!r} folds it into keys that name "
                f"{'no owner' if not owned else 'several owners'} (Entity.owner): a partitioned "
                "layout cannot tell which slot holds what it writes; nothing it wrote is complete"
            )
        return owned.pop()

    def _held(self) -> int:
        return sum(len(w) for w in self.working.values())

    async def _snapshot(self, items: Sequence[tuple[int, Item]]) -> dict[int, Snapshot]:
        """By partition, the batch's keys not in that partition's working state, as a record
        of the partition sees them (`Store.snapshot`: a key another partition owns read from
        its slot, version -1; one MGET per slot, the partitions' at once); counter sets, read
        once for the batch, summed over every slot with what this rebuild has counted and not
        written out yet."""
        missing: dict[int, dict[str, Any]] = {}
        tallies: dict[str, list[int]] = {}
        for p, it in items:
            held = self.working.get(p, {})
            for k in it.needs:
                if k.name in held:
                    continue
                if k.entity.counters:
                    tallies.setdefault(k.name, []).append(p)
                else:
                    missing.setdefault(p, {})[k.name] = k
        parts = list(missing)
        got = await asyncio.gather(*(self.store.snapshot(missing[p], p) for p in parts))
        out: dict[int, Snapshot] = dict(zip(parts, got, strict=True))
        if tallies:
            names = list(tallies)
            for name, stored in zip(names, await self.store.load_counters(names), strict=True):
                values = dict(stored)
                for (_, c, f), by in self.counts.items():
                    if c == name:
                        values[f] = values.get(f, 0) + by
                for p in tallies[name]:
                    out.setdefault(p, {})[name] = (-1, Counters(values=values))
        return out

    def _open(
        self, p: int, it: Item, snapshots: Mapping[int, Snapshot]
    ) -> tuple[dict[str, Slot], set[str]]:
        """The working state of partition `p` with the keys `it` declared: a key another
        partition owns (`Layout.home`) read-only (version -1), as that partition's working
        state holds it now when it does (what this rebuild wrote there, in the log's order, and
        has not written out), else as its slot stores it."""
        working = self.working.setdefault(p, {})
        layout = self.store.layout
        for k in it.needs:
            if k.entity.counters:
                continue
            home = layout.home(k, p)
            if home != p:
                held = self.working.get(home, {}).get(k.name)
                if held is not None and held.version >= 0:
                    working[k.name] = Slot(-1, held.value, k.entity.cached)
        return working, open_slots(it.needs, working, snapshots.get(p, {}))

    def _decoder(self, table: HandlerTable[Any], sub: Subscription | None = None) -> Decoder:
        """A decoder for `table`: the live processor's of `sub` (its ids, fingerprints and
        limits), or, for a log of record, one that trusts the service's own event ids."""
        if sub is None:
            return Decoder(
                self.registry,
                table,
                trust_event_ids=True,
                max_record_bytes=self.max_record_bytes,
                env=self.env,
            )
        return Decoder(
            self.registry,
            table,
            trust_event_ids=sub.trust_event_ids,
            max_record_bytes=sub.max_record_bytes or self.max_record_bytes,
            env=self.env,
            canonical_fingerprints=sub.canonical_fingerprints,
        )

    def _forget_counters(self) -> None:
        """Counter sets, and values another partition owns, are read afresh for every batch, as
        the live processor reads them (with what this rebuild has counted or written since),
        never kept in the working state."""
        for working in self.working.values():
            for name in [n for n, slot in working.items() if slot.version < 0]:
                del working[name]

    def _count(self, p: int, decision: Decision) -> None:
        for inc in decision.increments:
            key = (p, inc.counter, inc.field)
            self.counts[key] = self.counts.get(key, 0) + inc.by

    async def fold(
        self,
        consumer: AIOKafkaConsumer,
        name: str,
        decoder: Decoder,
        topics: Sequence[str],
        *,
        marks: Marks | None = None,
        dead: set[At] | frozenset[At] = frozenset(),
        of_record: bool = False,
    ) -> dict[TP, int]:
        """Run `decoder`'s handlers over `topics` as they stand, keeping what they write; each
        event once when the decoder trusts event ids (a producer's resend carries the same id).
        Records in `dead` are passed over (the live service dead-lettered them); `marks` gets
        the mark of each record applied within the dedupe TTL. The last offsets read.

        Each record belongs to a partition, as the live processor's: its own for an input, and
        for a log of record (`of_record`) the input partition that decided it (`_origin`)."""
        seen: OrderedDict[tuple[int, str], None] = OrderedDict()
        since = self._marks_from(name)
        ends: dict[TP, int] = {}
        n = 0
        async for records in self._read(consumer, topics):
            items: list[tuple[int, Item]] = []
            for r in records:
                ends[(r.topic, r.partition)] = r.offset
                if (r.topic, r.partition, r.offset) in dead:
                    continue
                it = decoder.decode(r)
                if it.reason is not None or it.skip is not None or it.handler is None:
                    continue  # refused (dead-lettered) or not of interest when first read
                p = (
                    self._origin(it, name)
                    if of_record
                    else self._slot(r.topic, r.partition, r.offset)
                )
                if decoder.trust_event_ids:
                    # the live processor keeps a slot's marks: an id is a duplicate in its slot
                    if (p, it.event_id) in seen:
                        continue  # a resend, or an id reused for another body (dead-lettered)
                    seen[(p, it.event_id)] = None
                    if len(seen) > SEEN_IDS:
                        seen.popitem(last=False)
                items.append((p, it))
            snapshots = await self._snapshot(items)
            for p, it in items:
                assert it.handler is not None and it.ctx is not None and it.message is not None
                working, names = self._open(p, it, snapshots)
                decision, _ = decide(
                    it.handler, it.message, it.ctx, names, working, _no_emit, _no_encode
                )
                self._count(p, decision)
                if marks is not None and it.record.timestamp >= since:
                    marks[(p, it.event_id)] = (it.fingerprint, it.record.timestamp)
                n += 1
            self._forget_counters()
            if self._held() >= FLUSH_KEYS:
                await self.flush()
        self.report.folded[name] = self.report.folded.get(name, 0) + n
        return ends

    # after the published decisions ---------------------------------------------------------------

    async def marks_before(
        self,
        consumer: AIOKafkaConsumer,
        sub: Subscription,
        topics: Sequence[str],
        until: Mapping[TP, int],
        f: Found,
    ) -> Marks:
        """The dedupe marks the live service held for the records before `until`: one for each
        record it applied (decoded, with a handler, not dead-lettered), the first of an event id
        (a resend of it was a duplicate and marked nothing), read within the TTL; and those of
        the causes of its publications within the TTL whose records are gone from the broker."""
        decoder = self._decoder(sub.handlers, sub)
        since = self._marks_from(sub.name)
        marks: Marks = {}
        async for records in self._read(consumer, topics, None, until, since):
            for r in records:
                if r.timestamp < since or (r.topic, r.partition, r.offset) in f.dead:
                    continue
                it = decoder.decode(r)
                if it.reason is not None or it.skip is not None or it.handler is None:
                    continue  # dead-lettered, or valid but of no interest: never marked
                key = (self._slot(r.topic, r.partition, r.offset), it.event_id)
                if key not in marks:
                    marks[key] = (it.fingerprint, r.timestamp)
        for eid, named in f.causes.items():
            # a rejection's answer names a record that was dead-lettered and never marked (an id
            # reused for another body keeps its first body's mark); each in the slot of the
            # partition its cause was read from
            applied: dict[int, list[tuple[str, int]]] = {}
            for fp, at, cause in named:
                if cause not in f.dead:
                    applied.setdefault(self._slot(*cause), []).append((fp, at))
            for p, rows in applied.items():
                fp, at = max(rows, key=lambda x: x[1])
                key = (p, eid)
                if key in marks:  # applied when its decision was published, not when it arrived
                    marks[key] = (marks[key][0], max(marks[key][1], at))
                else:  # every cause is before `until`: its position is after it
                    marks[key] = (fp, at)
        return marks

    def _quietly(self, p: int, it: Item, snapshots: Mapping[int, Snapshot]) -> bool:
        """Run the live handler of `it` (a record of partition `p`) on the working state, keeping
        what it writes and counts only if it emits nothing. False, nothing written, if it would
        emit, or fail (which the live service answers with a dead letter): it decides
        something."""
        assert it.handler is not None and it.ctx is not None and it.message is not None
        working, names = self._open(p, it, snapshots)
        try:
            # `decide` checks every emit before it applies a write: the first raises, and the
            # working state is left as the record found it
            decision, _ = decide(
                it.handler, it.message, it.ctx, names, working, _would_emit, _no_encode
            )
        except Exception as exc:
            it.detail = f"{type(exc).__name__}: {exc}"
            return False
        self._count(p, decision)
        return True

    async def roll_forward(
        self,
        consumer: AIOKafkaConsumer,
        sub: Subscription,
        topics: Sequence[str],
        start: dict[TP, int],
        marks: Marks | None,
    ) -> dict[TP, int]:
        """Each partition's position moved on from `start` over the records that decide nothing
        against the rebuilt state, up to the first that would decide something: that one, and
        all after it, the service decides on resume.

        A record passes when its live handler emits nothing (its writes and counts are kept,
        its mark added to `marks`), when the subscription has no handler for it, or when it is a
        duplicate of a marked event; it stops the partition when its handler would emit or fail,
        when the decoder refuses it or its id is marked with another body: the live service
        would publish for it (an event, a dead letter, an answer), and had not."""
        decoder = self._decoder(sub.handlers, sub)
        since = self._marks_from(sub.name)
        known = {key: fp for key, (fp, _) in (marks or {}).items()}
        out = dict(start)
        stopped: set[TP] = set()
        n = 0
        async for records in self._read(consumer, topics, start):
            items = [
                (self._slot(r.topic, r.partition, r.offset), decoder.decode(r))
                for r in records
                if (r.topic, r.partition) not in stopped
            ]
            snapshots = await self._snapshot(
                [(p, it) for p, it in items if it.reason is None and it.skip is None]
            )
            for p, it in items:
                tp, r = it.tp, it.record
                if tp in stopped:
                    continue
                decided = it.reason is not None
                if not decided and it.skip is None and decoder.trust_event_ids:
                    fp = known.get((p, it.event_id))
                    if fp is not None:
                        decided = fp != it.fingerprint  # an id conflict, else a duplicate
                        it.skip = "duplicate"
                if not decided and it.skip is None:
                    decided = not self._quietly(p, it, snapshots)
                    if not decided:
                        n += 1
                        if decoder.trust_event_ids:
                            known[(p, it.event_id)] = it.fingerprint
                            if marks is not None and r.timestamp >= since:
                                marks[(p, it.event_id)] = (it.fingerprint, r.timestamp)
                if decided:
                    stopped.add(tp)
                    self.report.stopped.setdefault(sub.name, {})[f"{tp[0]}:{tp[1]}"] = r.offset
                    log.info(
                        "a record after the last published decision decides now; its partition "
                        "goes on from it",
                        extra={
                            "subscription": sub.name,
                            "topic": tp[0],
                            "partition": tp[1],
                            "offset": r.offset,
                            "why": it.reason or it.detail or "id conflict",
                        },
                    )
                else:
                    out[tp] = r.offset + 1
            self._forget_counters()
            if self._held() >= FLUSH_KEYS:
                await self.flush()
        self.report.rolled[sub.name] = self.report.rolled.get(sub.name, 0) + n
        return out

    async def flush(self) -> None:
        """Write the dirty values out, each in its partition's slot, and forget them; counters
        too. Single-key commands, pipelined: a cluster's pipeline sends each to its slot's node."""
        pipe = self.store.client.pipeline(transaction=False)
        n = 0
        for p, working in self.working.items():
            for name, slot in working.items():
                if not slot.dirty or slot.version < 0:
                    continue
                key = self.store.state_key(name, p)
                if slot.value is None:
                    pipe.set(key, f"{slot.version + 1}|", ex=self.dedupe_ttl)
                else:
                    data = compiled.encode(slot.value)
                    pipe.set(key, f"{slot.version + 1}|".encode() + data)
                n += 1
        for (p, counter, f), by in self.counts.items():
            pipe.hincrby(self.store.counter_key(counter, p), f, by)
        if n or self.counts:
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
            self._check_partitions(topics)
            await self._check_count_unchanged(consumer, topics, found)
            if wipe:
                log.info("wiping the service's keys", extra={"keys": await self.wipe()})
            elif (n := await self.existing_keys()) > 0:
                raise RebuildError(
                    f"{self.service}: {n} keys under {self.store.prefix}: a rebuild writes into "
                    "an empty keyspace; stop the service and delete them first (or pass --wipe)"
                )
            offsets: dict[str, dict[TP, int]] = {}
            marks: dict[str, Marks] = {}
            # the state first, all of it: the logs of record folded, the projections replayed
            for sub in self.subscriptions:
                f = found[sub.name]
                how = sub.rebuild
                if isinstance(how, FromDecisions):
                    if how.fold is not None:
                        await self.fold(
                            consumer,
                            sub.name,
                            self._decoder(how.fold),
                            topics.concrete((*how.log, *how.tail)),
                            of_record=True,
                        )
                else:
                    got: Marks | None = {} if sub.trust_event_ids else None
                    ends = await self.fold(
                        consumer,
                        sub.name,
                        self._decoder(sub.handlers, sub),
                        topics.concrete(sub.topics),
                        marks=got,
                        dead=f.dead,
                    )
                    offsets[sub.name] = {tp: off + 1 for tp, off in ends.items()}
                    marks[sub.name] = got or {}
            # then where each deciding subscription goes on, against that state
            for sub in self.subscriptions:
                if not isinstance(sub.rebuild, FromDecisions):
                    continue
                f = found[sub.name]
                last = dict(f.refused)
                for tp, off in f.positions.items():
                    last[tp] = max(last.get(tp, -1), off)
                start = {tp: off + 1 for tp, off in last.items()}
                inputs = topics.concrete(sub.topics)
                got = None
                if sub.trust_event_ids:
                    got = await self.marks_before(consumer, sub, inputs, start, f)
                offsets[sub.name] = await self.roll_forward(consumer, sub, inputs, start, got)
                marks[sub.name] = got or {}
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
        marks: Mapping[str, Marks],
    ) -> None:
        """Offsets, the layout record and the dedupe marks, each in its partition's slot."""
        pipe = self.store.client.pipeline(transaction=False)
        for sub, offs in offsets.items():
            by_key: dict[str, dict[str, str]] = {}
            for (t, p), o in offs.items():
                key = self.store.offsets_key(sub, self._slot(t, p))
                by_key.setdefault(key, {})[f"{t}:{p}"] = str(o)
            for key, mapping in by_key.items():
                pipe.hset(key, mapping=mapping)
        pipe.hset(self.store.layout_key, "partitions", str(self.store.layout.partitions or 0))
        now_ms = int(time.time() * 1000)
        for sub, got in marks.items():
            ttl = self._ttl(sub)
            for (p, eid), (fp, at) in got.items():
                left = ttl - (now_ms - at) // 1000  # what the mark had left when it was lost
                if left > 0:
                    pipe.set(self.store.mark_key(eid, p), fp, ex=left)
        await pipe.execute()


async def rebuild(runtime: Any, *, wipe: bool = False) -> Report:
    """Rebuild `runtime`'s service (a `ServiceRuntime`, not started) from its log of record."""
    from ..redis_client import redis_client

    s = runtime.settings
    client = redis_client(s)
    try:
        job = Rebuild(
            service=runtime.name,
            bootstrap=s.kafka_bootstrap_servers,
            store=Store(client, runtime.name, runtime.layout),
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
