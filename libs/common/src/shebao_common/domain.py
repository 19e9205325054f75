"""What every service's domain is built from, and nothing of the runtime.

A rule is a pure function of (state, message, env): it returns what it decided (its new state
and its `Effects`: the messages to publish and the counters to add to) or raises `Refused` with a
named reason. It never does I/O and never reads the clock: the time is the message's own. A
handler (the service's `handlers.py`) reads the state the rule needs, calls it, and turns the
answer into the runtime's `Decision`; a refusal into the answer the sender reads.

Importing this module, or a service's `domain` package, loads neither Kafka, Redis nor
OpenTelemetry clients: a rule can be run and tested alone (tests/test_domain_is_pure.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from enum import StrEnum
from typing import Generic, NamedTuple, TypeVar

from pydantic import BaseModel, ConfigDict

from shebao_contracts.envelope import Message
from shebao_contracts.topics import Topic

from . import months
from .policy import MissingParameter

# ---------------------------------------------------------------------------------------------
# Time

CHINA = timezone(timedelta(hours=8), "CST")
"""China Standard Time (UTC+8, no daylight saving): the province's days."""


def local_day(when: datetime) -> date:
    """The day in the province of a record's time, whatever offset it was written with:
    2025-03-31T17:00:00Z is already 1 April in Jiangsu."""
    return when.astimezone(CHINA).date()


# ---------------------------------------------------------------------------------------------
# Answers


class Refused(Exception):
    """The rule's answer "no", with the reason the sender reads (a member of the service's
    reason enum, described in contracts/REASONS.md) and a finished sentence of detail."""

    def __init__(self, reason: StrEnum, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail


def not_in_future(
    day: date,
    received: datetime,
    tolerance_days: Callable[[date], int | None],
    reason: StrEnum,
    what: str,
    record: str = "command",
) -> None:
    """Refuse, with the service's `service_date_in_future` (`reason`), a record dating `what`
    on `day` after the day of its record time (`received`, its ce_time), give or take the
    tolerance the region's parameter sets that day (`tolerance_days(today)`). A ce_time from
    before any value of the parameter (1970) gets no tolerance, an answer and not a crash.
    `record` names what was sent: the command, the claim, the report."""
    today = local_day(received)
    try:
        tolerance = tolerance_days(today) or 0
    except MissingParameter:
        tolerance = 0
    if day > today + timedelta(days=tolerance):
        raise Refused(
            reason,
            f"{what} on {day} is after {today}, the day the {record} was sent (ce_time)"
            + (f", by more than {tolerance} days" if tolerance else ""),
        )


def month_over(month: str, received: datetime, reason: StrEnum, record: str = "command") -> None:
    """Refuse, with the service's `service_date_in_future` (`reason`), a record about a month
    (YYYY-MM: a close, a price index) that is not over on the day of its record time."""
    today = local_day(received)
    if months.next_first_day(month) > today:
        raise Refused(
            reason, f"{month} is not over on {today}, the day the {record} was sent (ce_time)"
        )


class Published(NamedTuple):
    topic: Topic | str
    """A topic of the contracts (`EVENTS`), or a partner's concrete name (`T.named(code=...)`)."""
    key: str
    message: Message


class Counted(NamedTuple):
    counter: str
    """The counter set's key name (`HOSPITAL_MONTH.key(...).name`)."""
    field: str
    by: int


@dataclass
class Effects:
    """What a rule wants done besides its new state: messages to publish, in order, and counters
    to add to. The runtime publishes them atomically with the state change, exactly once."""

    published: list[Published] = field(default_factory=list)
    counted: list[Counted] = field(default_factory=list)

    def emit(self, topic: Topic | str, key: str, message: Message) -> Effects:
        self.published.append(Published(topic, key, message))
        return self

    def count(self, counter: StateKey[Counters] | str, field: str, by: int = 1) -> Effects:
        name = counter if isinstance(counter, str) else counter.name
        self.counted.append(Counted(name, field, by))
        return self

    def extend(self, other: Effects) -> Effects:
        self.published += other.published
        self.counted += other.counted
        return self

    def __bool__(self) -> bool:
        return bool(self.published or self.counted)


# ---------------------------------------------------------------------------------------------
# State


class StateModel(BaseModel):
    """Base of stored state: immutable, so a cached value is shared and never edited in place."""

    model_config = ConfigDict(frozen=True, extra="ignore")


S = TypeVar("S", bound=StateModel)


@dataclass(frozen=True, slots=True)
class Entity(Generic[S]):
    """A kind of stored state, e.g. `Entity("person", PersonState)`."""

    kind: str
    model: type[S]
    counters: bool = False
    """Counters (see `counter_set`): incremented with `Effects.count`, read as a snapshot."""
    cached: bool = True
    """Keep values in the processor's cache. Off for write-mostly state (one key per claim,
    say), which would only crowd out what is read again."""
    owner: Callable[[str], str] | None = None
    """Where a key of this kind lives when the service's state is partitioned: the record key
    (Kafka's key) whose partition owns it, from the key's id, e.g. a hospital's registration
    keyed by its code: `owner=lambda code: code`. A handler of another partition may read it
    (loaded from the owner's slot, not version-checked, not cached) and never write it. None:
    the key lives with the record that declares it, like all state of a one-slot service."""

    def key(self, *parts: str) -> StateKey[S]:
        ident = ":".join(parts)
        return StateKey(self, ident, f"{self.kind}:{ident}")


class Counters(StateModel):
    """A snapshot of a counter set: commutative totals many partitions add to at once.

    Rules add with `Effects.count(key, field, by)`; a handler may declare the key in `needs` to
    read the totals; a read is not version-checked (nobody owns a counter) and is never cached.
    """

    values: dict[str, int] = {}

    def get(self, field: str) -> int:
        return self.values.get(field, 0)


def yuan(fen: int) -> Decimal:
    """An amount a counter holds in fen (counters add integers), in yuan."""
    return (Decimal(fen) / 100).quantize(Decimal("0.01"))


def in_yuan(counts: Mapping[str, int]) -> dict[str, int | str]:
    """A counter set as a read side shows it: each `<name>_fen` as `<name>` in yuan, a string;
    the other counts as they are."""
    return {
        k.removesuffix("_fen"): str(yuan(v)) if k.endswith("_fen") else v
        for k, v in sorted(counts.items())
    }


def counter_set(kind: str) -> Entity[Counters]:
    return Entity(kind, Counters, counters=True)


class StateKey(NamedTuple, Generic[S]):
    """A key of stored state. A tuple, because handlers make several per record."""

    entity: Entity[S]
    id: str
    name: str
    """`<kind>:<id>`, the key's name in the store."""


__all__ = [
    "CHINA",
    "Counted",
    "Counters",
    "Effects",
    "Entity",
    "Published",
    "Refused",
    "StateKey",
    "StateModel",
    "counter_set",
    "in_yuan",
    "local_day",
    "yuan",
]
