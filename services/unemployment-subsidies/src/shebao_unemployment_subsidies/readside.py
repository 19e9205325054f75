"""HTTP read side: a person's entitlement, months used and payments; what a region paid."""

from __future__ import annotations

from typing import Any

from pydantic_core import PydanticCustomError

from shebao_common.auth import AUDITOR, COUNTER, OPERATOR
from shebao_common.domain import in_yuan
from shebao_common.runtime import ServiceRuntime
from shebao_common.runtime.access import about, readable_by
from shebao_common.runtime.service import JsonHandler
from shebao_contracts.types import validate_citizen_id

from .domain.env import Env
from .domain.model import BENEFIT, PAID, PERSON, Benefit, Person


def person_regions(p: Person, b: Benefit) -> set[str]:
    """The regions a person's unemployment belongs to: their spell's and their last job's."""
    regions = {b.spell.region} if b.spell is not None else set()
    if p.separated is not None:
        regions.add(p.separated.region)
    return regions


class ReadSide:
    """Counters see the persons and totals of their region; auditors and operators all."""

    def __init__(self, env: Env) -> None:
        self.env = env

    def routes(self) -> list[tuple[str, JsonHandler]]:
        return [("/persons", self.person), ("/regions", self.region)]

    @readable_by(COUNTER, AUDITOR, OPERATOR)
    async def person(self, query: dict[str, str], rt: ServiceRuntime) -> tuple[int, Any]:
        """GET /persons?citizen_id=... (or ?ref=<person reference>): the latest spell, months
        left and paid, carried months, subsidies."""
        assert rt.store is not None
        ref = query.get("ref", "")
        if "citizen_id" in query:
            try:
                ref = self.env.refs.person_ref(validate_citizen_id(query["citizen_id"]))
            except PydanticCustomError as exc:
                return 400, {"error": exc.type, "detail": exc.message()}
        about("person", ref[:128] or None)
        raw = await rt.store.get_state(PERSON.key(ref))
        decided = await rt.store.get_state(BENEFIT.key(ref))
        if raw is None and decided is None:
            return 404, {"error": "person_not_known"}
        p = Person(ref=ref) if raw is None else Person.model_validate_json(raw)
        b = Benefit(ref=ref) if decided is None else Benefit.model_validate_json(decided)
        spell = b.spell
        about("person", ref, person_regions(p, b))
        return 200, {
            "person": p.ref,
            "receiving": b.receiving,
            "credited_months": len(p.credited),
            "carried_months": b.carried,
            "spell": None
            if spell is None
            else {
                **spell.model_dump(mode="json"),
                "months_left": spell.months_left,
            },
            "months_paid": list(b.benefit_months),
            "subsidies": {k: str(v) for k, v in sorted(b.subsidies.items())},
        }

    @readable_by(COUNTER, AUDITOR, OPERATOR)
    async def region(self, query: dict[str, str], rt: ServiceRuntime) -> tuple[int, Any]:
        """GET /regions?code=320100&period=2025-03: what the region paid for the period."""
        assert rt.store is not None
        code = query.get("code", "")
        about("region", code[:128] or None, [code])
        counts = await rt.store.counters(
            PAID.key(query.get("code", ""), query.get("period", "")).name
        )
        if not counts:
            return 404, {"error": "nothing_paid"}
        return 200, in_yuan(counts)
