"""Who may do what on the broker, derived from the topic registry and the partner list only.

The local broker of tests and the demo, compose and Kubernetes (Strimzi `KafkaUser`) all get
their principals and ACLs from here, so the three can never disagree.

- A **service** `<service>` is the principal `shebao-<service>`. It reads and describes what it
  consumes, reads, writes and describes what it produces (it reads its own logs back to find
  what it published and to rebuild), may create both (start-up creates missing literal topics),
  writes the dead-letter topic of each topic it consumes (and sets its retention to the
  topic's) and never reads one (a rebuild, which does, runs as the operator), uses the consumer
  groups `shebao.<service>.*`, and writes idempotently.
- A **partner** of kind `hospital`, `tax` or `stats` (the second part of its topics' names,
  `partner.<kind>.{code}...`) with code `<code>` is the principal `<kind>-<code>`. It writes only
  its own partner-in topics (`partner.<kind>.<code>.*` that the platform reads), reads only its
  own partner-out topics, with consumer groups `partner.<kind>.<code>.*`.
- **Dead-letter topics** hold partners' raw messages, citizen IDs included: nobody but the
  operators (the admin principal, a super user) reads them.

ACLs grant by literal name where a name is known and by prefix where a service reads or writes a
partner topic of every partner (`partner.hospital.` for the settlement service); a partner is
never granted by prefix.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any

from .topics import Direction, Registry, ServiceContract, Topic, dlq_name

ADMIN = "admin"
"""The operators' principal: the brokers' super user, the only reader of dead-letter topics."""

_KIND = re.compile(r"^partner\.([a-z]+)\.\{code\}\.")
_CODE = re.compile(r"^[a-z0-9][a-z0-9-]{1,30}$")


class ResourceType(IntEnum):
    """Kafka's wire codes (org.apache.kafka.common.resource.ResourceType)."""

    TOPIC = 2
    GROUP = 3
    CLUSTER = 4


class PatternType(IntEnum):
    LITERAL = 3
    PREFIXED = 4


class Operation(IntEnum):
    READ = 3
    WRITE = 4
    CREATE = 5
    DESCRIBE = 8
    DESCRIBE_CONFIGS = 10
    ALTER_CONFIGS = 11
    IDEMPOTENT_WRITE = 12


CLUSTER = "kafka-cluster"


@dataclass(frozen=True, order=True)
class Acl:
    """One ALLOW binding: `principal` may `operation` on the resource, from any host."""

    user: str
    resource: ResourceType
    name: str
    pattern: PatternType
    operation: Operation

    @property
    def principal(self) -> str:
        return f"User:{self.user}"


@dataclass(frozen=True, order=True)
class Partner:
    kind: str
    code: str

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z]+", self.kind) or not _CODE.match(self.code):
            raise ValueError(f"not a partner: kind={self.kind!r} code={self.code!r}")

    @property
    def user(self) -> str:
        return f"{self.kind}-{self.code}"

    @property
    def group_prefix(self) -> str:
        return f"partner.{self.kind}.{self.code}."


def service_user(service: str) -> str:
    return f"shebao-{service}"


def partner_kind(topic: Topic) -> str | None:
    """`hospital` for `partner.hospital.{code}.claims.v1`; None for an internal topic."""
    m = _KIND.match(topic.name)
    return m.group(1) if m and topic.is_template else None


def partner_kinds(registry: Iterable[Topic]) -> list[str]:
    return sorted({k for t in registry if (k := partner_kind(t)) is not None})


def _resource(name: str) -> tuple[str, PatternType]:
    """A literal topic name as it is; a template as the prefix before its partner code."""
    if "{" not in name:
        return name, PatternType.LITERAL
    return name[: name.index("{")], PatternType.PREFIXED


def _grants(
    user: str, name: str, ops: Iterable[Operation], resource: ResourceType = ResourceType.TOPIC
) -> list[Acl]:
    if resource is ResourceType.TOPIC:
        literal, pattern = _resource(name)
    else:
        literal, pattern = name, PatternType.PREFIXED if name.endswith(".") else PatternType.LITERAL
    return [Acl(user, resource, literal, pattern, op) for op in ops]


_READS = (Operation.READ, Operation.DESCRIBE, Operation.DESCRIBE_CONFIGS, Operation.CREATE)
_WRITES = (
    Operation.READ,
    Operation.WRITE,
    Operation.DESCRIBE,
    Operation.DESCRIBE_CONFIGS,
    Operation.CREATE,
)
_DEAD_LETTERS = (
    Operation.WRITE,
    Operation.DESCRIBE,
    Operation.DESCRIBE_CONFIGS,
    Operation.ALTER_CONFIGS,  # start-up gives a dead-letter topic its topic's retention
    Operation.CREATE,
)


def service_acls(contract: ServiceContract) -> list[Acl]:
    """What the service's principal may do, from what its contract consumes and produces."""
    user = service_user(contract.service)
    acls: set[Acl] = set()
    for t in contract.consumes:
        acls.update(_grants(user, t.name, _READS))
        # a partner topic's dead letters share its prefix: no config change reaches that far
        ops = [o for o in _DEAD_LETTERS if not (t.is_template and o is Operation.ALTER_CONFIGS)]
        acls.update(_grants(user, dlq_name(t.name), ops))
    for t in contract.produces:
        acls.update(_grants(user, t.name, _WRITES))
    acls.update(
        _grants(
            user,
            f"shebao.{contract.service}.",
            (Operation.READ, Operation.DESCRIBE),
            ResourceType.GROUP,
        )
    )
    acls.add(
        Acl(user, ResourceType.CLUSTER, CLUSTER, PatternType.LITERAL, Operation.IDEMPOTENT_WRITE)
    )
    return sorted(acls)


def partner_topics(partner: Partner, registry: Iterable[Topic]) -> list[tuple[Topic, str]]:
    """The partner's own topics: (registry topic, concrete name)."""
    return [
        (t, t.named(code=partner.code))
        for t in registry
        if partner_kind(t) == partner.kind and t.direction is not Direction.INTERNAL
    ]


def partner_acls(partner: Partner, registry: Iterable[Topic]) -> list[Acl]:
    """A partner writes its partner-in topics and reads its partner-out topics, by literal name."""
    topics = partner_topics(partner, registry)
    if not topics:
        raise ValueError(f"no topic of kind {partner.kind!r} in the registry")
    acls: set[Acl] = set()
    for t, name in topics:
        ops = (
            (Operation.WRITE, Operation.DESCRIBE)
            if t.direction is Direction.PARTNER_IN
            else (Operation.READ, Operation.DESCRIBE)
        )
        acls.update(
            Acl(partner.user, ResourceType.TOPIC, name, PatternType.LITERAL, o) for o in ops
        )
    acls.update(
        _grants(
            partner.user,
            partner.group_prefix,
            (Operation.READ, Operation.DESCRIBE),
            ResourceType.GROUP,
        )
    )
    return sorted(acls)


def load_partners(path: Path) -> list[Partner]:
    """The partner list: a TOML file of `<kind> = ["<code>", ...]` (deploy/partners.toml)."""
    return partners_from(tomllib.loads(path.read_text()))


def partners_from(data: Mapping[str, Any]) -> list[Partner]:
    partners: list[Partner] = []
    for kind, codes in data.items():
        if kind.startswith("_") or not isinstance(codes, list):
            continue
        partners += [Partner(kind, str(c)) for c in codes]
    if len(set(partners)) != len(partners):
        raise ValueError("a partner is listed twice")
    return sorted(partners)


def all_acls(
    contracts: Sequence[ServiceContract], partners: Iterable[Partner], registry: Registry
) -> dict[str, list[Acl]]:
    """Every principal's ACLs, by user name (services first, then partners)."""
    out: dict[str, list[Acl]] = {service_user(c.service): service_acls(c) for c in contracts}
    for p in partners:
        out[p.user] = partner_acls(p, registry)
    return out


# Strimzi -----------------------------------------------------------------------------------------

_STRIMZI_OPS = {
    Operation.READ: "Read",
    Operation.WRITE: "Write",
    Operation.CREATE: "Create",
    Operation.DESCRIBE: "Describe",
    Operation.DESCRIBE_CONFIGS: "DescribeConfigs",
    Operation.ALTER_CONFIGS: "AlterConfigs",
    Operation.IDEMPOTENT_WRITE: "IdempotentWrite",
}


def strimzi_user(user: str, acls: Iterable[Acl], cluster: str) -> dict[str, Any]:
    """A `KafkaUser` (kafka.strimzi.io/v1beta2): SCRAM-SHA-512 and these ACLs; Strimzi's User
    Operator creates the credentials into a Secret named after the user."""
    grouped: dict[tuple[ResourceType, str, PatternType], list[str]] = {}
    for a in sorted(acls):
        grouped.setdefault((a.resource, a.name, a.pattern), []).append(_STRIMZI_OPS[a.operation])
    rules: list[dict[str, Any]] = []
    for (resource, name, pattern), ops in grouped.items():
        if resource is ResourceType.CLUSTER:
            target: dict[str, Any] = {"type": "cluster"}
        else:
            target = {
                "type": "topic" if resource is ResourceType.TOPIC else "group",
                "name": name,
                "patternType": "literal" if pattern is PatternType.LITERAL else "prefix",
            }
        rules.append({"resource": target, "operations": ops, "host": "*"})
    return {
        "apiVersion": "kafka.strimzi.io/v1beta2",
        "kind": "KafkaUser",
        "metadata": {"name": user, "labels": {"strimzi.io/cluster": cluster}},
        "spec": {
            "authentication": {"type": "scram-sha-512"},
            "authorization": {"type": "simple", "acls": rules},
        },
    }
