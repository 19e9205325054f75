"""CPU of aiokafka's consumer alone, idle and at the benchmark's paced load, by fetch policy.

One consumer over the 8 hospital topics of 4 partitions (as the ingest subscription reads them)
while a producer in another process sends claims paced like `make bench`'s latency measurement
(PACE_STEP at a time, 10 ms linger), and again with nothing sent. Prints the consumer process's
CPU in cores and per claim, and how many fetches it made, for three fetch policies:

- `per-record`: aiokafka's defaults (the broker answers a fetch at its first record, or after
  500 ms): a fetch per arrival at a trickle;
- `adaptive`: the runtime's (`shebao_common.runtime.fetching`, the services' default settings):
  while records flow a fetch waits for 16 KB or 20 ms, an idle one as `per-record`;
- `fixed-wait`: every fetch waits for 16 KB or 20 ms, idle too.

Kafka comes from KAFKA_BOOTSTRAP_SERVERS, else a local broker is started.

    uv run python -m shebao_devinfra.bench.consumer [--claims 10000] [--rate 1000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from shebao_common.kafka_security import client_options
from shebao_common.runtime.fetching import adapt_fetches
from shebao_common.settings import ServiceSettings
from shebao_contracts import medical as m

from ..infra import provision
from ..kit import PARTITIONS
from ..local import warn_plain_once
from ..testing import create_topics, fetches_asked
from .claims import claim_records, paced, patient
from .setting import HOSPITALS

POLICIES = ("per-record", "adaptive", "fixed-wait")
IDLE_SECONDS = 8.0


def topics(run: str) -> list[str]:
    return [f"bench.consumer.{run}.{code}" for code, _ in HOSPITALS]


async def produce(bootstrap: str, run: str, count: int, rate: float) -> None:
    """The hospitals' load, as the benchmark offers it (run in a process of its own)."""
    ours = dict(zip((m.CLAIMS.named(code=code) for code, _ in HOSPITALS), topics(run), strict=True))
    prod = AIOKafkaProducer(**client_options(bootstrap=bootstrap), linger_ms=10)
    await prod.start()
    try:
        ids = [f"C{run}-{i}" for i in range(count)]
        records = claim_records(random.Random(1), ids, patient)
        async for topic, key, value, hdrs in paced(records, rate):
            await prod.send(ours[topic], key=key, value=value, headers=hdrs)
        await prod.flush()
    finally:
        await prod.stop()


async def consume(
    bootstrap: str,
    run: str,
    policy: str,
    count: int | None,
    seconds: float,
    producer: asyncio.subprocess.Process | None = None,
) -> tuple[float, float, int, int]:
    """(CPU seconds, wall seconds, records, fetches): until `count` records, or for `seconds`."""
    s = ServiceSettings()
    fixed = policy == "fixed-wait"
    c = AIOKafkaConsumer(
        *topics(run),
        **client_options(bootstrap=bootstrap),
        group_id=f"bench-consumer-{time.time_ns()}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_min_bytes=s.fetch_busy_min_bytes if fixed else 1,
        fetch_max_wait_ms=s.fetch_busy_max_wait_ms if fixed else 500,
        metadata_max_age_ms=1000,  # the topics were just created
    )
    await c.start()
    try:
        while len(c.assignment()) < len(HOSPITALS) * PARTITIONS:  # every topic's metadata
            await c.getmany(timeout_ms=100)
        if policy == "adaptive":
            adapt_fetches(c, s.fetch_busy_min_bytes, s.fetch_busy_max_wait_ms)
        asked = fetches_asked(c)
        got = 0
        cpu0, wall0 = time.process_time(), time.monotonic()
        while (got < count) if count is not None else (time.monotonic() - wall0 < seconds):
            if count is not None and not got:  # timed from the first claim on
                cpu0, wall0 = time.process_time(), time.monotonic()
                asked.clear()
            batch = await c.getmany(timeout_ms=100, max_records=500)
            got += sum(len(v) for v in batch.values())
            if not batch and producer is not None and producer.returncode:
                raise RuntimeError(f"the producer failed (exit {producer.returncode})")
        return time.process_time() - cpu0, time.monotonic() - wall0, got, len(asked)
    finally:
        await c.stop()


async def once(bootstrap: str, policy: str, args: argparse.Namespace) -> str:
    run = f"{time.time_ns()}"
    await create_topics(bootstrap, topics(run), partitions=PARTITIONS)
    cpu, wall, _, fetches = await consume(bootstrap, run, policy, None, IDLE_SECONDS)
    idle = f"idle {cpu / wall:.3f} cores, {fetches / wall:.0f} fetches/s"
    producer = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "shebao_devinfra.bench.consumer", "--produce", run),
        *("--claims", str(args.claims), "--rate", str(args.rate)),
        env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap},
    )
    try:
        cpu, wall, got, fetches = await consume(bootstrap, run, policy, args.claims, 0, producer)
    finally:
        await producer.wait()
    return (
        f"{policy:>10}: {idle}; at {args.rate:,.0f} claims/s {cpu / wall:.3f} cores,"
        f" {1e6 * cpu / got:.0f} µs per claim, {fetches / wall:.0f} fetches/s,"
        f" {got / max(fetches, 1):.1f} claims a fetch"
    )


def main(args: argparse.Namespace) -> None:
    if args.produce:
        warn_plain_once()  # as the operator, like its parent
        asyncio.run(
            produce(os.environ["KAFKA_BOOTSTRAP_SERVERS"], args.produce, args.claims, args.rate)
        )
        return
    infra = provision()  # before the event loop: it waits for the broker with one of its own
    try:
        for _ in range(args.rounds):  # interleaved: the machine's speed drifts between runs
            for policy in POLICIES:
                print(asyncio.run(once(infra.kafka_bootstrap, policy, args)), flush=True)
    finally:
        infra.stop()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--claims", type=int, default=10_000)
    p.add_argument("--rate", type=float, default=1000.0)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--produce", help=argparse.SUPPRESS)
    main(p.parse_args())
