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

What a release changes is published: the release as recorded on the bureau's answer
(`CpiAccepted`, `recorded`), the trigger on the events topic (`PriceSubsidyTriggered`,
`set_off`); a rebuild folds both into the region's prices with these same functions.
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
from .model import PAID, Benefit, Person, Prices, Release, Triggered
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
    prices: Prices | None,
    msg: u.CpiReleased,
    bureau: str,
    received: datetime,
    env: Env,
) -> tuple[Prices, Effects]:
    """A statistics bureau's release: recorded (superseding an earlier one of the month while
    its period is unpaid), answered, and when it triggers the subsidy, the trigger published and
    the period's recipients paid."""
    prices = prices or Prices()
    start = months.first_day(msg.month)
    if env.params.statistics_bureau(msg.region, start) != bureau:
        raise Refused(R.WRONG_REGION, f"{bureau} does not release the index of {msg.region}")
    month_over(msg.month, received, R.SERVICE_DATE_IN_FUTURE, "release")
    rule = env.params.subsidy_rule(msg.region, start)
    quarterly = rule.variant is u.Variant.QUARTERLY_2011
    period = months.quarter(msg.month) if quarterly else msg.month
    if period in prices.paid:
        raise Refused(
            R.PERIOD_ALREADY_PAID,
            f"the subsidy of {msg.region} for {period} was paid; a new release cannot change it",
        )
    superseded = msg.month in prices.releases
    cpi, food = Decimal(msg.cpi_yoy), Decimal(msg.food_cpi_yoy)
    fx = Effects()
    accepted = u.CpiAccepted(
        region=msg.region,
        month=msg.month,
        variant=rule.variant,
        triggered=False,
        superseded=superseded,
        cpi_yoy=msg.cpi_yoy,
        food_cpi_yoy=msg.food_cpi_yoy,
    )
    prices = recorded(prices, accepted)
    releases = prices.releases
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
    if urban is not None and rural is not None:
        trigger = u.PriceSubsidyTriggered(
            region=msg.region,
            period=period,
            variant=rule.variant,
            cpi_yoy=_percent(cpi),
            food_cpi_yoy=_percent(food),
            urban_amount=urban,
            rural_amount=rural,
        )
        prices = set_off(prices, trigger)
        fx.emit(u.EVENTS, msg.region, trigger)
        for shard in range(env.shards):
            fx.emit(
                u.WORK,
                f"{msg.region}:{shard}",
                u.SubsidyShard(region=msg.region, period=period, shard=shard),
            )
        accepted = accepted.model_copy(update={"triggered": True})
    fx.emit(u.ANSWERS.named(code=bureau), f"{msg.region}:{msg.month}", accepted)
    return prices, fx


def recorded(prices: Prices | None, ev: u.CpiAccepted) -> Prices:
    """The prices after the release the bureau's answer `ev` accepted (an answer without the
    index, of before it was published with it, changed nothing a rebuild can restore)."""
    prices = prices or Prices()
    if ev.cpi_yoy is None or ev.food_cpi_yoy is None:
        return prices
    release = Release(cpi_yoy=Decimal(ev.cpi_yoy), food_cpi_yoy=Decimal(ev.food_cpi_yoy))
    releases = dict(sorted({**prices.releases, ev.month: release}.items()))  # by month: the
    # answers of a region's months are on different partitions, read in any interleaving
    return prices.model_copy(update={"releases": releases})


def set_off(prices: Prices | None, ev: u.PriceSubsidyTriggered) -> Prices:
    """The prices after the subsidy of a period was triggered: its amounts, and the period
    paid out (no release changes it any more)."""
    prices = prices or Prices()
    amounts = Triggered(urban=ev.urban_amount, rural=ev.rural_amount)
    return prices.model_copy(
        update={
            "triggered": {**prices.triggered, ev.period: amounts},
            "paid": (*prices.paid, ev.period),
        }
    )


def _percent(x: Decimal) -> str:
    text = format(x.normalize(), "f")
    return text if "." not in text else text.rstrip("0").rstrip(".")


def pay(
    p: Person, b: Benefit, region: str, period: str, subsidy: Triggered
) -> tuple[Benefit, Effects]:
    """A recipient of the period (paid benefit for its month, or a month of its quarter) is paid
    the subsidy once; one who was also a welfare recipient in it is paid by welfare instead."""
    wanted = months.months_in(period)
    if period in b.subsidies or not any(m in b.benefit_months for m in wanted):
        return b, Effects()
    if any(p.welfare_recipient(months.first_day(m)) for m in wanted):
        return b, Effects()  # a 低保 or 特困 recipient too: welfare pays the subsidy, once
    amount = subsidy.rural if p.residence is Residence.RURAL else subsidy.urban
    ev = u.PriceSubsidyPaid(person=b.ref, region=region, period=period, amount=amount)
    b, fx = subsidy_paid(b, ev)
    return b, Effects().emit(u.EVENTS, b.ref, ev).extend(fx)


def subsidy_paid(b: Benefit, ev: u.PriceSubsidyPaid) -> tuple[Benefit, Effects]:
    """The benefit after the subsidy `ev` was paid, and the region's totals it adds to."""
    b = b.model_copy(update={"subsidies": {**b.subsidies, ev.period: ev.amount}})
    totals = PAID.key(ev.region, ev.period)
    fx = Effects().count(totals, "subsidy_fen", int(ev.amount * 100))
    return b, fx.count(totals, "subsidy_recipients")
