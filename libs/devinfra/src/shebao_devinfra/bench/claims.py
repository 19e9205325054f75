"""The hospitals' load: synthetic claims, built before they are sent, and sent at a pace."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime

from shebao_contracts import medical as m
from shebao_contracts.topics import partner_source
from shebao_partners import partner_headers, person_citizen_id, random_claim, random_claims

from .setting import HOSPITALS, PACE_STEP

STAY = {"admitted": "2025-03-02", "discharged": "2025-03-09"}
"""Every claim is a stay of 2 to 9 March 2025."""
SENT = datetime(2025, 3, 9, 10, tzinfo=UTC)
"""When the hospitals say they sent the claims (ce_time)."""


def patient(n: int) -> str:
    """The n-th insured person's citizen ID (born from 1960 to 2003 in Nanjing)."""
    return person_citizen_id(n, "320102", first_born=date(1960, 1, 1), days=16000)


def claim_json(rng: random.Random, claim_id: str, hospital: str, patient: str) -> bytes:
    """A claim of three to six random lines, as the hospital's JSON."""
    return json.dumps(random_claim(rng, hospital, claim_id, patient, **STAY)).encode()


def headers(claim_id: str, hospital: str) -> list[tuple[str, bytes]]:
    return partner_headers(
        m.ClaimSubmitted.TYPE, message_id=claim_id, time=SENT, source=partner_source(hospital)
    )


ClaimRecord = tuple[str, bytes, bytes, list[tuple[str, bytes]]]
"""(topic, key, value, headers) of a hospital's claim."""


def claim_records(
    rng: random.Random, claim_ids: list[str], patient: Callable[[int], str]
) -> list[ClaimRecord]:
    """A claim per id, the hospitals taking turns; patient(i) is the i-th claim's citizen ID."""
    codes = [code for code, _ in HOSPITALS]
    out = []
    for body in random_claims(rng, claim_ids, codes, patient, **STAY):
        code, claim_id = body["hospital"], body["claim_id"]
        topic = m.CLAIMS.named(code=code)
        out.append((topic, claim_id.encode(), json.dumps(body).encode(), headers(claim_id, code)))
    return out


async def paced(records: list[ClaimRecord], rate: float | None) -> AsyncIterator[ClaimRecord]:
    """The records, PACE_STEP at a time at `rate` a second (None: all at once)."""
    started = time.perf_counter()
    for i, record in enumerate(records):
        yield record
        if rate is not None and i % PACE_STEP == PACE_STEP - 1:
            ahead = (i + 1) / rate - (time.perf_counter() - started)
            if ahead > 0:
                await asyncio.sleep(ahead)
