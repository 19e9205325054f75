"""Records in, outbox entries out: envelope and contract validation, dead letters, event ids."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from pydantic import ValidationError

from shebao_contracts.envelope import (
    H_TYPE,
    Envelope,
    EnvelopeError,
    Message,
    cause_pairs,
    event_pairs,
    format_time,
    read_headers,
)
from shebao_contracts.limits import (
    MAX_CLOCK_SKEW_SECONDS,
    MAX_HEADER_NAME_CHARS,
    MAX_HEADER_VALUE_BYTES,
    MAX_HEADERS,
    MAX_KEY_BYTES,
    RecordRefusal,
)
from shebao_contracts.reasons import REASONS
from shebao_contracts.topics import Registry, Topic, dlq_name

from ..logging import mask_ids
from . import compiled
from .model import Context, Emit, Handler, HandlerTable, StateKey
from .store import OutboxEntry, StreamId

_ID_KEY = b"shebao-derived-event-id"

# Reasons a record is dead-lettered by the runtime (the domain adds its own rejection reasons).
R_TOO_LARGE = RecordRefusal.RECORD_TOO_LARGE
R_KEY_TOO_LARGE = RecordRefusal.KEY_TOO_LARGE
R_EMPTY = RecordRefusal.EMPTY_BODY
R_UNKNOWN_TOPIC = RecordRefusal.UNKNOWN_TOPIC
R_UNKNOWN_TYPE = RecordRefusal.UNKNOWN_EVENT_TYPE
R_SOURCE = RecordRefusal.SOURCE_MISMATCH
R_MALFORMED_JSON = RecordRefusal.MALFORMED_JSON
R_SCHEMA = RecordRefusal.SCHEMA_VIOLATION
R_INVALID_VALUE = RecordRefusal.INVALID_VALUE
R_INVALID_TIME = RecordRefusal.INVALID_TIME
_CLOCK_SKEW = timedelta(seconds=MAX_CLOCK_SKEW_SECONDS)
R_HANDLER_ERROR = RecordRefusal.HANDLER_ERROR
R_ID_CONFLICT = RecordRefusal.ID_CONFLICT  # an event or command id reused for a different body

# Value types of the contracts name their own reasons (citizen_id_checksum, money_format, ...).
_BUILTIN_JSON_ERRORS = {"json_invalid", "json_type"}


H_FROM = "shebao-from"
"""On every event a service publishes: which of its records decided it, as
`<subscription>|<topic>|<partition>|<offset>|<fingerprint>`. The service's published topics are
its log of record: a rebuild (`rebuild.py`) finds in them where each subscription had decided
up to, and the dedupe marks of what it had applied."""


def derived_event_id(cause_id: str, index: int) -> str:
    """The id of the index-th event caused by cause_id: the same on every replay.

    A keyed BLAKE2b of the cause, shaped as a UUID (version 8, RFC 9562's custom layout):
    unique per cause and index, and about ten times cheaper than uuid5 on the hot path."""
    h = hashlib.blake2b(f"{cause_id}/{index}".encode(), digest_size=16, key=_ID_KEY).hexdigest()
    variant = "89ab"[int(h[16], 16) & 0x3]
    return f"{h[:8]}-{h[8:12]}-8{h[13:16]}-{variant}{h[17:20]}-{h[20:32]}"


def record_time(timestamp_ms: int) -> datetime:
    return datetime.fromtimestamp(timestamp_ms / 1000, UTC)


@dataclass(slots=True)
class Item:
    """One consumed record and what became of it."""

    record: Any  # aiokafka ConsumerRecord
    headers: dict[str, str]
    event_id: str
    topic_fields: Mapping[str, str]
    envelope: Envelope | None = None
    message: Message | None = None
    handler: Handler[Any] | None = None
    ctx: Context[Any] | None = None
    needs: list[StateKey[Any]] = field(default_factory=list)
    reason: str | None = None
    detail: str = ""
    skip: str | None = None  # "duplicate" or "ignored": consumed, nothing to apply
    fingerprint: str = ""  # of type and canonical body: tells a resend from a reused id

    @property
    def tp(self) -> tuple[str, int]:
        return (self.record.topic, self.record.partition)


def classify_validation_error(exc: ValidationError) -> tuple[str, str]:
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    first = errors[0]["type"] if errors else R_SCHEMA
    if first in _BUILTIN_JSON_ERRORS:
        reason: str = R_MALFORMED_JSON
    elif first in REASONS:
        # a named reason of a contract's value type (citizen_id_checksum, money_format,
        # household_id_reserved...): every one is described to the senders (REASONS.md)
        reason = first
    else:
        reason = R_SCHEMA
    parts = []
    for e in errors[:10]:
        loc = ".".join(str(x) for x in e["loc"]) or "(body)"
        parts.append(f"{loc}: {e['msg']} [{e['type']}]")
    if len(errors) > 10:
        parts.append(f"... {len(errors) - 10} more")
    return reason, mask_ids("; ".join(parts))[:2000]


_TopicInfo = tuple[Topic | None, Mapping[str, str], str | None]
"""A consumed topic's registry entry, its template fields and the ce_source its partner sends."""


class Decoder:
    """Turns a consumed record into an Item: valid message with its handler, or a named reason."""

    def __init__(
        self,
        registry: Registry,
        handlers: HandlerTable[Any],
        *,
        trust_event_ids: bool,
        max_record_bytes: int,
        env: Any,
        canonical_fingerprints: bool = False,
    ) -> None:
        self.registry = registry
        self.handlers = handlers
        self.trust_event_ids = trust_event_ids
        self.canonical_fingerprints = canonical_fingerprints
        self.max_record_bytes = max_record_bytes
        self.env = env
        self._topics: dict[str, _TopicInfo] = {}
        self._ignored: dict[str, frozenset[str]] = {}
        """Per topic, the types of its messages this subscription has no handler for."""

    def _topic(self, name: str) -> _TopicInfo:
        hit = self._topics.get(name)
        if hit is None:
            t = self.registry.get(name)
            fields = (t.match(name) or {}) if t is not None and t.is_template else {}
            source = t.partner_source(fields) if t is not None else None
            hit = self._topics[name] = (t, fields, source)
        return hit

    def decode(self, r: Any) -> Item:
        """Whatever a record holds, an Item: read, or failed with a named reason, never raised."""
        topic, fields, source = self._topic(r.topic)
        item = Item(
            record=r,
            headers={},
            event_id=f"{r.topic}/{r.partition}/{r.offset}",
            topic_fields=fields,
        )
        if source is None and self._ignores(r):
            item.skip = "ignored"
            return item
        try:
            return self._decode(r, item, topic, source)
        except Exception as exc:
            # Every expected failure has a name above; anything else a partner's bytes can cause
            # (a value no validator foresaw) is still this record's refusal, not the batch's.
            return self._fail(
                item, R_INVALID_VALUE, mask_ids(f"{type(exc).__name__}: {exc}")[:2000]
            )

    def _ignores(self, r: Any) -> bool:
        """Whether the record is an event of the platform's own producers that this
        subscription has no use for (as in `_decode`, where the full reading ignores it too),
        told by its `ce_type` header and its sizes alone. The rest of its envelope is not read
        either: its readers check it (issue 20: statements reads every claim's decision to find
        the months to close, and reading each one's envelope cost it ~25 us a claim). Anything
        else is read in full and refused as before where it breaks a rule: a type of another
        topic, an empty body, a record, key or header list over its limit, a record of a
        partner, a subscription that compares bodies."""
        if not self.trust_event_ids or self.canonical_fingerprints:
            return False
        value, key, headers = r.value, r.key, r.headers
        if (
            not value
            or len(value) > self.max_record_bytes
            or (key is not None and len(key) > MAX_KEY_BYTES)
            or not isinstance(headers, list | tuple)
            or len(headers) > MAX_HEADERS
        ):
            return False
        ignored = self._ignored.get(r.topic)
        if ignored is None:
            topic = self._topics[r.topic][0]
            types = topic.messages if topic is not None else ()
            ignored = self._ignored[r.topic] = frozenset(
                t.TYPE for t in types if self.handlers.get(t.TYPE) is None
            )
        if not ignored:
            return False
        for name, text in headers:
            if name == H_TYPE:
                return text is not None and text.decode(errors="replace") in ignored
        return False

    def _decode(self, r: Any, item: Item, topic: Topic | None, source: str | None) -> Item:
        try:
            item.headers = headers = read_headers(r.headers)
        except EnvelopeError as exc:
            return self._fail(item, exc.reason, exc.detail)
        value = r.value
        size = len(value) if value is not None else 0
        if size > self.max_record_bytes:
            return self._fail(
                item,
                R_TOO_LARGE,
                f"record of {size} bytes exceeds the limit of {self.max_record_bytes}",
            )
        if r.key is not None and len(r.key) > MAX_KEY_BYTES:
            return self._fail(
                item, R_KEY_TOO_LARGE, f"key of {len(r.key)} bytes exceeds {MAX_KEY_BYTES}"
            )
        try:
            env = Envelope.from_headers(headers)
        except EnvelopeError as exc:
            return self._fail(item, exc.reason, exc.detail)
        item.envelope = env
        if self.trust_event_ids:
            item.event_id = env.id
        if topic is None:
            return self._fail(item, R_UNKNOWN_TOPIC, f"{r.topic} is not in the topic registry")
        if source is not None and env.source != source:
            return self._fail(
                item,
                R_SOURCE,
                f"ce_source {env.source[:100]!r} is not {source!r}, the partner of {r.topic}",
            )
        if source is not None and env.time > record_time(r.timestamp) + _CLOCK_SKEW:
            return self._fail(
                item,
                R_INVALID_TIME,
                f"ce_time {env.time.isoformat()} is later than the broker received the record"
                f" ({record_time(r.timestamp).isoformat(timespec='seconds')})",
            )
        mtype = topic.message_type(env.type)
        if mtype is None:
            return self._fail(
                item, R_UNKNOWN_TYPE, f"{env.type[:100]!r} is not a message type of {topic.name}"
            )
        if not value:
            return self._fail(item, R_EMPTY, "the record has no body")
        handler = self.handlers.get(env.type)
        if handler is None and self.trust_event_ids and not self.canonical_fingerprints:
            # An event of the platform's own producers that this subscription has no use for:
            # nothing reads its body or its fingerprint (no effect, no mark), so it is not read.
            # Its readers check it; a subscription that read every other service's events in
            # full spent more on those it ignores than on its own (issue 20: medical
            # settlement's statements, ~100 us a record). A partner's record, and a command
            # people typed, is always read: a malformed one is refused (and answered), whoever
            # handles its type. (`_ignores` tells most of these from their ce_type alone.)
            item.skip = "ignored"
            return item
        try:
            item.message = compiled.read(mtype, value)
        except ValidationError as exc:
            reason, detail = classify_validation_error(exc)
            return self._fail(item, reason, detail)
        if self.trust_event_ids:
            # Commands from people and portals are compared by content (a resend may be
            # formatted differently); events from our own producers by their bytes.
            body = compiled.encode(item.message) if self.canonical_fingerprints else value
            item.fingerprint = hashlib.blake2b(
                env.type.encode() + b"\n" + body, digest_size=12
            ).hexdigest()
        if handler is None:
            item.skip = "ignored"  # a valid record of a partner this service has no use for
            return item
        item.handler = handler
        key = r.key.decode(errors="replace") if r.key is not None else None
        item.ctx = Context(
            envelope=env,
            event_id=item.event_id,
            topic=r.topic,
            partition=r.partition,
            offset=r.offset,
            key=key,
            env=self.env,
            topic_fields=item.topic_fields,
            body=value,
        )
        try:
            item.needs = list(handler.needs(item.message, item.ctx))
        except Exception as exc:  # a bug in the service's needs(): parked like a handler error
            return self._fail(
                item, R_HANDLER_ERROR, mask_ids(f"needs: {type(exc).__name__}: {exc}")[:2000]
            )
        return item

    @staticmethod
    def _fail(item: Item, reason: str, detail: str) -> Item:
        item.reason = reason
        item.detail = detail
        return item


def _headers_json(pairs: list[tuple[str, str]]) -> bytes:
    # Copied to its exact size: orjson's bytes keep the 4 KiB buffer they were written in, and a
    # batch holds one per outbox entry until it is published (38 MB for 9,741 entries, measured).
    return bytes(memoryview(orjson.dumps(pairs)))


def _copied_headers(raw: Any) -> list[tuple[str, str]]:
    """The record's own headers for its dead letter, each cut to the limit a sender must keep:
    a dead letter of a record with a 600 KB header must itself be publishable. Citizen IDs in
    them are masked (issue 18): the dead letter keeps the partner's body as it came, but its
    headers are what operators' tools list and print."""
    pairs = []
    for name, value in list(raw or ())[:MAX_HEADERS]:
        if name.startswith("dlq-"):
            continue
        text = (value or b"")[:MAX_HEADER_VALUE_BYTES].decode(errors="replace")
        pairs.append((mask_ids(name[:MAX_HEADER_NAME_CHARS]), mask_ids(text)))
    return pairs


@dataclass(slots=True)
class _Shared:
    """What every event caused by one record shares: its `ce_time` (unless the handler gives an
    event its own) and the envelope's headers after each event's own (`cause_pairs` and the
    origin). A handler that emits several events (adjudication: the decision and the hospital's
    answer) has them built once; the encoder keeps the last cause's only."""

    cause: Item
    when: datetime
    traceparent: str | None
    time: str
    pairs: list[tuple[str, str]]
    header_list: list[tuple[str, bytes]]


class Encoder:
    """Builds outbox entries: events caused by a record, its dead letter, its rejection."""

    def __init__(self, service: str, dlq_max_value_bytes: int, subscription: str = "") -> None:
        self.service = service
        self.source = f"/shebao/{service}"
        self.dlq_max_value_bytes = dlq_max_value_bytes
        self.subscription = subscription
        self._shared: _Shared | None = None

    def event(
        self,
        emit: Emit,
        cause: Item,
        index: int,
        stream: str,
        stream_id: StreamId,
        traceparent: str | None,
    ) -> OutboxEntry:
        cause_env = cause.envelope
        when = emit.time or (cause_env.time if cause_env else record_time(cause.record.timestamp))
        shared = self._shared
        if (
            shared is None
            or shared.cause is not cause
            or shared.when is not when
            or shared.traceparent != traceparent
        ):
            shared = self._shared = self._shares(cause, when, traceparent)
        head = event_pairs(
            derived_event_id(cause.event_id, index),
            emit.message.TYPE,
            self.source,
            shared.time,
            emit.subject,
        )
        return OutboxEntry(
            stream=stream,
            id=stream_id,
            topic=emit.topic,
            key=emit.key.encode(),
            value=compiled.encode(emit.message),
            headers=_headers_json(head + shared.pairs),
            header_list=[(k, v.encode()) for k, v in head] + shared.header_list,
        )

    def _shares(self, cause: Item, when: datetime, traceparent: str | None) -> _Shared:
        cause_env = cause.envelope
        pairs = cause_pairs(
            (cause_env.correlation_id or cause_env.id) if cause_env else cause.event_id,
            cause_env.id if cause_env else cause.event_id,
            traceparent,
        )
        r = cause.record
        if r is not None:  # None only in the unit-test runner, which has no log to rebuild from
            origin = f"{self.subscription}|{r.topic}|{r.partition}|{r.offset}|{cause.fingerprint}"
            pairs.append((H_FROM, origin))
        header_list = [(k, v.encode()) for k, v in pairs]
        return _Shared(cause, when, traceparent, format_time(when), pairs, header_list)

    def dead_letter(self, item: Item, stream: str, stream_id: StreamId) -> OutboxEntry:
        r = item.record
        value: bytes = r.value or b""
        pairs = _copied_headers(r.headers)
        truncated = len(value) > self.dlq_max_value_bytes
        if truncated:
            digest = hashlib.sha256(value).hexdigest()
            pairs.append(("dlq-original-size", str(len(value))))
            pairs.append(("dlq-original-sha256", digest))
            value = value[: self.dlq_max_value_bytes]
        pairs += [
            ("dlq-reason", item.reason or R_SCHEMA),
            ("dlq-detail", mask_ids(item.detail)[:2000]),
            ("dlq-topic", r.topic),
            ("dlq-partition", str(r.partition)),
            ("dlq-offset", str(r.offset)),
            ("dlq-service", self.service),
            ("dlq-truncated", "true" if truncated else "false"),
        ]
        return OutboxEntry(
            stream=stream,
            id=stream_id,
            topic=dlq_name(r.topic),
            key=(r.key or b"")[:MAX_KEY_BYTES],
            value=value,
            headers=_headers_json(pairs),
        )
