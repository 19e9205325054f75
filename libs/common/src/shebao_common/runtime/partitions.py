"""Where each assigned partition goes on: offsets kept in Redis, seeking, fencing.

The partition's next offset in Redis is the truth. On assignment the consumer seeks to it; every
batch commit carries, per partition, the offset the batch started from and the one after its last
record, and the store refuses the commit (FENCED) if another consumer moved the partition in
between. The partition then adopts the stored position and drops what the other consumer already
processed. Kafka's committed offset is advisory only (lag monitoring).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from aiokafka import TopicPartition

from .codec import Item
from .store import Store

log = logging.getLogger("shebao.runtime")

TP = tuple[str, int]
OffsetUpdate = tuple[str, str, str, str]
"""(offsets hash, `<topic>:<partition>`, offset the batch started from or "", next offset)."""


class Partitions:
    """The positions of one subscription's assigned partitions, and the consumer's seeks."""

    def __init__(self, store: Store, subscription: str) -> None:
        self.store = store
        self.subscription = subscription
        self.next_offset: dict[TP, int | None] = {}
        """Assigned partitions and their next offset to apply (None: from the beginning)."""
        self.consumer_getter: Callable[[], Any] = lambda: None
        self._gap_seen: dict[TP, int] = {}

    @staticmethod
    def field(tp: TP) -> str:
        return f"{tp[0]}:{tp[1]}"

    def stream_of(self, tp: TP) -> str:
        """The partition's outbox stream."""
        return self.store.outbox_key(self.subscription, tp[0], tp[1])

    # assignment ------------------------------------------------------------------------------

    async def load(self, tps: Sequence[TP]) -> list[int | None]:
        """The offsets kept in Redis (one attempt)."""
        return await self.store.load_offsets(self.subscription, [self.field(t) for t in tps])

    async def assign(self, tps: Sequence[TP], stored: Sequence[int | None]) -> None:
        """Take the partitions on at their stored offsets: the consumer seeks there.

        The partitions without a stored offset go to their beginning in one request: each
        `seek_to_beginning` waits for the fetcher's next round (up to its fetch wait, 0.5 s), so
        one call per partition held the assignment, and with it SIGTERM and the group's
        heartbeats, for half a second per partition (44 s for 84 partner partitions)."""
        consumer = self.consumer_getter()
        beginning: list[TopicPartition] = []
        for tp, off in zip(tps, stored, strict=True):
            self.next_offset[tp] = off
            ktp = TopicPartition(*tp)
            if consumer is not None:
                if off is None:
                    beginning.append(ktp)
                else:
                    consumer.seek(ktp, off)
        if consumer is not None and beginning:  # (no partitions would mean all of them)
            await consumer.seek_to_beginning(*beginning)

    def revoke(self, tps: Iterable[TP]) -> None:
        for tp in tps:
            self.next_offset.pop(tp, None)

    async def commit_kafka(self, offsets: dict[TP, int | None]) -> None:
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

    def admit(self, records: Sequence[Any]) -> tuple[list[Any], int]:
        """The records to apply, and how many were stale (before the partition's offset).

        Records of a partition revoked while the batch was fetched are dropped; so is a
        partition's whole batch when it starts after the stored offset (see `_gaps`).
        """
        kept = []
        stale = 0
        first: dict[TP, int] = {}
        for r in records:
            tp = (r.topic, r.partition)
            if tp not in self.next_offset:
                continue  # revoked while this batch was fetched
            expected = self.next_offset[tp]
            if expected is not None and r.offset < expected:
                stale += 1
                continue
            if tp not in first:
                first[tp] = r.offset
            kept.append(r)
        gaps = self._gaps(first)
        if gaps:
            kept = [r for r in kept if (r.topic, r.partition) not in gaps]
        return kept, stale

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
                    extra={"subscription": self.subscription},
                )
                self._gap_seen.pop(tp, None)
                continue
            self._gap_seen[tp] = expected
            gaps.add(tp)
            consumer = self.consumer_getter()
            if consumer is not None:
                consumer.seek(TopicPartition(*tp), expected)
        return gaps

    # fencing ---------------------------------------------------------------------------------

    def fence(self, last_offsets: dict[TP, int]) -> list[OffsetUpdate]:
        """The commit's offset moves: from where each partition was to after its last record."""
        updates = []
        for tp, last in last_offsets.items():
            expected = self.next_offset.get(tp)
            updates.append(
                (
                    self.store.offsets_key(self.subscription, tp[1]),
                    self.field(tp),
                    "" if expected is None else str(expected),
                    str(last + 1),
                )
            )
        return updates

    def committed(self, updates: Iterable[OffsetUpdate]) -> None:
        for _, f, _, new in updates:
            topic, _, part = f.rpartition(":")
            self.next_offset[(topic, int(part))] = int(new)

    async def refence(self, items: list[Item]) -> tuple[list[Item], int]:
        """Another consumer moved a partition on: adopt its position, drop what it processed.

        Returns the items still to apply and how many were dropped as stale.
        """
        tps = sorted({it.tp for it in items})
        stored = await self.load(tps)
        consumer = self.consumer_getter()
        for tp, off in zip(tps, stored, strict=True):
            if off != self.next_offset.get(tp):
                log.warning(
                    "partition %s:%s was moved to %s by another consumer",
                    tp[0],
                    tp[1],
                    off,
                    extra={"subscription": self.subscription},
                )
                self.next_offset[tp] = off
                if consumer is not None and off is not None:
                    with contextlib.suppress(Exception):
                        consumer.seek(TopicPartition(*tp), off)
        kept = []
        stale = 0
        for it in items:
            off = self.next_offset.get(it.tp)
            if off is None or it.record.offset >= off:
                kept.append(it)
            else:
                stale += 1
        return kept, stale
