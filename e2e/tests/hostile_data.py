"""The population of the hostile-partner suite and the claims' amounts worked out by hand: the
fixed facts that the forge, the verdict and the set-up all share."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from shebao_contracts import contributions as cc
from shebao_partners import citizen_id, claim_line, employer_code, example_lines

SEED = 11
T0 = datetime(2025, 1, 2, 8, tzinfo=UTC)
SENT_AT = datetime(2025, 1, 16, 9, tzinfo=UTC)  # ce_time of the partners' records
NJ, SQ = "320100", "321300"
HOSPITALS = {  # code: (level, region)
    "h320102001": ("tertiary", NJ),
    "h320105002": ("secondary", NJ),
    "h321302003": ("primary", SQ),
    "h321302004": ("secondary", SQ),
}
BUREAUS = {"t320100": NJ, "t321300": SQ}
MONTH = "2024-12"  # the month closed, whose assessments the bureaus collect

PAYERS = 55  # employers per bureau with one employee each; each pays once
TOLERATED_PAYERS = 5  # of which the last five pay with an empty, absent or binary key
VALID_CLAIMS = 100  # per hospital
TOLERATED_CLAIMS = 8  # per hospital: valid claims with an empty, absent or binary key
RESIDENTS = 12
PER_HOSPITAL = 1_650  # records per hospital and per bureau, all kinds together
PER_BUREAU = 1_800
WAVE = 1_000  # records per produce-and-flush
ANSWER_BOUND_S = 30.0  # a valid message's answer, after it was sent
ANSWER_WAIT_S = 75.0  # how long the test waits for the last answers
COLLECTED = cc.EmployerContributionsCollected.TYPE


# ---------------------------------------------------------------------------------------------
# The population


def cid(area: str, n: int) -> str:
    born = date(1975, 1, 1) + timedelta(days=17 * n)  # of working age: 35 to 49 in 2024
    return citizen_id(area, born, 7 * n)


NJ_EMP = [cid("320102", i) for i in range(PAYERS)]  # employee of NJ payer i: a patient
SQ_EMP = [cid("321302", 100 + i) for i in range(PAYERS)]
RES = [cid("321302", 200 + i) for i in range(RESIDENTS)]  # residents of Suqian: patients
SACRIFICE = {
    NJ: [cid("320102", 300), cid("320102", 301)],
    SQ: [cid("321302", 302), cid("321302", 303)],
}
"""Patients of the hostile claims, and employees of the employers the hostile collections name:
a hostile message wrongly accepted changes nothing a valid message's answer depends on."""
UNINSURED = [cid("320102", 310), cid("320102", 311)]  # registered, never insured
PAYER = {b: [employer_code(r, i) for i in range(PAYERS)] for b, r in BUREAUS.items()}
SPARE = {b: employer_code(r, 900) for b, r in BUREAUS.items()}
EMPLOYEES = {
    **{PAYER["t320100"][i]: [NJ_EMP[i]] for i in range(PAYERS)},
    **{PAYER["t321300"][i]: [SQ_EMP[i]] for i in range(PAYERS)},
    SPARE["t320100"]: SACRIFICE[NJ],
    SPARE["t321300"]: SACRIFICE[SQ],
}
REGION_OF_EMPLOYER = {e: e[2:8] for e in EMPLOYEES}
PATIENTS = NJ_EMP + SQ_EMP + RES + SACRIFICE[NJ] + SACRIFICE[SQ]
PAYER_SET = {e for b in BUREAUS for e in PAYER[b]}


# ---------------------------------------------------------------------------------------------
# Claims and their amounts, worked out by hand from the policy parameters (medical.toml):
# deductible per admission tertiary 800 / secondary 500 / primary 200; inpatient ratio employees
# 0.80 / 0.85 / 0.90, residents 0.70 / 0.75 / 0.80; class-B self-pay 10%; serious illness only
# above a yearly in-scope out-of-pocket of 30,000 (employees) or 20,000 (residents).


def settled(
    submitted: str, outside: str, b_self: str, eligible: str, deductible: str, fund: str, pays: str
) -> dict[str, str]:
    return {
        "submitted": submitted,
        "outside_scope": outside,
        "class_b_self_pay": b_self,
        "eligible": eligible,
        "deductible": deductible,
        "fund_payment": fund,
        "serious_illness_payment": "0.00",
        "medical_assistance_payment": "0.00",
        "patient_payable": pays,
    }


SHAPES: dict[str, dict[str, tuple[list[dict[str, str]], dict[str, str]]]] = {
    "h320102001": {  # tertiary
        # 6745 submitted, 900 outside scope, class B 1720 x 10% = 172, eligible 5673,
        # deductible 800, fund (5673 - 800) x 80% = 3898.40, patient 6745 - 3898.40
        "employee": (
            example_lines(),
            settled("6745.00", "900.00", "172.00", "5673.00", "800.00", "3898.40", "2846.60"),
        ),
    },
    "h320105002": {  # secondary: (10000 - 500) x 85% = 8075
        "employee": (
            [claim_line("treatment", "10000.00")],
            settled("10000.00", "0.00", "0.00", "10000.00", "500.00", "8075.00", "1925.00"),
        ),
    },
    "h321302003": {  # primary
        # employee: (1500 - 200) x 90% = 1170; resident: (1000 - 200) x 80% = 640
        "employee": (
            [claim_line("material", "1500.00", "3")],
            settled("1500.00", "0.00", "0.00", "1500.00", "200.00", "1170.00", "330.00"),
        ),
        "resident": (
            [claim_line("treatment", "1000.00")],
            settled("1000.00", "0.00", "0.00", "1000.00", "200.00", "640.00", "360.00"),
        ),
    },
    "h321302004": {  # secondary
        # employee: 5500 submitted, 500 outside, class B 2000 x 10% = 200, eligible 4800,
        # (4800 - 500) x 85% = 3655; resident: (2500 - 500) x 75% = 1500
        "employee": (
            [
                claim_line("class_b_drug", "2000.00", "4"),
                claim_line("treatment", "3000.00"),
                claim_line("outside_scope", "500.00"),
            ],
            settled("5500.00", "500.00", "200.00", "4800.00", "500.00", "3655.00", "1845.00"),
        ),
        "resident": (
            [claim_line("class_a_drug", "2500.00", "5")],
            settled("2500.00", "0.00", "0.00", "2500.00", "500.00", "1500.00", "1000.00"),
        ),
    },
}
SERIOUS_THRESHOLD = {"employee": Decimal(30000), "resident": Decimal(20000)}
