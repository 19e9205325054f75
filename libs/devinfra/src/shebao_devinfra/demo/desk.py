"""Sending as a counter, a portal, the scheduler or a partner would."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from shebao_contracts import enrollment as c
from shebao_partners import partner_headers

from ..testing import message_record
from .setting import T0


class Desk:
    """Sends messages as a counter, a portal, the scheduler or a partner would: each with its
    own id and time."""

    def __init__(self, prod: Any) -> None:
        self.prod = prod
        self.n = 0

    async def send(
        self, msg: Any, key: str, topic: str = c.COMMANDS.name, at: datetime | None = None
    ) -> None:
        self.n += 1
        k, v, h = message_record(
            msg,
            message_id=f"demo-{self.n:06d}",
            time=at or T0 + timedelta(seconds=self.n),
            source=None if topic.startswith("partner.") else "/counter/demo",
            key=key,
            topic=topic,
        )
        await self.prod.send(topic, key=k, value=v, headers=h)

    async def send_raw(
        self, topic: str, key: str, value: bytes, ce_type: str, at: datetime, source: str
    ) -> None:
        """A record as a partner's system writes it, valid or not."""
        self.n += 1
        h = partner_headers(ce_type, message_id=f"demo-{self.n:06d}", time=at, source=source)
        await self.prod.send(topic, key=key.encode(), value=value, headers=h)
