"""The platform's runtime doing the Quix Streams peer's step: the runtime's own cost a record.

Issue 20 compares each settlement hop with a Quix Streams hop whose step is small (decode the
claim, sum its lines, read and write a state value, produce: `quix.py`'s default step). The
settlement hops do far more than that step (the contract's checks, the pseudonym, the rules), so
their figures say little about the runtime under them. This hop is the shared runtime
(`shebao_common.runtime`: batch consume, state from Redis, one commit script, the relay's batch
produce, exactly-once) with that same step as its handler:
- a claim from `source` read through the contract's compiled codec (`ClaimSubmitted`, as ingest
  reads it), which checks it too, where the peer's `json.loads` checks nothing;
- its lines' amounts summed as Decimal;
- in state keyed by the claim id (the record key, as the peer's) a running total, read and
  written;
- one `ClaimTotal` to `sink`, keyed by the claim id.
It leaves out the patient's citizen ID, which the peer copies to its output: outside the
partners' topics a person is never named by it.

Run by the benchmark as a process of its own, as a service is (`python -m
shebao_devinfra.bench.sum_hop`), with SHEBAO_BENCH_SUM_SOURCE and SHEBAO_BENCH_SUM_SINK naming
its topics (created by the benchmark, the source's dead-letter topic too) and the runtime's
settings under the same prefix. Its topics and its message are the benchmark's, in no contract.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic_settings import SettingsConfigDict

from shebao_common.runtime import (
    Context,
    Decision,
    Entity,
    HandlerTable,
    ServiceRuntime,
    State,
    StateModel,
    Subscription,
    compiled,
    run,
)
from shebao_common.settings import ServiceSettings
from shebao_contracts.envelope import Message
from shebao_contracts.medical import ClaimSubmitted
from shebao_contracts.topics import Registry, Topic
from shebao_contracts.trusted import trusted
from shebao_contracts.types import Money, money

SERVICE = "bench-sum"


class ClaimTotal(Message):
    TYPE = "shebao.bench.ClaimTotal"
    claim_id: str
    total: Money
    running_total: Money


class Total(StateModel):
    total: Money = Decimal("0.00")


TOTAL = Entity("total", Total)


class SumSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SHEBAO_BENCH_SUM_", extra="ignore", frozen=True)

    source: str = "bench.sum.in"
    sink: str = "bench.sum.out"


def create_runtime(settings: SumSettings | None = None) -> ServiceRuntime:
    settings = settings or SumSettings()
    source = Topic(
        settings.source,
        owner=SERVICE,
        key="claim id",
        messages=(ClaimSubmitted,),
        description="the benchmark's claims",
    )
    sink = Topic(
        settings.sink,
        owner=SERVICE,
        key="claim id",
        messages=(ClaimTotal,),
        description="each claim's total",
    )
    handlers = HandlerTable()

    @handlers.on(ClaimSubmitted, needs=lambda c, ctx: [TOTAL.key(c.claim_id)])
    def summed(state: State, c: ClaimSubmitted, ctx: Context) -> Decision:
        key = TOTAL.key(c.claim_id)
        total = money(sum((line.amount for line in c.lines), Decimal(0)))
        before = state.get(key)
        running = money((before.total if before else Decimal(0)) + total)
        # built as the services build the results of their rules (`trusted`: not checked again)
        out = trusted(ClaimTotal, claim_id=c.claim_id, total=total, running_total=running)
        return Decision().put(key, trusted(Total, total=running)).emit(sink, c.claim_id, out)

    compiled.read_compiled(ClaimSubmitted)  # as medical settlement reads its claims
    return ServiceRuntime(
        name=SERVICE,
        settings=settings,
        registry=Registry([source, sink]),
        subscriptions=[Subscription("sum", (source,), handlers)],
        produces=[sink],
        # each claim id's total in its own partition's slot, as a settlement hop's state
        partitioned_state=settings.partitioned_state(True),
    )


def main() -> None:
    run(create_runtime)


if __name__ == "__main__":
    main()
