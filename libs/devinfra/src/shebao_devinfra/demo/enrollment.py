"""Enrollment's part of the story: a day at the counters, and what it made of it."""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import date, timedelta
from typing import Any

from shebao_contracts import enrollment as c
from shebao_contracts.types import mask_citizen_id
from shebao_partners import citizen_id, employer_code, partner_headers, wrong_check

from ..kit import kind_of
from ..testing import Service, read_all, wait_until
from .desk import Desk
from .output import head, say
from .setting import MIX, PEOPLE, REGIONS, T0, D


def resident_of(region: str, rng: random.Random) -> str:
    """The citizen ID of someone born from 1975 to 2002 in one of the region's districts."""
    born = date(1975, 1, 1) + timedelta(days=rng.randrange(365 * 28))
    district = f"{region[:4]}{rng.randrange(1, 20):02d}"
    return citizen_id(district, born, rng.randrange(1000))


async def enrollment_day(desk: Desk, svc: Service, rng: random.Random) -> dict[str, Any]:
    head("Enrollment: employers, people, schemes, a transfer, cards")
    employers = []
    for region in REGIONS:
        for k in range(4):
            code = employer_code(region, rng.randrange(10**8))
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
    await desk.flush()

    async def employers_known() -> bool:
        return all([(await svc.get_json(f"/employers?code={e}"))[0] == 200 for e, _ in employers])

    await wait_until(employers_known, timeout=60)
    say(f"registered {len(employers)} employers in {len(REGIONS)} pooling regions")

    people: list[tuple[str, str]] = []
    kind: dict[str, str] = {}
    employer_of: dict[str, str] = {}
    kinds: Counter[str] = Counter()
    for region, (employees, residents, flexible) in MIX.items():
        units = [e for e, r in employers if r == region]
        for i in range(PEOPLE):
            cid = resident_of(region, rng)
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
                kind[cid] = "employee"
                employer_of[cid] = units[i % len(units)]
                await desk.send(
                    c.StartEmployment(
                        citizen_id=cid,
                        employer=employer_of[cid],
                        start_date=date(2024, 3, 1),
                        monthly_wage=D(4000 + 11 * i),
                    ),
                    cid,
                )
                kinds["employees"] += 1
            elif i < employees + residents:
                kind[cid] = "resident"
                # resident schemes are joined for a calendar year
                await desk.send(
                    c.EnrolResidentPension(
                        citizen_id=cid,
                        region=region,
                        start_date=date(2025, 1, 1),
                        yearly_tier=rng.choice([100, 300, 500, 1000]),
                    ),
                    cid,
                )
                await desk.send(
                    c.EnrolResidentMedical(
                        citizen_id=cid, region=region, start_date=date(2025, 1, 1)
                    ),
                    cid,
                )
                kinds["residents"] += 1
            elif i < employees + residents + flexible:
                kind[cid] = "flexible worker"
                await desk.send(
                    c.EnrolFlexibleWorker(
                        citizen_id=cid,
                        region=region,
                        start_date=date(2025, 2, 1),
                        declared_base=D("5200.00"),
                        unemployment=region == "320100",
                    ),
                    cid,
                )
                kinds["flexible workers"] += 1
            else:
                kind[cid] = "not insured"
                kinds["registered, not yet insured"] += 1
    say(f"{len(people)} people: " + ", ".join(f"{v} {k}" for k, v in kinds.items()))

    # a few stories
    laid_off = people[:12]
    for cid, _ in laid_off:
        kind[cid] = "laid off"
        await desk.send(
            c.EndEmployment(
                citizen_id=cid,
                employer=employer_of[cid],
                end_date=date(2025, 1, 31),
                separation=c.Separation.INVOLUNTARY,
            ),
            cid,
        )
    mover, mover_region = people[MIX["320100"][0] + 20]  # a Nanjing resident moves to Suzhou
    await desk.send(
        c.TransferOut(
            citizen_id=mover, transfer_id="TR-DEMO-1", to_region="320500", date=date(2025, 2, 1)
        ),
        mover,
    )
    await desk.send(
        c.TransferIn(
            citizen_id=mover,
            transfer_id="TR-DEMO-1",
            region="320500",
            from_region=mover_region,
            date=date(2025, 2, 10),
        ),
        mover,
    )
    for n, (cid, _) in enumerate(people[:100]):
        await desk.send(
            c.IssueCard(citizen_id=cid, card_number=f"JS{n:08d}", issued_on=date(2024, 6, 1)), cid
        )
    dead = people[PEOPLE - 10][0]  # registered, not insured
    kind[dead] = "deceased"
    await desk.send(c.RecordDeath(citizen_id=dead, date_of_death=date(2025, 2, 20)), dead)
    # what a counter gets wrong
    await desk.send(
        c.EnrolResidentPension(
            citizen_id=people[20][0],
            region=people[20][1],
            start_date=date(2025, 3, 1),
            yearly_tier=700,
        ),
        people[20][0],
    )
    await desk.send(
        c.StartEmployment(
            citizen_id=people[22][0],
            employer="91320100MA00000000",
            start_date=date(2025, 3, 1),
            monthly_wage=D(6000),
        ),
        people[22][0],
    )
    bad = wrong_check(people[21][0])
    await desk.prod.send(
        c.COMMANDS.name,
        key=bad.encode(),
        headers=partner_headers(
            c.RegisterPerson.TYPE, message_id="demo-bad-1", time=T0, source="/test"
        ),
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
    await desk.flush()
    return {
        "people": people,
        "kind": kind,
        "employers": employers,
        "laid_off": laid_off,
        "total": desk.n + 1,
    }


async def enrollment_report(bootstrap: str, story: dict[str, Any], svc: Service) -> None:
    events = await read_all(bootstrap, c.EVENTS.name)
    story["events"] = events
    by_type = Counter(kind_of(e) for e in events)
    say(f"{story['total']} commands in, {len(events)} events out on {c.EVENTS.name}:")
    for t, n in sorted(by_type.items(), key=lambda x: (-x[1], x[0])):
        say(f"  {n:>5}  {t}")
    rejected = sorted(
        (json.loads(e.value) for e in events if kind_of(e) == "CommandRejected"),
        key=lambda r: (r["command_type"], r["reason"]),
    )
    say("refused, with the reason sent back:")
    for r in rejected[:12]:
        say(f"  {r['command_type'].rsplit('.', 1)[1]:<22} {r['reason']:<28} {r['detail'][:60]}")
    if len(rejected) > 12:
        say(f"  ... and {len(rejected) - 12} more")
    dlq = await read_all(bootstrap, c.COMMANDS.dlq)
    say(
        f"dead letters on {c.COMMANDS.dlq}: {len(dlq)} "
        f"({', '.join(dict(d.headers)['dlq-reason'].decode() for d in dlq)})"
    )

    head("Read side: a laid-off employee at the counter")
    cid = story["laid_off"][0][0]
    _, p = await svc.get_json(f"/persons?citizen_id={cid}")
    say(f"{mask_citizen_id(cid)}  card {p['card']['number'] if p['card'] else '-'}")
    for ms in p["memberships"]:
        say(f"  {ms['scheme']:<18} {ms['region']}  {ms['status']:<9} since {ms['since']}")
    say("  history: " + "; ".join(f"{h['on']} {h['what']}" for h in p["history"][-4:]))

    head("Coverage against the 95% target (population per region: illustrative)")
    _, cov = await svc.get_json("/coverage?on=2025-03-31")
    say(f"{'region':<16}" + "".join(f"{i.value:>14}" for i in c.Insurance))
    for reg in cov["regions"]:
        name = f"{reg['region']} {REGIONS.get(reg['region'], '')}"
        cells = []
        for row in reg["insurances"]:
            rate = f"{D(row['rate']) * 100:.1f}%" if row["rate"] else "-"
            cells.append(f"{row['insured']:>5} {rate:>7}{'*' if row['above_target'] else ' '}")
        say(f"{name:<16}" + "".join(f"{x:>14}" for x in cells))
    say("(* = at or above the target rate)")
