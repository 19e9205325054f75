"""What a rebuild reads from the start is created with unlimited retention."""

from __future__ import annotations

from shebao_medical_settlement.main import create_runtime


def test_the_logs_a_rebuild_reads_are_kept_for_ever() -> None:
    rt = create_runtime()
    assert rt.logs_of_record() == {
        "shebao.medical-settlement.events.v1",  # its own decisions
        "shebao.enrollment.events.v1",  # and the events its coverage projects
        "shebao.contributions.events.v1",
        "shebao.unemployment-subsidies.events.v1",
        "shebao.welfare.events.v1",
    }
