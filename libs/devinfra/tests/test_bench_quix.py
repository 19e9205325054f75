"""The benchmark's Quix Streams hop (`bench.quix`, run by `bench.peers`) on a real broker: every
claim is forwarded once, exactly-once, with its lines summed, and the CPU it took is reported."""

from __future__ import annotations

import json
import random
import time
from decimal import Decimal

import pytest

from shebao_devinfra.bench.claims import claim_json, patient
from shebao_devinfra.bench.figures import Figures
from shebao_devinfra.bench.peers import BENCH_PYTHON, quix, quix_installed
from shebao_devinfra.testing import create_topics, producer, read_all

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not quix_installed(),
        reason=f"the `bench` dependency group (Quix Streams) is not installed: no {BENCH_PYTHON} "
        "(`scripts/bootstrap.sh --bench`, which `make bench` and `make test` run)",
    ),
    pytest.mark.timeout(120),
]


async def test_quix_hop_forwards_every_claim_once(infra) -> None:
    n = 200
    stamp = time.time_ns()
    src, dst = f"test.quix.in.{stamp}", f"test.quix.out.{stamp}"
    await create_topics(infra.kafka_bootstrap, [src, dst], partitions=2)
    rng = random.Random(7)
    sent = {}
    prod = await producer(infra.kafka_bootstrap)
    try:
        for i in range(n):
            cid = f"q-{i}"
            sent[cid] = claim_json(rng, cid, "h320100000", patient(i))
            await prod.send(src, key=cid.encode(), value=sent[cid])
        await prod.flush()
    finally:
        await prod.stop()

    figures = Figures()
    await quix(infra.kafka_bootstrap, src, dst, n, figures)

    out = await read_all(infra.kafka_bootstrap, dst)
    assert sorted(r.key.decode() for r in out) == sorted(sent)
    for r in out:
        body = json.loads(r.value)
        lines = json.loads(sent[r.key.decode()])["lines"]
        assert Decimal(body["total"]) == sum(Decimal(line["amount"]) for line in lines)
        assert body["running_total"] == body["total"]  # one claim a key: the state was empty
    assert figures.throughput[0] > 0
    assert figures.cpu_us["process"][0] > 0
