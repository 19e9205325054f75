"""make demo: the platform on real Kafka and Redis, with a small realistic day at the counters.

Starts Kafka and Redis (your KAFKA_BOOTSTRAP_SERVERS/REDIS_URL, else Docker, else local
processes), starts every service as its own process, drives a scenario through the topics,
prints what happened, and stops everything it started. `--keep` leaves it running until Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from shebao_contracts import enrollment as c
from shebao_contracts.types import citizen_id_check_char, mask_citizen_id
from shebao_devinfra.infra import provision
from shebao_devinfra.testing import (
    ServiceProcess,
    message_record,
    producer,
    read_all,
    recreate_topics,
    wait_until,
)

REGIONS = {"320100": "Nanjing", "320500": "Suzhou", "321300": "Suqian"}
T0 = datetime(2025, 3, 3, 9, tzinfo=UTC)


def say(text: str = "") -> None:
    print(text, flush=True)


def head(text: str) -> None:
    say()
    say(f"== {text} " + "=" * max(0, 72 - len(text)))


def citizen_id(rng: random.Random, region: str) -> str:
    born = date(1975, 1, 1) + timedelta(days=rng.randrange(365 * 28))
    first17 = f"{region[:4]}{rng.randrange(1, 20):02d}{born:%Y%m%d}{rng.randrange(1000):03d}"
    return first17 + citizen_id_check_char(first17)


class Counterdesk:
    """Sends commands as a service counter would, each with its own id and time."""

    def __init__(self, prod: Any) -> None:
        self.prod = prod
        self.n = 0

    async def send(self, msg: Any, key: str) -> None:
        self.n += 1
        k, v, h = message_record(
            msg,
            message_id=f"demo-{self.n:06d}",
            time=T0 + timedelta(seconds=self.n),
            source="/counter/demo",
            key=key,
        )
        await self.prod.send(c.COMMANDS.name, key=k, value=v, headers=h)


async def enrollment_day(desk: Counterdesk, svc: ServiceProcess, rng: random.Random) -> dict:
    head("Enrollment: employers, people, schemes, a transfer, cards")
    employers = []
    for region in REGIONS:
        for k in range(4):
            code = f"91{region}MA{rng.randrange(10**8):08d}"
            employers.append((code, region))
            await desk.send(
                c.RegisterEmployer(
                    employer=code,
                    name=f"{REGIONS[region]} 示例企业{k + 1}",
                    region=region,
                    ownership=rng.choice(list(c.Ownership)),
                    risk_class=rng.randint(1, 8),
                    registered_on=date(2024, 1, 2),
                ),
                code,
            )
    await desk.prod.flush()

    async def employers_known() -> bool:
        return all([(await svc.get_json(f"/employers?code={e}"))[0] == 200 for e, _ in employers])

    await wait_until(employers_known, timeout=60)
    say(f"registered {len(employers)} employers in {len(REGIONS)} pooling regions")

    # Per region: employees, residents, flexible workers out of 1,000 registered people.
    mix = {"320100": (660, 280, 30), "320500": (640, 250, 70), "321300": (520, 240, 60)}
    people: list[tuple[str, str]] = []
    employer_of: dict[str, str] = {}
    kinds: Counter[str] = Counter()
    for region, (employees, residents, flexible) in mix.items():
        units = [e for e, r in employers if r == region]
        for i in range(1000):
            cid = citizen_id(rng, region)
            people.append((cid, region))
            await desk.send(
                c.RegisterPerson(
                    citizen_id=cid,
                    name=f"参保人{len(people)}",
                    hukou_region=region,
                    residence=c.Residence.RURAL if i % 4 == 0 else c.Residence.URBAN,
                    registered_on=date(2024, 2, 1),
                ),
                cid,
            )
            if i < employees:
                employer_of[cid] = units[i % len(units)]
                await desk.send(
                    c.StartEmployment(
                        citizen_id=cid,
                        employer=employer_of[cid],
                        start_date=date(2024, 3, 1),
                        monthly_wage=Decimal(4000 + 7 * i),
                    ),
                    cid,
                )
                kinds["employees"] += 1
            elif i < employees + residents:
                await desk.send(
                    c.EnrolResidentPension(
                        citizen_id=cid,
                        region=region,
                        start_date=date(2024, 1, 1),
                        yearly_tier=rng.choice([100, 300, 500, 1000]),
                    ),
                    cid,
                )
                await desk.send(
                    c.EnrolResidentMedical(
                        citizen_id=cid, region=region, start_date=date(2024, 1, 1)
                    ),
                    cid,
                )
                kinds["residents"] += 1
            elif i < employees + residents + flexible:
                await desk.send(
                    c.EnrolFlexibleWorker(
                        citizen_id=cid,
                        region=region,
                        start_date=date(2024, 4, 1),
                        declared_base=Decimal("5200.00"),
                        unemployment=region == "320100",
                    ),
                    cid,
                )
                kinds["flexible workers"] += 1
            else:
                kinds["registered, not yet insured"] += 1
    say(f"{len(people)} people: " + ", ".join(f"{v} {k}" for k, v in kinds.items()))

    # a few stories
    laid_off = people[:12]
    for cid, _ in laid_off:
        await desk.send(
            c.EndEmployment(
                citizen_id=cid,
                employer=employer_of[cid],
                end_date=date(2025, 1, 31),
                separation=c.Separation.INVOLUNTARY,
            ),
            cid,
        )
    mover, mover_region = people[700]
    to = "320500" if mover_region != "320500" else "320100"
    await desk.send(
        c.TransferOut(
            citizen_id=mover, transfer_id="TR-DEMO-1", to_region=to, date=date(2025, 2, 1)
        ),
        mover,
    )
    await desk.send(
        c.TransferIn(
            citizen_id=mover,
            transfer_id="TR-DEMO-1",
            region=to,
            from_region=mover_region,
            date=date(2025, 2, 10),
        ),
        mover,
    )
    for n, (cid, _) in enumerate(people[:100]):
        await desk.send(
            c.IssueCard(citizen_id=cid, card_number=f"JS{n:08d}", issued_on=date(2024, 6, 1)), cid
        )
    await desk.send(
        c.RecordDeath(citizen_id=people[990][0], date_of_death=date(2025, 2, 20)), people[990][0]
    )
    # what a counter gets wrong
    await desk.send(
        c.EnrolResidentPension(
            citizen_id=people[5][0],
            region=people[5][1],
            start_date=date(2025, 3, 1),
            yearly_tier=700,
        ),
        people[5][0],
    )
    await desk.send(
        c.EnrolResidentPension(
            citizen_id=people[150][0],
            region=people[150][1],
            start_date=date(2025, 3, 1),
            yearly_tier=500,
        ),
        people[150][0],
    )
    await desk.send(
        c.StartEmployment(
            citizen_id=people[2][0],
            employer="91320100MA00000000",
            start_date=date(2025, 3, 1),
            monthly_wage=Decimal(6000),
        ),
        people[2][0],
    )
    bad = people[1][0][:17] + ("0" if people[1][0][17] != "0" else "1")
    k, _, h = message_record(
        c.RegisterPerson.model_construct(), message_id="demo-bad-1", time=T0, key=bad
    )
    await desk.prod.send(
        c.COMMANDS.name,
        key=k,
        headers=h,
        value=json.dumps(
            {
                "citizen_id": bad,
                "name": "录入错误",
                "hukou_region": "320100",
                "residence": "urban",
                "registered_on": "2025-03-03",
            }
        ).encode(),
    )
    await desk.prod.flush()
    return {"people": people, "laid_off": laid_off, "mover": mover, "total": desk.n + 1}


async def main(keep: bool) -> int:
    started = time.monotonic()
    head("Infrastructure")
    infra = await asyncio.to_thread(provision)
    say(f"Kafka {infra.kafka_bootstrap} and Redis {infra.redis_url} ({infra.mode})")
    logs = Path(tempfile.mkdtemp(prefix="shebao-demo-"))
    services: list[ServiceProcess] = []
    prod = None
    try:
        await recreate_topics(
            infra.kafka_bootstrap, [c.COMMANDS.name, c.EVENTS.name, c.COMMANDS.dlq]
        )
        enrollment = ServiceProcess(
            "enrollment",
            "shebao_enrollment",
            kafka=infra.kafka_bootstrap,
            redis_url=infra.redis_url,
            log_dir=logs,
        )
        services.append(enrollment)
        head("Services")
        for s in services:
            s.start()
        for s in services:
            await s.wait_ready()
            say(f"{s.name:<12} {s.url}  (/healthz /readyz /metrics, log {s.log_path})")

        prod = await producer(infra.kafka_bootstrap, linger_ms=5)
        desk = Counterdesk(prod)
        rng = random.Random(2012)
        story = await enrollment_day(desk, enrollment, rng)

        async def all_consumed() -> bool:
            return await enrollment.metric("shebao_records_total") >= story["total"]

        await wait_until(all_consumed, timeout=120)
        await wait_until(_outbox_empty(enrollment), timeout=60)
        events = await read_all(infra.kafka_bootstrap, c.EVENTS.name)
        by_type = Counter(dict(e.headers)["ce_type"].decode().rsplit(".", 1)[1] for e in events)
        say(f"{story['total']} commands in, {len(events)} events out on {c.EVENTS.name}:")
        for t, n in sorted(by_type.items(), key=lambda x: -x[1]):
            say(f"  {n:>5}  {t}")
        rejected = [
            json.loads(e.value)
            for e in events
            if dict(e.headers)["ce_type"] == c.CommandRejected.TYPE.encode()
        ]
        say("refused, with the reason sent back:")
        for r in rejected[:12]:
            say(f"  {r['command_type'].rsplit('.', 1)[1]:<22} {r['reason']:<28} {r['detail'][:60]}")
        if len(rejected) > 12:
            say(f"  ... and {len(rejected) - 12} more")
        dlq = await read_all(infra.kafka_bootstrap, c.COMMANDS.dlq)
        say(
            f"dead letters on {c.COMMANDS.dlq}: {len(dlq)} "
            f"({', '.join(dict(d.headers)['dlq-reason'].decode() for d in dlq)})"
        )

        head("Read side: a laid-off employee at the counter")
        cid = story["laid_off"][0][0]
        _, p = await enrollment.get_json(f"/persons?citizen_id={cid}")
        say(f"{mask_citizen_id(cid)}  card {p['card']['number'] if p['card'] else '-'}")
        for m in p["memberships"]:
            say(f"  {m['scheme']:<18} {m['region']}  {m['status']:<9} since {m['since']}")
        say("  history: " + "; ".join(f"{h['on']} {h['what']}" for h in p["history"][-4:]))

        head("Coverage against the 95% target (population per region: illustrative)")
        _, cov = await enrollment.get_json("/coverage?on=2025-03-31")
        say(f"{'region':<16}" + "".join(f"{i.value:>14}" for i in c.Insurance))
        for reg in cov["regions"]:
            name = f"{reg['region']} {REGIONS.get(reg['region'], '')}"
            cells = []
            for row in reg["insurances"]:
                rate = f"{Decimal(row['rate']) * 100:.1f}%" if row["rate"] else "-"
                cells.append(f"{row['insured']:>5} {rate:>7}{'*' if row['above_target'] else ' '}")
            say(f"{name:<16}" + "".join(f"{x:>14}" for x in cells))
        say("(* = at or above the target rate)")

        head("Done")
        say(f"demo finished in {time.monotonic() - started:.0f}s; logs in {logs}")
        if keep:
            say("services keep running; press Ctrl-C to stop everything")
            while all(s.alive for s in services):
                await asyncio.sleep(1)
        return 0
    finally:
        if prod is not None:
            await prod.stop()
        for s in services:
            if s.alive:
                s.terminate()
        infra.stop()
        say("stopped the services and the infrastructure this demo started")


def _outbox_empty(svc: ServiceProcess) -> Any:
    async def check() -> bool:
        return await svc.metric("shebao_outbox_pending") == 0

    return check


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep", action="store_true", help="leave everything running")
    args = parser.parse_args()
    try:
        sys.exit(asyncio.run(main(args.keep)))
    except KeyboardInterrupt:
        sys.exit(130)
