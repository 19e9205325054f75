"""Where the topics end, and waiting until a service has consumed up to there."""

from __future__ import annotations

import time
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from shebao_common.kafka_security import client_options

from ..testing import Partitions, Service, partitions_of, wait_until

PARTITIONS = 4
"""The partitions of every topic: what ServiceProcess tells the services the topics have."""


def kind_of(record: Any) -> str:
    """A record's message type without its namespace (`PaymentBooked`), from its ce_type."""
    return str(dict(record.headers)["ce_type"].decode().rsplit(".", 1)[1])


class Offsets:
    """End offsets of topics (what a consumer must have read to be caught up), and what was
    appended to a topic since given offsets. One consumer for every question: start() first."""

    def __init__(self, bootstrap: str, partitions: Partitions = PARTITIONS) -> None:
        self.bootstrap = bootstrap
        self.partitions = partitions
        self.consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        self.consumer = AIOKafkaConsumer(
            **client_options(bootstrap=self.bootstrap), group_id=None, enable_auto_commit=False
        )
        await self.consumer.start()

    async def stop(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()

    def _partitions(self, topic: str) -> list[TopicPartition]:
        return [TopicPartition(topic, p) for p in range(partitions_of(self.partitions, topic))]

    async def ends(self, topic: str) -> dict[int, int]:
        """The topic's end offset per partition."""
        assert self.consumer is not None, "Offsets.start() first"
        ends = await self.consumer.end_offsets(self._partitions(topic))
        return {tp.partition: n for tp, n in ends.items()}

    async def total(self, *topics: str) -> int:
        """How many records the topics hold (offsets are contiguous: the producers are
        idempotent, not transactional)."""
        assert self.consumer is not None, "Offsets.start() first"
        tps = [tp for t in topics for tp in self._partitions(t)]
        return sum((await self.consumer.end_offsets(tps)).values())

    async def read(self, topic: str, since: dict[int, int], timeout: float = 120) -> list[Any]:
        """The records appended to the topic after `since`, up to its end offsets now."""
        c = self.consumer
        assert c is not None, "Offsets.start() first"
        tps = self._partitions(topic)
        c.assign(tps)
        for tp in tps:
            c.seek(tp, since.get(tp.partition, 0))
        end = await c.end_offsets(tps)
        out: list[Any] = []
        deadline = time.monotonic() + timeout
        while not all([await c.position(tp) >= end[tp] for tp in tps]):
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read {topic} to its end")
            batch = await c.getmany(*tps, timeout_ms=500, max_records=10_000)
            for tp, recs in batch.items():
                out.extend(r for r in recs if r.offset < end[tp])
        return out


async def caught_up(
    svc: Service,
    inputs: list[str],
    offsets: Offsets,
    what: str,
    timeout: float = 120,
    interval: float = 0.1,
) -> None:
    """The service committed every record of its input topics and emptied its outbox, three
    times in a row (what it publishes to its own topics is then consumed too). Fails at once
    when the service exits, and after `timeout` seconds naming `what` was awaited.

    Each look is one scrape of /metrics (the runtime counts a batch's records and its outbox
    entries in one step of its loop, so a scrape never shows one without the other), a tenth
    of a second after the last: three scrapes a look, 0.2 s apart, held every wait of the demo
    ~0.7 s past the moment the service was calm, five waits a month of the demo's city."""
    calm = 0

    async def idle() -> bool:
        nonlocal calm
        if not svc.alive:
            raise RuntimeError(f"{svc.name} exited:\n{svc.log_tail()}")
        produced = await offsets.total(*inputs)
        seen = await svc.metrics()
        # committed records; "stale" ones were fetched again after a rebalance and are counted
        # once more when they are committed
        consumed = seen.sum("shebao_records_total") - seen.sum(
            "shebao_records_total", outcome="stale"
        )
        pending = seen.sum("shebao_outbox_pending")
        calm = calm + 1 if consumed >= produced and pending == 0 else 0
        return calm >= 3

    try:
        await wait_until(idle, timeout=timeout, interval=interval)
    except TimeoutError:
        raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}") from None
