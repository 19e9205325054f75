"""The hospitals' load: synthetic claims, built before they are sent, and sent at a pace."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime

from shebao_contracts import medical as m
from shebao_contracts.envelope import Envelope
from shebao_partners import citizen_id, claim_body, random_lines

from .setting import HOSPITALS, PACE_STEP


def patient(n: int) -> str:
    """The n-th insured person's citizen ID (born from 1960 to 2003 in Nanjing)."""
    born = date.fromordinal(date(1960, 1, 1).toordinal() + (n * 7919) % 16000)
    return citizen_id("320102", born, n % 1000)


def claim_json(rng: random.Random, claim_id: str, hospital: str, patient: str) -> bytes:
    """A stay of 2 to 9 March 2025 of three to six random lines, as the hospital's JSON."""
    lines = random_lines(rng)
    body = claim_body(
        hospital, claim_id, patient, lines, admitted="2025-03-02", discharged="2025-03-09"
    )
    return json.dumps(body).encode()


def headers(claim_id: str, hospital: str) -> list[tuple[str, bytes]]:
    return Envelope(
        id=claim_id,
        type=m.ClaimSubmitted.TYPE,
        source=f"/partners/{hospital}",
        time=datetime(2025, 3, 9, 10, tzinfo=UTC),
    ).to_headers()


ClaimRecord = tuple[str, bytes, bytes, list[tuple[str, bytes]]]
"""(topic, key, value, headers) of a hospital's claim."""


def claim_records(
    rng: random.Random, claim_ids: list[str], patient: Callable[[int], str]
) -> list[ClaimRecord]:
    """A claim per id, the hospitals taking turns; patient(i) is the i-th claim's citizen ID."""
    out = []
    for i, claim_id in enumerate(claim_ids):
        code, _ = HOSPITALS[i % len(HOSPITALS)]
        body = claim_json(rng, claim_id, code, patient(i))
        out.append((m.CLAIMS.named(code=code), claim_id.encode(), body, headers(claim_id, code)))
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
