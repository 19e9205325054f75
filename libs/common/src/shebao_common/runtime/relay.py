"""The outbox relay: publishes committed outbox entries with an idempotent producer.

Entries reach the relay in memory right after their batch commits (so the hot path never reads
them back from Redis) and from Redis when a partition is assigned or a publish failed. Sends are
not awaited one by one: each batch of sends is handed to an acknowledger that waits for the broker
in order; only entries the broker acknowledged are trimmed from the outbox.

Entries read back from Redis may be on the broker already: a process killed after the broker took
its sends and before it trimmed them, or a producer replaced after a failed acknowledgement whose
sends had landed. Before republishing them the relay reads the target topics from shortly before
their batch committed and sends only those not there, byte for byte (`find_published`): a partner
gets one answer, not two. (Were it to send one again, the copy carries the same event id, which
every consumer of the platform drops as a duplicate.)

The relay owns an aiokafka producer instead of FastStream's: FastStream's producer belongs to its
broker and cannot be replaced after a fatal idempotence error (OutOfOrderSequenceNumber), and its
per-message publish path re-encodes bodies and runs middlewares that outbox entries, already
encoded, do not need.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka import errors as kerr
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from ..kafka_security import client_options
from ..metrics import RuntimeMetrics
from .store import OutboxEntry, Store, StreamId, default_partition

log = logging.getLogger("shebao.relay")

# Errors that publishing the same entry again would only repeat: the entry is parked.
_NEVER_PUBLISHABLE: dict[type[BaseException], str] = {
    kerr.MessageSizeTooLargeError: "too_large",
    kerr.RecordListTooLargeError: "too_large",
    kerr.TopicAuthorizationFailedError: "not_authorised",
    kerr.InvalidTopicError: "invalid_topic",
    kerr.PolicyViolationError: "refused_by_broker",
    kerr.CorruptRecordException: "refused_by_broker",
}
# A topic found missing is parked to without waiting on the broker again, until the producer's
# periodic metadata refresh (metadata_max_age_ms) shows it, or for at most this many seconds.
MISSING_TOPIC_MEMORY = 300.0
# Recovered entries are looked for on the broker from this long before their batch committed: a
# record's timestamp is taken after the commit, by the same process's clock, so the margin only
# covers that clock being stepped back (or, on a topic with LogAppendTime, the broker's clock
# being behind). Every millisecond of margin is traffic read again; a record missed for want of
# margin is only published once more, as before this search.
SEARCH_MARGIN_MS = 2_000

FindPublished = Callable[[list[str], int, set[bytes]], Awaitable[set[bytes]]]
"""Which of the wanted `record_digest`s the topics hold from a time (epoch ms) to their ends."""


def record_digest(
    key: bytes | None, value: bytes | None, headers: Iterable[tuple[str, bytes]]
) -> bytes:
    """A record's identity: its key, value and headers, byte for byte."""
    h = hashlib.blake2b(digest_size=16)
    for part in (key or b"", value or b"", *(x for k, v in headers for x in (k.encode(), v))):
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.digest()


def _entry_headers(e: OutboxEntry) -> list[tuple[str, bytes]]:
    if e.header_list is not None:
        return e.header_list
    return [(k, v.encode()) for k, v in orjson.loads(e.headers)]


def entry_digest(e: OutboxEntry) -> bytes:
    return record_digest(e.key, e.value, _entry_headers(e))


async def published_since(
    bootstrap: str, topics: list[str], since_ms: int, wanted: set[bytes], stall: float = 60.0
) -> set[bytes]:
    """`FindPublished` on a broker, with a consumer of no group: the topics are read from
    `since_ms` until every wanted record is found or their ends as of the call are reached.
    Raises TimeoutError when the reading makes no progress for `stall` seconds."""
    found: set[bytes] = set()
    consumer = AIOKafkaConsumer(
        **client_options(bootstrap=bootstrap), group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        async with asyncio.timeout(stall):
            known = await consumer.topics()
            # partitions_for_topic answers from the client's cluster metadata, which topics()
            # does not fill in (aiokafka 0.14, pinned <0.15): a private call, as `read_all` makes.
            await consumer._client.force_metadata_update()
            tps = [
                TopicPartition(t, p)
                for t in topics
                if t in known
                for p in sorted(consumer.partitions_for_topic(t) or ())
            ]
            ends = await consumer.end_offsets(tps) if tps else {}
            starts = await consumer.offsets_for_times(dict.fromkeys(tps, since_ms)) if tps else {}
        left = {
            tp: found_at.offset
            for tp, found_at in starts.items()
            if found_at is not None and found_at.offset < ends[tp]
        }
        if not left:
            return found
        consumer.assign(list(left))
        for tp, offset in left.items():
            consumer.seek(tp, offset)
        last_progress = time.monotonic()
        while left and found != wanted:
            batch = await consumer.getmany(*left, timeout_ms=500, max_records=5000)
            for tp, recs in batch.items():
                for r in recs:
                    if r.offset < ends[tp]:
                        d = record_digest(r.key, r.value, r.headers)
                        if d in wanted:
                            found.add(d)
            moved = {tp: await consumer.position(tp) for tp in left}
            if batch or any(moved[tp] != left[tp] for tp in left):
                last_progress = time.monotonic()
            elif time.monotonic() - last_progress > stall:
                raise TimeoutError(f"reading {sorted(topics)} made no progress for {stall:.0f}s")
            left = {tp: pos for tp, pos in moved.items() if pos < ends[tp]}
        return found
    finally:
        await consumer.stop()


def never_publishable(exc: BaseException) -> str | None:
    """The parking reason for an error no retry can cure, None for a transient one."""
    for kind, reason in _NEVER_PUBLISHABLE.items():
        if isinstance(exc, kind):
            return reason
    return None


def _back_off_failed_metadata(producer: AIOKafkaProducer) -> None:
    """Make the producer wait before retrying a metadata refresh that reached no broker.

    aiokafka 0.14's sender, while a batch waits for a partition whose leader is unknown, asks for
    a metadata refresh and loops as soon as it fails, without any backoff: after a controlled
    broker shutdown (the broker's last metadata names no leader) the relay spun at up to a full
    core and logged two ERROR lines per attempt, thousands a second, until the broker was back
    (test_runtime_broker_outage; the same symptom is reported upstream, aio-libs/aiokafka#496).
    The client's one metadata synchroniser now sleeps 0.1 s, doubling to 1 s, after each failed
    refresh, so every waiter retries at that pace; a success resets it, and the broker's return
    is noticed within a second. `_metadata_update` is a private method of aiokafka's client
    (aiokafka is pinned <0.15): if it is missing, the producer is left as it is.
    """
    client: Any = getattr(producer, "client", None)
    update = getattr(client, "_metadata_update", None)
    if client is None or update is None:
        return
    delay = 0.1

    async def backed_off(cluster_metadata: Any, topics: Any) -> Any:
        nonlocal delay
        ok = await update(cluster_metadata, topics)
        if ok:
            delay = 0.1
        else:
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)
        return ok

    client._metadata_update = backed_off


@dataclass(slots=True)
class _Batch:
    """Records bound for one topic-partition, handed to the producer whole (`send_batch`): one
    future acknowledges them all."""

    builder: Any = None
    future: asyncio.Future[Any] | None = None

    @staticmethod
    def done() -> _Batch:
        """What stands for a record found on the broker already: acknowledged."""
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return _Batch(future=fut)


class _Batches:
    """A job's records in batches per topic-partition, partitioned as the producer would
    (Kafka's default partitioner: murmur2 of the key, a random available partition without
    one), each batch handed over when full and the rest at `flush`, so that records keep their
    order per partition. aiokafka's `send` per record costs about twice its `send_batch` per
    record in CPU (issue 20: 35 against 16 µs)."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self.producer = producer
        self.open: dict[tuple[str, int], _Batch] = {}
        self.partitions: dict[str, list[int]] = {}
        """Each topic's partitions, asked once a job (the producer's metadata)."""
        self.limit: int = getattr(producer, "_max_request_size", 1_048_576)

    async def add(
        self, topic: str, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]
    ) -> _Batch:
        size = DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, headers)
        if size > self.limit:  # as the producer's `send` refuses it, before any batch
            raise kerr.MessageSizeTooLargeError(
                f"the record is {size} bytes, more than the producer's max_request_size"
            )
        tp = (topic, await self._partition(topic, key))
        batch = self.open.get(tp)
        if batch is None:
            batch = self.open[tp] = _Batch(self.producer.create_batch())
        if batch.builder.append(timestamp=None, key=key, value=value, headers=headers) is None:
            await self._hand_over(tp)  # full: the record starts the next one
            batch = self.open[tp] = _Batch(self.producer.create_batch())
            appended = batch.builder.append(timestamp=None, key=key, value=value, headers=headers)
            assert appended is not None, "an empty batch takes any record"
        return batch

    async def flush(self) -> None:
        for tp in list(self.open):
            await self._hand_over(tp)

    async def _hand_over(self, tp: tuple[str, int]) -> None:
        batch = self.open.pop(tp)
        batch.builder.close()
        batch.future = await self.producer.send_batch(batch.builder, tp[0], partition=tp[1])

    async def _partition(self, topic: str, key: bytes | None) -> int:
        every = self.partitions.get(topic)
        if every is None:
            every = self.partitions[topic] = sorted(await self.producer.partitions_for(topic))
        if key is not None:
            return every[default_partition(key, len(every))]
        available: set[int] = self.producer.client.cluster.available_partitions_for_topic(topic)
        return random.choice(sorted(available or every))


@dataclass(slots=True)
class _Publish:
    entries: list[OutboxEntry]


@dataclass(slots=True)
class _Recover:
    streams: list[str]


@dataclass(slots=True)
class _Inflight:
    stream: str
    last: StreamId
    count: int
    futures: list[asyncio.Future[Any]]
    entries: list[OutboxEntry]


class Relay:
    def __init__(
        self,
        store: Store,
        producer_factory: Callable[[], AIOKafkaProducer],
        metrics: RuntimeMetrics,
        *,
        max_pending: int = 20_000,
        trim_interval: float = 0.5,
        find_published: FindPublished | None = None,
    ) -> None:
        """Without `find_published`, entries read back from Redis are all sent again."""
        self.store = store
        self.find_published = find_published
        self.producer_factory = producer_factory
        self.metrics = metrics
        self.max_pending = max_pending
        self.trim_interval = trim_interval
        self._producer: AIOKafkaProducer | None = None
        self._queue: asyncio.Queue[_Publish | _Recover] = asyncio.Queue()
        self._inflight: deque[_Inflight] = deque()
        self._inflight_changed = asyncio.Event()
        self._published: dict[str, StreamId] = {}
        self._acked: dict[str, StreamId] = {}
        self._trims: dict[str, StreamId] = {}
        self._pending = 0
        self._capacity = asyncio.Condition()
        self._idle = asyncio.Event()
        self._idle.set()
        self._busy = False
        """The send loop is in a job (a recovery reads the outbox page by page, with nothing
        queued or in flight between its pages)."""
        self._tasks: list[asyncio.Task[None]] = []
        self._failed = asyncio.Event()
        self._running = False
        self._missing_topics: dict[str, float] = {}  # topic -> until when it counts as missing
        self.parked = 0
        """Entries in the parked stream, as last counted (at start and at each park)."""

    # lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        with contextlib.suppress(Exception):  # only a count: the next park sets it anyway
            self._set_parked(await self.store.parked_count())
        self._producer = await self._new_producer()
        self._running = True
        self._tasks = [
            asyncio.create_task(self._send_loop(), name="relay-send"),
            asyncio.create_task(self._ack_loop(), name="relay-ack"),
            asyncio.create_task(self._trim_loop(), name="relay-trim"),
        ]

    async def stop(self, timeout: float = 10.0) -> None:
        with contextlib.suppress(TimeoutError):
            await self.flush(timeout=timeout)
        self._running = False
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks = []
        await self._trim_now()
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await self._producer.stop()
            self._producer = None

    async def _new_producer(self) -> AIOKafkaProducer:
        delay = 0.1
        while True:
            producer = self.producer_factory()
            _back_off_failed_metadata(producer)
            try:
                await producer.start()
                return producer
            except Exception as exc:
                with contextlib.suppress(Exception):
                    await producer.stop()
                log.warning("relay producer cannot start, retrying: %s", exc)
                await asyncio.sleep(delay + random.random() * delay)
                delay = min(delay * 2, 5.0)

    def _set_parked(self, count: int) -> None:
        self.parked = count
        self.metrics.parked_now.set(count)

    # what the processor calls ------------------------------------------------------------------

    async def submit(self, entries: list[OutboxEntry]) -> None:
        """Hand over committed entries; waits while too many are unacknowledged (backpressure)."""
        if not entries:
            return
        async with self._capacity:
            await self._capacity.wait_for(lambda: self._pending < self.max_pending)
        self._pending += len(entries)
        self.metrics.outbox_pending.set(self._pending)
        self._idle.clear()
        self._queue.put_nowait(_Publish(entries))

    def recover(self, streams: Iterable[str]) -> None:
        """Republish whatever an earlier owner of these outboxes left unacknowledged."""
        streams = list(streams)
        if streams:
            self._idle.clear()
            self._queue.put_nowait(_Recover(streams))

    def take_trims(self, within: str | None = None) -> dict[str, StreamId]:
        """Acknowledged positions to trim, for the processor to fold into its next commit; only
        those of streams whose names start with `within` (the commit's slot) when given."""
        if within is None:
            trims, self._trims = self._trims, {}
            return trims
        trims = {s: last for s, last in self._trims.items() if s.startswith(within)}
        for s in trims:
            del self._trims[s]
        return trims

    def return_trims(self, trims: dict[str, StreamId]) -> None:
        for s, last in trims.items():
            cur = self._trims.get(s)
            if cur is None or cur < last:
                self._trims[s] = last

    def forget(self, streams: Iterable[str]) -> None:
        """The partitions were revoked: another owner continues their outboxes."""
        for s in streams:
            self._published.pop(s, None)
            self._acked.pop(s, None)

    async def flush(self, timeout: float) -> None:
        """Wait until every submitted entry is acknowledged, then trim."""
        await asyncio.wait_for(self._wait_idle(), timeout)
        await self._trim_now()

    async def _wait_idle(self) -> None:
        while True:
            await self._idle.wait()
            if self._queue.empty() and not self._inflight and not self._busy:
                return
            self._idle.clear()

    # loops ---------------------------------------------------------------------------------------

    async def _send_loop(self) -> None:
        while self._running:
            job = await self._queue.get()
            self._busy = True
            try:
                if isinstance(job, _Recover):
                    await self._recover(job.streams)
                else:
                    await self._send(job.entries)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a broken producer: rebuild it and republish from Redis
                log.warning("relay send failed, republishing from the outbox: %s", exc)
                await self._reset()
            finally:
                self._busy = False
                self._maybe_idle()

    async def _send(
        self,
        entries: list[OutboxEntry],
        from_store: bool = False,
        on_broker: set[bytes] | None = None,
    ) -> int:
        """Send the entries; those whose `entry_digest` is `on_broker` are not sent again but
        acknowledged in their turn. Returns how many were not sent again."""
        producer = self._producer
        assert producer is not None
        counted = 0 if from_store else len(entries)
        # sent entries in order, each with its batch (a future once the batch is handed over)
        sent_in_order: list[tuple[OutboxEntry, _Batch]] = []
        batches = _Batches(producer)
        there = 0
        try:
            for e in entries:
                done = self._published.get(e.stream)
                if done is not None and e.id <= done:
                    continue  # already sent by a recovery that read it from Redis
                headers = _entry_headers(e)
                try:
                    if on_broker and record_digest(e.key, e.value, headers) in on_broker:
                        batch = _Batch.done()
                        there += 1
                    elif self._known_missing(e.topic):
                        raise kerr.UnknownTopicOrPartitionError(e.topic)
                    else:
                        batch = await batches.add(e.topic, e.key or None, e.value, headers)
                except Exception as exc:
                    reason = await self._parking_reason(producer, e.topic, exc)
                    if reason is None:
                        raise  # transient (the broker is away, say): republished from Redis
                    await self._park(e, reason, f"{type(exc).__name__}: {exc}")
                    self._published[e.stream] = e.id
                    continue
                sent_in_order.append((e, batch))
                self._published[e.stream] = e.id
            await batches.flush()
        except BaseException:
            # Nothing of this job is tracked: the reset republishes it from Redis.
            self._release(counted)
            raise
        by_stream: dict[str, tuple[list[asyncio.Future[Any]], list[OutboxEntry]]] = {}
        last: dict[str, StreamId] = {}
        for e, batch in sent_in_order:
            futs, sent = by_stream.setdefault(e.stream, ([], []))
            assert batch.future is not None
            futs.append(batch.future)
            sent.append(e)
            last[e.stream] = e.id
        sent_count = len(sent_in_order)
        if not from_store:
            self._release(counted - sent_count)
        for s, (futs, sent) in by_stream.items():
            count = 0 if from_store else len(futs)
            self._inflight.append(_Inflight(s, last[s], count, futs, sent))
        self._inflight_changed.set()
        return there

    def _known_missing(self, topic: str) -> bool:
        until = self._missing_topics.get(topic)
        if until is None:
            return False
        producer = self._producer
        if until < time.monotonic() or (
            producer is not None and topic in producer.client.cluster.topics()
        ):
            del self._missing_topics[topic]
            return False
        return True

    async def _parking_reason(
        self, producer: AIOKafkaProducer, topic: str, exc: Exception
    ) -> str | None:
        if isinstance(exc, kerr.UnknownTopicOrPartitionError):
            return "topic_missing" if await self._topic_missing(producer, topic) else None
        return never_publishable(exc)

    async def _topic_missing(self, producer: AIOKafkaProducer, topic: str) -> bool:
        """True when the broker answers and does not know the topic (not when it is away)."""
        if self._known_missing(topic):
            return True
        try:
            metadata = await producer.client.fetch_all_metadata()
        except Exception:
            return False
        if topic in metadata.topics():
            return False
        self._missing_topics[topic] = time.monotonic() + MISSING_TOPIC_MEMORY
        return True

    async def _park(self, entry: OutboxEntry, reason: str, detail: str) -> None:
        """Set an entry the broker can never take aside, so the entries behind it go on."""
        count = await self._store_call(self.store.park, entry, reason, detail)
        if self.store.layout.partitioned:  # that was its slot's count: the total is wanted
            count = await self._store_call(self.store.parked_count)
        self.metrics.parked.labels(entry.topic, reason).inc()
        self._set_parked(count)
        log.error(
            "outbox entry parked: it can never be published as it is",
            extra={
                "topic": entry.topic,
                "reason": reason,
                "detail": detail[:500],
                "outbox": entry.stream,
                "entry": str(entry.id),
                "parked": count,
            },
        )

    async def _recover(self, streams: list[str]) -> None:
        for s in streams:
            after = self._acked.get(s)
            self._published.pop(s, None)
            if after is not None:
                self._published[s] = after
            since: int | None = None  # when its oldest entry read back committed, less a margin
            there = 0
            while True:
                rows = await self._store_call(self.store.outbox_range, s, self._published.get(s))
                if not rows:
                    break
                on_broker: set[bytes] | None = None
                if self.find_published is not None:
                    times = [e.committed_ms for e in rows if e.committed_ms is not None]
                    if since is None and times:
                        since = min(times) - SEARCH_MARGIN_MS
                    wanted = {entry_digest(e) for e in rows if e.committed_ms is not None}
                    if since is not None and wanted:
                        topics = sorted({e.topic for e in rows})
                        on_broker = await self.find_published(topics, since, wanted)
                there += await self._send(rows, from_store=True, on_broker=on_broker)
            if there:
                log.info(
                    "outbox entries found on the broker already; not published again",
                    extra={"outbox": s, "entries": there},
                )

    async def _store_call(self, fn: Callable[..., Any], *args: Any) -> Any:
        delay = 0.05
        while True:
            try:
                return await fn(*args)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("relay cannot read the outbox, retrying: %s", exc)
                await asyncio.sleep(delay + random.random() * delay)
                delay = min(delay * 2, 5.0)

    async def _ack_loop(self) -> None:
        while self._running:
            if not self._inflight:
                self._inflight_changed.clear()
                self._maybe_idle()
                await self._inflight_changed.wait()
                continue
            head = self._inflight[0]
            results = await asyncio.gather(*head.futures, return_exceptions=True)
            if any(isinstance(r, asyncio.CancelledError) for r in results):
                continue  # a reset dropped these sends; they are republished from Redis
            failed = [
                (e, r)
                for e, r in zip(head.entries, results, strict=True)
                if isinstance(r, BaseException)
            ]
            if failed:
                self.metrics.publish_failures.inc()
                for e, err in failed:
                    reason = never_publishable(err)
                    if reason is not None:  # refused by the broker itself, e.g. a topic's size
                        await self._park(e, reason, f"{type(err).__name__}: {err}")
                log.warning(
                    "broker did not acknowledge outbox entries, republishing: %s", failed[0][1]
                )
                await self._reset()
                continue
            if self._inflight and self._inflight[0] is head:
                self._inflight.popleft()
            prev = self._acked.get(head.stream)
            if prev is None or prev < head.last:
                self._acked[head.stream] = head.last
                cur = self._trims.get(head.stream)
                if cur is None or cur < head.last:
                    self._trims[head.stream] = head.last
            self.metrics.published.inc(len(head.futures))
            self._release(head.count)

    async def _reset(self) -> None:
        """Drop in-flight sends, rebuild the producer, republish every owned outbox from Redis."""
        if self._failed.is_set():
            return
        self._failed.set()
        try:
            streams = {i.stream for i in self._inflight} | set(self._published)
            released = sum(i.count for i in self._inflight)
            for i in self._inflight:
                for f in i.futures:
                    f.cancel()
            self._inflight.clear()
            self._release(released)
            old = self._producer
            if old is not None:
                with contextlib.suppress(Exception):
                    await old.stop()
            self._producer = await self._new_producer()
            for st in streams:  # resend from what the broker acknowledged
                acked = self._acked.get(st)
                if acked is None:
                    self._published.pop(st, None)
                else:
                    self._published[st] = acked
            # The recovery goes ahead of queued jobs, so that order per outbox is kept.
            queued: list[_Publish | _Recover] = []
            while not self._queue.empty():
                queued.append(self._queue.get_nowait())
            self._queue.put_nowait(_Recover(sorted(streams)))
            for job in queued:
                self._queue.put_nowait(job)
        finally:
            self._failed.clear()

    def _release(self, n: int) -> None:
        if n <= 0:
            return
        self._pending = max(0, self._pending - n)
        self.metrics.outbox_pending.set(self._pending)

        async def notify() -> None:
            async with self._capacity:
                self._capacity.notify_all()

        asyncio.get_running_loop().create_task(notify())

    def _maybe_idle(self) -> None:
        if self._queue.empty() and not self._inflight and not self._busy:
            self._idle.set()

    async def _trim_loop(self) -> None:
        while self._running:
            await asyncio.sleep(self.trim_interval)
            await self._trim_now()

    async def _trim_now(self) -> None:
        trims = self.take_trims()
        if not trims:
            return
        try:
            await self.store.trim(trims.items())
        except Exception as exc:
            log.debug("outbox trim postponed: %s", exc)
            self.return_trims(trims)
