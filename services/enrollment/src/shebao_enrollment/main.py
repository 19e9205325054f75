"""Composition root of the enrollment service."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from shebao_common.policy import Policy
from shebao_common.pseudonym import CitizenIds
from shebao_common.runtime import (
    FromDecisions,
    ServiceRuntime,
    Subscription,
    command_subscription,
    run,
)
from shebao_common.runtime.wiring import runtime_for
from shebao_common.settings import ServiceSettings
from shebao_contracts import contributions, medical, unemployment, welfare
from shebao_contracts import enrollment as c

from .domain.env import Env, name_seal
from .domain.params import Params
from .handlers import enrollment_log, handlers, lifetime_table, work_handlers
from .readside import ReadSide


class EnrollmentSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SHEBAO_ENROLLMENT_", extra="ignore", frozen=True)


def create_runtime(settings: EnrollmentSettings | None = None) -> ServiceRuntime:
    settings = settings or EnrollmentSettings()
    env = Env(
        Params(Policy.of("shebao_enrollment")),
        CitizenIds(settings.pseudonym_secret(), settings.citizen_id_secret()),
        name_seal(settings.citizen_id_secret()),
    )
    return runtime_for(
        c.CONTRACT,
        settings=settings,
        subscriptions=[
            # people type these: a resend differing only in layout is the same command
            command_subscription(
                c.COMMANDS,
                handlers,
                c.CommandRejected,
                c.EVENTS,
                ttl_days=settings.command_id_ttl_days,
                canonical_fingerprints=True,
                rebuild=FromDecisions(),
            ),
            # where the state is partitioned: commands handed to the partition that keeps what
            # they change, and a card number's round trip (handlers.py). It folds the decisions
            # of both, whichever subscription made them (`enrollment_log`)
            Subscription(
                "work",
                (c.WORK,),
                work_handlers,
                rebuild=FromDecisions(log=(c.EVENTS, c.WORK), fold=enrollment_log),
            ),
            # a projection (it emits nothing): a rebuild reads its topics again from the start
            Subscription(
                "lifetime",
                (
                    c.EVENTS,
                    contributions.EVENTS,
                    medical.EVENTS,
                    unemployment.EVENTS,
                    welfare.EVENTS,
                ),
                lifetime_table,
                rebuild=None,
            ),
        ],
        env=env,
        routes=ReadSide(env).routes(),
        # every kind names its owner (domain/model.py), and a command keyed otherwise is handed
        # to the owner's partition on the work topic (handlers.py)
        partitionable=True,
    )


def main() -> None:
    run(create_runtime)
