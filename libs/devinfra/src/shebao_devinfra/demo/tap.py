"""Reading topics in the background, as a partner or a dashboard would."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..kit import PARTITIONS, Offsets, kind_of
from ..testing import Follower, Partitions, Service, wait_until


class Tap:
    """Reads topics from the beginning in the background, as a partner or a dashboard would."""

    def __init__(
        self,
        bootstrap: str,
        topics: Iterable[str],
        services: Sequence[Service],
        partitions: Partitions = PARTITIONS,
    ) -> None:
        self.services = services
        self.records: dict[str, list[tuple[str, str, dict[str, Any]]]] = defaultdict(list)
        self.stamps: dict[str, list[int]] = defaultdict(list)
        """Each record's Kafka timestamp (ms), in the order of `records`."""
        self._follower = Follower(bootstrap, topics, self._keep, partitions=partitions)

    def _keep(self, r: Any) -> None:
        key = r.key.decode() if r.key else ""
        try:
            body = json.loads(r.value)
        except ValueError:  # a partner's unreadable record, as sent
            body = {}
        self.records[r.topic].append((kind_of(r), key, body))
        self.stamps[r.topic].append(r.timestamp)

    async def start(self) -> None:
        await self._follower.start()

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
            self._follower.check()  # a failed reader fails the demo rather than hanging it
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
        ends = {t: await offsets.total(t) for t in self._follower.topics}
        await self.until(
            lambda: all(len(self.records[t]) >= n for t, n in ends.items()), "the topics"
        )

    async def stop(self) -> None:
        await self._follower.stop()
