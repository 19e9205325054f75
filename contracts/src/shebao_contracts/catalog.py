"""Every service's contract in one list: what `gen` publishes and the compatibility check guards.

To add a service, write `shebao_contracts/<service>.py` with its messages, its topics and
`CONTRACT = ServiceContract(service="<service>", ...)`, then import the module below and append
`<service>.CONTRACT` to CONTRACTS (keep both lists alphabetical). Nothing else registers a topic:
a topic no contract names is neither published nor protected against breaking changes.

A contract is listed here once its service has a package under `services/<service>/`, and only
then: the manifests, compose.yaml and the README describe exactly these services
(tests/test_catalog_agreement.py checks this).
"""

from __future__ import annotations

from collections.abc import Iterable

from . import contributions, enrollment, medical, unemployment, welfare
from .topics import Registry, ServiceContract, Topic

CONTRACTS: list[ServiceContract] = [
    contributions.CONTRACT,
    enrollment.CONTRACT,
    medical.CONTRACT,
    unemployment.CONTRACT,
    welfare.CONTRACT,
]


def all_topics(contracts: Iterable[ServiceContract] | None = None) -> Registry:
    """Every topic any contract consumes or produces, each once.

    Two services name the same topic by importing the same `Topic`; two different definitions
    under one name are a mistake and raise.
    """
    topics: dict[str, Topic] = {}
    for contract in CONTRACTS if contracts is None else contracts:
        for topic in (*contract.consumes, *contract.produces):
            seen = topics.setdefault(topic.name, topic)
            if seen != topic:
                raise ValueError(
                    f"topic {topic.name} is defined twice with different settings "
                    f"(second time in the contract of {contract.service})"
                )
    return Registry(topics[name] for name in sorted(topics))
