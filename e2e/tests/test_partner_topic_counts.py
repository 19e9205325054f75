"""A partner's topic whose partition count differs from a partitioned service's layout.

Medical settlement keeps a claim id's patient with the claim id's partition (`claim-holder`):
a hospital's claims topic of another partition count than the layout would have its claims
decided in slots that do not own their keys. The service refuses to start on such a topic (not
ready, the reason in /readyz), and a topic created so after the start is never read, said so in
the log, while the other hospitals' claims go on (docs/CAPACITY.md#changing-partition-counts).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from shebao_common.kafka_security import client_options
from shebao_contracts import medical as m
from shebao_devinfra.testing import ServiceProcess, recreate_topics, wait_until

pytestmark = pytest.mark.e2e

EARLY, LATE = "h320102981", "h320102982"


async def _create(bootstrap: str, name: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(**client_options(bootstrap=bootstrap))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()


async def test_a_partner_topic_of_another_partition_count_is_refused_or_never_read(
    infra: Any, tmp_path: Path
) -> None:
    bootstrap = infra.kafka_bootstrap
    redis_url = infra.redis_url.rsplit("/", 1)[0] + "/15"
    r = aioredis.Redis.from_url(redis_url)
    await r.flushdb()
    early, late = m.CLAIMS.named(code=EARLY), m.CLAIMS.named(code=LATE)
    await recreate_topics(bootstrap, [])  # the platform's own topics, 4 partitions each
    # no hospital's claims topic left by another test (of the registry's count, or another):
    # the service checks every one there is
    admin = AIOKafkaAdminClient(**client_options(bootstrap=bootstrap))
    await admin.start()
    try:
        stale = [t for t in await admin.list_topics() if m.CLAIMS.match(t) is not None]
        if stale:
            await admin.delete_topics(stale)

        async def gone() -> bool:
            return not set(stale) & set(await admin.list_topics())

        await wait_until(gone, timeout=30)
    finally:
        await admin.close()
    await _create(bootstrap, early, 2)
    svc = ServiceProcess(
        "medical-settlement",
        "shebao_medical_settlement",
        kafka=bootstrap,
        redis_url=redis_url,
        log_dir=tmp_path,
        env={"STATE_LAYOUT": "partitioned"},  # laid out for 4 partitions (TOPIC_PARTITIONS)
    )
    try:
        svc.start()
        body: dict[str, Any] = {}

        async def refused() -> bool:
            nonlocal body
            status, body = await svc.get_json("/readyz")
            return status == 503 and f"{early} has 2" in str(body.get("waiting_for", ""))

        await wait_until(refused, timeout=60)
        assert "docs/CAPACITY.md#changing-partition-counts" in body["waiting_for"]
        assert svc.alive
        assert not [k async for k in r.scan_iter(match="shebao:medical-settlement:{*")]
        svc.terminate()

        # with the topic at the layout's count it starts; a topic created wrong after the start
        # is found by the pattern subscription and never read
        await recreate_topics(bootstrap, [early])
        svc.start()
        await svc.wait_ready()
        await _create(bootstrap, late, 2)

        async def held() -> bool:
            return f"{late} has 2 partitions" in svc.log_text()

        await wait_until(held, timeout=60)
        assert svc.alive
        status, _ = await svc.get_json("/readyz")
        assert status == 200  # the other topics are read on
    finally:
        svc.terminate()
        await r.aclose()
