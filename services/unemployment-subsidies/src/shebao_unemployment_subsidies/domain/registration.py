"""Registering as unemployed: who is entitled, and to how many months.

Eligible (DOMAIN.md, unemployment): at least 12 credited months of unemployment insurance, the
last employment ended involuntarily, registered unemployed. The months by whole credited years:
1 to under 5 -> 12, 5 to under 10 -> 18, 10 or more -> 24. After a spell, contributions count
anew (months credited after the spell's first month), and the months an earlier spell left
unused are added: 24 at most in all. With fewer than 12 new months, only the carried ones.
"""

from __future__ import annotations

from datetime import date, datetime

from shebao_common import domain as common
from shebao_common import months
from shebao_common.domain import Effects, Refused
from shebao_contracts import unemployment as u
from shebao_contracts.enrollment import Separation

from .env import Env
from .model import Benefit, Person, Region, Spell
from .stops import directory, stop

R = u.Rejection


def age_on(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def not_in_future(day: date, received: datetime, region: str, what: str, env: Env) -> None:
    common.not_in_future(
        day,
        received,
        lambda today: env.params.future_tolerance_days(region, today),
        R.SERVICE_DATE_IN_FUTURE,
        what,
    )


def first_month(registered_on: date, region: Region | None) -> str:
    """Benefit is paid by whole months from the month of registration; one registered in a
    month already closed starts with the next month open."""
    first = months.of(registered_on)
    if region is not None and region.closed and region.closed[-1] >= first:
        first = months.shift(region.closed[-1], 1)
    return first


def register(
    p: Person | None,
    b: Benefit | None,
    region: Region | None,
    cmd: u.RegisterUnemployed | u.RegistrationForwarded,
    received: datetime,
    env: Env,
) -> tuple[Benefit, Effects]:
    """Grant a spell to a person registered unemployed: from what was followed of the person
    (`p`) and what was decided before (`b`: an earlier spell, the months it left)."""
    on = cmd.registered_on
    not_in_future(on, received, cmd.region, "registration", env)
    if p is None or not p.registered or p.birth_date is None or p.sex is None:
        raise Refused(R.PERSON_NOT_REGISTERED, "enrollment has no registration of this citizen ID")
    if p.deceased_on is not None:
        raise Refused(R.PERSON_DECEASED, f"deceased on {p.deceased_on}")
    retirement = env.params.retirement_age(cmd.region, on, p.sex)
    if age_on(p.birth_date, on) >= retirement:
        raise Refused(R.RETIRED, f"aged {age_on(p.birth_date, on)} on {on}: of pension age")
    b = b or Benefit(ref=p.ref)
    if b.receiving:
        assert b.spell is not None
        raise Refused(R.ALREADY_RECEIVING, f"receiving since {b.spell.registered_on}")
    if p.jobs:
        employer, since = sorted(p.jobs.items())[0]
        raise Refused(R.STILL_EMPLOYED, f"employed by {employer} since {since}")
    ended = p.separated
    if ended is None or ended.on > on:
        raise Refused(R.NO_EMPLOYMENT_ENDED, f"no employment ended on or before {on}")
    if ended.separation is Separation.VOLUNTARY:
        raise Refused(
            R.SEPARATION_VOLUNTARY,
            f"the last employment ended by the person's own choice on {ended.on}",
        )
    durations = env.params.durations(cmd.region, on)
    counted_from = b.spell.first_month if b.spell is not None else None
    credited = p.credited_after(counted_from)
    earned = durations.months_for(credited) if credited >= durations.min_months else 0
    if earned == 0 and b.carried == 0:
        raise Refused(
            R.INSUFFICIENT_CONTRIBUTIONS,
            f"{credited} months of unemployment insurance credited"
            + (f" since {counted_from}" if counted_from else "")
            + f"; {durations.min_months} needed",
        )
    total = min(earned + b.carried, durations.max_months)
    ev = u.BenefitGranted(
        person=b.ref,
        region=cmd.region,
        registered_on=on,
        first_month=first_month(on, region),
        credited_months=credited,
        entitlement_months=earned,
        carried_months=total - earned,
        months_left=total,
        separated_on=ended.on,
    )
    fx = Effects().emit(u.EVENTS, b.ref, ev)
    return granted(b, ev), fx.extend(directory(cmd.region, b.ref, True, env, ev.first_month))


def granted(b: Benefit | None, ev: u.BenefitGranted) -> Benefit:
    """The benefit after the grant `ev` (live, and folding the events topic in a rebuild): a new
    spell of its months; the months carried from earlier spells are in them (or lost past the
    cap)."""
    spell = Spell(
        region=ev.region,
        registered_on=ev.registered_on,
        first_month=ev.first_month,
        entitlement=ev.months_left,
        separated_on=ev.separated_on,
    )
    return (b or Benefit(ref=ev.person)).model_copy(update={"spell": spell, "carried": 0})


def stop_recorded(
    b: Benefit | None, cmd: u.StopBenefit | u.StopForwarded, received: datetime, env: Env
) -> tuple[Benefit, Effects]:
    """A job centre's record that a recipient refused suitable work or emigrated."""
    if b is None or not b.receiving or b.spell is None:
        raise Refused(R.NOT_RECEIVING, "no benefit is being paid to this person")
    not_in_future(cmd.on, received, b.spell.region, "the stop", env)
    return stop(b, cmd.on, u.StopCause(cmd.cause.value), env)
