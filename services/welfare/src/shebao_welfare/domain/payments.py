"""The monthly payment run, temporary assistance, the price subsidy.

A region's month is closed once; the close fans out over its directory (one record per shard,
then one per case), and each case is paid the month once: a 低保 household its allowance at the
standard in force that month, a 特困 person the support. With a case's first payment of a
calendar year the government pays each member's lowest resident-pension tier of that year
(`PensionPaidOnBehalf`). A price-subsidy trigger of unemployment-subsidies pays each member of a
case paid in the period the amount of the case's residence, once; a person who is also on
unemployment benefit is paid here, not there (unemployment-subsidies follows the statuses).

As with the decisions, what a payment changes is computed from the event that publishes it
(`paid`, `granted`, `subsidy_paid`, `closed`, `triggered_in`), by the live rule and by a rebuild
folding the log alike; each also counts the region's totals.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from shebao_common.domain import Effects, Refused, month_over
from shebao_contracts import unemployment as u
from shebao_contracts import welfare as w
from shebao_contracts.types import money

from . import months
from .decisions import allowance, support
from .env import Env
from .model import PAID, Case, Directory, Person, Region, Subsidy, case_owner, support_case

R = w.Rejection
S = w.AssistanceStatus


def close(
    region: Region | None, cmd: w.ClosePaymentMonth, received: datetime, env: Env
) -> tuple[Region, Effects]:
    region = region or Region()
    month_over(cmd.month, received, R.SERVICE_DATE_IN_FUTURE)
    if cmd.month in region.closed:
        raise Refused(R.MONTH_ALREADY_CLOSED, f"{cmd.region} closed {cmd.month} already")
    region = closed(region, cmd.month)
    fx = Effects()
    for shard in range(env.shards):
        fx.emit(
            w.WORK,
            f"{cmd.region}:{shard}",
            w.PayShard(region=cmd.region, month=cmd.month, shard=shard),
        )
    return region, fx


def closed(region: Region | None, month: str) -> Region:
    """The region once its `month` was closed (its payment run's shards are on the work topic)."""
    region = region or Region()
    return region.model_copy(update={"closed": tuple(sorted({*region.closed, month}))})


def set_directory(d: Directory | None, msg: w.DirectorySet) -> Directory:
    cases = set(d.cases if d is not None else ())
    (cases.add if msg.active else cases.discard)(msg.case)
    return Directory(cases=tuple(sorted(cases)))


def pay_shard(d: Directory | None, msg: w.PayShard) -> Effects:
    """One PayCase a case of the shard, keyed as the case is kept (`case_owner`)."""
    fx = Effects()
    for case in d.cases if d is not None else ():
        pay = w.PayCase(case=case, region=msg.region, month=msg.month)
        fx.emit(w.WORK, case_owner(case), pay)
    return fx


def pay(
    case: Case | None, region: Region | None, msg: w.PayCase, env: Env
) -> tuple[Case | None, Effects]:
    fx = Effects()
    month = msg.month
    if case is None or not case.pays(month) or month in case.paid:
        return case, fx
    step = case.step(month)
    assert step is not None
    on = months.first_day(month)
    ev: w.AssistancePaid
    if case.status is S.EXTREME_POVERTY:
        basic, care = support(case, month, env)
        ev = w.AssistancePaid(
            person=step.members[0],
            region=case.region,
            month=month,
            status=case.status,
            amount=basic + care,
        )
        fx.emit(w.EVENTS, step.members[0], ev)
    else:
        amount = allowance(env.params.standard(case.region, on, case.residence), step)
        ev = w.AssistancePaid(
            household_id=case.id,
            region=case.region,
            month=month,
            status=case.status,
            amount=amount,
        )
        fx.emit(w.EVENTS, case.id, ev)
    case, pension, counted = paid(case, ev)
    tier = env.params.lowest_pension_tier(case.region, on)
    for ref in pension:
        fx.emit(
            w.EVENTS,
            ref,
            w.PensionPaidOnBehalf(
                person=ref, region=case.region, year=on.year, tier=tier, amount=money(tier)
            ),
        )
    fx.extend(counted)
    # a price subsidy triggered before this (late) run: the members are paid it now, once
    for period in (month, months.quarter(month)):
        subsidy = region.triggered.get(period) if region is not None else None
        if subsidy is not None:
            fx.extend(_members(case, msg.region, period, subsidy, step.members))
    return case, fx


def paid_case(ev: w.AssistancePaid) -> str:
    """The case an AssistancePaid paid: the household, or the 特困 person's support."""
    if ev.household_id is not None:
        return ev.household_id
    assert ev.person is not None
    return support_case(ev.person)


def paid(case: Case, ev: w.AssistancePaid) -> tuple[Case, list[str], Effects]:
    """The case once `ev` paid its month, and the members whose resident-pension tier of the
    year the government pays with it (those not paid for that year yet, across spells); the
    region's totals counted."""
    step = case.step(ev.month)
    assert step is not None
    year = months.first_day(ev.month).year
    pension = list(case.pension)
    new = [ref for ref in step.members if f"{ref}:{year}" not in pension]
    pension += [f"{ref}:{year}" for ref in new]
    case = case.model_copy(update={"paid": (*case.paid, ev.month), "pension": tuple(pension)})
    totals = PAID.key(ev.region, ev.month)
    fx = Effects()
    if ev.status is S.EXTREME_POVERTY:
        fx.count(totals, "support_fen", int(ev.amount * 100)).count(totals, "supported")
    else:
        fx.count(totals, "allowance_fen", int(ev.amount * 100)).count(totals, "households")
    return case, new, fx


def _members(
    case: Case, region: str, period: str, subsidy: Subsidy, members: tuple[str, ...]
) -> Effects:
    amount = subsidy.rural if case.residence is w.Residence.RURAL else subsidy.urban
    fx = Effects()
    for ref in members:
        fx.emit(w.WORK, ref, w.PaySubsidy(person=ref, region=region, period=period, amount=amount))
    return fx


def grant(
    case: Case | None, cmd: w.GrantTemporaryAssistance, received: datetime, env: Env
) -> tuple[Case, Effects]:
    """One-off temporary assistance: at most `cap_months` of the household's monthly 低保
    standard, at most `per_year` grants in a calendar year; a grant id sent again pays nothing."""
    if case is None:
        raise Refused(R.UNKNOWN_HOUSEHOLD, f"no household {cmd.household_id}")
    if cmd.grant_id in case.grant_ids:
        return case, Effects()
    months.not_in_future(cmd.on, received, case.region, "the grant", env)
    limits = env.params.temporary(case.region, cmd.on)
    year = str(cmd.on.year)
    done = case.grants.get(year, 0)
    if done >= limits.per_year:
        raise Refused(
            R.TEMPORARY_ASSISTANCE_LIMIT,
            f"{case.id} had {done} grants in {year}; {limits.per_year} a year at most",
        )
    cap = money(limits.cap_months * env.params.standard(case.region, cmd.on, case.residence))
    if cmd.amount > cap:
        raise Refused(R.AMOUNT_ABOVE_CAP, f"{cmd.amount} is above the cap of {cap}")
    ev = w.TemporaryAssistancePaid(
        household_id=case.id,
        grant_id=cmd.grant_id,
        region=case.region,
        on=cmd.on,
        amount=cmd.amount,
        grants_this_year=done + 1,
    )
    case, counted = granted(case, ev)
    return case, Effects().emit(w.EVENTS, case.id, ev).extend(counted)


def granted(case: Case, ev: w.TemporaryAssistancePaid) -> tuple[Case, Effects]:
    """The case once `ev` granted it temporary assistance; the region's totals counted."""
    case = case.model_copy(
        update={
            "grants": {**case.grants, str(ev.on.year): ev.grants_this_year},
            "grant_ids": (*case.grant_ids, ev.grant_id),
        }
    )
    totals = PAID.key(ev.region, months.of(ev.on))
    fx = Effects().count(totals, "temporary_fen", int(ev.amount * 100)).count(totals, "grants")
    return case, fx


def triggered(
    region: Region | None, t: u.PriceSubsidyTriggered, env: Env
) -> tuple[Region, Effects]:
    """A trigger of unemployment-subsidies: kept for the region (a case paid in the period later
    is paid it then), and paid to the recipients of the period, shard by shard."""
    region = triggered_in(region, t.period, t.urban_amount, t.rural_amount)
    fx = Effects()
    for shard in range(env.shards):
        fx.emit(
            w.WORK,
            f"{t.region}:{shard}",
            w.SubsidyShard(
                region=t.region,
                period=t.period,
                shard=shard,
                urban_amount=t.urban_amount,
                rural_amount=t.rural_amount,
            ),
        )
    return region, fx


def triggered_in(region: Region | None, period: str, urban: Decimal, rural: Decimal) -> Region:
    """The region once a price subsidy was triggered in it for `period` (its shards are on the
    work topic)."""
    region = region or Region()
    subsidy = Subsidy(urban=urban, rural=rural)
    return region.model_copy(update={"triggered": {**region.triggered, period: subsidy}})


def subsidy_shard(d: Directory | None, msg: w.SubsidyShard) -> Effects:
    fx = Effects()
    for case in d.cases if d is not None else ():
        fx.emit(
            w.WORK,
            case_owner(case),
            w.PayCaseSubsidy(
                case=case,
                region=msg.region,
                period=msg.period,
                urban_amount=msg.urban_amount,
                rural_amount=msg.rural_amount,
            ),
        )
    return fx


def case_subsidy(case: Case | None, msg: w.PayCaseSubsidy) -> Effects:
    """The members of a case paid in the period (a month of it, for a quarter)."""
    fx = Effects()
    paid_months = [m for m in months.months_in(msg.period) if case is not None and m in case.paid]
    if case is None or not paid_months:
        return fx
    step = case.step(paid_months[-1])
    assert step is not None
    subsidy = Subsidy(urban=msg.urban_amount, rural=msg.rural_amount)
    return fx.extend(_members(case, msg.region, msg.period, subsidy, step.members))


def pay_subsidy(p: Person | None, msg: w.PaySubsidy) -> tuple[Person, Effects]:
    p = p or Person(ref=msg.person)
    if msg.period in p.subsidies:
        return p, Effects()
    ev = w.PriceSubsidyPaid(person=p.ref, region=msg.region, period=msg.period, amount=msg.amount)
    p, counted = subsidy_paid(p, ev)
    return p, Effects().emit(w.EVENTS, p.ref, ev).extend(counted)


def subsidy_paid(p: Person | None, ev: w.PriceSubsidyPaid) -> tuple[Person, Effects]:
    """The person once `ev` paid them a period's price subsidy; the region's totals counted."""
    p = p or Person(ref=ev.person)
    p = p.model_copy(update={"subsidies": {**p.subsidies, ev.period: ev.amount}})
    totals = PAID.key(ev.region, ev.period)
    fx = Effects().count(totals, "subsidy_fen", int(ev.amount * 100))
    return p, fx.count(totals, "subsidy_recipients")
