"""Every record of the hostile-partner run, made from one seed: the valid messages with the
answers expected of them, the hostile ones from the mutation catalogue, in sending order."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from hostile_data import (
    BUREAUS,
    COLLECTED,
    HOSPITALS,
    MONTH,
    NJ,
    NJ_EMP,
    PATIENTS,
    PAYER,
    PAYERS,
    PER_BUREAU,
    PER_HOSPITAL,
    RES,
    SACRIFICE,
    SEED,
    SENT_AT,
    SERIOUS_THRESHOLD,
    SHAPES,
    SPARE,
    SQ_EMP,
    TOLERATED_CLAIMS,
    TOLERATED_PAYERS,
    UNINSURED,
    VALID_CLAIMS,
)
from hostile_mutations import (
    CANCEL_SPEC,
    CATALOGUE,
    CLAIM_SPEC,
    HEAVY,
    LIGHT_MINIMUM,
    TAX_SPEC,
    Draft,
    Mutations,
    Spec,
)

from shebao_contracts import contributions as cc
from shebao_contracts import medical as m
from shebao_contracts.envelope import Envelope
from shebao_contracts.topics import partner_source
from shebao_partners import cancellation_body, claim_body, collection_body

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


class Forge(Mutations):
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
            source=partner_source(partner),
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
        # (a claim id holding the patient's ID is refused: the mutation id_as_identifier)
        claim_id = f"V-{hospital}-{{n}}"
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
            body = cancellation_body(hospital, "", patient)
            d = self.draft(hospital, CANCEL_SPEC, body, m.ClaimCancellation.TYPE, "VR-{n}")
            reasons, kind, tag = frozenset({"unknown_claim"}), "CancellationResult", "valid_cancel"
        return self.record(d, tag, "refused", reasons=reasons, answer_kind=kind, timed=True)

    def valid_collection(self, bureau: str, i: int) -> Rec:
        employer = PAYER[bureau][i]
        body = collection_body("", employer, MONTH, self.due[employer])
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
        if i % 2 == 0:  # a period never assessed (past: a future one is another refusal)
            employer, month, amount = PAYER[bureau][i], "2024-06", "100.00"
            reasons, tag = frozenset({"unknown_assessment"}), "valid_unknown_assessment"
        else:  # another bureau's employer
            employer = PAYER[next(b for b in BUREAUS if b != bureau)][i]
            month, amount = MONTH, self.due[employer]
            reasons, tag = frozenset({"wrong_bureau"}), "valid_wrong_bureau"
        body = collection_body("", employer, month, amount)
        d = self.draft(bureau, TAX_SPEC, body, COLLECTED, "VR-{n}")
        d.key = employer.encode()
        return self.record(
            d, tag, "refused", reasons=reasons, answer_kind="CollectionRejected", timed=True
        )

    # -- hostile messages --------------------------------------------------------------------

    def base(self, partner: str, cancel: bool) -> Draft:
        """A valid message of a sacrificial patient or employer, with a fresh id, to mutate."""
        if partner in BUREAUS:
            body = collection_body("", SPARE[partner], MONTH, "1.00")
            return self.draft(partner, TAX_SPEC, body, COLLECTED, "HX{n}")
        patient = self.rng.choice(SACRIFICE[HOSPITALS[partner][1]])
        if cancel:
            body = cancellation_body(partner, "", patient, "wrong quantities")
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
