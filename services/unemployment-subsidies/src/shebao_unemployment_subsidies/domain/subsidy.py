"""The price subsidy (价格临时补贴): whether a month's price index triggers it, and how much.

The rule in force is a parameter per region and month (`price_subsidy.rule`):
- jiangsu_monthly: CPI year on year >= 3% -> the month's 低保 standard / 12; >= 5% -> / 8.
- national_2016: CPI >= 3.5% or food CPI >= 6% -> the 低保 standard x the triggering rise (when
  both trigger, the larger: the platform's reading, *unconfirmed*).
- quarterly_2011: the 2011 source's quarterly subsidy: the quarter's average monthly CPI
  (rounded to 0.1, as releases are) against the Jiangsu thresholds, one amount per quarter,
  decided on the release of the quarter's last month, once all three are in (the platform's
  reading).
Amounts are per person, urban and rural by the 低保 standard of each, rounded to the fen.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from shebao_common import months
from shebao_common.domain import Effects, Refused, month_over
from shebao_contracts import unemployment as u
from shebao_contracts.enrollment import Residence
from shebao_contracts.types import money

from .env import Env
from .model import PAID, Person, Region, Release, Triggered
from .params import SubsidyRule

R = u.Rejection


def tenth(x: Decimal) -> Decimal:
    return x.quantize(Decimal("0.1"), ROUND_HALF_UP)


def per_person(rule: SubsidyRule, cpi: Decimal, food: Decimal, standard: Decimal) -> Decimal | None:
    """The subsidy a person gets for the period, None when the rule is not triggered."""
    if rule.variant is u.Variant.NATIONAL_2016:
        rises = [cpi] if cpi >= rule.cpi_trigger else []
        if rule.food_trigger is not None and food >= rule.food_trigger:
            rises.append(food)
        return money(standard * max(rises) / 100) if rises else None
    if cpi < rule.cpi_trigger:
        return None
    assert rule.divisor is not None
    divisor = rule.divisor
    if rule.cpi_higher is not None and rule.higher_divisor is not None and cpi >= rule.cpi_higher:
        divisor = rule.higher_divisor
    return money(standard / divisor)


def release(
    region: Region | None,
    msg: u.CpiReleased,
    bureau: str,
    received: datetime,
    env: Env,
) -> tuple[Region, Effects]:
    """A statistics bureau's release: recorded (superseding an earlier one of the month while
    its period is unpaid), answered, and when it triggers the subsidy, the trigger published and
    the period's recipients paid."""
    region = region or Region()
    start = months.first_day(msg.month)
    if env.params.statistics_bureau(msg.region, start) != bureau:
        raise Refused(R.WRONG_REGION, f"{bureau} does not release the index of {msg.region}")
    month_over(msg.month, received, R.SERVICE_DATE_IN_FUTURE, "release")
    rule = env.params.subsidy_rule(msg.region, start)
    quarterly = rule.variant is u.Variant.QUARTERLY_2011
    period = months.quarter(msg.month) if quarterly else msg.month
    if period in region.paid:
        raise Refused(
            R.PERIOD_ALREADY_PAID,
            f"the subsidy of {msg.region} for {period} was paid; a new release cannot change it",
        )
    superseded = msg.month in region.releases
    cpi, food = Decimal(msg.cpi_yoy), Decimal(msg.food_cpi_yoy)
    releases = {**region.releases, msg.month: Release(cpi_yoy=cpi, food_cpi_yoy=food)}
    region = region.model_copy(update={"releases": releases})
    fx = Effects()
    if quarterly:
        quarter = [releases.get(m) for m in months.months_of_quarter(period)]
        ready = [r for r in quarter if r is not None]
        if len(ready) < 3:
            cpi = food = Decimal("-100")  # not decidable yet
        else:
            cpi = tenth(sum((r.cpi_yoy for r in ready), Decimal(0)) / 3)
            food = tenth(sum((r.food_cpi_yoy for r in ready), Decimal(0)) / 3)
    urban = per_person(
        rule, cpi, food, env.params.minimum_living_standard(msg.region, start, Residence.URBAN)
    )
    rural = per_person(
        rule, cpi, food, env.params.minimum_living_standard(msg.region, start, Residence.RURAL)
    )
    triggered = urban is not None and rural is not None
    if urban is not None and rural is not None:
        region = region.model_copy(
            update={
                "triggered": {**region.triggered, period: Triggered(urban=urban, rural=rural)},
                "paid": (*region.paid, period),
            }
        )
        fx.emit(
            u.EVENTS,
            msg.region,
            u.PriceSubsidyTriggered(
                region=msg.region,
                period=period,
                variant=rule.variant,
                cpi_yoy=_percent(cpi),
                food_cpi_yoy=_percent(food),
                urban_amount=urban,
                rural_amount=rural,
            ),
        )
        for shard in range(env.shards):
            fx.emit(
                u.WORK,
                f"{msg.region}:{shard}",
                u.SubsidyShard(region=msg.region, period=period, shard=shard),
            )
    fx.emit(
        u.ANSWERS.named(code=bureau),
        f"{msg.region}:{msg.month}",
        u.CpiAccepted(
            region=msg.region,
            month=msg.month,
            variant=rule.variant,
            triggered=triggered,
            superseded=superseded,
        ),
    )
    return region, fx


def _percent(x: Decimal) -> str:
    text = format(x.normalize(), "f")
    return text if "." not in text else text.rstrip("0").rstrip(".")


def pay(p: Person, region: str, period: str, subsidy: Triggered) -> tuple[Person, Effects]:
    """A recipient of the period (paid benefit for its month, or a month of its quarter) is paid
    the subsidy once; one who was also a welfare recipient in it is paid by welfare instead."""
    fx = Effects()
    wanted = months.months_in(period)
    if period in p.subsidies or not any(m in p.benefit_months for m in wanted):
        return p, fx
    if any(p.welfare_recipient(months.first_day(m)) for m in wanted):
        return p, fx  # a 低保 or 特困 recipient too: welfare pays the subsidy, once
    amount = subsidy.rural if p.residence is Residence.RURAL else subsidy.urban
    p = p.model_copy(update={"subsidies": {**p.subsidies, period: amount}})
    fx.emit(
        u.EVENTS,
        p.ref,
        u.PriceSubsidyPaid(person=p.ref, region=region, period=period, amount=amount),
    )
    totals = PAID.key(region, period)
    fx.count(totals, "subsidy_fen", int(amount * 100)).count(totals, "subsidy_recipients")
    return p, fx
