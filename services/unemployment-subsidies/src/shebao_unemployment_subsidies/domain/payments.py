"""The monthly payment run: a region's month closed once, each recipient paid the month once.

A close fans out over the region's directory (one record per shard, then one per recipient), so
no handler touches thousands of keys. A recipient is paid a month the spell covers whole (from its
first month, up to the month before its stop, while months are left) and not paid yet: the
benefit standard in force on the month's first day, and the employee medical contribution the
fund pays on the person's behalf. The last month stops the spell (`entitlement_used`); a
recipient of pension age on the month's first day is stopped (`retired`) instead of paid.
"""

from __future__ import annotations

from datetime import datetime

from shebao_common import months
from shebao_common.domain import Effects, Refused, month_over
from shebao_contracts import unemployment as u
from shebao_contracts.types import money

from . import subsidy
from .env import Env
from .model import PAID, Directory, Person, Region
from .registration import age_on
from .stops import directory, stop

R = u.Rejection
KEEP_STOPPED_MONTHS = 4
"""A stopped recipient stays in the directory this long: a price index released late (or a
quarter's) still reaches the months paid before the stop."""


def close(
    region: Region | None, cmd: u.ClosePaymentMonth, received: datetime, env: Env
) -> tuple[Region, Effects]:
    region = region or Region()
    month_over(cmd.month, received, R.SERVICE_DATE_IN_FUTURE, "close")
    if cmd.month in region.closed:
        raise Refused(R.MONTH_ALREADY_CLOSED, f"{cmd.region} closed {cmd.month} already")
    region = region.model_copy(update={"closed": tuple(sorted({*region.closed, cmd.month}))})
    fx = Effects().emit(
        u.EVENTS, cmd.region, u.PaymentMonthClosed(region=cmd.region, month=cmd.month)
    )
    for shard in range(env.shards):
        fx.emit(
            u.WORK,
            f"{cmd.region}:{shard}",
            u.PayShard(region=cmd.region, month=cmd.month, shard=shard),
        )
    return region, fx


def set_directory(d: Directory | None, msg: u.DirectorySet) -> Directory:
    d = d or Directory()
    people = set(d.recipients)
    (people.add if msg.active else people.discard)(msg.person)
    return Directory(recipients=tuple(sorted(people)))


def fan_out(
    d: Directory | None, region: str, make: type[u.PayRecipient] | type[u.PaySubsidy], period: str
) -> Effects:
    fx = Effects()
    for person in d.recipients if d is not None else ():
        if make is u.PayRecipient:
            fx.emit(u.WORK, person, u.PayRecipient(person=person, region=region, month=period))
        else:
            fx.emit(u.WORK, person, u.PaySubsidy(person=person, region=region, period=period))
    return fx


def pay(
    p: Person | None, region: Region | None, msg: u.PayRecipient, env: Env
) -> tuple[Person | None, Effects]:
    fx = Effects()
    if p is None or p.spell is None or p.spell.region != msg.region:
        return p, fx
    spell, month = p.spell, msg.month
    stopped = spell.stopped_on
    if stopped is not None and stopped < months.next_first_day(month):
        # stopped before the month was over: not paid; long stopped, out of the directory
        if months.index(month) - months.index(months.of(stopped)) >= KEEP_STOPPED_MONTHS:
            fx.extend(directory(msg.region, p.ref, False, env))
        return p, fx
    if month < spell.first_month or month in spell.paid or spell.months_left <= 0:
        return p, fx
    start = months.first_day(month)
    assert p.birth_date is not None and p.sex is not None
    if age_on(p.birth_date, start) >= env.params.retirement_age(msg.region, start, p.sex):
        return stop(p, start, u.StopCause.RETIRED, env)
    amount = env.params.benefit_standard(msg.region, start)
    spell = spell.model_copy(update={"paid": (*spell.paid, month)})
    # a month the spell covered whole is paid even when its stop was read first (re-employment
    # on 10 March read before February's run): its month comes out of the months kept
    carried = p.carried - 1 if stopped is not None else p.carried
    p = p.model_copy(
        update={"spell": spell, "carried": carried, "benefit_months": (*p.benefit_months, month)}
    )
    medical = env.params.medical_contribution(msg.region, start)
    fund_pays = money(medical.base * medical.rate)
    fx.emit(
        u.EVENTS,
        p.ref,
        u.BenefitPaid(
            person=p.ref,
            region=msg.region,
            month=month,
            amount=amount,
            months_left=spell.months_left,
        ),
    ).emit(
        u.EVENTS,
        p.ref,
        u.MedicalContributionPaid(
            person=p.ref,
            region=msg.region,
            month=month,
            base=medical.base,
            amount=fund_pays,
        ),
    )
    totals = PAID.key(msg.region, month)
    fx.count(totals, "benefit_fen", int(amount * 100)).count(
        totals, "medical_fen", int(fund_pays * 100)
    ).count(totals, "recipients")
    if spell.months_left == 0 and spell.active:
        p, ended = stop(p, months.next_first_day(month), u.StopCause.ENTITLEMENT_USED, env)
        fx.extend(ended)
    for period in (month, months.quarter(month)):
        triggered = region.triggered.get(period) if region is not None else None
        if triggered is not None:
            p, paid = subsidy.pay(p, msg.region, period, triggered)
            fx.extend(paid)
    return p, fx
