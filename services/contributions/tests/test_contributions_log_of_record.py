"""What a rebuild of contributions finds on its log of record.

A rebuild (`shebao_common.runtime.rebuild`) restores a deciding subscription from what it
published: its state is the fold of its published events, its position is just after the last
record whose decision was published, its dedupe marks are the causes of what it published. So,
for the rebuilt keyspace to equal the original key by key, every record a deciding subscription
handles must either publish what it changed, or change nothing AND still leave a trace (else its
offset and its mark are not found, and it is read again). A projection (rebuild None) must
publish nothing at all.

This module runs every scenario of the rules tests and records, per subscription and message
type, what its handled records did: published something, changed state without publishing
anything (a decision the log cannot show), or neither (a record the rebuild cannot tell was
read). The result is pinned below (see services/contributions/REBUILD.md), kept exact so that a
change shows here.
"""

from __future__ import annotations

import inspect
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
import test_contributions_rules as rules

from shebao_common.runtime.testing import HandlerRunner
from shebao_contributions import handlers as h
from shebao_contributions.main import create_runtime

SUBSCRIPTION_OF = {
    id(h.enrollment_handlers): "enrollment",
    id(h.transfer_handlers): "transfers",
    id(h.command_handlers): "commands",
    id(h.work_handlers): "work",
    id(h.unemployment_handlers): "unemployment",
    id(h.welfare_handlers): "welfare",
    id(h.collection_handlers): "collections",
}

PUBLISHED, SILENT_WRITE, NOTHING = "published", "changed state, published nothing", "nothing"


def _scenarios() -> Iterator[Any]:
    for name, fn in sorted(vars(rules).items()):
        if name.startswith("test_") and callable(fn) and not inspect.signature(fn).parameters:
            yield fn


Measured = tuple[dict[tuple[str, str], set[str]], dict[str, set[str]]]


@pytest.fixture(scope="module")
def measured() -> Measured:
    """(subscription, message type) -> what its records did, and key kind -> the subscriptions
    that wrote one, over every rules scenario."""
    out: dict[tuple[str, str], set[str]] = defaultdict(set)
    writers: dict[str, set[str]] = defaultdict(set)
    send = HandlerRunner.send

    def watched(self: HandlerRunner[Any], message: Any, **kw: Any) -> Any:
        before = dict(self.store)
        emits = send(self, message, **kw)
        if self.table.get(message.TYPE) is None:
            return emits
        changed = {k for k in {*before, *self.store} if before.get(k) != self.store.get(k)}
        what = PUBLISHED if emits else SILENT_WRITE if changed else NOTHING
        sub = SUBSCRIPTION_OF[id(self.table)]
        out[(sub, message.TYPE.rsplit(".", 1)[1])].add(what)
        for k in changed:
            writers[k.split(":", 1)[0]].add(sub)
        return emits

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(HandlerRunner, "send", watched)
        for scenario in _scenarios():
            scenario()  # each passes in test_contributions_rules too
    return dict(out), dict(writers)


@pytest.fixture(scope="module")
def seen(measured: Measured) -> dict[tuple[str, str], set[str]]:
    return measured[0]


def test_who_writes_each_key(measured: Measured) -> None:
    """A person's facts (`person:`) and an employer's (`employer:`) are the enrollment
    subscription's alone; what is decided of them is in the account and the employer's ledger.
    Left to split (REBUILD.md): the enrollment subscription still decides who assesses a person
    and his watch (`account:`)."""
    _, writers = measured
    assert writers == {
        "person": {"enrollment"},
        "account": {
            *("enrollment", "transfers", "work", "commands"),
            *("collections", "unemployment", "welfare"),
        },
        "employer": {"enrollment"},
        "wages": {"commands"},
        "assessment": {"work", "commands"},
        "ledger": {"work", "commands", "collections"},
        "directory": {"work"},
        "clock": {"commands"},
    }


def _kinds(seen: dict[tuple[str, str], set[str]], what: str) -> dict[str, set[str]]:
    by: dict[str, set[str]] = defaultdict(set)
    for (sub, kind), did in seen.items():
        if what in did:
            by[sub].add(kind)
    return dict(by)


def test_the_enrollment_subscription_publishes_the_facts_it_decides_on(
    seen: dict[tuple[str, str], set[str]],
) -> None:
    """It follows enrollment's facts and decides from them (the region directory's fan-out, a
    roster left on a death); what it follows it records on the work topic (`PersonFollowed`,
    `EmployerFollowed`, `RosterFollowed`), so none of its records changes state without
    publishing. (The transfer amount is decided apart, by `transfers`, every record of which
    publishes.)"""
    assert "enrollment" not in _kinds(seen, SILENT_WRITE)
    assert {"PersonRegistered", "MembershipStarted", "EmploymentStarted"} <= _kinds(
        seen, PUBLISHED
    )["enrollment"]
    assert {kind for (sub, kind), did in seen.items() if sub == "transfers"} == {
        "PersonTransferredOut"
    }
    assert seen[("transfers", "PersonTransferredOut")] == {PUBLISHED}


def test_deciding_subscriptions_change_state_only_as_their_log_says(
    seen: dict[tuple[str, str], set[str]],
) -> None:
    """A decider's record that changes state without publishing is a record of the work topic
    itself (the directory's entries, a leave on a death): the fold replays it from there, in the
    order the work subscription read it. Every other state change is published."""
    silent = _kinds(seen, SILENT_WRITE)
    assert silent == {
        "work": {"DirectoryEmployerAdded", "DirectoryPayerSet", "DirectoryWatchSet", "RosterLeave"}
    }
    assert all(f"shebao.contributions.{kind}" in h.decision_log for kind in silent["work"])


def test_deciding_subscriptions_read_records_that_leave_no_trace(
    seen: dict[tuple[str, str], set[str]],
) -> None:
    """Records that change nothing and publish nothing: after a rebuild the subscription's
    position stops before them (they are read again) and their dedupe marks are not restored."""
    nothing = _kinds(seen, NOTHING)
    nothing.pop("enrollment", None)
    assert nothing == {
        "work": {"AssessShard"},  # a shard of the region with nobody in it
        "collections": {"EmployerContributionsCollected"},  # a bureau's resend
        "unemployment": {"MedicalContributionPaid"},  # a month credited before
        "welfare": {"PensionPaidOnBehalf"},  # a year paid on behalf before
    }


def test_every_subscription_declares_its_log_of_record() -> None:
    """The subscriptions go on from their published decisions, and `work` folds them all (the
    events and the work topic) with `decision_log`."""
    rt = create_runtime()
    how = {sub.name: sub.rebuild for sub in rt.every_subscription}
    work = how.pop("work")
    assert work is not None and work.fold is h.decision_log
    assert {t.name for t in work.log} == {
        "shebao.contributions.events.v1",
        "shebao.contributions.work.v1",
    }
    assert set(how) == {"enrollment", "transfers", "commands", "unemployment", "welfare"} | {
        "collections"
    }
    assert all(r is not None and r.fold is None and not r.log for r in how.values()), how
    assert rt.logs_of_record() == {
        "shebao.contributions.events.v1",
        "shebao.contributions.work.v1",
        "shebao.enrollment.events.v1",
        "shebao.unemployment-subsidies.events.v1",
        "shebao.welfare.events.v1",
    }
