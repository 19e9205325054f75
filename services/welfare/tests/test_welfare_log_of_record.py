"""What a rebuild of welfare reads from the start is created with unlimited retention."""

from __future__ import annotations

from shebao_welfare.main import create_runtime


def test_the_logs_a_rebuild_reads_are_kept_for_ever() -> None:
    rt = create_runtime()
    assert rt.logs_of_record() == {
        "shebao.welfare.events.v1",  # its decisions
        "shebao.welfare.work.v1",  # and the fan-out that closes, triggers and directories are
        "shebao.unemployment-subsidies.events.v1",  # the events it follows
    }
    assert all(s.rebuild is not None for s in rt.every_subscription)
