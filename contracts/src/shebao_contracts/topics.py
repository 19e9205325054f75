"""The typed topic registry: which messages travel on which topic, keyed by what, owned by whom.

Internal streams are one topic per owning service (`shebao.<service>.events.v1`) so that every
event of one aggregate stays in order; commands into a service use `shebao.<service>.commands.v1`.
Partner topics carry the partner's code in their name because the name is the authorisation
boundary: ACLs grant a hospital or tax bureau its own topics and nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from .envelope import Message

_TEMPLATE_FIELD = re.compile(r"\{([a-z_]+)\}")
_PARTNER_CODE = r"[a-z0-9][a-z0-9-]{1,30}"


class Direction(StrEnum):
    INTERNAL = "internal"
    PARTNER_IN = "partner-in"  # written by a partner, read by the platform
    PARTNER_OUT = "partner-out"  # written by the platform, read by a partner


@dataclass(frozen=True)
class Topic:
    name: str
    """Literal name, or a template such as `partner.hospital.{code}.claims.v1`."""
    owner: str
    """The service that writes it (for partner-in topics: the service that reads it)."""
    key: str
    """What the record key is, in words (the aggregate id)."""
    messages: tuple[type[Message], ...]
    description: str
    direction: Direction = Direction.INTERNAL
    partitions: int = 12
    _by_type: dict[str, type[Message]] = field(init=False, repr=False, compare=False)
    _regex: re.Pattern[str] = field(init=False, repr=False, compare=False)
    _names: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_type: dict[str, type[Message]] = {}
        for m in self.messages:
            if m.TYPE in by_type:
                raise ValueError(f"{self.name}: two messages declare type {m.TYPE}")
            by_type[m.TYPE] = m
        object.__setattr__(self, "_by_type", by_type)
        object.__setattr__(self, "_regex", re.compile(self.pattern))
        object.__setattr__(self, "_names", {})  # partner code -> concrete name, on the hot path

    @property
    def is_template(self) -> bool:
        return "{" in self.name

    @property
    def version(self) -> str:
        return self.name.rsplit(".", 1)[-1]

    @property
    def pattern(self) -> str:
        """A regular expression matching every concrete name of this topic."""
        escaped = re.escape(self.name).replace(r"\{code\}", "{code}")
        return "^" + escaped.replace("{code}", f"({_PARTNER_CODE})") + "$"

    def named(self, **values: str) -> str:
        """The concrete topic name for a partner: `CLAIMS.named(code="h320102001")`."""
        if not self.is_template:
            return self.name
        cache_key = values.get("code", "") if len(values) == 1 else repr(sorted(values.items()))
        known = self._names.get(cache_key)
        if known is not None:
            return known
        name = self.name.format(**values)
        if not self._regex.match(name):
            raise ValueError(f"{values} does not make a valid name for {self.name}")
        if len(self._names) < 100_000:
            self._names[cache_key] = name
        return name

    def match(self, concrete: str) -> dict[str, str] | None:
        """The template fields of a concrete name, or None when it is not this topic."""
        m = self._regex.match(concrete)
        if m is None:
            return None
        return dict(zip(_TEMPLATE_FIELD.findall(self.name), m.groups(), strict=True))

    def partner_source(self, fields: Mapping[str, str]) -> str | None:
        """The `ce_source` a partner must send on its own topic; None where any source goes."""
        code = fields.get("code")
        if self.direction is not Direction.PARTNER_IN or code is None:
            return None
        return partner_source(code)

    def message_type(self, ce_type: str) -> type[Message] | None:
        return self._by_type.get(ce_type)

    @property
    def dlq(self) -> str:
        return dlq_name(self.name)


def partner_source(code: str) -> str:
    """A partner's CloudEvents source: `/partners/<code>`."""
    return f"/partners/{code}"


def dlq_name(topic: str) -> str:
    return f"{topic}.dlq"


@dataclass(frozen=True)
class ServiceContract:
    """What one service consumes and produces: the basis of its AsyncAPI document."""

    service: str
    title: str
    description: str
    consumes: tuple[Topic, ...]
    produces: tuple[Topic, ...]


class Registry:
    def __init__(self, topics: Iterable[Topic] = ()) -> None:
        self._topics: dict[str, Topic] = {}
        for t in topics:
            self.add(t)

    def add(self, topic: Topic) -> Topic:
        if topic.name in self._topics:
            raise ValueError(f"topic {topic.name} registered twice")
        self._topics[topic.name] = topic
        return topic

    def __iter__(self) -> Iterator[Topic]:
        return iter(self._topics.values())

    def get(self, name: str) -> Topic | None:
        """The topic for a literal or concrete partner name."""
        if name in self._topics:
            return self._topics[name]
        for t in self._topics.values():
            if t.is_template and t.match(name) is not None:
                return t
        return None
