"""CPU per claim of the settlement stages, without Kafka or Redis in the way.

Decodes and plans batches of synthetic claims through the real ingest and adjudication
processors (the commit itself is not sent anywhere), and the same claims through the runtime
alone (`sum_hop`: the benchmark's hop with the Quix Streams peer's step as its handler), and
prints the CPU time (process time, not wall time, so other load on the machine matters less) per
record of each phase. This is the
figure to watch while optimising the runtime or the rules; `make bench` gives the end-to-end
picture on the real broker.

    uv run python scripts/bench_cpu.py [--claims 5000] [--repeat 3] [--compare-codec]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections import namedtuple
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import orjson

from shebao_common.metrics import RuntimeMetrics
from shebao_common.runtime import compiled
from shebao_common.runtime.processor import Processor
from shebao_common.runtime.service import tune_gc
from shebao_common.runtime.store import Layout, Store
from shebao_common.settings import ServiceSettings
from shebao_contracts import medical as m
from shebao_contracts.catalog import all_topics
from shebao_devinfra.bench import sum_hop
from shebao_devinfra.bench.claims import claim_json, headers, patient
from shebao_devinfra.bench.setting import HOSPITALS
from shebao_medical_settlement.domain.model import (
    COVERAGE,
    HOSPITAL,
    Coverage,
    Hospital,
    Period,
)
from shebao_medical_settlement.main import MedicalSettings, create_runtime

Record = namedtuple("Record", "topic partition offset key value headers timestamp")
RECEIVED_MS = 1_741_515_000_000  # 2025-03-09T10:10Z, minutes after the claims' ce_time


class _Relay:
    def take_trims(self, within: str | None = None) -> dict[str, Any]:
        return {}


class _Store(Store):
    def __init__(self) -> None:  # names only: nothing is sent to Redis
        self.prefix = "shebao:bench"
        self.service = "bench"
        self.layout = Layout("bench")


def processor(subscription: Any, env: Any, registry: Any = None) -> Processor:
    return Processor(
        service="medical-settlement",
        subscription=subscription,
        registry=all_topics() if registry is None else registry,
        store=_Store(),
        relay=_Relay(),
        metrics=RuntimeMetrics("bench"),  # type: ignore[arg-type]
        env=env,
        dedupe_ttl=3600,
        max_record_bytes=1 << 20,
        dlq_max_value_bytes=1 << 18,
        state_cache_entries=1 << 20,
    )


def run(n: int, rng: random.Random) -> dict[str, float]:
    rt = create_runtime(MedicalSettings())
    subs = {s.name: s for s in rt.subscriptions}
    hospitals = [
        Hospital(
            code=code, name=code, level=level, region="320100", designated_from=date(2015, 1, 1)
        )
        for code, level in HOSPITALS
    ]
    covered = Coverage(
        periods=(
            Period(scheme="employee_medical", region="320100", active=True, start=date(2020, 1, 1)),
        )
    )
    records = []
    for i in range(n):
        code, _ = HOSPITALS[i % len(HOSPITALS)]
        cid = f"C{i}"
        records.append(
            Record(
                m.CLAIMS.named(code=code),
                i % 4,
                i,
                cid.encode(),
                claim_json(rng, cid, code, patient(i % 2000)),
                headers(cid, code),
                RECEIVED_MS,  # when the broker took it: after its ce_time
            )
        )
    out: dict[str, float] = {}
    ingest = processor(subs["ingest"], rt.env)
    for h in hospitals:
        ingest.cache.put(HOSPITAL.key(h.code).name, 1, h)
    t0 = time.process_time()
    items = [ingest.decoder.decode(r) for r in records]
    t1 = time.process_time()
    # hospitals from the cache; each claim id's holder not there yet (a new claim), as loaded
    snapshot = {k.name: ingest.cache.get(k.name) or (0, None) for it in items for k in it.needs}
    plan, planned = ingest._plan(items, snapshot, 0, "")
    entries = planned.entries
    t2 = time.process_time()
    plan.packed()
    t3 = time.process_time()
    out["ingest decode"], out["ingest plan"], out["ingest pack"] = t1 - t0, t2 - t1, t3 - t2

    adjudicate = processor(subs["adjudicate"], rt.env)
    for h in hospitals:
        adjudicate.cache.put(HOSPITAL.key(h.code).name, 1, h)
    forwarded = [_record(e, i)._replace(timestamp=0) for i, e in enumerate(entries)]
    t0 = time.process_time()
    items = [adjudicate.decoder.decode(r) for r in forwarded]
    t1 = time.process_time()
    snapshot = {}
    for it in items:
        for k in it.needs:
            hit = adjudicate.cache.get(k.name)
            if hit is None:
                hit = (1, covered) if k.entity is COVERAGE else (0, None)
            snapshot[k.name] = hit
    t2 = time.process_time()
    plan, planned = adjudicate._plan(items, snapshot, 0, "")
    t3 = time.process_time()
    plan.packed()
    t4 = time.process_time()
    out["adjudicate decode"], out["adjudicate plan"] = t1 - t0, t3 - t2
    out["adjudicate pack"] = t4 - t3

    # statements reads every decision on the events topic and has a use for none of them
    statements = processor(subs["statements"], rt.env)
    decided = [_record(e, i) for i, e in enumerate(planned.entries) if e.topic == m.EVENTS.name]
    t0 = time.process_time()
    items = [statements.decoder.decode(r) for r in decided]
    t1 = time.process_time()
    statements._plan(items, {}, 0, "")[0].packed()
    t2 = time.process_time()
    out["statements decode"], out["statements plan"] = t1 - t0, t2 - t1

    # the runtime alone: the Quix Streams peer's step (decode, sum, a state value, produce)
    settings = sum_hop.SumSettings()
    hop = sum_hop.create_runtime(settings)
    summing = processor(hop.subscriptions[0], hop.env, hop.registry)
    claims = [r._replace(topic=settings.source) for r in records]
    t0 = time.process_time()
    items = [summing.decoder.decode(r) for r in claims]
    t1 = time.process_time()
    plan, _ = summing._plan(items, {k.name: (0, None) for it in items for k in it.needs}, 0, "")
    t2 = time.process_time()
    plan.packed()
    t3 = time.process_time()
    out["sum_hop decode"], out["sum_hop plan"], out["sum_hop pack"] = t1 - t0, t2 - t1, t3 - t2
    return {k: 1e6 * v / n for k, v in out.items()}


def _record(e: Any, offset: int) -> Record:
    """An outbox entry as a consumer receives it."""
    headers = [(k, v.encode()) for k, v in orjson.loads(e.headers)]
    return Record(e.topic, 0, offset, e.key, e.value, headers, RECEIVED_MS)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--claims", type=int, default=5000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument(
        "--gc-gen0", type=int, default=ServiceSettings().gc_gen0_threshold, help="as the services"
    )
    p.add_argument(
        "--compare-codec",
        action="store_true",
        help="interleave runs with pydantic reading and writing every message (as before the"
        " compiled codec) and print both",
    )
    a = p.parse_args()
    tune_gc(a.gc_gen0)
    rng = random.Random(7)
    codecs = ["compiled", "pydantic"] if a.compare_codec else ["compiled"]
    runs: dict[str, list[dict[str, float]]] = {c: [] for c in codecs}
    for _ in range(a.repeat):
        for codec in codecs:  # interleaved: the machine's speed drifts between runs
            with _codec(codec):
                runs[codec].append(run(a.claims, rng))
    print(f"CPU microseconds per claim, median of {a.repeat} runs of {a.claims:,} claims:")
    print(f"  {'':<18} " + " ".join(f"{c:>9}" for c in codecs))
    totals = dict.fromkeys(codecs, 0.0)
    for phase in runs["compiled"][0]:
        values = []
        for c in codecs:
            value = statistics.median(r[phase] for r in runs[c])
            totals[c] += value
            values.append(f"{value:9.1f}")
        print(f"  {phase:<18} " + " ".join(values))
    print(f"  {'total':<18} " + " ".join(f"{totals[c]:9.1f}" for c in codecs))
    return 0


@contextmanager
def _codec(name: str) -> Iterator[None]:
    """`pydantic`: every message and state value read and written by pydantic alone."""
    if name == "compiled":
        yield
        return
    read, encode = compiled.read, compiled.encode
    compiled.read = lambda cls, body: cls.model_validate_json(body)  # type: ignore[assignment]
    compiled.encode = lambda m: m.model_dump_json().encode()  # type: ignore[assignment]
    try:
        yield
    finally:
        compiled.read, compiled.encode = read, encode


if __name__ == "__main__":
    sys.exit(main())
