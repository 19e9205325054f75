"""Records as a partner's system writes them."""

from __future__ import annotations

from datetime import datetime

from shebao_contracts.envelope import Envelope


def partner_headers(
    ce_type: str, *, message_id: str, time: datetime, source: str
) -> list[tuple[str, bytes]]:
    """CloudEvents headers of a record of type `ce_type` whatever its body, valid or not (the
    message id is also its correlation id, as `message_record` sends)."""
    return Envelope(
        id=message_id, type=ce_type, source=source, time=time, correlation_id=message_id
    ).to_headers()
