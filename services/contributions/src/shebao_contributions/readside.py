"""HTTP read side: a person's contribution history and accounts, an employer's ledger.

For counters and the employer portal; other services learn what they need from the events.
Persons are looked up by their reference only (this service never sees a citizen ID).
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from shebao_common.auth import AUDITOR, COUNTER, OPERATOR
from shebao_common.runtime import ServiceRuntime
from shebao_common.runtime.access import about, readable_by
from shebao_common.runtime.service import JsonHandler
from shebao_contracts.enrollment import Insurance

from .domain import employers
from .domain.ledger import Ledger
from .domain.model import (
    ACCOUNT,
    CLOCK,
    EMPLOYER,
    LEDGER,
    PERSON,
    Account,
    EmployerFacts,
    EmployerFile,
    EmployerLedger,
    PersonFacts,
    PersonFile,
    RegionClock,
)

_REF = re.compile(r"^[0-9a-f]{32}$")
_CODE = re.compile(r"^[0-9A-Z]{18}$")
_REGION = re.compile(r"^[1-8][0-9]{5}$")


def _money(value: Decimal) -> str:
    return format(value, "f")


def _years(months: int) -> str:
    return str((Decimal(months) / 12).quantize(Decimal("0.01"), ROUND_HALF_UP))


def ledger_view(ledger: Ledger) -> dict[str, Any]:
    return {
        "credit": _money(ledger.credit),
        "arrears": _money(ledger.arrears),
        "assessments": [
            {
                "period": d.period,
                "assessment_id": d.assessment_id,
                "revision": d.revision,
                "bureau": d.bureau,
                "total": _money(d.total),
                "credit_applied": _money(d.credit_applied),
                "amount_due": _money(d.amount_due),
                "paid": _money(d.paid),
                "status": d.status,
                "arrears": _money(d.arrears),
            }
            for d in sorted(ledger.dues.values(), key=lambda d: d.period)
        ],
        "payments": [p.model_dump(mode="json") for p in ledger.payments],
    }


def person_view(p: PersonFile) -> dict[str, Any]:
    insurances = []
    for ins in Insurance:
        months = p.months(ins)
        if not months:
            continue
        insurances.append(
            {
                "insurance": ins.value,
                "months_credited": len(months),
                "total_years": _years(len(months)),
                "first": months[0],
                "last": months[-1],
                "months": list(months),
            }
        )
    gap = p.interruption
    return {
        "person": p.ref,
        "insurances": insurances,
        "accounts": {"pension": _money(p.pension_account), "medical": _money(p.medical_account)},
        "pension_bases_since_1998": _money(p.pension_bases_since_1998),
        "last_credited": p.last_credited,
        "judged_through": p.judged_through,
        "interruption": gap.model_dump(mode="json") if gap is not None else None,
        "pays_as": p.payer,
        "employer": p.job.employer if p.job is not None else None,
        "memberships": [
            {
                "scheme": o.scheme.value,
                "region": o.region,
                "basis": o.basis.value,
                "status": "ended" if o.ended_on else "active" if o.active else "suspended",
            }
            for o in sorted(p.obligations.values(), key=lambda o: o.scheme.value)
        ],
        "own_payments": ledger_view(p.ledger),
        "advances": {
            "outstanding": _money(p.advance_outstanding),
            "periods": sorted(p.advances),
        },
        "transfers": [t.model_dump(mode="json") for t in p.transfers],
    }


def employer_view(e: EmployerFile | None, ledger: Ledger | None, code: str) -> dict[str, Any]:
    out: dict[str, Any] = {"employer": code}
    if e is not None:
        out |= {
            "region": e.region,
            "risk_class": e.risk_class,
            "name": e.name,
            "employees": sum(1 for r in e.roster.values() if r.until is None),
            "last_assessed": e.last_assessed,
        }
    return out | ledger_view(ledger or Ledger())


def person_regions(p: PersonFile) -> set[str]:
    """The pooling regions a person belongs to here: their obligations' and their payer's."""
    regions = {o.region for o in p.obligations.values()}
    if p.payer_region:
        regions.add(p.payer_region)
    return regions


class ReadSide:
    """The service's HTTP read routes, over its state in the runtime's store. Counters see the
    persons, employers and region clocks of their region; auditors and operators all."""

    def routes(self) -> list[tuple[str, JsonHandler]]:
        return [("/persons", self.person), ("/employers", self.employer), ("/regions", self.region)]

    @readable_by(COUNTER, AUDITOR, OPERATOR)
    async def person(self, query: dict[str, str], rt: ServiceRuntime) -> tuple[int, Any]:
        """GET /persons?ref=<person reference>: months per insurance, years, accounts."""
        ref = query.get("ref", "")
        if not _REF.match(ref):
            return 400, {"error": "invalid_person_ref"}
        about("person", ref)
        assert rt.store is not None
        raw_f = await rt.store.get_state(PERSON.key(ref))
        raw_a = await rt.store.get_state(ACCOUNT.key(ref))
        if raw_f is None and raw_a is None:
            return 404, {"error": "person_not_known"}
        facts = PersonFacts.model_validate_json(raw_f) if raw_f else None
        account = Account.model_validate_json(raw_a) if raw_a else None
        file = PersonFile.of(ref, facts, account)
        about("person", ref, person_regions(file))
        return 200, person_view(file)

    @readable_by(COUNTER, AUDITOR, OPERATOR)
    async def employer(self, query: dict[str, str], rt: ServiceRuntime) -> tuple[int, Any]:
        """GET /employers?code=...: assessments, payments, arrears and credit."""
        code = query.get("code", "")
        if not _CODE.match(code):
            return 400, {"error": "invalid_employer_code"}
        about("employer", code)
        assert rt.store is not None
        raw_e = await rt.store.get_state(EMPLOYER.key(code))
        raw_l = await rt.store.get_state(LEDGER.key(code))
        if raw_e is None and raw_l is None:
            return 404, {"error": "employer_not_known"}
        facts = EmployerFacts.model_validate_json(raw_e) if raw_e else None
        ledger = EmployerLedger.model_validate_json(raw_l) if raw_l else None
        file = employers.roster_view(facts, ledger)
        about("employer", code, [file.region] if file is not None else None)
        return 200, employer_view(file, ledger, code)

    @readable_by(COUNTER, AUDITOR, OPERATOR)
    async def region(self, query: dict[str, str], rt: ServiceRuntime) -> tuple[int, Any]:
        """GET /regions?region=320100: the last closed month."""
        region = query.get("region", "")
        if not _REGION.match(region):
            return 400, {"error": "invalid_region"}
        about("region", region, [region])
        assert rt.store is not None
        raw = await rt.store.get_state(CLOCK.key(region))
        clock = RegionClock.model_validate_json(raw) if raw else RegionClock()
        return 200, {"region": region, "last_closed": clock.last_closed}
