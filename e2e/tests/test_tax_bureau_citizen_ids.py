"""A tax bureau collects from a flexible worker it knows by citizen ID (real Kafka and Redis).

Enrollment and contributions run as processes. An office registers a person by citizen ID and
enrols the person as a flexible worker; the scheduler closes the month; the bureau (Nanjing,
t320100) reads what is due on its assessments topic, where the person is named by citizen ID, and
reports the payment by that ID, with a second report for a valid ID that owes nothing. The
bureau's answers name the person by the ID it sent; the month is credited to the person's
reference; and no internal topic, nor contributions' own Redis, holds the ID: enrollment
publishes it only sealed, for contributions to open when it writes to the bureau.
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from shebao_contracts import contributions as cc
from shebao_contracts import enrollment as en
from shebao_contracts.envelope import Message
from shebao_devinfra.testing import (
    ServiceProcess,
    message_record,
    producer,
    read_all,
    recreate_topics,
    wait_until,
)
from shebao_partners import person_collected, with_check_char

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

BUREAU = "t320100"
KEYS = {
    "SHEBAO_PSEUDONYM_KEY": "e2e-citizen-ids-pseudonym-key-0123456789",
    "SHEBAO_CITIZEN_ID_KEY": "e2e-citizen-ids-sealing-key-0123456789ab",
}
CITIZEN_ID = re.compile(rb"(?<![0-9A-Za-z])[0-9]{17}[0-9X](?![0-9A-Za-z])")


WORKER = with_check_char("32010219850615123")
NOBODY = with_check_char("32010219900101456")  # a valid ID the platform never heard of


async def test_a_bureau_collects_from_a_flexible_worker_by_citizen_id(
    infra: Any, tmp_path: Path
) -> None:
    redis_url = infra.redis_url.rsplit("/", 1)[0] + "/10"
    r = aioredis.Redis.from_url(redis_url)
    await r.flushdb()
    assessments, collections = cc.ASSESSMENTS.named(code=BUREAU), cc.COLLECTIONS.named(code=BUREAU)
    internal = [en.COMMANDS.name, en.EVENTS.name, cc.COMMANDS.name, cc.WORK.name, cc.EVENTS.name]
    partner = [assessments, collections, collections + ".dlq"]
    await recreate_topics(
        infra.kafka_bootstrap, [*internal, *(t + ".dlq" for t in internal), *partner]
    )
    services = [
        ServiceProcess(
            name,
            f"shebao_{name}",
            kafka=infra.kafka_bootstrap,
            redis_url=redis_url,
            log_dir=tmp_path,
            env=KEYS,
        )
        for name in ("enrollment", "contributions")
    ]
    contributions = services[1]
    prod = await producer(infra.kafka_bootstrap)
    sent = 0

    async def send(topic: str, key: str, message: Message, at: datetime) -> None:
        nonlocal sent
        sent += 1
        k, v, h = message_record(message, message_id=f"cid-{sent}", time=at, key=key, topic=topic)
        await prod.send_and_wait(topic, key=k, value=v, headers=h)

    async def bureau_reads(kind: type[Message], n: int) -> list[dict[str, Any]]:
        """What the bureau has on its topic of one kind, once there are n of them."""
        found: list[dict[str, Any]] = []

        async def enough() -> bool:
            found[:] = [
                json.loads(x.value)
                for x in await read_all(infra.kafka_bootstrap, assessments)
                if dict(x.headers)["ce_type"].decode() == kind.TYPE
            ]
            return len(found) >= n

        await wait_until(enough, timeout=60, interval=0.5)
        return found

    try:
        for svc in services:
            svc.start()
        for svc in services:
            await svc.wait_ready()
        april = datetime(2019, 4, 1, 9, tzinfo=UTC)
        await send(
            en.COMMANDS.name,
            WORKER,
            en.RegisterPerson(
                citizen_id=WORKER,
                name="王芳",
                hukou_region="320100",
                residence=en.Residence.URBAN,
                registered_on=date(2019, 4, 1),
            ),
            april,
        )
        await send(
            en.COMMANDS.name,
            WORKER,
            en.EnrolFlexibleWorker(
                citizen_id=WORKER,
                region="320100",
                start_date=date(2019, 4, 1),
                declared_base=Decimal("6000.00"),
            ),
            april,
        )

        async def heard() -> bool:  # PersonRegistered and the two memberships
            n = await contributions.metric("shebao_records_total", subscription="enrollment")
            return n >= 3

        await wait_until(heard, timeout=60)
        may = datetime(2019, 5, 2, 9, tzinfo=UTC)
        close = cc.ClosePeriod(region="320100", month="2019-04")
        await send(cc.COMMANDS.name, "320100", close, may)

        # what is due, to the bureau: the payer by citizen ID
        (due,) = await bureau_reads(cc.TaxAssessmentIssued, 1)
        assert (due["payer"], due["citizen_id"], due["period"]) == ("person", WORKER, "2019-04")
        assert "person" not in due
        assert due["total"] == due["amount_due"] == "1800.00"  # pension 20% + medical 10% of 6,000

        # the bureau reports the payment by the same ID, and one for an ID that owes nothing
        await send(
            collections,
            "NJ-CID-1",
            person_collected("NJ-CID-1", WORKER, "2019-04", Decimal(due["amount_due"])),
            may,
        )
        await send(
            collections,
            "NJ-CID-2",
            person_collected("NJ-CID-2", NOBODY, "2019-04", Decimal(1)),
            may,
        )
        (booked,) = await bureau_reads(cc.TaxPaymentBooked, 1)
        assert (booked["collection_id"], booked["citizen_id"], booked["outcome"]) == (
            "NJ-CID-1",
            WORKER,
            "settled",
        )
        (refused,) = await bureau_reads(cc.TaxCollectionRejected, 1)
        assert (refused["collection_id"], refused["citizen_id"], refused["reason"]) == (
            "NJ-CID-2",
            NOBODY,
            "unknown_assessment",
        )

        # the month is credited to the person's reference, the one enrollment registered
        async def credited() -> list[dict[str, Any]]:
            return [
                json.loads(x.value)
                for x in await read_all(infra.kafka_bootstrap, cc.EVENTS.name)
                if dict(x.headers)["ce_type"].decode() == cc.ContributionCredited.TYPE
            ]

        async def any_credit() -> bool:
            return bool(await credited())

        await wait_until(any_credit, timeout=60)
        registered = [
            json.loads(x.value)
            for x in await read_all(infra.kafka_bootstrap, en.EVENTS.name)
            if dict(x.headers)["ce_type"].decode() == en.PersonRegistered.TYPE
        ]
        (person,) = registered
        assert {c["person"] for c in await credited()} == {person["person"]}
        assert person["sealed_citizen_id"].startswith("v1.")

        # no internal topic carries a citizen ID, in a value or a key
        for topic in internal:
            if topic == en.COMMANDS.name:
                continue  # the offices' commands name people by ID: that is their input
            for x in await read_all(infra.kafka_bootstrap, topic):
                assert not CITIZEN_ID.search(x.value), (topic, x.value[:200])
                assert not (x.key and CITIZEN_ID.search(x.key)), (topic, x.key)
        # nor does contributions' own store, once its outbox is published
        await asyncio.sleep(1)
        keys = [k async for k in r.scan_iter(match="shebao:contributions:*")]
        assert keys
        for key in keys:
            kind = await r.type(key)
            if kind == b"string":
                values = [await r.get(key)]
            elif kind == b"hash":
                values = list((await r.hgetall(key)).values())
            elif kind == b"stream":
                entries = await r.xrange(key) or []
                values = [v for _, fields in entries for v in (fields or {}).values()]
            else:
                continue
            for value in values:
                assert WORKER.encode() not in (value or b""), key
    finally:
        for svc in services:
            svc.stop()
        await prod.stop()
        await r.aclose()
