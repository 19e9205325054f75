"""The welfare rules, each expectation worked out by hand.

The 低保 standards are the shared illustrative ones: 900.00 urban and 860.00 rural a person and
month from 2019, 1,100.00 both from 2024. 特困 support is 1.3 x the standard plus care (100.00,
300.00 or 800.00 by self-care: full, partial, none); temporary assistance at most 3 months of
the standard, twice a year.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D

from welfare_harness import NJ, Service, cid, of_type, reason, ref

from shebao_contracts import unemployment as u
from shebao_contracts import welfare as w

A, B, C, E, F = cid(1), cid(3), cid(5), cid(7), cid(9)
JUNE = date(2019, 6, 10)


def decided(out: list[object]) -> w.AllowanceDecided:
    (d,) = of_type(out, w.AllowanceDecided)  # type: ignore[arg-type]
    return d  # type: ignore[no-any-return]


def test_income_equal_to_the_standard_is_not_eligible() -> None:
    s = Service()
    assert reason(s.apply("H1", [A], "900.00", JUNE)) == "income_not_below_standard"
    assert reason(s.apply("H2", [B, C], "1799.98", JUNE, assets=False)) == "assets_above_limit"


def test_zero_income_one_member() -> None:
    s = Service()
    d = decided(s.apply("H1", [A], "0.00", JUNE))
    assert (d.members, d.standard, d.monthly_allowance, d.from_month) == (
        1,
        D("900.00"),
        D("900.00"),
        "2019-07",
    )


def test_a_date_after_the_day_it_was_sent_is_refused_by_name() -> None:
    s = Service()
    early = w.ApplyForAllowance(
        household_id="H1",
        region=NJ,
        residence=w.Residence.URBAN,
        members=[A],
        monthly_income=D("0.00"),
        assets_within_limit=True,
        applied_on=JUNE,
    )
    assert reason(s.command(early, JUNE - timedelta(days=1))) == "service_date_in_future"
    # a ce_time from before any value of the tolerance (1970): an answer, not a handler error
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert reason(s.command(early, epoch)) == "service_date_in_future"


def test_five_members_and_a_rural_household() -> None:
    s = Service()
    d = decided(s.apply("H5", [A, B, C, E, F], "2000.00", JUNE))
    assert (d.per_capita_income, d.monthly_allowance) == (D("400.00"), D("2500.00"))  # (900-400)x5
    rural = decided(s.apply("R2", [cid(11), cid(13)], "500.00", JUNE, w.Residence.RURAL))
    assert rural.monthly_allowance == D("1220.00")  # (860-250)x2


def test_the_allowance_follows_the_standard_of_each_month() -> None:
    """Approved in November 2023 at 900; from January 2024 the standard is 1,100."""
    s = Service()
    s.apply("H1", [A, B], "1000.00", date(2023, 11, 20))  # per capita 500
    dec = of_type(s.close("2023-12"), w.AssistancePaid)
    jan = of_type(s.close("2024-01"), w.AssistancePaid)
    assert [p.amount for p in dec + jan] == [D("800.00"), D("1200.00")]  # (900-500)x2, (1100-500)x2


def test_a_review_recomputes_from_the_next_month_or_stops() -> None:
    s = Service()
    s.apply("H1", [A, B], "600.00", JUNE)  # 300 each: (900-300)x2 = 1200
    s.close("2019-07")
    d = decided(
        s.command(
            w.ReviewHousehold(
                household_id="H1",
                members=[A, B, C],
                monthly_income=D("1500.00"),
                on=date(2019, 8, 12),
            ),
            date(2019, 8, 12),
        )
    )
    assert (d.from_month, d.monthly_allowance) == ("2019-09", D("1200.00"))  # (900-500)x3
    s.close("2019-08")
    s.close("2019-09")
    assert [p.amount for p in s.of(w.AssistancePaid)] == [D("1200.00"), D("1200.00"), D("1200.00")]
    statuses = [x for x in s.of(w.RecipientStatusChanged) if x.person == ref(C)]
    assert [(x.status, x.effective_from) for x in statuses] == [
        (w.AssistanceStatus.MINIMUM_LIVING_ALLOWANCE, date(2019, 9, 1))
    ]
    out = s.command(
        w.ReviewHousehold(
            household_id="H1", members=[A, B, C], monthly_income=D("2700.00"), on=date(2019, 9, 15)
        ),
        date(2019, 9, 15),
    )
    (stopped,) = of_type(out, w.AllowanceStopped)
    assert (stopped.reason, stopped.last_month) == (w.StopReason.INCOME_ABOVE_STANDARD, "2019-09")
    assert not of_type(s.close("2019-10"), w.AssistancePaid)


def test_temporary_assistance_cap_and_yearly_count() -> None:
    s = Service()
    s.apply("H1", [A], "0.00", JUNE)

    def grant(grant_id: str, amount: str, on: date) -> list[object]:
        return s.command(
            w.GrantTemporaryAssistance(
                household_id="H1", grant_id=grant_id, amount=D(amount), on=on, reason="fire"
            ),
            on,
        )

    assert reason(grant("G1", "2700.01", date(2019, 7, 1))) == "amount_above_cap"  # 3 x 900
    assert of_type(grant("G1", "2700.00", date(2019, 7, 1)), w.TemporaryAssistancePaid)
    assert not grant("G1", "2700.00", date(2019, 7, 1))  # the same grant again: nothing
    assert of_type(grant("G2", "500.00", date(2019, 8, 1)), w.TemporaryAssistancePaid)
    assert reason(grant("G3", "500.00", date(2019, 9, 1))) == "temporary_assistance_limit"
    (next_year,) = of_type(grant("G4", "500.00", date(2020, 1, 5)), w.TemporaryAssistancePaid)
    assert next_year.grants_this_year == 1


def test_a_person_moves_between_households() -> None:
    s = Service()
    s.apply("H1", [A, B], "0.00", JUNE)
    assert reason(s.apply("H2", [B, C], "0.00", JUNE)) == "member_in_another_household"
    s.command(
        w.ReviewHousehold(
            household_id="H1", members=[A], monthly_income=D("0.00"), on=date(2019, 7, 3)
        ),
        date(2019, 7, 3),
    )
    assert s.person(B).case is None
    d = decided(s.apply("H2", [B, C], "0.00", date(2019, 7, 4)))
    assert (d.members, d.from_month) == (2, "2019-08")
    assert s.person(B).case == "H2"


def test_extreme_poverty_support() -> None:
    s = Service()

    def apply(c: str, residence: w.Residence, care: w.SelfCare, **no: bool) -> list[object]:
        flags = {"unable_to_work": True, "no_income": True, "no_supporter": True, **no}
        return s.command(
            w.ApplyForSupport(
                citizen_id=c,
                region=NJ,
                residence=residence,
                self_care=care,
                applied_on=JUNE,
                **flags,
            ),
            JUNE,
        )

    assert reason(apply(A, w.Residence.URBAN, w.SelfCare.FULL, no_supporter=False)) == (
        "not_extreme_poverty"
    )
    (urban,) = of_type(apply(A, w.Residence.URBAN, w.SelfCare.PARTIAL), w.SupportDecided)
    assert (urban.basic, urban.care, urban.monthly_support) == (
        D("1170.00"),  # 1.3 x 900
        D("300.00"),
        D("1470.00"),
    )
    (rural,) = of_type(apply(B, w.Residence.RURAL, w.SelfCare.NONE), w.SupportDecided)
    assert rural.monthly_support == D("1918.00")  # 1.3 x 860 = 1,118 + 800
    assert reason(apply(A, w.Residence.URBAN, w.SelfCare.PARTIAL)) == "already_supported"
    paid = of_type(s.close("2019-07"), w.AssistancePaid)
    assert sorted((p.person, p.amount) for p in paid) == sorted(
        [(ref(A), D("1470.00")), (ref(B), D("1918.00"))]
    )
    stop = w.StopSupport(citizen_id=B, on=date(2019, 7, 31), reason=w.StopReason.DECEASED)
    (stopped,) = of_type(s.command(stop, date(2019, 8, 1)), w.AllowanceStopped)
    assert (stopped.reason, stopped.last_month) == (w.StopReason.DECEASED, "2019-07")
    assert [p.person for p in of_type(s.close("2019-08"), w.AssistancePaid)] == [ref(A)]


def test_a_month_is_paid_once_and_the_pension_tier_once_a_year() -> None:
    s = Service()
    s.apply("H1", [A, B], "0.00", JUNE)
    out = s.close("2019-07")
    assert [p.amount for p in of_type(out, w.AssistancePaid)] == [D("1800.00")]
    pensions = of_type(out, w.PensionPaidOnBehalf)
    assert sorted((p.person, p.year, p.tier, p.amount) for p in pensions) == sorted(
        [(ref(A), 2019, 100, D("100.00")), (ref(B), 2019, 100, D("100.00"))]
    )
    assert reason(s.close("2019-07")) == "month_already_closed"
    out = s.close("2019-08")
    assert not of_type(out, w.PensionPaidOnBehalf)  # once a year
    assert len(s.of(w.AssistancePaid)) == 2


def test_statuses_for_medical_assistance_and_a_stop() -> None:
    s = Service()
    s.apply("H1", [A], "0.00", JUNE)
    s.command(
        w.StopAllowance(household_id="H1", on=date(2019, 8, 20), reason=w.StopReason.MOVED_AWAY),
        date(2019, 8, 20),
    )
    assert [(x.status, x.effective_from) for x in s.of(w.RecipientStatusChanged)] == [
        (w.AssistanceStatus.MINIMUM_LIVING_ALLOWANCE, date(2019, 7, 1)),
        (w.AssistanceStatus.NONE, date(2019, 9, 1)),
    ]
    assert [
        p.month
        for p in of_type(
            s.close("2019-07") + s.close("2019-08") + s.close("2019-09"), w.AssistancePaid
        )
    ] == [
        "2019-07",
        "2019-08",
    ]


def test_the_price_subsidy_is_paid_to_each_recipient_once() -> None:
    s = Service()
    s.apply("H1", [A, B], "0.00", JUNE)
    s.apply("R1", [C], "0.00", JUNE, w.Residence.RURAL)
    s.close("2019-07")
    trigger = u.PriceSubsidyTriggered(
        region=NJ,
        period="2019-07",
        variant=u.Variant.JIANGSU_MONTHLY,
        cpi_yoy="3.1",
        food_cpi_yoy="2.0",
        urban_amount=D("75.00"),
        rural_amount=D("71.67"),
    )
    out = s.send(u.EVENTS.name, trigger, date(2019, 8, 12))
    paid = sorted((p.person, p.amount) for p in of_type(out, w.PriceSubsidyPaid))
    assert paid == sorted([(ref(A), D("75.00")), (ref(B), D("75.00")), (ref(C), D("71.67"))])
    assert not of_type(s.send(u.EVENTS.name, trigger, date(2019, 8, 12)), w.PriceSubsidyPaid)
    # a household approved after the period was not a recipient in it
    s.apply("H9", [E], "0.00", date(2019, 7, 20))
    assert not [p for p in s.of(w.PriceSubsidyPaid) if p.person == ref(E)]


def test_a_payment_run_after_the_trigger_pays_the_subsidy_with_the_month() -> None:
    """A late run: July's index triggered the subsidy before July was closed; the household is
    paid it with its July payment, once."""
    s = Service()
    s.apply("H1", [A], "0.00", JUNE)
    trigger = u.PriceSubsidyTriggered(
        region=NJ,
        period="2019-07",
        variant=u.Variant.JIANGSU_MONTHLY,
        cpi_yoy="3.1",
        food_cpi_yoy="2.0",
        urban_amount=D("75.00"),
        rural_amount=D("71.67"),
    )
    assert not of_type(s.send(u.EVENTS.name, trigger, date(2019, 7, 31)), w.PriceSubsidyPaid)
    out = s.close("2019-07", date(2019, 8, 20))
    assert [(p.person, p.amount) for p in of_type(out, w.PriceSubsidyPaid)] == [
        (ref(A), D("75.00"))
    ]
    assert not of_type(s.send(u.EVENTS.name, trigger, date(2019, 8, 21)), w.PriceSubsidyPaid)
