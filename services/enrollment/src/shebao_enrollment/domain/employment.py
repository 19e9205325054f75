"""Employment and the employee schemes: a job starts and ends them; a flexible worker joins them
without one."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from shebao_common.domain import Effects, Refused
from shebao_contracts import enrollment as c

from .change import PersonChange
from .env import Env
from .model import MEDICAL_SCHEMES, PENSION_SCHEMES, Employer, Membership, Person
from .persons import age_on, alive

R = c.Rejection
_CARRIED = (c.Scheme.EMPLOYEE_PENSION, c.Scheme.EMPLOYEE_MEDICAL, c.Scheme.UNEMPLOYMENT)


def _working_age(person: Person, on: date, env: Env, region: str) -> None:
    age = age_on(person.birth_date, on)
    minimum = env.params.min_working_age(region, on)
    if age < minimum:
        raise Refused(R.BELOW_WORKING_AGE, f"aged {age} on {on}, minimum {minimum}")
    retirement = env.params.retirement_age(region, on).of(person.sex)
    if age >= retirement:
        raise Refused(R.ABOVE_RETIREMENT_AGE, f"aged {age} on {on}, retirement age {retirement}")


def _transfer_first(elsewhere: Iterable[Membership], region: str) -> Refused:
    """Relationships held in another region move before they can continue here: the refusal
    names the transfer the office must send."""
    by_region: dict[str, list[str]] = {}
    for m in sorted(elsewhere, key=lambda m: list(c.Insurance).index(m.insurance)):
        by_region.setdefault(m.region, []).append(m.insurance.value)
    held = "; ".join(f"{', '.join(ins)} still in region {r}" for r, ins in by_region.items())
    insurances = ", ".join(i for ins in by_region.values() for i in ins)
    return Refused(
        R.TRANSFER_REQUIRED,
        f"{held}: send TransferOut (to_region {region}, insurances [{insurances}]) and its "
        "TransferIn first",
    )


def _region_of_suspended(person: Person, schemes: Iterable[c.Scheme], region: str) -> None:
    """A suspended membership elsewhere must be transferred before it can continue here."""
    elsewhere = [
        m
        for s in schemes
        if (m := person.membership(s)) is not None and not m.active and m.region != region
    ]
    if elsewhere:
        raise _transfer_first(elsewhere, region)


def _switch_from(tx: PersonChange, group: frozenset[c.Scheme], keep: c.Scheme, on: date) -> None:
    """End an active resident-type membership of the group when an employee-type one starts."""
    m = tx.p.active_in(group)
    if m is not None and m.scheme != keep:
        tx.end(m, on, c.StopReason.SWITCHED_SCHEME)


def start_employment(
    person: Person | None, employer: Employer | None, cmd: c.StartEmployment, env: Env
) -> tuple[Person, Effects]:
    p = alive(person)
    if employer is None:
        raise Refused(
            R.EMPLOYER_NOT_REGISTERED,
            f"employer {cmd.employer} is not registered; if its RegisterEmployer was sent, resend"
            " this command (with a new ce_id) once EmployerRegistered is out",
        )
    if p.employment is not None:
        raise Refused(R.ALREADY_EMPLOYED, f"employed by {p.employment.employer}")
    on, region = cmd.start_date, employer.region
    _working_age(p, on, env, region)
    elsewhere = [m for s in _CARRIED if (m := p.membership(s)) is not None and m.region != region]
    if elsewhere:  # suspended, or active as a flexible worker
        raise _transfer_first(elsewhere, region)
    tx = PersonChange(p)
    tx.emit(
        c.EmploymentStarted(
            person=p.ref,
            employer=employer.code,
            region=region,
            start_date=on,
            monthly_wage=cmd.monthly_wage,
            risk_class=employer.risk_class,
        )
    )
    _switch_from(tx, PENSION_SCHEMES, c.Scheme.EMPLOYEE_PENSION, on)
    _switch_from(tx, MEDICAL_SCHEMES, c.Scheme.EMPLOYEE_MEDICAL, on)
    for scheme in c.EMPLOYEE_SCHEMES:
        tx.join(
            scheme,
            region,
            on,
            c.Basis.EMPLOYMENT,
            employer=employer.code,
            declared_base=cmd.monthly_wage,
            risk_class=employer.risk_class if scheme == c.Scheme.WORK_INJURY else None,
        )
    return tx.done()


def end_employment(person: Person | None, cmd: c.EndEmployment) -> tuple[Person, Effects]:
    p = alive(person)
    job = p.employment
    if job is None or job.employer != cmd.employer:
        raise Refused(R.NO_SUCH_EMPLOYMENT, f"not employed by {cmd.employer}")
    if cmd.end_date < job.start_date:
        raise Refused(R.DATE_BEFORE_START, f"ends {cmd.end_date}, started {job.start_date}")
    tx = PersonChange(p)
    tx.emit(
        c.EmploymentEnded(
            person=p.ref,
            employer=job.employer,
            region=job.region,
            end_date=cmd.end_date,
            separation=cmd.separation,
        )
    )
    for m in p.memberships:
        if m.active and m.basis == c.Basis.EMPLOYMENT:
            tx.suspend(m, cmd.end_date, c.StopReason.EMPLOYMENT_ENDED)
    return tx.done()


def enrol_flexible_worker(
    person: Person | None, cmd: c.EnrolFlexibleWorker, env: Env
) -> tuple[Person, Effects]:
    p = alive(person)
    on, region = cmd.start_date, cmd.region
    if p.employment is not None:
        raise Refused(R.ALREADY_EMPLOYED, "an employee is insured through the employer")
    _working_age(p, on, env, region)
    if cmd.unemployment and not env.params.flexible_unemployment_allowed(region, on):
        raise Refused(R.UNEMPLOYMENT_NOT_OFFERED, f"region {region} does not offer it")
    pension = p.membership(c.Scheme.EMPLOYEE_PENSION)
    if pension is not None and pension.active:
        raise Refused(R.ALREADY_IN_PENSION_SCHEME, "already a flexible worker")
    schemes = [c.Scheme.EMPLOYEE_PENSION, c.Scheme.EMPLOYEE_MEDICAL]
    if cmd.unemployment:
        schemes.append(c.Scheme.UNEMPLOYMENT)
    if cmd.maternity:
        schemes.append(c.Scheme.MATERNITY)
    _region_of_suspended(p, [x for x in schemes if x in _CARRIED], region)
    tx = PersonChange(p)
    _switch_from(tx, PENSION_SCHEMES, c.Scheme.EMPLOYEE_PENSION, on)
    _switch_from(tx, MEDICAL_SCHEMES, c.Scheme.EMPLOYEE_MEDICAL, on)
    for scheme in schemes:
        tx.join(scheme, region, on, c.Basis.FLEXIBLE, declared_base=cmd.declared_base)
    return tx.done()
