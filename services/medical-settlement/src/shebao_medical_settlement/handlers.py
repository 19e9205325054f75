"""Handler tables of the four stages: ingest, adjudicate, coverage projection, statements.

- ingest reads every hospital's claims topic (by pattern) and passes a claim or cancellation on
  to the commands topic, keyed by person (`domain.intake`), or answers the hospital;
- adjudicate reads the commands topic keyed by person, so one person's claims are settled in
  order and the yearly totals never race (`domain.claims`); it answers on the hospital's
  settlements topic; it also registers hospitals and closes months (`domain.hospitals`);
- coverage folds enrollment, contributions, unemployment-subsidies and welfare events into each
  person's coverage (a person on unemployment benefit keeps employee medical insurance);
- statements answers a month's close with the hospital's statement (`domain.statements`).
Each handler reads the state a rule needs, calls it, and stores and publishes what it returned;
a `Refused` becomes the hospital's answer, by name.
"""

from __future__ import annotations

from typing import Any, TypeVar

from shebao_common.domain import Refused
from shebao_common.runtime import (
    NOTHING,
    Context,
    Decision,
    Emit,
    HandlerTable,
    RejectedRecord,
    State,
    StateKey,
    StateModel,
)
from shebao_contracts import medical as m

from .domain import claims, hospitals, intake
from .domain import coverage as cov
from .domain.answers import answer_topic, rejected_cancellation, rejected_result
from .domain.env import Env
from .domain.model import (
    ACCUMULATORS,
    CLAIM,
    CLAIM_HOLDER,
    COVERAGE,
    HOSPITAL,
    HOSPITAL_INDEX,
    HOSPITALS,
    ClaimHolder,
)
from .domain.statements import months_to_date, statement

T = TypeVar("T", bound=StateModel)
ALL_HOSPITALS = HOSPITALS.key("all")
INDEX_BEFORE = HOSPITAL_INDEX.key("all")  # a release before the counter set: read, never written


def _put(d: Decision, key: StateKey[T], value: T | None) -> Decision:
    """A rule's new state stored; None is state the rule left as it was."""
    return d if value is None else d.put(key, value)


def _refused_claim(hospital: str, claim_id: str, refused: Refused) -> Decision:
    answer = rejected_result(hospital, claim_id, refused.reason.value, refused.detail)
    return Decision().emit(answer_topic(hospital), claim_id, answer)


def _refused_cancellation(hospital: str, claim_id: str, refused: Refused) -> Decision:
    answer = rejected_cancellation(hospital, claim_id, refused.reason.value, refused.detail)
    return Decision().emit(answer_topic(hospital), claim_id, answer)


# ------------------------------------------------------------------------------------------------
# ingest

ingest: HandlerTable[Env] = HandlerTable()


def _hospital_and_holder(msg: m.ClaimSubmitted, ctx: Context[Env]) -> list[StateKey[Any]]:
    code = ctx.topic_fields["code"]
    return [HOSPITAL.key(code), CLAIM_HOLDER.key(code, msg.claim_id)]


@ingest.on(m.ClaimSubmitted, needs=_hospital_and_holder)
def receive_claim(state: State, claim: m.ClaimSubmitted, ctx: Context[Env]) -> Decision:
    code = ctx.topic_fields["code"]
    holder_key = CLAIM_HOLDER.key(code, claim.claim_id)
    try:
        # ce_time, not the Kafka timestamp: both are the sender's clock, ce_time alone replays alike
        taken, fx = intake.accept_claim(
            claim, code, state.get(HOSPITAL.key(code)), state.get(holder_key), ctx.time, ctx.env
        )
    except Refused as refused:
        return _refused_claim(code, claim.claim_id, refused)
    return _hold(state, holder_key, taken).apply(fx)


def _hold(state: State, key: StateKey[ClaimHolder], holder: ClaimHolder | None) -> Decision:
    """A claim id's new holder kept, deciding and folding alike. Not when the id is held
    already, nor by a record that does not own the key: a claim keyed by something else than
    its claim id (tolerated) is on another partition than its id's, which this one cannot
    write (contracts/HOSPITALS.md, "A claim id is one patient's"); one slot holds every id."""
    if holder is None or state.get(key) is not None or not state.owns(key):
        return Decision()
    return Decision().put(key, holder)


@ingest.on(m.ClaimCancellation)
def receive_cancellation(state: State, c: m.ClaimCancellation, ctx: Context[Env]) -> Decision:
    code = ctx.topic_fields["code"]
    try:
        fx = intake.accept_cancellation(c, code, ctx.env)
    except Refused as refused:
        return _refused_cancellation(code, c.claim_id, refused)
    return Decision().apply(fx)


# ingest's state, the holder of each claim id, folded from the claims it forwarded: those
# adjudication decided (its events, kept for ever) and those it has not yet (the commands)
ingest_log: HandlerTable[Env] = HandlerTable()
Forwarded = m.ClaimReceived | m.ClaimSettled | m.ClaimRefused | m.ClaimCancelled


def _holder(c: Forwarded, ctx: Context[Env]) -> list[StateKey[Any]]:
    return [CLAIM_HOLDER.key(c.hospital, c.claim_id)]


def fold_forwarded(state: State, c: Forwarded, ctx: Context[Env]) -> Decision:
    return _hold(state, CLAIM_HOLDER.key(c.hospital, c.claim_id), intake.held(c.person))


FORWARDED: tuple[type[Forwarded], ...] = (
    m.ClaimReceived,
    m.ClaimSettled,
    m.ClaimRefused,
    m.ClaimCancelled,
)
for _forwarded in FORWARDED:
    ingest_log.on(_forwarded, needs=_holder)(fold_forwarded)


def reject_hospital_record(r: RejectedRecord) -> Emit | None:
    """A message a hospital sent that could not be read: answered by name on its own topic."""
    code = r.topic_fields.get("code")
    if not code:
        return None
    claim_id = (r.key or "")[:64]
    answer: m.SettlementResult | m.CancellationResult
    if r.envelope is not None and r.envelope.type == m.ClaimCancellation.TYPE:
        answer = rejected_cancellation(code, claim_id, r.reason, r.detail)
    else:
        answer = rejected_result(code, claim_id, r.reason, r.detail)
    return Emit(answer_topic(code), claim_id or "unknown", answer)


# ------------------------------------------------------------------------------------------------
# adjudicate

adjudication: HandlerTable[Env] = HandlerTable()


def _claim_keys(c: m.ClaimReceived, ctx: Context[Env]) -> list[StateKey[Any]]:
    return [
        COVERAGE.key(c.person),
        ACCUMULATORS.key(c.person),
        CLAIM.key(c.hospital, c.claim_id),
        HOSPITAL.key(c.hospital),
    ]


@adjudication.on(m.ClaimReceived, needs=_claim_keys)
def adjudicate_claim(state: State, claim: m.ClaimReceived, ctx: Context[Env]) -> Decision:
    key, totals_key = CLAIM.key(claim.hospital, claim.claim_id), ACCUMULATORS.key(claim.person)
    record = state.get(key)
    fp = ctx.digest  # of the pseudonymised claim as ingest wrote it: a resend has the same
    try:
        settled, totals, fx = claims.settle(
            claim,
            fp,
            ctx.time,
            record,
            state.get(HOSPITAL.key(claim.hospital)),
            state.get(COVERAGE.key(claim.person)),
            state.get(totals_key),
            ctx.env.params,
        )
    except Refused as refused:
        kept, fx = claims.refusal(claim, fp, ctx.time, record, refused)
        answer = _refused_claim(claim.hospital, claim.claim_id, refused)
        return _put(answer, key, kept).apply(fx)
    d = _put(Decision(), totals_key, totals)  # both None for a resend: nothing changes
    return _put(d, key, settled).apply(fx)


@adjudication.on(
    m.CancellationReceived,
    needs=lambda c, ctx: [ACCUMULATORS.key(c.person), CLAIM.key(c.hospital, c.claim_id)],
)
def cancel_claim(state: State, c: m.CancellationReceived, ctx: Context[Env]) -> Decision:
    key, totals_key = CLAIM.key(c.hospital, c.claim_id), ACCUMULATORS.key(c.person)
    try:
        cancelled, totals, fx = claims.cancel(c, ctx.time, state.get(key), state.get(totals_key))
    except Refused as refused:
        return _refused_cancellation(c.hospital, c.claim_id, refused)
    return Decision().put(totals_key, totals).put(key, cancelled).apply(fx)


@adjudication.on(m.RegisterHospital, needs=lambda h, ctx: [HOSPITAL.key(h.hospital)])
def register_hospital(state: State, h: m.RegisterHospital, ctx: Context[Env]) -> Decision:
    registered = m.HospitalRegistered.model_validate(h.model_dump())
    return _registered(state, registered).emit(m.EVENTS, h.hospital, registered)


def _registered(state: State, h: m.HospitalRegistered) -> Decision:
    """The hospital as registered, counted among the hospitals the first time: deciding and
    folding the log alike."""
    key = HOSPITAL.key(h.hospital)
    hospital, fx = hospitals.register(h, state.get(key))
    return Decision().put(key, hospital).apply(fx)


@adjudication.on(m.CloseMonth, needs=lambda c, ctx: [ALL_HOSPITALS, INDEX_BEFORE])
def close_month(state: State, c: m.CloseMonth, ctx: Context[Env]) -> Decision:
    known = hospitals.codes(state.get(ALL_HOSPITALS), state.get(INDEX_BEFORE))
    return Decision().apply(hospitals.close_month(c, known))


# ------------------------------------------------------------------------------------------------
# adjudication's log of record: its state folded from what it published (a rebuild, never a
# second decision); each fold is the function the live decision computed its state with

adjudication_log: HandlerTable[Env] = HandlerTable()


def _decided_claim(
    ev: m.ClaimSettled | m.ClaimRefused | m.ClaimCancelled, ctx: Context[Env]
) -> list[StateKey[Any]]:
    return [ACCUMULATORS.key(ev.person), CLAIM.key(ev.hospital, ev.claim_id)]


@adjudication_log.on(m.ClaimSettled, needs=_decided_claim)
def fold_settled(state: State, ev: m.ClaimSettled, ctx: Context[Env]) -> Decision:
    totals_key = ACCUMULATORS.key(ev.person)
    record, totals, fx = claims.settled(ev, state.get(totals_key))
    return (
        Decision()
        .put(totals_key, totals)
        .put(CLAIM.key(ev.hospital, ev.claim_id), record)
        .apply(fx)
    )


@adjudication_log.on(m.ClaimRefused, needs=_decided_claim)
def fold_refused(state: State, ev: m.ClaimRefused, ctx: Context[Env]) -> Decision:
    key = CLAIM.key(ev.hospital, ev.claim_id)
    kept, fx = claims.refused(ev, state.get(key))
    return _put(Decision(), key, kept).apply(fx)


@adjudication_log.on(m.ClaimCancelled, needs=_decided_claim)
def fold_cancelled(state: State, ev: m.ClaimCancelled, ctx: Context[Env]) -> Decision:
    key, totals_key = CLAIM.key(ev.hospital, ev.claim_id), ACCUMULATORS.key(ev.person)
    record = state.get(key)
    if record is None:
        raise ValueError(f"the log cancels claim {ev.claim_id}, which it never settled")
    cancelled, totals, fx = claims.cancelled(ev, record, state.get(totals_key))
    return Decision().put(totals_key, totals).put(key, cancelled).apply(fx)


@adjudication_log.on(m.HospitalRegistered, needs=lambda h, ctx: [HOSPITAL.key(h.hospital)])
def fold_registered(state: State, h: m.HospitalRegistered, ctx: Context[Env]) -> Decision:
    return _registered(state, h)


# ------------------------------------------------------------------------------------------------
# coverage projection

coverage: HandlerTable[Env] = HandlerTable()


def _person(ev: cov.Event, ctx: Context[Env]) -> list[StateKey[Any]]:
    return [COVERAGE.key(ev.person)]


def project(state: State, ev: cov.Event, ctx: Context[Env]) -> Decision:
    key = COVERAGE.key(ev.person)
    projected = cov.project(state.get(key), ev)
    return NOTHING if projected is None else Decision().put(key, projected)


for _event in cov.EVENTS:
    coverage.on(_event, needs=_person)(project)


# ------------------------------------------------------------------------------------------------
# statements

statements: HandlerTable[Env] = HandlerTable()


@statements.on(m.StatementDue, needs=lambda ev, ctx: months_to_date(ev.hospital, ev.month))
def statement_due(state: State, ev: m.StatementDue, ctx: Context[Env]) -> Decision:
    months = [state.get(k) for k in months_to_date(ev.hospital, ev.month)]
    return Decision().apply(statement(ev, months, ctx.env.params))
