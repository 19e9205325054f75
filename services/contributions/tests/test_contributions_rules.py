"""Contribution rules, unit level: bases, rates by date, rounding, residents, arrears, credit,
interruption, transfer, corrections and the bureau's rejections.

Expected amounts are worked out by hand in the tests from the parameter values (Nanjing 320100:
average monthly wage 7,500 in 2018 and 8,000 in 2019, illustrative), not by calling the rules.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from contributions_harness import PARAMS, Service, citizen, employer_code, of_type, ref

from shebao_common.policy import Policy
from shebao_contracts import contributions as cc
from shebao_contracts import enrollment as ce
from shebao_contracts import unemployment as un
from shebao_contracts import welfare as wf
from shebao_contributions.domain import ledger as lg
from shebao_contributions.domain.model import CLOCK, WAGES, shard_of
from shebao_contributions.domain.rates import Rates, ResidentRates

D = Decimal
NJ = "320100"
E1 = employer_code(1)


def rates(month: str, region: str = NJ) -> Rates:
    return Rates.of(PARAMS, region, month)


# ---------------------------------------------------------------------------------------------
# Bases and rates


def test_base_is_the_wage_clamped_to_60_and_300_percent_of_the_average() -> None:
    r = rates("2019-06")  # Nanjing 2019: 8,000 -> floor 4,800, ceiling 24,000
    assert (r.floor, r.ceiling) == (D("4800.00"), D("24000.00"))
    assert r.base(D("3000.00")) == D("4800.00")
    assert r.base(D("4800.00")) == D("4800.00")
    assert r.base(D("4800.01")) == D("4800.01")
    assert r.base(D("12345.67")) == D("12345.67")
    assert r.base(D("24000.00")) == D("24000.00")
    assert r.base(D("24000.01")) == D("24000.00")
    assert r.base(D("0.00")) == D("4800.00")


def test_the_average_wage_follows_the_region_and_the_year() -> None:
    assert rates("2018-12").floor == D("4500.00")  # 7,500 x 60%
    assert rates("2019-01").floor == D("4800.00")
    assert rates("2019-01", "320200").floor == D("4200.00")  # province default 7,000
    assert rates("2019-01", "320500").ceiling == D("24900.00")  # Suzhou 8,300 x 3


def test_employer_pension_rate_on_each_side_of_the_2019_cut() -> None:
    april, may = rates("2019-04"), rates("2019-05")
    assert april.pension_employer == D("0.20") and may.pension_employer == D("0.16")
    assert april.pension_employee == may.pension_employee == D("0.08")
    base = D("10000.00")
    assert april.employee_parts(base, 1)[0].employer_part == D("2000.00")
    assert may.employee_parts(base, 1)[0].employer_part == D("1600.00")


def test_rate_change_crosses_between_two_closes_of_one_employer() -> None:
    s = Service()
    s.employer(E1)
    s.hire(ref(1), E1, "10000.00", date(2019, 3, 1))
    s.close(NJ, "2019-04")
    s.close(NJ, "2019-05")
    april, may = s.assessment(E1, "2019-04"), s.assessment(E1, "2019-05")
    assert april.lines[0].parts[0].employer_part == D("2000.00")
    assert may.lines[0].parts[0].employer_part == D("1600.00")
    # base 10,000, risk class 1: pension 20%+8%, medical 8%+2%, unemployment 0.5%+0.5%,
    # work injury 0.2%, maternity 0.8%
    assert april.total == D("2000") + 800 + 800 + 200 + 50 + 50 + 20 + 80
    assert may.total == april.total - 400


def test_work_injury_follows_the_employers_risk_class() -> None:
    r = rates("2019-06")
    expected = ["0.002", "0.004", "0.007", "0.009", "0.011", "0.013", "0.016", "0.019"]
    for risk_class, rate in enumerate(expected, start=1):
        parts = r.employee_parts(D("10000.00"), risk_class)
        injury = next(p for p in parts if p.insurance == ce.Insurance.WORK_INJURY)
        assert injury.employer_part == D("10000") * D(rate)
        assert injury.employee_part == D("0")


# ---------------------------------------------------------------------------------------------
# Rounding


def test_each_part_is_rounded_half_up_to_the_fen_once() -> None:
    r = rates("2019-06")
    # 4,202.50 x 0.2% = 8.405: half up gives 8.41 (half even would give 8.40)
    injury = r.employee_parts(D("4802.50"), 1)[3]
    assert D("4802.50") * D("0.002") == D("9.60500")
    assert injury.employer_part == D("9.61")
    # 4,812.35: medical employee 2% = 96.247 -> 96.25; employer share 8% x 30% = 115.4964
    # -> 115.50; the account gets the two rounded amounts (211.75), not round(4,812.35 x 4.4%)
    medical = r.employee_parts(D("4812.35"), 1)[1]
    assert medical.employee_part == D("96.25")
    assert medical.employer_part == D("384.99")  # 384.988
    assert medical.into_account == D("211.75")
    assert (D("4812.35") * D("0.044")).quantize(D("0.01")) == D("211.74")


def test_an_employers_total_is_the_sum_of_its_persons_rounded_parts() -> None:
    s = Service()
    s.employer(E1, risk_class=1)
    wages = ["4802.50", "4802.50", "4802.50"]  # 9.605 each: 3 x 9.61, not round(28.815)
    for i, w in enumerate(wages):
        s.hire(ref(i), E1, w, date(2019, 5, 1))
    s.close(NJ, "2019-06")
    a = s.assessment(E1, "2019-06")
    injury = [ln.parts[3].employer_part for ln in a.lines]
    assert injury == [D("9.61")] * 3
    assert sum(injury) == D("28.83")
    # June 2019 (16%): pension 768.40 + 384.20, medical 384.20 + 96.05, unemployment 24.0125
    # -> 24.01 twice, work injury 9.61, maternity 38.42
    per_person = D("768.40") + D("384.20") + D("384.20") + D("96.05") + 2 * D("24.01")
    per_person += D("9.61") + D("38.42")
    assert a.total == 3 * per_person == D("5186.70")


# ---------------------------------------------------------------------------------------------
# Who owes which month


def test_the_employer_on_the_last_day_of_the_month_owes_it() -> None:
    s = Service()
    e2 = employer_code(2)
    s.employer(E1)
    s.employer(e2)
    s.hire(ref(1), E1, "8000.00", date(2019, 5, 10))  # mid-May hire: May owed
    s.hire(ref(2), E1, "8000.00", date(2019, 5, 1))
    s.leave(ref(2), E1, date(2019, 6, 15))  # left mid-June: June not owed by E1
    s.hire(ref(2), e2, "9000.00", date(2019, 6, 20), register=False)  # owed by e2
    s.hire(ref(3), E1, "8000.00", date(2019, 5, 1))
    s.leave(ref(3), E1, date(2019, 6, 30))  # left on the last day: June owed
    s.close(NJ, "2019-05")
    s.close(NJ, "2019-06")
    may = {ln.person for ln in s.assessment(E1, "2019-05").lines}
    june = {ln.person for ln in s.assessment(E1, "2019-06").lines}
    assert may == {ref(1), ref(2), ref(3)}
    assert june == {ref(1), ref(3)}
    assert {ln.person for ln in s.assessment(e2, "2019-06").lines} == {ref(2)}
    assert set(s.employer_file(E1).roster) == {ref(1), ref(3)}
    s.close(NJ, "2019-07")
    assert {ln.person for ln in s.assessment(E1, "2019-07").lines} == {ref(1)}


def test_a_death_takes_the_person_off_the_roster() -> None:
    s = Service()
    s.employer(E1)
    s.hire(ref(1), E1, "8000.00", date(2019, 1, 1))
    s.hire(ref(2), E1, "8000.00", date(2019, 1, 1))
    s.enrol(ce.PersonDeceased(person=ref(2), on=date(2019, 2, 10)))
    s.close(NJ, "2019-02")
    assert [ln.person for ln in s.assessment(E1, "2019-02").lines] == [ref(1)]


def _dies(s: Service, person: str, on: date, schemes: tuple[ce.Scheme, ...]) -> None:
    """What enrollment publishes on RecordDeath: every membership ends, then the death."""
    for scheme in schemes:
        s.enrol(
            ce.MembershipEnded(
                person=person,
                scheme=scheme,
                insurance=scheme.insurance,
                region=NJ,
                on=on,
                reason=ce.StopReason.DECEASED,
            )
        )
    s.enrol(ce.PersonDeceased(person=person, on=on))


def test_a_flexible_worker_owes_the_months_he_lived_through_like_an_employee() -> None:
    s = Service()
    s.employer(E1)
    s.hire(ref(2), E1, "8000.00", date(2019, 1, 1))
    _flexible(s, ref(1), date(2019, 1, 1))
    s.close(NJ, "2019-01")
    # both die in March, recorded before February closes: February is owed, March is not
    _dies(s, ref(1), date(2019, 3, 10), (ce.Scheme.EMPLOYEE_PENSION, ce.Scheme.EMPLOYEE_MEDICAL))
    _dies(s, ref(2), date(2019, 3, 20), ce.EMPLOYEE_SCHEMES)
    s.close(NJ, "2019-02")
    assert [ln.person for ln in s.assessment(E1, "2019-02").lines] == [ref(2)]
    s.close(NJ, "2019-03")
    s.close(NJ, "2019-04")
    flexible = [(a.period, a.total) for a in s.to_bureau("t320100") if a.citizen_id == citizen(1)]
    assert flexible == [("2019-01", D("1800.00")), ("2019-02", D("1800.00"))]
    assert [a.period for a in s.to_bureau("t320100") if a.employer == E1] == ["2019-01", "2019-02"]
    # February unpaid at the March close is arrears; then he leaves the region's directory
    late = [(a.person, a.period) for a in s.of_type(cc.ArrearsBooked) if a.person == ref(1)]
    assert late == [(ref(1), "2019-01"), (ref(1), "2019-02")]
    p = s.person(ref(1))
    assert p.payer is None and not s.of_type(cc.InterruptionOpened)
    directory = s.directory(NJ, shard_of(ref(1), s.env.shards))
    assert directory is not None and ref(1) not in directory.payers


# ---------------------------------------------------------------------------------------------
# Wage declarations and corrections


def test_a_declaration_sets_the_months_wage_and_carries_forward() -> None:
    s = Service()
    s.employer(E1)
    s.hire(ref(1), E1, "8000.00", date(2019, 1, 1))
    s.command(
        cc.DeclareWages(
            employer=E1, month="2019-03", wages=[cc.WageLine(person=ref(1), wage=D("9000.00"))]
        )
    )
    for m in ("2019-02", "2019-03", "2019-04"):
        s.close(NJ, m)
    bases = [s.assessment(E1, m).lines[0].base for m in ("2019-02", "2019-03", "2019-04")]
    assert bases == [D("8000.00"), D("9000.00"), D("9000.00")]


def test_a_correction_supersedes_the_earlier_line_before_the_close() -> None:
    s = Service()
    s.employer(E1)
    s.hire(ref(1), E1, "8000.00", date(2019, 1, 1))
    s.hire(ref(2), E1, "8000.00", date(2019, 1, 1))
    lines = [
        cc.WageLine(person=ref(1), wage=D("9000.00")),
        cc.WageLine(person=ref(2), wage=D("9500.00")),
    ]
    s.command(cc.DeclareWages(employer=E1, month="2019-02", wages=lines))
    out = s.command(
        cc.DeclareWages(
            employer=E1, month="2019-02", wages=[cc.WageLine(person=ref(2), wage=D("9900.00"))]
        )
    )
    assert of_type(out, cc.WagesDeclared)[0].corrected == [ref(2)]
    s.close(NJ, "2019-02")
    assert [ln.base for ln in s.assessment(E1, "2019-02").lines] == [D("9000.00"), D("9900.00")]


def test_a_correction_after_the_close_revises_the_assessment_until_collection_starts() -> None:
    s = Service()
    s.employer(E1)
    s.hire(ref(1), E1, "8000.00", date(2019, 1, 1))
    s.close(NJ, "2019-02")
    first = s.to_bureau("t320100")[-1]
    out = s.command(
        cc.DeclareWages(
            employer=E1, month="2019-02", wages=[cc.WageLine(person=ref(1), wage=D("10000.00"))]
        )
    )
    revised = of_type(out, cc.AssessmentIssued)
    assert {m.revision for m in revised} == {2}
    assert revised[0].total == first.total / 8000 * 10000
    assert s.ledger(E1).dues["2019-02"].total == revised[0].total
    s.pay_employer(E1, "2019-02", "100.00")  # collection started: no more corrections
    out = s.command(
        cc.DeclareWages(
            employer=E1, month="2019-02", wages=[cc.WageLine(person=ref(1), wage=D("11000.00"))]
        )
    )
    assert of_type(out, cc.CommandRejected)[0].reason == "assessment_in_collection"
    assert s.assessment(E1, "2019-02").revision == 2


def test_a_declaration_for_someone_not_employed_is_refused() -> None:
    s = Service()
    s.employer(E1)
    out = s.command(
        cc.DeclareWages(
            employer=E1, month="2019-02", wages=[cc.WageLine(person=ref(9), wage=D("1.00"))]
        )
    )
    assert of_type(out, cc.CommandRejected)[0].reason == "person_not_employed"
    out = s.command(
        cc.DeclareWages(
            employer=employer_code(7),
            month="2019-02",
            wages=[cc.WageLine(person=ref(9), wage=D("1.00"))],
        )
    )
    assert of_type(out, cc.CommandRejected)[0].reason == "employer_not_registered"


# ---------------------------------------------------------------------------------------------
# Collections: full, under, over, unknown, wrong bureau


def _one_employee(wage: str = "10000.00") -> Service:
    s = Service()
    s.employer(E1)
    s.hire(ref(1), E1, wage, date(2019, 1, 1))
    return s


def test_full_payment_credits_months_and_accounts() -> None:
    s = _one_employee()
    s.close(NJ, "2019-02")
    out = s.pay_employer(E1, "2019-02")
    credited = of_type(out, cc.ContributionCredited)
    assert len(credited) == 1 and credited[0].period == "2019-02"
    p = s.person(ref(1))
    assert p.pension_account == D("800.00")  # 8% of 10,000
    assert p.medical_account == D("200.00") + D("240.00")  # 2% + 30% of 8%
    assert all(p.months(ins) == ("2019-02",) for ins in ce.Insurance)
    pension = credited[0].insurances[0]
    assert (pension.insurance, pension.into_account, pension.account_balance_after) == (
        "pension",
        D("800.00"),
        D("800.00"),
    )


def test_underpayment_books_arrears_and_credits_nothing_until_paid_in_full() -> None:
    s = _one_employee()
    s.close(NJ, "2019-02")
    due = s.ledger(E1).dues["2019-02"].amount_due
    out = s.pay_employer(E1, "2019-02", due - D("0.01"))
    arrears = of_type(out, cc.ArrearsBooked)
    assert [a.arrears for a in arrears] == [D("0.01")]
    assert of_type(out, cc.PaymentBooked)[0].outcome == "underpaid"
    assert not of_type(out, cc.ContributionCredited)
    assert s.person(ref(1)).pension_account == 0
    out = s.pay_employer(E1, "2019-02", "0.01")
    assert of_type(out, cc.ArrearsCleared)[0].paid == due
    assert len(of_type(out, cc.ContributionCredited)) == 1
    assert s.person(ref(1)).pension_account == D("800.00")


def test_a_period_unpaid_at_the_next_close_becomes_arrears() -> None:
    s = _one_employee()
    s.close(NJ, "2019-02")
    out = s.close(NJ, "2019-03")
    late = of_type(out, cc.ArrearsBooked)
    assert [(a.period, a.paid, a.arrears) for a in late] == [
        ("2019-02", D("0"), s.ledger(E1).dues["2019-02"].amount_due)
    ]
    assert s.ledger(E1).arrears == s.ledger(E1).dues["2019-02"].amount_due


def test_overpayment_is_held_and_applied_to_the_next_assessment() -> None:
    s = _one_employee()
    s.close(NJ, "2019-02")
    due = s.ledger(E1).dues["2019-02"].amount_due
    out = s.pay_employer(E1, "2019-02", due + D("100.00"))
    held = of_type(out, cc.OverpaymentHeld)
    assert [(h.excess, h.credit_balance) for h in held] == [(D("100.00"), D("100.00"))]
    assert len(of_type(out, cc.ContributionCredited)) == 1
    s.close(NJ, "2019-03")
    issued = s.to_bureau("t320100")[-1]
    assert issued.credit_applied == D("100.00")
    assert issued.amount_due == issued.total - D("100.00")
    assert s.ledger(E1).credit == 0


def test_a_payment_matching_no_assessment_is_rejected_to_the_bureau_by_name() -> None:
    s = _one_employee()
    s.close(NJ, "2019-02")
    out = s.collect(
        "t320100",
        cc.EmployerContributionsCollected(
            collection_id="X-1", employer=E1, month="2019-09", amount=D("10.00")
        ),
    )
    to_bureau = s.to_bureau("t320100", cc.TaxCollectionRejected)
    assert [(r.reason, r.collection_id, r.period) for r in to_bureau] == [
        ("unknown_assessment", "X-1", "2019-09")
    ]
    assert of_type(out, cc.CollectionRejected)  # and on the events topic
    out = s.collect(
        "t320100",
        cc.PersonContributionsCollected(
            collection_id="X-2", citizen_id=citizen(5), period="2019", amount=D("10.00")
        ),
    )
    assert s.to_bureau("t320100", cc.TaxCollectionRejected)[-1].reason == "unknown_assessment"


def test_a_collection_reported_by_another_regions_bureau_is_rejected() -> None:
    s = _one_employee()
    s.close(NJ, "2019-02")
    s.pay_employer(E1, "2019-02", bureau="t320500")
    rejected = s.to_bureau("t320500", cc.TaxCollectionRejected)
    assert [r.reason for r in rejected] == ["wrong_bureau"]
    assert s.ledger(E1).dues["2019-02"].paid == 0


def test_a_resent_collection_counts_once_and_a_reused_id_is_refused() -> None:
    s = _one_employee()
    s.close(NJ, "2019-02")
    due = s.ledger(E1).dues["2019-02"].amount_due
    report = cc.EmployerContributionsCollected(
        collection_id="C-1", employer=E1, month="2019-02", amount=due
    )
    s.collect("t320100", report)
    assert s.collect("t320100", report) == []
    assert len(s.of_type(cc.ContributionCredited)) == 1
    s.collect("t320100", report.model_copy(update={"amount": due + 1}))
    assert s.to_bureau("t320100", cc.TaxCollectionRejected)[-1].reason == "collection_id_conflict"


def test_a_per_person_breakdown_must_add_up_and_name_assessed_persons() -> None:
    s = _one_employee()
    s.close(NJ, "2019-02")
    due = s.ledger(E1).dues["2019-02"].amount_due
    bad = cc.EmployerContributionsCollected(
        collection_id="C-1",
        employer=E1,
        month="2019-02",
        amount=due,
        persons=[cc.PersonAmount(citizen_id=citizen(1), amount=due - 1)],
    )
    s.collect("t320100", bad)
    assert s.to_bureau("t320100", cc.TaxCollectionRejected)[-1].reason == "breakdown_mismatch"
    good = bad.model_copy(update={"persons": [cc.PersonAmount(citizen_id=citizen(1), amount=due)]})
    s.collect("t320100", good)
    assert s.ledger(E1).dues["2019-02"].settled


# ---------------------------------------------------------------------------------------------
# The region's clock


def test_months_close_in_order_once_and_need_a_bureau() -> None:
    s = Service()
    assert of_type(s.close(NJ, "2019-02"), cc.PeriodClosed)
    assert of_type(s.close(NJ, "2019-02"), cc.CommandRejected)[0].reason == "period_already_closed"
    assert of_type(s.close(NJ, "2019-04"), cc.CommandRejected)[0].reason == "period_out_of_order"
    assert of_type(s.close("330100", "2019-02"), cc.CommandRejected)[0].reason == "no_tax_bureau"


# ---------------------------------------------------------------------------------------------
# Dates: a record may not describe the future (DOMAIN.md, Dates). "Now" is the record's ce_time,
# read as a day of China Standard Time: 2019-04-30T16:00Z is already 1 May there.

EVE = datetime(2019, 4, 30, 15, 59, tzinfo=UTC)  # 30 April, 23:59 in Nanjing
MAY_DAY = datetime(2019, 4, 30, 16, 0, tzinfo=UTC)  # 1 May, 00:00 in Nanjing


def _reason(out: list) -> str:
    (rejected,) = of_type(out, cc.CommandRejected)
    return rejected.reason


def test_wages_for_a_month_that_has_not_begun_are_refused_by_name() -> None:
    s = _one_employee()
    wages = [cc.WageLine(person=ref(1), wage=D("12000.00"))]
    may = cc.DeclareWages(employer=E1, month="2019-05", wages=wages)
    out = s.command(may, EVE)
    assert _reason(out) == "service_date_in_future"
    assert "2019-05-01" in of_type(out, cc.CommandRejected)[0].detail
    assert s.store.get(WAGES.key(E1, "2019-05").name) is None
    # the date is wrong whoever declares: an unknown employer hears it first
    stranger = may.model_copy(update={"employer": employer_code(99)})
    assert _reason(s.command(stranger, EVE)) == "service_date_in_future"
    # from the first day of the month, in Nanjing
    assert of_type(s.command(may, MAY_DAY), cc.WagesDeclared)
    # a month under way, or past, may be declared
    april = may.model_copy(update={"month": "2019-04"})
    assert of_type(s.command(april, EVE), cc.WagesDeclared)


def test_a_month_is_closed_only_once_it_is_over() -> None:
    s = _one_employee()
    assert of_type(s.close(NJ, "2019-03", date(2019, 4, 1)), cc.PeriodClosed)
    out = s.close(NJ, "2019-04", EVE)
    assert _reason(out) == "service_date_in_future"
    assert "2019-05-01" in of_type(out, cc.CommandRejected)[0].detail
    assert not of_type(out, cc.AssessmentIssued)
    assert s.store[CLOCK.key(NJ).name].last_closed == "2019-03"  # the clock stays
    # a month that has not even begun
    assert _reason(s.close(NJ, "2019-06", EVE)) == "service_date_in_future"
    closed = s.close(NJ, "2019-04", MAY_DAY)
    assert [c.month for c in of_type(closed, cc.PeriodClosed)] == ["2019-04"]
    issued = of_type(closed, cc.AssessmentIssued) + of_type(closed, cc.TaxAssessmentIssued)
    assert [a.period for a in issued] == ["2019-04"] * 2  # event, bureau


def _collected(
    month: str, cid: str = "F-1", amount: str = "10.00"
) -> cc.EmployerContributionsCollected:
    return cc.EmployerContributionsCollected(
        collection_id=cid, employer=E1, month=month, amount=D(amount)
    )


def test_a_collection_for_a_period_after_the_report_is_refused_to_the_bureau_by_name() -> None:
    s = _one_employee()
    s.close(NJ, "2019-02", date(2019, 3, 1))
    s.collect("t320100", _collected("2031-01"), date(2019, 3, 5))
    (rejected,) = s.to_bureau("t320100", cc.TaxCollectionRejected)
    assert (rejected.reason, rejected.collection_id, rejected.period) == (
        "service_date_in_future",
        "F-1",
        "2031-01",
    )
    assert "2031-01-01" in rejected.detail and "2019-03-05" in rejected.detail
    # a month that exists but has not begun on the day the bureau says it reported it: the
    # assessment lookup alone would have booked it (its ce_time is the bureau's clock)
    due = s.ledger(E1).dues["2019-02"].amount_due
    s.collect("t320100", _collected("2019-02", "F-2", str(due)), date(2019, 1, 31))
    assert s.to_bureau("t320100", cc.TaxCollectionRejected)[-1].reason == "service_date_in_future"
    assert s.ledger(E1).dues["2019-02"].paid == 0 and not s.of_type(cc.PaymentBooked)
    # a month under way is not the future: no assessment yet, so it is unknown
    s.collect("t320100", _collected("2019-03", "F-3"), date(2019, 3, 5))
    assert s.to_bureau("t320100", cc.TaxCollectionRejected)[-1].reason == "unknown_assessment"
    s.collect("t320100", _collected("2019-02", "F-4", str(due)), date(2019, 3, 5))
    assert s.ledger(E1).dues["2019-02"].settled


def test_a_persons_year_is_paid_from_its_first_day_not_before() -> None:
    s = Service()
    _resident(s, ref(1), 500, date(2019, 3, 1))
    s.close(NJ, "2019-03", date(2019, 4, 1))
    year = cc.PersonContributionsCollected(
        collection_id="R-1", citizen_id=citizen(1), period="2020", amount=D("750.00")
    )
    s.collect("t320100", year, date(2019, 12, 20))
    rejected = s.to_bureau("t320100", cc.TaxCollectionRejected)[-1]
    assert (rejected.reason, rejected.period) == ("service_date_in_future", "2020")
    assert "year 2020" in rejected.detail
    this_year = year.model_copy(update={"collection_id": "R-2", "period": "2019"})
    s.collect("t320100", this_year, date(2019, 4, 2))  # paid during the year it buys
    assert len(s.person(ref(1)).months(ce.Insurance.PENSION)) == 12
    # a flexible worker's month likewise
    month = year.model_copy(update={"collection_id": "R-3", "period": "2019-05"})
    s.collect("t320100", month, date(2019, 4, 2))
    assert s.to_bureau("t320100", cc.TaxCollectionRejected)[-1].reason == "service_date_in_future"


def test_a_ce_time_from_before_any_tolerance_is_answered_not_a_handler_error() -> None:
    s = _one_employee()
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert _reason(s.close(NJ, "2019-02", epoch)) == "service_date_in_future"


def test_the_future_tolerance_is_a_parameter(tmp_path: Path) -> None:
    extra = tmp_path / "zz-test.toml"
    extra.write_text(
        """
[[parameter]]
name = "contributions.future_period_tolerance_days"
region = "320100"
from = 2019-01-01
value = 3
source = "test"
""",
        encoding="utf-8",
    )
    s = Service(policy=Policy.of("shebao_contributions", [extra]))
    s.employer(E1)
    s.hire(ref(1), E1, "10000.00", date(2019, 1, 1))
    # three days early in Nanjing: closed; four days early: refused
    assert _reason(s.close(NJ, "2019-04", date(2019, 4, 27))) == "service_date_in_future"
    assert of_type(s.close(NJ, "2019-04", date(2019, 4, 28)), cc.PeriodClosed)
    wages = [cc.WageLine(person=ref(1), wage=D("12000.00"))]
    june = cc.DeclareWages(employer=E1, month="2019-06", wages=wages)
    assert _reason(s.command(june, date(2019, 5, 28))) == "service_date_in_future"
    assert of_type(s.command(june, date(2019, 5, 29)), cc.WagesDeclared)


def test_a_close_fans_out_so_no_handler_declares_more_than_a_few_keys() -> None:
    s = Service(shards=8)
    for k in range(60):
        s.employer(employer_code(k))
        for i in range(5):
            s.hire(ref(k * 100 + i), employer_code(k), "8000.00", date(2019, 1, 1))
    s.close(NJ, "2019-02")
    assert len(s.to_bureau("t320100")) == 60
    for k in range(60):
        s.pay_employer(employer_code(k), "2019-02")
    assert len(s.of_type(cc.ContributionCredited)) == 300
    assert s.max_keys <= 4


# ---------------------------------------------------------------------------------------------
# Residents and flexible workers


def _resident(s: Service, person: str, tier: int, since: date, medical: bool = True) -> None:
    schemes = [ce.Scheme.RESIDENT_PENSION] + ([ce.Scheme.RESIDENT_MEDICAL] if medical else [])
    for scheme in schemes:
        s.enrol(
            ce.MembershipStarted(
                person=person,
                scheme=scheme,
                insurance=scheme.insurance,
                region=NJ,
                since=since,
                first_enrolled=since,
                basis=ce.Basis.RESIDENT,
                yearly_tier=tier if scheme == ce.Scheme.RESIDENT_PENSION else None,
                birth_date=date(1970, 1, 1),
                sex=ce.Sex.MALE,
            )
        )


@pytest.mark.parametrize(
    ("tier", "subsidy"),
    [
        (100, "30.00"),
        (300, "30.00"),
        (400, "30.00"),
        (500, "60.00"),
        (1000, "60.00"),
        (2000, "60.00"),
    ],
)
def test_resident_pension_subsidy_by_tier(tier: int, subsidy: str) -> None:
    rr = ResidentRates.of(PARAMS, NJ, 2019)
    assert rr.subsidy(tier) == D(subsidy)
    part = rr.pension_part(tier, years_before=0)
    assert part.employee_part == D(tier)
    assert part.into_account == D(tier) + D(subsidy)


def test_longer_contribution_incentive_beyond_fifteen_years() -> None:
    rr = ResidentRates.of(PARAMS, NJ, 2019)
    assert rr.pension_part(500, years_before=14).subsidy == D("60.00")
    assert rr.pension_part(500, years_before=15).subsidy == D("70.00")


def test_a_resident_pays_the_year_once_and_it_counts_twelve_months() -> None:
    s = Service()
    _resident(s, ref(1), 500, date(2019, 3, 1))
    s.close(NJ, "2019-03")
    issued = s.to_bureau("t320100")
    assert [(a.period, a.total) for a in issued] == [("2019", D("750.00"))]  # 500 + premium 250
    s.close(NJ, "2019-04")
    assert len(s.to_bureau("t320100")) == 1  # a year is assessed once
    s.collect(
        "t320100",
        cc.PersonContributionsCollected(
            collection_id="R-1", citizen_id=citizen(1), period="2019", amount=D("750.00")
        ),
    )
    p = s.person(ref(1))
    assert p.pension_account == D("560.00")  # 500 + subsidy 60
    assert len(p.months(ce.Insurance.PENSION)) == 12
    assert len(p.months(ce.Insurance.MEDICAL)) == 12
    assert p.medical_account == 0


def test_a_chosen_tier_applies_from_its_year() -> None:
    s = Service()
    _resident(s, ref(1), 100, date(2019, 1, 1), medical=False)
    s.enrol(ce.ResidentPensionTierChosen(person=ref(1), region=NJ, year=2020, yearly_tier=1000))
    s.close(NJ, "2019-12")
    s.close(NJ, "2020-01")
    assert [(a.period, a.total) for a in s.to_bureau("t320100")] == [
        ("2019", D("100.00")),
        ("2020", D("1000.00")),
    ]


def test_a_flexible_worker_pays_twenty_percent_eight_into_the_account() -> None:
    s = Service()
    for scheme in (ce.Scheme.EMPLOYEE_PENSION, ce.Scheme.EMPLOYEE_MEDICAL):
        s.enrol(
            ce.MembershipStarted(
                person=ref(1),
                scheme=scheme,
                insurance=scheme.insurance,
                region=NJ,
                since=date(2019, 4, 1),
                first_enrolled=date(2019, 4, 1),
                basis=ce.Basis.FLEXIBLE,
                declared_base=D("6000.00"),
                birth_date=date(1980, 1, 1),
                sex=ce.Sex.MALE,
            )
        )
    s.close(NJ, "2019-04")
    issued = s.to_bureau("t320100")
    # pension 20% of 6,000 = 1,200; medical 8% + 2% = 600
    assert [(a.payer, a.period, a.total) for a in issued] == [("person", "2019-04", D("1800.00"))]
    s.collect(
        "t320100",
        cc.PersonContributionsCollected(
            collection_id="F-1", citizen_id=citizen(1), period="2019-04", amount=D("1800.00")
        ),
    )
    p = s.person(ref(1))
    assert p.pension_account == D("480.00")  # 8% of 6,000
    assert p.medical_account == D("120.00") + D("144.00")
    assert p.pension_bases_since_1998 == D("6000.00")


# ---------------------------------------------------------------------------------------------
# Interruption


def test_an_employer_not_paying_for_n_months_interrupts_its_employees_until_arrears_paid() -> None:
    s = _one_employee()
    s.close(NJ, "2019-01")
    s.pay_employer(E1, "2019-01")
    for m in ("2019-02", "2019-03", "2019-04"):
        s.close(NJ, m)
    assert not s.of_type(cc.InterruptionOpened)  # 2019-02..03 unpaid: two months
    out = s.close(NJ, "2019-05")  # judged through 2019-04: three months uncredited
    opened = of_type(out, cc.InterruptionOpened)
    assert [(o.person, o.since, o.judged_through, o.months_uncredited) for o in opened] == [
        (ref(1), "2019-02", "2019-04", 3)
    ]
    s.close(NJ, "2019-06")  # judged through 2019-05: still open, opened once
    assert len(s.of_type(cc.InterruptionOpened)) == 1
    assert s.ledger(E1).arrears == 3 * D("4000.00") + D("3600.00")  # May at 16%
    # paying the arrears oldest first: 2019-02 leaves 03..05 uncredited (3, still interrupted),
    # 2019-03 brings it below the threshold
    assert not of_type(s.pay_employer(E1, "2019-02"), cc.InterruptionClosed)
    closed = of_type(s.pay_employer(E1, "2019-03"), cc.InterruptionClosed)
    assert [(c.closed_by, c.since, c.credited) for c in closed] == [
        ("arrears_paid", "2019-02", "2019-03")
    ]
    assert s.person(ref(1)).interruption is None


def test_someone_whose_job_ended_is_watched_and_interrupted_after_n_months() -> None:
    s = _one_employee()
    s.close(NJ, "2019-01")
    s.pay_employer(E1, "2019-01")
    s.leave(ref(1), E1, date(2019, 1, 31))
    assert s.person(ref(1)).watch == "2019-05"  # 2019-01 + 3 + 1
    for m in ("2019-02", "2019-03", "2019-04"):
        s.close(NJ, m)
    assert not s.of_type(cc.InterruptionOpened)
    out = s.close(NJ, "2019-05")
    opened = of_type(out, cc.InterruptionOpened)
    assert [(o.since, o.judged_through) for o in opened] == [("2019-02", "2019-04")]


def test_an_advance_closes_the_interruption_and_a_later_payment_recovers_it() -> None:
    s = _one_employee()
    s.close(NJ, "2019-01")
    s.pay_employer(E1, "2019-01")
    for m in ("2019-02", "2019-03", "2019-04", "2019-05"):
        s.close(NJ, m)
    assert s.person(ref(1)).interruption is not None
    out = s.command(
        cc.AdvanceContributions(person=ref(1), advance_id="ADV-1", funded_by="fund-320100")
    )
    adv = of_type(out, cc.ContributionsAdvanced)[0]
    # 2019-02..2019-04 at the flexible rate 20% on the floor 4,800 = 960 a month
    assert (adv.periods, adv.amount) == (["2019-02", "2019-03", "2019-04"], D("2880.00"))
    closed = of_type(out, cc.InterruptionClosed)
    assert [c.closed_by for c in closed] == ["advanced"]
    p = s.person(ref(1))
    assert p.advance_outstanding == D("2880.00")
    assert p.pension_account == D("800.00") + 3 * D("384.00")
    # the employer pays its arrears for March: the advance for March is recovered
    out = s.pay_employer(E1, "2019-03")
    rec = of_type(out, cc.AdvanceRecovered)
    assert [(r.period, r.amount, r.outstanding) for r in rec] == [
        ("2019-03", D("960.00"), D("1920.00"))
    ]
    p = s.person(ref(1))
    assert p.pension_account == D("800.00") * 2 + 2 * D("384.00")
    assert p.months(ce.Insurance.PENSION).count("2019-03") == 1
    assert "2019-03" in p.months(ce.Insurance.MEDICAL)
    again = s.command(
        cc.AdvanceContributions(person=ref(1), advance_id="ADV-1", funded_by="fund-320100")
    )
    assert of_type(again, cc.CommandRejected)[0].reason == "advance_id_in_use"


def test_a_flexible_workers_late_payment_of_an_advanced_month_recovers_it_once() -> None:
    s = Service()
    _flexible(s, ref(1), date(2019, 2, 1))
    for m in ("2019-02", "2019-03", "2019-04", "2019-05"):
        s.close(NJ, m)
    out = s.command(cc.AdvanceContributions(person=ref(1), advance_id="A-1", funded_by="fund"))
    assert of_type(out, cc.ContributionsAdvanced)[0].amount == D("2880.00")  # 3 x 960
    out = s.collect(
        "t320100",
        cc.PersonContributionsCollected(
            collection_id="F-3", citizen_id=citizen(1), period="2019-03", amount=D("1800.00")
        ),
    )
    assert [
        b.outcome for b in of_type(out, cc.PaymentBooked) + of_type(out, cc.TaxPaymentBooked)
    ] == ["settled"] * 2  # event, bureau
    (rec,) = of_type(out, cc.AdvanceRecovered)
    # the month counts on the regular base: 8% of 6,000 = 480, of which the advance put 384
    assert (rec.period, rec.amount, rec.outstanding, rec.into_account) == (
        "2019-03",
        D("960.00"),
        D("1920.00"),
        D("96.00"),
    )
    # March is credited once: pension by the advance, medical (not advanced) by the payment
    (credited,) = of_type(out, cc.ContributionCredited)
    assert [x.insurance for x in credited.insurances] == [ce.Insurance.MEDICAL]
    pension = [
        (c.period, c.source)
        for c in s.of_type(cc.ContributionCredited)
        for x in c.insurances
        if x.insurance == ce.Insurance.PENSION
    ]
    assert pension == [("2019-02", "advance"), ("2019-03", "advance"), ("2019-04", "advance")]
    p = s.person(ref(1))
    assert p.pension_account == 3 * D("384.00") + D("96.00") == rec.account_balance_after
    assert p.pension_bases_since_1998 == 2 * D("4800.00") + D("6000.00")
    assert p.advance_outstanding == D("1920.00") and sorted(p.advances) == ["2019-02", "2019-04"]


def test_an_advance_for_someone_not_interrupted_is_refused() -> None:
    s = _one_employee()
    out = s.command(cc.AdvanceContributions(person=ref(1), advance_id="A", funded_by="f"))
    assert of_type(out, cc.CommandRejected)[0].reason == "not_interrupted"
    out = s.command(cc.AdvanceContributions(person=ref(8), advance_id="A", funded_by="f"))
    assert of_type(out, cc.CommandRejected)[0].reason == "person_not_known"


def test_resuming_payment_closes_an_interruption() -> None:
    s = _one_employee()
    s.close(NJ, "2019-01")
    s.pay_employer(E1, "2019-01")
    for m in ("2019-02", "2019-03", "2019-04", "2019-05"):
        s.close(NJ, m)
    out = s.pay_employer(E1, "2019-05")
    assert [c.closed_by for c in of_type(out, cc.InterruptionClosed)] == ["resumed"]


# ---------------------------------------------------------------------------------------------
# Transfer


def test_transfer_out_moves_the_account_and_twelve_percent_of_the_bases() -> None:
    s = _one_employee("10000.00")
    for m in ("2019-01", "2019-02", "2019-03"):
        s.close(NJ, m)
        s.pay_employer(E1, m)
    s.leave(ref(1), E1, date(2019, 3, 31))
    out = s.enrol(
        ce.PersonTransferredOut(
            person=ref(1),
            transfer_id="TR-1",
            from_region=NJ,
            to_region="320500",
            on=date(2019, 4, 10),
            schemes=(ce.Scheme.EMPLOYEE_PENSION, ce.Scheme.EMPLOYEE_MEDICAL),
        )
    )
    t = of_type(out, cc.TransferAmountComputed)[0]
    assert t.pension_account == D("2400.00")  # 3 x 8% of 10,000
    assert t.bases_since_1998 == D("30000.00")
    assert t.pooled_share == D("3600.00")  # 12% of 30,000
    assert t.medical_account == 3 * D("440.00")
    assert t.total == D("2400.00") + D("3600.00") + D("1320.00")


def test_the_pooled_share_is_rounded_once_on_the_sum_of_bases() -> None:
    s = _one_employee("4812.35")
    for m in ("2019-01", "2019-02", "2019-03"):
        s.close(NJ, m)
        s.pay_employer(E1, m)
    out = s.enrol(
        ce.PersonTransferredOut(
            person=ref(1),
            transfer_id="TR-2",
            from_region=NJ,
            to_region="320500",
            on=date(2019, 4, 10),
            schemes=(ce.Scheme.EMPLOYEE_PENSION,),
        )
    )
    t = of_type(out, cc.TransferAmountComputed)[0]
    assert t.bases_since_1998 == D("14437.05")
    assert t.pooled_share == D("1732.45")  # 1,732.446 rounded half up
    assert t.medical_account == 0


# ---------------------------------------------------------------------------------------------
# The ledger alone


def test_ledger_payments_add_up_to_settlement() -> None:
    led, due = lg.issue(lg.Ledger(), "2019-02", "E-x-2019-02", NJ, "t320100", D("100.00"))
    assert due.amount_due == D("100.00") and due.status == "open"
    b = lg.book(led, "2019-02", "a", D("60.00"), "t320100", date(2019, 3, 1))
    assert (b.outcome, b.newly_settled, b.due.arrears) == ("underpaid", False, D("40.00"))
    b = lg.book(b.ledger, "2019-02", "b", D("50.00"), "t320100", date(2019, 3, 2))
    assert (b.outcome, b.newly_settled, b.arrears_cleared, b.excess) == (
        "overpaid",
        True,
        True,
        D("10.00"),
    )
    assert b.ledger.credit == D("10.00")
    led, due = lg.issue(b.ledger, "2019-03", "E-x-2019-03", NJ, "t320100", D("5.00"))
    assert due.settled and due.credit_applied == D("5.00") and led.credit == D("5.00")


def test_a_land_expropriated_farmer_pays_his_tier_and_the_region_pays_on_his_behalf() -> None:
    s = Service()
    s.enrol(
        ce.MembershipStarted(
            person=ref(1),
            scheme=ce.Scheme.LAND_EXPROPRIATED_PENSION,
            insurance=ce.Insurance.PENSION,
            region=NJ,
            since=date(2019, 1, 1),
            first_enrolled=date(2019, 1, 1),
            basis=ce.Basis.LAND_EXPROPRIATED,
            expropriation_record="ZD-1",
            birth_date=date(1965, 1, 1),
            sex=ce.Sex.MALE,
        )
    )
    for m in ("2019-01", "2019-02"):
        s.close(NJ, m)
    # a yearly payer: his own tier (illustrative 100), once for 2019
    assert [(a.citizen_id, a.period, a.total) for a in s.to_bureau("t320100")] == [
        (citizen(1), "2019", D("100.00"))
    ]
    out = s.collect(
        "t320100",
        cc.PersonContributionsCollected(
            collection_id="LE-1", citizen_id=citizen(1), period="2019", amount=D("100.00")
        ),
    )
    (credited,) = of_type(out, cc.ContributionCredited)
    (pension,) = credited.insurances
    # subsidy: 30 on the tier of 100, plus 1,200 the region pays on his behalf (illustrative)
    assert (credited.months, pension.scheme, pension.subsidy, pension.into_account) == (
        12,
        ce.Scheme.LAND_EXPROPRIATED_PENSION,
        D("1230.00"),
        D("1330.00"),
    )
    assert s.person(ref(1)).pension_account == D("1330.00")
    # 2020 unpaid: judged like a resident at the first close of 2021
    for month in [f"2019-{m:02d}" for m in range(3, 13)] + [f"2020-{m:02d}" for m in range(1, 13)]:
        s.close(NJ, month)
    out = s.close(NJ, "2021-01")
    opened = of_type(out, cc.InterruptionOpened)
    assert [(o.since, o.judged_through) for o in opened] == [("2020-01", "2020-12")]


def test_a_relationship_transferred_in_suspended_is_watched_in_its_new_region() -> None:
    s = Service()
    s.enrol(
        ce.MembershipStarted(
            person=ref(1),
            scheme=ce.Scheme.EMPLOYEE_PENSION,
            insurance=ce.Insurance.PENSION,
            region="320500",
            since=date(2019, 3, 10),
            first_enrolled=date(2015, 1, 1),
            basis=ce.Basis.EMPLOYMENT,
            transfer_id="TR-1",
            birth_date=date(1980, 1, 1),
            sex=ce.Sex.MALE,
            active=False,
        )
    )
    p = s.person(ref(1))
    assert p.payer is None and p.watch is not None
    directory = s.directory("320500", shard_of(ref(1), s.env.shards))
    assert directory is not None and directory.watches == {ref(1): p.watch}


def test_a_correction_of_an_assessment_settled_by_a_held_credit_is_refused() -> None:
    s = _one_employee()
    s.close(NJ, "2019-02")
    due = s.ledger(E1).dues["2019-02"].amount_due
    s.pay_employer(E1, "2019-02", 3 * due)  # two months' worth held as credit
    s.close(NJ, "2019-03")
    assert s.ledger(E1).dues["2019-03"].settled  # covered by the credit, credited at once
    assert s.person(ref(1)).months(ce.Insurance.PENSION) == ("2019-02", "2019-03")
    out = s.command(
        cc.DeclareWages(
            employer=E1, month="2019-03", wages=[cc.WageLine(person=ref(1), wage=D("12000.00"))]
        )
    )
    assert of_type(out, cc.CommandRejected)[0].reason == "assessment_in_collection"


def _flexible(s: Service, person: str, since: date) -> None:
    for scheme in (ce.Scheme.EMPLOYEE_PENSION, ce.Scheme.EMPLOYEE_MEDICAL):
        s.enrol(
            ce.MembershipStarted(
                person=person,
                scheme=scheme,
                insurance=scheme.insurance,
                region=NJ,
                since=since,
                first_enrolled=since,
                basis=ce.Basis.FLEXIBLE,
                declared_base=D("6000.00"),
                birth_date=date(1980, 1, 1),
                sex=ce.Sex.MALE,
            )
        )


def test_a_flexible_worker_who_stops_paying_is_interrupted_at_his_own_assessment() -> None:
    s = Service()
    _flexible(s, ref(1), date(2019, 1, 1))
    s.close(NJ, "2019-01")
    s.collect(
        "t320100",
        cc.PersonContributionsCollected(
            collection_id="F-1", citizen_id=citizen(1), period="2019-01", amount=D("1800.00")
        ),
    )
    for m in ("2019-02", "2019-03", "2019-04"):
        s.close(NJ, m)
    late = [(a.person, a.period) for a in s.of_type(cc.ArrearsBooked)]
    assert late == [(ref(1), "2019-02"), (ref(1), "2019-03")]
    assert not s.of_type(cc.InterruptionOpened)
    out = s.close(NJ, "2019-05")
    opened = of_type(out, cc.InterruptionOpened)
    assert [(o.since, o.judged_through) for o in opened] == [("2019-02", "2019-04")]


def test_a_resident_is_judged_on_whole_years() -> None:
    s = Service()
    _resident(s, ref(1), 200, date(2019, 1, 1), medical=False)
    for m in range(1, 13):
        s.close(NJ, f"2019-{m:02d}")
    assert len(s.to_bureau("t320100")) == 1  # one yearly assessment
    assert not s.of_type(cc.InterruptionOpened)  # 2019 is not judged before 2020
    out = s.close(NJ, "2020-01")
    opened = of_type(out, cc.InterruptionOpened)
    assert [(o.since, o.judged_through, o.months_uncredited) for o in opened] == [
        ("2019-01", "2019-12", 12)
    ]
    assert [a.period for a in of_type(out, cc.ArrearsBooked)] == ["2019"]
    out = s.command(cc.AdvanceContributions(person=ref(1), advance_id="A-1", funded_by="fund"))
    adv = of_type(out, cc.ContributionsAdvanced)[0]
    assert (adv.periods, adv.amount) == (["2019"], D("100.00"))  # the lowest tier
    assert [c.closed_by for c in of_type(out, cc.InterruptionClosed)] == ["advanced"]
    assert s.person(ref(1)).pension_account == D("130.00")  # 100 + subsidy 30


def test_the_unemployment_fund_pays_a_recipients_medical_month_once() -> None:
    """Issue 14: the fund's medical contribution for a person on unemployment benefit is a
    credited medical month (source unemployment_fund), once, with nothing into the account."""
    s = _one_employee()
    s.leave(ref(1), E1, date(2019, 2, 28))
    paid = un.MedicalContributionPaid(
        person=ref(1), region=NJ, month="2019-03", base=D("4800.00"), amount=D("480.00")
    )
    out = s.send(un.EVENTS.name, paid)
    (credited,) = of_type(out, cc.ContributionCredited)
    assert (credited.period, credited.source, credited.months) == (
        "2019-03",
        "unemployment_fund",
        1,
    )
    (medical,) = credited.insurances
    assert (medical.insurance, medical.scheme, medical.base, medical.employer_part) == (
        ce.Insurance.MEDICAL,
        ce.Scheme.EMPLOYEE_MEDICAL,
        D("4800.00"),
        D("480.00"),
    )
    assert medical.into_account == D("0.00")
    assert "2019-03" in s.person(ref(1)).months(ce.Insurance.MEDICAL)
    # the same month paid again (a second payment event) is not credited twice
    assert not of_type(s.send(un.EVENTS.name, paid), cc.ContributionCredited)


def _on_behalf(person: str, year: int) -> wf.PensionPaidOnBehalf:
    return wf.PensionPaidOnBehalf(person=person, region=NJ, year=year, tier=100, amount=D("100.00"))


def test_the_government_pays_a_welfare_recipients_lowest_tier() -> None:
    """Issue 15: for a 低保 or 特困 recipient the government pays the lowest resident-pension tier
    of the year: at that tier the year is settled and credited (100 + subsidy 30 into the
    account); at a higher tier the person owes the rest."""
    s = Service()
    _resident(s, ref(1), 100, date(2019, 1, 1), medical=False)
    _resident(s, ref(2), 300, date(2019, 1, 1), medical=False)
    s.close(NJ, "2019-01")
    out = s.send(wf.EVENTS.name, _on_behalf(ref(1), 2019))
    (credited,) = of_type(out, cc.ContributionCredited)
    assert (credited.person, credited.period, credited.months) == (ref(1), "2019", 12)
    assert s.person(ref(1)).pension_account == D("130.00")
    assert not of_type(s.send(wf.EVENTS.name, _on_behalf(ref(1), 2019)), cc.ContributionCredited)
    out = s.send(wf.EVENTS.name, _on_behalf(ref(2), 2019))
    assert not of_type(out, cc.ContributionCredited)
    assert s.person(ref(2)).ledger.dues["2019"].paid == D("100.00")  # 200.00 left to pay
    s.collect(
        "t320100",
        cc.PersonContributionsCollected(
            collection_id="R-2", citizen_id=citizen(2), period="2019", amount=D("200.00")
        ),
    )
    assert s.person(ref(2)).pension_account == D("330.00")  # 300 + subsidy 30


def test_the_governments_payment_before_the_year_is_assessed() -> None:
    s = Service()
    _resident(s, ref(1), 100, date(2019, 1, 1), medical=False)
    s.send(wf.EVENTS.name, _on_behalf(ref(1), 2019))
    out = s.close(NJ, "2019-01")
    assert [c.period for c in of_type(out, cc.ContributionCredited)] == ["2019"]
