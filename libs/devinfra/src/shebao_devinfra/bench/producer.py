"""CPU of aiokafka's producer alone, at the benchmark's paced load.

Sends synthetic claims paced like `make bench`'s latency measurement (PACE_STEP at a time, 10 ms
linger) and prints the process CPU per claim and in cores, for three ways of sending:

- `spread`: over the 8 hospital topics of 4 partitions, partitioned by key (what the benchmark's
  load generator does; most partition batches hold one record at 1,000/s);
- `one-partition`: every claim to one partition (batches of ~10 records);
- `pacing`: no send at all, only the pacing loop's sleeps.

The difference between the modes is what the producer costs per message and per batch, which
every relay pays too. Kafka comes from KAFKA_BOOTSTRAP_SERVERS, else a local broker is started.

    uv run python -m shebao_devinfra.bench.producer [--claims 10000] [--rate 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time

from aiokafka import AIOKafkaProducer

from shebao_common.kafka_security import client_options

from ..infra import provision
from .claims import claim_records, paced, patient

MODES = ("spread", "one-partition", "pacing")


async def measure(bootstrap: str, mode: str, count: int, rate: float) -> float:
    """Process CPU seconds spent sending `count` claims at `rate` in the given mode."""
    prod = AIOKafkaProducer(
        **client_options(bootstrap=bootstrap), linger_ms=10, max_batch_size=1 << 20
    )
    await prod.start()
    try:
        run = time.time_ns()
        ids = [f"P{run}-{i}" for i in range(count)]
        records = claim_records(random.Random(1), ids, patient)
        for topic, key, value, hdrs in records[:200]:  # metadata and connections first
            await prod.send(topic, key=key, value=value, headers=hdrs)
        await prod.flush()
        cpu0 = time.process_time()
        async for topic, key, value, hdrs in paced(records, rate):
            if mode == "spread":
                await prod.send(topic, key=key, value=value, headers=hdrs)
            elif mode == "one-partition":
                await prod.send(records[0][0], key=key, value=value, headers=hdrs, partition=0)
        await prod.flush()
        return time.process_time() - cpu0
    finally:
        await prod.stop()


def main(args: argparse.Namespace) -> None:
    infra = provision()  # before the event loop: it waits for the broker with one of its own
    try:
        for mode in MODES:
            cpu = asyncio.run(measure(infra.kafka_bootstrap, mode, args.claims, args.rate))
            seconds = args.claims / args.rate
            print(
                f"{mode:>14}: {1e6 * cpu / args.claims:5.0f} µs of CPU per claim,"
                f" {cpu / seconds:.2f} cores at {args.rate:,.0f} claims/s"
            )
    finally:
        infra.stop()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--claims", type=int, default=10_000)
    p.add_argument("--rate", type=float, default=1000.0)
    main(p.parse_args())
