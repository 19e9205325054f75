"""HTTP read side: a claim's state, a person's yearly totals, hospitals and their months."""

from __future__ import annotations

from typing import Any, TypeVar

from shebao_common.auth import AUDITOR, COUNTER, OPERATOR
from shebao_common.domain import Entity, StateModel, in_yuan
from shebao_common.runtime import ServiceRuntime
from shebao_common.runtime.access import about, readable_by
from shebao_common.runtime.service import JsonHandler

from .domain.model import ACCUMULATORS, CLAIM, COVERAGE, HOSPITAL, HOSPITAL_MONTH, Coverage

S = TypeVar("S", bound=StateModel)


async def _load(rt: ServiceRuntime, entity: Entity[S], *parts: str) -> S | None:
    assert rt.store is not None
    raw = await rt.store.get_state(entity.key(*parts))
    return None if raw is None else entity.model.model_validate_json(raw)


def coverage_regions(c: Coverage | None) -> set[str]:
    """A person's medical pooling regions: their memberships' and benefit spells'."""
    return set() if c is None else {p.region for p in (*c.periods, *c.benefit)}


async def _hospital_regions(rt: ServiceRuntime, code: str) -> list[str] | None:
    hospital = await _load(rt, HOSPITAL, code)
    return None if hospital is None else [hospital.region]


class ReadSide:
    """The routes of the read side; each answers (status, JSON body) from the stored state.
    Counters see their region's persons (by their coverage) and hospitals; auditors and
    operators all."""

    def routes(self) -> list[tuple[str, JsonHandler]]:
        return [
            ("/claims", self.claim),
            ("/accumulators", self.accumulators),
            ("/coverage", self.coverage),
            ("/hospitals", self.hospital),
            ("/hospital-months", self.hospital_month),
        ]

    @readable_by(COUNTER, AUDITOR, OPERATOR)
    async def claim(self, query: dict[str, str], rt: ServiceRuntime) -> tuple[int, Any]:
        """GET /claims?hospital=...&claim_id=..."""
        hospital = query.get("hospital", "")
        about("hospital", hospital[:128] or None)
        found = await _load(rt, CLAIM, hospital, query.get("claim_id", ""))
        if found is None:
            return 404, {"error": "unknown_claim"}
        about("person", found.person, await _hospital_regions(rt, hospital))
        return 200, found.model_dump(mode="json", exclude={"fingerprint"})

    @readable_by(COUNTER, AUDITOR, OPERATOR)
    async def accumulators(self, query: dict[str, str], rt: ServiceRuntime) -> tuple[int, Any]:
        """GET /accumulators?person=<person reference>"""
        person = query.get("person", "")
        about("person", person[:128] or None)
        found = await _load(rt, ACCUMULATORS, person)
        if found is None:
            return 404, {"error": "no_claims"}
        about("person", person, coverage_regions(await _load(rt, COVERAGE, person)))
        return 200, {str(y): t.model_dump(mode="json") for y, t in sorted(found.years.items())}

    @readable_by(COUNTER, AUDITOR, OPERATOR)
    async def coverage(self, query: dict[str, str], rt: ServiceRuntime) -> tuple[int, Any]:
        """GET /coverage?person=<person reference>: medical memberships and assistance status."""
        person = query.get("person", "")
        about("person", person[:128] or None)
        found = await _load(rt, COVERAGE, person)
        if found is None:
            return 404, {"error": "no_coverage_known"}
        about("person", person, coverage_regions(found))
        return 200, found.model_dump(mode="json")

    @readable_by(COUNTER, AUDITOR, OPERATOR)
    async def hospital(self, query: dict[str, str], rt: ServiceRuntime) -> tuple[int, Any]:
        """GET /hospitals?code=..."""
        code = query.get("code", "")
        about("hospital", code[:128] or None)
        found = await _load(rt, HOSPITAL, code)
        if found is None:
            return 404, {"error": "hospital_not_registered"}
        about("hospital", code, [found.region])
        return 200, found.model_dump(mode="json")

    @readable_by(COUNTER, AUDITOR, OPERATOR)
    async def hospital_month(self, query: dict[str, str], rt: ServiceRuntime) -> tuple[int, Any]:
        """GET /hospital-months?hospital=...&month=YYYY-MM: the month's counts and payments so
        far."""
        assert rt.store is not None
        name = HOSPITAL_MONTH.key(query.get("hospital", ""), query.get("month", "")).name
        counts = await rt.store.counters(name)
        hospital = query.get("hospital", "")
        about("hospital", hospital[:128] or None)
        if not counts:
            return 404, {"error": "no_settlements"}
        about("hospital", hospital, await _hospital_regions(rt, hospital))
        return 200, in_yuan(counts)
