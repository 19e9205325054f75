"""Properties of the contribution rules over generated inputs, each against a plain model.

- the base always lies in [floor, ceiling] and is the wage itself inside it;
- every part is its base times its rate, rounded half up to the fen;
- however a bureau splits and resends the payments of an assessment, the persons are credited
  exactly once, exactly when the payments reach the amount due, and the excess is held;
- a person is interrupted exactly when the months uncredited reach the threshold, and paying a
  month after the gap closes it.
"""

from __future__ import annotations

import itertools
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from contributions_harness import PARAMS, Service, employer_code, ref
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shebao_contracts import contributions as cc
from shebao_contracts import enrollment as ce
from shebao_contributions.domain.rates import Rates

FEN = Decimal("0.01")
MONTHS = [f"{y}-{m:02d}" for y in range(2018, 2026) for m in range(1, 13)]
REGIONS = ["320100", "320200", "320500", "321300"]

wages = st.integers(min_value=0, max_value=10_000_000).map(lambda f: Decimal(f) / 100)


@given(wage=wages, month=st.sampled_from(MONTHS), region=st.sampled_from(REGIONS))
def test_base_is_clamped(wage: Decimal, month: str, region: str) -> None:
    r = Rates.of(PARAMS, region, month)
    base = r.base(wage)
    assert r.floor <= base <= r.ceiling
    if r.floor <= wage <= r.ceiling:
        assert base == wage


@given(
    wage=wages,
    month=st.sampled_from(MONTHS),
    risk=st.integers(min_value=1, max_value=8),
)
def test_every_part_is_base_times_rate_rounded_half_up(
    wage: Decimal, month: str, risk: int
) -> None:
    r = Rates.of(PARAMS, "320100", month)
    base = r.base(wage)
    pension, medical, unemployment, injury, maternity = r.employee_parts(base, risk)

    def fen(x: Decimal) -> Decimal:
        return x.quantize(FEN, rounding=ROUND_HALF_UP)

    assert pension.employer_part == fen(base * r.pension_employer)
    assert pension.employee_part == fen(base * r.pension_employee)
    assert medical.into_account == fen(base * r.medical_employee) + fen(
        base * r.medical_employer * r.medical_account_share
    )
    assert unemployment.employee_part == fen(base * r.unemployment_employee)
    assert injury.employer_part == fen(base * r.work_injury_by_class[str(risk)])
    assert maternity.employer_part == fen(base * r.maternity_employer)
    for part in (pension, medical, unemployment, injury, maternity):
        assert part.employer_part.as_tuple().exponent == -2
        assert part.employee_part.as_tuple().exponent == -2


E = employer_code(1)


def _service(persons: int) -> Service:
    s = Service()
    s.employer(E, risk_class=2)
    for i in range(persons):
        s.hire(ref(i), E, Decimal(4000 + 1500 * i), date(2019, 1, 1))
    s.close("320100", "2019-02")
    return s


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    persons=st.integers(min_value=1, max_value=4),
    cuts=st.lists(st.integers(min_value=1, max_value=99), max_size=4),
    extra=st.integers(min_value=0, max_value=5000).map(lambda f: Decimal(f) / 100),
    resend=st.lists(st.integers(min_value=0, max_value=10), max_size=3),
    short=st.booleans(),
)
def test_split_and_resent_payments_credit_once_when_due_is_reached(
    persons: int, cuts: list[int], extra: Decimal, resend: list[int], short: bool
) -> None:
    s = _service(persons)
    due = s.ledger(E).dues["2019-02"].amount_due
    total = due - FEN if short else due + extra
    # split the total at the given percentages into positive payments
    points = sorted({(total * c / 100).quantize(FEN) for c in cuts} - {Decimal(0), total})
    bounds = [Decimal(0), *[p for p in points if 0 < p < total], total]
    amounts = [b - a for a, b in itertools.pairwise(bounds) if b > a]
    reports = [
        cc.EmployerContributionsCollected(
            collection_id=f"C-{n}", employer=E, month="2019-02", amount=amount
        )
        for n, amount in enumerate(amounts)
    ]
    sent = list(reports)
    for k in resend:
        sent.insert(min(k, len(sent)), reports[k % len(reports)])
    for report in sent:
        s.collect("t320100", report)
    credited = s.of_type(cc.ContributionCredited)
    led = s.ledger(E)
    if short:
        assert credited == [] and led.dues["2019-02"].arrears == FEN
    else:
        assert sorted(c.person for c in credited) == [ref(i) for i in range(persons)]
        assert led.credit == extra
        for i in range(persons):
            line = s.assessment(E, "2019-02").line(ref(i))
            assert line is not None
            assert s.person(ref(i)).pension_account == line.parts[0].into_account
    assert not s.to_bureau("t320100", cc.TaxCollectionRejected)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(paid=st.lists(st.booleans(), min_size=3, max_size=14))
def test_interrupted_exactly_when_n_months_are_uncredited(paid: list[bool]) -> None:
    n = 3  # contributions.interruption_months
    s = Service()
    s.employer(E)
    s.hire(ref(1), E, "8000.00", date(2019, 1, 1))
    months = MONTHS[12:][: len(paid)]  # 2019-01 ...
    streak = 0  # uncredited months up to the last judged month, in the model
    opened = 0
    is_open = False
    for month, pays in zip(months, paid, strict=True):
        s.close("320100", month)
        if streak >= n and not is_open:
            is_open, opened = True, opened + 1
        assert (s.person(ref(1)).interruption is not None) == is_open, month
        if pays:
            s.pay_employer(E, month)
            is_open, streak = False, 0  # a month after the gap was credited: resumed
        else:
            streak += 1
        assert (s.person(ref(1)).interruption is not None) == is_open, month
    assert len(s.of_type(cc.InterruptionOpened)) == opened
    assert s.person(ref(1)).months(ce.Insurance.PENSION) == tuple(
        m for m, pays in zip(months, paid, strict=True) if pays
    )
