"""A service's runtime wired from its contract, the one declaration of what it reads and writes.

A service's `ServiceContract` (shebao_contracts) names the topics it consumes and produces. Its
main.py adds only what the contract does not say: how the consumed topics are grouped into
subscriptions (one consumer group each) and which handlers each runs. `runtime_for` checks that
grouping against the contract before anything connects, and takes the service's name, the topics
it produces (and so creates at start-up) and the topic registry from the contracts, so no main.py
repeats them and none can drift from what is published.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from typing import Any

from pydantic import BaseModel

from shebao_contracts.catalog import all_topics
from shebao_contracts.topics import ServiceContract

from ..settings import ServiceSettings
from . import compiled
from .model import Subscription
from .service import JsonHandler, ServiceRuntime


class WiringError(ValueError):
    """A service's subscriptions disagree with its contract: a mistake in its main.py."""


def wiring_problems(contract: ServiceContract, subscriptions: Sequence[Subscription]) -> list[str]:
    """What is wrong with reading the contract's topics through these subscriptions, in words.

    Every topic a subscription reads must be one the contract consumes, defined as the contract
    defines it, and every topic the contract consumes must be read by some subscription.
    """
    problems: list[str] = []
    service = contract.service
    for name, n in sorted(Counter(s.name for s in subscriptions).items()):
        if n > 1:
            problems.append(f"{n} subscriptions are named {name!r}: each is one consumer group")
    consumed = {t.name: t for t in contract.consumes}
    read: set[str] = set()
    for sub in subscriptions:
        for topic in sub.topics:
            read.add(topic.name)
            declared = consumed.get(topic.name)
            if declared is None:
                problems.append(
                    f"subscription {sub.name!r} reads {topic.name}, which the contract of "
                    f"{service} does not consume"
                )
            elif declared != topic:
                problems.append(
                    f"subscription {sub.name!r} reads a {topic.name} defined differently from "
                    f"the one in the contract of {service}"
                )
    problems.extend(
        f"the contract of {service} consumes {name}, which no subscription reads"
        for name in consumed
        if name not in read
    )
    return problems


def check_wiring(contract: ServiceContract, subscriptions: Sequence[Subscription]) -> None:
    """Raise `WiringError` listing every disagreement between subscriptions and contract."""
    problems = wiring_problems(contract, subscriptions)
    if problems:
        raise WiringError(
            f"{contract.service}: the subscriptions disagree with its contract "
            f"(shebao_contracts):\n  - " + "\n  - ".join(problems)
        )


def runtime_for(
    contract: ServiceContract,
    *,
    settings: ServiceSettings,
    subscriptions: Sequence[Subscription],
    running: Collection[str] | None = None,
    env: Any = None,
    routes: Sequence[tuple[str, JsonHandler]] = (),
    partitionable: bool = False,
    compiled_reads: Collection[type[BaseModel]] = (),
) -> ServiceRuntime:
    """The runtime of the service `contract` describes, reading through `subscriptions`.

    `subscriptions` are all of the service's, checked against the contract as a whole; `running`
    names those this process runs (all when None), for a service split across deployments.
    The service's name and produced topics come from the contract, the registry from the catalog.
    `env` is what its handlers get as `ctx.env` (the service's `domain.env.Env`).
    `partitionable`: the service's rules allow a partitioned layout (see `ServiceRuntime`:
    each input partition owns the state its records touch, spread over the slots of a Redis
    Cluster); the settings' `STATE_LAYOUT` chooses (`ServiceSettings.partitioned_state`). A
    service that does not allow it is refused `STATE_LAYOUT=partitioned` here.
    `compiled_reads`: the messages and states the service reads through the compiled codec
    (`runtime.compiled`), those its measurements show it pays for; pydantic reads the others.
    """
    try:
        compiled.read_compiled(*compiled_reads)
    except ValueError as exc:
        raise WiringError(f"{contract.service}: compiled_reads: {exc}") from None
    if settings.state_layout == "partitioned" and not partitionable:
        raise WiringError(
            f"{contract.service}: STATE_LAYOUT=partitioned, and its rules write or read state "
            "across input partitions: it keeps its state in one slot (STATE_LAYOUT=auto or "
            "one-slot; docs/CAPACITY.md#the-layout-today)"
        )
    check_wiring(contract, subscriptions)
    chosen = list(subscriptions)
    if running is not None:
        unknown = sorted(set(running) - {s.name for s in subscriptions})
        if unknown:
            raise WiringError(
                f"{contract.service}: no subscription named {', '.join(unknown)} to run "
                f"(it has {', '.join(s.name for s in subscriptions)})"
            )
        chosen = [s for s in subscriptions if s.name in running]
    return ServiceRuntime(
        name=contract.service,
        settings=settings,
        registry=all_topics(),
        subscriptions=chosen,
        produces=contract.produces,
        env=env,
        routes=routes,
        every_subscription=subscriptions,
        partitioned_state=settings.partitioned_state(partitionable),
    )
