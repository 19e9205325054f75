"""HTTP read side: a claim's state, a person's yearly totals, hospitals and their months."""

from __future__ import annotations

from typing import Any, TypeVar

from shebao_common.domain import Entity, StateModel, in_yuan
from shebao_common.runtime import ServiceRuntime
from shebao_common.runtime.service import JsonHandler

from .domain.model import ACCUMULATORS, CLAIM, COVERAGE, HOSPITAL, HOSPITAL_MONTH

S = TypeVar("S", bound=StateModel)


async def _load(rt: ServiceRuntime, entity: Entity[S], *parts: str) -> S | None:
    assert rt.store is not None
    raw = await rt.store.get_state(entity.key(*parts).name)
    return None if raw is None else entity.model.model_validate_json(raw)


class ReadSide:
    """The routes of the read side; each answers (status, JSON body) from the stored state."""

    def routes(self) -> list[tuple[str, JsonHandler]]:
        return [
            ("/claims", self.claim),
            ("/accumulators", self.accumulators),
            ("/coverage", self.coverage),
            ("/hospitals", self.hospital),
            ("/hospital-months", self.hospital_month),
        ]

    async def claim(self, query: dict[str, str], rt: ServiceRuntime) -> tuple[int, Any]:
        """GET /claims?hospital=...&claim_id=..."""
        found = await _load(rt, CLAIM, query.get("hospital", ""), query.get("claim_id", ""))
        if found is None:
            return 404, {"error": "unknown_claim"}
        return 200, found.model_dump(mode="json", exclude={"fingerprint"})

    async def accumulators(self, query: dict[str, str], rt: ServiceRuntime) -> tuple[int, Any]:
        """GET /accumulators?person=<person reference>"""
        found = await _load(rt, ACCUMULATORS, query.get("person", ""))
        if found is None:
            return 404, {"error": "no_claims"}
        return 200, {str(y): t.model_dump(mode="json") for y, t in sorted(found.years.items())}

    async def coverage(self, query: dict[str, str], rt: ServiceRuntime) -> tuple[int, Any]:
        """GET /coverage?person=<person reference>: medical memberships and assistance status."""
        found = await _load(rt, COVERAGE, query.get("person", ""))
        if found is None:
            return 404, {"error": "no_coverage_known"}
        return 200, found.model_dump(mode="json")

    async def hospital(self, query: dict[str, str], rt: ServiceRuntime) -> tuple[int, Any]:
        """GET /hospitals?code=..."""
        found = await _load(rt, HOSPITAL, query.get("code", ""))
        if found is None:
            return 404, {"error": "hospital_not_registered"}
        return 200, found.model_dump(mode="json")

    async def hospital_month(self, query: dict[str, str], rt: ServiceRuntime) -> tuple[int, Any]:
        """GET /hospital-months?hospital=...&month=YYYY-MM: the month's counts and payments so
        far."""
        assert rt.store is not None
        name = HOSPITAL_MONTH.key(query.get("hospital", ""), query.get("month", "")).name
        counts = await rt.store.counters(name)
        if not counts:
            return 404, {"error": "no_settlements"}
        return 200, in_yuan(counts)
