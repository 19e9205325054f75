"""The catalogue of hostile mutations: how a valid message is spoiled, by name, and which
reasons a refusal of it may give. Kept apart from the forge, which only picks and applies them."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from hostile_data import BUREAUS, HOSPITALS, NJ_EMP, PATIENTS, SPARE, SQ_EMP

from shebao_contracts import contributions as cc
from shebao_contracts import medical as m
from shebao_partners import with_check_char, wrong_check


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


Mutation = Callable[["Mutations", Draft], frozenset[str]]


class Mutations:
    """The mutations, each spoiling a draft in place and naming the reasons it may be refused
    for; mixed into the forge, whose seeded `rng` they draw from."""

    rng: random.Random
    sent_ids: set[str]  # every citizen ID sent, which no service log may show

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
        bad = with_check_char(first17)  # 30 or 31 February: a birth date that does not exist
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

    def m_id_in_field_and_headers(self, d: Draft) -> frozenset[str]:
        # issue 18: a malformed field whose value is a citizen ID (a refusal's detail quotes the
        # value), the same ID in ce_subject and in a header of the partner's own; the dead
        # letter keeps the body as it came, its headers must mask the ID
        cid = self.rng.choice(PATIENTS)  # a valid ID (sent_ids has invalid ones too)
        d.headers += [("ce_subject", cid.encode()), ("x-patient-id", cid.encode())]
        if not d.spec.dates or self.rng.random() < 0.5:
            set_in(d.body, self.rng.choice(d.spec.money), cid)
            return frozenset({"money_format"})
        set_in(d.body, self.rng.choice(d.spec.dates), cid)
        return SCHEMA

    def m_id_as_identifier(self, d: Draft) -> frozenset[str]:
        # issue 18: a person's citizen ID inside the claim's or collection's own id, which the
        # platform carries on into its internal events and its Redis keys, where a person is
        # named only by the keyed reference
        field = "claim_id" if "claim_id" in d.body else "collection_id"
        d.body[field] = f"X{self.rng.choice(PATIENTS)}-{d.n}"
        return frozenset({"citizen_id_as_identifier"})

    # mutations of the headers and the key ---------------------------------------------------

    def m_id_as_message_id(self, d: Draft) -> frozenset[str]:
        # issue 18: a person's citizen ID as the message's id or its causation id, which would
        # go on with everything the record causes (internal events, dedupe marks)
        cid = self.rng.choice(PATIENTS).encode()  # valid (not all of sent_ids are)
        if self.rng.random() < 0.5:
            d.header("ce_id", cid)
        else:
            d.headers.append(("causation-id", cid))
        return frozenset({"citizen_id_in_header"})

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
            bad = wrong_check(good)
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
        d.body["month"] = self.rng.choice(["2024-06", "2019-05"])  # never assessed, not future
        return frozenset({"unknown_assessment"})

    def m_wrong_bureau(self, d: Draft) -> frozenset[str]:
        d.body["employer"] = SPARE[next(b for b in BUREAUS if b != d.partner)]
        return frozenset({"wrong_bureau"})

    def m_breakdown(self, d: Draft) -> frozenset[str]:
        # a valid citizen ID of nobody the employer's assessment names
        d.body["persons"] = [{"citizen_id": "11010519491231002X", "amount": d.body["amount"]}]
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
    "money_30_digits": (Mutations.m_money_30_digits, "ht", None, False),
    "money_1e309": (Mutations.m_money_1e309, "ht", None, False),
    "money_nan": (Mutations.m_money_nan, "ht", None, False),
    "money_float": (Mutations.m_money_float, "ht", None, False),
    "money_30_digit_text": (Mutations.m_money_30_digit_text, "ht", None, False),
    "money_negative_30_digits": (Mutations.m_money_negative_30_digits, "ht", None, False),
    "number_huge": (Mutations.m_number_huge, "h", None, False),
    "impossible_date": (Mutations.m_impossible_date, "ht", None, False),
    "impossible_birth_date": (Mutations.m_impossible_birth_date, "h", None, True),
    "control_character": (Mutations.m_control_character, "ht", None, True),
    "control_character_raw_nul": (Mutations.m_control_character_raw_nul, "ht", None, True),
    "control_character_raw_rlo": (Mutations.m_control_character_raw_rlo, "ht", None, True),
    "type_swap": (Mutations.m_type_swap, "ht", None, True),
    "root_swap": (Mutations.m_root_swap, "ht", None, True),
    "missing_field": (Mutations.m_missing_field, "ht", None, True),
    "empty_object": (Mutations.m_empty_object, "ht", None, True),
    "huge_text": (Mutations.m_huge_text, "ht", 4, True),
    "too_many_lines": (Mutations.m_too_many_lines, "h", 2, False),
    "money_huge_text": (Mutations.m_money_huge_text, "ht", 2, False),
    "deep_body": (Mutations.m_deep_body, "ht", 4, True),
    "deep_value": (Mutations.m_deep_value, "ht", 4, False),
    "id_after_letter": (Mutations.m_id_after_letter, "ht", None, False),
    "id_in_field_and_headers": (Mutations.m_id_in_field_and_headers, "ht", None, False),
    "id_as_message_id": (Mutations.m_id_as_message_id, "ht", None, True),
    "id_as_identifier": (Mutations.m_id_as_identifier, "ht", None, False),
    "ce_id_600k": (Mutations.m_ce_id_600k, "ht", 3, True),
    "traceparent_100k": (Mutations.m_traceparent_100k, "ht", 3, True),
    "correlation_100k": (Mutations.m_correlation_100k, "ht", 3, True),
    "too_many_headers": (Mutations.m_too_many_headers, "ht", None, True),
    "duplicate_ce_type": (Mutations.m_duplicate_ce_type, "ht", None, True),
    "duplicate_header": (Mutations.m_duplicate_header, "ht", None, True),
    "spoofed_source": (Mutations.m_spoofed_source, "ht", None, True),
    "missing_header": (Mutations.m_missing_header, "ht", None, True),
    "bad_header": (Mutations.m_bad_header, "ht", None, True),
    "unknown_type": (Mutations.m_unknown_type, "ht", None, True),
    "key_100k": (Mutations.m_key_100k, "ht", 3, True),
    "key_300": (Mutations.m_key_300, "ht", None, True),
    "binary_garbage": (Mutations.m_binary_garbage, "ht", None, True),
    "text_garbage": (Mutations.m_text_garbage, "ht", None, True),
    "utf16_body": (Mutations.m_utf16_body, "ht", None, True),
    "empty_body": (Mutations.m_empty_body, "ht", None, True),
    "record_600k": (Mutations.m_record_600k, "ht", 3, True),
    "hospital_mismatch": (Mutations.m_hospital_mismatch, "h", None, False),
    "totals": (Mutations.m_totals, "h", None, False),
    "citizen_id": (Mutations.m_citizen_id, "h", None, True),
    "dates_out_of_order": (Mutations.m_dates_out_of_order, "h", None, False),
    "money_rules": (Mutations.m_money_rules, "h", None, False),
    "unknown_assessment": (Mutations.m_unknown_assessment, "t", None, False),
    "wrong_bureau": (Mutations.m_wrong_bureau, "t", None, False),
    "breakdown": (Mutations.m_breakdown, "t", None, False),
    "amount_rules": (Mutations.m_amount_rules, "t", None, False),
}
HEAVY = {name for name, (_, _, heavy, _) in CATALOGUE.items() if heavy is not None}
LIGHT_MINIMUM = 5  # of every light mutation, per partner, before the random fill
