"""Composition root of the medical settlement service.

The four stages can run in one process (the default) or be split across deployments with
SHEBAO_MEDICAL_SETTLEMENT_ROLES, e.g. `ingest` on some pods and `adjudicate` on others; each
stage is its own consumer group, so it scales with the partitions of the topics it reads.
"""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from shebao_common.policy import Policy
from shebao_common.pseudonym import Pseudonymizer
from shebao_common.runtime import FromDecisions, ServiceRuntime, Subscription, run
from shebao_common.runtime.wiring import runtime_for
from shebao_common.settings import ServiceSettings
from shebao_contracts import contributions, enrollment, medical, unemployment, welfare

from .domain.env import Env
from .domain.params import Params
from .handlers import (
    adjudication,
    adjudication_log,
    coverage,
    ingest,
    ingest_log,
    reject_hospital_record,
    statements,
)
from .readside import ReadSide

ROLES = ("ingest", "adjudicate", "coverage", "statements")


class MedicalSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="SHEBAO_MEDICAL_SETTLEMENT_", extra="ignore", frozen=True
    )

    roles: str = ",".join(ROLES)
    """Which stages this process runs, comma-separated: ingest, adjudicate, coverage, statements."""
    max_claim_bytes: int = 256 * 1024
    """A hospital's record larger than this is refused (record_too_large)."""
    state_cache_entries: int = Field(1_000, ge=100)
    """Claims spread over a province's insured, so a person's accumulators and coverage are
    seldom read twice while cached; a large cache of decoded values mostly fed the garbage
    collector. 1,000 against 10,000 in interleaved `make bench` runs (20,000 persons):
    adjudication's collections 3 in 113-129 ms against 5 in 219-244 ms over a run, peak RSS 96
    against 115 MB, throughput 2,082 and 1,939 against 1,905 and 1,709 claims/s."""

    @field_validator("roles")
    @classmethod
    def _known_roles(cls, v: str) -> str:
        unknown = {r.strip() for r in v.split(",")} - set(ROLES)
        if unknown:
            raise ValueError(f"unknown roles {sorted(unknown)}; known: {', '.join(ROLES)}")
        return v


def subscriptions(settings: MedicalSettings) -> list[Subscription]:
    """Every stage's subscription, named by its role; `roles` picks those a process runs."""
    return [
        Subscription(
            "ingest",
            (medical.CLAIMS,),
            ingest,
            trust_event_ids=False,
            reject=reject_hospital_record,
            max_record_bytes=settings.max_claim_bytes,
            # the holder of each claim id, from the claims it forwarded
            rebuild=FromDecisions(log=(medical.EVENTS,), fold=ingest_log, tail=(medical.COMMANDS,)),
        ),
        Subscription(
            "adjudicate",
            (medical.COMMANDS,),
            adjudication,
            rebuild=FromDecisions(log=(medical.EVENTS,), fold=adjudication_log),
        ),
        Subscription(
            "coverage",
            (enrollment.EVENTS, contributions.EVENTS, unemployment.EVENTS, welfare.EVENTS),
            coverage,
        ),
        Subscription("statements", (medical.EVENTS,), statements, rebuild=FromDecisions()),
    ]


def create_runtime(settings: MedicalSettings | None = None) -> ServiceRuntime:
    settings = settings or MedicalSettings()
    env = Env(
        Params(Policy.of("shebao_medical_settlement")),
        Pseudonymizer(settings.pseudonym_secret()),
    )
    return runtime_for(
        medical.CONTRACT,
        settings=settings,
        subscriptions=subscriptions(settings),
        running={r.strip() for r in settings.roles.split(",")},
        env=env,
        routes=ReadSide().routes(),
        # every key a record writes is its own partition's: a claim's with its patient, a
        # hospital's with its code, a claim id's holder where the hospital's claims arrive;
        # what it reads of another partition (a hospital) it only reads (Entity.owner)
        partitionable=True,
        # a claim's lines and a settlement's amounts: pydantic calls Python for each amount,
        # the compiled codec checks them in one pattern (BENCHMARKS.md, 2026-12-02)
        compiled_reads=(
            medical.ClaimSubmitted,
            medical.ClaimReceived,
            medical.ClaimSettled,
            medical.ClaimCancelled,
        ),
    )


def main() -> None:
    run(create_runtime)
