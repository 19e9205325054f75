"""HTTP read side: a claim's state, a person's yearly totals, hospitals and their months."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from shebao_common.runtime import ServiceRuntime
from shebao_common.runtime.model import Entity

from .domain.model import (
    ACCUMULATORS,
    CLAIM,
    COVERAGE,
    HOSPITAL,
    HOSPITAL_MONTH,
    Accumulators,
    ClaimRecord,
    Coverage,
    Hospital,
)


async def _load(rt: ServiceRuntime, entity: Entity[Any], *parts: str) -> BaseModel | None:
    assert rt.store is not None
    raw = await rt.store.get_state(entity.key(*parts).name)
    return None if raw is None else entity.model.model_validate_json(raw)


async def claim(query: dict[str, str], rt: ServiceRuntime) -> tuple[int, Any]:
    """GET /claims?hospital=...&claim_id=..."""
    found = await _load(rt, CLAIM, query.get("hospital", ""), query.get("claim_id", ""))
    if not isinstance(found, ClaimRecord):
        return 404, {"error": "unknown_claim"}
    return 200, found.model_dump(mode="json", exclude={"fingerprint"})


async def accumulators(query: dict[str, str], rt: ServiceRuntime) -> tuple[int, Any]:
    """GET /accumulators?person=<person reference>"""
    found = await _load(rt, ACCUMULATORS, query.get("person", ""))
    if not isinstance(found, Accumulators):
        return 404, {"error": "no_claims"}
    return 200, {str(y): t.model_dump(mode="json") for y, t in sorted(found.years.items())}


async def coverage(query: dict[str, str], rt: ServiceRuntime) -> tuple[int, Any]:
    """GET /coverage?person=<person reference>: medical memberships and assistance status."""
    found = await _load(rt, COVERAGE, query.get("person", ""))
    if not isinstance(found, Coverage):
        return 404, {"error": "no_coverage_known"}
    return 200, found.model_dump(mode="json")


async def hospital(query: dict[str, str], rt: ServiceRuntime) -> tuple[int, Any]:
    """GET /hospitals?code=..."""
    found = await _load(rt, HOSPITAL, query.get("code", ""))
    if not isinstance(found, Hospital):
        return 404, {"error": "hospital_not_registered"}
    return 200, found.model_dump(mode="json")


async def hospital_month(query: dict[str, str], rt: ServiceRuntime) -> tuple[int, Any]:
    """GET /hospital-months?hospital=...&month=YYYY-MM: the month's counts and payments so far."""
    assert rt.store is not None
    name = HOSPITAL_MONTH.key(query.get("hospital", ""), query.get("month", "")).name
    counts = await rt.store.counters(name)
    if not counts:
        return 404, {"error": "no_settlements"}
    return 200, {
        k.removesuffix("_fen"): str((Decimal(v) / 100).quantize(Decimal("0.01")))
        if k.endswith("_fen")
        else v
        for k, v in sorted(counts.items())
    }
