"""Composition root of the welfare service."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from shebao_common.policy import Policy
from shebao_common.pseudonym import Pseudonymizer
from shebao_common.runtime import (
    FromDecisions,
    ServiceRuntime,
    Subscription,
    command_subscription,
    run,
)
from shebao_common.runtime.wiring import runtime_for
from shebao_common.settings import ServiceSettings
from shebao_contracts import unemployment as u
from shebao_contracts import welfare as w

from .domain.env import Env
from .domain.params import Params
from .handlers import command_handlers, unemployment_handlers, welfare_log, work_handlers
from .readside import ReadSide


class WelfareSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SHEBAO_WELFARE_", extra="ignore", frozen=True)


def create_runtime(settings: WelfareSettings | None = None) -> ServiceRuntime:
    settings = settings or WelfareSettings()
    env = Env(Params(Policy.of("shebao_welfare")), Pseudonymizer(settings.pseudonym_secret()))
    return runtime_for(
        w.CONTRACT,
        settings=settings,
        subscriptions=[
            # people type these: a resend differing only in layout is the same command
            # the fold of what all three decided (handlers.welfare_log: one pass, since
            # they write the same cases, persons and regions); the others' positions only
            command_subscription(
                w.COMMANDS,
                command_handlers,
                w.CommandRejected,
                w.EVENTS,
                ttl_days=settings.command_id_ttl_days,
                canonical_fingerprints=True,
                rebuild=FromDecisions(log=(w.EVENTS, w.WORK), fold=welfare_log),
            ),
            Subscription("work", (w.WORK,), work_handlers, rebuild=FromDecisions()),
            Subscription(
                "unemployment", (u.EVENTS,), unemployment_handlers, rebuild=FromDecisions()
            ),
        ],
        env=env,
        routes=ReadSide(env).routes(),
        # every kind names its owner (domain/model.py); a support command keyed by citizen ID
        # is handed to the person's partition, a household's members are claimed from theirs,
        # a command keyed otherwise than its topic says is refused by name (handlers.py)
        partitionable=True,
    )


def main() -> None:
    run(create_runtime)
