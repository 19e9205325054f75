"""The platform the demo runs: the service processes, the topics, what it watches."""

from __future__ import annotations

import signal
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from shebao_contracts import contributions as cc
from shebao_contracts import enrollment as c
from shebao_contracts import medical as m
from shebao_contracts import unemployment as u
from shebao_contracts import welfare as wf

from ..infra import Infra
from ..kit import Offsets
from ..testing import Partitions, RunningService, Service, ServiceProcess
from .output import say
from .setting import (
    BUREAUS,
    CITY_BUREAU,
    CITY_HOSPITALS,
    CITY_STATS,
    HOSPITALS,
    WUXI_BUREAU,
    WUXI_HOSPITAL,
    WUXI_STATS,
)
from .tap import Tap


class World:
    """The five services (as processes, or `running` already: a platform brought up by compose
    or deployed), their input topics, and the demo's readers."""

    def __init__(
        self, infra: Infra, logs: Path, running: Mapping[str, RunningService] | None = None
    ) -> None:
        self.bootstrap = infra.kafka_bootstrap
        self.logs = logs
        self.running = running is not None

        def service(name: str, module: str) -> Service:
            if running is not None:
                return running[name]
            return ServiceProcess(
                name, module, kafka=infra.kafka_bootstrap, redis_url=infra.redis_url, log_dir=logs
            )

        self.enrollment = service("enrollment", "shebao_enrollment")
        self.contributions = service("contributions", "shebao_contributions")
        self.medical = service("medical-settlement", "shebao_medical_settlement")
        self.unemployment = service("unemployment-subsidies", "shebao_unemployment_subsidies")
        self.welfare = service("welfare", "shebao_welfare")
        self.services = [
            self.enrollment,
            self.contributions,
            self.medical,
            self.unemployment,
            self.welfare,
        ]
        bureaus = [*BUREAUS.values(), WUXI_BUREAU, CITY_BUREAU]
        collections = [cc.COLLECTIONS.named(code=b) for b in bureaus]
        hospitals = [h for h, _, _ in (*HOSPITALS, WUXI_HOSPITAL, *CITY_HOSPITALS)]
        claims = [m.CLAIMS.named(code=h) for h in hospitals]
        self.inputs = {
            "enrollment": [c.COMMANDS.name, c.WORK.name],
            "contributions": [
                c.EVENTS.name,
                cc.COMMANDS.name,
                cc.WORK.name,
                *collections,
                u.EVENTS.name,
            ],
            "medical": [
                *claims,
                m.COMMANDS.name,
                m.EVENTS.name,
                c.EVENTS.name,
                cc.EVENTS.name,
                u.EVENTS.name,
                wf.EVENTS.name,
            ],
            "unemployment": [
                c.EVENTS.name,
                cc.EVENTS.name,
                wf.EVENTS.name,
                u.COMMANDS.name,
                u.WORK.name,
                u.CPI.named(code=WUXI_STATS),
                u.CPI.named(code=CITY_STATS),
            ],
            "welfare": [wf.COMMANDS.name, wf.WORK.name, u.EVENTS.name],
        }
        watched = [
            cc.EVENTS.name,
            *[cc.ASSESSMENTS.named(code=b) for b in bureaus],
            u.EVENTS.name,
            u.ANSWERS.named(code=WUXI_STATS),
            u.ANSWERS.named(code=CITY_STATS),
            wf.EVENTS.name,
            *[m.SETTLEMENTS.named(code=h) for h in hospitals],
            # the city's partners' own records, for the time each waited for its answer
            cc.COLLECTIONS.named(code=CITY_BUREAU),
            u.CPI.named(code=CITY_STATS),
            *[m.CLAIMS.named(code=h) for h, _, _ in CITY_HOSPITALS],
        ]
        consumed = sorted({t for topics in self.inputs.values() for t in topics})
        self.topics = sorted({*consumed, *(t + ".dlq" for t in consumed), *watched})
        self.watched = watched
        self.tap = Tap(infra.kafka_bootstrap, watched, self.services)
        self.offsets = Offsets(infra.kafka_bootstrap)

    def partitioned(self, partitions: Partitions) -> None:
        """The topics have these partition counts (a platform that created its own topics)."""
        self.tap = Tap(self.bootstrap, self.watched, self.services, partitions)
        self.offsets = Offsets(self.bootstrap, partitions)


def stop_services(services: Sequence[Service]) -> None:
    """SIGTERM to every service process the demo started, at once, then wait; kill what does not
    stop in time (a platform that was running already is left running)."""
    running = [s for s in services if isinstance(s, ServiceProcess) and s.alive]
    for s in running:
        assert s.proc is not None
        s.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 30
    for s in running:
        assert s.proc is not None
        try:
            s.proc.wait(max(0.1, deadline - time.monotonic()))
        except Exception:
            s.proc.kill()
            s.proc.wait(10)
            say(f"{s.name} did not stop within 30s of SIGTERM: killed (log {s.log_path})")
            continue
        log = s.log_path.read_text(errors="replace")
        if "service started" in log and "batches finished and outbox flushed" not in log:
            say(f"{s.name} exited {s.proc.returncode} without a clean shutdown (log {s.log_path})")
