"""Redis CPU per record of the commit script, and the Python cost of packing its argument.

Starts a `redis-server` of its own (`LocalRedis`, append-only file on, as `make bench`'s),
commits batches of synthetic records through the real `Store.commit` (each record: a dedupe
mark, state keys read and written, outbox entries), and prints the microseconds Redis spent
inside the script per record (INFO commandstats, which counts Redis's own time, not the wall
clock: other load on the machine matters less) and the process time of `CommitPlan.packed()`.
The figure to watch while changing the commit script (issue 20, point 3); `make bench` gives the
end-to-end Redis CPU per claim.

Compare two versions by running this on each, interleaved (`--rounds` interleaves nothing by
itself: swap the tree between runs and run each more than once).

    uv run python scripts/bench_commit.py [--rounds 10] [--batch 100] [--batches 50]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import redis.asyncio as aioredis

from shebao_common.runtime.store import CommitPlan, OutboxEntry, Store, StreamId
from shebao_devinfra.local import LocalRedis

SHAPES = {
    "adjudication-like (3 reads, 2 writes, 2 outputs)": (3, 2, 2),
    "ingest-like (2 reads, 1 write, 1 output)": (2, 1, 1),
}
STATE = b'{"a":"' + b"x" * 400 + b'"}'
VALUE = b"v" * 600
HEADERS = b'[["ce_id","0123456789abcdef"],["ce_type","shebao.medical.SettlementResult"]]'


def plan(store: Store, batch: int, k: int, reads: int, writes: int, outputs: int) -> CommitPlan:
    p = CommitPlan(ttl=600)
    p.offsets.append((store.offsets_key("s"), "t:0", str(k) if k else "", str(k + 1)))
    stream = store.outbox_key("s", "out", 0)
    for i in range(batch):
        rec = k * batch + i
        p.marks.append((store.mark_key(f"e{rec}"), "0123456789abcdef01234567"))
        p.reads += [(store.state_key(f"x{rec}:{j}"), 0) for j in range(reads)]
        p.writes += [(store.state_key(f"x{rec}:{j}"), 1, STATE) for j in range(writes)]
        p.outbox += [
            OutboxEntry(stream, StreamId(rec + 1, j), "out", b"key", VALUE, HEADERS)
            for j in range(outputs)
        ]
    return p


async def measure(url: str, rounds: int, batch: int, batches: int) -> None:
    r = aioredis.Redis.from_url(url)
    try:
        store = Store(r, "bench-commit")
        for name, shape in SHAPES.items():
            in_redis, packing = [], []
            for _ in range(rounds):
                await r.flushall()
                await r.config_resetstat()
                plans = [plan(store, batch, k, *shape) for k in range(batches)]
                t = time.process_time()
                for p in plans:
                    p.packed()
                packing.append((time.process_time() - t) * 1e6 / (batch * batches))
                for p in plans:
                    result = await store.commit(p)
                    assert result.status == "OK", result
                stats = await r.info("commandstats")
                usec = sum(v["usec"] for k, v in stats.items() if k.startswith("cmdstat_eval"))
                in_redis.append(usec / (batch * batches))
            print(
                f"{name}: Redis µs per record {statistics.median(in_redis):.1f} "
                f"({min(in_redis):.1f}–{max(in_redis):.1f}); packing µs per record "
                f"{statistics.median(packing):.2f}"
            )
    finally:
        await r.aclose()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--batch", type=int, default=100, help="records per commit")
    p.add_argument("--batches", type=int, default=50, help="commits per round")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        redis = LocalRedis(Path(tmp), open_access=True).start()  # as `make bench`'s, AOF on
        try:
            asyncio.run(measure(redis.url, args.rounds, args.batch, args.batches))
        finally:
            redis.stop()


if __name__ == "__main__":
    main()
