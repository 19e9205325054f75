"""A rebuild folds what the service published: over every rules scenario, the fold of the events
and work records the harness saw gives exactly the decided keys the live handlers wrote.

Each published record is read back as the rebuild reads it (JSON, validated), in the order it
was published; the events topic is written by several subscriptions, whose relays may publish
in another order than they decided, so the fold is also checked read back in another order: each
subscription's own records in their order, the subscriptions interleaved otherwise.
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import contributions_harness as harness
import pytest
import test_contributions_rules as rules

from shebao_common.runtime.testing import HandlerRunner
from shebao_contracts import contributions as cc
from shebao_contributions.domain import employers
from shebao_contributions.handlers import decision_log

FOLDED = (
    "person:",
    "employer:",
    "account:",
    "wages:",
    "assessment:",
    "ledger:",
    "directory:",
    "clock:",
)
"""Every kind of key the service keeps, folded whole."""


def _scenarios() -> Iterator[Any]:
    for name, fn in sorted(vars(rules).items()):
        if name.startswith("test_") and callable(fn) and not inspect.signature(fn).parameters:
            yield pytest.param(fn, id=name)


def folded(s: harness.Service, records: list[harness.Published]) -> dict[str, str]:
    fold = HandlerRunner(decision_log, s.env)
    for r in records:
        back = type(r.message).model_validate_json(r.message.model_dump_json())
        fold.send(back, topic=r.topic, when=r.time)
    return _decided(fold.store)


def relays_lagging(records: list[harness.Published]) -> list[harness.Published]:
    """The same records as the events topic may hold them when each subscription's relay
    publishes at its own pace: of what one input caused, the events of the subscription that
    decided last come first. (The work topic keeps its order: it is what the work subscription
    read; and what the next input caused comes after, as the test waited for it.)"""
    out: list[harness.Published] = []
    for _, group in itertools.groupby(records, key=lambda r: r.send):
        rs = list(group)
        out += [r for r in rs if r.topic != cc.EVENTS.name]
        events = [r for r in rs if r.topic == cc.EVENTS.name]
        order = list(dict.fromkeys(r.by for r in events))
        for by in reversed(order):
            out += [r for r in events if r.by == by]
    return out


def _decided(store: dict[str, Any]) -> dict[str, str]:
    return {
        k: v.model_dump_json() for k, v in store.items() if v is not None and k.startswith(FOLDED)
    }


@pytest.mark.parametrize("scenario", list(_scenarios()))
def test_the_published_decisions_fold_to_the_decided_state(scenario: Any) -> None:
    services: list[harness.Service] = []
    init = harness.Service.__init__

    def watched(self: harness.Service, *a: Any, **kw: Any) -> None:
        init(self, *a, **kw)
        services.append(self)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(harness.Service, "__init__", watched)
        scenario()
    for s in services:
        decided = _decided(s.store)
        assert folded(s, s.published) == decided
        assert folded(s, relays_lagging(s.published)) == decided
        assert folded(s, closings_first(s.published)) == decided
        assert folded(s, key_by_key(s.published)) == decided


def key_by_key(records: list[harness.Published]) -> list[harness.Published]:
    """Partitions are read in any interleaving: each record key's records in their order, the
    keys one after another (the last to appear first). A fold handler writes the keys its record
    names, so this is any partition order."""
    groups: dict[tuple[str, str], list[harness.Published]] = {}
    for r in records:
        groups.setdefault((r.topic, r.key), []).append(r)
    return [r for group in reversed(groups.values()) for r in group]


CLOSINGS = (cc.InterruptionClosed, cc.AdvanceRecovered)


def closings_first(records: list[harness.Published]) -> list[harness.Published]:
    """The extreme of a lagging relay: every record that closes what another subscription opened
    (an interruption, an advance) read before everything else."""
    first = [r for r in records if isinstance(r.message, CLOSINGS)]
    return first + [r for r in records if not isinstance(r.message, CLOSINGS)]


def test_a_revision_read_back_before_the_assessment_it_revises_folds_the_same() -> None:
    """The close publishes revision 1 (work's relay), a correction revision 2 (the commands'
    relay): read back in either order, the ledger and the assessment are the same."""
    s = harness.Service()
    e = harness.employer_code(1)
    s.employer(e)
    s.hire(harness.ref(1), e, "8000.00", date(2019, 1, 1))
    s.hire(harness.ref(2), e, "6000.00", date(2019, 1, 1))
    s.close("320100", "2019-01")
    s.command(
        cc.DeclareWages(
            employer=e,
            month="2019-01",
            wages=[cc.WageLine(person=harness.ref(1), wage=Decimal("9000.00"))],
        ),
        date(2019, 2, 3),
    )
    assert s.assessment(e, "2019-01").revision == 2
    revisions = [r for r in s.published if isinstance(r.message, cc.AssessmentIssued)]
    lines = [r for r in s.published if isinstance(r.message, cc.AssessmentLines)]
    rest = [r for r in s.published if r not in revisions and r not in lines]
    decided = _decided(s.store)
    assert folded(s, rest + revisions[::-1] + lines[::-1]) == decided
    assert folded(s, rest + revisions + lines) == decided


def test_an_assessment_published_in_parts_folds_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lines go out 1,000 to a record: parts of one revision add up, read in any order."""
    monkeypatch.setattr(employers, "LINES_PER_PART", 2)
    s = harness.Service()
    e = harness.employer_code(1)
    s.employer(e)
    for i in range(5):
        s.hire(harness.ref(i), e, Decimal(7000 + 500 * i), date(2019, 1, 1))
    s.close("320100", "2019-01")
    wages = [cc.WageLine(person=harness.ref(3), wage=Decimal("9100.00"))]
    s.command(cc.DeclareWages(employer=e, month="2019-01", wages=wages), date(2019, 2, 3))
    lines = [r for r in s.published if isinstance(r.message, cc.AssessmentLines)]
    assert [(r.message.revision, r.message.part, r.message.parts) for r in lines] == [
        (1, 1, 3),
        (1, 2, 3),
        (1, 3, 3),
        (2, 1, 3),
        (2, 2, 3),
        (2, 3, 3),
    ]
    rest = [r for r in s.published if r not in lines]
    decided = _decided(s.store)
    assert folded(s, s.published) == decided
    assert folded(s, rest + lines[::-1]) == decided


def test_an_interruption_closed_read_before_it_was_opened_stays_closed() -> None:
    """Opened by work's relay, closed by the collections' (the bureau's payment): if the
    closing is read back first, the rebuilt account is still the one the service holds."""
    s = harness.Service()
    e = harness.employer_code(1)
    s.employer(e)
    s.hire(harness.ref(1), e, "8000.00", date(2019, 1, 1))
    for month in ("2019-01", "2019-02", "2019-03", "2019-04", "2019-05"):
        s.close("320100", month)
    assert s.person(harness.ref(1)).interruption is not None
    for month in ("2019-01", "2019-02", "2019-03", "2019-04"):
        s.pay_employer(e, month)
    assert s.person(harness.ref(1)).interruption is None
    moved = [r for r in s.published if isinstance(r.message, cc.InterruptionClosed)]
    assert moved
    rest = [r for r in s.published if r not in moved]
    assert folded(s, moved + rest) == _decided(s.store)
