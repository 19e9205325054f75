"""An office registers an employer and hires for it in the next breath: what it can live with.

RegisterEmployer is keyed by the employer and StartEmployment by the person, so the two travel
on different partitions and the hire may be read first. The platform does not hold the hire; it
refuses it as `employer_not_registered`, which the reasons catalogue marks "wait and resend",
and its detail says how: once EmployerRegistered is out, send the hire again with a new ce_id
(the old id is answered already; the same id again would be dropped as a resend). This test is
that office, through real Kafka and Redis: 30 employers and one hire each, every pair sent back
to back; every refused hire is resent as the contract says, and in the end every person is
employed exactly once, by the right employer.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from enrollment_harness import citizen_id

from shebao_contracts import enrollment as c
from shebao_contracts.reasons import REASONS, Action
from shebao_devinfra.testing import (
    ServiceProcess,
    message_record,
    producer,
    read_all,
    recreate_topics,
    wait_until,
)

pytestmark = pytest.mark.integration

T0 = datetime(2025, 3, 3, 8, tzinfo=UTC)
PAIRS = 30


def employer(k: int) -> str:
    return f"91320100MA{7000 + k:08d}"


def person(k: int) -> str:
    return citizen_id(date(1985, 1, 1) + timedelta(days=k), n=k)


async def test_a_hire_sent_right_after_its_employers_registration(infra, tmp_path: Path) -> None:
    assert REASONS["employer_not_registered"].action is Action.RETRY
    redis_url = infra.redis_url.rsplit("/", 1)[0] + "/9"
    r = aioredis.Redis.from_url(redis_url)
    await r.flushdb()
    await recreate_topics(infra.kafka_bootstrap, [c.COMMANDS.name, c.EVENTS.name, c.COMMANDS.dlq])
    svc = ServiceProcess(
        "enrollment",
        "shebao_enrollment",
        kafka=infra.kafka_bootstrap,
        redis_url=redis_url,
        log_dir=tmp_path,
    )
    prod = await producer(infra.kafka_bootstrap, linger_ms=0)
    sent = 0

    async def send(msg: c.Message, key: str) -> str:
        nonlocal sent
        sent += 1
        command_id = f"office-{sent}"
        k, v, h = message_record(
            msg, message_id=command_id, time=T0 + timedelta(seconds=sent), key=key
        )
        await prod.send(c.COMMANDS.name, key=k, value=v, headers=h)
        return command_id

    def hire(k: int) -> c.StartEmployment:
        return c.StartEmployment(
            citizen_id=person(k),
            employer=employer(k),
            start_date=date(2025, 3, 1),
            monthly_wage="8000.00",
        )

    try:
        svc.start()
        await svc.wait_ready()
        for k in range(PAIRS):
            await send(
                c.RegisterPerson(
                    citizen_id=person(k),
                    name=f"职工{k}",
                    hukou_region="320100",
                    residence=c.Residence.URBAN,
                    registered_on=date(2025, 3, 1),
                ),
                person(k),
            )
        await prod.flush()
        hires: dict[str, int] = {}  # command id -> pair
        for k in range(PAIRS):  # each pair back to back, no wait in between
            await send(
                c.RegisterEmployer(
                    employer=employer(k),
                    name=f"单位{k}",
                    region="320100",
                    ownership=c.Ownership.PRIVATE,
                    risk_class=1,
                    registered_on=date(2025, 3, 1),
                ),
                employer(k),
            )
            hires[await send(hire(k), person(k))] = k
        await prod.flush()

        async def events() -> list[tuple[str, dict[str, object]]]:
            return [
                (dict(rec.headers)["ce_type"].decode().rsplit(".", 1)[1], json.loads(rec.value))
                for rec in await read_all(infra.kafka_bootstrap, c.EVENTS.name)
            ]

        async def answered() -> bool:
            seen = await events()
            started = sum(1 for kind, _ in seen if kind == "EmploymentStarted")
            refused = [b for kind, b in seen if kind == "CommandRejected"]
            return started + len(refused) >= PAIRS

        await wait_until(answered, timeout=60)
        seen = await events()
        refused = [b for kind, b in seen if kind == "CommandRejected"]
        assert {b["reason"] for b in refused} <= {"employer_not_registered"}
        # The office does what the refusal says: once the employer is out, a new command.
        retried = 0
        for b in refused:
            k = hires[str(b["command_id"])]
            assert "resend" in str(b["detail"])

            async def registered(k: int = k) -> bool:
                return any(
                    kind == "EmployerRegistered" and e["employer"] == employer(k)
                    for kind, e in await events()
                )

            await wait_until(registered, timeout=60)
            await send(hire(k), person(k))
            retried += 1
        await prod.flush()

        async def all_employed() -> bool:
            return sum(1 for kind, _ in await events() if kind == "EmploymentStarted") >= PAIRS

        await wait_until(all_employed, timeout=60)
        seen = await events()
        started = [e for kind, e in seen if kind == "EmploymentStarted"]
        assert sorted(str(e["employer"]) for e in started) == sorted(
            employer(k) for k in range(PAIRS)
        )
        assert len({str(e["person"]) for e in started}) == PAIRS, "each person hired once"
        assert len([b for kind, b in seen if kind == "CommandRejected"]) == retried
        assert svc.alive
        print(f"{retried} of {PAIRS} hires were read before their employer and resent")
    finally:
        svc.stop()
        await prod.stop()
        await r.aclose()
