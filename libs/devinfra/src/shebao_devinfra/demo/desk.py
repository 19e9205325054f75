"""Sending as a counter, a portal, the scheduler or a partner would."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaProducer

from shebao_common.kafka_security import client_options
from shebao_common.onboard import onboard_partner, operator
from shebao_common.settings import KafkaConnection
from shebao_contracts import access
from shebao_contracts import enrollment as c
from shebao_contracts.catalog import all_topics
from shebao_partners import partner_headers

from ..testing import message_record
from .setting import T0


class Desk:
    """Sends messages as a counter, a portal, the scheduler or a partner would: each with its
    own id and time. A partner's records go out under the partner's own account, as its system
    would send them: the desk onboards each partner the first time it speaks (its credential and
    ACLs, with the operator's command) and keeps one producer per partner; on a broker that
    authenticates nobody, everything goes through `prod`."""

    def __init__(self, prod: Any, bootstrap: str | None = None) -> None:
        self.prod = prod
        self.bootstrap = bootstrap
        self.n = 0
        self._partners: dict[str, AIOKafkaProducer] = {}
        self._registry = all_topics()

    async def _sender(self, topic: str) -> Any:
        conn = KafkaConnection()
        template = self._registry.get(topic) if topic.startswith("partner.") else None
        kind = None if template is None else access.partner_kind(template)
        fields = None if template is None else template.match(topic)
        if kind is None or not fields or not conn.kafka_security_protocol.startswith("SASL"):
            return self.prod
        partner = access.Partner(kind, fields["code"])
        if partner.user not in self._partners:
            password = secrets.token_urlsafe(18)
            async with operator(self.bootstrap) as admin:
                await onboard_partner(admin, partner, password, registry=self._registry)
            opts = client_options(bootstrap=self.bootstrap)
            opts.update(
                sasl_mechanism="SCRAM-SHA-512",
                sasl_plain_username=partner.user,
                sasl_plain_password=password,
            )
            prod = AIOKafkaProducer(**opts, acks="all", enable_idempotence=True, linger_ms=5)
            await prod.start()
            self._partners[partner.user] = prod
        return self._partners[partner.user]

    async def flush(self) -> None:
        await self.prod.flush()
        for prod in self._partners.values():
            await prod.flush()

    async def stop(self) -> None:
        for prod in self._partners.values():
            await prod.stop()
        self._partners.clear()

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
        await (await self._sender(topic)).send(topic, key=k, value=v, headers=h)

    async def send_raw(
        self, topic: str, key: str, value: bytes, ce_type: str, at: datetime, source: str
    ) -> None:
        """A record as a partner's system writes it, valid or not."""
        self.n += 1
        h = partner_headers(ce_type, message_id=f"demo-{self.n:06d}", time=at, source=source)
        await (await self._sender(topic)).send(topic, key=key.encode(), value=value, headers=h)
