"""A consumer's fetches wait for a batch's worth of records while records flow, not while idle.

Kafka's broker answers a fetch once it holds `fetch.min.bytes` for the consumer, or after
`fetch.max.wait.ms`. aiokafka's defaults (1 byte, 500 ms) answer a fetch as soon as any record
arrives: at a trickle over many partitions (the hospitals' producers, each lingering on its own)
a consumer sends a fetch per arrival, and each costs aiokafka about a millisecond of Python (the
request for every partition, the response parsed). A fixed wait costs the other way: an idle
consumer then asks again at every wait's end, and a province's services are idle at night, most
subscriptions most of the time. Measured alone (`python -m shebao_devinfra.bench.consumer`: 8
topics of 4 partitions, claims paced as `make bench` offers them, 3 rounds, 2026-12-04): at
1,000 claims/s 0.18-0.25 of a core and ~200 fetches/s as aiokafka fetches by default, 0.08-0.10
and ~50 fetches/s with this; idle 0.01 of a core either way, against 0.05-0.06 (43 fetches/s)
for a fixed 20 ms wait.

So the wait adapts: after a fetch that brought records the next one asks the broker for
`min_bytes` within `max_wait_ms` (busy), after one that brought none it asks as the consumer was
configured (idle: the first record after a pause is answered at once). What a fetch returns is
unchanged; only when the broker answers.

This sets two attributes of aiokafka's Fetcher and wraps its fetch step (`_proc_fetch_request`):
private API, pinned by uv.lock and checked against the installed aiokafka by
`tests/test_fetching.py` (a real broker), so an upgrade that moves them fails there rather than
silently fetching the old way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from itertools import chain
from typing import Any

_MARK = "_shebao_adaptive_fetch"


class AdaptiveFetch:
    """Installed on one consumer's fetcher; counts the fetches each way (tests, benchmarks)."""

    def __init__(self, fetcher: Any, min_bytes: int, max_wait_ms: int) -> None:
        self.fetcher = fetcher
        self.idle = (fetcher._fetch_min_bytes, fetcher._fetch_max_wait_ms)
        self.busy = (max(min_bytes, self.idle[0]), min(max_wait_ms, self.idle[1]))
        self.mode = "idle"
        """How the fetcher asks now (with one broker, how the fetch in flight asked)."""
        self.fetches = {"busy": 0, "idle": 0}
        self._fetch: Callable[..., Awaitable[bool]] = fetcher._proc_fetch_request

    async def fetch(self, assignment: Any, node_id: Any, request: Any) -> bool:
        self.fetches[self.mode] += 1
        got = await self._fetch(assignment, node_id, request)
        self.mode = "busy" if got else "idle"
        # read by the fetcher when it builds its next request
        f = self.fetcher
        f._fetch_min_bytes, f._fetch_max_wait_ms = self.busy if got else self.idle
        return got


def adapt_fetches(consumer: Any, min_bytes: int, max_wait_ms: int) -> AdaptiveFetch | None:
    """Install the adaptive wait on a started consumer (once; later calls return the same).
    None where it does not apply: `min_bytes` of 1 (the feature off) or a consumer not started."""
    fetcher = getattr(consumer, "_fetcher", None)
    if fetcher is None or min_bytes <= 1:
        return None
    installed: AdaptiveFetch | None = getattr(fetcher, _MARK, None)
    if installed is None:
        installed = AdaptiveFetch(fetcher, min_bytes, max_wait_ms)
        fetcher._proc_fetch_request = installed.fetch
        setattr(fetcher, _MARK, installed)
    return installed


def poll_without_blind_sleep(subscriber: Any) -> None:
    """FastStream's batch subscriber, after a `getmany` that found nothing in its whole
    `batch_timeout_ms`, sleeps as long again before it asks once more: records that arrive in
    that sleep wait for it, up to 100 ms a hop with the default timeout. At 50 claims/s (a
    trickle, and every quiet hour) that was each hop's tail: p99 110-122 ms a hop, against 20-31
    with a 10 ms timeout (`make bench --rate 50`, 2026-12-04), and the first records after the
    services sat idle met it too. Installed on a subscriber, an empty poll returns at once when
    `getmany` has waited its timeout, and only one that came back early (nothing assigned yet)
    waits the rest, so an idle subscription polls no more often than before.

    `get_msg`, `batch_timeout_ms` and `max_records` are FastStream's (pinned by uv.lock);
    `tests/test_fetching.py` checks them against the installed FastStream."""
    timeout = subscriber.batch_timeout_ms / 1000

    async def get_msg(consumer: Any) -> tuple[Any, ...]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        messages = await consumer.getmany(
            timeout_ms=subscriber.batch_timeout_ms, max_records=subscriber.max_records
        )
        if messages:
            return tuple(chain(*messages.values()))
        left = timeout - (loop.time() - started)
        if left > 0:
            await asyncio.sleep(left)
        return ()

    subscriber.get_msg = get_msg


__all__ = ["AdaptiveFetch", "adapt_fetches", "poll_without_blind_sleep"]
