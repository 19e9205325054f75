"""Contributions with its state partitioned, as on a Redis Cluster (`STATE_LAYOUT`).

Each record reads and writes only what its partition owns (`Entity.owner`, domain/model.py);
what a record keyed otherwise would change is handed to the owner's partition on the work topic
(an employment's roster, a bureau's report), and a command keyed otherwise is refused by name.
The rules' scenarios run here again, partitioned, and must hold as they do in one slot.
"""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import date
from decimal import Decimal as D
from typing import Any

import contributions_harness as harness
import pytest
import test_contributions_rules as rules
from contributions_harness import IDS, Service, citizen, employer_code, ref

from shebao_common.runtime.store import default_partition
from shebao_common.runtime.testing import key_elsewhere, made_partitioned, scenarios, unnumbered
from shebao_contracts import contributions as cc


def _published(scenario: Any, partitions: int | None, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run a scenario (its own assertions hold or it fails); what each Service it made
    published on the events topic and to the bureaus, as multisets, and its forwards."""
    with monkeypatch.context() as m, made_partitioned(Service, partitions) as made:
        m.setattr(harness, "_ids", itertools.count(1))  # the collection ids it makes up
        scenario()
    said = [
        Counter(
            unnumbered(text)
            for text in [f"{k} {e.model_dump_json()}" for k, e in s.events]
            + [f"{c} {k} {e.model_dump_json()}" for c, k, e in s.bureau]
        )
        for s in made
    ]
    forwards = Counter(
        type(p.message).__name__
        for s in made
        for p in s.published
        if isinstance(p.message, FORWARDS)
    )
    return said, forwards


FORWARDS = (cc.RosterChanged, cc.EmployerCollectionForwarded, cc.PersonCollectionForwarded)
SEEN: Counter[str] = Counter()


@pytest.mark.parametrize("partitions", [3, 12])
@pytest.mark.parametrize("scenario", [pytest.param(f, id=n) for n, f in scenarios(rules)])
def test_every_rules_scenario_holds_and_says_the_same_with_the_state_partitioned(
    scenario: Any, partitions: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scenario's assertions hold partitioned, and it publishes the same events and tells
    the bureaus the same, record for record (in another order: a forward is a hop later)."""
    one_slot, none = _published(scenario, None, monkeypatch)
    partitioned, forwards = _published(scenario, partitions, monkeypatch)
    assert not none, "one slot keeps everything: nothing is forwarded"
    assert partitioned == one_slot
    SEEN.update(forwards)


def test_the_scenarios_hand_employments_and_person_reports_to_their_owners() -> None:
    """The scenarios above did take the partitioned paths (this runs after them)."""
    assert SEEN["RosterChanged"] > 100
    assert SEEN["PersonCollectionForwarded"] > 5


# ---------------------------------------------------------------------------------------------
# What a partition does with a record keyed otherwise

N = 3
NJ = "320100"
E1 = employer_code(1)


def _elsewhere(owner: str) -> str:
    return key_elsewhere(owner, N)


def _one_employee(partitions: int | None) -> Service:
    s = Service(partitions=partitions)
    s.employer(E1)
    s.hire(ref(1), E1, "10000.00", date(2019, 1, 1))
    s.close(NJ, "2019-02")
    return s


def test_an_employer_report_keyed_otherwise_is_booked_by_the_employers_partition() -> None:
    s = _one_employee(N)
    due = s.ledger(E1).dues["2019-02"].amount_due
    report = cc.EmployerContributionsCollected(
        collection_id="C-1",
        employer=E1,
        month="2019-02",
        amount=due,
        persons=[cc.PersonAmount(citizen_id=citizen(1), amount=due)],
    )
    key = _elsewhere(E1)
    s.collect("t320100", report, key=key)
    (forward,) = [p for p in s.published if isinstance(p.message, cc.EmployerCollectionForwarded)]
    assert (forward.topic, forward.key, forward.by) == (cc.WORK.name, E1, "collections")
    assert (forward.message.partition, forward.message.bureau) == (
        default_partition(key, N),
        "t320100",
    )
    # the work topic carries the person by reference, his ID sealed, never the raw ID
    assert citizen(1) not in forward.message.model_dump_json()
    assert forward.message.persons[0].person == ref(1)
    assert s.ledger(E1).dues["2019-02"].settled
    (booked,) = s.to_bureau("t320100", cc.TaxPaymentBooked)
    assert booked.collection_id == "C-1"
    # resent keyed right, it meets the same ledger: booked once
    s.collect("t320100", report)
    assert s.of_type(cc.ContributionCredited)[-1].period == "2019-02"
    assert len(s.of_type(cc.ContributionCredited)) == 1


def test_a_refused_person_report_names_the_bureaus_record_not_the_forward() -> None:
    s = Service(partitions=N)
    year = cc.PersonContributionsCollected(
        collection_id="R-1", citizen_id=citizen(1), period="2019", amount=D("750.00")
    )
    s.collect("t320100", year, date(2019, 4, 2))  # keyed by its collection id, the contract's
    (forward,) = [p for p in s.published if isinstance(p.message, cc.PersonCollectionForwarded)]
    assert citizen(1) not in forward.message.model_dump_json()
    assert forward.key == IDS.person_ref(citizen(1))
    (rejected,) = s.to_bureau("t320100", cc.TaxCollectionRejected)
    assert rejected.reason == "unknown_assessment"
    assert rejected.citizen_id == citizen(1)  # the bureau hears of the ID it sent
    assert rejected.partition == default_partition("R-1", N)


@pytest.mark.parametrize("partitions", [None, N])
def test_a_command_keyed_otherwise_is_refused_by_name_where_the_state_is_partitioned(
    partitions: int | None,
) -> None:
    s = Service(partitions=partitions)
    s.employer(E1)
    s.hire(ref(1), E1, "10000.00", date(2019, 1, 1))
    wages = cc.DeclareWages(
        employer=E1, month="2019-02", wages=[cc.WageLine(person=ref(1), wage=D("12000.00"))]
    )
    close = cc.ClosePeriod(region=NJ, month="2019-02")
    out = s.command(wages, date(2019, 2, 1), key=_elsewhere(E1))
    out += s.command(close, date(2019, 3, 1), key=_elsewhere(NJ))
    refused = [r.reason for r in out if isinstance(r, cc.CommandRejected)]
    if partitions is None:  # one slot keeps everything: the key does not matter
        assert not refused and any(isinstance(m, cc.PeriodClosed) for m in out)
    else:
        assert refused == ["command_key_mismatch"] * 2
        assert not any(isinstance(m, (cc.WagesDeclared, cc.PeriodClosed)) for m in out)
        # keyed as the contract says, both are decided
        assert not [
            r for r in s.command(wages, date(2019, 2, 1)) if isinstance(r, cc.CommandRejected)
        ]
        assert any(isinstance(m, cc.PeriodClosed) for m in s.command(close, date(2019, 3, 1)))
