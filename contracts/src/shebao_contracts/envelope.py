"""The event envelope: CloudEvents 1.0 Kafka protocol binding, binary content mode.

Attributes travel as `ce_*` record headers, the body is the event's JSON, the record key is the
aggregate id. shebao adds `correlation-id`, `causation-id` and the W3C `traceparent` header.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from .limits import (
    CONTROL_CHARACTERS,
    MAX_HEADER_NAME_CHARS,
    MAX_HEADER_VALUE_BYTES,
    MAX_HEADERS,
    MAX_HEADERS_BYTES,
    MAX_ID_CHARS,
    MAX_SUBJECT_CHARS,
    RecordRefusal,
)
from .types import find_citizen_ids

SPECVERSION = "1.0"
CONTENT_TYPE = "application/json"

H_ID = "ce_id"
H_TYPE = "ce_type"
H_SOURCE = "ce_source"
H_TIME = "ce_time"
H_SPECVERSION = "ce_specversion"
H_SUBJECT = "ce_subject"
H_CONTENT_TYPE = "content-type"
H_CORRELATION = "correlation-id"
H_CAUSATION = "causation-id"
H_TRACEPARENT = "traceparent"
H_CE_TRACEPARENT = "ce_traceparent"  # the CloudEvents distributed-tracing extension's name

REQUIRED_HEADERS = (H_ID, H_TYPE, H_SOURCE, H_TIME, H_SPECVERSION)
_ID_HEADERS = (H_ID, H_CORRELATION, H_CAUSATION)
"""Ids that go on with what a record causes (as its events' causation and correlation ids, and
as the dedupe mark of a command): none may be a citizen ID number."""
READ_HEADERS = frozenset(REQUIRED_HEADERS) | {
    H_SUBJECT,
    H_CONTENT_TYPE,
    H_CORRELATION,
    H_CAUSATION,
    H_TRACEPARENT,
    H_CE_TRACEPARENT,
}
"""The headers the platform reads: each may appear once."""

_CHAR_LIMITS = {
    H_ID: MAX_ID_CHARS,
    H_TYPE: MAX_ID_CHARS,
    H_SOURCE: MAX_ID_CHARS,
    H_CORRELATION: MAX_ID_CHARS,
    H_CAUSATION: MAX_ID_CHARS,
    H_SUBJECT: MAX_SUBJECT_CHARS,
}
# W3C trace context: version-traceid-parentid-flags; a later version may append fields.
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}")


_ID_IN_HEADER = "{} holds a citizen ID number: an id names a message, never a person"


class Message(BaseModel):
    """Base of every message on a shebao topic: an immutable pydantic model with a CloudEvents type.

    Unknown fields are ignored so that a consumer keeps working when a producer adds an optional
    field (the compatible way to grow a `.v1` contract).
    """

    model_config = ConfigDict(frozen=True, extra="ignore", str_strip_whitespace=False)

    TYPE: ClassVar[str]
    """CloudEvents `type`, e.g. `shebao.enrollment.PersonRegistered`."""

    EXAMPLE: ClassVar[Mapping[str, Any] | Message | None] = None
    """A typical message, published as the contract's example; required on partner topics.

    Either a JSON-like dict, `EXAMPLE: ClassVar[dict[str, Any]] = {...}` (the annotation keeps
    ruff's RUF012 quiet), or an instance set after the class: `Claim.EXAMPLE = Claim(...)`.
    """


class EnvelopeError(ValueError):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Envelope:
    id: str
    type: str
    source: str
    time: datetime
    subject: str | None = None
    correlation_id: str | None = None
    causation_id: str | None = None
    traceparent: str | None = None

    def header_pairs(self) -> list[tuple[str, str]]:
        return event_pairs(
            self.id, self.type, self.source, format_time(self.time), self.subject
        ) + cause_pairs(self.correlation_id, self.causation_id, self.traceparent)

    def to_headers(self) -> list[tuple[str, bytes]]:
        """Kafka record headers (binary content mode)."""
        return [(k, v.encode()) for k, v in self.header_pairs()]

    @classmethod
    def from_headers(cls, headers: dict[str, str]) -> Envelope:
        """The envelope of headers already read by `read_headers` (or built by the platform)."""
        missing = [h for h in REQUIRED_HEADERS if not headers.get(h)]
        if missing:
            raise EnvelopeError(
                "missing_header", f"missing CloudEvents header(s): {', '.join(missing)}"
            )
        if headers[H_SPECVERSION] != SPECVERSION:
            raise EnvelopeError(
                "unsupported_specversion", f"ce_specversion {headers[H_SPECVERSION]!r} is not 1.0"
            )
        ctype = headers.get(H_CONTENT_TYPE)
        if ctype and not ctype.startswith(CONTENT_TYPE):
            raise EnvelopeError("unsupported_content_type", f"content-type {ctype!r} is not JSON")
        # one scan of the ids joined by spaces (no candidate starts or ends across one), and
        # only where one of them holds a citizen ID, the scan that names it
        if find_citizen_ids(" ".join([headers.get(name) or "" for name in _ID_HEADERS])):
            for name in _ID_HEADERS:
                if find_citizen_ids(headers.get(name) or ""):
                    raise EnvelopeError("citizen_id_in_header", _ID_IN_HEADER.format(name))
        try:
            when = parse_time(headers[H_TIME])
        except ValueError:
            raise EnvelopeError(
                "invalid_time", f"ce_time {headers[H_TIME][:40]!r} is not an RFC 3339 timestamp"
            ) from None
        return cls(
            id=headers[H_ID],
            type=headers[H_TYPE],
            source=headers[H_SOURCE],
            time=when,
            subject=headers.get(H_SUBJECT),
            correlation_id=headers.get(H_CORRELATION),
            causation_id=headers.get(H_CAUSATION),
            traceparent=valid_traceparent(
                headers.get(H_TRACEPARENT) or headers.get(H_CE_TRACEPARENT)
            ),
        )

    def but(self, **changes: object) -> Envelope:
        return replace(self, **changes)  # type: ignore[arg-type]


def event_pairs(
    id: str, type: str, source: str, time: str, subject: str | None
) -> list[tuple[str, str]]:
    """The first of an envelope's headers, in their order: what each event has of its own (its
    time is the formatted `ce_time`). `cause_pairs` follow them."""
    headers = [
        (H_SPECVERSION, SPECVERSION),
        (H_ID, id),
        (H_TYPE, type),
        (H_SOURCE, source),
        (H_TIME, time),
        (H_CONTENT_TYPE, CONTENT_TYPE),
    ]
    if subject:
        headers.append((H_SUBJECT, subject))
    return headers


def cause_pairs(
    correlation_id: str | None, causation_id: str | None, traceparent: str | None
) -> list[tuple[str, str]]:
    """The last of an envelope's headers, after `event_pairs`: what every event caused by one
    record shares, so a service that emits several builds them once (issue 20)."""
    headers = []
    if correlation_id:
        headers.append((H_CORRELATION, correlation_id))
    if causation_id:
        headers.append((H_CAUSATION, causation_id))
    if traceparent:
        headers.append((H_TRACEPARENT, traceparent))
    return headers


def format_time(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("event times are timezone-aware")
    return value.isoformat()


def parse_time(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError("no offset")
    return value


def valid_traceparent(value: str | None) -> str | None:
    """A W3C traceparent as received, or None for a malformed one, which W3C says to ignore."""
    if value and _TRACEPARENT.match(value) and value[:2] != "ff":
        return value
    return None


def read_headers(raw: Iterable[tuple[str, bytes | None]]) -> dict[str, str]:
    """A record's headers as text, within the limits of `shebao_contracts.limits`.

    Raises EnvelopeError naming the first limit broken. Headers the platform does not read are
    kept (they are copied into a dead letter) but count toward the limits all the same."""
    pairs = raw if isinstance(raw, list | tuple) else list(raw)
    if len(pairs) > MAX_HEADERS:
        raise EnvelopeError(
            RecordRefusal.TOO_MANY_HEADERS, f"a record may carry at most {MAX_HEADERS} headers"
        )
    headers: dict[str, str] = {}
    read: list[str] = []  # the values of the headers the platform reads
    total = 0
    for name, value in pairs:
        size = len(value) if value is not None else 0
        if size > MAX_HEADER_VALUE_BYTES or len(name) > MAX_HEADER_NAME_CHARS:
            raise EnvelopeError(
                RecordRefusal.HEADER_TOO_LARGE,
                f"header {name[:MAX_HEADER_NAME_CHARS]!r} of {size} bytes exceeds the limit of"
                f" {MAX_HEADER_VALUE_BYTES} (names {MAX_HEADER_NAME_CHARS} characters)",
            )
        total += len(name) + size
        try:
            text = value.decode() if value is not None else ""
        except UnicodeDecodeError:
            raise EnvelopeError(
                RecordRefusal.INVALID_HEADER_ENCODING, f"header {name!r} is not UTF-8"
            ) from None
        if name in READ_HEADERS:
            if name in headers:
                raise EnvelopeError(
                    RecordRefusal.DUPLICATE_HEADER, f"header {name!r} appears more than once"
                )
            limit = _CHAR_LIMITS.get(name) if size > MAX_ID_CHARS else None  # chars <= bytes
            if limit is not None and len(text) > limit:
                raise EnvelopeError(
                    RecordRefusal.HEADER_TOO_LARGE,
                    f"header {name!r} has {len(text)} characters; at most {limit}",
                )
            read.append(text)
        headers[name] = text
    if total > MAX_HEADERS_BYTES:
        raise EnvelopeError(
            RecordRefusal.HEADERS_TOO_LARGE, f"headers exceed {MAX_HEADERS_BYTES} bytes in all"
        )
    joined = "".join(read)
    # isprintable() is false for every character the pattern names: the pattern runs only then.
    if not joined.isprintable() and CONTROL_CHARACTERS.search(joined):
        raise EnvelopeError(
            RecordRefusal.HEADER_CONTROL_CHARACTER,
            "a CloudEvents or tracing header contains a control or bidirectional formatting"
            " character",
        )
    return headers
