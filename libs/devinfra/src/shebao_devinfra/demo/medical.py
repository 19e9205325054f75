"""Medical settlement's part of the story: hospitals, claims, the month's statements."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import UTC, datetime
from typing import Any

from shebao_contracts import medical as m
from shebao_partners import (
    Line,
    cancellation_body,
    claim_body,
    claim_line,
    example_lines,
    hospital_registration,
)

from ..kit import caught_up
from ..testing import read_all, wait_until
from .desk import Desk
from .output import head, say, yuan
from .setting import HOSPITALS, MONTH, REGIONS, D, at
from .world import World


def claim(
    hospital: str,
    claim_id: str,
    patient: str,
    lines: list[Line],
    *,
    visit: str = "inpatient",
    admitted: str = "2025-03-04",
) -> bytes:
    """A claim of the demo's month as the hospital writes it (a stay ends on 11 March)."""
    body = claim_body(
        hospital, claim_id, patient, lines, visit=visit, admitted=admitted, discharged="2025-03-11"
    )
    return json.dumps(body).encode()


async def medical_month(desk: Desk, w: World, story: dict[str, Any]) -> None:
    head(f"Medical settlement: three hospitals, claims for {MONTH}, the statements")
    svc = w.medical
    for code, level, region in HOSPITALS:
        await desk.send(
            hospital_registration(
                code, level, region, name=f"{REGIONS[region]} {level.value} hospital"
            ),
            code,
            m.COMMANDS.name,
            at(1, month=3),
        )
    await desk.flush()

    async def hospitals_known() -> bool:
        return all(
            [(await svc.get_json(f"/hospitals?code={h}"))[0] == 200 for h, _, _ in HOSPITALS]
        )

    await wait_until(hospitals_known, timeout=60)
    say("registered: " + ", ".join(f"{h} ({lv.value}, {r})" for h, lv, r in HOSPITALS))
    # Claims are adjudicated on what medical settlement knows of the patients: let it catch up
    # with enrollment's and contributions' events first.
    await caught_up(svc, w.inputs["medical"], w.offsets, "medical settlement to follow coverage")

    kind, people = story["kind"], story["people"]

    def someone(what: str, region: str) -> str:
        return str(next(cid for cid, r in people if r == region and kind[cid] == what))

    nj, sz, sq = HOSPITALS[0][0], HOSPITALS[1][0], HOSPITALS[2][0]
    patients = {
        "ZY-0301": ("employee, Nanjing", someone("employee", "320100")),
        "ZY-0302": ("employee, Suzhou", someone("employee", "320500")),
        "MZ-0303": ("resident, Suqian", someone("resident", "321300")),
        "ZY-0304": ("registered, not insured", someone("not insured", "320100")),
        "ZY-0305": ("laid off, not on benefit", someone("laid off", "320100")),
        "MZ-0306": ("(unreadable record)", ""),
    }
    example = example_lines()
    sends: list[tuple[str, str, bytes, str]] = [  # hospital, claim id, body, type
        (nj, "ZY-0301", claim(nj, "ZY-0301", patients["ZY-0301"][1], example), ""),
        (
            sz,
            "ZY-0302",
            claim(sz, "ZY-0302", patients["ZY-0302"][1], [claim_line("treatment", "10000.00")]),
            "",
        ),
        (
            sq,
            "MZ-0303",
            claim(
                sq,
                "MZ-0303",
                patients["MZ-0303"][1],
                [claim_line("class_a_drug", "300.00", "3")],
                visit="outpatient",
                admitted="2025-03-12",
            ),
            "",
        ),
        (
            nj,
            "ZY-0304",
            claim(nj, "ZY-0304", patients["ZY-0304"][1], [claim_line("treatment", "4200.00")]),
            "",
        ),
        (
            nj,
            "ZY-0305",
            claim(nj, "ZY-0305", patients["ZY-0305"][1], [claim_line("treatment", "2600.00")]),
            "",
        ),
        (sq, "MZ-0306", b'{"hospital": "h321302003", "claim_id": "MZ-0306", "lines": [', ""),
        (
            sz,
            "ZY-0302",
            json.dumps(
                cancellation_body(
                    sz, "ZY-0302", patients["ZY-0302"][1], "wrong quantities, will resubmit"
                )
            ).encode(),
            m.ClaimCancellation.TYPE,
        ),
        (
            sz,
            "ZY-0302",
            claim(sz, "ZY-0302", patients["ZY-0302"][1], [claim_line("treatment", "8000.00")]),
            "",
        ),
    ]
    for n, (hospital, claim_id, body, ce_type) in enumerate(sends):
        await desk.send_raw(
            m.CLAIMS.named(code=hospital),
            claim_id,
            body,
            ce_type or m.ClaimSubmitted.TYPE,
            datetime(2025, 3, 20, 10, n, tzinfo=UTC),
            f"/partners/{hospital}",
        )
    await desk.flush()
    expected = Counter((h, cid) for h, cid, _, _ in sends)

    def answers() -> dict[tuple[str, str], list[tuple[str, dict[str, Any]]]]:
        out: dict[tuple[str, str], list[tuple[str, dict[str, Any]]]] = defaultdict(list)
        for h, _, _ in HOSPITALS:
            for k, _, body in w.tap.records[m.SETTLEMENTS.named(code=h)]:
                if k != "MonthlyStatement":
                    out[(h, body["claim_id"])].append((k, body))
        return out

    await w.tap.until(
        lambda: all(len(answers()[x]) >= n for x, n in expected.items()), "the answers"
    )
    got = answers()
    say(f"{len(sends)} records from the hospitals, each answered on its settlements topic:")
    say(
        f"  {'claim':<9}{'hospital':<12}{'patient':<25}{'answer':<20}{'submitted':>10}"
        f"{'fund':>10}{'patient':>10}  reasons"
    )
    order = list(patients)
    for (hospital, claim_id), ans in sorted(got.items(), key=lambda x: order.index(x[0][1])):
        for k, answer in ans:
            outcome = (
                answer["outcome"] if k == "SettlementResult" else f"cancel: {answer['outcome']}"
            )
            amounts = answer.get("amounts") or answer.get("reversed") or {}
            say(
                f"  {claim_id:<9}{hospital:<12}{patients[claim_id][0]:<25}{outcome:<20}"
                f"{yuan(amounts['submitted']) if amounts else '':>10}"
                f"{yuan(amounts['fund_payment']) if amounts else '':>10}"
                f"{yuan(amounts['patient_payable']) if amounts else '':>10}"
                f"  {', '.join(answer['reasons'])}"
            )
    dlq = await read_all(w.bootstrap, m.CLAIMS.named(code=sq) + ".dlq")
    say(
        f"dead letters on {m.CLAIMS.named(code=sq)}.dlq: {len(dlq)} "
        f"({', '.join(dict(d.headers)['dlq-reason'].decode() for d in dlq)})"
    )

    # The scheduler closes the month: each hospital gets its statement.
    await desk.send(m.CloseMonth(month=MONTH), MONTH, m.COMMANDS.name, at(1))
    await desk.flush()

    def statements() -> dict[str, dict[str, Any]]:
        return {
            h: b
            for h, _, _ in HOSPITALS
            for k, _, b in w.tap.records[m.SETTLEMENTS.named(code=h)]
            if k == "MonthlyStatement" and b["month"] == MONTH
        }

    await w.tap.until(lambda: len(statements()) == len(HOSPITALS), "the monthly statements")
    say(f"statements for {MONTH} (MonthlyStatement on each settlements topic):")
    say(
        f"  {'hospital':<12}{'settled':>8}{'cancelled':>10}{'rejected':>9}{'fund':>12}"
        f"{'serious ill.':>13}{'assistance':>11}{'annual budget':>15}{'used':>8}"
    )
    for h, s in statements().items():
        used = f"{D(s['budget_used']) * 100:.3f}%" if s["budget_used"] else "-"
        say(
            f"  {h:<12}{s['claims_settled']:>8}{s['claims_cancelled']:>10}{s['claims_rejected']:>9}"
            f"{yuan(s['fund_payment']):>12}{yuan(s['serious_illness_payment']):>13}"
            f"{yuan(s['medical_assistance_payment']):>11}"
            f"{yuan(s['annual_budget']) if s['annual_budget'] else '-':>15}{used:>8}"
        )
