"""Reading topics in the background, as a partner or a dashboard would."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from ..kit import PARTITIONS, Offsets, kind_of
from ..testing import ServiceProcess, wait_until


class Tap:
    """Reads topics from the beginning in the background, as a partner or a dashboard would."""

    def __init__(
        self, bootstrap: str, topics: Iterable[str], services: list[ServiceProcess]
    ) -> None:
        self.bootstrap = bootstrap
        self.topics = list(topics)
        self.services = services
        self.records: dict[str, list[tuple[str, str, dict[str, Any]]]] = defaultdict(list)
        self.stamps: dict[str, list[int]] = defaultdict(list)
        """Each record's Kafka timestamp (ms), in the order of `records`."""
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, enable_auto_commit=False, group_id=None
        )
        await self._consumer.start()
        tps = [TopicPartition(t, p) for t in self.topics for p in range(PARTITIONS)]
        self._consumer.assign(tps)
        await self._consumer.seek_to_beginning(*tps)
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            batch = await self._consumer.getmany(timeout_ms=200, max_records=5000)
            for tp, recs in batch.items():
                for r in recs:
                    key = r.key.decode() if r.key else ""
                    try:
                        body = json.loads(r.value)
                    except ValueError:  # a partner's unreadable record, as sent
                        body = {}
                    self.records[tp.topic].append((kind_of(r), key, body))
                    self.stamps[tp.topic].append(r.timestamp)

    def stamped(self, topic: str, kind: str) -> list[tuple[int, dict[str, Any]]]:
        """The records of a kind with their Kafka timestamps (ms)."""
        return [
            (t, b)
            for (k, _, b), t in zip(self.records[topic], self.stamps[topic], strict=True)
            if k == kind
        ]

    def of(self, topic: str, kind: str | None = None) -> list[dict[str, Any]]:
        return [b for k, _, b in self.records[topic] if kind is None or k == kind]

    def count(self, topic: str, kind: str) -> int:
        return sum(1 for k, _, _ in self.records[topic] if k == kind)

    async def until(self, check: Callable[[], bool], what: str, timeout: float = 90) -> None:
        async def ok() -> bool:
            if self._task is not None and self._task.done():
                self._task.result()  # a failed reader fails the demo rather than hanging it
            for svc in self.services:
                if not svc.alive:
                    raise RuntimeError(f"{svc.name} exited:\n{svc.log_tail()}")
            return check()

        try:
            await wait_until(ok, timeout=timeout, interval=0.1)
        except TimeoutError:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}") from None

    async def drained(self, offsets: Offsets) -> None:
        """Everything on the watched topics so far has been read (offsets are contiguous: the
        producers are idempotent, not transactional)."""
        ends = {t: await offsets.total(t) for t in self.topics}
        await self.until(
            lambda: all(len(self.records[t]) >= n for t, n in ends.items()), "the topics"
        )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()
