"""Properties over random claims and cancellations: every settlement adds up to the fen, no
yearly accumulator goes negative, and the totals always equal the sum of what the currently
settled claims added."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from medical_harness import H1, H2, H3, Medical, citizen_id, claim, line

from shebao_common.runtime.testing import HandlerRunner
from shebao_contracts import medical as m
from shebao_contracts.welfare import RecipientStatusChanged
from shebao_medical_settlement.domain.model import ACCUMULATORS, CLAIM, YearTotals
from shebao_medical_settlement.handlers import adjudication_log, ingest_log

PATIENT = citizen_id(1)

amount = st.one_of(
    st.integers(min_value=0, max_value=50_000),  # fen: small bills
    st.integers(min_value=0, max_value=40_000_000),  # fen: up to 400k yuan, past the cap
).map(lambda fen: f"{Decimal(fen) / 100:.2f}")
lines = st.lists(
    st.builds(
        line,
        st.sampled_from(["class_a_drug", "class_b_drug", "treatment", "material", "outside_scope"]),
        amount,
    ),
    min_size=1,
    max_size=5,
)
day = st.integers(min_value=0, max_value=500).map(lambda n: date(2025, 1, 1) + timedelta(n))


@st.composite
def submission(draw: st.DrawFn) -> tuple[str, m.ClaimSubmitted]:
    claim_id = f"C{draw(st.integers(min_value=1, max_value=6))}"
    outpatient = draw(st.booleans())
    admitted = draw(day)
    stay = draw(st.integers(min_value=0, max_value=20))
    c = claim(
        claim_id,
        hospital=draw(st.sampled_from([H1, H2, H3])),
        visit="outpatient" if outpatient else "inpatient",
        admitted=admitted,
        discharged=None if outpatient else admitted + timedelta(stay),
        lines=draw(lines),
    )
    return draw(st.sampled_from(["submit", "submit", "cancel"])), c


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    scheme=st.sampled_from(["employee_medical", "resident_medical"]),
    assisted=st.sampled_from([None, "minimum_living_allowance", "extreme_poverty"]),
    actions=st.lists(submission(), min_size=1, max_size=25),
)
def test_settlements_add_up_and_totals_never_go_negative(
    scheme: str, assisted: str | None, actions: list
) -> None:
    med = Medical()
    med.enrol(PATIENT, scheme=scheme)
    if assisted:
        med.coverage.send(
            RecipientStatusChanged(
                person=med.ref(PATIENT),
                status=assisted,
                region="320100",
                effective_from=date(2024, 1, 1),
            )
        )
    for action, c in actions:
        answer = med.submit(c) if action == "submit" else med.cancel(c)
        if isinstance(answer, m.SettlementResult) and answer.outcome == m.Outcome.SETTLED:
            a = answer.amounts
            assert a is not None
            parts = (
                a.fund_payment,
                a.serious_illness_payment,
                a.medical_assistance_payment,
                a.patient_payable,
            )
            assert sum(parts) == a.submitted
            # a cashier can explain every zero: the fund pays nothing only with a reason
            assert a.fund_payment > 0 or answer.reasons, answer
            assert set(answer.reasons) <= set(m.AdjudicationReason)
            assert all(x >= 0 for x in parts)
            assert a.eligible + a.outside_scope + a.class_b_self_pay == a.submitted
            # built without re-validation on the hot path: every amount must still be in fen
            assert all(v.as_tuple().exponent == -2 for v in a.model_dump().values())
        acc = med.store.get(ACCUMULATORS.key(med.ref(PATIENT)).name)
        if acc is None:
            continue
        expected: dict[int, list[YearTotals]] = defaultdict(list)
        for n in range(1, 7):
            for hospital in (H1, H2, H3):
                record = med.store.get(CLAIM.key(hospital, f"C{n}").name)
                if record is not None and record.status == "settled":
                    expected[record.year].append(record.delta)
        for year, totals in acc.years.items():
            for field in YearTotals.model_fields:
                value = getattr(totals, field)
                assert value >= 0, f"{field} went negative in {year}"
                assert value == sum((getattr(d, field) for d in expected[year]), Decimal("0"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    scheme=st.sampled_from(["employee_medical", "resident_medical"]),
    actions=st.lists(submission(), min_size=1, max_size=25),
)
def test_the_published_decisions_rebuild_the_same_state(scheme: str, actions: list) -> None:
    """A rebuild folds what adjudication published (as it reads it back from the topic, JSON)
    into state and counters equal, value by value, to what deciding wrote."""
    med = Medical()
    med.enrol(PATIENT, scheme=scheme)
    for action, c in actions:
        med.submit(c) if action == "submit" else med.cancel(c)
    log = [e for e in med.adjudicate.emitted if e.topic == m.EVENTS.name]
    fold = HandlerRunner(adjudication_log, med.env)
    for e in log:
        fold.send(type(e.message).model_validate_json(e.message.model_dump_json()), when=e.time)
    decided = {
        k: v.model_dump_json()
        for k, v in med.store.items()
        if v is not None
        and k.split(":")[0] in {"claim", "accumulators", "hospital", "hospital-index"}
    }
    rebuilt = {k: v.model_dump_json() for k, v in fold.store.items() if v is not None}
    assert rebuilt == decided
    assert +fold.counters == +med.adjudicate.counters


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(actions=st.lists(st.tuples(submission(), st.booleans()), min_size=1, max_size=25))
def test_the_forwarded_claims_rebuild_the_same_claim_holders(
    actions: list[tuple[tuple[str, m.ClaimSubmitted], bool]],
) -> None:
    """Ingest's state, each claim id's patient, is folded back from what was published (the
    claims adjudication decided, the claims ingest forwarded) the same, in either order."""
    other = citizen_id(2)
    med = Medical()
    med.enrol(PATIENT)
    med.enrol(other)
    for (action, c), theirs in actions:
        if theirs:
            c = c.model_copy(update={"patient_citizen_id": other})
        med.submit(c) if action == "submit" else med.cancel(c)
    published = [e for e in med.adjudicate.emitted if e.topic == m.EVENTS.name]
    published += [e for e in med.ingest.emitted if e.topic == m.COMMANDS.name]
    decided = {
        k: v.model_dump_json()
        for k, v in med.store.items()
        if v is not None and k.startswith("claim-holder:")
    }
    for order in (published, published[::-1]):
        fold = HandlerRunner(ingest_log, med.env)
        for e in order:
            if e.message.TYPE in ingest_log:
                fold.send(type(e.message).model_validate_json(e.message.model_dump_json()))
        assert {k: v.model_dump_json() for k, v in fold.store.items() if v is not None} == decided
