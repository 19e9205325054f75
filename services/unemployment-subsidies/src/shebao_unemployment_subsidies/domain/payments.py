"""The monthly payment run: a region's month closed once, each recipient paid the month once.

A close fans out over the region's directory (one record per shard, then one per recipient), so
no handler touches thousands of keys. A recipient is paid a month the spell covers whole (from its
first month, up to the month before its stop, while months are left) and not paid yet: the
benefit standard in force on the month's first day, and the employee medical contribution the
fund pays on the person's behalf. The last month stops the spell (`entitlement_used`); a
recipient of pension age on the month's first day is stopped (`retired`) instead of paid.

Each decision is published, and the state it leaves is computed from its event (`closed`,
`paid`, `medical_paid`, `set_directory`): live, and when a rebuild folds the events and work
topics. A work item read again after a rebuild (one after the last whose decision was published)
decides what it decided before, nothing: a run reaches only recipients whose spell began by its
month (`Directory.reached`; a spell granted after a month was closed begins after it,
`registration.first_month`), and a recipient is paid a month once, by its spell, which only
moves on.
"""

from __future__ import annotations

from datetime import datetime

from shebao_common import months
from shebao_common.domain import Effects, Refused, month_over
from shebao_contracts import unemployment as u
from shebao_contracts.types import money

from . import subsidy
from .env import Env
from .model import PAID, Benefit, Directory, Person, Prices, Region
from .registration import age_on
from .stops import directory, stop

R = u.Rejection
KEEP_STOPPED_MONTHS = 4
"""A stopped recipient stays in the directory this long: a price index released late (or a
quarter's) still reaches the months paid before the stop."""


def close(
    region: Region | None, cmd: u.ClosePaymentMonth, received: datetime, env: Env
) -> tuple[Region, Effects]:
    month_over(cmd.month, received, R.SERVICE_DATE_IN_FUTURE, "close")
    if region is not None and cmd.month in region.closed:
        raise Refused(R.MONTH_ALREADY_CLOSED, f"{cmd.region} closed {cmd.month} already")
    ev = u.PaymentMonthClosed(region=cmd.region, month=cmd.month)
    fx = Effects().emit(u.EVENTS, cmd.region, ev)
    for shard in range(env.shards):
        fx.emit(
            u.WORK,
            f"{cmd.region}:{shard}",
            u.PayShard(region=cmd.region, month=cmd.month, shard=shard),
        )
    return closed(region, ev), fx


def closed(region: Region | None, ev: u.PaymentMonthClosed) -> Region:
    """The region after its month `ev` was closed."""
    region = region or Region()
    return region.model_copy(update={"closed": tuple(sorted({*region.closed, ev.month}))})


def set_directory(d: Directory | None, msg: u.DirectorySet) -> Directory:
    """The shard after `msg`: a recipient joins with the first month of its spell (kept the
    earliest while it stays), or leaves. Applied again in order, the same shard."""
    members = dict(d.recipients) if d is not None else {}
    if msg.active:
        first = msg.first_month or "0000-00"  # unknown: reached by every run
        members[msg.person] = min(first, members.get(msg.person, first))
    else:
        members.pop(msg.person, None)
    return Directory(recipients=tuple(sorted(members.items())))


def fan_out(
    d: Directory | None, region: str, make: type[u.PayRecipient] | type[u.PaySubsidy], period: str
) -> Effects:
    """One work item per recipient the run of `period` reaches."""
    fx = Effects()
    last = months.months_in(period)[-1]
    for person in d.reached(last) if d is not None else ():
        if make is u.PayRecipient:
            fx.emit(u.WORK, person, u.PayRecipient(person=person, region=region, month=period))
        else:
            fx.emit(u.WORK, person, u.PaySubsidy(person=person, region=region, period=period))
    return fx


def pay(
    p: Person | None,
    b: Benefit | None,
    prices: Prices | None,
    msg: u.PayRecipient,
    env: Env,
) -> tuple[Benefit | None, Effects]:
    fx = Effects()
    if p is None or b is None or b.spell is None or b.spell.region != msg.region:
        return b, fx
    spell, month = b.spell, msg.month
    stopped_on = spell.stopped_on
    if stopped_on is not None and stopped_on < months.next_first_day(month):
        # stopped before the month was over: not paid; long stopped, out of the directory
        if months.index(month) - months.index(months.of(stopped_on)) >= KEEP_STOPPED_MONTHS:
            fx.extend(directory(msg.region, b.ref, False, env))
        return b, fx
    if month < spell.first_month or month in spell.paid or spell.months_left <= 0:
        return b, fx
    start = months.first_day(month)
    assert p.birth_date is not None and p.sex is not None
    if age_on(p.birth_date, start) >= env.params.retirement_age(msg.region, start, p.sex):
        if not spell.active:
            # retired by the month, and stopped later for another cause (a re-employment read
            # before this month's run): the month is not paid, the stop already made stands
            return b, fx
        return stop(b, start, u.StopCause.RETIRED, env)
    amount = env.params.benefit_standard(msg.region, start)
    benefit = u.BenefitPaid(
        person=b.ref,
        region=msg.region,
        month=month,
        amount=amount,
        months_left=spell.months_left - 1,
    )
    medical = env.params.medical_contribution(msg.region, start)
    contribution = u.MedicalContributionPaid(
        person=b.ref,
        region=msg.region,
        month=month,
        base=medical.base,
        amount=money(medical.base * medical.rate),
    )
    b, counted = paid(b, benefit)
    fx.emit(u.EVENTS, b.ref, benefit).emit(u.EVENTS, b.ref, contribution)
    fx.extend(counted).extend(medical_paid(contribution))
    assert b.spell is not None
    if b.spell.months_left == 0 and b.spell.active:
        b, ended = stop(b, months.next_first_day(month), u.StopCause.ENTITLEMENT_USED, env)
        fx.extend(ended)
    for period in (month, months.quarter(month)):
        triggered = prices.triggered.get(period) if prices is not None else None
        if triggered is not None:
            b, subsidy_paid = subsidy.pay(p, b, msg.region, period, triggered)
            fx.extend(subsidy_paid)
    return b, fx


def paid(b: Benefit, ev: u.BenefitPaid) -> tuple[Benefit, Effects]:
    """The benefit after the month `ev` was paid, and the region's totals it adds to.

    A month the spell covered whole is paid even when its stop was read first (re-employment on
    10 March read before February's run): its month then comes out of the months kept."""
    spell = b.spell
    assert spell is not None, f"the log pays a benefit of {b.ref} that it never granted"
    carried = b.carried - 1 if not spell.active else b.carried
    b = b.model_copy(
        update={
            "spell": spell.model_copy(update={"paid": (*spell.paid, ev.month)}),
            "carried": carried,
            "benefit_months": (*b.benefit_months, ev.month),
        }
    )
    totals = PAID.key(ev.region, ev.month)
    fx = Effects().count(totals, "benefit_fen", int(ev.amount * 100)).count(totals, "recipients")
    return b, fx


def medical_paid(ev: u.MedicalContributionPaid) -> Effects:
    """The region's totals the fund's medical contribution `ev` adds to."""
    return Effects().count(PAID.key(ev.region, ev.month), "medical_fen", int(ev.amount * 100))
