"""Every enrollment rule and every rejection reason, on the pure handlers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from enrollment_harness import Domain, citizen_id, rejection, types

from shebao_common.policy import Policy
from shebao_contracts import enrollment as c
from shebao_contracts.envelope import Message

NJ, SZ, SQ = "320100", "320500", "321300"  # Nanjing, Suzhou, Suqian
EMP_NJ = "91320100MA1AAAAA1A"
EMP_SZ = "91320500MA1BBBBB2B"
WAGE = Decimal("8500.00")
ALICE = citizen_id(date(1990, 3, 7), male=False)
BOB = citizen_id(date(1985, 6, 1), male=True, n=1)


@pytest.fixture(params=[None, 3], ids=["one-slot", "partitioned"])
def d(request: pytest.FixtureRequest) -> Domain:
    """The rules hold alike in one slot and partitioned (each record reads and writes only what
    its partition keeps; a command keyed by citizen ID is handed to its person's partition)."""
    dom = Domain(partitions=request.param)
    for code, region in ((EMP_NJ, NJ), (EMP_SZ, SZ)):
        dom.send(
            c.RegisterEmployer(
                employer=code,
                name="示例单位",
                region=region,
                ownership=c.Ownership.PRIVATE,
                risk_class=3,
                registered_on=date(2020, 1, 1),
            )
        )
    for cid in (ALICE, BOB):
        dom.send(
            c.RegisterPerson(
                citizen_id=cid,
                name="测试",
                hukou_region=NJ,
                residence=c.Residence.URBAN,
                registered_on=date(2020, 1, 1),
            )
        )
    return dom


def employ(d: Domain, cid: str, employer: str = EMP_NJ, on: date = date(2024, 3, 1)) -> list:
    return d.send(
        c.StartEmployment(citizen_id=cid, employer=employer, start_date=on, monthly_wage=WAGE)
    )


def leave(
    d: Domain,
    cid: str,
    employer: str = EMP_NJ,
    on: date = date(2024, 12, 31),
    separation: c.Separation = c.Separation.INVOLUNTARY,
) -> list:
    return d.send(
        c.EndEmployment(citizen_id=cid, employer=employer, end_date=on, separation=separation)
    )


def active(d: Domain, cid: str) -> dict[str, str]:
    return {m.scheme.value: m.region for m in d.person(cid).memberships if m.active}


def suspended(d: Domain, cid: str) -> dict[str, str]:
    return {m.scheme.value: m.region for m in d.person(cid).memberships if not m.active}


# registration ---------------------------------------------------------------------------------


def test_register_person_derives_birth_date_and_sex_and_hides_the_id(d: Domain) -> None:
    cid = citizen_id(date(2001, 2, 3), male=True, n=7)
    events = d.send(
        c.RegisterPerson(
            citizen_id=cid,
            name="李雷",
            hukou_region=SQ,
            residence=c.Residence.RURAL,
            registered_on=date(2024, 1, 2),
        )
    )
    (ev,) = events
    assert isinstance(ev, c.PersonRegistered)
    assert ev.birth_date == date(2001, 2, 3) and ev.sex == c.Sex.MALE
    assert ev.person == d.ref(cid) and cid not in ev.model_dump_json()
    assert d.person(cid).citizen_id == cid  # the raw ID stays in enrollment's own store


def test_register_person_twice_is_refused(d: Domain) -> None:
    events = d.send(
        c.RegisterPerson(
            citizen_id=ALICE,
            name="x",
            hukou_region=NJ,
            residence=c.Residence.URBAN,
            registered_on=date(2024, 1, 1),
        )
    )
    assert rejection(events) == "person_already_registered"


def test_register_employer_twice_is_refused(d: Domain) -> None:
    events = d.send(
        c.RegisterEmployer(
            employer=EMP_NJ,
            name="x",
            region=NJ,
            ownership=c.Ownership.STATE,
            risk_class=1,
            registered_on=date(2024, 1, 1),
        )
    )
    assert rejection(events) == "employer_already_registered"


def test_commands_for_an_unregistered_person_are_refused(d: Domain) -> None:
    stranger = citizen_id(date(1970, 1, 1), n=99)
    assert rejection(employ(d, stranger)) == "person_not_registered"


# employment -------------------------------------------------------------------------------------


def test_employment_enrols_the_five_employee_insurances(d: Domain) -> None:
    events = employ(d, ALICE)
    assert types(events).count("MembershipStarted") == 5
    assert "EmploymentStarted" in types(events)
    assert active(d, ALICE) == {s.value: NJ for s in c.EMPLOYEE_SCHEMES}
    injury = d.person(ALICE).membership(c.Scheme.WORK_INJURY)
    assert injury is not None and injury.risk_class == 3
    started = [e for e in events if isinstance(e, c.MembershipStarted)]
    assert all(e.declared_base == WAGE and e.employer == EMP_NJ for e in started)


def test_only_a_registered_employer_employs(d: Domain) -> None:
    events = employ(d, ALICE, employer="91320100MA1ZZZZZ9Z")
    assert rejection(events) == "employer_not_registered"


def test_a_second_employment_is_refused(d: Domain) -> None:
    employ(d, ALICE)
    assert rejection(employ(d, ALICE, EMP_SZ)) == "already_employed"


def test_employee_schemes_need_working_age(d: Domain) -> None:
    teen = citizen_id(date(2010, 5, 1), n=3)
    d.send(
        c.RegisterPerson(
            citizen_id=teen,
            name="x",
            hukou_region=NJ,
            residence=c.Residence.URBAN,
            registered_on=date(2024, 1, 1),
        )
    )
    assert rejection(employ(d, teen, on=date(2025, 4, 30))) == "below_working_age"
    assert rejection(employ(d, teen, on=date(2026, 5, 1))) is None


@pytest.mark.parametrize(
    ("male", "born", "refused"),
    [
        (True, date(1965, 3, 1), True),  # 60 on 2025-03-01
        (True, date(1965, 3, 2), False),  # 59 for one more day
        (False, date(1970, 3, 1), True),  # 55
        (False, date(1970, 3, 2), False),
    ],
)
def test_employee_schemes_end_at_retirement_age(
    d: Domain, male: bool, born: date, refused: bool
) -> None:
    cid = citizen_id(born, male=male, n=4)
    d.send(
        c.RegisterPerson(
            citizen_id=cid,
            name="x",
            hukou_region=NJ,
            residence=c.Residence.URBAN,
            registered_on=date(2024, 1, 1),
        )
    )
    reason = rejection(employ(d, cid, on=date(2025, 3, 1)))
    assert reason == ("above_retirement_age" if refused else None)


def test_ending_an_employment_suspends_the_employee_schemes(d: Domain) -> None:
    employ(d, ALICE)
    events = leave(d, ALICE)
    assert types(events).count("MembershipSuspended") == 5
    ended = next(e for e in events if isinstance(e, c.EmploymentEnded))
    assert ended.separation == c.Separation.INVOLUNTARY
    assert active(d, ALICE) == {} and len(suspended(d, ALICE)) == 5


def test_ending_an_employment_that_does_not_exist_is_refused(d: Domain) -> None:
    assert rejection(leave(d, ALICE)) == "no_such_employment"
    employ(d, ALICE)
    assert rejection(leave(d, ALICE, employer=EMP_SZ)) == "no_such_employment"


def test_an_employment_cannot_end_before_it_started(d: Domain) -> None:
    employ(d, ALICE, on=date(2024, 3, 1))
    assert rejection(leave(d, ALICE, on=date(2024, 2, 28))) == "date_before_start"


def test_a_new_job_in_the_same_region_resumes_the_memberships(d: Domain) -> None:
    employ(d, ALICE)
    leave(d, ALICE)
    events = employ(d, ALICE, on=date(2025, 2, 1))
    assert types(events).count("MembershipResumed") == 5
    pension = d.person(ALICE).membership(c.Scheme.EMPLOYEE_PENSION)
    assert pension is not None and pension.first_enrolled == date(2024, 3, 1)


def test_a_job_in_another_region_needs_a_transfer_first(d: Domain) -> None:
    employ(d, ALICE)
    leave(d, ALICE)
    assert rejection(employ(d, ALICE, EMP_SZ, on=date(2025, 2, 1))) == "transfer_required"


# pension and medical exclusivity ---------------------------------------------------------------


def test_employment_ends_an_active_resident_pension(d: Domain) -> None:
    d.send(
        c.EnrolResidentPension(
            citizen_id=ALICE, region=NJ, start_date=date(2023, 1, 1), yearly_tier=500
        )
    )
    d.send(c.EnrolResidentMedical(citizen_id=ALICE, region=NJ, start_date=date(2023, 1, 1)))
    events = employ(d, ALICE)
    ended = {e.scheme for e in events if isinstance(e, c.MembershipEnded)}
    assert ended == {c.Scheme.RESIDENT_PENSION, c.Scheme.RESIDENT_MEDICAL}
    assert all(
        e.reason == c.StopReason.SWITCHED_SCHEME for e in events if isinstance(e, c.MembershipEnded)
    )
    assert "resident_pension" not in active(d, ALICE)


def test_resident_pension_is_refused_while_in_the_employee_scheme(d: Domain) -> None:
    employ(d, ALICE)
    events = d.send(
        c.EnrolResidentPension(
            citizen_id=ALICE, region=NJ, start_date=date(2024, 6, 1), yearly_tier=500
        )
    )
    assert rejection(events) == "already_in_pension_scheme"


def test_resident_pension_twice_is_refused(d: Domain) -> None:
    cmd = c.EnrolResidentPension(
        citizen_id=BOB, region=NJ, start_date=date(2024, 1, 1), yearly_tier=300
    )
    d.send(cmd)
    assert rejection(d.send(cmd)) == "already_in_pension_scheme"


def test_resident_medical_is_refused_while_in_the_employee_scheme(d: Domain) -> None:
    employ(d, ALICE)
    events = d.send(
        c.EnrolResidentMedical(citizen_id=ALICE, region=NJ, start_date=date(2024, 6, 1))
    )
    assert rejection(events) == "already_in_medical_scheme"


def test_suspended_employee_pension_allows_the_resident_scheme(d: Domain) -> None:
    employ(d, ALICE)
    leave(d, ALICE)
    events = d.send(
        c.EnrolResidentPension(
            citizen_id=ALICE, region=NJ, start_date=date(2025, 1, 1), yearly_tier=500
        )
    )
    assert rejection(events) is None
    assert active(d, ALICE) == {"resident_pension": NJ}


@pytest.mark.parametrize(
    ("born", "refused"),
    [
        (date(2009, 1, 2), True),  # 15 on 2025-01-01
        (date(2009, 1, 1), False),  # 16
        (date(1965, 1, 2), False),  # 59
        (date(1965, 1, 1), True),  # 60
    ],
)
def test_resident_pension_contributions_from_16_to_59(d: Domain, born: date, refused: bool) -> None:
    cid = citizen_id(born, n=5)
    d.send(
        c.RegisterPerson(
            citizen_id=cid,
            name="x",
            hukou_region=NJ,
            residence=c.Residence.RURAL,
            registered_on=date(2024, 1, 1),
        )
    )
    events = d.send(
        c.EnrolResidentPension(
            citizen_id=cid, region=NJ, start_date=date(2025, 1, 1), yearly_tier=100
        )
    )
    assert rejection(events) == ("age_outside_resident_pension" if refused else None)


def test_resident_pension_tier_must_be_a_policy_tier(d: Domain) -> None:
    events = d.send(
        c.EnrolResidentPension(
            citizen_id=BOB, region=NJ, start_date=date(2024, 1, 1), yearly_tier=1200
        )
    )
    assert rejection(events) == "invalid_tier"


def test_choosing_a_tier_needs_the_resident_scheme(d: Domain) -> None:
    cmd = c.ChooseResidentPensionTier(citizen_id=BOB, year=2025, yearly_tier=1000)
    assert rejection(d.send(cmd)) == "not_enrolled"
    d.send(
        c.EnrolResidentPension(
            citizen_id=BOB, region=NJ, start_date=date(2024, 1, 1), yearly_tier=300
        )
    )
    (ev,) = d.send(cmd)
    assert isinstance(ev, c.ResidentPensionTierChosen) and ev.yearly_tier == 1000
    bad = c.ChooseResidentPensionTier(citizen_id=BOB, year=2025, yearly_tier=150)
    assert rejection(d.send(bad)) == "invalid_tier"


# flexible workers -------------------------------------------------------------------------------


def test_flexible_worker_joins_pension_and_medical(d: Domain) -> None:
    events = d.send(
        c.EnrolFlexibleWorker(
            citizen_id=BOB, region=SZ, start_date=date(2024, 7, 1), declared_base=Decimal("6000.00")
        )
    )
    assert rejection(events) is None
    assert active(d, BOB) == {"employee_pension": SZ, "employee_medical": SZ}


def test_flexible_unemployment_only_where_the_region_offers_it(d: Domain) -> None:
    base = {
        "citizen_id": BOB,
        "start_date": date(2024, 7, 1),
        "declared_base": "6000.00",
        "unemployment": True,
    }
    refused = d.send(c.EnrolFlexibleWorker(region=SQ, **base))
    assert rejection(refused) == "unemployment_not_offered_to_flexible_workers"
    d.send(c.EnrolFlexibleWorker(region=NJ, **base))
    assert "unemployment" in active(d, BOB)


def test_an_employee_cannot_enrol_as_flexible_worker(d: Domain) -> None:
    employ(d, BOB)
    events = d.send(
        c.EnrolFlexibleWorker(
            citizen_id=BOB, region=NJ, start_date=date(2024, 7, 1), declared_base=Decimal("6000.00")
        )
    )
    assert rejection(events) == "already_employed"


def test_a_flexible_worker_twice_is_refused(d: Domain) -> None:
    cmd = c.EnrolFlexibleWorker(
        citizen_id=BOB, region=NJ, start_date=date(2024, 7, 1), declared_base=Decimal("6000.00")
    )
    d.send(cmd)
    assert rejection(d.send(cmd)) == "already_in_pension_scheme"


def test_a_flexible_worker_who_finds_a_job_changes_terms(d: Domain) -> None:
    d.send(
        c.EnrolFlexibleWorker(
            citizen_id=BOB, region=NJ, start_date=date(2024, 7, 1), declared_base=Decimal("6000.00")
        )
    )
    events = employ(d, BOB, on=date(2024, 9, 1))
    changed = {e.scheme for e in events if isinstance(e, c.MembershipChanged)}
    assert changed == {c.Scheme.EMPLOYEE_PENSION, c.Scheme.EMPLOYEE_MEDICAL}
    pension = d.person(BOB).membership(c.Scheme.EMPLOYEE_PENSION)
    assert pension is not None and pension.basis == c.Basis.EMPLOYMENT
    assert pension.first_enrolled == date(2024, 7, 1)


def test_a_flexible_worker_elsewhere_needs_a_transfer_for_a_job(d: Domain) -> None:
    d.send(
        c.EnrolFlexibleWorker(
            citizen_id=BOB, region=SZ, start_date=date(2024, 7, 1), declared_base=Decimal("6000.00")
        )
    )
    assert rejection(employ(d, BOB, EMP_NJ, on=date(2024, 9, 1))) == "transfer_required"


# land-expropriated farmers ------------------------------------------------------------------------


def test_land_expropriated_scheme_is_for_rural_residents(d: Domain) -> None:
    cmd = c.EnrolLandExpropriatedFarmer(
        citizen_id=ALICE, region=SQ, start_date=date(2024, 5, 1), expropriation_record="ZD-1"
    )
    assert rejection(d.send(cmd)) == "not_rural_resident"


def test_land_expropriated_scheme_replaces_the_resident_pension(d: Domain) -> None:
    farmer = citizen_id(date(1968, 8, 8), n=6)
    d.send(
        c.RegisterPerson(
            citizen_id=farmer,
            name="x",
            hukou_region=SQ,
            residence=c.Residence.RURAL,
            registered_on=date(2020, 1, 1),
        )
    )
    d.send(
        c.EnrolResidentPension(
            citizen_id=farmer, region=SQ, start_date=date(2021, 1, 1), yearly_tier=200
        )
    )
    events = d.send(
        c.EnrolLandExpropriatedFarmer(
            citizen_id=farmer,
            region=SQ,
            start_date=date(2024, 5, 1),
            expropriation_record="ZD-321300-2024-0117",
        )
    )
    assert types(events) == ["MembershipEnded", "MembershipStarted"]
    assert active(d, farmer) == {"land_expropriated_pension": SQ}
    employ_refused = d.send(
        c.EnrolLandExpropriatedFarmer(
            citizen_id=farmer, region=SQ, start_date=date(2024, 6, 1), expropriation_record="ZD-2"
        )
    )
    assert rejection(employ_refused) == "already_in_pension_scheme"


# transfers ----------------------------------------------------------------------------------------


def _transfer_out(
    d: Domain, cid: str, tid: str = "TR-1", to: str = SZ, on: date = date(2025, 1, 10)
) -> list:
    return d.send(
        c.TransferOut(
            citizen_id=cid,
            transfer_id=tid,
            to_region=to,
            date=on,
            insurances=(c.Insurance.PENSION, c.Insurance.MEDICAL, c.Insurance.UNEMPLOYMENT),
        )
    )


def test_transfer_out_and_in_are_one_story(d: Domain) -> None:
    employ(d, ALICE)
    leave(d, ALICE)
    out = _transfer_out(d, ALICE)
    moved = next(e for e in out if isinstance(e, c.PersonTransferredOut))
    assert set(moved.schemes) == {
        c.Scheme.EMPLOYEE_PENSION,
        c.Scheme.EMPLOYEE_MEDICAL,
        c.Scheme.UNEMPLOYMENT,
    }
    assert all(e.transfer_id == "TR-1" for e in out if isinstance(e, c.MembershipEnded))
    inn = d.send(
        c.TransferIn(
            citizen_id=ALICE, transfer_id="TR-1", region=SZ, from_region=NJ, date=date(2025, 1, 20)
        )
    )
    arrived = next(e for e in inn if isinstance(e, c.PersonTransferredIn))
    assert arrived.transfer_id == moved.transfer_id and arrived.within_province
    started = [e for e in inn if isinstance(e, c.MembershipStarted)]
    assert {e.first_enrolled for e in started} == {date(2024, 3, 1)}  # continuity kept
    assert suspended(d, ALICE)["employee_pension"] == SZ
    # a job in the new region resumes the transferred relationships
    events = employ(d, ALICE, EMP_SZ, on=date(2025, 2, 1))
    assert rejection(events) is None
    resumed = {e.scheme for e in events if isinstance(e, c.MembershipResumed)}
    assert resumed == {c.Scheme.EMPLOYEE_PENSION, c.Scheme.EMPLOYEE_MEDICAL, c.Scheme.UNEMPLOYMENT}
    # work injury and maternity carry nothing over: they end in Nanjing and start in Suzhou
    assert active(d, ALICE) == {s.value: SZ for s in c.EMPLOYEE_SCHEMES}


def test_transfer_refusals(d: Domain) -> None:
    assert rejection(_transfer_out(d, BOB)) == "nothing_to_transfer"
    employ(d, ALICE)
    assert rejection(_transfer_out(d, ALICE)) == "still_employed_in_region"
    assert rejection(_transfer_out(d, ALICE, to=NJ)) == "same_region"
    leave(d, ALICE)
    assert rejection(_transfer_out(d, ALICE)) is None
    assert rejection(_transfer_out(d, ALICE, tid="TR-1")) == "transfer_id_in_use"
    wrong_region = c.TransferIn(
        citizen_id=ALICE, transfer_id="TR-1", region=SQ, from_region=NJ, date=date(2025, 1, 20)
    )
    assert rejection(d.send(wrong_region)) == "unknown_transfer"
    unknown = c.TransferIn(
        citizen_id=ALICE, transfer_id="TR-9", region=SZ, from_region=NJ, date=date(2025, 1, 20)
    )
    assert rejection(d.send(unknown)) == "unknown_transfer"


def test_transfer_in_from_another_province(d: Domain) -> None:
    events = d.send(
        c.TransferIn(
            citizen_id=BOB,
            transfer_id="SH-77",
            region=NJ,
            from_region="310100",
            date=date(2025, 3, 1),
        )
    )
    arrived = next(e for e in events if isinstance(e, c.PersonTransferredIn))
    assert not arrived.within_province
    assert suspended(d, BOB) == {"employee_pension": NJ, "employee_medical": NJ}


# card and death --------------------------------------------------------------------------------


def test_card_issue_and_replacement(d: Domain) -> None:
    (ev,) = d.send(
        c.IssueCard(citizen_id=ALICE, card_number="A1234567", issued_on=date(2024, 1, 5))
    )
    assert isinstance(ev, c.CardIssued) and ev.replaces is None
    again = d.send(
        c.IssueCard(citizen_id=ALICE, card_number="A7654321", issued_on=date(2024, 2, 5))
    )
    assert rejection(again) == "card_already_issued"
    (rep,) = d.send(
        c.ReplaceCard(
            citizen_id=ALICE,
            card_number="A7654321",
            issued_on=date(2025, 2, 1),
            reason=c.CardReplacement.LOST,
        )
    )
    assert isinstance(rep, c.CardIssued) and rep.replaces == "A1234567"
    assert d.person(ALICE).card is not None and d.person(ALICE).card.number == "A7654321"


def test_card_refusals(d: Domain) -> None:
    replace = c.ReplaceCard(
        citizen_id=BOB,
        card_number="B1234567",
        issued_on=date(2025, 2, 1),
        reason=c.CardReplacement.DAMAGED,
    )
    assert rejection(d.send(replace)) == "no_card_to_replace"
    d.send(c.IssueCard(citizen_id=ALICE, card_number="A1234567", issued_on=date(2024, 1, 5)))
    taken = c.IssueCard(citizen_id=BOB, card_number="A1234567", issued_on=date(2024, 1, 5))
    assert rejection(d.send(taken)) == "card_number_in_use"


def test_death_ends_every_membership_and_refuses_later_commands(d: Domain) -> None:
    employ(d, ALICE)
    d.send(c.IssueCard(citizen_id=ALICE, card_number="A1234567", issued_on=date(2024, 1, 5)))
    events = d.send(c.RecordDeath(citizen_id=ALICE, date_of_death=date(2025, 9, 30)))
    assert types(events).count("MembershipEnded") == 5
    assert isinstance(events[-1], c.PersonDeceased)
    assert d.person(ALICE).memberships == () and d.person(ALICE).card is None
    assert rejection(leave(d, ALICE)) == "person_deceased"
    assert (
        rejection(d.send(c.RecordDeath(citizen_id=ALICE, date_of_death=date(2025, 10, 1))))
        == "person_deceased"
    )


# coverage statistics -----------------------------------------------------------------------------


def test_coverage_counts_follow_active_memberships(d: Domain) -> None:
    employ(d, ALICE)
    d.send(
        c.EnrolResidentPension(
            citizen_id=BOB, region=NJ, start_date=date(2024, 1, 1), yearly_tier=500
        )
    )
    nj = "coverage:320100"
    assert d.counters[(nj, "pension")] == 2
    assert d.counters[(nj, "medical")] == 1
    assert d.counters[(nj, "scheme:resident_pension")] == 1
    leave(d, ALICE)
    assert d.counters[(nj, "pension")] == 1 and d.counters[(nj, "work_injury")] == 0


def test_rejections_name_the_command_and_never_the_citizen_id(d: Domain) -> None:
    events = employ(d, ALICE, employer="91320100MA1ZZZZZ9Z")
    (rej,) = events
    assert isinstance(rej, c.CommandRejected)
    assert rej.command_type == c.StartEmployment.TYPE and rej.person == d.ref(ALICE)
    assert ALICE not in rej.model_dump_json()


# transfers of every insurance ------------------------------------------------------------------


def test_a_transfer_moves_every_insurance_unless_the_command_says_otherwise(d: Domain) -> None:
    employ(d, ALICE)
    leave(d, ALICE)
    out = d.send(
        c.TransferOut(citizen_id=ALICE, transfer_id="TR-1", to_region=SZ, date=date(2025, 1, 10))
    )
    moved = next(e for e in out if isinstance(e, c.PersonTransferredOut))
    assert set(moved.schemes) == {
        c.Scheme.EMPLOYEE_PENSION,
        c.Scheme.EMPLOYEE_MEDICAL,
        c.Scheme.UNEMPLOYMENT,
    }
    d.send(
        c.TransferIn(
            citizen_id=ALICE, transfer_id="TR-1", region=SZ, from_region=NJ, date=date(2025, 1, 20)
        )
    )
    events = employ(d, ALICE, EMP_SZ, on=date(2025, 2, 1))
    assert rejection(events) is None
    assert active(d, ALICE) == {s.value: SZ for s in c.EMPLOYEE_SCHEMES}


def test_a_relationship_left_behind_is_refused_with_the_transfer_to_send(d: Domain) -> None:
    employ(d, ALICE)
    leave(d, ALICE)
    d.send(
        c.TransferOut(
            citizen_id=ALICE,
            transfer_id="TR-1",
            to_region=SZ,
            date=date(2025, 1, 10),
            insurances=(c.Insurance.PENSION, c.Insurance.MEDICAL),
        )
    )
    d.send(
        c.TransferIn(
            citizen_id=ALICE, transfer_id="TR-1", region=SZ, from_region=NJ, date=date(2025, 1, 20)
        )
    )
    (refused,) = [
        e for e in employ(d, ALICE, EMP_SZ, on=date(2025, 2, 1)) if isinstance(e, c.CommandRejected)
    ]
    assert refused.reason == "transfer_required"
    assert refused.detail == (
        "unemployment still in region 320100: send TransferOut (to_region 320500, insurances "
        "[unemployment]) and its TransferIn first"
    )
    # nothing transferred: every relationship to move is named
    employ(d, BOB)
    leave(d, BOB)
    (refused,) = [
        e for e in employ(d, BOB, EMP_SZ, date(2025, 2, 1)) if isinstance(e, c.CommandRejected)
    ]
    assert refused.detail == (
        "pension, medical, unemployment still in region 320100: send TransferOut (to_region "
        "320500, insurances [pension, medical, unemployment]) and its TransferIn first"
    )


# dates: a command may not describe the future (DOMAIN.md, Dates) --------------------------------
# "Now" is the command's record time (ce_time), read as a day of China Standard Time.

SENT = date(2025, 6, 10)
CAROL = citizen_id(date(1970, 8, 8), male=False, n=2)  # a rural resident


def _rural(d: Domain) -> None:
    d.send(
        c.RegisterPerson(
            citizen_id=CAROL,
            name="测试",
            hukou_region=SQ,
            residence=c.Residence.RURAL,
            registered_on=date(2020, 1, 1),
        )
    )


def _laid_off(d: Domain) -> None:
    employ(d, ALICE)
    leave(d, ALICE)


def _carded(d: Domain) -> None:
    d.send(c.IssueCard(citizen_id=ALICE, card_number="A1234567", issued_on=date(2024, 1, 5)))


Setup = Callable[[Domain], object] | None
DATED: dict[str, tuple[Setup, Callable[[date], Message]]] = {
    "RegisterEmployer": (
        None,
        lambda on: c.RegisterEmployer(
            employer="91320100MA1CCCCC3C",
            name="新单位",
            region=NJ,
            ownership=c.Ownership.PRIVATE,
            risk_class=1,
            registered_on=on,
        ),
    ),
    "RegisterPerson": (
        None,
        lambda on: c.RegisterPerson(
            citizen_id=citizen_id(date(1995, 1, 1), n=9),
            name="新人",
            hukou_region=NJ,
            residence=c.Residence.URBAN,
            registered_on=on,
        ),
    ),
    "StartEmployment": (
        None,
        lambda on: c.StartEmployment(
            citizen_id=ALICE, employer=EMP_NJ, start_date=on, monthly_wage=WAGE
        ),
    ),
    "EndEmployment": (
        lambda d: employ(d, ALICE),
        lambda on: c.EndEmployment(
            citizen_id=ALICE,
            employer=EMP_NJ,
            end_date=on,
            separation=c.Separation.INVOLUNTARY,
        ),
    ),
    "EnrolFlexibleWorker": (
        None,
        lambda on: c.EnrolFlexibleWorker(
            citizen_id=ALICE, region=NJ, start_date=on, declared_base=Decimal("6000.00")
        ),
    ),
    "EnrolResidentPension": (
        None,
        lambda on: c.EnrolResidentPension(
            citizen_id=ALICE, region=NJ, start_date=on, yearly_tier=500
        ),
    ),
    "EnrolResidentMedical": (
        None,
        lambda on: c.EnrolResidentMedical(citizen_id=ALICE, region=NJ, start_date=on),
    ),
    "EnrolLandExpropriatedFarmer": (
        _rural,
        lambda on: c.EnrolLandExpropriatedFarmer(
            citizen_id=CAROL, region=SQ, start_date=on, expropriation_record="ZD-1"
        ),
    ),
    "TransferOut": (
        _laid_off,
        lambda on: c.TransferOut(citizen_id=ALICE, transfer_id="TR-9", to_region=SZ, date=on),
    ),
    "TransferIn": (
        None,
        lambda on: c.TransferIn(
            citizen_id=ALICE, transfer_id="TR-X", region=NJ, from_region="110000", date=on
        ),
    ),
    "IssueCard": (
        None,
        lambda on: c.IssueCard(citizen_id=ALICE, card_number="A7654321", issued_on=on),
    ),
    "ReplaceCard": (
        _carded,
        lambda on: c.ReplaceCard(
            citizen_id=ALICE,
            card_number="A7654321",
            issued_on=on,
            reason=c.CardReplacement.LOST,
        ),
    ),
    "RecordDeath": (None, lambda on: c.RecordDeath(citizen_id=ALICE, date_of_death=on)),
}
NOT_AN_EVENT = {"ChooseResidentPensionTier"}  # next year's tier is chosen in advance


def test_every_command_dates_an_event_or_is_named_as_dating_none() -> None:
    assert {m.__name__ for m in c.COMMANDS.messages} == set(DATED) | NOT_AN_EVENT


@pytest.mark.parametrize("kind", list(DATED))
def test_an_event_after_the_day_the_command_is_sent_is_refused(d: Domain, kind: str) -> None:
    setup, make = DATED[kind]
    if setup is not None:
        setup(d)
    store, counters = dict(d.store), dict(d.counters)
    tomorrow = SENT + timedelta(days=1)
    events = d.send(make(tomorrow), when=SENT)
    assert types(events) == ["CommandRejected"]
    assert rejection(events) == "service_date_in_future"
    assert f"on {tomorrow} is after {SENT}" in events[0].detail  # type: ignore[attr-defined]
    assert (d.store, dict(d.counters)) == (store, counters)  # nothing changed
    # the same command dating the day it is sent is applied
    assert rejection(d.send(make(SENT), when=SENT)) is None


def test_the_day_is_chinas() -> None:
    d = Domain()
    d.send(
        c.RegisterPerson(
            citizen_id=ALICE,
            name="测试",
            hukou_region=NJ,
            residence=c.Residence.URBAN,
            registered_on=date(2020, 1, 1),
        )
    )
    death = c.RecordDeath(citizen_id=ALICE, date_of_death=date(2025, 1, 15))
    eve = datetime(2025, 1, 14, 15, 59, tzinfo=UTC)  # 14 January, 23:59 in Nanjing
    assert rejection(d.send(death, when=eve)) == "service_date_in_future"
    assert rejection(d.send(death, when=eve.replace(hour=16, minute=0))) is None


def test_a_person_born_after_the_command_is_refused() -> None:
    d = Domain()
    unborn = citizen_id(SENT + timedelta(days=1), n=3)
    register = c.RegisterPerson(
        citizen_id=unborn,
        name="未出生",
        hukou_region=NJ,
        residence=c.Residence.URBAN,
        registered_on=SENT,
    )
    (refused,) = d.send(register, when=SENT)
    assert isinstance(refused, c.CommandRejected)
    assert refused.reason == "service_date_in_future" and "birth" in refused.detail
    assert unborn not in refused.model_dump_json()
    newborn = register.model_copy(update={"citizen_id": citizen_id(SENT, n=3)})
    assert rejection(d.send(newborn, when=SENT)) is None  # registered on the day of birth


def test_next_years_tier_is_chosen_in_advance(d: Domain) -> None:
    d.send(
        c.EnrolResidentPension(
            citizen_id=BOB, region=NJ, start_date=date(2024, 1, 1), yearly_tier=500
        )
    )
    choice = c.ChooseResidentPensionTier(citizen_id=BOB, year=SENT.year + 1, yearly_tier=1000)
    assert types(d.send(choice, when=SENT)) == ["ResidentPensionTierChosen"]


def test_the_date_is_judged_before_anything_the_state_says(d: Domain) -> None:
    stranger = citizen_id(date(1980, 1, 1), n=11)  # not registered
    death = c.RecordDeath(citizen_id=stranger, date_of_death=SENT + timedelta(days=30))
    assert rejection(d.send(death, when=SENT)) == "service_date_in_future"
    assert rejection(d.send(death, when=SENT + timedelta(days=30))) == "person_not_registered"


def test_a_ce_time_from_before_any_tolerance_is_answered_not_a_handler_error(d: Domain) -> None:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    death = c.RecordDeath(citizen_id=BOB, date_of_death=date(2025, 1, 1))
    assert rejection(d.send(death, when=epoch)) == "service_date_in_future"


def test_the_future_tolerance_is_a_parameter_of_the_region(tmp_path: Path) -> None:
    extra = tmp_path / "zz-test.toml"
    extra.write_text(
        """
[[parameter]]
name = "enrollment.future_event_tolerance_days"
region = "320100"
from = 2025-01-01
value = 3
source = "test"
""",
        encoding="utf-8",
    )
    d = Domain(policy=Policy.of("shebao_enrollment", [extra]))
    d.send(
        c.RegisterPerson(
            citizen_id=ALICE,
            name="测试",
            hukou_region=NJ,
            residence=c.Residence.URBAN,
            registered_on=date(2020, 1, 1),
        )
    )
    in_suqian = c.EnrolResidentMedical(
        citizen_id=ALICE, region=SQ, start_date=SENT + timedelta(days=3)
    )
    assert rejection(d.send(in_suqian, when=SENT)) == "service_date_in_future"
    in_nanjing = in_suqian.model_copy(update={"region": NJ})
    assert rejection(d.send(in_nanjing, when=SENT)) is None  # three days ahead in Nanjing
    later = c.EnrolResidentPension(
        citizen_id=ALICE, region=NJ, start_date=SENT + timedelta(days=4), yearly_tier=500
    )
    (refused,) = d.send(later, when=SENT)
    assert "by more than 3 days" in refused.detail  # type: ignore[attr-defined]
