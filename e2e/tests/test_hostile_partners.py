"""Hostile partners (issue 11): over 10,000 generated records on four hospitals' and two tax
bureaus' topics, through real Kafka and Redis.

Enrollment, contributions and medical settlement run as processes. The test enrols a small
population through the services' command topics (employers with one employee each, residents,
four designated hospitals), closes 2024-12 in two regions so that every employer has an
assessment to pay, and then plays six partners at once:

- valid messages: claims whose amounts are worked out by hand (`hostile_data`: a few fixed
  shapes, each patient kept far from the yearly thresholds so that the order of settlement does
  not matter), and collections paying an assessment in full; some carry extra unknown fields
  (accepted by design), some are valid but refused by a rule (an uninsured patient, an unknown
  assessment);
- hostile messages, deterministic from a seed: mutations of valid ones (type swaps, missing and
  extra fields, huge and deep values, 30-digit and 1e309 numbers, NaN, impossible dates, control
  characters, oversized, too many and duplicate headers, a spoofed `ce_source`, empty and huge
  keys, binary garbage, bodies too large);

interleaved so that every valid message follows a hostile one of another partner. At the end:
no process restarted; every valid message answered exactly once with the right amounts; every
hostile one answered by name (the reasons of `shebao_contracts.limits` and of the value types)
and dead-lettered with its offset; in = settled + refused + dead-lettered for every partner; no
valid message answered later than ANSWER_BOUND_S after it was sent; no raw citizen ID in any
service's log, in any dead letter's headers (issue 18: the records with an ID in a malformed
field, in `ce_subject` and in a header of their own) or on a metrics page. Every finding is
collected, so that one run names them all.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from hostile_data import (
    ANSWER_WAIT_S,
    BUREAUS,
    EMPLOYEES,
    HOSPITALS,
    MONTH,
    NJ,
    NJ_EMP,
    PATIENTS,
    REGION_OF_EMPLOYER,
    RES,
    SACRIFICE,
    SQ,
    SQ_EMP,
    T0,
    UNINSURED,
    WAVE,
)
from hostile_forge import Forge, forge_records
from hostile_verdict import Answers, Verdict

from shebao_contracts import contributions as cc
from shebao_contracts import enrollment as en
from shebao_contracts import medical as m
from shebao_contracts.topics import dlq_name
from shebao_contracts.types import find_citizen_ids, mask_citizen_id
from shebao_contracts.welfare import EVENTS as WELFARE_EVENTS
from shebao_devinfra.pii import scan_metrics
from shebao_devinfra.testing import (
    ServiceProcess,
    http_get,
    message_record,
    producer,
    read_all,
    recreate_topics,
    wait_until,
)
from shebao_partners import hospital_registration

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(300)]


async def test_hostile_partners(infra: Any, tmp_path: Path) -> None:
    started = time.monotonic()
    redis_url = infra.redis_url.rsplit("/", 1)[0] + "/6"
    r = aioredis.Redis.from_url(redis_url)
    await r.flushdb()
    await r.aclose()
    partner_in = [Forge.topic(p) for p in [*HOSPITALS, *BUREAUS]]
    await recreate_topics(
        infra.kafka_bootstrap,
        [
            en.COMMANDS.name,
            en.COMMANDS.dlq,
            en.EVENTS.name,
            WELFARE_EVENTS.name,
            m.COMMANDS.name,
            m.EVENTS.name,
            cc.COMMANDS.name,
            cc.COMMANDS.dlq,
            cc.WORK.name,
            cc.WORK.dlq,
            cc.EVENTS.name,
            *partner_in,
            *[dlq_name(t) for t in partner_in],
            *[m.SETTLEMENTS.named(code=h) for h in HOSPITALS],
            *[cc.ASSESSMENTS.named(code=b) for b in BUREAUS],
        ],
    )
    services = {
        name: ServiceProcess(
            name,
            f"shebao_{name.replace('-', '_')}",
            kafka=infra.kafka_bootstrap,
            redis_url=redis_url,
            log_dir=tmp_path,
        )
        for name in ("enrollment", "contributions", "medical-settlement")
    }
    # the producer of a partner that sends a 600 KB header
    prod = await producer(infra.kafka_bootstrap, max_request_size=2_000_000, linger_ms=5)
    try:
        for svc in services.values():
            svc.start()
        for svc in services.values():
            await svc.wait_ready()
        pids = {name: svc.pid for name, svc in services.items()}
        due = await populate(infra.kafka_bootstrap, services, prod)
        setup_s = time.monotonic() - started

        # -- the partners: every record produced with `send`, one flush per wave ---------------
        records, sent_ids = forge_records(due)
        assert len(records) >= 10_000
        send_started = time.monotonic()
        for i in range(0, len(records), WAVE):
            wave = []
            for rec in records[i : i + WAVE]:
                rec.sent_ms = int(time.time() * 1000)
                fut = await prod.send(rec.topic, value=rec.value, key=rec.key, headers=rec.headers)
                wave.append((rec, fut))
            await prod.flush()
            for rec, fut in wave:
                meta = await fut
                rec.partition, rec.offset = meta.partition, meta.offset
        sent_s = time.monotonic() - send_started

        answers = Answers(infra.kafka_bootstrap, records)
        deadline = time.monotonic() + ANSWER_WAIT_S
        died: list[str] = []
        while time.monotonic() < deadline:
            await answers.collect()
            died = [name for name, svc in services.items() if not svc.alive]
            if answers.pending() == 0 or died:
                break
            await asyncio.sleep(2)
        await asyncio.sleep(3)  # an answer sent twice comes late
        await answers.collect()
        answered_s = time.monotonic() - send_started
        dead: dict[tuple[str, int, int], list[str]] = defaultdict(list)
        leaked_in_headers: list[str] = []  # issue 18: a dead letter's headers mask every ID
        for topic in partner_in:
            for d in await read_all(infra.kafka_bootstrap, dlq_name(topic)):
                for name, value in d.headers:
                    text = f"{name}={(value or b'').decode(errors='replace')}"
                    leaked_in_headers += [
                        f"{topic}.dlq@{d.offset} {name}: {mask_citizen_id(cid)}"
                        for cid in find_citizen_ids(text)
                    ]
                hdr = dict(d.headers)
                pos = (
                    hdr.get("dlq-topic", b"").decode(),
                    int(hdr.get("dlq-partition", b"-1")),
                    int(hdr.get("dlq-offset", b"-1")),
                )
                dead[pos].append(hdr.get("dlq-reason", b"").decode())

        # -- the verdict ----------------------------------------------------------------------
        v = Verdict()
        for name, svc in services.items():
            status, _ = await http_get(f"{svc.url}/readyz")
            if not svc.alive or svc.pid != pids[name] or svc.starts != 1 or status != 200:
                v.finding(
                    "process restarted or not ready",
                    f"{name}: alive={svc.alive} pid {pids[name]}->{svc.pid} readyz={status}",
                    svc.log_tail(15),
                )
        v.judge(records, dead, answers)
        leak = re.compile("|".join(sorted(sent_ids)))
        for name, svc in services.items():
            for raw_id, count in Counter(leak.findall(svc.log_text())).items():
                v.finding(
                    "raw citizen ID in a service log",
                    name,
                    f"{name}: {raw_id[:6]}********{raw_id[-4:]} x{count}",
                )
        for where in leaked_in_headers:
            v.finding("raw citizen ID in a dead letter's headers", where.split(" ", 1)[0], where)
        metrics = await scan_metrics({name: svc.url for name, svc in services.items()})
        for f in metrics.findings:
            v.finding("raw citizen ID on a metrics page", f.where, str(f))
        report = [
            f"set-up {setup_s:.0f} s; {len(records)} records sent in {sent_s:.1f} s; answers "
            f"collected {answered_s:.0f} s after the first send; {time.monotonic() - started:.0f}"
            f" s in all; processes died: {died or 'none'}",
            *v.report(records),
        ]
        if v.findings:
            pytest.fail("\n".join(report), pytrace=False)
        print("\n" + "\n".join(report))
    finally:
        for svc in services.values():
            svc.stop()
        await prod.stop()


async def populate(
    bootstrap: str, services: dict[str, ServiceProcess], prod: Any
) -> dict[str, str]:
    """Hospitals, employers, persons, memberships and the close of MONTH, through the services'
    command topics, as the scheduler and the counters would; the amount due per employer."""
    enrollment, contributions, medical = services.values()
    sent = 0

    async def command(topic: str, msg: Any, key: str) -> None:
        nonlocal sent
        sent += 1
        k, v, h = message_record(msg, message_id=f"setup-{sent}", time=T0, key=key)
        await prod.send(topic, key=k, value=v, headers=h)

    for code, (level, region) in HOSPITALS.items():
        await command(
            m.COMMANDS.name, hospital_registration(code, level, region, name=f"医院{code}"), code
        )
    for employer in EMPLOYEES:
        await command(
            en.COMMANDS.name,
            en.RegisterEmployer(
                employer=employer,
                name=f"单位{employer[-4:]}",
                region=REGION_OF_EMPLOYER[employer],
                ownership=en.Ownership.PRIVATE,
                risk_class=2,
                registered_on=date(2020, 1, 1),
            ),
            employer,
        )
    await prod.flush()
    n_commands = len(EMPLOYEES)

    async def enrolled() -> bool:
        done = await enrollment.metric("shebao_records_total", subscription="commands")
        return done >= n_commands

    await until(enrolled, 60, lambda: "the employers' registration")
    region_of_person = {p: NJ for p in NJ_EMP + SACRIFICE[NJ] + UNINSURED}
    region_of_person |= {p: SQ for p in SQ_EMP + RES + SACRIFICE[SQ]}
    for person, region in region_of_person.items():
        await command(
            en.COMMANDS.name,
            en.RegisterPerson(
                citizen_id=person,
                name="参保人",
                hukou_region=region,
                residence=en.Residence.URBAN,
                registered_on=date(2023, 1, 1),
            ),
            person,
        )
    for employer, staff in EMPLOYEES.items():
        for person in staff:
            await command(
                en.COMMANDS.name,
                en.StartEmployment(
                    citizen_id=person,
                    employer=employer,
                    start_date=date(2024, 3, 1),
                    monthly_wage=Decimal("9000.00"),
                ),
                person,
            )
    for person in RES:
        await command(
            en.COMMANDS.name,
            en.EnrolResidentMedical(citizen_id=person, region=SQ, start_date=date(2024, 1, 1)),
            person,
        )
    await prod.flush()
    n_commands += len(region_of_person) + sum(map(len, EMPLOYEES.values())) + len(RES)
    await until(enrolled, 60, lambda: "the persons' enrollment")

    behind: list[str] = []

    async def rostered() -> bool:
        views = await asyncio.gather(
            *(contributions.get_json(f"/employers?code={e}") for e in EMPLOYEES)
        )
        behind[:] = [
            f"{e}: {status} {str(body)[:200]}"
            for e, (status, body) in zip(EMPLOYEES, views, strict=True)
            if status != 200 or body.get("employees") != len(EMPLOYEES[e])
        ]
        return not behind

    await until(rostered, 60, lambda: f"the employers' rosters: {behind[:3]}")
    for region in (NJ, SQ):
        await command(cc.COMMANDS.name, cc.ClosePeriod(region=region, month=MONTH), region)
    await prod.flush()

    refs: dict[str, str] = {}

    async def insured() -> bool:
        missing = [p for p in PATIENTS if p not in refs]
        found = await asyncio.gather(
            *(enrollment.get_json(f"/persons?citizen_id={p}") for p in missing)
        )
        for p, (status, body) in zip(missing, found, strict=True):
            if status == 200:
                refs[p] = body["person"]
        if len(refs) < len(PATIENTS):
            return False
        views = await asyncio.gather(
            *(medical.get_json(f"/coverage?person={refs[p]}") for p in PATIENTS)
        )
        known = await asyncio.gather(*(medical.get_json(f"/hospitals?code={h}") for h in HOSPITALS))
        return all(s == 200 and b["periods"] for s, b in views) and all(s == 200 for s, _ in known)

    await until(insured, 60, lambda: f"coverage ({len(refs)} of {len(PATIENTS)} persons known)")

    due: dict[str, str] = {}

    async def assessed() -> bool:
        for b in BUREAUS:
            for rec in await read_all(bootstrap, cc.ASSESSMENTS.named(code=b)):
                if dict(rec.headers)["ce_type"].decode() != cc.TaxAssessmentIssued.TYPE:
                    continue
                a = json.loads(rec.value)
                if a["employer"] in EMPLOYEES and a["period"] == MONTH:
                    assert a["bureau"] == b
                    assert a["person_count"] == len(EMPLOYEES[a["employer"]])
                    due[a["employer"]] = a["amount_due"]
        return len(due) == len(EMPLOYEES)

    await until(assessed, 90, lambda: f"the assessments ({len(due)} of {len(EMPLOYEES)})")
    return due


async def until(predicate: Any, timeout: float, what: Callable[[], str]) -> None:
    try:
        await wait_until(predicate, timeout=timeout, interval=0.5)
    except TimeoutError:
        raise AssertionError(f"set-up timed out waiting for {what()}") from None
