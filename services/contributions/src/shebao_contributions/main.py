"""Composition root of the contributions service: seven subscriptions, one runtime.

Each is rebuilt from what it published (`python -m shebao_contributions rebuild`): `work` folds
the whole service's events and work records (`decision_log`), the others go on from their
published decisions (services/contributions/REBUILD.md).

- `enrollment`: follows shebao.enrollment.events.v1 (obligations, rosters), decides who assesses
  a person and when he is checked, and records what it follows on the work topic;
- `transfers`: what moves with a transfer-out (shebao.enrollment.events.v1 too);
- `commands`: wage declarations, period closes, advances;
- `work`: the service's own fan-out (shards, employers, persons, credits, directory);
- `unemployment`: the unemployment fund's medical contributions for benefit recipients;
- `welfare`: the resident-pension tier the government pays for 低保 and 特困 recipients;
- `collections`: every tax bureau's partner.tax.<code>.collections.v1, by topic pattern, so a new
  bureau needs no deployment. Record identity there is topic/partition/offset (a bureau's ids are
  not trusted to be unique); a resent collection is recognised by its collection id instead.
"""

from __future__ import annotations

from pydantic import Field
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
from shebao_contracts import contributions as cc
from shebao_contracts import enrollment as ce
from shebao_contracts import unemployment as un
from shebao_contracts import welfare as wf

from .domain.env import Env
from .domain.params import Params
from .handlers import (
    collection_handlers,
    command_handlers,
    decision_log,
    enrollment_handlers,
    reject_invalid_collection,
    transfer_handlers,
    unemployment_handlers,
    welfare_handlers,
    work_handlers,
)
from .readside import ReadSide


class ContributionsSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="SHEBAO_CONTRIBUTIONS_", extra="ignore", frozen=True
    )

    state_cache_entries: int = Field(2_000, ge=100)
    """Contributions work in monthly waves that touch each person's file about once, so a
    large cache of decoded files only costs memory (500 MB at 10,000 persons in the bench)."""
    collections_batch_max_records: int = Field(20, ge=1, le=10_000)
    """Bureau reports per batch. A settled employer report fans out to a credit per employee and
    its batch holds every assessment and outbox entry at once (~0.7 MB per report of 50
    employees): ~190 reports in one batch took the process from 71 to 260 MB."""
    commit_max_output_bytes: int = Field(1024 * 1024, ge=1024)
    """A month's close assesses each employer on the work topic, an output per employee: its
    decoded assessments, ~25 times the size of their outputs, filled a batch of 200 employers
    (50 employees each) to a peak of 291 MB. Committed in parts of about a megabyte of outputs
    it peaks at 196 MB (BENCHMARKS.md, 2026-12-02)."""


def create_runtime(settings: ContributionsSettings | None = None) -> ServiceRuntime:
    settings = settings or ContributionsSettings()
    env = Env(
        Params(Policy.of("shebao_contributions")),
        CitizenIds(settings.pseudonym_secret(), settings.citizen_id_secret()),
    )
    return runtime_for(
        cc.CONTRACT,
        settings=settings,
        subscriptions=[
            # follows enrollment's facts and decides from them (the directory's payers and
            # watches, a roster left on a death); what it follows is on the work topic too
            Subscription("enrollment", (ce.EVENTS,), enrollment_handlers, rebuild=FromDecisions()),
            Subscription("transfers", (ce.EVENTS,), transfer_handlers, rebuild=FromDecisions()),
            command_subscription(
                cc.COMMANDS,
                command_handlers,
                cc.CommandRejected,
                cc.EVENTS,
                ttl_days=settings.command_id_ttl_days,
                rebuild=FromDecisions(),
            ),
            # the one fold of the service's decisions, whichever subscription made them: the
            # events topic, and the work topic (the directory, assessment lines, judgements)
            Subscription(
                "work",
                (cc.WORK,),
                work_handlers,
                rebuild=FromDecisions(log=(cc.EVENTS, cc.WORK), fold=decision_log),
            ),
            Subscription(
                "unemployment", (un.EVENTS,), unemployment_handlers, rebuild=FromDecisions()
            ),
            Subscription("welfare", (wf.EVENTS,), welfare_handlers, rebuild=FromDecisions()),
            Subscription(
                "collections",
                (cc.COLLECTIONS,),
                collection_handlers,
                trust_event_ids=False,
                reject=reject_invalid_collection,
                max_records=settings.collections_batch_max_records,
                rebuild=FromDecisions(),
            ),
        ],
        env=env,
        routes=ReadSide().routes(),
        # every kind names its owner (domain/model.py), and what a record keyed otherwise
        # changes is handed to the owner's partition on the work topic (handlers.py)
        partitionable=True,
    )


def main() -> None:
    run(create_runtime)
