"""What a rebuild reads from the start is created with unlimited retention."""

from __future__ import annotations

from shebao_common.runtime import FromDecisions
from shebao_unemployment_subsidies.main import create_runtime


def test_the_logs_a_rebuild_reads_are_kept_for_ever() -> None:
    rt = create_runtime()
    assert rt.logs_of_record() == {
        "shebao.unemployment-subsidies.events.v1",  # its own decisions
        "shebao.unemployment-subsidies.work.v1",  # its directory's changes
        "shebao.enrollment.events.v1",  # and the events it follows
        "shebao.contributions.events.v1",
        "shebao.welfare.events.v1",
    }
    # and the bureaus' answers (`partner.stats.{code}.answers.v1`, created with each bureau)


def test_every_subscription_that_decides_declares_its_log() -> None:
    rebuild = {s.name: s.rebuild for s in create_runtime().every_subscription}
    projections = {name for name, how in rebuild.items() if how is None}
    assert projections == {"contributions", "welfare"}
    # the commands handed to a person's partition decide benefits, which the commands' fold of
    # the events topic rebuilds, whichever subscription decided them: it has no fold of its own
    assert rebuild.pop("handed") == FromDecisions()
    assert all(isinstance(how, FromDecisions) and how.fold for how in rebuild.values() if how)
