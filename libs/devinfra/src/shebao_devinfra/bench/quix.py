"""The Python peer a team would pick instead of the platform: a Quix Streams hop, exactly-once.

Run by the benchmark as its own process, in the `bench` dependency group's environment
(.bench-venv, `scripts/bootstrap.sh --bench`), never the workspace's: `python quix.py --source
... --sink ... --count N`, with the librdkafka connection settings as JSON in the environment
variable SHEBAO_BENCH_KAFKA (the password stays off the command line). It imports nothing from the
platform: only the standard library and Quix Streams.

The step is the one issue 20 asks to compare a settlement hop with: decode the claim's JSON, sum
its lines' amounts as Decimal, read and write a running total in Quix's RocksDB state (scoped by
the record key, the claim id as in the raw loop: in the benchmark's load each patient has one
claim, so the key stands for the patient), produce one record to the sink. Processing guarantee
exactly-once (Kafka transactions, state changelog), reading `--source` from the beginning, until
`--count` records are produced; then one JSON line: records, seconds from the first record consumed
to the last transaction committed and the state closed, and the CPU seconds of the whole process
(every thread: librdkafka's and RocksDB's too) over the same span.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from decimal import Decimal
from typing import Any

KAFKA_ENV = "SHEBAO_BENCH_KAFKA"
"""The librdkafka connection settings (bootstrap, security protocol, SASL, CA) as a JSON object."""


def main(source: str, sink: str, count: int, group: str) -> dict[str, float]:
    # Imported here: the benchmark imports KAFKA_ENV from this module in the workspace's .venv,
    # where Quix Streams is not installed.
    from quixstreams import Application
    from quixstreams.kafka.configuration import ConnectionConfig

    connection = ConnectionConfig.from_librdkafka_dict(json.loads(os.environ[KAFKA_ENV]))
    state_dir = tempfile.mkdtemp(prefix="shebao-bench-quix-")
    app = Application(
        broker_address=connection,
        consumer_group=group,
        auto_offset_reset="earliest",
        processing_guarantee="exactly-once",
        state_dir=state_dir,
        loglevel="WARNING",
    )
    claims = app.topic(source, key_deserializer="bytes", value_deserializer="json")
    settled = app.topic(sink, key_serializer="bytes", value_serializer="json")
    started: list[float] = []  # wall and CPU seconds at the first record

    def settle(claim: dict[str, Any], state: Any) -> dict[str, Any]:
        if not started:
            started.extend((time.perf_counter(), time.process_time()))
        total = sum((Decimal(line["amount"]) for line in claim["lines"]), Decimal(0))
        running = Decimal(state.get("total", "0")) + total
        state.set("total", str(running))
        return {
            "claim_id": claim["claim_id"],
            "patient": claim["patient_citizen_id"],
            "total": str(total),
            "running_total": str(running),
        }

    sdf = app.dataframe(claims)
    sdf = sdf.apply(settle, stateful=True)
    sdf.to_topic(settled)
    try:
        # Stops after `count` outputs, commits the last checkpoint (transaction) and closes.
        app.run(count=count, collect=False)
        wall, cpu = time.perf_counter(), time.process_time()
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)
    return {"records": count, "seconds": wall - started[0], "cpu_seconds": cpu - started[1]}


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--source", required=True)
    p.add_argument("--sink", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--group", default=f"bench-quix-{time.time_ns()}")
    a = p.parse_args()
    print(json.dumps(main(a.source, a.sink, a.count, a.group)), flush=True)
