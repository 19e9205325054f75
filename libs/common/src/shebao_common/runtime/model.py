"""What a service writes: pure handlers over declared state, returning a Decision.

A handler is a plain function `(state, message, ctx) -> Decision`. It may read only the state keys
its `needs` function declared for the message (the runtime loads them for a whole batch in one
round trip), never does I/O, never reads the clock: time is `ctx.time`, the event's own time.
Its service's parameters are `ctx.env`, typed by the table: a handler of a `HandlerTable[Env]`
takes a `Context[Env]`. It may emit only a message type its target topic declares.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Protocol

from typing_extensions import TypeVar

from shebao_contracts.envelope import Envelope, Message
from shebao_contracts.topics import Topic

# The state a rule reads and writes, and its answers, are the domain's (no runtime in them).
from ..domain import Counters as Counters
from ..domain import Effects
from ..domain import Entity as Entity
from ..domain import StateKey as StateKey
from ..domain import StateModel as StateModel
from ..domain import counter_set as counter_set

S = TypeVar("S", bound=StateModel)
M = TypeVar("M", bound=Message)
M_contra = TypeVar("M_contra", bound=Message, contravariant=True)
E = TypeVar("E", default=Any)
"""A service's environment (its policy, reference data, keys): `Context[Env]`, `HandlerTable[Env]`.
Without a type argument it is `Any`, as before the tables were typed."""


class State(Protocol):
    def get(self, key: StateKey[S]) -> S | None: ...

    def owns(self, key: StateKey[Any]) -> bool:
        """Whether this record may write `key`: False for state another partition owns
        (`Entity.owner`), which it may only read, and for a counter set."""
        ...


class UndeclaredMessage(ValueError):
    """A handler emitted a message its target topic does not declare: a bug in the service."""


def check_emit(topic: Topic | None, name: str, message: Message) -> None:
    """Refuse an emit to `name` (whose registry entry is `topic`) that its readers cannot read.

    A template topic is accepted only by a concrete name (`TOPIC.named(code=...)`): the
    template's own name is no topic on the broker.
    """
    if topic is None:
        raise UndeclaredMessage(
            f"emit of {message.TYPE} to {name}: {name} is not a topic of the registry"
        )
    if topic.is_template and name == topic.name:
        raise UndeclaredMessage(
            f"emit of {message.TYPE} to {name}: a template, not a topic; emit to a partner's "
            "topic, e.g. TOPIC.named(code=...)"
        )
    declared = topic.message_type(message.TYPE)
    if declared is None:
        carried = ", ".join(m.TYPE for m in topic.messages) or "nothing"
        raise UndeclaredMessage(
            f"emit of {message.TYPE} to {name}: the topic does not declare message type "
            f"{message.TYPE} (it carries {carried})"
        )
    if not isinstance(message, declared):
        raise UndeclaredMessage(
            f"emit of {message.TYPE} to {name}: a {type(message).__qualname__} is not the "
            f"{declared.__module__}.{declared.__qualname__} the topic declares for that type"
        )


@dataclass(frozen=True, slots=True)
class Emit:
    """An event to publish: goes to the outbox atomically with the state change."""

    topic: str
    key: str
    message: Message
    time: datetime | None = None
    """Event time; defaults to the time of the event that caused it."""
    subject: str | None = None


@dataclass(frozen=True, slots=True)
class Increment:
    """A commutative counter change (statistics), applied atomically with the rest."""

    counter: str
    field: str
    by: int


@dataclass(slots=True)
class Decision:
    writes: dict[StateKey[Any], StateModel | None] = field(default_factory=dict)
    emits: list[Emit] = field(default_factory=list)
    increments: list[Increment] = field(default_factory=list)

    def put(self, key: StateKey[S], value: S) -> Decision:
        self.writes[key] = value
        return self

    def delete(self, key: StateKey[Any]) -> Decision:
        self.writes[key] = None
        return self

    def emit(
        self,
        topic: str | Topic,
        key: str,
        message: Message,
        *,
        time: datetime | None = None,
        subject: str | None = None,
    ) -> Decision:
        """Publish `message` to `topic` with this decision.

        Given a `Topic`, the message type is checked here (`UndeclaredMessage`); given a name,
        when the decision is applied, against the registry the runtime runs with.
        """
        if isinstance(topic, Topic):
            check_emit(topic, topic.name, message)
            name = topic.name
        else:
            name = topic
        self.emits.append(Emit(name, key, message, time, subject))
        return self

    def incr(self, counter: str | StateKey[Counters], field: str, by: int = 1) -> Decision:
        name = counter if isinstance(counter, str) else counter.name
        self.increments.append(Increment(name, field, by))
        return self

    def apply(self, effects: Effects) -> Decision:
        """What a rule asked for, in its order: each message emitted, each counter added to."""
        for topic, key, message in effects.published:
            self.emit(topic, key, message)
        for counter, name, by in effects.counted:
            self.increments.append(Increment(counter, name, by))
        return self


NOTHING = Decision()


@dataclass(frozen=True, slots=True)
class Context(Generic[E]):
    """What a handler knows besides state and message: the envelope, where it came from, and
    its service's environment `env` (typed: `Context[Env]`)."""

    envelope: Envelope
    event_id: str
    topic: str
    partition: int
    offset: int
    key: str | None
    env: E
    """The service's environment, as given to `ServiceRuntime(env=...)`."""
    topic_fields: Mapping[str, str]
    """Template fields of a partner topic name, e.g. {"code": "h320102001"}."""
    body: bytes = b""
    """The record's value as received."""

    @property
    def digest(self) -> str:
        """A fingerprint of the record's bytes: tells a resend of the same content."""
        return hashlib.blake2b(self.body, digest_size=16).hexdigest()

    @property
    def time(self) -> datetime:
        when: datetime = self.envelope.time
        return when


class HandlerFn(Protocol[M_contra, E]):
    def __call__(self, state: State, message: M_contra, ctx: Context[E], /) -> Decision: ...


NeedsFn = Callable[[Any, Context[E]], Iterable[StateKey[Any]]]


def _needs_nothing(message: Any, ctx: Context[Any]) -> Iterable[StateKey[Any]]:
    return ()


@dataclass(frozen=True, slots=True)
class Handler(Generic[E]):
    message: type[Message]
    fn: HandlerFn[Any, E]
    needs: NeedsFn[E]


class HandlerTable(Generic[E]):
    """The explicit table of handlers of one subscription: one handler per message type.

    `HandlerTable[Env]()` types the handlers' context: `(state, message, ctx: Context[Env])`.
    """

    def __init__(self) -> None:
        self._by_type: dict[str, Handler[E]] = {}

    def on(
        self, message: type[M], *, needs: NeedsFn[E] = _needs_nothing
    ) -> Callable[[HandlerFn[M, E]], HandlerFn[M, E]]:
        def register(fn: HandlerFn[M, E]) -> HandlerFn[M, E]:
            if message.TYPE in self._by_type:
                raise ValueError(f"{message.TYPE} already has a handler")
            self._by_type[message.TYPE] = Handler(message, fn, needs)
            return fn

        return register

    def get(self, ce_type: str) -> Handler[E] | None:
        return self._by_type.get(ce_type)

    def __contains__(self, ce_type: str) -> bool:
        return ce_type in self._by_type


@dataclass(frozen=True, slots=True)
class RejectedRecord:
    """A record that could not be decoded or validated, as given to a subscription's rejecter."""

    topic: str
    partition: int
    offset: int
    key: str | None
    headers: Mapping[str, str]
    envelope: Envelope | None
    reason: str
    detail: str
    event_id: str
    time: datetime
    topic_fields: Mapping[str, str]


Rejecter = Callable[[RejectedRecord], "Emit | list[Emit] | None"]
"""Answers to an unreadable record: to its sender, and to the service's own stream if wanted."""


@dataclass(frozen=True)
class FromDecisions:
    """How a subscription that decides is rebuilt (`rebuild.py`): from what it published.

    Its position is found after the last record whose decision is on the service's published
    topics; its state, if it keeps any, by running `fold` over `log`, the topics where each of
    its decisions that changed state was published (its events topic). A fold handler is a
    handler like any other: it reads and writes declared state, and emits nothing.
    """

    log: tuple[Topic, ...] = ()
    fold: HandlerTable[Any] | None = None
    tail: tuple[Topic, ...] = ()
    """Topics folded too, as far as the broker still holds them (their retention is not made
    unlimited, as the logs' is): where decisions are published first whose lasting record is
    on `log` later, e.g. work another stage has not decided yet."""


@dataclass(frozen=True)
class Subscription:
    """One consumer (group) of a service: the topics it reads and the handlers it runs.

    `topics` are registry topics; a template (partner) topic is subscribed by pattern so that a
    new partner needs no deployment. `trust_event_ids` is True on internal topics, where `ce_id`
    is unique and producers may republish (so duplicates are dropped by it); on partner topics a
    record's identity is its topic, partition and offset, and duplicates are a domain matter.
    An id seen again with the same body is dropped; with a different body it is refused as
    `id_conflict` (dead letter and rejection), which makes commands idempotent by command id.
    """

    name: str
    topics: tuple[Topic, ...]
    handlers: HandlerTable
    trust_event_ids: bool = True
    reject: Rejecter | None = None
    max_record_bytes: int | None = None
    dedupe_ttl: int | None = None
    """How long an event id is remembered; commands want longer than the default week."""
    canonical_fingerprints: bool = False
    """Compare a reused id's body by content rather than bytes (commands typed by people)."""
    max_records: int | None = None
    """Records per batch instead of the service's batch_max_records: for records that fan out
    (one record, many events), whose batch holds every decoded state and outbox entry at once."""
    rebuild: FromDecisions | None = None
    """How a rebuild restores it: None for a projection (it emits nothing, so its inputs are
    read again from the start), `FromDecisions` for a subscription that decides."""

    def __post_init__(self) -> None:
        templates = [t for t in self.topics if t.is_template]
        if templates and len(self.topics) > 1:
            raise ValueError("a pattern subscription reads exactly one template topic")
