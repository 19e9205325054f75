"""Every Kafka client of the platform connects through here: the options of `KafkaConnection`
(bootstrap, SASL mechanism, user, password file, TLS CA) as aiokafka and FastStream take them.

Services pass their `ServiceSettings`; tools and tests pass nothing and get the environment's
connection (KAFKA_BOOTSTRAP_SERVERS, KAFKA_SECURITY_PROTOCOL, KAFKA_USERNAME, ...).
"""

from __future__ import annotations

import ssl
from typing import Any

from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from .settings import KafkaConnection


def connection(conn: KafkaConnection | None = None) -> KafkaConnection:
    return KafkaConnection() if conn is None else conn


def _ssl_context(conn: KafkaConnection) -> ssl.SSLContext | None:
    if conn.kafka_security_protocol not in ("SSL", "SASL_SSL"):
        return None
    cafile = None if conn.kafka_ssl_cafile is None else str(conn.kafka_ssl_cafile)
    return ssl.create_default_context(cafile=cafile)


def client_options(
    conn: KafkaConnection | None = None, *, bootstrap: str | None = None
) -> dict[str, Any]:
    """Keyword arguments for AIOKafkaProducer, AIOKafkaConsumer and AIOKafkaAdminClient
    (bootstrap_servers included; `bootstrap` names another address with the same identity)."""
    c = connection(conn)
    opts: dict[str, Any] = {
        "bootstrap_servers": bootstrap or c.kafka_bootstrap_servers,
        "security_protocol": c.kafka_security_protocol,
    }
    ctx = _ssl_context(c)
    if ctx is not None:
        opts["ssl_context"] = ctx
    if c.kafka_security_protocol.startswith("SASL"):
        opts["sasl_mechanism"] = c.kafka_sasl_mechanism
        opts["sasl_plain_username"] = c.kafka_username
        opts["sasl_plain_password"] = c.kafka_password_value()
    return opts


def broker_security(conn: KafkaConnection | None = None) -> BaseSecurity | None:
    """The same connection as FastStream's KafkaBroker takes it (`security=`)."""
    c = connection(conn)
    ctx = _ssl_context(c)
    use_ssl = ctx is not None
    if not c.kafka_security_protocol.startswith("SASL"):
        return BaseSecurity(ssl_context=ctx, use_ssl=use_ssl) if use_ssl else None
    user, password = c.kafka_username or "", c.kafka_password_value() or ""
    kind = {
        "SCRAM-SHA-512": SASLScram512,
        "SCRAM-SHA-256": SASLScram256,
        "PLAIN": SASLPlaintext,
    }[c.kafka_sasl_mechanism]
    return kind(user, password, ssl_context=ctx, use_ssl=use_ssl)
