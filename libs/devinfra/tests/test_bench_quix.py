"""The benchmark's Quix Streams hop (`bench.quix`, run by `bench.peers`) on a real broker: every
claim is forwarded once, exactly-once, with its lines summed (or, as the ingest hop would, validated
and pseudonymised), and the CPU it took is reported."""

from __future__ import annotations

import json
import random
import time
from decimal import Decimal

import pytest

from shebao_devinfra.bench.claims import claim_json, headers, patient
from shebao_devinfra.bench.figures import Figures
from shebao_devinfra.bench.peers import (
    BENCH_PYTHON,
    quix,
    quix_adjudicate,
    quix_ingest,
    quix_installed,
)
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


async def _send(
    bootstrap: str, topic: str, records: list[tuple[bytes, bytes, list[tuple[str, bytes]] | None]]
) -> None:
    """(key, value, headers) records onto `topic`, in order."""
    prod = await producer(bootstrap)
    try:
        for key, value, hdrs in records:
            await prod.send(topic, key=key, value=value, headers=hdrs)
        await prod.flush()
    finally:
        await prod.stop()


async def test_quix_hop_forwards_every_claim_once(infra) -> None:
    n = 200
    stamp = time.time_ns()
    src, dst = f"test.quix.in.{stamp}", f"test.quix.out.{stamp}"
    await create_topics(infra.kafka_bootstrap, [src, dst], partitions=2)
    rng = random.Random(7)
    sent = {f"q-{i}": claim_json(rng, f"q-{i}", "h320100000", patient(i)) for i in range(n)}
    await _send(infra.kafka_bootstrap, src, [(c.encode(), v, None) for c, v in sent.items()])

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
    assert 0 <= figures.kernel_us["process"][0] <= figures.cpu_us["process"][0]


async def test_quix_ingest_hop_forwards_each_claim_pseudonymised_once(infra) -> None:
    # the like-for-like peer (`--step ingest`): validated, pseudonymised, keyed by the person; a
    # resend (the same event id) dropped, as are a claim whose lines do not add up and one whose
    # sender is not the hospital it names
    n = 60
    stamp = time.time_ns()
    src, dst = f"test.quixi.in.{stamp}", f"test.quixi.out.{stamp}"
    await create_topics(infra.kafka_bootstrap, [src, dst], partitions=2)
    rng = random.Random(7)
    code = "h320100000"
    sent: dict[str, bytes] = {}
    # the refused ones first, the resend right after its original: the hop stops after n
    # outputs, so each is read before the last good claim of its partition
    bad = json.loads(claim_json(rng, "qi-bad", code, patient(n)))
    bad["total"] = str(Decimal(bad["total"]) + 1)
    other = claim_json(rng, "qi-other", code, patient(n + 1))
    records = [
        (b"qi-bad", json.dumps(bad).encode(), headers("qi-bad", code)),
        (b"qi-other", other, headers("qi-other", "h320100001")),  # not the sender
    ]
    for i in range(n):
        cid = f"qi-{i}"
        sent[cid] = claim_json(rng, cid, code, patient(i))
        records += [(cid.encode(), sent[cid], headers(cid, code))] * (2 if i == 0 else 1)
    await _send(infra.kafka_bootstrap, src, records)  # the first one resent

    figures = Figures()
    await quix_ingest(infra.kafka_bootstrap, src, dst, n, figures)

    out = await read_all(infra.kafka_bootstrap, dst)
    assert len(out) == n
    by_claim = {json.loads(r.value)["claim_id"]: r for r in out}
    assert sorted(by_claim) == sorted(sent)
    people = set()
    for cid, r in by_claim.items():
        body, claim = json.loads(r.value), json.loads(sent[cid])
        assert r.key.decode() == body["person"] and len(body["person"]) == 32
        assert (
            "patient_citizen_id" not in body and claim["patient_citizen_id"] not in r.value.decode()
        )
        assert Decimal(body["total"]) == Decimal(claim["total"])
        assert len(body["lines"]) == len(claim["lines"])
        assert dict(r.headers)["ce_type"] == b"shebao.medical.ClaimReceived"
        people.add(body["person"])
    assert len(people) == n
    assert figures.cpu_us["process"][0] > 0


async def test_quix_adjudicate_hop_settles_each_forwarded_claim_once(infra) -> None:
    # the like-for-like peer of adjudication (`--step adjudicate`), on what the ingest peer
    # forwarded: the service's own rules answer each claim once and publish its settlement
    n = 40
    stamp = time.time_ns()
    src, fwd, answers = (f"test.quixa.{part}.{stamp}" for part in ("in", "fwd", "answers"))
    await create_topics(
        infra.kafka_bootstrap, [src, fwd, answers, f"{answers}.events"], partitions=2
    )
    rng = random.Random(7)
    hospitals = {"h320100000": "secondary", "h320100001": "tertiary"}
    sent, records = {}, []
    for i in range(n):
        cid, code = f"qa-{i}", sorted(hospitals)[i % 2]
        body = claim_json(rng, cid, code, patient(i))
        sent[cid] = json.loads(body)
        records.append((cid.encode(), body, headers(cid, code)))
    await _send(infra.kafka_bootstrap, src, records)

    await quix_ingest(infra.kafka_bootstrap, src, fwd, n, Figures())
    figures = Figures()
    await quix_adjudicate(infra.kafka_bootstrap, fwd, answers, n, figures, hospitals)

    results = {
        r.key.decode(): json.loads(r.value) for r in await read_all(infra.kafka_bootstrap, answers)
    }
    events = [
        json.loads(r.value) for r in await read_all(infra.kafka_bootstrap, f"{answers}.events")
    ]
    assert sorted(results) == sorted(sent)
    assert sorted(e["claim_id"] for e in events) == sorted(sent)
    for e in events:
        answer = results[e["claim_id"]]
        assert answer["outcome"] == "settled"
        assert answer["amounts"] == e["amounts"]
        assert Decimal(e["amounts"]["submitted"]) == Decimal(sent[e["claim_id"]]["total"])
        assert e["person"] not in (c["patient_citizen_id"] for c in sent.values())
    assert figures.cpu_us["process"][0] > 0
