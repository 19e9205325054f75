"""Enrollment rules: pure functions (state, command, policy) -> new state and events, or a refusal.

Invariants kept by every rule:
- a person has at most one active pension membership (employee, resident or land-expropriated)
  and at most one active basic medical membership;
- resident pension contributions between the ages in `resident_pension.contribution_ages`,
  employee schemes from the minimum working age up to the retirement age;
- only a registered employer employs; only an existing employment ends;
- a transfer-out and its transfer-in carry one transfer id;
- no command describes the future: an event it dates (a registration, a birth, an employment's
  start or end, an enrolment, a transfer, a card, a death) is not after the day of the
  command's record time, its ce_time (see `event_dates`).
Dates are the command's own dates; nothing here reads a clock: "now" is the record's time, read
as a day of China Standard Time, so a command read again, or replayed, is answered the same.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from shebao_common.policy import PROVINCE, MissingParameter, Policy
from shebao_common.pseudonym import CitizenIds
from shebao_contracts import enrollment as c
from shebao_contracts.envelope import Message
from shebao_contracts.types import citizen_id_birth_date

from .model import (
    MEDICAL_SCHEMES,
    PENSION_SCHEMES,
    Card,
    CardOwner,
    Employer,
    Employment,
    HistoryEntry,
    Membership,
    PendingTransfer,
    Person,
)

R = c.Rejection
_LOCAL_ONLY = frozenset({c.Scheme.WORK_INJURY, c.Scheme.MATERNITY})
_CARRIED = (c.Scheme.EMPLOYEE_PENSION, c.Scheme.EMPLOYEE_MEDICAL, c.Scheme.UNEMPLOYMENT)
PROVINCE_PREFIX = "32"  # Jiangsu's division codes: a transfer from elsewhere comes from outside


@dataclass(frozen=True)
class Env:
    """What rules may consult besides state: policy parameters and the citizen-ID functions (the
    pseudonym, and the seal that lets contributions name a person to the tax bureau)."""

    policy: Policy
    ids: CitizenIds


class Refused(Exception):
    def __init__(self, reason: c.Rejection, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass
class Outcome:
    """Accepted (events, maybe new person/employer/card index) or refused (reason)."""

    events: list[Message] = field(default_factory=list)
    person: Person | None = None
    employer: Employer | None = None
    cards: dict[str, CardOwner] = field(default_factory=dict)
    refused: Refused | None = None


def age_on(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def sex_of(citizen_id: str) -> c.Sex:
    return c.Sex.MALE if int(citizen_id[16]) % 2 else c.Sex.FEMALE


class _Tx:
    """Builds the new person and its events, recording each in the person's history."""

    def __init__(self, person: Person) -> None:
        self.p = person
        self.events: list[Message] = []
        self._history: list[HistoryEntry] = []

    def emit(self, event: Message, on: date, what: str, detail: str = "") -> None:
        self.events.append(event)
        self._history.append(
            HistoryEntry(
                on=on,
                what=what,
                scheme=getattr(event, "scheme", None),
                region=getattr(event, "region", None),
                detail=detail,
            )
        )

    def set(self, **changes: object) -> None:
        self.p = self.p.model_copy(update=changes)

    def put(self, m: Membership) -> None:
        rest = tuple(x for x in self.p.memberships if x.scheme != m.scheme)
        self.set(memberships=(*rest, m))

    def drop(self, scheme: c.Scheme) -> None:
        self.set(memberships=tuple(x for x in self.p.memberships if x.scheme != scheme))

    def done(self) -> Outcome:
        person = self.p.model_copy(update={"history": (*self.p.history, *self._history)})
        return Outcome(events=self.events, person=person)

    # membership transitions -------------------------------------------------------------------

    def start(self, m: Membership, transfer_id: str | None = None) -> None:
        self.put(m)
        self.emit(
            c.MembershipStarted(
                person=self.p.ref,
                scheme=m.scheme,
                insurance=m.insurance,
                region=m.region,
                since=m.since,
                first_enrolled=m.first_enrolled,
                basis=m.basis,
                employer=m.employer,
                declared_base=m.declared_base,
                yearly_tier=m.yearly_tier,
                risk_class=m.risk_class,
                transfer_id=transfer_id,
                expropriation_record=m.expropriation_record,
                birth_date=self.p.birth_date,
                sex=self.p.sex,
                active=m.active,
            ),
            m.since,
            "enrolled" if m.active else "enrolled (suspended)",
        )

    def suspend(self, m: Membership, on: date, reason: c.StopReason) -> None:
        self.put(m.model_copy(update={"active": False, "since": on}))
        self.emit(
            c.MembershipSuspended(
                person=self.p.ref,
                scheme=m.scheme,
                insurance=m.insurance,
                region=m.region,
                on=on,
                reason=reason,
            ),
            on,
            "suspended",
            reason.value,
        )

    def resume(self, m: Membership, on: date, basis: c.Basis, **terms: object) -> None:
        new = m.model_copy(update={"active": True, "since": on, "basis": basis, **terms})
        self.put(new)
        self.emit(
            c.MembershipResumed(
                person=self.p.ref,
                scheme=m.scheme,
                insurance=m.insurance,
                region=m.region,
                on=on,
                basis=basis,
                employer=new.employer,
                declared_base=new.declared_base,
                risk_class=new.risk_class,
            ),
            on,
            "resumed",
        )

    def change(self, m: Membership, on: date, basis: c.Basis, **terms: object) -> None:
        new = m.model_copy(update={"basis": basis, **terms})
        self.put(new)
        self.emit(
            c.MembershipChanged(
                person=self.p.ref,
                scheme=m.scheme,
                insurance=m.insurance,
                region=m.region,
                on=on,
                basis=basis,
                employer=new.employer,
                declared_base=new.declared_base,
                risk_class=new.risk_class,
            ),
            on,
            "terms changed",
        )

    def end(
        self, m: Membership, on: date, reason: c.StopReason, transfer_id: str | None = None
    ) -> None:
        self.drop(m.scheme)
        self.emit(
            c.MembershipEnded(
                person=self.p.ref,
                scheme=m.scheme,
                insurance=m.insurance,
                region=m.region,
                on=on,
                reason=reason,
                transfer_id=transfer_id,
            ),
            on,
            "ended",
            reason.value,
        )

    def join(
        self,
        scheme: c.Scheme,
        region: str,
        on: date,
        basis: c.Basis,
        *,
        employer: str | None = None,
        declared_base: Decimal | None = None,
        risk_class: int | None = None,
    ) -> None:
        """Enrol in an employee-type scheme: resume a suspended membership of the same region,
        change the terms of an active one, or start a new one. Callers checked the rules."""
        terms: dict[str, object] = {
            "employer": employer,
            "declared_base": declared_base,
            "risk_class": risk_class,
        }
        m = self.p.membership(scheme)
        if m is not None and m.region != region and scheme in _LOCAL_ONLY:
            # no account and nothing to carry over: the old region's membership simply ends
            self.end(m, on, c.StopReason.MOVED_REGION)
            m = None
        if m is None:
            self.start(
                Membership(
                    scheme=scheme,
                    region=region,
                    active=True,
                    since=on,
                    first_enrolled=on,
                    basis=basis,
                    employer=employer,
                    declared_base=declared_base,
                    risk_class=risk_class,
                )
            )
        elif m.active:
            self.change(m, on, basis, **terms)
        else:
            self.resume(m, on, basis, **terms)


# ------------------------------------------------------------------------------------------------
# checks

CHINA = timezone(timedelta(hours=8), "CST")
FUTURE_TOLERANCE = "enrollment.future_event_tolerance_days"


def local_day(when: datetime) -> date:
    """The day of a record's time in China Standard Time (2025-03-31T17:00Z is 1 April)."""
    return when.astimezone(CHINA).date()


def event_dates(cmd: Message) -> list[tuple[str, date]]:
    """The events a command dates, each of which has happened by the time it is sent.

    Not among them: the year of a resident pension tier (ChooseResidentPensionTier chooses next
    year's tier in advance: a choice for a year to come, not an event). Everything else here
    takes effect when the command is applied (a membership starts, is suspended or ends, the
    person counts as employed, transferred, dead), so a date to come would make the record say
    now what is not yet true: an office sends it once it has happened."""
    match cmd:
        case c.RegisterEmployer() | c.RegisterPerson():
            dates = [("registration", cmd.registered_on)]
            if isinstance(cmd, c.RegisterPerson):
                dates.append(("birth (from the citizen ID)", citizen_id_birth_date(cmd.citizen_id)))
            return dates
        case c.StartEmployment():
            return [("employment start", cmd.start_date)]
        case c.EndEmployment():
            return [("employment end", cmd.end_date)]
        case (
            c.EnrolFlexibleWorker()
            | c.EnrolResidentPension()
            | c.EnrolResidentMedical()
            | c.EnrolLandExpropriatedFarmer()
        ):
            return [("enrolment start", cmd.start_date)]
        case c.TransferOut() | c.TransferIn():
            return [("transfer", cmd.date)]
        case c.IssueCard() | c.ReplaceCard():
            return [("card issue", cmd.issued_on)]
        case c.RecordDeath():
            return [("death", cmd.date_of_death)]
        case _:
            return []


def not_in_future(cmd: Message, received: datetime, env: Env) -> None:
    """Refuse, `service_date_in_future`, a command dating an event after the day of its record
    time (`received`), give or take the tolerance in force that day: the region's where the
    command names one (the region, or a person's hukou region), else the province's."""
    dates = event_dates(cmd)
    if not dates:
        return
    today = local_day(received)
    region = getattr(cmd, "region", None) or getattr(cmd, "hukou_region", None) or PROVINCE
    try:
        tolerance = int(env.policy.get(FUTURE_TOLERANCE, region, today))
    except MissingParameter:  # a ce_time before any value (1970): no tolerance, not a crash
        tolerance = 0
    latest = today + timedelta(days=tolerance)
    future = [(what, on) for what, on in dates if on > latest]
    if future:
        what, on = future[0]
        raise Refused(
            R.SERVICE_DATE_IN_FUTURE,
            f"{what} on {on} is after {today}, the day the command was sent (ce_time)"
            + (f", by more than {tolerance} days" if tolerance else ""),
        )


def _alive(person: Person | None) -> Person:
    if person is None:
        raise Refused(R.PERSON_NOT_REGISTERED, "register the person first")
    if person.deceased_on is not None:
        raise Refused(R.PERSON_DECEASED, f"deceased on {person.deceased_on}")
    return person


def _working_age(person: Person, on: date, env: Env, region: str) -> None:
    age = age_on(person.birth_date, on)
    minimum = int(env.policy.get("person.min_working_age", region, on))
    if age < minimum:
        raise Refused(R.BELOW_WORKING_AGE, f"aged {age} on {on}, minimum {minimum}")
    retirement = int(env.policy.table("pension.retirement_age", region, on)[person.sex.value])
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


def _switch_from(tx: _Tx, group: frozenset[c.Scheme], keep: c.Scheme, on: date) -> None:
    """End an active resident-type membership of the group when an employee-type one starts."""
    m = tx.p.active_in(group)
    if m is not None and m.scheme != keep:
        tx.end(m, on, c.StopReason.SWITCHED_SCHEME)


# ------------------------------------------------------------------------------------------------
# employers and persons


def register_employer(existing: Employer | None, cmd: c.RegisterEmployer) -> Outcome:
    if existing is not None:
        raise Refused(R.EMPLOYER_ALREADY_REGISTERED, f"employer {cmd.employer} exists")
    employer = Employer(
        code=cmd.employer,
        name=cmd.name,
        region=cmd.region,
        ownership=cmd.ownership,
        risk_class=cmd.risk_class,
        registered_on=cmd.registered_on,
    )
    event = c.EmployerRegistered(
        employer=cmd.employer,
        name=cmd.name,
        region=cmd.region,
        ownership=cmd.ownership,
        risk_class=cmd.risk_class,
        registered_on=cmd.registered_on,
    )
    return Outcome(events=[event], employer=employer)


def register_person(existing: Person | None, cmd: c.RegisterPerson, env: Env) -> Outcome:
    if existing is not None:
        raise Refused(R.PERSON_ALREADY_REGISTERED, "this citizen ID is registered")
    ref = env.ids.person_ref(cmd.citizen_id)
    person = Person(
        ref=ref,
        citizen_id=cmd.citizen_id,
        name=cmd.name,
        birth_date=citizen_id_birth_date(cmd.citizen_id),
        sex=sex_of(cmd.citizen_id),
        hukou_region=cmd.hukou_region,
        residence=cmd.residence,
        registered_on=cmd.registered_on,
    )
    tx = _Tx(person)
    tx.emit(
        c.PersonRegistered(
            person=ref,
            birth_date=person.birth_date,
            sex=person.sex,
            hukou_region=cmd.hukou_region,
            residence=cmd.residence,
            registered_on=cmd.registered_on,
            sealed_citizen_id=env.ids.seal(cmd.citizen_id),
        ),
        cmd.registered_on,
        "registered",
    )
    return tx.done()


# ------------------------------------------------------------------------------------------------
# employment and the employee schemes


def start_employment(
    person: Person | None, employer: Employer | None, cmd: c.StartEmployment, env: Env
) -> Outcome:
    p = _alive(person)
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
    tx = _Tx(p)
    tx.set(
        employment=Employment(
            employer=employer.code,
            region=region,
            start_date=on,
            monthly_wage=cmd.monthly_wage,
            risk_class=employer.risk_class,
        )
    )
    tx.emit(
        c.EmploymentStarted(
            person=p.ref,
            employer=employer.code,
            region=region,
            start_date=on,
            monthly_wage=cmd.monthly_wage,
            risk_class=employer.risk_class,
        ),
        on,
        "employment started",
        employer.code,
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


def end_employment(person: Person | None, cmd: c.EndEmployment) -> Outcome:
    p = _alive(person)
    job = p.employment
    if job is None or job.employer != cmd.employer:
        raise Refused(R.NO_SUCH_EMPLOYMENT, f"not employed by {cmd.employer}")
    if cmd.end_date < job.start_date:
        raise Refused(R.DATE_BEFORE_START, f"ends {cmd.end_date}, started {job.start_date}")
    tx = _Tx(p)
    tx.set(employment=None)
    tx.emit(
        c.EmploymentEnded(
            person=p.ref,
            employer=job.employer,
            region=job.region,
            end_date=cmd.end_date,
            separation=cmd.separation,
        ),
        cmd.end_date,
        "employment ended",
        cmd.separation.value,
    )
    for m in p.memberships:
        if m.active and m.basis == c.Basis.EMPLOYMENT:
            tx.suspend(m, cmd.end_date, c.StopReason.EMPLOYMENT_ENDED)
    return tx.done()


def enrol_flexible_worker(person: Person | None, cmd: c.EnrolFlexibleWorker, env: Env) -> Outcome:
    p = _alive(person)
    on, region = cmd.start_date, cmd.region
    if p.employment is not None:
        raise Refused(R.ALREADY_EMPLOYED, "an employee is insured through the employer")
    _working_age(p, on, env, region)
    if cmd.unemployment and not env.policy.get("flexible.unemployment_allowed", region, on):
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
    tx = _Tx(p)
    _switch_from(tx, PENSION_SCHEMES, c.Scheme.EMPLOYEE_PENSION, on)
    _switch_from(tx, MEDICAL_SCHEMES, c.Scheme.EMPLOYEE_MEDICAL, on)
    for scheme in schemes:
        tx.join(scheme, region, on, c.Basis.FLEXIBLE, declared_base=cmd.declared_base)
    return tx.done()


# ------------------------------------------------------------------------------------------------
# resident schemes and land-expropriated farmers


def enrol_resident_pension(person: Person | None, cmd: c.EnrolResidentPension, env: Env) -> Outcome:
    p = _alive(person)
    on, region = cmd.start_date, cmd.region
    ages = env.policy.table("resident_pension.contribution_ages", region, on)
    age = age_on(p.birth_date, on)
    if not ages["min"] <= age <= ages["max"]:
        raise Refused(
            R.AGE_OUTSIDE_RESIDENT_PENSION, f"aged {age}; contributions {ages['min']}-{ages['max']}"
        )
    _check_tier(cmd.yearly_tier, region, on, env)
    active = p.active_in(PENSION_SCHEMES)
    if active is not None:
        raise Refused(R.ALREADY_IN_PENSION_SCHEME, f"active in {active.scheme.value}")
    tx = _Tx(p)
    tx.start(
        Membership(
            scheme=c.Scheme.RESIDENT_PENSION,
            region=region,
            active=True,
            since=on,
            first_enrolled=on,
            basis=c.Basis.RESIDENT,
            yearly_tier=cmd.yearly_tier,
        )
    )
    return tx.done()


def _check_tier(tier: int, region: str, on: date, env: Env) -> None:
    tiers = env.policy.get("resident_pension.tiers", region, on)
    if tier not in tiers:
        raise Refused(R.INVALID_TIER, f"{tier} is not one of {tiers}")


def choose_resident_pension_tier(
    person: Person | None, cmd: c.ChooseResidentPensionTier, env: Env
) -> Outcome:
    p = _alive(person)
    m = p.membership(c.Scheme.RESIDENT_PENSION)
    if m is None or not m.active:
        raise Refused(R.NOT_ENROLLED, "not in the resident pension scheme")
    on = date(cmd.year, 1, 1)
    _check_tier(cmd.yearly_tier, m.region, on, env)
    tx = _Tx(p)
    tx.put(m.model_copy(update={"yearly_tier": cmd.yearly_tier}))
    tx.emit(
        c.ResidentPensionTierChosen(
            person=p.ref, region=m.region, year=cmd.year, yearly_tier=cmd.yearly_tier
        ),
        on,
        "tier chosen",
        str(cmd.yearly_tier),
    )
    return tx.done()


def enrol_resident_medical(person: Person | None, cmd: c.EnrolResidentMedical) -> Outcome:
    p = _alive(person)
    active = p.active_in(MEDICAL_SCHEMES)
    if active is not None:
        raise Refused(R.ALREADY_IN_MEDICAL_SCHEME, f"active in {active.scheme.value}")
    tx = _Tx(p)
    tx.start(
        Membership(
            scheme=c.Scheme.RESIDENT_MEDICAL,
            region=cmd.region,
            active=True,
            since=cmd.start_date,
            first_enrolled=cmd.start_date,
            basis=c.Basis.RESIDENT,
        )
    )
    return tx.done()


def enrol_land_expropriated_farmer(
    person: Person | None, cmd: c.EnrolLandExpropriatedFarmer, env: Env
) -> Outcome:
    p = _alive(person)
    if p.residence != c.Residence.RURAL:
        raise Refused(R.NOT_RURAL_RESIDENT, "the scheme is for rural residents")
    on = cmd.start_date
    minimum = int(env.policy.get("person.min_working_age", cmd.region, on))
    if age_on(p.birth_date, on) < minimum:
        raise Refused(R.BELOW_WORKING_AGE, f"younger than {minimum} on {on}")
    active = p.active_in(PENSION_SCHEMES)
    if active is not None and active.scheme != c.Scheme.RESIDENT_PENSION:
        raise Refused(R.ALREADY_IN_PENSION_SCHEME, f"active in {active.scheme.value}")
    tx = _Tx(p)
    if active is not None:  # "insure first": the resident pension gives way to this scheme
        tx.end(active, on, c.StopReason.SWITCHED_SCHEME)
    tx.start(
        Membership(
            scheme=c.Scheme.LAND_EXPROPRIATED_PENSION,
            region=cmd.region,
            active=True,
            since=on,
            first_enrolled=on,
            basis=c.Basis.LAND_EXPROPRIATED,
            expropriation_record=cmd.expropriation_record,
        )
    )
    return tx.done()


# ------------------------------------------------------------------------------------------------
# transfers


_TRANSFERABLE = {
    c.Insurance.PENSION: PENSION_SCHEMES,
    c.Insurance.MEDICAL: MEDICAL_SCHEMES,
    c.Insurance.UNEMPLOYMENT: frozenset({c.Scheme.UNEMPLOYMENT}),
}


def transfer_out(person: Person | None, cmd: c.TransferOut) -> Outcome:
    p = _alive(person)
    if cmd.transfer_id in p.transfer_ids:
        raise Refused(R.TRANSFER_ID_IN_USE, f"transfer {cmd.transfer_id} exists")
    wanted: set[c.Scheme] = set()
    for ins in cmd.insurances:
        wanted |= _TRANSFERABLE.get(ins, frozenset())
    moving = [m for m in p.memberships if m.scheme in wanted]
    if not moving:
        raise Refused(R.NOTHING_TO_TRANSFER, "no membership of those insurances")
    from_regions = {m.region for m in moving}
    if from_regions == {cmd.to_region}:
        raise Refused(R.SAME_REGION, f"already in {cmd.to_region}")
    moving = [m for m in moving if m.region != cmd.to_region]
    job = p.employment
    if job is not None and any(m.basis == c.Basis.EMPLOYMENT and m.active for m in moving):
        raise Refused(R.STILL_EMPLOYED_IN_REGION, f"still employed in {job.region}")
    from_region = moving[0].region
    tx = _Tx(p)
    for m in moving:
        tx.end(m, cmd.date, c.StopReason.TRANSFERRED_OUT, cmd.transfer_id)
    tx.set(
        pending_transfers=(
            *tx.p.pending_transfers,
            PendingTransfer(
                transfer_id=cmd.transfer_id,
                from_region=from_region,
                to_region=cmd.to_region,
                on=cmd.date,
                memberships=tuple(moving),
            ),
        ),
        transfer_ids=(*tx.p.transfer_ids, cmd.transfer_id),
    )
    tx.emit(
        c.PersonTransferredOut(
            person=p.ref,
            transfer_id=cmd.transfer_id,
            from_region=from_region,
            to_region=cmd.to_region,
            on=cmd.date,
            schemes=tuple(m.scheme for m in moving),
        ),
        cmd.date,
        "transferred out",
        f"{cmd.transfer_id} to {cmd.to_region}",
    )
    return tx.done()


def transfer_in(person: Person | None, cmd: c.TransferIn) -> Outcome:
    p = _alive(person)
    pending = next((t for t in p.pending_transfers if t.transfer_id == cmd.transfer_id), None)
    if pending is not None:
        if pending.to_region != cmd.region or pending.from_region != cmd.from_region:
            raise Refused(
                R.UNKNOWN_TRANSFER,
                f"{cmd.transfer_id} goes from {pending.from_region} to {pending.to_region}",
            )
        arriving = [
            m.model_copy(
                update={
                    "region": cmd.region,
                    "since": cmd.date,
                    # an employee relationship waits for an employer in the new region
                    "active": m.basis != c.Basis.EMPLOYMENT,
                    "employer": None if m.basis == c.Basis.EMPLOYMENT else m.employer,
                }
            )
            for m in pending.memberships
        ]
        within = True
        rest = tuple(t for t in p.pending_transfers if t.transfer_id != cmd.transfer_id)
    else:
        if cmd.from_region.startswith(PROVINCE_PREFIX) or cmd.transfer_id in p.transfer_ids:
            raise Refused(R.UNKNOWN_TRANSFER, f"no transfer-out {cmd.transfer_id} is pending")
        schemes = {
            c.Insurance.PENSION: c.Scheme.EMPLOYEE_PENSION,
            c.Insurance.MEDICAL: c.Scheme.EMPLOYEE_MEDICAL,
            c.Insurance.UNEMPLOYMENT: c.Scheme.UNEMPLOYMENT,
        }
        arriving = [
            Membership(
                scheme=schemes[i],
                region=cmd.region,
                active=False,
                since=cmd.date,
                first_enrolled=cmd.date,
                basis=c.Basis.EMPLOYMENT,
            )
            for i in cmd.insurances
            if i in schemes
        ]
        if not arriving:
            raise Refused(R.NOTHING_TO_TRANSFER, "only pension, medical and unemployment move")
        within = False
        rest = p.pending_transfers
    for m in arriving:
        held = p.membership(m.scheme)
        if held is not None:
            raise Refused(R.TRANSFER_REQUIRED, f"{m.scheme.value} is already held in {held.region}")
        group = PENSION_SCHEMES if m.scheme in PENSION_SCHEMES else MEDICAL_SCHEMES
        if m.active and p.active_in(group) is not None:
            reason = (
                R.ALREADY_IN_PENSION_SCHEME
                if group is PENSION_SCHEMES
                else R.ALREADY_IN_MEDICAL_SCHEME
            )
            raise Refused(reason, f"{m.scheme.value} arrives while another is active")
    tx = _Tx(p)
    tx.set(
        pending_transfers=rest,
        transfer_ids=p.transfer_ids if within else (*p.transfer_ids, cmd.transfer_id),
    )
    for m in arriving:
        tx.start(m, transfer_id=cmd.transfer_id)
    tx.emit(
        c.PersonTransferredIn(
            person=p.ref,
            transfer_id=cmd.transfer_id,
            from_region=cmd.from_region,
            to_region=cmd.region,
            on=cmd.date,
            schemes=tuple(m.scheme for m in arriving),
            within_province=within,
        ),
        cmd.date,
        "transferred in",
        f"{cmd.transfer_id} from {cmd.from_region}",
    )
    return tx.done()


# ------------------------------------------------------------------------------------------------
# card and death


def issue_card(person: Person | None, owner: CardOwner | None, cmd: c.IssueCard) -> Outcome:
    p = _alive(person)
    if p.card is not None:
        raise Refused(R.CARD_ALREADY_ISSUED, f"card {p.card.number} is valid; replace it instead")
    return _new_card(p, owner, cmd.card_number, cmd.issued_on, None)


def replace_card(person: Person | None, owner: CardOwner | None, cmd: c.ReplaceCard) -> Outcome:
    p = _alive(person)
    if p.card is None:
        raise Refused(R.NO_CARD_TO_REPLACE, "no card was issued")
    return _new_card(p, owner, cmd.card_number, cmd.issued_on, p.card.number)


def _new_card(
    p: Person, owner: CardOwner | None, number: str, on: date, replaces: str | None
) -> Outcome:
    if owner is not None:
        raise Refused(R.CARD_NUMBER_IN_USE, f"card number {number} was issued before")
    tx = _Tx(p)
    tx.set(card=Card(number=number, issued_on=on))
    tx.emit(
        c.CardIssued(person=p.ref, card_number=number, issued_on=on, replaces=replaces),
        on,
        "card issued" if replaces is None else "card replaced",
        number,
    )
    out = tx.done()
    out.cards[number] = CardOwner(person=p.ref)
    return out


def record_death(person: Person | None, cmd: c.RecordDeath) -> Outcome:
    p = _alive(person)
    on = cmd.date_of_death
    tx = _Tx(p)
    for m in p.memberships:
        tx.end(m, on, c.StopReason.DECEASED)
    tx.set(deceased_on=on, employment=None)
    tx.set(card=None)
    tx.emit(c.PersonDeceased(person=p.ref, on=on), on, "deceased")
    return tx.done()
