"""The Python peer a team would pick instead of the platform: a Quix Streams hop, exactly-once.

Run by the benchmark as its own process, in the `bench` dependency group's environment
(.bench-venv, `scripts/bootstrap.sh --bench`), never the workspace's: `python quix.py --source
... --sink ... --count N`, with the librdkafka connection settings as JSON in the environment
variable SHEBAO_BENCH_KAFKA (the password stays off the command line). The default and ingest steps
import nothing from the platform, only the standard library, Quix Streams and its pydantic; the
adjudicate step imports medical settlement's pure rules from the source tree (below).

The step is the one issue 20 asks to compare a settlement hop with: decode the claim's JSON, sum
its lines' amounts as Decimal, read and write a running total in Quix's RocksDB state (scoped by
the record key, the claim id as in the raw loop: in the benchmark's load each patient has one
claim, so the key stands for the patient), produce one record to the sink. Processing guarantee
exactly-once (Kafka transactions, state changelog), reading `--source` from the beginning, until
`--count` records are produced; then one JSON line: records, seconds from the first record consumed
to the last transaction committed and the state closed, the CPU seconds of the whole process
(every thread: librdkafka's and RocksDB's too) over the same span, and the epochs of that span's
start and end (`first`, `last`: the span of two hops run at once).

`--step ingest` gives the peer the ingest hop's own work instead, as a team writing it with Quix
Streams and pydantic would (`ingest_step`): read the CloudEvents headers and refuse a type other
than a claim; the body validated by a pydantic model with the published contract's constraints
(codes' patterns, the citizen ID's check character, money and quantities, 1-1000 lines, no
control characters); the claim's checks (its hospital is the sender, the dates, each line's
amount and the total); the patient pseudonymised (HMAC-SHA256); in RocksDB state the event id's
fingerprint (a resend is dropped) and the claim id's holder (another patient's claim under a held
id is refused); the claim forwarded keyed by the person, as pydantic writes it, with headers of its
own. It is the platform's ingest hop, less what Quix Streams has no place for (the refusals'
answers and dead letters, metrics, traces), so that the two compare like with like.

`--step adjudicate` gives it adjudication's work, on what the ingest step forwarded (keyed by
person): the claim read by the contract's own pydantic model; the service's own rules
(`claims.settle`: the domain is pure and needs only pydantic and the standard library, so the
benchmark puts the source tree on PYTHONPATH and this environment's pydantic runs it); in RocksDB
state the event id's mark, the claim record and the person's year totals (pydantic JSON); the
hospital's answer to `--sink` and the settlement event to `--sink`.events, with headers; `--count`
is claims, two outputs each. The hospital-month counters the service also keeps are left out: in
state keyed by person they would need another hop, keyed by hospital.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

KAFKA_ENV = "SHEBAO_BENCH_KAFKA"
"""The librdkafka connection settings (bootstrap, security protocol, SASL, CA) as a JSON object."""


CLAIM_TYPE = "shebao.medical.ClaimSubmitted"
FORWARD_TYPE = "shebao.medical.ClaimReceived"
_CONTROL = "\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069"
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_FEN = Decimal("0.01")


def ingest_step(secret: bytes) -> Callable[..., Any]:
    """The ingest hop's work as a Quix Streams stateful step with metadata (module docstring):
    (value, key, timestamp, headers, state) -> the forwarded claim, or None (refused, resent)."""
    from typing import Annotated, Literal

    from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

    def citizen_id(text: str) -> str:
        date(int(text[6:10]), int(text[10:12]), int(text[12:14]))  # a birth date, or ValueError
        check = "10X98765432"[sum(int(c) * w for c, w in zip(text, _WEIGHTS, strict=False)) % 11]
        if text[17] != check:
            raise ValueError("citizen ID check character is wrong")
        return text

    text = f"^[^{_CONTROL}]*$"
    money = Annotated[Decimal, Field(ge=0, max_digits=17, decimal_places=2)]
    category = Literal["class_a_drug", "class_b_drug", "treatment", "material", "outside_scope"]

    class Line(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)
        item_code: Annotated[str, Field(min_length=1, max_length=40, pattern=text)]
        category: category
        quantity: Annotated[Decimal, Field(gt=0, max_digits=12, decimal_places=3)]
        unit_price: money
        amount: money

    class Claim(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)
        hospital: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,30}$")]
        claim_id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:/-]+$")]
        patient_citizen_id: Annotated[
            str, Field(pattern=r"^[0-9]{17}[0-9X]$"), AfterValidator(citizen_id)
        ]
        visit_type: Literal["inpatient", "outpatient"]
        admission_date: date
        discharge_date: date | None = None
        diagnosis_code: Annotated[str, Field(pattern=r"^[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?$")]
        lines: Annotated[list[Line], Field(min_length=1, max_length=1000)]
        total: money

    class Forward(BaseModel):
        hospital: str
        claim_id: str
        person: str
        visit_type: str
        admission_date: date
        discharge_date: date | None
        diagnosis_code: str
        lines: list[Line]
        total: Decimal

    keyed = hmac.new(secret, digestmod=hashlib.sha256)
    tolerance = timedelta(days=1)

    def refused(claim: Claim, code: str, received: datetime) -> bool:
        if claim.hospital != code:
            return True
        last = claim.discharge_date or claim.admission_date
        if claim.visit_type == "inpatient":
            if claim.discharge_date is None or claim.discharge_date < claim.admission_date:
                return True
        elif claim.discharge_date not in (None, claim.admission_date):
            return True
        if last > (received + tolerance).date():
            return True
        for line in claim.lines:
            if line.amount != (line.quantity * line.unit_price).quantize(_FEN, ROUND_HALF_UP):
                return True
        return sum((line.amount for line in claim.lines), Decimal("0.00")) != claim.total

    def step(value: bytes, key: Any, timestamp: int, headers: Any, state: Any) -> Any:
        h = {k: v.decode() for k, v in headers or ()}
        if h.get("ce_type") != CLAIM_TYPE or not h.get("ce_id"):
            return None
        fingerprint = hashlib.blake2b(CLAIM_TYPE.encode() + b"\n" + value, digest_size=12)
        seen = "event:" + h["ce_id"]
        if state.get(seen) is not None:
            return None  # a resend (or another body under a used id): dropped
        try:
            claim = Claim.model_validate_json(value)
        except ValidationError:
            return None
        received = datetime.fromisoformat(h["ce_time"])
        if refused(claim, h.get("ce_source", "").rpartition("/")[2], received):
            return None
        digest = keyed.copy()
        digest.update(claim.patient_citizen_id.encode())
        person = digest.hexdigest()[:32]
        holder = state.get("holder")
        if holder is not None and holder != person:
            return None
        state.set(seen, fingerprint.hexdigest())
        state.set("holder", person)
        return Forward(
            hospital=claim.hospital,
            claim_id=claim.claim_id,
            person=person,
            visit_type=claim.visit_type,
            admission_date=claim.admission_date,
            discharge_date=claim.discharge_date,
            diagnosis_code=claim.diagnosis_code,
            lines=claim.lines,
            total=claim.total,
        )

    return step


COVERED = (
    b'{"periods":[{"scheme":"employee_medical","region":"320100","active":true,'
    b'"start":"2020-01-01"}]}'
)
"""A person's coverage where the peer's state has none: every benchmark patient is insured."""


def adjudicate_step(hospitals: dict[str, str]) -> Callable[..., Any]:
    """The adjudication hop's work as a Quix Streams stateful step with metadata, keyed by person
    (module docstring): (value, key, timestamp, headers, state) -> the outputs [(an event of
    the platform's own topic?, key, message)], none for a resend. It runs the service's own pure
    rules (`claims.settle`), from the source tree (the benchmark puts it on PYTHONPATH), with
    this environment's pydantic."""
    from shebao_common.domain import Published, Refused
    from shebao_common.policy import Policy
    from shebao_contracts import medical as m
    from shebao_medical_settlement.domain import claims
    from shebao_medical_settlement.domain.answers import answer_topic, rejected_result
    from shebao_medical_settlement.domain.model import (
        Accumulators,
        ClaimRecord,
        Coverage,
        Hospital,
    )
    from shebao_medical_settlement.domain.params import Params

    params = Params(Policy.of("shebao_medical_settlement"))
    known = {
        code: Hospital(
            code=code, name=code, level=level, region="320100", designated_from=date(2015, 1, 1)
        )
        for code, level in hospitals.items()
    }  # the hospitals' registrations, read once (the platform caches them)
    received_type = m.ClaimReceived.TYPE.encode()

    def step(value: bytes, key: Any, timestamp: int, headers: Any, state: Any) -> list[Any]:
        h = {k: v.decode() for k, v in headers or ()}
        if h.get("ce_type") != m.ClaimReceived.TYPE or not h.get("ce_id"):
            return []
        fingerprint = hashlib.blake2b(received_type + b"\n" + value, digest_size=12).hexdigest()
        seen = "event:" + h["ce_id"]
        if state.get(seen) is not None:
            return []  # a resend (or another body under a used id): dropped
        claim = m.ClaimReceived.model_validate_json(value)
        at = datetime.fromisoformat(h["ce_time"])
        record_key = "claim:" + claim.claim_id
        stored = state.get(record_key)
        record = None if stored is None else ClaimRecord.model_validate_json(stored)
        coverage = Coverage.model_validate_json(state.get("coverage") or COVERED)
        stored = state.get("accumulators")
        totals = None if stored is None else Accumulators.model_validate_json(stored)
        try:
            settled, totals, fx = claims.settle(
                claim,
                fingerprint,
                at,
                record,
                known.get(claim.hospital),
                coverage,
                totals,
                params,
            )
        except Refused as why:
            kept, fx = claims.refusal(claim, fingerprint, at, record, why)
            answer = rejected_result(claim.hospital, claim.claim_id, why.reason.value, why.detail)
            fx.published.insert(0, Published(answer_topic(claim.hospital), claim.claim_id, answer))
            settled, totals = kept, None
        state.set(seen, fingerprint)
        if settled is not None:
            state.set(record_key, settled.model_dump_json())
        if totals is not None:
            state.set("accumulators", totals.model_dump_json())
        # the hospital-month counters (fx.counted) have no place in state keyed by person: a
        # Quix Streams team would need another hop, keyed by hospital; this peer leaves them out
        return [(not isinstance(p.topic, str), p.key, p.message) for p in fx.published]

    return step


def main(
    source: str,
    sink: str,
    count: int,
    group: str,
    step: str = "sum",
    hospitals: dict[str, str] | None = None,
) -> dict[str, float]:
    # Imported here: the benchmark imports KAFKA_ENV from this module in the workspace's .venv,
    # where Quix Streams is not installed.
    from quixstreams import Application
    from quixstreams.kafka.configuration import ConnectionConfig

    connection = ConnectionConfig.from_librdkafka_dict(json.loads(os.environ[KAFKA_ENV]))
    state_dir = tempfile.mkdtemp(prefix="shebao-bench-quix-")
    app = Application(
        broker_address=connection,
        consumer_group=group,
        auto_offset_reset="earliest",
        processing_guarantee="exactly-once",
        state_dir=state_dir,
        loglevel="WARNING",
    )
    from quixstreams.models.serializers import Serializer

    class ModelJSON(Serializer):  # type: ignore[misc]  # Quix Streams is not in the .venv
        def __call__(self, value: Any, ctx: Any) -> bytes:
            return value.model_dump_json().encode()  # type: ignore[no-any-return]

    class OutputJSON(Serializer):  # type: ignore[misc]
        def __call__(self, value: Any, ctx: Any) -> bytes:
            return value[2].model_dump_json().encode()  # type: ignore[no-any-return]

    outputs = count

    started: list[float] = []  # wall, CPU and system seconds, and the epoch, at the first record

    def timed(work: Callable[..., Any]) -> Callable[..., Any]:
        """The step, noting when the first record reached it."""

        def run(*args: Any) -> Any:
            if not started:
                started.extend(
                    (time.perf_counter(), time.process_time(), time.time(), os.times().system)
                )
            return work(*args)

        return run

    def ce_headers(ce_id: bytes, ce_type: str, ce_time: bytes) -> list[tuple[str, bytes]]:
        """An output's CloudEvents headers, its id derived from `ce_id`."""
        return [
            ("ce_specversion", b"1.0"),
            ("ce_id", hashlib.blake2b(ce_id, digest_size=12).hexdigest().encode()),
            ("ce_type", ce_type.encode()),
            ("ce_source", b"/shebao/medical-settlement"),
            ("ce_time", ce_time),
            ("content-type", b"application/json"),
        ]

    def settle(claim: dict[str, Any], state: Any) -> dict[str, Any]:
        total = sum((Decimal(line["amount"]) for line in claim["lines"]), Decimal(0))
        running = Decimal(state.get("total", "0")) + total
        state.set("total", str(running))
        return {
            "claim_id": claim["claim_id"],
            "patient": claim["patient_citizen_id"],
            "total": str(total),
            "running_total": str(running),
        }

    if step == "ingest":
        claims = app.topic(source, key_deserializer="bytes", value_deserializer="bytes")
        forwarded = app.topic(sink, key_serializer="str", value_serializer=ModelJSON())
        ingest = timed(ingest_step(os.urandom(32)))
        sdf = app.dataframe(claims).apply(ingest, stateful=True, metadata=True)
        sdf = sdf.filter(lambda v: v is not None)
        sdf = sdf.set_headers(
            lambda value, key, timestamp, headers: ce_headers(
                key + b"/forward", FORWARD_TYPE, dict(headers)["ce_time"]
            )
        )
        sdf.to_topic(forwarded, key=lambda v: v.person)
    elif step == "adjudicate":
        received = app.topic(source, key_deserializer="str", value_deserializer="bytes")
        answers = app.topic(sink, key_serializer="str", value_serializer=OutputJSON())
        events = app.topic(sink + ".events", key_serializer="str", value_serializer=OutputJSON())
        adjudicate = timed(adjudicate_step(hospitals or {}))
        sdf = app.dataframe(received)
        sdf = sdf.apply(adjudicate, stateful=True, metadata=True, expand=True)
        sdf = sdf.set_headers(
            lambda value, key, timestamp, headers: ce_headers(
                dict(headers)["ce_id"] + b"/" + value[2].TYPE.encode(),
                value[2].TYPE,
                dict(headers)["ce_time"],
            )
        )
        sdf.to_topic(lambda value, *_: events if value[0] else answers, key=lambda v: v[1])
        outputs = 2 * count  # an answer and an event a claim
    else:
        claims = app.topic(source, key_deserializer="bytes", value_deserializer="json")
        settled = app.topic(sink, key_serializer="bytes", value_serializer="json")
        sdf = app.dataframe(claims).apply(timed(settle), stateful=True)
        sdf.to_topic(settled)
    try:
        # Stops after `count` outputs, commits the last checkpoint (transaction) and closes.
        app.run(count=outputs, collect=False)
        wall, cpu, end = time.perf_counter(), time.process_time(), time.time()
        kernel = os.times().system
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)
    return {
        "records": count,
        "seconds": wall - started[0],
        "cpu_seconds": cpu - started[1],
        "sys_seconds": kernel - started[3],
        "first": started[2],  # the epoch of the first record and of the end: two hops' span
        "last": end,
    }


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--source", required=True)
    p.add_argument("--sink", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--group", default=f"bench-quix-{time.time_ns()}")
    p.add_argument("--step", choices=("sum", "ingest", "adjudicate"), default="sum")
    p.add_argument("--hospitals", default="{}", help="adjudicate: {code: level} as JSON")
    a = p.parse_args()
    result = main(a.source, a.sink, a.count, a.group, a.step, json.loads(a.hospitals))
    print(json.dumps(result), flush=True)
