"""The benchmark's runtime-alone hop (`bench.sum_hop`: the shared runtime with the Quix Streams
peer's step as its handler) on a real broker and Redis: each claim summed once, exactly-once, its
running total kept in state, a malformed record dead-lettered; and `make bench`'s measurement of it
reports its CPU and Redis's per record."""

from __future__ import annotations

import argparse
import json
import random
import time
from decimal import Decimal

import pytest

from shebao_contracts.medical import ClaimSubmitted
from shebao_contracts.topics import partner_source
from shebao_devinfra.bench.claims import SENT, claim_json, headers, patient
from shebao_devinfra.bench.figures import Figures
from shebao_devinfra.bench.medical import MedicalBench, sum_hop_process
from shebao_devinfra.bench.setting import MIN_CLAIMS
from shebao_devinfra.kit import Offsets
from shebao_devinfra.testing import (
    create_topics,
    producer,
    read_all,
    wait_until,
)
from shebao_partners import partner_headers

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

HOSPITAL = "h320100000"


async def test_sum_hop_sums_each_claim_once_and_keeps_a_running_total(infra, tmp_path) -> None:
    stamp = time.time_ns()
    src, dst = f"test.sum.in.{stamp}", f"test.sum.out.{stamp}"
    await create_topics(infra.kafka_bootstrap, [src, dst, f"{src}.dlq"], partitions=2)
    rng = random.Random(11)
    bodies = {f"s-{i}": claim_json(rng, f"s-{i}", HOSPITAL, patient(i)) for i in range(30)}
    again = claim_json(rng, "s-0", HOSPITAL, patient(0))  # s-0 again, a new event: added
    records = [(c, v, headers(c, HOSPITAL)) for c, v in bodies.items()]
    records += [
        ("s-1", bodies["s-1"], headers("s-1", HOSPITAL)),  # a resend of s-1's event: dropped
        ("s-0", b"{not json", headers("bad-0", HOSPITAL)),  # malformed: dead-lettered
        (
            "s-0",
            again,
            partner_headers(
                ClaimSubmitted.TYPE, message_id="s-0-b", time=SENT, source=partner_source(HOSPITAL)
            ),
        ),
    ]
    prod = await producer(infra.kafka_bootstrap)
    try:
        for key, value, hdrs in records:
            await prod.send(src, key=key.encode(), value=value, headers=hdrs)
        await prod.flush()
    finally:
        await prod.stop()

    hop = sum_hop_process(infra, tmp_path, src, dst, partitions=2)
    hop.start()
    try:
        await hop.wait_ready()
        offsets = Offsets(infra.kafka_bootstrap, 2)
        await offsets.start()
        try:

            async def done() -> bool:
                return await offsets.total(dst) >= 31 and await offsets.total(f"{src}.dlq") >= 1

            await wait_until(done, timeout=60)
        finally:
            await offsets.stop()
    finally:
        hop.terminate()

    def total(body: bytes) -> Decimal:
        return sum((Decimal(line["amount"]) for line in json.loads(body)["lines"]), Decimal(0))

    out = [json.loads(r.value) for r in await read_all(infra.kafka_bootstrap, dst)]
    assert len(out) == 31, out  # one per event: the resend added nothing
    by_id: dict[str, list[dict[str, str]]] = {}
    for o in out:
        by_id.setdefault(o["claim_id"], []).append(o)
    assert sorted(by_id) == sorted(bodies)
    for cid, body in bodies.items():
        first = by_id[cid][0]
        assert Decimal(first["total"]) == total(body)
        assert first["running_total"] == first["total"]
    second = by_id["s-0"][1]
    assert Decimal(second["total"]) == total(again)
    assert Decimal(second["running_total"]) == total(bodies["s-0"]) + total(again)
    dead = await read_all(infra.kafka_bootstrap, f"{src}.dlq")
    assert [r.value for r in dead] == [b"{not json"]


async def test_bench_measures_the_sum_hop(infra, tmp_path) -> None:
    # what `make bench` runs: a start with nothing to consume, then the hop on its own claims,
    # as few as the benchmark takes (one batch's outputs can share a millisecond: MIN_CLAIMS)
    args = argparse.Namespace(claims=MIN_CLAIMS, persons=200)
    bench = MedicalBench(args, infra, tmp_path)
    bench.prod = await producer(infra.kafka_bootstrap)
    try:
        figures = Figures()
        await bench.runtime_sum(figures)
    finally:
        await bench.prod.stop()
    assert figures.throughput[0] > 0
    assert figures.cpu_us["process"][0] > 0
    assert set(figures.cpu_us) == {"process", "Redis"}
    assert len(figures.kernel_us["process"]) == 1  # the kernel's part, less the idle start's
