"""The unemployment and price-subsidy rules, each expectation worked out by hand.

Parameters are the service's own file (illustrative standards, DOMAIN.md): from 2019 the benefit
standard is 1,650.00 a month, the 低保 standard 900.00 urban and 860.00 rural, the fund's medical
contribution 10% of a 4,800.00 base = 480.00; Nanjing (320100) follows the Jiangsu monthly rule
since 2014, Suzhou (320500) the national 2016 rule. Where a worked example of DOMAIN.md needs a
600.00 standard, a file of extra parameters says so.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal as D
from pathlib import Path

import pytest
from unemployment_harness import NJ, Service, citizen, of_type, reason, ref

from shebao_common.policy import Policy
from shebao_contracts import enrollment as ce
from shebao_contracts import unemployment as u
from shebao_contracts import welfare as w
from shebao_unemployment_subsidies.domain.params import InvalidParameters, Params, checked

LAID_OFF = date(2019, 2, 28)
REGISTERED = date(2019, 3, 4)


def granted(out: list[object]) -> u.BenefitGranted:
    (g,) = of_type(out, u.BenefitGranted)  # type: ignore[arg-type]
    return g  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------------------------
# Eligibility and duration


def test_a_ce_time_from_before_any_tolerance_is_answered_not_a_handler_error() -> None:
    s = Service()
    cid = s.laid_off(1, 24, LAID_OFF)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    cmd = u.RegisterUnemployed(citizen_id=cid, region=NJ, registered_on=REGISTERED)
    assert reason(s.command(cmd, epoch)) == "service_date_in_future"


def test_eleven_credited_months_are_not_enough_twelve_are() -> None:
    s = Service()
    short = s.laid_off(1, 11, LAID_OFF)
    assert reason(s.register(short, REGISTERED)) == "insufficient_contributions"
    enough = s.laid_off(2, 12, LAID_OFF)
    g = granted(s.register(enough, REGISTERED))
    assert (g.credited_months, g.entitlement_months, g.months_left) == (12, 12, 12)
    assert g.first_month == "2019-03"


def test_a_voluntary_quit_is_not_entitled() -> None:
    s = Service()
    cid = s.worker(1, credited=[f"2017-{m:02d}" for m in range(1, 13)])
    s.hire(cid, date(2017, 1, 1))
    s.separate(cid, LAID_OFF, ce.Separation.VOLUNTARY)
    assert reason(s.register(cid, REGISTERED)) == "separation_voluntary"


@pytest.mark.parametrize(
    ("years", "months"), [(1, 12), (4, 12), (5, 18), (9, 18), (10, 24), (15, 24)]
)
def test_months_by_credited_years(years: int, months: int) -> None:
    s = Service()
    cid = s.laid_off(1, years * 12, LAID_OFF)
    assert granted(s.register(cid, REGISTERED)).entitlement_months == months


def test_one_month_short_of_five_years_is_twelve_months() -> None:
    s = Service()
    cid = s.laid_off(1, 59, LAID_OFF)
    assert granted(s.register(cid, REGISTERED)).entitlement_months == 12


def test_who_cannot_register() -> None:
    s = Service()
    assert reason(s.register(citizen(9), REGISTERED)) == "person_not_registered"
    working = s.worker(1, credited=[f"2017-{m:02d}" for m in range(1, 13)])
    s.hire(working, date(2017, 1, 1))
    assert reason(s.register(working, REGISTERED)) == "still_employed"
    never = s.worker(2, credited=[f"2017-{m:02d}" for m in range(1, 13)])
    assert reason(s.register(never, REGISTERED)) == "no_employment_ended"
    old = s.laid_off(3, 120, LAID_OFF, born=date(1958, 1, 1))  # 61 in March 2019
    assert reason(s.register(old, REGISTERED)) == "retired"
    ok = s.laid_off(4, 24, LAID_OFF)
    s.register(ok, REGISTERED)
    assert reason(s.register(ok, REGISTERED)) == "already_receiving"
    future = s.laid_off(5, 24, LAID_OFF)
    assert (
        reason(
            s.command(
                u.RegisterUnemployed(citizen_id=future, region=NJ, registered_on=date(2019, 3, 5)),
                date(2019, 3, 4),
            )
        )
        == "service_date_in_future"
    )


# ---------------------------------------------------------------------------------------------
# Payments


def test_a_month_is_paid_once_with_the_medical_contribution() -> None:
    s = Service()
    cid = s.laid_off(1, 24, LAID_OFF)
    s.register(cid, REGISTERED)
    out = s.close("2019-03")
    (paid,) = of_type(out, u.BenefitPaid)
    assert (paid.month, paid.amount, paid.months_left) == ("2019-03", D("1650.00"), 11)
    (medical,) = of_type(out, u.MedicalContributionPaid)
    assert (medical.base, medical.amount) == (D("4800.00"), D("480.00"))
    # the same close again (a new command id) pays nothing more
    assert reason(s.close("2019-03")) == "month_already_closed"
    assert len(s.of(u.BenefitPaid)) == 1
    # a month not over is not closed
    assert reason(s.close("2019-04", when=date(2019, 4, 30))) == "service_date_in_future"
    assert s.region().closed == ("2019-03",)


def test_the_last_month_stops_the_benefit() -> None:
    s = Service()
    cid = s.laid_off(1, 12, date(2018, 12, 31))
    s.register(cid, date(2019, 1, 2))
    for m in range(1, 14):
        s.close(f"2019-{m:02d}" if m <= 12 else "2020-01")
    paid = s.of(u.BenefitPaid)
    assert [p.month for p in paid] == [f"2019-{m:02d}" for m in range(1, 13)]
    (stopped,) = s.of(u.BenefitStopped)
    assert (stopped.cause, stopped.on, stopped.months_left) == (
        u.StopCause.ENTITLEMENT_USED,
        date(2020, 1, 1),
        0,
    )


def test_reemployment_stops_the_benefit_and_keeps_the_months_left() -> None:
    s = Service()
    cid = s.laid_off(1, 24, LAID_OFF)
    s.register(cid, REGISTERED)
    s.close("2019-03")
    s.close("2019-04")
    out = s.hire(cid, date(2019, 5, 6))
    (stopped,) = of_type(out, u.BenefitStopped)
    assert (stopped.cause, stopped.months_left) == (u.StopCause.REEMPLOYED, 10)
    s.close("2019-05")
    assert [p.month for p in s.of(u.BenefitPaid)] == ["2019-03", "2019-04"]
    # six months of work later, laid off again: not 12 new months, so the 10 carried only
    for m in range(5, 11):
        s.credit(ref(cid), f"2019-{m:02d}")
    s.separate(cid, date(2019, 10, 31))
    g = granted(s.register(cid, date(2019, 11, 4)))
    assert (g.credited_months, g.entitlement_months, g.carried_months, g.months_left) == (
        6,
        0,
        10,
        10,
    )


def test_a_month_before_the_stop_is_paid_even_when_the_stop_is_read_first() -> None:
    """Re-employed on 11 April, and the hire read before March's payment run: March was a whole
    month of benefit and is paid; the month comes out of the months kept; April is not paid."""
    s = Service()
    cid = s.laid_off(1, 24, LAID_OFF)
    s.register(cid, REGISTERED)
    s.close("2019-03")
    (stopped,) = of_type(s.hire(cid, date(2019, 4, 11)), u.BenefitStopped)
    assert stopped.months_left == 11
    assert s.benefit(cid).carried == 11
    s.close("2019-04")  # the stop came before the end of April: nothing
    assert [p.month for p in s.of(u.BenefitPaid)] == ["2019-03"]
    s2 = Service()
    cid = s2.laid_off(1, 24, LAID_OFF)
    s2.register(cid, REGISTERED)
    s2.hire(cid, date(2019, 4, 11))  # read before March's run
    (march,) = of_type(s2.close("2019-03"), u.BenefitPaid)
    assert (march.month, march.months_left) == ("2019-03", 11)
    assert s2.benefit(cid).carried == 11
    assert not of_type(s2.close("2019-04"), u.BenefitPaid)


def test_carried_months_are_capped_at_24() -> None:
    s = Service()
    cid = s.laid_off(1, 120, LAID_OFF)  # 10 years: 24 months
    s.register(cid, REGISTERED)
    s.close("2019-03")  # one used, 23 left
    s.hire(cid, date(2019, 4, 1))
    # five more years of contributions: 18 months, with 23 carried, 24 at most
    for m in range(60):
        y, mo = divmod(2019 * 12 + 3 + m, 12)
        s.credit(ref(cid), f"{y:04d}-{mo + 1:02d}")
    s.separate(cid, date(2024, 3, 31))
    g = granted(s.register(cid, date(2024, 4, 1)))
    assert (g.credited_months, g.entitlement_months, g.months_left) == (60, 18, 24)
    assert g.carried_months == 6  # what fits of the 23


def test_stops_recorded_by_a_job_centre_death_and_pension_age() -> None:
    s = Service()
    a = s.laid_off(1, 24, LAID_OFF)
    s.register(a, REGISTERED)
    out = s.command(
        u.StopBenefit(citizen_id=a, on=date(2019, 3, 20), cause=u.RecordedCause.EMIGRATED),
        date(2019, 3, 20),
    )
    assert of_type(out, u.BenefitStopped)[0].cause is u.StopCause.EMIGRATED
    b = s.laid_off(2, 24, LAID_OFF)
    s.register(b, REGISTERED)
    out = s.enrol(ce.PersonDeceased(person=ref(b), on=date(2019, 3, 25)), date(2019, 3, 26))
    assert of_type(out, u.BenefitStopped)[0].cause is u.StopCause.DECEASED
    c = s.laid_off(3, 24, LAID_OFF, born=date(1959, 4, 15))  # 60 on 2019-04-15
    s.register(c, REGISTERED)
    out = s.close("2019-03")
    assert [p.person for p in of_type(out, u.BenefitPaid)] == [ref(c)]  # a and b are stopped
    assert [p.person for p in of_type(s.close("2019-04"), u.BenefitPaid)] == [
        ref(c)
    ]  # 59 on 1 April
    out = s.close("2019-05")  # 60 on 1 May: of pension age
    assert not of_type(out, u.BenefitPaid)
    (retired,) = of_type(out, u.BenefitStopped)
    assert (retired.cause, retired.on, retired.months_left) == (
        u.StopCause.RETIRED,
        date(2019, 5, 1),
        10,  # 24 credited months give 12; March and April were paid
    )


# ---------------------------------------------------------------------------------------------
# Price subsidy


@pytest.mark.parametrize(
    ("cpi", "urban", "rural"),
    [
        ("2.9", None, None),
        ("3.0", D("75.00"), D("71.67")),  # 900/12, 860/12 = 71.666...
        ("4.9", D("75.00"), D("71.67")),
        ("5.0", D("112.50"), D("107.50")),  # 900/8, 860/8
    ],
)
def test_jiangsu_variant_at_and_below_its_thresholds(
    cpi: str, urban: D | None, rural: D | None
) -> None:
    s = Service()
    out = s.release(NJ, "2019-06", cpi)
    (answer,) = of_type(out, u.CpiAccepted)
    assert answer.variant is u.Variant.JIANGSU_MONTHLY
    assert answer.triggered is (urban is not None)
    triggers = of_type(out, u.PriceSubsidyTriggered)
    assert [(t.urban_amount, t.rural_amount) for t in triggers] == (
        [(urban, rural)] if urban is not None else []
    )


@pytest.mark.parametrize(
    ("cpi", "food", "urban"),
    [
        ("3.4", "5.9", None),
        ("3.5", "0.0", D("31.50")),  # 900 x 3.5%
        ("2.0", "6.0", D("54.00")),  # 900 x 6.0%, the food rise triggered it
        ("4.0", "7.0", D("63.00")),  # both: the larger rise
    ],
)
def test_national_variant_at_and_below_its_thresholds(cpi: str, food: str, urban: D | None) -> None:
    s = Service()
    out = s.release("320500", "2019-06", cpi, food)
    assert of_type(out, u.CpiAccepted)[0].variant is u.Variant.NATIONAL_2016
    assert [t.urban_amount for t in of_type(out, u.PriceSubsidyTriggered)] == (
        [urban] if urban is not None else []
    )


def test_the_worked_examples_of_domain_md(tmp_path: Path) -> None:
    extra = tmp_path / "standard-600.toml"
    extra.write_text(
        '[[parameter]]\nname = "assistance.minimum_living_standard"\nfrom = 2020-01-01\n'
        'value = { urban = "600.00", rural = "600.00" }\nsource = "DOMAIN.md worked examples"\n'
        '[[parameter]]\nname = "unemployment.benefit_standard"\nfrom = 2020-01-01\n'
        'value = "1650.00"\nsource = "test"\n'
    )
    s = Service(extra=[extra])
    amounts = {}
    for month, region, cpi, food in (
        ("2020-01", NJ, "3.0", "0.0"),
        ("2020-02", NJ, "5.0", "0.0"),
        ("2020-01", "320500", "4.0", "0.0"),
        ("2020-02", "320500", "2.0", "6.5"),
    ):
        (t,) = of_type(s.release(region, month, cpi, food), u.PriceSubsidyTriggered)
        amounts[(region, month)] = t.urban_amount
    assert amounts == {
        (NJ, "2020-01"): D("50.00"),
        (NJ, "2020-02"): D("75.00"),
        ("320500", "2020-01"): D("24.00"),
        ("320500", "2020-02"): D("39.00"),
    }


def test_2011_quarterly_subsidy_is_of_the_order_the_source_reports() -> None:
    """2011: 180 M yuan over 2.9637 M person-times, about 61 yuan each. With a 低保 standard of
    490.00 and the third quarter's index above 5%, a person-time is 490/8 = 61.25."""
    s = Service()
    for month, cpi in (("2011-07", "5.6"), ("2011-08", "5.3")):
        out = s.release(NJ, month, cpi)
        assert of_type(out, u.CpiAccepted)[0].triggered is False  # the quarter is not complete
    (t,) = of_type(s.release(NJ, "2011-09", "5.4"), u.PriceSubsidyTriggered)
    assert (t.period, t.variant, t.urban_amount) == (
        "2011-Q3",
        u.Variant.QUARTERLY_2011,
        D("61.25"),
    )
    assert abs(t.urban_amount - D("180000000") / D("2963700")) < 1


def test_each_recipient_of_the_month_is_paid_the_subsidy_once() -> None:
    s = Service()
    urban = s.laid_off(1, 24, LAID_OFF)
    rural = s.laid_off(2, 24, LAID_OFF, residence=ce.Residence.RURAL)
    s.register(urban, REGISTERED)
    s.register(rural, REGISTERED)
    s.close("2019-03")
    out = s.release(NJ, "2019-03", "5.2")
    paid = {(p.person, p.period, p.amount) for p in of_type(out, u.PriceSubsidyPaid)}
    assert paid == {(ref(urban), "2019-03", D("112.50")), (ref(rural), "2019-03", D("107.50"))}
    # a re-release of a paid period is refused by name, and pays nothing more
    assert reason(s.release(NJ, "2019-03", "6.0")) == "period_already_paid"
    # paying the shard again (a redelivery) pays nobody twice
    for shard in range(4):
        s.send(u.WORK.name, u.SubsidyShard(region=NJ, period="2019-03", shard=shard))
    assert len(s.of(u.PriceSubsidyPaid)) == 2


def test_a_release_before_the_payment_run_is_paid_with_the_month() -> None:
    s = Service()
    cid = s.laid_off(1, 24, LAID_OFF)
    s.register(cid, REGISTERED)
    s.release(NJ, "2019-03", "3.3", when=date(2019, 4, 1))
    out = s.close("2019-03", when=date(2019, 4, 2))
    assert [(p.period, p.amount) for p in of_type(out, u.PriceSubsidyPaid)] == [
        ("2019-03", D("75.00"))
    ]


def test_a_release_that_did_not_trigger_is_superseded() -> None:
    s = Service()
    assert of_type(s.release(NJ, "2019-06", "2.9"), u.CpiAccepted)[0].triggered is False
    out = s.release(NJ, "2019-06", "3.1")
    (answer,) = of_type(out, u.CpiAccepted)
    assert (answer.triggered, answer.superseded) == (True, True)


def test_releases_refused_by_name() -> None:
    s = Service()
    assert reason(s.release(NJ, "2019-06", "3.0", bureau="s320500")) == "wrong_region"
    assert (
        reason(s.release(NJ, "2019-06", "3.0", when=date(2019, 6, 30))) == "service_date_in_future"
    )


def test_a_benefit_standard_above_the_minimum_wage_stops_the_start(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[[parameter]]\nname = "unemployment.benefit_standard"\nregion = "320100"\n'
        'from = 2020-01-01\nvalue = "2500.00"\nsource = "a typo"\n'
    )
    with pytest.raises(InvalidParameters, match=r"320100 on 2020-01-01 is 2500\.00, outside"):
        checked(Params(Policy.of("shebao_unemployment_subsidies", [bad])))
    checked(Params(Policy.of("shebao_unemployment_subsidies")))  # the shipped file passes


def test_a_recipient_who_is_also_on_welfare_is_paid_the_subsidy_by_welfare() -> None:
    """Issue 15: a person on benefit and in a 低保 household is paid the subsidy once, by
    welfare, which pays all its recipients; this service pays the others."""
    s = Service()
    both = s.laid_off(1, 24, LAID_OFF)
    only = s.laid_off(2, 24, LAID_OFF)
    s.register(both, REGISTERED)
    s.register(only, REGISTERED)
    s.send(
        w.EVENTS.name,
        w.RecipientStatusChanged(
            person=ref(both),
            status=w.AssistanceStatus.MINIMUM_LIVING_ALLOWANCE,
            region=NJ,
            effective_from=date(2019, 3, 1),
        ),
    )
    s.close("2019-03")
    out = s.release(NJ, "2019-03", "3.3")
    assert [p.person for p in of_type(out, u.PriceSubsidyPaid)] == [ref(only)]
