"""What any sender may put in a record, bounded, and the named reason for each refusal.

A record that breaks one of these is not read: it goes to `<topic>.dlq` with the reason in its
`dlq-reason` header, and on a partner topic the partner is answered on its own answer topic with
the same reason. Value-level reasons (money_*, citizen_id_*, text_*) come from the value types in
`shebao_contracts.types`; state-dependent reasons (a claim's `not_insured_on_service_date`, say)
from the services.
"""

from __future__ import annotations

import re
from enum import StrEnum

MAX_VALUE_BYTES = 512 * 1024
"""A record's body: larger is refused `record_too_large` (the dead letter keeps 256 KiB of it)."""

MAX_KEY_BYTES = 256
"""A record's key (a claim or collection id, an aggregate id): larger is `key_too_large`."""

MAX_HEADERS = 32
"""Headers on one record: more is `too_many_headers`."""

MAX_HEADER_NAME_CHARS = 64
MAX_HEADER_VALUE_BYTES = 1024
"""Any one header's name (characters) and value (bytes): longer is `header_too_large`."""

MAX_HEADERS_BYTES = 8 * 1024
"""All header names and values together: more is `headers_too_large`."""

MAX_ID_CHARS = 128
"""`ce_id`, `correlation-id`, `causation-id`, `ce_type` and `ce_source`: longer is
`header_too_large`. The platform copies ids into its answers, so an id is kept short."""

MAX_SUBJECT_CHARS = 256
"""`ce_subject`: longer is `header_too_large`."""

MAX_MONEY_WHOLE_DIGITS = 15
"""Whole digits of an amount in yuan (up to 999 trillion): more is `money_out_of_range`."""

MAX_CLOCK_SKEW_SECONDS = 300
"""On a partner's topic, how much later than the record's broker timestamp its `ce_time` may be:
later is `invalid_time`. The platform takes `ce_time` as the moment it received a record (a
replay answers the same), so a sender must not be able to move it into the future; partner
topics are created with `message.timestamp.type=LogAppendTime`, so that the timestamp is the
broker's own clock."""

MAX_JSON_DEPTH = 200
"""Nesting of arrays and objects in a body (the parser's limit): deeper is `malformed_json`.
No message of the contracts nests more than four levels."""


_CONTROL_CLASS = "\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069"
CONTROL_CHARACTERS = re.compile(f"[{_CONTROL_CLASS}]")
"""Control and bidirectional formatting characters: refused in the CloudEvents attributes
(`header_control_character`) and in the text fields partners type (`text_control_character`).
NUL ends strings in many hospital systems; a bidi override shows a code other than it is."""

TEXT_PATTERN = f"^[^{_CONTROL_CLASS}]*$"
"""The published schema's pattern of such text fields: a partner's schema check finds them too."""


class RecordRefusal(StrEnum):
    """Why a record could not be read at all, before any rule looked at it."""

    RECORD_TOO_LARGE = "record_too_large"
    KEY_TOO_LARGE = "key_too_large"
    TOO_MANY_HEADERS = "too_many_headers"
    HEADER_TOO_LARGE = "header_too_large"
    HEADERS_TOO_LARGE = "headers_too_large"
    DUPLICATE_HEADER = "duplicate_header"
    """A header the platform reads (ce_*, content-type, correlation-id, causation-id,
    traceparent) appears twice: which one the sender meant cannot be known."""
    INVALID_HEADER_ENCODING = "invalid_header_encoding"
    HEADER_CONTROL_CHARACTER = "header_control_character"
    CITIZEN_ID_IN_HEADER = "citizen_id_in_header"
    """`ce_id`, `correlation-id` or `causation-id` holds a citizen ID number: those ids travel
    on with everything the record causes, where no person is named by ID (issue 18)."""
    MISSING_HEADER = "missing_header"
    UNSUPPORTED_SPECVERSION = "unsupported_specversion"
    UNSUPPORTED_CONTENT_TYPE = "unsupported_content_type"
    INVALID_TIME = "invalid_time"
    SOURCE_MISMATCH = "source_mismatch"
    """On a partner's topic, `ce_source` must be `/partners/<the topic's partner code>`."""
    UNKNOWN_TOPIC = "unknown_topic"
    UNKNOWN_EVENT_TYPE = "unknown_event_type"
    EMPTY_BODY = "empty_body"
    MALFORMED_JSON = "malformed_json"
    SCHEMA_VIOLATION = "schema_violation"
    INVALID_VALUE = "invalid_value"
    """A value that could not be read for a reason no other name covers."""
    ID_CONFLICT = "id_conflict"
    """An event or command id reused with a different body."""
    HANDLER_ERROR = "handler_error"
    """The platform failed on a valid record (a defect of ours): parked for an operator."""
