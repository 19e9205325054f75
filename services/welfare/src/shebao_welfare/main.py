"""Composition root of the welfare service."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from shebao_common.policy import Policy
from shebao_common.pseudonym import Pseudonymizer
from shebao_common.runtime import ServiceRuntime, Subscription, command_subscription, run
from shebao_common.runtime.wiring import runtime_for
from shebao_common.settings import ServiceSettings
from shebao_contracts import unemployment as u
from shebao_contracts import welfare as w

from .domain.env import Env
from .domain.params import Params
from .handlers import command_handlers, unemployment_handlers, work_handlers
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
            command_subscription(
                w.COMMANDS,
                command_handlers,
                w.CommandRejected,
                w.EVENTS,
                ttl_days=settings.command_id_ttl_days,
                canonical_fingerprints=True,
            ),
            Subscription("work", (w.WORK,), work_handlers),
            Subscription("unemployment", (u.EVENTS,), unemployment_handlers),
        ],
        env=env,
        routes=ReadSide(env).routes(),
    )


def main() -> None:
    run(create_runtime)
