"""Enrollment's log of record: what a rebuild reads from the start, created with unlimited
retention, and how each subscription is rebuilt."""

from __future__ import annotations

from shebao_common.runtime import FromDecisions
from shebao_contracts import enrollment as c
from shebao_enrollment.handlers import enrollment_log
from shebao_enrollment.main import create_runtime


def test_the_logs_a_rebuild_reads_are_kept_for_ever() -> None:
    rt = create_runtime()
    assert rt.logs_of_record() == {
        "shebao.enrollment.events.v1",  # its own decisions, and a source of the lifetime record
        "shebao.enrollment.work.v1",  # partitioned: the card numbers' holders, as granted
        "shebao.contributions.events.v1",  # the other events the lifetime record projects
        "shebao.medical-settlement.events.v1",
        "shebao.unemployment-subsidies.events.v1",
        "shebao.welfare.events.v1",
    }


def test_the_commands_are_rebuilt_from_their_events_and_the_lifetime_record_replayed() -> None:
    subs = {s.name: s for s in create_runtime().every_subscription}
    # the work subscription folds every decision, whichever subscription made it (a command
    # decides at once where its partition keeps the person, else on the work topic)
    assert subs["commands"].rebuild == FromDecisions()
    assert subs["work"].rebuild == FromDecisions(log=(c.EVENTS, c.WORK), fold=enrollment_log)
    # what the command subscription still is: a resend by a person is the same command
    assert subs["commands"].canonical_fingerprints and subs["commands"].reject is not None
    assert subs["lifetime"].rebuild is None
    # every event that changes what the commands decided has a fold; a rejection changes nothing
    folded = {m.TYPE for m in c.EVENTS.messages if m.TYPE in enrollment_log}
    assert folded == {m.TYPE for m in c.EVENTS.messages} - {c.CommandRejected.TYPE}
    # of the work topic, the card numbers' holders (held at once, or granted to a claim)
    assert {m.TYPE for m in c.WORK.messages if m.TYPE in enrollment_log} == {
        c.CardNumberHeld.TYPE,
        c.CardNumberGranted.TYPE,
    }
