"""Composition root of the enrollment service."""

from __future__ import annotations

from faststream.asgi import AsgiFastStream
from pydantic_settings import SettingsConfigDict

from shebao_common.policy import Policy
from shebao_common.pseudonym import CitizenIds
from shebao_common.runtime import ServiceRuntime, Subscription, serve
from shebao_common.runtime.wiring import runtime_for
from shebao_common.settings import ServiceSettings
from shebao_contracts import enrollment as c

from .domain.env import Env
from .domain.params import Params
from .handlers import handlers, reject_invalid
from .readside import ReadSide


class EnrollmentSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SHEBAO_ENROLLMENT_", extra="ignore", frozen=True)

    command_id_ttl_days: int = 90
    """How long a command id is remembered: a resend within it is harmless."""


def create_runtime(settings: EnrollmentSettings | None = None) -> ServiceRuntime:
    settings = settings or EnrollmentSettings()
    env = Env(
        Params(Policy.of("shebao_enrollment")),
        CitizenIds(settings.pseudonym_secret(), settings.citizen_id_secret()),
    )
    read = ReadSide(env)
    return runtime_for(
        c.CONTRACT,
        settings=settings,
        subscriptions=[
            Subscription(
                "commands",
                (c.COMMANDS,),
                handlers,
                reject=reject_invalid,
                dedupe_ttl=settings.command_id_ttl_days * 86400,
                canonical_fingerprints=True,
            )
        ],
        env=env,
        routes=read.routes(),
    )


def create_app() -> AsgiFastStream:
    return create_runtime().build_app()


def main() -> None:
    rt = create_runtime()
    serve(rt.build_app(), rt.settings)
