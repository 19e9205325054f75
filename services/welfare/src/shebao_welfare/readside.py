"""HTTP read side: a household (members masked), its decisions and payments; a region's totals."""

from __future__ import annotations

from typing import Any

from shebao_common.auth import AUDITOR, COUNTER, OPERATOR
from shebao_common.domain import in_yuan
from shebao_common.runtime import ServiceRuntime
from shebao_common.runtime.access import about, readable_by
from shebao_common.runtime.service import JsonHandler

from .domain.env import Env
from .domain.model import CASE, PAID, Case


class ReadSide:
    """Counters see the households and totals of their region; auditors and operators all."""

    def __init__(self, env: Env) -> None:
        self.env = env

    def routes(self) -> list[tuple[str, JsonHandler]]:
        return [("/households", self.household), ("/regions", self.region)]

    @readable_by(COUNTER, AUDITOR, OPERATOR)
    async def household(self, query: dict[str, str], rt: ServiceRuntime) -> tuple[int, Any]:
        """GET /households?id=<household id> (or ?support=<person reference>): members as
        references (the raw IDs stay with enrollment), decisions, months paid, grants."""
        assert rt.store is not None
        case_id = query.get("id") or f"support:{query.get('support', '')}"
        about("household", case_id[:128])
        # by the key's owner where the state is partitioned (a household's id, a person's reference)
        raw = await rt.store.get_state(CASE.key(case_id))
        if raw is None:
            return 404, {"error": "unknown_household"}
        case = Case.model_validate_json(raw)
        about("household", case.id, [case.region])
        return 200, {
            "id": case.id,
            "status": case.status.value,
            "region": case.region,
            "residence": case.residence.value,
            "active": case.active,
            "members": list(case.members),
            "decisions": [s.model_dump(mode="json") for s in case.steps],
            "months_paid": list(case.paid),
            "last_month": case.last_month,
            "temporary_assistance": case.grants,
        }

    @readable_by(COUNTER, AUDITOR, OPERATOR)
    async def region(self, query: dict[str, str], rt: ServiceRuntime) -> tuple[int, Any]:
        """GET /regions?code=320100&period=2025-03: households, supported persons and totals."""
        assert rt.store is not None
        code = query.get("code", "")
        about("region", code[:128] or None, [code])
        counts = await rt.store.counters(
            PAID.key(query.get("code", ""), query.get("period", "")).name
        )
        if not counts:
            return 404, {"error": "nothing_paid"}
        return 200, in_yuan(counts)
