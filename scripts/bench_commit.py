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

`--stages` says where the script's time goes: the same batches committed by the script cut
short after each of its steps (a cut script returns OK having done only the steps before the
cut), each round running every cut once, so the differences between neighbouring lines are
the steps' costs, measured side by side.

    uv run python scripts/bench_commit.py [--rounds 10] [--batch 100] [--batches 50] [--stages]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import redis.asyncio as aioredis

from shebao_common.runtime.store import COMMIT_LUA, CommitPlan, OutboxEntry, Store, StreamId
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


# The commit script cut before each of these steps (`--stages`), in the script's order.
STEPS = {
    "the argument only, not unpacked": None,
    "unpacked": "-- 1. fencing",
    "+ offsets checked": "-- 2. dedupe marks",
    "+ marks looked up": "-- 3. read-set validation",
    "+ reads validated": "-- every check passed",
    "+ offsets and marks written": "-- 4. state writes",
    "+ state written": "-- 5. outbox entries",
    "+ outbox entries added": "-- 6. counters",
    "the whole script": "",
}


def cut_script(before: str | None) -> str:
    """The commit script up to the step `before` (None: not even unpacking), then OK."""
    if before is None:
        return "return {'OK'}"
    if not before:
        return COMMIT_LUA
    return COMMIT_LUA[: COMMIT_LUA.index(before)] + "return {'OK'}\n"


async def redis_usec(r: aioredis.Redis, store: Store, plans: list[CommitPlan]) -> float:
    """Redis's own µs in the commit script for `plans`, on a flushed database."""
    await r.flushall()
    await r.config_resetstat()
    for p in plans:
        result = await store.commit(p)
        assert result.status == "OK", result
    stats = await r.info("commandstats")
    return float(sum(v["usec"] for k, v in stats.items() if k.startswith("cmdstat_eval")))


async def stages(url: str, rounds: int, batch: int, batches: int) -> None:
    r = aioredis.Redis.from_url(url)
    try:
        for name, shape in SHAPES.items():
            stores = {}
            for step, before in STEPS.items():
                stores[step] = Store(r, "bench-commit")
                stores[step]._commit = r.register_script(cut_script(before))
            per: dict[str, list[float]] = {step: [] for step in STEPS}
            for _ in range(rounds):
                for step, store in stores.items():
                    plans = [plan(store, batch, k, *shape) for k in range(batches)]
                    for k, p in enumerate(plans):  # a cut script writes no offset to check
                        p.offsets[:] = [(store.offsets_key("s"), f"t:{k}", "", "1")]
                    per[step].append(await redis_usec(r, store, plans) / (batch * batches))
            print(f"{name}: Redis µs per record, median of {rounds} (min–max)")
            for step, got in per.items():
                print(f"  {step:34} {statistics.median(got):6.1f} ({min(got):.1f}–{max(got):.1f})")
    finally:
        await r.aclose()


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
    p.add_argument(
        "--stages", action="store_true", help="Redis µs per record after each step of the script"
    )
    args = p.parse_args()
    run = stages if args.stages else measure
    with tempfile.TemporaryDirectory() as tmp:
        redis = LocalRedis(Path(tmp), open_access=True).start()  # as `make bench`'s, AOF on
        try:
            asyncio.run(run(redis.url, args.rounds, args.batch, args.batches))
        finally:
            redis.stop()


if __name__ == "__main__":
    main()
