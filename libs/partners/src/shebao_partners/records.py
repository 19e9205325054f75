"""Records as a partner's system writes them."""

from __future__ import annotations

from datetime import datetime

from shebao_contracts.envelope import Envelope
from shebao_contracts.topics import partner_source


def partner_headers(
    ce_type: str, *, message_id: str, time: datetime, source: str
) -> list[tuple[str, bytes]]:
    """CloudEvents headers of a record of type `ce_type` whatever its body, valid or not (the
    message id is also its correlation id, as `message_record` sends)."""
    return Envelope(
        id=message_id, type=ce_type, source=source, time=time, correlation_id=message_id
    ).to_headers()


def partner_source_of(topic: str) -> str | None:
    """The source a partner writes on its own topic, `/partners/<code>` (the code is the third
    part of the name: partner.hospital.<code>.claims.v1), which the platform checks; None for
    a topic that is no partner's."""
    parts = topic.split(".")
    return partner_source(parts[2]) if len(parts) > 3 and parts[0] == "partner" else None
