"""HTTP read side: a person's memberships and history (for the counter), coverage statistics."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pydantic_core import PydanticCustomError

from shebao_common.auth import AUDITOR, COUNTER, OPERATOR
from shebao_common.policy import MissingParameter
from shebao_common.runtime import ServiceRuntime
from shebao_common.runtime.access import about, readable_by
from shebao_common.runtime.service import JsonHandler
from shebao_contracts.enrollment import Insurance
from shebao_contracts.types import mask_citizen_id, validate_citizen_id

from .domain.env import Env
from .domain.lifetime import LIFETIME, Lifetime
from .domain.model import COVERAGE, EMPLOYER, PERSON, Employer, Person
from .domain.params import Population


def person_regions(p: Person) -> set[str]:
    """The pooling regions a person belongs to: their memberships' and pending transfers'
    (both ends), or their hukou region while they hold none."""
    regions = {m.region for m in p.memberships}
    regions |= {r for t in p.pending_transfers for r in (t.from_region, t.to_region)}
    return regions or {p.hukou_region}


class ReadSide:
    """Counters see the persons and employers of their region; auditors and operators all."""

    def __init__(self, env: Env) -> None:
        self.env = env

    def routes(self) -> list[tuple[str, JsonHandler]]:
        return [
            ("/persons", self.person),
            ("/employers", self.employer),
            ("/coverage", self.coverage),
            ("/lifetime", self.lifetime),
        ]

    @readable_by(COUNTER, AUDITOR, OPERATOR)
    async def person(self, query: dict[str, str], rt: ServiceRuntime) -> tuple[int, Any]:
        """GET /persons?citizen_id=...: current memberships, employment, card and history."""
        try:
            citizen_id = validate_citizen_id(query.get("citizen_id", ""))
        except PydanticCustomError as exc:
            return 400, {"error": exc.type, "detail": exc.message()}
        assert rt.store is not None
        ref = self.env.ids.person_ref(citizen_id)
        about("person", ref)
        raw = await rt.store.get_state(PERSON.key(ref))
        if raw is None:
            return 404, {"error": "person_not_registered"}
        p = Person.model_validate_json(raw)
        about("person", ref, person_regions(p))
        return 200, {
            "person": p.ref,
            "citizen_id": mask_citizen_id(p.citizen_id),
            "name": p.name,
            "birth_date": p.birth_date,
            "sex": p.sex,
            "hukou_region": p.hukou_region,
            "residence": p.residence,
            "deceased_on": p.deceased_on,
            "employment": p.employment.model_dump(mode="json") if p.employment else None,
            "card": p.card.model_dump(mode="json") if p.card else None,
            "memberships": [
                {
                    **m.model_dump(mode="json"),
                    "insurance": m.insurance.value,
                    "status": "active" if m.active else "suspended",
                }
                for m in p.memberships
            ],
            "pending_transfers": [t.model_dump(mode="json") for t in p.pending_transfers],
            "history": [h.model_dump(mode="json") for h in p.history],
        }

    @readable_by(COUNTER, AUDITOR, OPERATOR)
    async def lifetime(self, query: dict[str, str], rt: ServiceRuntime) -> tuple[int, Any]:
        """GET /lifetime?citizen_id=...: the person's lifetime record (记录一生), every scheme,
        credited month, payment and claim in the order of the days they count on."""
        try:
            citizen_id = validate_citizen_id(query.get("citizen_id", ""))
        except PydanticCustomError as exc:
            return 400, {"error": exc.type, "detail": exc.message()}
        assert rt.store is not None
        ref = self.env.ids.person_ref(citizen_id)
        about("person", ref)
        raw = await rt.store.get_state(LIFETIME.key(ref))
        if raw is None:
            return 404, {"error": "no_record", "detail": "nothing recorded about this person"}
        person = await rt.store.get_state(PERSON.key(ref))
        if person is not None:  # without, the record is for province-wide roles only
            about("person", ref, person_regions(Person.model_validate_json(person)))
        record = Lifetime.model_validate_json(raw)
        return 200, {
            "person": ref,
            "citizen_id": mask_citizen_id(citizen_id),
            "entries": [e.model_dump(mode="json") for e in record.entries],
        }

    @readable_by(COUNTER, AUDITOR, OPERATOR)
    async def employer(self, query: dict[str, str], rt: ServiceRuntime) -> tuple[int, Any]:
        """GET /employers?code=..."""
        assert rt.store is not None
        code = query.get("code", "")
        about("employer", code[:128] or None)
        raw = await rt.store.get_state(EMPLOYER.key(code))
        if raw is None:
            return 404, {"error": "employer_not_registered"}
        employer = Employer.model_validate_json(raw)
        about("employer", code, [employer.region])
        return 200, employer.model_dump(mode="json")

    @readable_by(COUNTER, AUDITOR, OPERATOR)
    async def coverage(self, query: dict[str, str], rt: ServiceRuntime) -> tuple[int, Any]:
        """GET /coverage[?region=320100][&on=YYYY-MM-DD]: insured counts, population, rate."""
        assert rt.store is not None and rt.redis is not None
        try:
            on = date.fromisoformat(query["on"]) if "on" in query else datetime.now(UTC).date()
        except ValueError:
            return 400, {"error": "invalid_date"}
        if "region" in query:
            regions = [query["region"]]
            about("region", query["region"][:128], regions)
        else:  # every region: for province-wide roles
            head = COVERAGE.key("").name
            regions = sorted(n.removeprefix(head) for n in await rt.store.counter_fields(head))
        out = []
        for region in regions:
            counts = await rt.store.counters(COVERAGE.key(region).name)
            out.append(self._region(region, counts, on))
        return 200, {"on": on, "regions": out}

    def _region(self, region: str, counts: dict[str, int], on: date) -> dict[str, Any]:
        try:
            population = self.env.params.coverage_population(region, on)
            target = self.env.params.coverage_target_rate(region, on)
        except MissingParameter:
            population, target = Population(), Decimal("0.95")
        rows = []
        for ins in Insurance:
            insured = counts.get(ins.value, 0)
            pop = population.of(ins)
            rate = (
                (Decimal(insured) / pop).quantize(Decimal("0.0001"), ROUND_HALF_UP) if pop else None
            )
            rows.append(
                {
                    "insurance": ins.value,
                    "insured": insured,
                    "population": pop,
                    "rate": str(rate) if rate is not None else None,
                    "target": str(target),
                    "above_target": rate is not None and rate >= target,
                }
            )
        schemes = {
            k.removeprefix("scheme:"): v for k, v in counts.items() if k.startswith("scheme:")
        }
        return {"region": region, "insurances": rows, "schemes": schemes}
