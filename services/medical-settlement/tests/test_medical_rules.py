"""Every adjudication rule and every rejection reason, computed by hand (unit level)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal as D
from pathlib import Path

import pytest
from medical_harness import H1, H2, H3, Medical, at, citizen_id, claim, line, sent_at

from shebao_common.policy import Policy
from shebao_contracts import enrollment as e
from shebao_contracts import medical as m
from shebao_contracts import unemployment as u
from shebao_contracts.welfare import RecipientStatusChanged
from shebao_medical_settlement.domain.model import ACCUMULATORS, COVERAGE

PATIENT = citizen_id(1)


@pytest.fixture
def med() -> Medical:
    x = Medical()
    x.enrol(PATIENT)
    return x


def amounts(result: m.SettlementResult) -> dict[str, str]:
    assert result.outcome == m.Outcome.SETTLED, (result.reasons, result.detail)
    assert result.amounts is not None
    return {k: str(v) for k, v in result.amounts.model_dump().items()}


def totals(med: Medical, year: int = 2025) -> dict[str, str]:
    acc = med.store[ACCUMULATORS.key(med.ref(PATIENT)).name]
    return {k: str(v) for k, v in acc.year(year).model_dump().items()}


# ingest ---------------------------------------------------------------------------------------


def test_a_claim_on_another_hospitals_topic_is_refused(med: Medical) -> None:
    c = claim(hospital=H2)
    answer = med._through(
        med.ingest.send(c, topic=m.CLAIMS.named(code=H3), topic_fields={"code": H3}, key=c.claim_id)
    )
    assert answer.reasons == ["hospital_mismatch"] and answer.hospital == H3


def test_a_claim_id_is_one_patients_for_ever(med: Medical) -> None:
    """The id of one patient's claim is refused for another, settled, refused or cancelled:
    each patient's claims are settled where that patient's state is, and a hospital's answers
    are by claim id."""
    other = citizen_id(2)
    med.enrol(other)
    first = claim("C-77")
    assert med.submit(first).outcome == m.Outcome.SETTLED
    again = claim("C-77", patient=other)
    refused = med.submit(again)
    assert refused.reasons == ["duplicate_claim_different_body"]
    assert "another patient" in refused.detail
    med.cancel(first)
    assert med.submit(again).reasons == ["duplicate_claim_different_body"]
    # its own patient may send it again once cancelled, and another id is the other's
    assert med.submit(first).outcome == m.Outcome.SETTLED
    assert med.submit(claim("C-78", patient=other)).outcome == m.Outcome.SETTLED

    # refused by adjudication (nobody insured): still its first patient's
    stranger = citizen_id(3)
    assert med.submit(claim("C-79", patient=stranger)).reasons == ["not_insured_on_service_date"]
    assert med.submit(claim("C-79")).reasons == ["duplicate_claim_different_body"]


def test_lines_must_add_up(med: Medical) -> None:
    bad_line = claim(
        lines=[
            {
                "item_code": "A",
                "category": "treatment",
                "quantity": "3",
                "unit_price": "33.33",
                "amount": "100.00",
            }
        ]
    )
    assert med.submit(bad_line).reasons == ["totals_do_not_add_up"]
    bad_total = claim(total="6745.01")
    answer = med.submit(bad_total)
    assert answer.reasons == ["totals_do_not_add_up"] and "6745.00" in answer.detail


def test_dates_must_make_sense(med: Medical) -> None:
    backwards = claim(admitted=date(2025, 1, 8), discharged=date(2025, 1, 7))
    assert med.submit(backwards).reasons == ["invalid_dates"]
    no_discharge = claim(discharged=None)
    assert med.submit(no_discharge).reasons == ["invalid_dates"]


def test_a_stay_that_ends_after_the_claim_was_sent_is_refused(med: Medical) -> None:
    # issue 12: sent in December 2026 for a stay of March 2027, it was settled for 2027
    future = claim(admitted=date(2027, 3, 1), discharged=date(2027, 3, 5))
    answer = med.submit(future, when=at(date(2026, 12, 10), 9))
    assert answer.reasons == ["service_date_in_future"], answer.detail
    assert "2027-03-05" in answer.detail
    # discharged today: not the future
    assert med.submit(claim("C2"), when=at(date(2025, 1, 15), 0)).outcome == m.Outcome.SETTLED
    # the day is China's: 2025-01-14T16:00Z is already 15 January there, 15:59Z is not
    late = claim("C3", admitted=date(2025, 1, 10), discharged=date(2025, 1, 15))
    utc_eve = datetime(2025, 1, 14, 15, 59, tzinfo=UTC)
    assert med.submit(late, when=utc_eve).reasons == ["service_date_in_future"]
    assert med.submit(late, when=utc_eve.replace(hour=16, minute=0)).outcome == m.Outcome.SETTLED
    # a ce_time from before any tolerance was in force is answered, not a handler error
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert med.submit(claim("C4"), when=epoch).reasons == ["service_date_in_future"]


def test_an_outpatient_visit_in_the_future_is_refused(med: Medical) -> None:
    visit = claim("O1", visit="outpatient", admitted=date(2025, 2, 1), discharged=None)
    assert med.submit(visit, when=at(date(2025, 1, 31), 23)).reasons == ["service_date_in_future"]
    assert med.submit(visit, when=at(date(2025, 2, 1), 8)).outcome == m.Outcome.SETTLED


def policy_with(tmp_path: Path, toml: str) -> Policy:
    """The packaged policy with the values of `toml` added (a test's own parameters)."""
    extra = tmp_path / "zz-test.toml"
    extra.write_text(toml, encoding="utf-8")
    return Policy.of("shebao_medical_settlement", [extra])


def test_the_future_tolerance_is_a_parameter(tmp_path: Path) -> None:
    two_days = """
[[parameter]]
name = "medical.future_service_tolerance_days"
region = "320100"
from = 2025-01-01
value = 2
source = "test"
"""
    med = Medical(policy_with(tmp_path, two_days))
    med.enrol(PATIENT)
    sent = at(date(2025, 1, 13))
    assert med.submit(claim("C1"), when=sent).outcome == m.Outcome.SETTLED  # two days ahead
    c2 = claim("C2", admitted=date(2025, 1, 10), discharged=date(2025, 1, 16))
    assert med.submit(c2, when=sent).reasons == ["service_date_in_future"]


def test_only_designated_hospitals(med: Medical) -> None:
    unknown = claim(hospital="h999999999")
    assert med.submit(unknown).reasons == ["hospital_not_designated"]
    med.adjudicate.send(
        m.RegisterHospital(
            hospital=H2,
            name="x",
            level="secondary",
            region="320100",
            designated_from=date(2015, 1, 1),
            designated_to=date(2024, 12, 31),
        )
    )
    assert med.submit(claim(hospital=H2)).reasons == ["hospital_not_designated"]


def test_ingest_forwards_a_pseudonymised_claim_keyed_by_person(med: Medical) -> None:
    c = claim()
    (fwd,) = med.ingest.send(
        c, topic=m.CLAIMS.named(code=H3), topic_fields={"code": H3}, key=c.claim_id, when=sent_at(c)
    )
    assert fwd.topic == m.COMMANDS.name and fwd.key == med.ref(PATIENT)
    assert PATIENT not in fwd.message.model_dump_json()


# coverage -----------------------------------------------------------------------------------------


def test_not_insured_on_the_service_date(med: Medical) -> None:
    other = citizen_id(2)
    med.enrol(other, since=date(2025, 2, 1))
    answer = med.submit(claim(patient=other, admitted=date(2025, 1, 8)))
    assert answer.reasons == ["not_insured_on_service_date"]


def test_a_stay_after_the_patients_death_is_refused_by_name(med: Medical) -> None:
    ref = med.ref(PATIENT)
    # what enrollment sends for a death: the membership ends on the day, then the person
    med.coverage.send(
        e.MembershipEnded(
            person=ref,
            scheme="employee_medical",
            insurance="medical",
            region="320100",
            on=date(2025, 1, 5),
            reason="deceased",
        )
    )
    med.coverage.send(e.PersonDeceased(person=ref, on=date(2025, 1, 5)))
    answer = med.submit(claim())  # admitted 2025-01-08
    assert answer.reasons == ["person_deceased"] and "2025-01-05" in answer.detail
    # a stay that began before the death is covered, to the day of death
    died_in_hospital = claim("C2", admitted=date(2025, 1, 2), discharged=date(2025, 1, 5))
    assert med.submit(died_in_hospital).outcome == m.Outcome.SETTLED


def test_suspended_membership(med: Medical) -> None:
    med.coverage.send(
        e.MembershipSuspended(
            person=med.ref(PATIENT),
            scheme="employee_medical",
            insurance="medical",
            region="320100",
            on=date(2024, 12, 31),
            reason="employment_ended",
        )
    )
    assert med.submit(claim()).reasons == ["membership_suspended"]
    # still covered on the last day of the employment
    answer = med.submit(claim("C2", admitted=date(2024, 12, 31), discharged=date(2025, 1, 2)))
    assert answer.outcome == m.Outcome.SETTLED


def test_a_person_on_unemployment_benefit_is_covered_as_an_employee(med: Medical) -> None:
    """Issue 14: laid off at the end of 2024 and on benefit from January 2025, the fund paying
    the employee medical contribution: a January stay is settled on the employee scheme, like
    that of an employee still at work; once the benefit stops, the suspension counts again."""
    working = citizen_id(2)
    med.enrol(working)
    person = med.ref(PATIENT)
    med.coverage.send(
        e.MembershipSuspended(
            person=person,
            scheme="employee_medical",
            insurance="medical",
            region="320100",
            on=date(2024, 12, 31),
            reason="employment_ended",
        )
    )
    med.coverage.send(
        u.BenefitGranted(
            person=person,
            region="320100",
            registered_on=date(2025, 1, 3),
            first_month="2025-01",
            credited_months=36,
            entitlement_months=12,
            carried_months=0,
            months_left=12,
        )
    )
    on_benefit = med.submit(claim())  # 8 to 15 January 2025
    at_work = med.submit(claim("W1", patient=working))
    assert on_benefit.outcome == m.Outcome.SETTLED
    assert on_benefit.amounts == at_work.amounts
    med.coverage.send(
        u.BenefitStopped(
            person=person,
            region="320100",
            on=date(2025, 1, 31),
            cause=u.StopCause.EMIGRATED,
            months_left=11,
        )
    )
    february = claim("C2", admitted=date(2025, 2, 3), discharged=date(2025, 2, 7))
    assert med.submit(february, at(date(2025, 2, 8))).reasons == ["membership_suspended"]


def test_contributions_in_arrears_beyond_the_grace_period(med: Medical) -> None:
    # unpaid since October 2024, grace 3: October itself, then November, December, January
    key = COVERAGE.key(med.ref(PATIENT)).name
    med.store[key] = med.store[key].model_copy(update={"arrears_since": date(2024, 10, 1)})
    in_october = claim("C0", admitted=date(2024, 10, 20), discharged=date(2024, 10, 28))
    assert med.submit(in_october).outcome == m.Outcome.SETTLED
    # issue 12: admitted exactly three months after the first unpaid month, it was refused
    last_day = claim("C1", admitted=date(2025, 1, 31), discharged=date(2025, 2, 3))
    assert med.submit(last_day).outcome == m.Outcome.SETTLED
    first_day_after = claim("C2", admitted=date(2025, 2, 1), discharged=date(2025, 2, 3))
    answer = med.submit(first_day_after)
    assert answer.reasons == ["contributions_in_arrears"]
    assert "2024-10" in answer.detail and "3 months" in answer.detail


# amounts ------------------------------------------------------------------------------------------


def test_employee_inpatient_at_a_tertiary_hospital(med: Medical) -> None:
    # 6745 submitted; 900 outside scope; class-B 1720 x 10% = 172 self-pay; eligible 5673;
    # deductible 800; fund (5673 - 800) x 80% = 3898.40; patient 6745 - 3898.40 = 2846.60
    assert amounts(med.submit(claim())) == {
        "submitted": "6745.00",
        "outside_scope": "900.00",
        "class_b_self_pay": "172.00",
        "eligible": "5673.00",
        "deductible": "800.00",
        "fund_payment": "3898.40",
        "serious_illness_payment": "0.00",
        "medical_assistance_payment": "0.00",
        "patient_payable": "2846.60",
    }
    assert totals(med)["fund"] == "3898.40"
    assert totals(med)["in_scope_out_of_pocket"] == "1774.60"


def test_resident_at_a_secondary_hospital(med: Medical) -> None:
    resident = citizen_id(3)
    med.enrol(resident, scheme="resident_medical")
    # eligible 5673, deductible 500, ratio 75%: fund 3879.75
    got = amounts(med.submit(claim(patient=resident, hospital=H2)))
    assert got["deductible"] == "500.00" and got["fund_payment"] == "3879.75"
    assert got["patient_payable"] == "2865.25"


def test_ratios_round_half_up_to_the_fen(med: Medical) -> None:
    # class-B 0.05 x 10% = 0.005 -> 0.01; eligible 1000.04 - 0.01 = 1000.03;
    # (1000.03 - 800) x 0.8 = 160.024 -> 160.02
    c = claim(lines=[line("class_b_drug", "0.05"), line("treatment", "999.99")])
    got = amounts(med.submit(c))
    assert got["class_b_self_pay"] == "0.01"
    assert got["fund_payment"] == "160.02"
    assert D(got["fund_payment"]) + D(got["patient_payable"]) == D("1000.04")


def test_the_yearly_cap_is_reached_mid_claim(med: Medical) -> None:
    big = [line("treatment", "300000.00"), line("material", "200000.00")]
    first = amounts(med.submit(claim("C1", lines=big)))
    assert first["fund_payment"] == "399360.00"  # (500000 - 800) x 0.8
    second = amounts(
        med.submit(
            claim(
                "C2",
                lines=[line("treatment", "10000.00")],
                admitted=date(2025, 3, 1),
                discharged=date(2025, 3, 5),
            )
        )
    )
    assert second["fund_payment"] == "640.00"  # only 400000 - 399360 left of the cap
    assert totals(med)["fund"] == "400000.00"
    c3 = claim(
        "C3",
        lines=[line("treatment", "5000.00")],
        admitted=date(2025, 4, 1),
        discharged=date(2025, 4, 3),
    )
    third = med.submit(c3)
    assert amounts(third)["fund_payment"] == "0.00"
    assert third.reasons == ["annual_cap_reached"]
    # the one the cap cut says so too, and a resend says it again
    c2 = claim(
        "C2",
        lines=[line("treatment", "10000.00")],
        admitted=date(2025, 3, 1),
        discharged=date(2025, 3, 5),
    )
    assert med.submit(c2).reasons == ["annual_cap_reached"]


def test_serious_illness_pays_again_above_the_yearly_threshold(med: Medical) -> None:
    # employee threshold 30000 at 60%. Claim 1: eligible 100000, fund (100000-800) x .8 = 79360,
    # out of pocket 20640. Claim 2: eligible 60000, fund 47360, out of pocket 12640;
    # year total 33280, 3280 above the threshold -> 1968.00
    amounts(med.submit(claim("C1", lines=[line("treatment", "100000.00")])))
    got = amounts(
        med.submit(
            claim(
                "C2",
                lines=[line("treatment", "60000.00")],
                admitted=date(2025, 2, 1),
                discharged=date(2025, 2, 9),
            )
        )
    )
    assert got["serious_illness_payment"] == "1968.00"
    assert got["patient_payable"] == str(D("60000.00") - D("47360.00") - D("1968.00"))


def test_minimum_living_allowance_recipient_gets_medical_assistance(med: Medical) -> None:
    resident = citizen_id(4)
    med.enrol(resident, scheme="resident_medical", region="321300")
    med.coverage.send(
        RecipientStatusChanged(
            person=med.ref(resident),
            status="minimum_living_allowance",
            region="321300",
            effective_from=date(2024, 7, 1),
        )
    )
    # resident, primary: deductible 200, ratio 80%; eligible 30000 -> fund 23840, oop 6160.
    # 低保: serious threshold 20000 x 0.5 = 10000 (not reached); assistance 70% of 6160 = 4312
    got = amounts(
        med.submit(claim(patient=resident, hospital=H1, lines=[line("treatment", "30000.00")]))
    )
    assert got["fund_payment"] == "23840.00"
    assert got["serious_illness_payment"] == "0.00"
    assert got["medical_assistance_payment"] == "4312.00"
    assert got["patient_payable"] == "1848.00"


def test_a_recipients_outpatient_visit_gets_medical_assistance(med: Medical) -> None:
    """Issue 16: medical assistance pays its ratio of what remains of an outpatient visit too.
    Resident at primary care: 300.00 in scope, pooling 50% = 150.00; 低保: 70% of the
    remaining 150.00 = 105.00; the patient pays 45.00."""
    resident = citizen_id(6)
    med.enrol(resident, scheme="resident_medical", region="321300")
    med.coverage.send(
        RecipientStatusChanged(
            person=med.ref(resident),
            status="minimum_living_allowance",
            region="321300",
            effective_from=date(2024, 7, 1),
        )
    )
    visit = {"visit": "outpatient", "discharged": None, "hospital": H1, "patient": resident}
    got = amounts(med.submit(claim("O1", lines=[line("class_a_drug", "300.00")], **visit)))
    assert (got["fund_payment"], got["medical_assistance_payment"], got["patient_payable"]) == (
        "150.00",
        "105.00",
        "45.00",
    )


def test_outpatient_pooling_for_residents_at_primary_care(med: Medical) -> None:
    resident = citizen_id(5)
    med.enrol(resident, scheme="resident_medical", region="321300")
    visit = {"visit": "outpatient", "discharged": None, "hospital": H1, "patient": resident}
    got = amounts(med.submit(claim("O1", lines=[line("class_a_drug", "300.00")], **visit)))
    assert got["fund_payment"] == "150.00" and got["deductible"] == "0.00"
    got = amounts(
        med.submit(
            claim("O2", lines=[line("class_a_drug", "700.00")], admitted=date(2025, 1, 20), **visit)
        )
    )
    assert got["fund_payment"] == "250.00"  # the yearly pool of 400 is used up
    tertiary = amounts(
        med.submit(
            claim(
                "O3",
                hospital=H3,
                patient=resident,
                visit="outpatient",
                discharged=None,
                lines=[line("class_a_drug", "80.00")],
            )
        )
    )
    assert tertiary["fund_payment"] == "0.00"  # residents' pooling is for primary care only


def test_a_zero_or_cut_payment_says_why(med: Medical) -> None:
    # issue 12: an outpatient visit where pooling does not apply came back settled, fund 0.00
    # and no reason; the cashier must be able to explain every zero
    resident = citizen_id(5)
    med.enrol(resident, scheme="resident_medical", region="321300")
    visit = {"visit": "outpatient", "discharged": None, "patient": resident}

    def answer(c: m.ClaimSubmitted) -> tuple[str, list[str]]:
        a = med.submit(c)
        assert a.outcome == m.Outcome.SETTLED, a.reasons
        return str(a.amounts.fund_payment), a.reasons

    drugs = [line("class_a_drug", "80.00")]
    assert answer(claim("O1", hospital=H3, lines=drugs, **visit)) == (
        "0.00",
        ["outpatient_pooling_not_applicable"],
    )
    nothing_in_scope = [line("outside_scope", "300.00", "2")]
    assert answer(claim("O2", hospital=H1, lines=nothing_in_scope, **visit)) == (
        "0.00",
        ["all_outside_scope"],
    )
    # 50% of 900 = 450, but the residents' pool holds 400 a year
    assert answer(claim("O3", hospital=H1, lines=[line("class_a_drug", "900.00")], **visit)) == (
        "400.00",
        ["outpatient_pool_exhausted"],
    )
    assert answer(claim("O4", hospital=H1, lines=drugs, admitted=date(2025, 1, 9), **visit)) == (
        "0.00",
        ["outpatient_pool_exhausted"],
    )
    # inpatient at a tertiary hospital: eligible 750 under the deductible of 800
    assert answer(claim("I1", lines=[line("treatment", "750.00")])) == (
        "0.00",
        ["below_deductible"],
    )
    assert answer(claim("I2", lines=[line("outside_scope", "900.00")])) == (
        "0.00",
        ["all_outside_scope"],
    )
    assert answer(claim("I3")) == ("3898.40", [])  # paid in full: no reason


def test_the_year_boundary_starts_new_totals(med: Medical) -> None:
    amounts(med.submit(claim("C1", admitted=date(2025, 12, 20), discharged=date(2025, 12, 30))))
    got = amounts(med.submit(claim("C2", admitted=date(2025, 12, 29), discharged=date(2026, 1, 4))))
    assert got["deductible"] == "800.00"
    assert totals(med, 2025)["fund"] == "3898.40"
    assert totals(med, 2026)["fund"] == "3898.40"


def test_a_stay_over_new_year_counts_in_the_year_of_discharge(tmp_path: Path) -> None:
    # issue 12: the totals were the discharge year's, but the deductible and the cap were read
    # on the admission day. From 2026 (a test policy): deductible 1000, yearly cap 5000.
    by_level = '{ tertiary = "1000", secondary = "500", primary = "200" }'
    med = Medical(
        policy_with(
            tmp_path,
            f"""
[[parameter]]
name = "medical.inpatient_deductible"
from = 2026-01-01
value = {{ employee_medical = {by_level}, resident_medical = {by_level} }}
source = "test"

[[parameter]]
name = "medical.yearly_fund_cap"
from = 2026-01-01
value = {{ employee_medical = "5000", resident_medical = "300000" }}
source = "test"
""",
        )
    )
    med.enrol(PATIENT)
    december = [line("treatment", "5000.00")]
    amounts(
        med.submit(
            claim("C1", admitted=date(2025, 12, 1), discharged=date(2025, 12, 5), lines=december)
        )
    )
    over = claim(
        "C2",
        admitted=date(2025, 12, 29),
        discharged=date(2026, 1, 4),
        lines=[line("treatment", "10000.00")],
    )
    answer = med.submit(over)
    got = amounts(answer)
    # (10000 - 1000) x 80% = 7200, cut to the 2026 cap of 5000
    assert (got["deductible"], got["fund_payment"]) == ("1000.00", "5000.00")
    assert answer.year == 2026 and str(answer.ytd_fund_paid) == "5000.00"
    assert totals(med, 2025)["fund"] == "3360.00"  # (5000 - 800) x 80%, 2025 alone
    assert totals(med, 2026)["fund"] == "5000.00"


# duplicates, cancellation, resubmission ---------------------------------------------------------


def test_a_resent_identical_claim_gets_the_same_answer_and_no_second_payment(med: Medical) -> None:
    first = med.submit(claim())
    again = med.submit(claim())
    assert again == first
    assert totals(med)["fund"] == "3898.40"


def test_the_same_claim_id_with_another_body_is_refused(med: Medical) -> None:
    med.submit(claim())
    changed = claim(lines=[line("treatment", "50.00")])
    assert med.submit(changed).reasons == ["duplicate_claim_different_body"]
    assert totals(med)["fund"] == "3898.40"


def test_cancellation_after_later_claims_reverses_exactly(med: Medical) -> None:
    med.submit(claim("C1", lines=[line("treatment", "100000.00")]))
    later = med.submit(
        claim(
            "C2",
            lines=[line("treatment", "60000.00")],
            admitted=date(2025, 2, 1),
            discharged=date(2025, 2, 9),
        )
    )
    cancelled = med.cancel(claim("C1", lines=[line("treatment", "100000.00")]))
    assert cancelled.outcome == m.CancellationOutcome.CANCELLED
    assert cancelled.reversed is not None and str(cancelled.reversed.fund_payment) == "79360.00"
    # only the later claim remains in the totals, with what it was actually paid
    assert totals(med) == {
        "fund": "47360.00",
        "in_scope_out_of_pocket": "12640.00",
        "serious_illness": str(later.amounts.serious_illness_payment),
        "assistance": "0.00",
        "outpatient_pool": "0.00",
    }
    assert str(cancelled.ytd_fund_paid) == "47360.00"


def test_a_resubmission_is_settled_afresh_against_the_corrected_totals(med: Medical) -> None:
    big = [line("treatment", "499800.00")]
    med.submit(claim("C1", lines=big))  # fund 399200
    med.submit(
        claim(
            "C2",
            lines=[line("treatment", "2000.00")],
            admitted=date(2025, 2, 1),
            discharged=date(2025, 2, 3),
        )
    )  # only 800 left of the cap
    med.cancel(
        claim(
            "C2",
            lines=[line("treatment", "2000.00")],
            admitted=date(2025, 2, 1),
            discharged=date(2025, 2, 3),
        )
    )
    med.cancel(claim("C1", lines=big))
    again = amounts(
        med.submit(
            claim(
                "C2",
                lines=[line("treatment", "2000.00")],
                admitted=date(2025, 2, 1),
                discharged=date(2025, 2, 3),
            )
        )
    )
    assert again["fund_payment"] == "960.00"  # (2000 - 800) x 0.8, the cap no longer in the way


def test_cancellation_refusals(med: Medical) -> None:
    assert med.cancel(claim("NOPE")).reasons == ["unknown_claim"]
    med.submit(claim())
    other_patient = claim(patient=citizen_id(9))
    assert med.cancel(other_patient).reasons == ["unknown_claim"]
    assert med.cancel(claim()).outcome == m.CancellationOutcome.CANCELLED
    assert med.cancel(claim()).reasons == ["claim_already_cancelled"]
    wrong_topic = m.ClaimCancellation(hospital=H2, claim_id="C1", patient_citizen_id=PATIENT)
    answer = med._through(
        med.ingest.send(wrong_topic, topic=m.CLAIMS.named(code=H3), topic_fields={"code": H3})
    )
    assert answer.reasons == ["hospital_mismatch"]


# statements ------------------------------------------------------------------------------------


def test_monthly_statement_against_the_budget(med: Medical) -> None:
    med.submit(claim("C1"))
    med.submit(claim("C2", admitted=date(2025, 1, 20), discharged=date(2025, 1, 25)))
    med.cancel(claim("C2", admitted=date(2025, 1, 20), discharged=date(2025, 1, 25)))
    med.submit(claim("C3", patient=citizen_id(8)))  # not insured
    (due,) = [x for x in med.adjudicate.send(m.CloseMonth(month="2025-01")) if x.key == H3]
    (statement,) = med.statements.send(due.message)
    s = statement.message
    assert (s.claims_settled, s.claims_cancelled, s.claims_rejected) == (2, 1, 1)
    assert str(s.fund_payment) == "3898.40"
    assert str(s.annual_budget) == "36000000.00" and s.budget_used == "0.0001"
    assert statement.topic == m.SETTLEMENTS.named(code=H3)


def _statement(med: Medical, hospital: str, month: str) -> m.MonthlyStatement:
    (due,) = [x for x in med.adjudicate.send(m.CloseMonth(month=month)) if x.key == hospital]
    (statement,) = med.statements.send(due.message)
    return statement.message


def test_statements_count_claims_in_the_month_they_were_settled(med: Medical) -> None:
    # issue 12: a claim counted in the month of its stay, and a March statement closed after
    # May counted May's claims in its year to date. Employee, secondary: (x - 500) x 85%.
    def stay(claim_id: str, admitted: date, discharged: date, amount: str) -> m.ClaimSubmitted:
        lines = [line("treatment", amount)]
        return claim(claim_id, hospital=H2, lines=lines, admitted=admitted, discharged=discharged)

    january = stay("S0", date(2025, 1, 10), date(2025, 1, 12), "1000.00")  # 425.00
    med.submit(january, when=at(date(2025, 1, 12)))
    february = stay("S1", date(2025, 2, 20), date(2025, 2, 26), "2000.00")  # 1275.00
    med.submit(february, when=at(date(2025, 3, 2)))  # settled in March
    march = stay("S2", date(2025, 3, 3), date(2025, 3, 8), "1500.00")  # 850.00
    med.submit(march, when=at(date(2025, 3, 8)))
    may = stay("S3", date(2025, 5, 5), date(2025, 5, 9), "3000.00")  # 2125.00
    med.submit(may, when=at(date(2025, 5, 9)))
    med.cancel(march, when=at(date(2025, 5, 12)))  # reversed in May
    # 31 March 17:00 UTC is 1 April in China: settled in April
    april = stay("S4", date(2025, 3, 25), date(2025, 3, 31), "500.00")  # below the deductible
    med.submit(april, when=datetime(2025, 3, 31, 17, tzinfo=UTC))

    s = _statement(med, H2, "2025-03")
    assert (s.claims_settled, s.claims_cancelled, s.claims_rejected) == (2, 0, 0)
    assert str(s.fund_payment) == "2125.00"  # 1275 + 850
    assert str(s.year_to_date_fund_payment) == "2550.00"  # + January's 425, nothing of May
    february_s = _statement(med, H2, "2025-02")
    assert (february_s.claims_settled, str(february_s.fund_payment)) == (0, "0.00")
    assert str(february_s.year_to_date_fund_payment) == "425.00"
    assert _statement(med, H2, "2025-04").claims_settled == 1
    s = _statement(med, H2, "2025-05")
    assert (s.claims_settled, s.claims_cancelled, str(s.fund_payment)) == (1, 1, "1275.00")
    assert str(s.year_to_date_fund_payment) == "3825.00"  # 425 + 2125 + 0 + 1275


def test_an_interruption_of_contributions_refuses_claims_after_the_grace(med: Medical) -> None:
    from shebao_contracts import contributions as k

    ref = med.ref(PATIENT)
    med.coverage.send(
        k.InterruptionOpened(
            person=ref,
            region="320100",
            since="2024-09",
            judged_through="2024-11",
            months_uncredited=3,
        )
    )
    assert med.submit(claim()).reasons == ["contributions_in_arrears"]
    med.coverage.send(
        k.InterruptionClosed(
            person=ref,
            region="320100",
            since="2024-09",
            closed_by="arrears_paid",
            credited="2024-09",
        )
    )
    assert med.submit(claim()).outcome == m.Outcome.SETTLED


def test_claims_and_decisions_are_read_compiled() -> None:
    """The composition root names the messages whose reading the compiled codec pays for (a
    claim's lines, a decision's amounts): they come back as pydantic reads them."""
    from shebao_common.runtime import compiled
    from shebao_medical_settlement.main import MedicalSettings, create_runtime

    create_runtime(MedicalSettings())
    for model in (m.ClaimSubmitted, m.ClaimReceived, m.ClaimSettled, m.ClaimCancelled):
        c = compiled.compiled(model)
        assert c is not None and c.reads, model.__name__
    body = m.ClaimSubmitted.model_validate(m.ClaimSubmitted.EXAMPLE).model_dump_json().encode()
    fast = compiled.decode(m.ClaimSubmitted, body)
    assert fast is not None and fast == m.ClaimSubmitted.model_validate_json(body)
