"""The physical limit of this stack: a raw aiokafka consume -> JSON decode -> produce loop.

Run by the benchmark as its own process: `python -m shebao_devinfra.bench.raw --bootstrap ...`.

No validation, no state, no exactly-once: what any Python consumer on this machine can do at
best. Reads `--source` from the beginning until `--count` records are forwarded to `--sink`
(keyed as they came), then prints one JSON line with the count and the seconds it took, from
the first record consumed to the last send acknowledged, and the CPU seconds of the process (every
thread) over the same span.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from shebao_common.kafka_security import client_options

from ..local import warn_plain_once


async def main(bootstrap: str, source: str, sink: str, count: int) -> None:
    consumer = AIOKafkaConsumer(
        source,
        **client_options(bootstrap=bootstrap),
        group_id=f"bench-raw-{time.time_ns()}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    producer = AIOKafkaProducer(
        **client_options(bootstrap=bootstrap),
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=512 * 1024,
    )
    await consumer.start()
    await producer.start()
    done = 0
    started = cpu0 = sys0 = None
    pending: list[asyncio.Future[object]] = []
    try:
        while done < count:
            batch = await consumer.getmany(timeout_ms=200, max_records=2000)
            for records in batch.values():
                if started is None:
                    started, cpu0 = time.perf_counter(), time.process_time()
                    sys0 = os.times().system
                for r in records:
                    body = orjson.loads(r.value)
                    body["forwarded"] = True
                    pending.append(await producer.send(sink, orjson.dumps(body), key=r.key))
                done += len(records)
            if len(pending) > 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
        elapsed = time.perf_counter() - (started or time.perf_counter())
        cpu = time.process_time() - (cpu0 or time.process_time())
        kernel = os.times().system - (sys0 if sys0 is not None else os.times().system)
    finally:
        await producer.stop()
        await consumer.stop()
    print(
        json.dumps({"records": done, "seconds": elapsed, "cpu_seconds": cpu, "sys_seconds": kernel})
    )


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--source", required=True)
    p.add_argument("--sink", required=True)
    p.add_argument("--count", type=int, required=True)
    a = p.parse_args()
    warn_plain_once()  # it connects as the benchmark's operator
    asyncio.run(main(a.bootstrap, a.source, a.sink, a.count))
