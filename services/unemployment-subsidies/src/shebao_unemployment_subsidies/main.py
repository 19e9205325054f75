"""Composition root of the unemployment-subsidies service.

How each subscription is rebuilt from the log of record (`rebuild.py`, deploy/README.md):
- enrollment follows enrollment's events and decides on them (a re-employment or a death stops
  the benefit): its facts are enrollment's events replayed (`enrollment_log`), its position
  after the last event whose stop it published, moved on by the rebuild over the events after
  it, which decide what they decided before: nothing (`following.decisions`, by the events'
  days);
- contributions and welfare only follow: read again from the start;
- commands, work, handed and cpi decide, each decision published: a benefit's spells, payments and
  subsidies, the regions' closes and the paid totals are the fold of the events topic
  (`benefit_log`, declared once, on commands: a benefit is one sequence of events, decided by
  commands, enrollment and work alike), the directory the fold of the work topic, the prices the
  fold of the bureaus' answers and of the triggers.

Enrollment and work are not deduplicated by event id (`trust_event_ids=False`): a rebuild can
restore the marks of a subscription's published decisions only, and most of their records
decide nothing; each of their rules is idempotent instead (a fact is kept by its date, a spell
stopped once, a month and a subsidy paid once, the directory is a set).
"""

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
from shebao_contracts import contributions as cc
from shebao_contracts import enrollment as ce
from shebao_contracts import unemployment as u
from shebao_contracts import welfare as w

from .domain.env import Env
from .domain.params import Params, checked
from .handlers import (
    benefit_log,
    command_handlers,
    contributions_handlers,
    cpi_handlers,
    directory_log,
    enrollment_handlers,
    enrollment_log,
    handed_handlers,
    prices_log,
    reject_invalid_release,
    welfare_handlers,
    work_handlers,
)
from .readside import ReadSide


class UnemploymentSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="SHEBAO_UNEMPLOYMENT_SUBSIDIES_", extra="ignore", frozen=True
    )


def subscriptions(settings: UnemploymentSettings) -> list[Subscription]:
    commands = command_subscription(
        u.COMMANDS,
        command_handlers,
        u.CommandRejected,
        u.EVENTS,
        ttl_days=settings.command_id_ttl_days,
        rebuild=FromDecisions(log=(u.EVENTS,), fold=benefit_log),
    )
    return [
        Subscription(
            "enrollment",
            (ce.EVENTS,),
            enrollment_handlers,
            trust_event_ids=False,
            rebuild=FromDecisions(log=(ce.EVENTS,), fold=enrollment_log),
        ),
        Subscription("contributions", (cc.EVENTS,), contributions_handlers),
        Subscription("welfare", (w.EVENTS,), welfare_handlers),
        commands,
        Subscription(
            "work",
            (u.WORK,),
            work_handlers,
            trust_event_ids=False,
            rebuild=FromDecisions(log=(u.WORK,), fold=directory_log),
        ),
        # a job centre's command handed to its person's partition (a partitioned state): read
        # from the work topic by a subscription of its own, whose records are deduplicated
        Subscription("handed", (u.WORK,), handed_handlers, rebuild=FromDecisions()),
        Subscription(
            "cpi",
            (u.CPI,),
            cpi_handlers,
            trust_event_ids=False,
            reject=reject_invalid_release,
            rebuild=FromDecisions(log=(u.ANSWERS, u.EVENTS), fold=prices_log),
        ),
    ]


def create_runtime(settings: UnemploymentSettings | None = None) -> ServiceRuntime:
    settings = settings or UnemploymentSettings()
    # a parameter file whose benefit standard leaves [低保, minimum wage] stops the start here
    params = checked(Params(Policy.of("shebao_unemployment_subsidies")))
    env = Env(params, Pseudonymizer(settings.pseudonym_secret()))
    return runtime_for(
        u.CONTRACT,
        settings=settings,
        subscriptions=subscriptions(settings),
        env=env,
        routes=ReadSide(env).routes(),
        # every kind names its owner (domain/model.py); a command keyed by citizen ID is handed
        # to the person's partition, a close or a release keyed otherwise is refused by name
        partitionable=True,
    )


def main() -> None:
    run(create_runtime)
