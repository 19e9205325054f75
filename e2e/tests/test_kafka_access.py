"""The broker holds every partner and service to its own topics (SASL/SCRAM and ACLs).

Two hospitals and a tax bureau are onboarded with the operator's command
(`python -m shebao_common.onboard partner add ...`) on the session's broker, which runs with
authentication and the StandardAuthorizer like every other test here. The settlement service
runs as its own principal. Each denial is asserted as the broker's authorisation error, and the
allowed path next to it still works in the same test: a new hospital submits a claim and reads
its answer, and nothing else.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    KafkaError,
    TopicAuthorizationFailedError,
)

from shebao_common.onboard import operator
from shebao_contracts import contributions as c
from shebao_contracts import medical as m
from shebao_devinfra.infra import Infra
from shebao_devinfra.testing import (
    ServiceProcess,
    create_topics,
    service_principal,
    wait_until,
)
from shebao_partners import claim_body, example_lines, partner_headers

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

NOW = datetime(2025, 1, 20, 2, tzinfo=UTC)


def _code(kind: str) -> str:
    return f"{kind[0]}{uuid.uuid4().int % 10**9:09d}"


def onboard(infra: Infra, kind: str, code: str, folder: Path, *action: str) -> str:
    """Run the operator's command; the partner's password (written by `add` into `folder`)."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "shebao_common.onboard",
            "partner",
            *(action or ("add",)),
            kind,
            code,
        ],
        cwd=folder,
        env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    secret = folder / f"{kind}-{code}.password"
    return secret.read_text().strip() if secret.exists() else ""


def as_user(infra: Infra, user: str, password: str) -> dict[str, Any]:
    return {
        "bootstrap_servers": infra.kafka_bootstrap,
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": user,
        "sasl_plain_password": password,
        "request_timeout_ms": 15_000,
    }


async def _producer(opts: dict[str, Any]) -> AIOKafkaProducer:
    p = AIOKafkaProducer(**opts, enable_idempotence=True, acks="all")
    await p.start()
    return p


async def read_until(
    opts: dict[str, Any], topic: str, *, group: str | None = None, want: int = 1
) -> list[Any]:
    """`want` records of `topic`, read from its beginning (in `group` when given)."""
    consumer = AIOKafkaConsumer(
        **opts,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    got: list[Any] = []
    try:
        consumer.subscribe([topic])  # without a group, aiokafka assigns every partition

        async def enough() -> bool:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                got.extend(records)
            return len(got) >= want

        await wait_until(enough, timeout=90)
        if group is not None:
            await consumer.commit()
    finally:
        await consumer.stop()
    return got


async def denied_topic(opts: dict[str, Any], topic: str) -> None:
    """The broker answers `opts`'s metadata request for `topic` with TOPIC_AUTHORIZATION_FAILED:
    Kafka implies DESCRIBE from READ and WRITE, so a principal refused DESCRIBE can do neither.
    (aiokafka's consumer only logs the refusal and waits, so the answer is read where it lands.)
    """
    client = AIOKafkaClient(**opts)
    await client.bootstrap()
    try:
        client.add_topic(topic)  # asks the broker for this topic's metadata
        await client.force_metadata_update()
        assert topic in client.cluster.unauthorized_topics, f"{topic} was not refused"
    finally:
        await client.close()


async def denied_group(opts: dict[str, Any], topic: str, group: str) -> None:
    """Joining `group` (to read a topic the principal may read) fails with the broker's
    GROUP_AUTHORIZATION_FAILED."""
    consumer = AIOKafkaConsumer(**opts, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.subscribe([topic])

        async def read_on() -> None:
            async with asyncio.timeout(60):
                while True:
                    await consumer.getmany(timeout_ms=500)

        with pytest.raises(GroupAuthorizationFailedError):
            await read_on()
    finally:
        await consumer.stop()


@pytest.fixture
async def settlement(infra: Infra, tmp_path: Path) -> AsyncIterator[ServiceProcess]:
    redis_url = infra.redis_url.rsplit("/", 1)[0] + "/14"
    client = aioredis.Redis.from_url(redis_url)
    await client.flushdb()
    await client.aclose()
    svc = ServiceProcess(
        "medical-settlement",
        "shebao_medical_settlement",
        kafka=infra.kafka_bootstrap,
        redis_url=redis_url,
        log_dir=tmp_path,
    )
    svc.start()
    try:
        await svc.wait_ready(timeout=120)
        yield svc
    finally:
        svc.stop()


async def test_each_partner_and_service_is_held_to_its_own_topics(
    infra: Infra, settlement: ServiceProcess, tmp_path: Path
) -> None:
    a, b, tax = _code("hospital"), _code("hospital"), _code("tax")
    pw_a = onboard(infra, "hospital", a, tmp_path)
    pw_b = onboard(infra, "hospital", b, tmp_path)
    pw_t = onboard(infra, "tax", tax, tmp_path)
    assert await topic_config(infra, m.CLAIMS.named(code=a), "message.timestamp.type") == (
        "LogAppendTime"
    )
    hospital_a = as_user(infra, f"hospital-{a}", pw_a)
    hospital_b = as_user(infra, f"hospital-{b}", pw_b)
    bureau = as_user(infra, f"tax-{tax}", pw_t)

    # allowed: hospital A submits a claim on its own topic and reads its own answer, in a group
    # of its own prefix (A is not registered, so the answer is the named refusal)
    prod_a = await _producer(hospital_a)
    try:
        body = claim_body(a, "c-1", "p-not-known", example_lines()[:1])
        headers = partner_headers(
            m.ClaimSubmitted.TYPE, message_id="c-1-sent", time=NOW, source=f"/partners/{a}"
        )
        await prod_a.send_and_wait(
            m.CLAIMS.named(code=a), key=b"c-1", value=json.dumps(body).encode(), headers=headers
        )
        answers = await read_until(
            hospital_a, m.SETTLEMENTS.named(code=a), group=f"partner.hospital.{a}.answers"
        )
        assert json.loads(answers[0].value)["claim_id"] == "c-1"
        # denied: A writes to B's claims topic
        with pytest.raises(TopicAuthorizationFailedError):
            await prod_a.send_and_wait(m.CLAIMS.named(code=b), value=b"{}")
    finally:
        await prod_a.stop()

    # allowed for B, denied for A: B's answers; a service's consumer group; a dead-letter topic
    await create_topics(infra.kafka_bootstrap, [m.SETTLEMENTS.named(code=b)])
    prod_b = await _producer(hospital_b)
    try:
        await prod_b.send_and_wait(
            m.CLAIMS.named(code=b),
            key=b"c-2",
            value=json.dumps(claim_body(b, "c-2", "p-x", example_lines()[:1])).encode(),
            headers=partner_headers(
                m.ClaimSubmitted.TYPE, message_id="c-2", time=NOW, source=f"/partners/{b}"
            ),
        )
    finally:
        await prod_b.stop()
    assert await read_until(hospital_b, m.SETTLEMENTS.named(code=b))
    await denied_topic(hospital_a, m.SETTLEMENTS.named(code=b))
    await denied_group(hospital_a, m.SETTLEMENTS.named(code=a), "shebao.medical-settlement.claims")
    dlq = m.CLAIMS.dlq.replace("{code}", a)
    await create_topics(infra.kafka_bootstrap, [dlq])
    await denied_topic(hospital_a, dlq)

    # a tax bureau reads its own assessments and no hospital's answers
    await create_topics(infra.kafka_bootstrap, [c.ASSESSMENTS.named(code=tax)])
    admin_prod = AIOKafkaProducer(**_operator(infra))
    await admin_prod.start()
    try:
        await admin_prod.send_and_wait(c.ASSESSMENTS.named(code=tax), value=b"{}")
    finally:
        await admin_prod.stop()
    assert await read_until(bureau, c.ASSESSMENTS.named(code=tax))
    await denied_topic(bureau, m.SETTLEMENTS.named(code=a))

    # the settlement service writes hospitals' answers, and no tax bureau's topic
    principal = service_principal(infra.kafka_bootstrap, settlement.contract)  # type: ignore[arg-type]
    assert principal is not None
    service = as_user(infra, *principal)
    prod_s = await _producer(service)
    try:
        await prod_s.send_and_wait(m.SETTLEMENTS.named(code=a), value=b"{}")
        with pytest.raises(TopicAuthorizationFailedError):
            await prod_s.send_and_wait(c.ASSESSMENTS.named(code=tax), value=b"{}")
    finally:
        await prod_s.stop()

    # offboarded, A can no longer log in; B is untouched
    onboard(infra, "hospital", a, tmp_path, "remove")
    with pytest.raises((KafkaConnectionError, KafkaError)):
        await _producer(hospital_a)
    assert await read_until(hospital_b, m.SETTLEMENTS.named(code=b))


async def topic_config(infra: Infra, topic: str, key: str) -> str | None:
    async with operator(infra.kafka_bootstrap) as admin:
        responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    for response in responses:
        for resource in response.resources:
            for entry in resource[4]:
                if entry[0] == key:
                    return str(entry[1])
    return None


def _operator(infra: Infra) -> dict[str, Any]:
    from shebao_common.kafka_security import client_options

    return client_options(bootstrap=infra.kafka_bootstrap)
