"""The resident schemes (pension with a yearly tier, medical) and the land-expropriated farmers'
pension, which residents join without an employer."""

from __future__ import annotations

from datetime import date

from shebao_common.domain import Effects, Refused
from shebao_contracts import enrollment as c

from .change import PersonChange
from .env import Env
from .model import MEDICAL_SCHEMES, PENSION_SCHEMES, Person
from .persons import age_on, alive

R = c.Rejection


def enrol_resident_pension(
    person: Person | None, cmd: c.EnrolResidentPension, env: Env
) -> tuple[Person, Effects]:
    p = alive(person)
    on, region = cmd.start_date, cmd.region
    ages = env.params.resident_pension_contribution_ages(region, on)
    age = age_on(p.birth_date, on)
    if age not in ages:
        raise Refused(
            R.AGE_OUTSIDE_RESIDENT_PENSION,
            f"aged {age}; contributions {ages.lowest}-{ages.highest}",
        )
    _check_tier(cmd.yearly_tier, region, on, env)
    active = p.active_in(PENSION_SCHEMES)
    if active is not None:
        raise Refused(R.ALREADY_IN_PENSION_SCHEME, f"active in {active.scheme.value}")
    tx = PersonChange(p)
    tx.enrol(c.Scheme.RESIDENT_PENSION, region, on, c.Basis.RESIDENT, yearly_tier=cmd.yearly_tier)
    return tx.done()


def _check_tier(tier: int, region: str, on: date, env: Env) -> None:
    tiers = env.params.resident_pension_tiers(region, on)
    if tier not in tiers:
        raise Refused(R.INVALID_TIER, f"{tier} is not one of {list(tiers)}")


def choose_resident_pension_tier(
    person: Person | None, cmd: c.ChooseResidentPensionTier, env: Env
) -> tuple[Person, Effects]:
    p = alive(person)
    m = p.membership(c.Scheme.RESIDENT_PENSION)
    if m is None or not m.active:
        raise Refused(R.NOT_ENROLLED, "not in the resident pension scheme")
    on = date(cmd.year, 1, 1)
    _check_tier(cmd.yearly_tier, m.region, on, env)
    tx = PersonChange(p)
    tx.emit(
        c.ResidentPensionTierChosen(
            person=p.ref, region=m.region, year=cmd.year, yearly_tier=cmd.yearly_tier
        )
    )
    return tx.done()


def enrol_resident_medical(
    person: Person | None, cmd: c.EnrolResidentMedical
) -> tuple[Person, Effects]:
    p = alive(person)
    active = p.active_in(MEDICAL_SCHEMES)
    if active is not None:
        raise Refused(R.ALREADY_IN_MEDICAL_SCHEME, f"active in {active.scheme.value}")
    tx = PersonChange(p)
    tx.enrol(c.Scheme.RESIDENT_MEDICAL, cmd.region, cmd.start_date, c.Basis.RESIDENT)
    return tx.done()


def enrol_land_expropriated_farmer(
    person: Person | None, cmd: c.EnrolLandExpropriatedFarmer, env: Env
) -> tuple[Person, Effects]:
    p = alive(person)
    if p.residence != c.Residence.RURAL:
        raise Refused(R.NOT_RURAL_RESIDENT, "the scheme is for rural residents")
    on = cmd.start_date
    minimum = env.params.min_working_age(cmd.region, on)
    if age_on(p.birth_date, on) < minimum:
        raise Refused(R.BELOW_WORKING_AGE, f"younger than {minimum} on {on}")
    active = p.active_in(PENSION_SCHEMES)
    if active is not None and active.scheme != c.Scheme.RESIDENT_PENSION:
        raise Refused(R.ALREADY_IN_PENSION_SCHEME, f"active in {active.scheme.value}")
    tx = PersonChange(p)
    if active is not None:  # "insure first": the resident pension gives way to this scheme
        tx.end(active, on, c.StopReason.SWITCHED_SCHEME)
    tx.enrol(
        c.Scheme.LAND_EXPROPRIATED_PENSION,
        cmd.region,
        on,
        c.Basis.LAND_EXPROPRIATED,
        expropriation_record=cmd.expropriation_record,
    )
    return tx.done()
