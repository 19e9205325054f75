"""Properties over random command sequences: never two pension (or medical) schemes at once,
the coverage counters always equal a recount of the active memberships, and the events the
commands published fold back into exactly the state they decided (a rebuild)."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from decimal import Decimal

from enrollment_harness import Domain, citizen_id
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shebao_common.runtime.testing import HandlerRunner
from shebao_contracts import enrollment as c
from shebao_enrollment.domain.model import MEDICAL_SCHEMES, PENSION_SCHEMES
from shebao_enrollment.handlers import enrollment_log

REGIONS = ["320100", "320500", "321300"]
EMPLOYERS = {"91320100MA1AAAAA1A": "320100", "91320500MA1BBBBB2B": "320500"}
PEOPLE = [
    citizen_id(date(1980, 1, 15), male=True, n=1),
    citizen_id(date(1992, 7, 30), male=False, n=2),
    citizen_id(date(2008, 12, 1), male=True, n=3),  # turns 16 during the sequences
]

days = st.integers(min_value=0, max_value=3 * 365).map(lambda n: date(2023, 1, 1) + timedelta(n))
person = st.sampled_from(PEOPLE)
region = st.sampled_from(REGIONS)
employer = st.sampled_from(sorted(EMPLOYERS))
tier = st.sampled_from([100, 500, 2000, 1200])
transfer_id = st.sampled_from(["T1", "T2", "T3"])

start = st.builds(
    c.StartEmployment,
    citizen_id=person,
    employer=employer,
    start_date=days,
    monthly_wage=st.just(Decimal("7000.00")),
)
end = st.builds(
    c.EndEmployment,
    citizen_id=person,
    employer=employer,
    end_date=days,
    separation=st.sampled_from(list(c.Separation)),
)
transfer_out = st.builds(
    c.TransferOut,
    citizen_id=person,
    transfer_id=transfer_id,
    to_region=region,
    date=days,
    insurances=st.lists(
        st.sampled_from(list(c.Insurance)), min_size=1, max_size=3, unique=True
    ).map(tuple),
)
transfer_in = st.builds(
    c.TransferIn,
    citizen_id=person,
    transfer_id=transfer_id,
    region=region,
    from_region=st.sampled_from([*REGIONS, "310100"]),
    date=days,
)
others = st.one_of(
    st.builds(
        c.EnrolFlexibleWorker,
        citizen_id=person,
        region=region,
        start_date=days,
        declared_base=st.just(Decimal("5000.00")),
        unemployment=st.booleans(),
        maternity=st.booleans(),
    ),
    st.builds(
        c.EnrolResidentPension, citizen_id=person, region=region, start_date=days, yearly_tier=tier
    ),
    st.builds(c.EnrolResidentMedical, citizen_id=person, region=region, start_date=days),
    st.builds(
        c.EnrolLandExpropriatedFarmer,
        citizen_id=person,
        region=region,
        start_date=days,
        expropriation_record=st.just("ZD-1"),
    ),
    st.builds(c.ChooseResidentPensionTier, citizen_id=person, year=st.just(2025), yearly_tier=tier),
)
death = st.builds(c.RecordDeath, citizen_id=person, date_of_death=days)
# Weighted: employment and transfers often, death rarely (it ends a person's story).
commands = st.sampled_from(
    [start] * 4 + [end] * 4 + [transfer_out] * 3 + [transfer_in] * 3 + [others] * 6 + [death]
).flatmap(lambda strategy: strategy)


def setup() -> Domain:
    d = Domain()
    for code, reg in EMPLOYERS.items():
        d.send(
            c.RegisterEmployer(
                employer=code,
                name="单位",
                region=reg,
                ownership=c.Ownership.PRIVATE,
                risk_class=4,
                registered_on=date(2020, 1, 1),
            )
        )
    for i, cid in enumerate(PEOPLE):
        d.send(
            c.RegisterPerson(
                citizen_id=cid,
                name="人",
                hukou_region=REGIONS[i % 3],
                residence=c.Residence.RURAL if i % 2 else c.Residence.URBAN,
                registered_on=date(2020, 1, 1),
            )
        )
    return d


def check_invariants(d: Domain) -> None:
    recount: Counter[tuple[str, str]] = Counter()
    for cid in PEOPLE:
        p = d.person(cid)
        schemes = [m.scheme for m in p.memberships]
        assert len(schemes) == len(set(schemes)), "one membership per scheme"
        active = [m for m in p.memberships if m.active]
        assert sum(m.scheme in PENSION_SCHEMES for m in active) <= 1, "two pension schemes"
        assert sum(m.scheme in MEDICAL_SCHEMES for m in active) <= 1, "two medical schemes"
        if p.employment is not None:
            pension = p.membership(c.Scheme.EMPLOYEE_PENSION)
            assert pension is not None and pension.active
            assert pension.basis == c.Basis.EMPLOYMENT
            assert pension.region == p.employment.region
        if p.deceased_on is not None:
            assert p.memberships == () and p.employment is None
        for m in active:
            recount[(f"coverage:{m.region}", m.insurance.value)] += 1
    counted = {k: v for k, v in d.counters.items() if v and not k[1].startswith("scheme:")}
    assert counted == dict(recount), "coverage counters drifted from the memberships"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(commands, min_size=1, max_size=40))
def test_never_two_pension_schemes_and_counters_stay_exact(sequence: list) -> None:
    d = setup()
    for cmd in sequence:
        d.send(cmd)
        check_invariants(d)


LATECOMER = citizen_id(date(1975, 5, 5), male=False, n=4)  # registered during the sequences
EVERYONE = [*PEOPLE, LATECOMER]
anyone = st.sampled_from(EVERYONE)
card_number = st.sampled_from(["A32010001", "A32010002", "B32050003"])
registrations_and_cards = st.one_of(
    st.builds(
        c.RegisterPerson,
        citizen_id=anyone,
        name=st.sampled_from(["王芳", " Anna Müller ", "李"]),
        hukou_region=region,
        residence=st.sampled_from(list(c.Residence)),
        registered_on=days,
    ),
    st.builds(c.IssueCard, citizen_id=anyone, card_number=card_number, issued_on=days),
    st.builds(
        c.ReplaceCard,
        citizen_id=anyone,
        card_number=card_number,
        issued_on=days,
        reason=st.sampled_from(list(c.CardReplacement)),
    ),
    st.builds(
        c.RegisterEmployer,
        employer=employer,
        name=st.just("另一单位"),
        region=region,
        ownership=st.just(c.Ownership.PRIVATE),
        risk_class=st.integers(min_value=1, max_value=8),
        registered_on=days,
    ),
)
everything = st.one_of(
    commands,
    registrations_and_cards,
    st.builds(
        c.StartEmployment,
        citizen_id=st.just(LATECOMER),
        employer=employer,
        start_date=days,
        monthly_wage=st.just(Decimal("6100.50")),
    ),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(everything, min_size=1, max_size=40))
def test_the_published_decisions_rebuild_the_same_state(sequence: list) -> None:
    """A rebuild folds what the commands published (as it reads it back from the topics, JSON:
    the events, and the card numbers' holders on the work topic) into persons, employers, card
    numbers and coverage counters equal, value by value and field by field, to what deciding
    wrote; the citizen IDs and names come back from their seals, and no record carries either
    in clear."""
    d = setup()
    for cmd in sequence:
        d.send(cmd)
    log = d.log
    fold = HandlerRunner(enrollment_log, d.env)
    for e in log:
        wire = e.message.model_dump_json()
        assert not any(cid in wire for cid in EVERYONE)
        assert not any(name in wire for name in ("王芳", "Anna", "人", "李"))
        fold.send(type(e.message).model_validate_json(wire), when=e.time)
    assert fold.emitted == []
    decided = {
        k: v.model_dump_json()
        for k, v in d.store.items()
        if v is not None and k.split(":")[0] in {"person", "employer", "card"}
    }
    rebuilt = {k: v.model_dump_json() for k, v in fold.store.items() if v is not None}
    assert rebuilt == decided
    # the same increments, so the same fields (a field moved to 0 and back is still a field)
    assert dict(fold.counters) == dict(d.counters)
