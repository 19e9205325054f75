"""Enrollment through real Kafka and Redis: 1,000 persons in four regions.

The service runs as a process; the test is a service counter that only produces commands and
reads events and the HTTP read side. Expected figures are worked out here by hand from the
scenario, not by calling the service's rules. Replaying every command changes nothing, and no
raw citizen ID appears on the events topic or in the service's log.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from enrollment_harness import citizen_id

from shebao_contracts import enrollment as c
from shebao_devinfra.kit.offsets import Offsets
from shebao_devinfra.testing import (
    ServiceProcess,
    message_record,
    producer,
    read_all,
    recreate_topics,
    wait_until,
)
from shebao_partners import employer_code

pytestmark = pytest.mark.integration

REGIONS = ["320100", "320500", "320300", "321300"]
N = 1000
T0 = datetime(2025, 7, 2, 8, tzinfo=UTC)  # the counter's day: after every event it records


def person_id(i: int) -> str:
    born = date(1975, 1, 1) + timedelta(days=(i * 37) % 9000)
    return citizen_id(born, male=bool(i % 2), n=i)


def region_of(i: int) -> str:
    return REGIONS[i % 4]


def employer_of(i: int) -> str:
    return employer_code(region_of(i), i % 5)


def scenario() -> tuple[list, list]:
    """(employer commands, person commands) as (message, key) pairs, in sending order."""
    employers = [
        (
            c.RegisterEmployer(
                employer=employer_code(r, k),
                name=f"单位{r}-{k}",
                region=r,
                ownership=c.Ownership.PRIVATE,
                risk_class=1 + k,
                registered_on=date(2020, 1, 1),
            ),
            employer_code(r, k),
        )
        for r in REGIONS
        for k in range(5)
    ]
    cmds: list = []

    def add(i: int, msg: object) -> None:
        cmds.append((msg, person_id(i)))

    for i in range(N):
        add(
            i,
            c.RegisterPerson(
                citizen_id=person_id(i),
                name=f"参保人{i}",
                hukou_region=region_of(i),
                residence=c.Residence.RURAL if i % 5 == 0 else c.Residence.URBAN,
                registered_on=date(2023, 1, 1),
            ),
        )
    for i in range(600):
        add(
            i,
            c.StartEmployment(
                citizen_id=person_id(i),
                employer=employer_of(i),
                start_date=date(2024, 3, 1),
                monthly_wage=Decimal(6000 + i),
            ),
        )
    for i in range(600, 800):
        add(
            i,
            c.EnrolResidentPension(
                citizen_id=person_id(i),
                region=region_of(i),
                start_date=date(2024, 1, 1),
                yearly_tier=500,
            ),
        )
        add(
            i,
            c.EnrolResidentMedical(
                citizen_id=person_id(i), region=region_of(i), start_date=date(2024, 1, 1)
            ),
        )
    for i in range(800, 900):
        add(
            i,
            c.EnrolFlexibleWorker(
                citizen_id=person_id(i),
                region=region_of(i),
                start_date=date(2024, 4, 1),
                declared_base=Decimal("5000.00"),
            ),
        )
    for i in range(900, 950):
        add(
            i,
            c.EnrolResidentMedical(
                citizen_id=person_id(i), region=region_of(i), start_date=date(2024, 1, 1)
            ),
        )
    for i in range(100):
        add(
            i,
            c.EndEmployment(
                citizen_id=person_id(i),
                employer=employer_of(i),
                end_date=date(2024, 12, 31),
                separation=c.Separation.INVOLUNTARY,
            ),
        )
    for i in range(20):
        add(
            i,
            c.StartEmployment(
                citizen_id=person_id(i),
                employer=employer_of(i),
                start_date=date(2025, 2, 1),
                monthly_wage=Decimal(7000),
            ),
        )
    for i in range(600, 630):
        to = REGIONS[(i + 1) % 4]
        add(
            i,
            c.TransferOut(
                citizen_id=person_id(i), transfer_id=f"TR-{i}", to_region=to, date=date(2025, 3, 1)
            ),
        )
        add(
            i,
            c.TransferIn(
                citizen_id=person_id(i),
                transfer_id=f"TR-{i}",
                region=to,
                from_region=region_of(i),
                date=date(2025, 3, 10),
            ),
        )
    for i in range(500):
        add(
            i,
            c.IssueCard(
                citizen_id=person_id(i), card_number=f"C{i:08d}", issued_on=date(2024, 5, 1)
            ),
        )
    for i in range(100, 110):
        add(i, c.RecordDeath(citizen_id=person_id(i), date_of_death=date(2025, 6, 30)))
    # refused by the rules
    for i in range(110, 120):
        add(
            i,
            c.EnrolResidentPension(
                citizen_id=person_id(i),
                region=region_of(i),
                start_date=date(2025, 1, 1),
                yearly_tier=500,
            ),
        )
    for i in range(900, 905):
        add(
            i,
            c.StartEmployment(
                citizen_id=person_id(i),
                employer="91320100MA99999999",
                start_date=date(2025, 1, 1),
                monthly_wage=Decimal(5000),
            ),
        )
    for i in range(100, 105):
        add(
            i,
            c.EndEmployment(
                citizen_id=person_id(i),
                employer=employer_of(i),
                end_date=date(2025, 7, 1),
                separation=c.Separation.VOLUNTARY,
            ),
        )
    return employers, cmds


def expected_coverage() -> Counter[tuple[str, str]]:
    """Active memberships per (region, insurance), from the scenario by hand."""
    out: Counter[tuple[str, str]] = Counter()
    employed = [i for i in range(600) if not (20 <= i < 100) and not (100 <= i < 110)]
    for i in employed:
        for ins in ("pension", "medical", "unemployment", "work_injury", "maternity"):
            out[(region_of(i), ins)] += 1
    for i in range(600, 800):
        region = REGIONS[(i + 1) % 4] if i < 630 else region_of(i)
        out[(region, "pension")] += 1
        out[(region, "medical")] += 1
    for i in range(800, 900):
        out[(region_of(i), "pension")] += 1
        out[(region_of(i), "medical")] += 1
    for i in range(900, 950):
        out[(region_of(i), "medical")] += 1
    return out


EXPECTED_EVENTS = {
    "EmployerRegistered": 20,
    "PersonRegistered": 1000,
    "EmploymentStarted": 620,
    "MembershipStarted": 600 * 5 + 200 * 2 + 100 * 2 + 50 + 30 * 2,
    "MembershipSuspended": 100 * 5,
    "MembershipResumed": 20 * 5,
    "MembershipEnded": 30 * 2 + 10 * 5,
    "EmploymentEnded": 100,
    "PersonTransferredOut": 30,
    "PersonTransferredIn": 30,
    "CardIssued": 500,
    "PersonDeceased": 10,
    "CommandRejected": 20 + 3,
}

MALFORMED = [  # (body, reason)
    (
        {
            "citizen_id": person_id(0)[:17] + ("0" if person_id(0)[17] != "0" else "1"),
            "name": "x",
            "hukou_region": "320100",
            "residence": "urban",
            "registered_on": "2024-01-01",
        },
        "citizen_id_checksum",
    ),
    (
        {
            "citizen_id": person_id(1),
            "name": "x",
            "hukou_region": "320100",
            "residence": "downtown",
            "registered_on": "2024-01-01",
        },
        "schema_violation",
    ),
    ({"citizen_id": person_id(2), "name": "x"}, "schema_violation"),
]


async def _send_all(prod, items, start: int) -> int:
    n = start
    for msg, key in items:
        n += 1
        k, v, h = message_record(
            msg,
            message_id=f"cmd-{n}",
            time=T0 + timedelta(seconds=n),
            source="/counter/320100-01",
            key=key,
        )
        await prod.send(c.COMMANDS.name, key=k, value=v, headers=h)
    await prod.flush()
    return n


async def test_a_thousand_persons_enrol_transfer_and_replay(infra, tmp_path: Path) -> None:
    redis_url = infra.redis_url.rsplit("/", 1)[0] + "/3"
    r = aioredis.Redis.from_url(redis_url)
    await r.flushdb()
    await recreate_topics(
        infra.kafka_bootstrap, [c.COMMANDS.name, c.WORK.name, c.EVENTS.name, c.COMMANDS.dlq]
    )
    svc = ServiceProcess(
        "enrollment",
        "shebao_enrollment",
        kafka=infra.kafka_bootstrap,
        redis_url=redis_url,
        log_dir=tmp_path,
    )
    prod = await producer(infra.kafka_bootstrap, linger_ms=5)
    employers, commands = scenario()
    try:
        svc.start()
        await svc.wait_ready()

        # Employers first, as a counter registers a unit before its staff (other partitions).
        sent = await _send_all(prod, employers, 0)

        async def employers_known() -> bool:
            codes = [code for _, code in employers]
            return all(
                [(await svc.get_json(f"/employers?code={code}"))[0] == 200 for code in codes]
            )

        await wait_until(employers_known, timeout=60)
        sent = await _send_all(prod, commands, sent)
        for n, (body, _) in enumerate(MALFORMED):
            cid = body["citizen_id"]
            k, _, h = message_record(
                c.RegisterPerson.model_construct(), message_id=f"bad-{n}", time=T0, key=cid
            )
            await prod.send(c.COMMANDS.name, key=k, value=json.dumps(body).encode(), headers=h)
        await prod.flush()
        total = sent + len(MALFORMED)

        async def consumed(n: int):
            async def check() -> bool:
                return await svc.metric("shebao_records_total", subscription="commands") >= n

            return check

        await wait_until(await consumed(total), timeout=120)
        # and a card's round trip on the work topic done: all of it read, nothing left to send
        offsets = Offsets(infra.kafka_bootstrap)
        await offsets.start()
        try:
            quiet = 0

            async def work_done() -> bool:
                nonlocal quiet
                seen = await svc.metrics()
                read = seen.sum("shebao_records_total", subscription="work")
                pending = seen.sum("shebao_outbox_pending")
                on_work = await offsets.total(c.WORK.name)
                quiet = quiet + 1 if (on_work and read >= on_work and not pending) else 0
                return quiet >= 3

            await wait_until(work_done, timeout=120)
        finally:
            await offsets.stop()
        svc.terminate()  # flush the outbox, then read everything it published
        events = await read_all(infra.kafka_bootstrap, c.EVENTS.name)
        by_type = Counter(dict(e.headers)["ce_type"].decode().rsplit(".", 1)[1] for e in events)
        assert dict(by_type) == EXPECTED_EVENTS

        reasons = Counter(
            json.loads(e.value)["reason"]
            for e in events
            if dict(e.headers)["ce_type"] == c.CommandRejected.TYPE.encode()
        )
        assert reasons == Counter(
            {
                "already_in_pension_scheme": 10,
                "employer_not_registered": 5,
                "person_deceased": 5,
                "citizen_id_checksum": 1,
                "schema_violation": 2,
            }
        )

        # Read side: coverage per region and insurance equals the hand-made expectation.
        svc.start()
        await svc.wait_ready()
        status, cov = await svc.get_json("/coverage?on=2025-12-31")
        assert status == 200
        got = Counter(
            {
                (reg["region"], row["insurance"]): row["insured"]
                for reg in cov["regions"]
                for row in reg["insurances"]
                if row["insured"]
            }
        )
        assert got == expected_coverage()
        nj = next(reg for reg in cov["regions"] if reg["region"] == "320100")
        pension = next(row for row in nj["insurances"] if row["insurance"] == "pension")
        assert pension["population"] == 1000 and pension["rate"] is not None

        status, p0 = await svc.get_json(f"/persons?citizen_id={person_id(0)}")
        assert status == 200 and p0["card"]["number"] == "C00000000"
        assert {m["scheme"]: m["status"] for m in p0["memberships"]} == {
            s.value: "active" for s in c.EMPLOYEE_SCHEMES
        }
        assert p0["citizen_id"] == person_id(0)[:6] + "********" + person_id(0)[-4:]
        status, p100 = await svc.get_json(f"/persons?citizen_id={person_id(100)}")
        assert p100["deceased_on"] == "2025-06-30" and p100["memberships"] == []
        status, p600 = await svc.get_json(f"/persons?citizen_id={person_id(600)}")
        assert {m["region"] for m in p600["memberships"]} == {REGIONS[(600 + 1) % 4]}
        assert (await svc.get_json("/persons?citizen_id=123"))[1]["error"] == "citizen_id_length"

        # Replay every command: duplicates are dropped, nothing changes.
        before_ids = {dict(e.headers)["ce_id"] for e in events}
        sent = await _send_all(prod, employers + commands, 0)
        await wait_until(await consumed(sent), timeout=120)
        assert (
            await svc.metric("shebao_records_total", subscription="commands", outcome="duplicate")
            == sent
        )
        svc.terminate()
        after = await read_all(infra.kafka_bootstrap, c.EVENTS.name)
        assert {dict(e.headers)["ce_id"] for e in after} == before_ids
        svc.start()
        await svc.wait_ready()
        _, cov_again = await svc.get_json("/coverage?on=2025-12-31")
        assert cov_again == cov

        # No raw citizen ID on the events topic or in the service's logs.
        raw_ids = {person_id(i).encode() for i in range(N)}
        for e in after:
            blob = (e.key or b"") + e.value + b"".join(v for _, v in e.headers)
            assert not any(cid in blob for cid in raw_ids), "raw citizen ID on the events topic"
        log = svc.log_text().encode()
        assert b"dead-lettered" in log
        assert not any(cid in log for cid in raw_ids), "raw citizen ID in the service log"
    finally:
        svc.stop()
        await prod.stop()
        await r.aclose()


async def test_a_transfer_moves_every_insurance_and_a_refusal_names_the_transfer_to_send(
    infra, tmp_path: Path
) -> None:
    """Issue 12: a transfer-out with the default insurances takes the unemployment membership
    too, so the first job in the new region is accepted; a relationship left behind (the office
    named only pension and medical) is refused with the transfer the office must send."""
    redis_url = infra.redis_url.rsplit("/", 1)[0] + "/3"
    r = aioredis.Redis.from_url(redis_url)
    await r.flushdb()
    await recreate_topics(
        infra.kafka_bootstrap, [c.COMMANDS.name, c.WORK.name, c.EVENTS.name, c.COMMANDS.dlq]
    )
    svc = ServiceProcess(
        "enrollment",
        "shebao_enrollment",
        kafka=infra.kafka_bootstrap,
        redis_url=redis_url,
        log_dir=tmp_path,
    )
    prod = await producer(infra.kafka_bootstrap, linger_ms=5)
    nj, sz = employer_code("320100", 0), employer_code("320500", 0)
    mover, partial = person_id(0), person_id(1)
    employers = [
        (
            c.RegisterEmployer(
                employer=code,
                name="单位",
                region=code[2:8],
                ownership=c.Ownership.PRIVATE,
                risk_class=1,
                registered_on=date(2020, 1, 1),
            ),
            code,
        )
        for code in (nj, sz)
    ]
    story: list = []
    for cid, insurances in ((mover, None), (partial, (c.Insurance.PENSION, c.Insurance.MEDICAL))):
        move = {} if insurances is None else {"insurances": insurances}
        story += [
            (
                c.RegisterPerson(
                    citizen_id=cid,
                    name="参保人",
                    hukou_region="320100",
                    residence=c.Residence.URBAN,
                    registered_on=date(2023, 1, 1),
                ),
                cid,
            ),
            (
                c.StartEmployment(
                    citizen_id=cid,
                    employer=nj,
                    start_date=date(2024, 3, 1),
                    monthly_wage=Decimal(8000),
                ),
                cid,
            ),
            (
                c.EndEmployment(
                    citizen_id=cid,
                    employer=nj,
                    end_date=date(2024, 12, 31),
                    separation=c.Separation.VOLUNTARY,
                ),
                cid,
            ),
            (
                c.TransferOut(
                    citizen_id=cid,
                    transfer_id=f"TR-{cid[-4:]}",
                    to_region="320500",
                    date=date(2025, 1, 10),
                    **move,
                ),
                cid,
            ),
            (
                c.TransferIn(
                    citizen_id=cid,
                    transfer_id=f"TR-{cid[-4:]}",
                    region="320500",
                    from_region="320100",
                    date=date(2025, 1, 20),
                ),
                cid,
            ),
            (
                c.StartEmployment(
                    citizen_id=cid,
                    employer=sz,
                    start_date=date(2025, 2, 1),
                    monthly_wage=Decimal(9000),
                ),
                cid,
            ),
        ]
    try:
        svc.start()
        await svc.wait_ready()
        sent = await _send_all(prod, employers, 0)

        async def employers_known() -> bool:
            return all([(await svc.get_json(f"/employers?code={k}"))[0] == 200 for k in (nj, sz)])

        await wait_until(employers_known, timeout=60)
        sent = await _send_all(prod, story, sent)

        async def consumed() -> bool:
            return await svc.metric("shebao_records_total", subscription="commands") >= sent

        await wait_until(consumed, timeout=60)
        svc.terminate()
        events = [
            (dict(e.headers)["ce_type"].decode().rsplit(".", 1)[1], json.loads(e.value))
            for e in await read_all(infra.kafka_bootstrap, c.EVENTS.name)
        ]
        ref_mover = next(
            body["person"]
            for kind, body in events
            if kind == "PersonTransferredOut" and body["transfer_id"] == f"TR-{mover[-4:]}"
        )
        moved = next(
            body["schemes"]
            for kind, body in events
            if kind == "PersonTransferredOut" and body["person"] == ref_mover
        )
        assert sorted(moved) == ["employee_medical", "employee_pension", "unemployment"]
        resumed = sorted(
            body["scheme"]
            for kind, body in events
            if kind == "MembershipResumed" and body["person"] == ref_mover
        )
        assert resumed == ["employee_medical", "employee_pension", "unemployment"]

        (refused,) = [body for kind, body in events if kind == "CommandRejected"]
        assert (refused["command_type"], refused["reason"]) == (
            c.StartEmployment.TYPE,
            "transfer_required",
        )
        assert refused["detail"] == (
            "unemployment still in region 320100: send TransferOut (to_region 320500, insurances "
            "[unemployment]) and its TransferIn first"
        )
    finally:
        svc.stop()
        await prod.stop()
        await r.aclose()


async def test_a_command_dating_an_event_after_its_ce_time_is_refused_by_name(
    infra, tmp_path: Path
) -> None:
    """Issue 12: a counter sends on 10 June 2025 (China Standard Time) commands dating events to
    come (a birth, an employment's start, a planned end, a card, a transfer, a death): each is
    refused service_date_in_future and changes nothing; the same events dated that day, or
    sent once they happened, are applied."""
    redis_url = infra.redis_url.rsplit("/", 1)[0] + "/3"
    r = aioredis.Redis.from_url(redis_url)
    await r.flushdb()
    await recreate_topics(
        infra.kafka_bootstrap, [c.COMMANDS.name, c.WORK.name, c.EVENTS.name, c.COMMANDS.dlq]
    )
    svc = ServiceProcess(
        "enrollment",
        "shebao_enrollment",
        kafka=infra.kafka_bootstrap,
        redis_url=redis_url,
        log_dir=tmp_path,
    )
    prod = await producer(infra.kafka_bootstrap, linger_ms=5)
    sent_at = datetime(2025, 6, 10, 2, tzinfo=UTC)  # 10:00 in Nanjing
    midnight = datetime(2025, 6, 19, 16, tzinfo=UTC)  # 20 June, 00:00 in Nanjing
    nj = employer_code("320100", 0)
    worker, unborn = person_id(0), citizen_id(date(2025, 6, 11), n=1)
    story = [  # (command id, message, key, ce_time, refused)
        (
            "employer",
            c.RegisterEmployer(
                employer=nj,
                name="单位",
                region="320100",
                ownership=c.Ownership.PRIVATE,
                risk_class=1,
                registered_on=date(2020, 1, 1),
            ),
            nj,
            sent_at,
            False,
        ),
        (
            "register",
            c.RegisterPerson(
                citizen_id=worker,
                name="参保人",
                hukou_region="320100",
                residence=c.Residence.URBAN,
                registered_on=date(2023, 1, 1),
            ),
            worker,
            sent_at,
            False,
        ),
        (
            "unborn",
            c.RegisterPerson(
                citizen_id=unborn,
                name="未出生",
                hukou_region="320100",
                residence=c.Residence.URBAN,
                registered_on=date(2025, 6, 10),
            ),
            unborn,
            sent_at,
            True,
        ),
        (
            "hire-next-month",
            c.StartEmployment(
                citizen_id=worker,
                employer=nj,
                start_date=date(2025, 7, 1),
                monthly_wage=Decimal(8000),
            ),
            worker,
            sent_at,
            True,
        ),
        (
            "hire-today",
            c.StartEmployment(
                citizen_id=worker,
                employer=nj,
                start_date=date(2025, 6, 10),
                monthly_wage=Decimal(8000),
            ),
            worker,
            sent_at,
            False,
        ),
        (
            "planned-end",
            c.EndEmployment(
                citizen_id=worker,
                employer=nj,
                end_date=date(2025, 6, 30),
                separation=c.Separation.VOLUNTARY,
            ),
            worker,
            sent_at,
            True,
        ),
        (
            "card",
            c.IssueCard(citizen_id=worker, card_number="C99000001", issued_on=date(2025, 6, 11)),
            worker,
            sent_at,
            True,
        ),
        (
            "transfer",
            c.TransferOut(
                citizen_id=worker, transfer_id="TR-F", to_region="320500", date=date(2025, 7, 1)
            ),
            worker,
            sent_at,
            True,
        ),
        (
            "death-early",
            c.RecordDeath(citizen_id=worker, date_of_death=date(2025, 6, 20)),
            worker,
            sent_at,
            True,
        ),
        (
            "death",
            c.RecordDeath(citizen_id=worker, date_of_death=date(2025, 6, 20)),
            worker,
            midnight,
            False,
        ),
    ]
    try:
        svc.start()
        await svc.wait_ready()
        for command_id, msg, key, at, _ in story:
            k, v, h = message_record(msg, message_id=command_id, time=at, key=key)
            await prod.send(c.COMMANDS.name, key=k, value=v, headers=h)
            await prod.flush()  # in order across keys too: the employer before the hire

        async def consumed() -> bool:
            return await svc.metric("shebao_records_total", subscription="commands") >= len(story)

        await wait_until(consumed, timeout=60)
        svc.terminate()
        events = [
            (dict(e.headers)["ce_type"].decode().rsplit(".", 1)[1], json.loads(e.value))
            for e in await read_all(infra.kafka_bootstrap, c.EVENTS.name)
        ]
        refused = {b["command_id"]: b for kind, b in events if kind == "CommandRejected"}
        assert {i: b["reason"] for i, b in refused.items()} == {
            i: "service_date_in_future" for i, _, _, _, no in story if no
        }
        assert (
            "birth (from the citizen ID) on 2025-06-11 is after 2025-06-10"
            in (refused["unborn"]["detail"])
        )
        assert (
            "employment end on 2025-06-30 is after 2025-06-10" in (refused["planned-end"]["detail"])
        )
        assert "death on 2025-06-20 is after 2025-06-10" in refused["death-early"]["detail"]
        kinds = Counter(kind for kind, _ in events)
        assert (kinds["PersonRegistered"], kinds["EmploymentStarted"]) == (1, 1)
        assert (kinds["EmploymentEnded"], kinds["CardIssued"], kinds["PersonTransferredOut"]) == (
            0,
            0,
            0,
        )
        (started,) = [b for kind, b in events if kind == "EmploymentStarted"]
        assert started["start_date"] == "2025-06-10"
        (died,) = [b for kind, b in events if kind == "PersonDeceased"]
        assert died["on"] == "2025-06-20"
        assert all(unborn not in json.dumps(b) for _, b in events)

        svc.start()
        await svc.wait_ready()
        status, p = await svc.get_json(f"/persons?citizen_id={worker}")
        assert status == 200 and p["deceased_on"] == "2025-06-20" and p["card"] is None
        assert (await svc.get_json(f"/persons?citizen_id={unborn}"))[0] == 404
    finally:
        svc.stop()
        await prod.stop()
        await r.aclose()
