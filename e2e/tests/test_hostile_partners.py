"""Hostile partners (issue 11): over 10,000 generated records on four hospitals' and two tax
bureaus' topics, through real Kafka and Redis.

Enrollment, contributions and medical settlement run as processes. The test enrols a small
population through the services' command topics (employers with one employee each, residents,
four designated hospitals), closes 2024-12 in two regions so that every employer has an
assessment to pay, and then plays six partners at once:

- valid messages: claims whose amounts are worked out by hand below (a few fixed shapes, each
  patient kept far from the yearly thresholds so that the order of settlement does not matter),
  and collections paying an assessment in full; some carry extra unknown fields (accepted by
  design), some are valid but refused by a rule (an uninsured patient, an unknown assessment);
- hostile messages, deterministic from a seed: mutations of valid ones (type swaps, missing and
  extra fields, huge and deep values, 30-digit and 1e309 numbers, NaN, impossible dates, control
  characters, oversized, too many and duplicate headers, a spoofed `ce_source`, empty and huge
  keys, binary garbage, bodies too large);

interleaved so that every valid message follows a hostile one of another partner. At the end:
no process restarted; every valid message answered exactly once with the right amounts; every
hostile one answered by name (the reasons of `shebao_contracts.limits` and of the value types)
and dead-lettered with its offset; in = settled + refused + dead-lettered for every partner; no
valid message answered later than ANSWER_BOUND_S after it was sent; no raw citizen ID in any
service's log. Every finding is collected, so that one run names them all.
"""

from __future__ import annotations

import asyncio
import copy
import json
import random
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from shebao_contracts import contributions as cc
from shebao_contracts import enrollment as en
from shebao_contracts import medical as m
from shebao_contracts.envelope import Envelope
from shebao_contracts.types import citizen_id_check_char
from shebao_contracts.welfare import EVENTS as WELFARE_EVENTS
from shebao_devinfra.testing import (
    ServiceProcess,
    http_get,
    message_record,
    producer,
    read_all,
    recreate_topics,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(300)]

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
SNAKE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
DOMAIN_REASONS = {r.value for r in m.ClaimRejection} | {r.value for r in cc.Rejection}
"""Refusals by a service's rules, answered but not dead-lettered (the record was read)."""


# ---------------------------------------------------------------------------------------------
# The population


def cid(area: str, n: int) -> str:
    born = date(1975, 1, 1) + timedelta(days=17 * n)  # of working age: 35 to 49 in 2024
    first17 = f"{area}{born:%Y%m%d}{(7 * n) % 1000:03d}"
    return first17 + citizen_id_check_char(first17)


def employer_code(region: str, k: int) -> str:
    return f"91{region}MA{k:08d}"


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


# ---------------------------------------------------------------------------------------------
# Claims and their amounts, worked out by hand from the policy parameters (medical.toml):
# deductible per admission tertiary 800 / secondary 500 / primary 200; inpatient ratio employees
# 0.80 / 0.85 / 0.90, residents 0.70 / 0.75 / 0.80; class-B self-pay 10%; serious illness only
# above a yearly in-scope out-of-pocket of 30,000 (employees) or 20,000 (residents).


def line(category: str, amount: str, qty: str = "1") -> dict[str, str]:
    unit = (Decimal(amount) / Decimal(qty)).quantize(Decimal("0.01"))
    return {
        "item_code": f"IT-{category}",
        "category": category,
        "quantity": qty,
        "unit_price": str(unit),
        "amount": amount,
    }


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
            [
                line("class_a_drug", "125.00", "10"),
                line("class_b_drug", "1720.00", "2"),
                line("treatment", "1600.00", "5"),
                line("material", "2400.00"),
                line("outside_scope", "900.00", "6"),
            ],
            settled("6745.00", "900.00", "172.00", "5673.00", "800.00", "3898.40", "2846.60"),
        ),
    },
    "h320105002": {  # secondary: (10000 - 500) x 85% = 8075
        "employee": (
            [line("treatment", "10000.00")],
            settled("10000.00", "0.00", "0.00", "10000.00", "500.00", "8075.00", "1925.00"),
        ),
    },
    "h321302003": {  # primary
        # employee: (1500 - 200) x 90% = 1170; resident: (1000 - 200) x 80% = 640
        "employee": (
            [line("material", "1500.00", "3")],
            settled("1500.00", "0.00", "0.00", "1500.00", "200.00", "1170.00", "330.00"),
        ),
        "resident": (
            [line("treatment", "1000.00")],
            settled("1000.00", "0.00", "0.00", "1000.00", "200.00", "640.00", "360.00"),
        ),
    },
    "h321302004": {  # secondary
        # employee: 5500 submitted, 500 outside, class B 2000 x 10% = 200, eligible 4800,
        # (4800 - 500) x 85% = 3655; resident: (2500 - 500) x 75% = 1500
        "employee": (
            [
                line("class_b_drug", "2000.00", "4"),
                line("treatment", "3000.00"),
                line("outside_scope", "500.00"),
            ],
            settled("5500.00", "500.00", "200.00", "4800.00", "500.00", "3655.00", "1845.00"),
        ),
        "resident": (
            [line("class_a_drug", "2500.00", "5")],
            settled("2500.00", "0.00", "0.00", "2500.00", "500.00", "1500.00", "1000.00"),
        ),
    },
}
SERIOUS_THRESHOLD = {"employee": Decimal(30000), "resident": Decimal(20000)}


def claim_body(
    hospital: str, claim_id: str, patient: str, lines: list[dict[str, str]]
) -> dict[str, Any]:
    return {
        "hospital": hospital,
        "claim_id": claim_id,
        "patient_citizen_id": patient,
        "visit_type": "inpatient",
        "admission_date": "2025-01-08",
        "discharge_date": "2025-01-15",
        "diagnosis_code": "J18.9",
        "lines": copy.deepcopy(lines),
        "total": str(sum(Decimal(x["amount"]) for x in lines)),
    }


# ---------------------------------------------------------------------------------------------
# Records and what is expected of them


@dataclass(eq=False)
class Answer:
    topic: str
    partner: str  # whose answer topic it came on
    kind: str  # SettlementResult, CancellationResult, CollectionRejected, PaymentBooked
    body: dict[str, Any]
    timestamp: int

    @property
    def accepted(self) -> bool:
        if self.kind == "PaymentBooked":
            return True
        return self.body.get("outcome") in ("settled", "cancelled")

    @property
    def reason(self) -> str:
        if self.kind == "CollectionRejected":
            return str(self.body.get("reason", ""))
        reasons = self.body.get("reasons") or [""]
        return str(reasons[0])


@dataclass(eq=False)
class Rec:
    n: int
    partner: str
    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    tag: str
    expect: str  # "valid", "refused" or "tolerated" (settled right, or refused by a name)
    reasons: frozenset[str] = frozenset()  # a refusal's accepted reasons (empty: any name)
    amounts: dict[str, str] | None = None  # a valid claim's
    payment: dict[str, str] | None = None  # a valid collection's PaymentBooked fields
    answer_kind: str | None = None
    ids: set[str] = field(default_factory=set)  # correlation ids an answer may carry
    answer_id: str | None = None  # the claim or collection id an answer names
    timed: bool = False  # a valid message: answered within ANSWER_BOUND_S
    partition: int = -1
    offset: int = -1
    sent_ms: int = 0
    after_other_hostile: bool = False
    answers: list[Answer] = field(default_factory=list)
    booked_elsewhere: list[Answer] = field(default_factory=list)  # PaymentBooked on events

    @property
    def hospital(self) -> bool:
        return self.partner in HOSPITALS


@dataclass
class Spec:
    """Where a message's values are, by kind, as paths into its JSON body."""

    money: list[tuple[Any, ...]]
    text: list[tuple[Any, ...]]
    dates: list[tuple[Any, ...]]
    numbers: list[tuple[Any, ...]]
    cid: list[tuple[Any, ...]]
    required: list[tuple[Any, ...]]
    control: list[tuple[Any, ...]]
    huge: list[tuple[Any, ...]]
    lines: bool = False


CLAIM_SPEC = Spec(
    money=[("total",), ("lines", 0, "amount"), ("lines", 0, "unit_price")],
    text=[
        ("claim_id",),
        ("hospital",),
        ("diagnosis_code",),
        ("visit_type",),
        ("lines", 0, "item_code"),
        ("lines", 0, "category"),
    ],
    dates=[("admission_date",), ("discharge_date",)],
    numbers=[("lines", 0, "quantity")],
    cid=[("patient_citizen_id",)],
    required=[
        ("hospital",),
        ("claim_id",),
        ("patient_citizen_id",),
        ("visit_type",),
        ("admission_date",),
        ("diagnosis_code",),
        ("lines",),
        ("total",),
        ("lines", 0, "item_code"),
        ("lines", 0, "category"),
        ("lines", 0, "quantity"),
        ("lines", 0, "unit_price"),
        ("lines", 0, "amount"),
    ],
    control=[("claim_id",), ("lines", 0, "item_code")],
    huge=[("claim_id",), ("lines", 0, "item_code"), ("diagnosis_code",), ("hospital",)],
    lines=True,
)
CANCEL_SPEC = Spec(
    money=[],
    text=[("claim_id",), ("hospital",), ("reason",)],
    dates=[],
    numbers=[],
    cid=[("patient_citizen_id",)],
    required=[("hospital",), ("claim_id",), ("patient_citizen_id",)],
    control=[("claim_id",), ("reason",)],
    huge=[("claim_id",), ("reason",)],
)
TAX_SPEC = Spec(
    money=[("amount",)],
    text=[("collection_id",), ("employer",), ("month",)],
    dates=[("month",)],
    numbers=[],
    cid=[],
    required=[("collection_id",), ("employer",), ("month",), ("amount",)],
    control=[("collection_id",)],
    huge=[("collection_id",), ("employer",), ("month",)],
)

SCHEMA = frozenset({"schema_violation", "invalid_value"})
MONEY_ANY = frozenset({"money_format", "money_not_string"}) | SCHEMA
DEEP = frozenset({"malformed_json"}) | SCHEMA
IMPOSSIBLE_DATES = [
    "2025-02-30",
    "2025-02-29",
    "2025-13-01",
    "2025-00-10",
    "2025-01-32",
    "0000-00-00",
    "2025-1-8",
    "99999-01-08",
]
IMPOSSIBLE_MONTHS = ["2024-13", "2024-00", "2024-1", "2024-02-30", "20241-12", "0000-00"]
CONTROL_CHARS = ["\x00", "\u202e", "\x1b", "\u202d"]


def get_in(obj: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        obj = obj[p]
    return obj


def set_in(obj: Any, path: tuple[Any, ...], value: Any) -> None:
    get_in(obj, path[:-1])[path[-1]] = value


def del_in(obj: Any, path: tuple[Any, ...]) -> None:
    del get_in(obj, path[:-1])[path[-1]]


@dataclass
class Draft:
    """A record being forged: a body and headers to mutate, then encoded."""

    partner: str
    n: int
    spec: Spec
    body: Any
    headers: list[tuple[str, bytes]]
    key: bytes | None
    ids: set[str]
    value: bytes | None = None
    tombstone: bool = False
    raw: dict[str, str] = field(default_factory=dict)
    ensure_ascii: bool = True
    key_set: bool = False
    ident: str = ""  # the claim or collection id, which answers name

    def raw_token(self, text: str) -> str:
        """A placeholder replaced by `text` verbatim in the JSON (1e309, NaN, deep nesting)."""
        token = f"@@RAW{len(self.raw)}@@"
        self.raw[token] = text
        return token

    def encode(self) -> bytes | None:
        if self.tombstone:
            return None
        if self.value is not None:
            return self.value
        text = json.dumps(self.body, ensure_ascii=self.ensure_ascii)
        for token, raw in self.raw.items():
            text = text.replace(f'"{token}"', raw)
        return text.encode()

    def header(self, name: str, value: bytes) -> None:
        self.headers = [(k, value if k == name else v) for k, v in self.headers]

    def drop_header(self, name: str) -> None:
        self.headers = [(k, v) for k, v in self.headers if k != name]

    def set_key(self, key: bytes | None) -> None:
        self.key = key
        self.key_set = True


Mutation = Callable[["Forge", Draft], frozenset[str]]


class Forge:
    """Makes every record of the run from one seed."""

    def __init__(self, due: dict[str, str]) -> None:
        self.rng = random.Random(SEED)
        self.due = due
        self.n = 0
        self.sent_ids: set[str] = set(PATIENTS) | set(UNINSURED)
        self.oop: Counter[str] = Counter()
        self._pool: dict[str, int] = defaultdict(int)

    def next_n(self) -> int:
        self.n += 1
        return self.n

    def envelope(self, partner: str, ce_type: str, n: int) -> list[tuple[str, bytes]]:
        env = Envelope(
            id=f"e{n}",
            type=ce_type,
            source=f"/partners/{partner}",
            time=SENT_AT + timedelta(seconds=n),
            correlation_id=f"c{n}",
        )
        return env.to_headers()

    @staticmethod
    def topic(partner: str) -> str:
        if partner in HOSPITALS:
            return m.CLAIMS.named(code=partner)
        return cc.COLLECTIONS.named(code=partner)

    def record(self, d: Draft, tag: str, expect: str, **kw: Any) -> Rec:
        kw.setdefault("answer_id", d.ident)
        return Rec(
            n=d.n,
            partner=d.partner,
            topic=self.topic(d.partner),
            key=d.key,
            value=d.encode(),
            headers=d.headers,
            tag=tag,
            expect=expect,
            ids=d.ids,
            **kw,
        )

    # -- valid messages ----------------------------------------------------------------------

    def patient(self, hospital: str) -> tuple[str, str]:
        """The next patient of a hospital's region, round robin: (citizen ID, scheme)."""
        region = HOSPITALS[hospital][1]
        if region == NJ:
            pool = [(p, "employee") for p in NJ_EMP]
        else:  # every fifth claim in Suqian is a resident's
            pool = []
            for i, p in enumerate(SQ_EMP[:48]):
                pool.append((p, "employee"))
                if i % 4 == 3:
                    pool.append((RES[i // 4], "resident"))
        i = self._pool[hospital]
        self._pool[hospital] += 1
        return pool[i % len(pool)]

    def extras(self, body: dict[str, Any]) -> None:
        """Unknown fields, ignored by design: the message stays valid."""
        body["note"] = "入院 note"
        body["x_his_version"] = self.rng.randint(1, 9)
        body["meta"] = {"source": "HIS", "v": [1, 2, 3], "ok": True, "none": None}
        if "lines" in body:
            body["lines"][0]["x_nhsa_code"] = "C03130201000"
        if self.rng.random() < 0.2:
            body["attachment"] = "b" * 50_000

    def draft(self, partner: str, spec: Spec, body: Any, ce_type: str, key: str) -> Draft:
        n = self.next_n()
        key = key.format(n=n)
        if "claim_id" in body or "collection_id" in body:
            body["claim_id" if "claim_id" in body else "collection_id"] = key
        headers = self.envelope(partner, ce_type, n)
        d = Draft(partner, n, spec, body, headers, key.encode(), {f"c{n}", f"e{n}"})
        d.ident = key
        return d

    def valid_claim(self, hospital: str, mode: str) -> Rec:
        patient, scheme = self.patient(hospital)
        lines, amounts = SHAPES[hospital][scheme]
        # one claim id in ten has the patient's ID right after a letter: masked in any log
        claim_id = f"X{patient}-{{n}}" if self.rng.random() < 0.1 else f"V-{hospital}-{{n}}"
        body = claim_body(hospital, claim_id, patient, lines)
        d = self.draft(hospital, CLAIM_SPEC, body, m.ClaimSubmitted.TYPE, claim_id)
        tag, expect = "valid_claim", "valid"
        if mode == "extra":
            self.extras(body)
            tag = "valid_claim_extra_fields"
        if mode == "tolerated":
            d.set_key(self.rng.choice([b"", None, b"\xff\xfe\x00\x01"]))
            tag, expect = "tolerated_key", "tolerated"
        if self.rng.random() < 0.2:
            d.headers.append(("traceparent", f"00-{d.n:032x}-{d.n:016x}-01".encode()))
        self.oop[patient] += Decimal(amounts["eligible"]) - Decimal(amounts["fund_payment"])
        assert self.oop[patient] < SERIOUS_THRESHOLD[scheme], "claims reach serious illness"
        return self.record(
            d, tag, expect, amounts=amounts, answer_kind="SettlementResult", timed=True
        )

    def valid_refused_claim(self, hospital: str, i: int) -> Rec:
        if i % 2 == 0:  # a valid claim of a person never insured
            lines, _ = SHAPES[hospital]["employee"]
            body = claim_body(hospital, "", UNINSURED[i % 2], lines)
            d = self.draft(hospital, CLAIM_SPEC, body, m.ClaimSubmitted.TYPE, "VR-{n}")
            reasons, kind = frozenset({"not_insured_on_service_date"}), "SettlementResult"
            tag = "valid_uninsured"
        else:  # the cancellation of a claim never sent
            patient, _ = self.patient(hospital)
            body = {"hospital": hospital, "claim_id": "", "patient_citizen_id": patient}
            d = self.draft(hospital, CANCEL_SPEC, body, m.ClaimCancellation.TYPE, "VR-{n}")
            reasons, kind, tag = frozenset({"unknown_claim"}), "CancellationResult", "valid_cancel"
        return self.record(d, tag, "refused", reasons=reasons, answer_kind=kind, timed=True)

    def valid_collection(self, bureau: str, i: int) -> Rec:
        employer = PAYER[bureau][i]
        body = {
            "collection_id": "",
            "employer": employer,
            "month": MONTH,
            "amount": self.due[employer],
        }
        d = self.draft(bureau, TAX_SPEC, body, COLLECTED, "V-{n}")
        d.key = employer.encode()
        tag, expect = "valid_collection", "valid"
        if i >= PAYERS - TOLERATED_PAYERS:
            d.set_key(self.rng.choice([b"", None, b"\xff\xfe\x00\x01"]))
            tag, expect = "tolerated_key", "tolerated"
        elif i % 5 == 0:
            self.extras(body)
            tag = "valid_collection_extra_fields"
        payment = {
            "collection_id": body["collection_id"],
            "employer": employer,
            "period": MONTH,
            "bureau": bureau,
            "amount": self.due[employer],
            "paid_total": self.due[employer],
            "amount_due": self.due[employer],
            "outcome": "settled",
        }
        return self.record(d, tag, expect, payment=payment, answer_kind="PaymentBooked", timed=True)

    def valid_refused_collection(self, bureau: str, i: int) -> Rec:
        if i % 2 == 0:  # a period never assessed
            employer, month, amount = PAYER[bureau][i], "2030-01", "100.00"
            reasons, tag = frozenset({"unknown_assessment"}), "valid_unknown_assessment"
        else:  # another bureau's employer
            employer = PAYER[next(b for b in BUREAUS if b != bureau)][i]
            month, amount = MONTH, self.due[employer]
            reasons, tag = frozenset({"wrong_bureau"}), "valid_wrong_bureau"
        body = {"collection_id": "", "employer": employer, "month": month, "amount": amount}
        d = self.draft(bureau, TAX_SPEC, body, COLLECTED, "VR-{n}")
        d.key = employer.encode()
        return self.record(
            d, tag, "refused", reasons=reasons, answer_kind="CollectionRejected", timed=True
        )

    # -- hostile messages --------------------------------------------------------------------

    def base(self, partner: str, cancel: bool) -> Draft:
        """A valid message of a sacrificial patient or employer, with a fresh id, to mutate."""
        if partner in BUREAUS:
            body = {
                "collection_id": "",
                "employer": SPARE[partner],
                "month": MONTH,
                "amount": "1.00",
            }
            return self.draft(partner, TAX_SPEC, body, COLLECTED, "HX{n}")
        patient = self.rng.choice(SACRIFICE[HOSPITALS[partner][1]])
        if cancel:
            body = {"hospital": partner, "claim_id": "", "patient_citizen_id": patient}
            body["reason"] = "wrong quantities"
            return self.draft(partner, CANCEL_SPEC, body, m.ClaimCancellation.TYPE, "HX{n}")
        lines, _ = SHAPES[partner]["employee"]
        body = claim_body(partner, "", patient, lines)
        return self.draft(partner, CLAIM_SPEC, body, m.ClaimSubmitted.TYPE, "HX{n}")

    def hostile(self, partner: str, name: str) -> Rec:
        mutation, kinds, _, cancel_ok = CATALOGUE[name]
        kind = "h" if partner in HOSPITALS else "t"
        assert kind in kinds, (name, partner)
        d = self.base(partner, cancel=cancel_ok and kind == "h" and self.rng.random() < 0.25)
        reasons = mutation(self, d)
        if not d.key_set and name not in HEAVY and self.rng.random() < 0.05:
            d.set_key(self.rng.choice([b"", None]))  # and on top, no key
        if d.tombstone and d.key is None:
            d.key = b""  # Kafka takes no record without both
        return self.record(d, name, "refused", reasons=reasons)

    # mutations of the body ------------------------------------------------------------------

    def m_money_30_digits(self, d: Draft) -> frozenset[str]:
        set_in(d.body, self.rng.choice(d.spec.money), 10**29 + self.rng.randrange(10**29))
        return frozenset({"money_out_of_range"})

    def m_money_1e309(self, d: Draft) -> frozenset[str]:
        set_in(d.body, self.rng.choice(d.spec.money), d.raw_token("1e309"))
        return frozenset({"money_not_string"})

    def m_money_nan(self, d: Draft) -> frozenset[str]:
        set_in(d.body, self.rng.choice(d.spec.money), d.raw_token("NaN"))
        return frozenset({"money_not_string"})

    def m_money_float(self, d: Draft) -> frozenset[str]:
        raw = self.rng.choice(["-1e309", "Infinity", "-Infinity", "12.5", "1e-400", "0.1", "true"])
        set_in(d.body, self.rng.choice(d.spec.money), d.raw_token(raw))
        return frozenset({"money_not_string"})

    def m_money_30_digit_text(self, d: Draft) -> frozenset[str]:
        set_in(d.body, self.rng.choice(d.spec.money), "1" + "0" * 29 + ".00")
        return frozenset({"money_format", "money_out_of_range"})

    def m_money_negative_30_digits(self, d: Draft) -> frozenset[str]:
        set_in(d.body, self.rng.choice(d.spec.money), -(10**29 + self.rng.randrange(10**29)))
        return frozenset({"money_out_of_range", "money_negative", "money_not_positive"})

    def m_number_huge(self, d: Draft) -> frozenset[str]:
        path = self.rng.choice(d.spec.numbers)
        choice = self.rng.randrange(5)
        if choice == 0:
            set_in(d.body, path, 10**29 + self.rng.randrange(10**29))
        elif choice == 1:
            set_in(d.body, path, d.raw_token("1e309"))
        elif choice == 2:
            set_in(d.body, path, d.raw_token("NaN"))
        elif choice == 3:
            set_in(d.body, path, "9" * 400)
        else:
            set_in(d.body, path, "1e999999999")
        return SCHEMA

    def m_impossible_date(self, d: Draft) -> frozenset[str]:
        values = IMPOSSIBLE_DATES if d.spec is CLAIM_SPEC else IMPOSSIBLE_MONTHS
        set_in(d.body, self.rng.choice(d.spec.dates), self.rng.choice(values))
        return SCHEMA

    def m_impossible_birth_date(self, d: Draft) -> frozenset[str]:
        first17 = f"320102198202{self.rng.randint(30, 31)}{self.rng.randrange(1000):03d}"
        bad = first17 + citizen_id_check_char(first17)
        self.sent_ids.add(bad)
        set_in(d.body, ("patient_citizen_id",), bad)
        return frozenset({"citizen_id_birth_date"})

    def _with_control(self, d: Draft, char: str) -> None:
        path = self.rng.choice(d.spec.control)
        text = str(get_in(d.body, path))
        cut = max(1, len(text) // 2)
        set_in(d.body, path, text[:cut] + char + text[cut:])

    def m_control_character(self, d: Draft) -> frozenset[str]:
        self._with_control(d, self.rng.choice(CONTROL_CHARS))  # JSON-escaped: \u0000, \u202e
        return frozenset({"text_control_character"})

    def m_control_character_raw_nul(self, d: Draft) -> frozenset[str]:
        path = self.rng.choice(d.spec.control)
        text = str(get_in(d.body, path))
        set_in(d.body, path, d.raw_token('"' + text[:2] + "\x00" + text[2:] + '"'))
        return frozenset({"malformed_json", "text_control_character"})

    def m_control_character_raw_rlo(self, d: Draft) -> frozenset[str]:
        self._with_control(d, "\u202e")
        d.ensure_ascii = False  # the character itself, in UTF-8, not escaped
        return frozenset({"text_control_character"})

    def m_type_swap(self, d: Draft) -> frozenset[str]:
        spec, rng = d.spec, self.rng
        kinds = ["text"] + ["money"] * bool(spec.money) + ["date"] * bool(spec.dates)
        kinds += ["cid"] * bool(spec.cid) + ["number"] * bool(spec.numbers) + ["lines"] * spec.lines
        kind = rng.choice(kinds)
        if kind == "text":
            set_in(
                d.body,
                rng.choice(spec.text),
                rng.choice([12345, 3.25, True, None, ["A01"], {"v": "A01"}]),
            )
            return SCHEMA
        if kind == "money":
            value = rng.choice([12.5, True, None, ["1.00"], {"yuan": "1.00"}])
            set_in(d.body, rng.choice(spec.money), value)
            return frozenset({"money_not_string"}) if value in (12.5, True) else MONEY_ANY
        if kind == "date":
            path = rng.choice(spec.dates)
            set_in(d.body, path, rng.choice([["2025-01-08"], {"d": "2025-01-08"}, 3.5, False]))
            return SCHEMA
        if kind == "cid":
            patient = get_in(d.body, ("patient_citizen_id",))
            set_in(
                d.body,
                ("patient_citizen_id",),
                rng.choice([int(patient[:17]) * 10, None, [patient], {"id": patient}]),
            )
            return SCHEMA | {"citizen_id_type"}
        if kind == "number":
            set_in(
                d.body, rng.choice(spec.numbers), rng.choice([True, None, ["1"], {"q": 1}, "one"])
            )
            return SCHEMA
        set_in(d.body, ("lines",), rng.choice(["lines", 5, {"a": 1}, None, [], [1, 2], ["x"]]))
        return SCHEMA

    def m_root_swap(self, d: Draft) -> frozenset[str]:
        d.value = self.rng.choice(
            [json.dumps([d.body]), json.dumps("claim"), "42", "null", "true", "[]", "-0.5"]
        ).encode()
        return frozenset({"malformed_json"}) | SCHEMA

    def m_missing_field(self, d: Draft) -> frozenset[str]:
        del_in(d.body, self.rng.choice(d.spec.required))
        return frozenset({"schema_violation"})

    def m_empty_object(self, d: Draft) -> frozenset[str]:
        d.value = b"{}"
        return frozenset({"schema_violation"})

    def m_huge_text(self, d: Draft) -> frozenset[str]:
        set_in(d.body, self.rng.choice(d.spec.huge), "A" * self.rng.randint(100_000, 150_000))
        return SCHEMA

    def m_too_many_lines(self, d: Draft) -> frozenset[str]:
        d.body["lines"] = [dict(d.body["lines"][0]) for _ in range(1001)]
        return frozenset({"schema_violation"})

    def m_money_huge_text(self, d: Draft) -> frozenset[str]:
        set_in(d.body, self.rng.choice(d.spec.money), "1" * 60_000)
        return frozenset({"money_format", "money_out_of_range"})

    def m_deep_body(self, d: Draft) -> frozenset[str]:
        d.value = self.rng.choice(
            ["[" * 10_000 + "]" * 10_000, '{"a":' * 5_000 + "1" + "}" * 5_000, "[" * 10_000]
        ).encode()
        return DEEP

    def m_deep_value(self, d: Draft) -> frozenset[str]:
        paths = d.spec.money + ([("lines",)] if d.spec.lines else [])
        set_in(d.body, self.rng.choice(paths), d.raw_token("[" * 5_000 + "]" * 5_000))
        return DEEP | {"money_format", "money_not_string"}

    def m_id_after_letter(self, d: Draft) -> frozenset[str]:
        # a citizen ID right after a letter, where a refusal's detail quotes the value
        set_in(d.body, self.rng.choice(d.spec.money), "X" + self.rng.choice(NJ_EMP + SQ_EMP))
        return frozenset({"money_format"})

    # mutations of the headers and the key ---------------------------------------------------

    def m_ce_id_600k(self, d: Draft) -> frozenset[str]:
        big = f"e{d.n}-".encode() + b"i" * 600_000
        d.header("ce_id", big)
        d.ids.add(big.decode())
        return frozenset({"header_too_large"})

    def m_traceparent_100k(self, d: Draft) -> frozenset[str]:
        d.headers.append(("traceparent", b"00-" + b"a" * 100_000))
        return frozenset({"header_too_large"})

    def m_correlation_100k(self, d: Draft) -> frozenset[str]:
        big = f"c{d.n}-" + "k" * 100_000
        d.header("correlation-id", big.encode())
        d.ids.add(big)
        return frozenset({"header_too_large"})

    def m_too_many_headers(self, d: Draft) -> frozenset[str]:
        count = self.rng.choice([40, 2_000])
        d.headers += [(f"x-h{i}", b"1") for i in range(count)]
        return frozenset({"too_many_headers"})

    def m_duplicate_ce_type(self, d: Draft) -> frozenset[str]:
        own = dict(d.headers)["ce_type"]
        other = (
            m.ClaimCancellation.TYPE
            if d.partner in HOSPITALS
            else cc.PersonContributionsCollected.TYPE
        )
        d.headers.append(("ce_type", self.rng.choice([own, other.encode()])))
        return frozenset({"duplicate_header"})

    def m_duplicate_header(self, d: Draft) -> frozenset[str]:
        name = self.rng.choice(["ce_id", "ce_source", "ce_time", "correlation-id"])
        value = dict(d.headers)[name]
        if name == "ce_id":
            value = f"e{d.n}-again".encode()
            d.ids.add(value.decode())
        d.headers.append((name, value))
        return frozenset({"duplicate_header"})

    def m_spoofed_source(self, d: Draft) -> frozenset[str]:
        same = [p for p in (HOSPITALS if d.partner in HOSPITALS else BUREAUS) if p != d.partner]
        other_kind = list(BUREAUS if d.partner in HOSPITALS else HOSPITALS)
        source = self.rng.choice(
            [
                f"/partners/{self.rng.choice(same)}",
                f"/partners/{self.rng.choice(same)}",
                f"/partners/{self.rng.choice(other_kind)}",
                f"/partners/{d.partner}-x",
            ]
        )
        d.header("ce_source", source.encode())
        return frozenset({"source_mismatch"})

    def m_missing_header(self, d: Draft) -> frozenset[str]:
        name = self.rng.choice(["ce_id", "ce_type", "ce_time", "ce_specversion", "ce_source"])
        d.drop_header(name)
        if name == "ce_source":
            return frozenset({"missing_header", "source_mismatch"})
        return frozenset({"missing_header"})

    def m_bad_header(self, d: Draft) -> frozenset[str]:
        name, value, reasons = self.rng.choice(
            [
                ("ce_specversion", b"0.3", {"unsupported_specversion"}),
                ("content-type", b"text/xml", {"unsupported_content_type"}),
                ("ce_time", b"2025-02-30T08:00:00+00:00", {"invalid_time"}),
                ("ce_time", b"yesterday", {"invalid_time"}),
                ("ce_time", b"2025-01-16T09:00:00", {"invalid_time"}),
                ("ce_id", b"\xff\xfe\xfd", {"invalid_header_encoding"}),
                ("ce_id", f"e{d.n}\x00nul".encode(), {"header_control_character"}),
                (
                    "ce_source",
                    f"/partners/{d.partner}\u202e".encode(),
                    {"header_control_character", "source_mismatch"},
                ),
            ]
        )
        d.header(name, value)
        return frozenset(reasons)

    def m_unknown_type(self, d: Draft) -> frozenset[str]:
        if d.partner in HOSPITALS:
            types = [
                "shebao.medical.Nope",
                cc.EmployerContributionsCollected.TYPE,
                m.SettlementResult.TYPE,
            ]
        else:
            types = ["shebao.contributions.Nope", m.ClaimSubmitted.TYPE, cc.CollectionRejected.TYPE]
        d.header("ce_type", self.rng.choice(types).encode())
        return frozenset({"unknown_event_type"})

    def m_key_100k(self, d: Draft) -> frozenset[str]:
        d.set_key(f"K{d.n}-".encode() + b"k" * 100_000)
        return frozenset({"key_too_large"})

    def m_key_300(self, d: Draft) -> frozenset[str]:
        d.set_key(f"K{d.n}-".encode() + b"k" * 300)
        return frozenset({"key_too_large"})

    def m_binary_garbage(self, d: Draft) -> frozenset[str]:
        d.value = bytes([self.rng.randint(0x80, 0xFF)]) + self.rng.randbytes(
            self.rng.randint(0, 2_000)
        )
        return frozenset({"malformed_json"})

    def m_text_garbage(self, d: Draft) -> frozenset[str]:
        whole = json.dumps(d.body)
        d.value = self.rng.choice(
            [
                "<claim/>",
                "{",
                "}",
                "{'a': 1}",
                "claim_id=1&total=2",
                whole[: len(whole) // 2],
                whole + "xyz",
                "[1,]",
                '{"a" 1}',
            ]
        ).encode()
        return frozenset({"malformed_json"})

    def m_utf16_body(self, d: Draft) -> frozenset[str]:
        d.value = json.dumps(d.body).encode("utf-16")
        return frozenset({"malformed_json"})

    def m_empty_body(self, d: Draft) -> frozenset[str]:
        if self.rng.random() < 0.5:
            d.value = b""
        else:
            d.tombstone = True
        return frozenset({"empty_body"})

    def m_record_600k(self, d: Draft) -> frozenset[str]:
        d.body["pad"] = "p" * 600_000
        return frozenset({"record_too_large"})

    # refusals by the services' rules, of messages that read well ---------------------------

    def m_hospital_mismatch(self, d: Draft) -> frozenset[str]:
        d.body["hospital"] = self.rng.choice([h for h in HOSPITALS if h != d.partner])
        return frozenset({"hospital_mismatch"})

    def m_totals(self, d: Draft) -> frozenset[str]:
        d.body["total"] = str(Decimal(d.body["total"]) + Decimal("0.10"))
        return frozenset({"totals_do_not_add_up"})

    def m_citizen_id(self, d: Draft) -> frozenset[str]:
        good = get_in(d.body, ("patient_citizen_id",))
        choice = self.rng.randrange(4)
        if choice == 0:
            bad = good[:17] + ("0" if good[17] != "0" else "1")
            self.sent_ids.add(bad)
            reasons = {"citizen_id_checksum"}
        elif choice == 1:
            bad, reasons = good[:17], {"citizen_id_length"}
        elif choice == 2:
            bad, reasons = good[:6] + good[8:14] + good[14:17], {"citizen_id_legacy_15"}
        else:
            bad, reasons = good[:10] + "A" + good[11:], {"citizen_id_characters"}
        set_in(d.body, ("patient_citizen_id",), bad)
        return frozenset(reasons)

    def m_dates_out_of_order(self, d: Draft) -> frozenset[str]:
        if self.rng.random() < 0.5:
            d.body["discharge_date"] = "2025-01-05"
        else:
            d.body["visit_type"] = "outpatient"
        return frozenset({"invalid_dates"})

    def m_money_rules(self, d: Draft) -> frozenset[str]:
        if self.rng.random() < 0.5:
            d.body["lines"][0]["amount"] = d.body["lines"][0]["amount"] + "5"  # three places
            return frozenset({"money_format"})
        d.body["lines"][0]["unit_price"] = "-1.00"
        return frozenset({"money_negative"})

    def m_unknown_assessment(self, d: Draft) -> frozenset[str]:
        d.body["month"] = self.rng.choice(["2030-01", "2019-05"])
        return frozenset({"unknown_assessment"})

    def m_wrong_bureau(self, d: Draft) -> frozenset[str]:
        d.body["employer"] = SPARE[next(b for b in BUREAUS if b != d.partner)]
        return frozenset({"wrong_bureau"})

    def m_breakdown(self, d: Draft) -> frozenset[str]:
        d.body["persons"] = [{"person": "0" * 32, "amount": d.body["amount"]}]
        return frozenset({"breakdown_mismatch"})

    def m_amount_rules(self, d: Draft) -> frozenset[str]:
        value, reason = self.rng.choice(
            [
                ("0.00", "money_not_positive"),
                ("-5.00", "money_not_positive"),
                ("1.005", "money_format"),
            ]
        )
        d.body["amount"] = value
        return frozenset({reason})


# name: (mutation, partner kinds "h"/"t", records per partner when heavy (None: light), may
# mutate a cancellation)
CATALOGUE: dict[str, tuple[Mutation, str, int | None, bool]] = {
    "money_30_digits": (Forge.m_money_30_digits, "ht", None, False),
    "money_1e309": (Forge.m_money_1e309, "ht", None, False),
    "money_nan": (Forge.m_money_nan, "ht", None, False),
    "money_float": (Forge.m_money_float, "ht", None, False),
    "money_30_digit_text": (Forge.m_money_30_digit_text, "ht", None, False),
    "money_negative_30_digits": (Forge.m_money_negative_30_digits, "ht", None, False),
    "number_huge": (Forge.m_number_huge, "h", None, False),
    "impossible_date": (Forge.m_impossible_date, "ht", None, False),
    "impossible_birth_date": (Forge.m_impossible_birth_date, "h", None, True),
    "control_character": (Forge.m_control_character, "ht", None, True),
    "control_character_raw_nul": (Forge.m_control_character_raw_nul, "ht", None, True),
    "control_character_raw_rlo": (Forge.m_control_character_raw_rlo, "ht", None, True),
    "type_swap": (Forge.m_type_swap, "ht", None, True),
    "root_swap": (Forge.m_root_swap, "ht", None, True),
    "missing_field": (Forge.m_missing_field, "ht", None, True),
    "empty_object": (Forge.m_empty_object, "ht", None, True),
    "huge_text": (Forge.m_huge_text, "ht", 4, True),
    "too_many_lines": (Forge.m_too_many_lines, "h", 2, False),
    "money_huge_text": (Forge.m_money_huge_text, "ht", 2, False),
    "deep_body": (Forge.m_deep_body, "ht", 4, True),
    "deep_value": (Forge.m_deep_value, "ht", 4, False),
    "id_after_letter": (Forge.m_id_after_letter, "ht", None, False),
    "ce_id_600k": (Forge.m_ce_id_600k, "ht", 3, True),
    "traceparent_100k": (Forge.m_traceparent_100k, "ht", 3, True),
    "correlation_100k": (Forge.m_correlation_100k, "ht", 3, True),
    "too_many_headers": (Forge.m_too_many_headers, "ht", None, True),
    "duplicate_ce_type": (Forge.m_duplicate_ce_type, "ht", None, True),
    "duplicate_header": (Forge.m_duplicate_header, "ht", None, True),
    "spoofed_source": (Forge.m_spoofed_source, "ht", None, True),
    "missing_header": (Forge.m_missing_header, "ht", None, True),
    "bad_header": (Forge.m_bad_header, "ht", None, True),
    "unknown_type": (Forge.m_unknown_type, "ht", None, True),
    "key_100k": (Forge.m_key_100k, "ht", 3, True),
    "key_300": (Forge.m_key_300, "ht", None, True),
    "binary_garbage": (Forge.m_binary_garbage, "ht", None, True),
    "text_garbage": (Forge.m_text_garbage, "ht", None, True),
    "utf16_body": (Forge.m_utf16_body, "ht", None, True),
    "empty_body": (Forge.m_empty_body, "ht", None, True),
    "record_600k": (Forge.m_record_600k, "ht", 3, True),
    "hospital_mismatch": (Forge.m_hospital_mismatch, "h", None, False),
    "totals": (Forge.m_totals, "h", None, False),
    "citizen_id": (Forge.m_citizen_id, "h", None, True),
    "dates_out_of_order": (Forge.m_dates_out_of_order, "h", None, False),
    "money_rules": (Forge.m_money_rules, "h", None, False),
    "unknown_assessment": (Forge.m_unknown_assessment, "t", None, False),
    "wrong_bureau": (Forge.m_wrong_bureau, "t", None, False),
    "breakdown": (Forge.m_breakdown, "t", None, False),
    "amount_rules": (Forge.m_amount_rules, "t", None, False),
}
HEAVY = {name for name, (_, _, heavy, _) in CATALOGUE.items() if heavy is not None}
LIGHT_MINIMUM = 5  # of every light mutation, per partner, before the random fill


def forge_records(due: dict[str, str]) -> tuple[list[Rec], set[str]]:
    """Every record of the run, in sending order: each valid message right after a hostile one
    of another partner."""
    f = Forge(due)
    timed: list[Rec] = []
    hostile: list[Rec] = []
    for h in HOSPITALS:
        mine = [f.valid_claim(h, "extra" if i % 5 == 0 else "plain") for i in range(VALID_CLAIMS)]
        mine += [f.valid_claim(h, "tolerated") for _ in range(TOLERATED_CLAIMS)]
        mine += [f.valid_refused_claim(h, i) for i in range(6)]
        timed += mine
        hostile += hostile_of(f, h, PER_HOSPITAL - len(mine))
    for b in BUREAUS:
        mine = [f.valid_collection(b, i) for i in range(PAYERS)]
        mine += [f.valid_refused_collection(b, i) for i in range(6)]
        timed += mine
        hostile += hostile_of(f, b, PER_BUREAU - len(mine))
    f.rng.shuffle(timed)
    f.rng.shuffle(hostile)
    blocks: list[list[Rec]] = []
    for v in timed:
        i = next(i for i in range(len(hostile) - 1, -1, -1) if hostile[i].partner != v.partner)
        blocks.append([hostile.pop(i), v])
        v.after_other_hostile = True
    blocks += [[h] for h in hostile]
    f.rng.shuffle(blocks)
    return [r for block in blocks for r in block], f.sent_ids


def hostile_of(f: Forge, partner: str, count: int) -> list[Rec]:
    kind = "h" if partner in HOSPITALS else "t"
    names = [n for n, (_, kinds, _, _) in CATALOGUE.items() if kind in kinds]
    light = [n for n in names if n not in HEAVY]
    out = [f.hostile(partner, n) for n in names if n in HEAVY for _ in range(CATALOGUE[n][2] or 0)]
    out += [f.hostile(partner, n) for n in light for _ in range(LIGHT_MINIMUM)]
    out += [f.hostile(partner, f.rng.choice(light)) for _ in range(count - len(out))]
    return out


# ---------------------------------------------------------------------------------------------
# Reading the answers


def partner_of(topic: str) -> str:
    return topic.split(".")[2]


class Answers:
    """Matches every answer to the record it answers: by the correlation id the record carried
    (the platform copies it, or names the record's position when it could not read the
    envelope), by topic, partition and offset (CollectionRejected), or by claim or collection id."""

    def __init__(self, bootstrap: str, records: list[Rec]) -> None:
        self.bootstrap = bootstrap
        self.records = records
        self.by_id: dict[str, Rec] = {}
        self.by_pos: dict[tuple[str, int, int], Rec] = {}
        named: dict[tuple[str, str], list[Rec]] = defaultdict(list)
        for r in records:
            for i in r.ids:
                self.by_id[i] = r
            self.by_pos[(r.topic, r.partition, r.offset)] = r
            if r.answer_id:
                named[(r.partner, r.answer_id)].append(r)
        self.by_name = {k: v[0] for k, v in named.items() if len(v) == 1}
        self.unmatched: Counter[str] = Counter()
        self.unmatched_examples: list[str] = []

    def find(self, topic: str, hdr: dict[str, bytes], body: dict[str, Any]) -> Rec | None:
        if body.get("partition") is not None and body.get("offset") is not None:
            hit = self.by_pos.get(
                (cc.COLLECTIONS.named(code=partner_of(topic)), body["partition"], body["offset"])
            )
            if hit is not None:
                return hit
        corr = hdr.get("correlation-id", b"").decode(errors="replace")
        hit = self.by_id.get(corr)
        if hit is None and corr.count("/") == 2:
            t, p, o = corr.split("/")
            if p.isdigit() and o.isdigit():
                hit = self.by_pos.get((t, int(p), int(o)))
        if hit is None:
            name = body.get("claim_id") or body.get("collection_id")
            if isinstance(name, str):
                hit = self.by_name.get((partner_of(topic), name))
        return hit

    async def collect(self) -> None:
        topics = [m.SETTLEMENTS.named(code=h) for h in HOSPITALS]
        topics += [cc.ASSESSMENTS.named(code=b) for b in BUREAUS] + [cc.EVENTS.name]
        got = await asyncio.gather(*(read_all(self.bootstrap, t) for t in topics))
        for r in self.records:
            r.answers, r.booked_elsewhere = [], []
        self.unmatched.clear()
        self.unmatched_examples.clear()
        for topic, recs in zip(topics, got, strict=True):
            for rec in recs:
                hdr = dict(rec.headers)
                kind = hdr.get("ce_type", b"").decode().rsplit(".", 1)[-1]
                if topic == cc.EVENTS.name and kind != "PaymentBooked":
                    continue
                if kind in ("AssessmentIssued", "MonthlyStatement"):
                    continue
                body = json.loads(rec.value)
                owner = self.find(topic, hdr, body)
                answer = Answer(topic, partner_of(topic), kind, body, rec.timestamp)
                if owner is None:
                    if topic == cc.EVENTS.name and body.get("employer") not in PAYER_SET:
                        continue  # a spare employer's booking: a hostile record misread
                    self.unmatched[f"{topic} {kind}"] += 1
                    if len(self.unmatched_examples) < 5:
                        self.unmatched_examples.append(
                            f"{topic} {kind} key={rec.key[:80]!r} body={str(body)[:200]}"
                        )
                elif topic == cc.EVENTS.name:
                    owner.booked_elsewhere.append(answer)
                else:
                    owner.answers.append(answer)

    def pending(self) -> int:
        return sum(1 for r in self.records if not r.answers and not r.booked_elsewhere)


PAYER_SET = {e for b in BUREAUS for e in PAYER[b]}


# ---------------------------------------------------------------------------------------------


async def test_hostile_partners(infra: Any, tmp_path: Path) -> None:
    started = time.monotonic()
    redis_url = infra.redis_url.rsplit("/", 1)[0] + "/6"
    r = aioredis.Redis.from_url(redis_url)
    await r.flushdb()
    await r.aclose()
    partner_in = [Forge.topic(p) for p in [*HOSPITALS, *BUREAUS]]
    await recreate_topics(
        infra.kafka_bootstrap,
        [
            en.COMMANDS.name,
            en.COMMANDS.dlq,
            en.EVENTS.name,
            WELFARE_EVENTS.name,
            m.COMMANDS.name,
            m.EVENTS.name,
            cc.COMMANDS.name,
            cc.COMMANDS.dlq,
            cc.WORK.name,
            cc.WORK.dlq,
            cc.EVENTS.name,
            *partner_in,
            *[t + ".dlq" for t in partner_in],
            *[m.SETTLEMENTS.named(code=h) for h in HOSPITALS],
            *[cc.ASSESSMENTS.named(code=b) for b in BUREAUS],
        ],
    )
    services = {
        name: ServiceProcess(
            name,
            f"shebao_{name.replace('-', '_')}",
            kafka=infra.kafka_bootstrap,
            redis_url=redis_url,
            log_dir=tmp_path,
        )
        for name in ("enrollment", "contributions", "medical-settlement")
    }
    # the producer of a partner that sends a 600 KB header
    prod = await producer(infra.kafka_bootstrap, max_request_size=2_000_000, linger_ms=5)
    try:
        for svc in services.values():
            svc.start()
        for svc in services.values():
            await svc.wait_ready()
        pids = {name: svc.pid for name, svc in services.items()}
        due = await populate(infra.kafka_bootstrap, services, prod)
        setup_s = time.monotonic() - started

        # -- the partners: every record produced with `send`, one flush per wave ---------------
        records, sent_ids = forge_records(due)
        assert len(records) >= 10_000
        send_started = time.monotonic()
        for i in range(0, len(records), WAVE):
            wave = []
            for rec in records[i : i + WAVE]:
                rec.sent_ms = int(time.time() * 1000)
                fut = await prod.send(rec.topic, value=rec.value, key=rec.key, headers=rec.headers)
                wave.append((rec, fut))
            await prod.flush()
            for rec, fut in wave:
                meta = await fut
                rec.partition, rec.offset = meta.partition, meta.offset
        sent_s = time.monotonic() - send_started

        answers = Answers(infra.kafka_bootstrap, records)
        deadline = time.monotonic() + ANSWER_WAIT_S
        died: list[str] = []
        while time.monotonic() < deadline:
            await answers.collect()
            died = [name for name, svc in services.items() if not svc.alive]
            if answers.pending() == 0 or died:
                break
            await asyncio.sleep(2)
        await asyncio.sleep(3)  # an answer sent twice comes late
        await answers.collect()
        answered_s = time.monotonic() - send_started
        dead: dict[tuple[str, int, int], list[str]] = defaultdict(list)
        for topic in partner_in:
            for d in await read_all(infra.kafka_bootstrap, topic + ".dlq"):
                hdr = dict(d.headers)
                pos = (
                    hdr.get("dlq-topic", b"").decode(),
                    int(hdr.get("dlq-partition", b"-1")),
                    int(hdr.get("dlq-offset", b"-1")),
                )
                dead[pos].append(hdr.get("dlq-reason", b"").decode())

        # -- the verdict ----------------------------------------------------------------------
        v = Verdict()
        for name, svc in services.items():
            status, _ = await http_get(f"{svc.url}/readyz")
            if not svc.alive or svc.pid != pids[name] or svc.starts != 1 or status != 200:
                v.finding(
                    "process restarted or not ready",
                    f"{name}: alive={svc.alive} pid {pids[name]}->{svc.pid} readyz={status}",
                    svc.log_tail(15),
                )
        v.judge(records, dead, answers)
        leak = re.compile("|".join(sorted(sent_ids)))
        for name, svc in services.items():
            for raw_id, count in Counter(leak.findall(svc.log_text())).items():
                v.finding(
                    "raw citizen ID in a service log",
                    name,
                    f"{name}: {raw_id[:6]}********{raw_id[-4:]} x{count}",
                )
        report = [
            f"set-up {setup_s:.0f} s; {len(records)} records sent in {sent_s:.1f} s; answers "
            f"collected {answered_s:.0f} s after the first send; {time.monotonic() - started:.0f}"
            f" s in all; processes died: {died or 'none'}",
            *v.report(records),
        ]
        if v.findings:
            pytest.fail("\n".join(report), pytrace=False)
        print("\n" + "\n".join(report))
    finally:
        for svc in services.values():
            svc.stop()
        await prod.stop()


async def populate(
    bootstrap: str, services: dict[str, ServiceProcess], prod: Any
) -> dict[str, str]:
    """Hospitals, employers, persons, memberships and the close of MONTH, through the services'
    command topics, as the scheduler and the counters would; the amount due per employer."""
    enrollment, contributions, medical = services.values()
    sent = 0

    async def command(topic: str, msg: Any, key: str) -> None:
        nonlocal sent
        sent += 1
        k, v, h = message_record(msg, message_id=f"setup-{sent}", time=T0, key=key)
        await prod.send(topic, key=k, value=v, headers=h)

    for code, (level, region) in HOSPITALS.items():
        await command(
            m.COMMANDS.name,
            m.RegisterHospital(
                hospital=code,
                name=f"医院{code}",
                level=level,
                region=region,
                designated_from=date(2015, 1, 1),
            ),
            code,
        )
    for employer in EMPLOYEES:
        await command(
            en.COMMANDS.name,
            en.RegisterEmployer(
                employer=employer,
                name=f"单位{employer[-4:]}",
                region=REGION_OF_EMPLOYER[employer],
                ownership=en.Ownership.PRIVATE,
                risk_class=2,
                registered_on=date(2020, 1, 1),
            ),
            employer,
        )
    await prod.flush()
    n_commands = len(EMPLOYEES)

    async def enrolled() -> bool:
        done = await enrollment.metric("shebao_records_total", subscription="commands")
        return done >= n_commands

    await until(enrolled, 60, lambda: "the employers' registration")
    region_of_person = {p: NJ for p in NJ_EMP + SACRIFICE[NJ] + UNINSURED}
    region_of_person |= {p: SQ for p in SQ_EMP + RES + SACRIFICE[SQ]}
    for person, region in region_of_person.items():
        await command(
            en.COMMANDS.name,
            en.RegisterPerson(
                citizen_id=person,
                name="参保人",
                hukou_region=region,
                residence=en.Residence.URBAN,
                registered_on=date(2023, 1, 1),
            ),
            person,
        )
    for employer, staff in EMPLOYEES.items():
        for person in staff:
            await command(
                en.COMMANDS.name,
                en.StartEmployment(
                    citizen_id=person,
                    employer=employer,
                    start_date=date(2024, 3, 1),
                    monthly_wage=Decimal("9000.00"),
                ),
                person,
            )
    for person in RES:
        await command(
            en.COMMANDS.name,
            en.EnrolResidentMedical(citizen_id=person, region=SQ, start_date=date(2024, 1, 1)),
            person,
        )
    await prod.flush()
    n_commands += len(region_of_person) + sum(map(len, EMPLOYEES.values())) + len(RES)
    await until(enrolled, 60, lambda: "the persons' enrollment")

    behind: list[str] = []

    async def rostered() -> bool:
        views = await asyncio.gather(
            *(contributions.get_json(f"/employers?code={e}") for e in EMPLOYEES)
        )
        behind[:] = [
            f"{e}: {status} {str(body)[:200]}"
            for e, (status, body) in zip(EMPLOYEES, views, strict=True)
            if status != 200 or body.get("employees") != len(EMPLOYEES[e])
        ]
        return not behind

    await until(rostered, 60, lambda: f"the employers' rosters: {behind[:3]}")
    for region in (NJ, SQ):
        await command(cc.COMMANDS.name, cc.ClosePeriod(region=region, month=MONTH), region)
    await prod.flush()

    refs: dict[str, str] = {}

    async def insured() -> bool:
        missing = [p for p in PATIENTS if p not in refs]
        found = await asyncio.gather(
            *(enrollment.get_json(f"/persons?citizen_id={p}") for p in missing)
        )
        for p, (status, body) in zip(missing, found, strict=True):
            if status == 200:
                refs[p] = body["person"]
        if len(refs) < len(PATIENTS):
            return False
        views = await asyncio.gather(
            *(medical.get_json(f"/coverage?person={refs[p]}") for p in PATIENTS)
        )
        known = await asyncio.gather(*(medical.get_json(f"/hospitals?code={h}") for h in HOSPITALS))
        return all(s == 200 and b["periods"] for s, b in views) and all(s == 200 for s, _ in known)

    await until(insured, 60, lambda: f"coverage ({len(refs)} of {len(PATIENTS)} persons known)")

    due: dict[str, str] = {}

    async def assessed() -> bool:
        for b in BUREAUS:
            for rec in await read_all(bootstrap, cc.ASSESSMENTS.named(code=b)):
                if dict(rec.headers)["ce_type"].decode() != cc.AssessmentIssued.TYPE:
                    continue
                a = json.loads(rec.value)
                if a["employer"] in EMPLOYEES and a["period"] == MONTH:
                    assert a["bureau"] == b
                    assert a["person_count"] == len(EMPLOYEES[a["employer"]])
                    due[a["employer"]] = a["amount_due"]
        return len(due) == len(EMPLOYEES)

    await until(assessed, 90, lambda: f"the assessments ({len(due)} of {len(EMPLOYEES)})")
    return due


async def until(predicate: Any, timeout: float, what: Callable[[], str]) -> None:
    try:
        await wait_until(predicate, timeout=timeout, interval=0.5)
    except TimeoutError:
        raise AssertionError(f"set-up timed out waiting for {what()}") from None


class Verdict:
    """Every finding of the run, counted by check and case, with a few examples each."""

    def __init__(self) -> None:
        self.findings: dict[str, Counter[str]] = defaultdict(Counter)
        self.examples: dict[str, list[str]] = defaultdict(list)
        self.table: dict[str, Counter[str]] = defaultdict(Counter)
        self.latencies: list[float] = []
        self.reasons: Counter[str] = Counter()

    def finding(self, check: str, what: str, example: str = "") -> None:
        self.findings[check][what] += 1
        if example and len(self.examples[check]) < 6:
            self.examples[check].append(example)

    def judge(
        self, records: list[Rec], dead: dict[tuple[str, int, int], list[str]], answers: Answers
    ) -> None:
        for rec in records:
            self.judge_one(rec, dead.get((rec.topic, rec.partition, rec.offset), []))
        for pos, reasons in dead.items():
            if pos not in answers.by_pos:
                self.finding("dead letters naming no record sent", pos[0], f"{pos}: {reasons}")
        for what, count in answers.unmatched.items():
            self.finding(
                "answers to no record sent", what, f"{count}: {answers.unmatched_examples}"
            )
        for partner, row in self.table.items():
            if row["in"] != row["settled"] + row["refused"] + row["dead-lettered only"]:
                self.finding("in != settled + refused + dead-lettered", partner, str(dict(row)))

    def judge_one(self, rec: Rec, in_dlq: list[str]) -> None:
        finding = self.finding
        row = self.table[rec.partner]
        row["in"] += 1
        row[rec.tag.split("_")[0] if rec.timed else "hostile"] += 1
        where = f"#{rec.n} {rec.tag} on {rec.topic} p{rec.partition}@{rec.offset}"
        if not rec.answers:
            if rec.timed and not rec.booked_elsewhere:
                finding(f"valid message not answered within {ANSWER_BOUND_S:.0f} s", rec.tag)
            if rec.booked_elsewhere:
                row["settled"] += 1
                if rec.expect == "refused":
                    finding("hostile collection booked (PaymentBooked on the events)", rec.tag)
                else:
                    finding(
                        "valid collection answered only on shebao.contributions.events.v1 "
                        "(PaymentBooked), not on the bureau's assessments topic",
                        rec.tag,
                        where,
                    )
                    check_booking(rec, rec.booked_elsewhere[0], finding, where)
            elif in_dlq:
                row["dead-lettered only"] += 1
                finding("dead-lettered but not answered", f"{rec.tag}: {in_dlq[0]}", where)
            else:
                row["unanswered"] += 1
                finding("neither answered nor dead-lettered", rec.tag, where)
            return
        if len(rec.answers) > 1:
            row["answered twice"] += 1
            what = f"{rec.tag}: {[a.reason or a.kind for a in rec.answers]}"
            finding("answered more than once", what, where)
        a = rec.answers[0]
        if a.partner != rec.partner:
            finding("answered on another partner's topic", rec.tag, f"{where} -> {a.topic}")
        named = a.body.get("hospital") if rec.hospital else a.body.get("bureau")
        if named != rec.partner:
            finding("answer names another partner", rec.tag, f"{where}: {named}")
        if rec.timed:
            lateness = (a.timestamp - rec.sent_ms) / 1000
            self.latencies.append(lateness)
            if lateness > ANSWER_BOUND_S:
                what = f"valid message not answered within {ANSWER_BOUND_S:.0f} s"
                finding(what, rec.tag, f"{where}: {lateness:.1f} s")
        if a.accepted:
            row["settled"] += 1
            if rec.expect == "refused":
                finding("hostile or refusable message accepted", rec.tag, f"{where}: {a.body}")
            elif rec.hospital:
                if a.body.get("amounts") != rec.amounts or a.kind != rec.answer_kind:
                    finding("wrong amounts", rec.tag, f"{where}: {a.kind} {a.body.get('amounts')}")
                if a.body.get("claim_id") != rec.answer_id:
                    finding("wrong claim id", rec.tag, f"{where}: {a.body.get('claim_id')}")
            else:
                check_booking(rec, a, finding, where)
            if in_dlq:
                finding("accepted message dead-lettered", rec.tag, f"{where}: {in_dlq}")
            return
        row["refused"] += 1
        reason = a.reason
        self.reasons[reason] += 1
        if rec.expect == "valid":
            finding("valid message refused", f"{rec.tag}: {reason}", f"{where}: {a.body}")
            return
        if not SNAKE.match(reason):
            finding("refusal without a snake_case reason", f"{rec.tag}: {reason!r}", where)
        elif rec.reasons and reason not in rec.reasons:
            finding(
                "unexpected reason",
                f"{rec.tag}: expected {'/'.join(sorted(rec.reasons))}, got {reason}",
                f"{where}: {str(a.body.get('detail', ''))[:160]}",
            )
        if rec.answer_kind and a.kind != rec.answer_kind:
            finding("wrong answer type", f"{rec.tag}: {a.kind}", where)
        if reason in DOMAIN_REASONS:  # refused by a rule: the record was read
            if in_dlq:
                finding("refusal by a rule dead-lettered", f"{rec.tag}: {reason}", where)
        elif in_dlq != [reason]:
            finding(
                "refused record not dead-lettered once with its reason and offset",
                f"{rec.tag}: answered {reason}, dead letters {in_dlq}",
                where,
            )

    def report(self, records: list[Rec]) -> list[str]:
        lat = sorted(self.latencies) or [float("nan")]
        lines = [
            f"valid messages answered in median {lat[len(lat) // 2]:.1f} s, at most "
            f"{lat[-1]:.1f} s (n={len(self.latencies)}, "
            f"{sum(r.after_other_hostile for r in records)} right after another partner's "
            "hostile message)",
            *[f"{p}: {dict(row)}" for p, row in sorted(self.table.items())],
            "reasons: " + ", ".join(f"{k} {n}" for k, n in self.reasons.most_common()),
        ]
        for check, what in self.findings.items():
            lines.append(f"FAIL {check}: {sum(what.values())}")
            lines += [f"    {count:5d}  {w}" for w, count in what.most_common(40)]
            lines += [f"    e.g. {e[:400]}" for e in self.examples[check][:3]]
        return lines


def check_booking(rec: Rec, a: Answer, finding: Callable[..., None], where: str) -> None:
    assert rec.payment is not None
    got = {k: a.body.get(k) for k in rec.payment}
    if a.kind != "PaymentBooked" or got != rec.payment:
        finding("wrong booking", rec.tag, f"{where}: {a.kind} {got} != {rec.payment}")
