"""Composition root of the unemployment-subsidies service."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from shebao_common.policy import Policy
from shebao_common.pseudonym import Pseudonymizer
from shebao_common.runtime import ServiceRuntime, Subscription, command_subscription, run
from shebao_common.runtime.wiring import runtime_for
from shebao_common.settings import ServiceSettings
from shebao_contracts import contributions as cc
from shebao_contracts import enrollment as ce
from shebao_contracts import unemployment as u
from shebao_contracts import welfare as w

from .domain.env import Env
from .domain.params import Params, checked
from .handlers import (
    command_handlers,
    contributions_handlers,
    cpi_handlers,
    enrollment_handlers,
    reject_invalid_release,
    welfare_handlers,
    work_handlers,
)
from .readside import ReadSide


class UnemploymentSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="SHEBAO_UNEMPLOYMENT_SUBSIDIES_", extra="ignore", frozen=True
    )


def create_runtime(settings: UnemploymentSettings | None = None) -> ServiceRuntime:
    settings = settings or UnemploymentSettings()
    # a parameter file whose benefit standard leaves [低保, minimum wage] stops the start here
    params = checked(Params(Policy.of("shebao_unemployment_subsidies")))
    env = Env(params, Pseudonymizer(settings.pseudonym_secret()))
    return runtime_for(
        u.CONTRACT,
        settings=settings,
        subscriptions=[
            Subscription("enrollment", (ce.EVENTS,), enrollment_handlers),
            Subscription("contributions", (cc.EVENTS,), contributions_handlers),
            Subscription("welfare", (w.EVENTS,), welfare_handlers),
            command_subscription(
                u.COMMANDS,
                command_handlers,
                u.CommandRejected,
                u.EVENTS,
                ttl_days=settings.command_id_ttl_days,
            ),
            Subscription("work", (u.WORK,), work_handlers),
            Subscription(
                "cpi",
                (u.CPI,),
                cpi_handlers,
                trust_event_ids=False,
                reject=reject_invalid_release,
            ),
        ],
        env=env,
        routes=ReadSide(env).routes(),
    )


def main() -> None:
    run(create_runtime)
