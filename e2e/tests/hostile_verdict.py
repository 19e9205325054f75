"""Reading the partners' answers back and judging them: which record each answer belongs to,
and every finding of the run, counted, so that one run names them all."""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

from hostile_data import ANSWER_BOUND_S, BUREAUS, HOSPITALS, PAYER_SET
from hostile_forge import Answer, Rec

from shebao_contracts import contributions as cc
from shebao_contracts import medical as m
from shebao_devinfra.testing import read_all

SNAKE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
DOMAIN_REASONS = {r.value for r in m.ClaimRejection} | {r.value for r in cc.Rejection}
"""Refusals by a service's rules, answered but not dead-lettered (the record was read)."""


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
                # a bureau's answers are the partner forms (TaxPaymentBooked...) of the events
                kind = kind.removeprefix("Tax") if topic != cc.EVENTS.name else kind
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


# ---------------------------------------------------------------------------------------------
# Judging them


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
