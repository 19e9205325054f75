"""Throughput of one Kafka partition, and the broker's CPU per record, for docs/CAPACITY.md.

Starts the project's local broker (`shebao_devinfra.local.LocalKafka`: Kafka 3.9.2 in KRaft
mode, SASL on the client listener, C1 JIT, one node), creates a topic of one partition and runs
Kafka's own Java perf tools against it, as the operator (SASL PLAIN), acks=all and idempotent:

1. produce N records of --record-size bytes as fast as the producer goes (--linger-ms,
   --batch-size: a bulk producer's batches);
2. produce at a fixed --paced-rate records/s with linger.ms=0 (small batches, as the services'
   relays send at a live load);
3. consume them all as fast as the consumer goes.

For each: records/s and MB/s from the tool's own report, and the broker's CPU seconds over the
phase (/proc/PID/stat) divided by the records, i.e. its CPU per record; the client's CPU too
(it shares the machine's cores). The broker keeps one replica (single node), so acks=all waits
for no follower: a production cluster of three replicas does the replication work besides.

The perf tools are in kafka-tools, which the broker does not need: fetch it once with
`mvn dependency:copy -Dartifact=org.apache.kafka:kafka-tools:3.9.2` (it goes to ~/.m2).

    uv run python scripts/broker_partition.py [--records 300000] [--record-size 1100] [--repeat 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from shebao_devinfra.bench.machine import machine as machine_line
from shebao_devinfra.local import KAFKA_VERSION, LocalKafka, admin_credentials, ensure_kafka_jars
from shebao_devinfra.testing import cpu_seconds, create_topics

TOOLS = (
    Path.home()
    / f".m2/repository/org/apache/kafka/kafka-tools/{KAFKA_VERSION}"
    / f"kafka-tools-{KAFKA_VERSION}.jar"
)


def children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_tool(cp: str, cls: str, args: list[str]) -> tuple[str, float, float]:
    """(output, wall seconds, the tool's CPU seconds)."""
    c0, t0 = children_cpu(), time.monotonic()
    out = subprocess.run(
        ["java", "-Xmx512m", "-XX:TieredStopAtLevel=1", "-cp", cp, cls, *args],
        capture_output=True,
        text=True,
        check=False,
    )
    wall, cpu = time.monotonic() - t0, children_cpu() - c0
    if out.returncode != 0:
        raise RuntimeError(f"{cls} failed:\n{out.stdout}\n{out.stderr}")
    return out.stdout, wall, cpu


def produce(
    cp: str,
    bootstrap: str,
    config: Path,
    topic: str,
    n: int,
    size: int,
    rate: int,
    props: dict[str, str],
) -> tuple[float, float]:
    """(records/s, MB/s) of ProducerPerformance's summary line."""
    out, _, _ = run_tool(
        cp,
        "org.apache.kafka.tools.ProducerPerformance",
        [
            "--topic",
            topic,
            "--num-records",
            str(n),
            "--record-size",
            str(size),
            "--throughput",
            str(rate),
            "--producer.config",
            str(config),
            "--producer-props",
            f"bootstrap.servers={bootstrap}",
            "acks=all",
            "enable.idempotence=true",
            *(f"{k}={v}" for k, v in props.items()),
        ],
    )
    m = re.search(r"(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\)", out)
    if m is None:
        raise RuntimeError(f"no summary in:\n{out}")
    return float(m.group(2)), float(m.group(3))


def consume(cp: str, bootstrap: str, config: Path, topic: str, n: int) -> tuple[float, float]:
    """(records/s, MB/s) of ConsumerPerformance (whole run, rebalance included is excluded by
    taking its fetch figures)."""
    out, _, _ = run_tool(
        cp,
        "org.apache.kafka.tools.ConsumerPerformance",
        [
            "--bootstrap-server",
            bootstrap,
            "--topic",
            topic,
            "--messages",
            str(n),
            "--consumer.config",
            str(config),
            "--timeout",
            "30000",
            "--group",
            f"perf-{time.time_ns()}",
        ],
    )
    line = [ln for ln in out.strip().splitlines() if ln and ln[0].isdigit()][-1]
    f = [x.strip() for x in line.split(",")]
    # start, end, MB, MB/s, nMsg, nMsg/s, rebalance ms, fetch ms, fetch MB/s, fetch nMsg/s
    return float(f[9]), float(f[8])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--records", type=int, default=300_000)
    p.add_argument(
        "--record-size",
        type=int,
        default=1100,
        help="bytes per record (a claim's JSON ~800 B + its headers)",
    )
    p.add_argument("--linger-ms", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=262_144)
    p.add_argument("--paced-rate", type=int, default=2000)
    p.add_argument("--paced-records", type=int, default=40_000)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--tools-jar", type=Path, default=TOOLS)
    args = p.parse_args()
    if not args.tools_jar.exists():
        p.error(
            f"{args.tools_jar} missing: mvn dependency:copy "
            f"-Dartifact=org.apache.kafka:kafka-tools:{KAFKA_VERSION}"
        )
    cp = f"{ensure_kafka_jars()}/*:{args.tools_jar}"
    tmp = Path(tempfile.mkdtemp(prefix="shebao-broker-perf-"))
    kafka = LocalKafka(tmp / "kafka").start()
    try:
        user, password = admin_credentials()
        config = tmp / "client.properties"
        config.write_text(
            "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n"
            "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'username="{user}" password="{password}";\n'
        )
        os.chmod(config, 0o600)
        print(f"machine: {machine_line()}")
        print(f"broker pid {kafka.pid}, {kafka.bootstrap}; records of {args.record_size} B")
        rows: dict[str, list[tuple[float, float, float, float]]] = {}

        def phase(name: str, n: int, fn: Callable[[], tuple[float, float]]) -> None:
            assert kafka.pid is not None
            b0, c0 = cpu_seconds(kafka.pid) or 0.0, children_cpu()
            rps, mbps = fn()
            broker = (cpu_seconds(kafka.pid) or 0.0) - b0
            client = children_cpu() - c0
            rows.setdefault(name, []).append((rps, mbps, 1e6 * broker / n, 1e6 * client / n))
            print(
                f"  {name}: {rps:,.0f} records/s, {mbps:.1f} MB/s; broker CPU "
                f"{1e6 * broker / n:.1f} µs/record, client {1e6 * client / n:.1f} µs/record",
                flush=True,
            )

        for run in range(1, args.repeat + 1):
            topic = f"perf.one.partition.{run}.{time.time_ns()}"
            asyncio.run(create_topics(kafka.bootstrap, [topic], partitions=1))
            print(f"run {run}: topic {topic} (1 partition)", flush=True)
            bulk = {"linger.ms": str(args.linger_ms), "batch.size": str(args.batch_size)}
            n, size = args.records, args.record_size
            target = (cp, kafka.bootstrap, config, topic)
            unbatched = {"linger.ms": "0"}
            phase("produce, bulk batches", n, partial(produce, *target, n, size, -1, bulk))
            phase("consume", n, partial(consume, *target, n))
            phase(
                f"produce at {args.paced_rate:,}/s, linger 0",
                args.paced_records,
                partial(produce, *target, args.paced_records, size, args.paced_rate, unbatched),
            )
        print("\nmedian (min-max) over runs:")
        for name, vals in rows.items():
            cols = []
            for i, unit in enumerate(("records/s", "MB/s", "broker µs/record", "client µs/record")):
                xs = [v[i] for v in vals]
                cols.append(f"{statistics.median(xs):,.1f} ({min(xs):,.1f}-{max(xs):,.1f}) {unit}")
            print(f"  {name}: " + "; ".join(cols))
    finally:
        kafka.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
