"""Settings for every knob, from the environment (pydantic-settings).

KAFKA_BOOTSTRAP_SERVERS and REDIS_URL are shared by every service of a deployment (and
REDIS_USERNAME / REDIS_PASSWORD_FILE name each one's own Redis user); everything else is
prefixed per service, e.g. SHEBAO_ENROLLMENT_BATCH_MAX_RECORDS.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shebao_contracts.limits import MAX_VALUE_BYTES

# Development and tests only; production refuses to start without a key of its own.
DEV_PSEUDONYM_KEY = "shebao-development-pseudonym-key-not-for-production"
DEV_CITIZEN_ID_KEY = "shebao-development-citizen-id-key-not-for-production"


class KafkaConnection(BaseSettings):
    """How a client reaches and authenticates to Kafka: shared by every service, tool and test
    client of one deployment (KAFKA_BOOTSTRAP_SERVERS, KAFKA_SECURITY_PROTOCOL, ...)."""

    model_config = SettingsConfigDict(env_prefix="SHEBAO_", extra="ignore", frozen=True)

    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:9092", validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS")
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL"] = Field(
        "PLAINTEXT",
        validation_alias=AliasChoices("KAFKA_SECURITY_PROTOCOL"),
        description="SASL_SSL in compose and Kubernetes, SASL_PLAINTEXT on loopback in tests",
    )
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = Field(
        "SCRAM-SHA-512", validation_alias=AliasChoices("KAFKA_SASL_MECHANISM")
    )
    kafka_username: str | None = Field(
        None,
        validation_alias=AliasChoices("KAFKA_USERNAME"),
        description="this client's principal (shebao-<service> for a service)",
    )
    kafka_password: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("KAFKA_PASSWORD"),
        description="prefer KAFKA_PASSWORD_FILE (a mounted secret)",
    )
    kafka_password_file: Path | None = Field(
        None, validation_alias=AliasChoices("KAFKA_PASSWORD_FILE")
    )
    kafka_ssl_cafile: Path | None = Field(
        None,
        validation_alias=AliasChoices("KAFKA_SSL_CAFILE"),
        description="the CA that signed the brokers' certificates (SSL and SASL_SSL)",
    )

    @model_validator(mode="after")
    def _credentials_with_sasl(self) -> KafkaConnection:
        if self.kafka_security_protocol.startswith("SASL") and (
            not self.kafka_username
            or (self.kafka_password is None and self.kafka_password_file is None)
        ):
            raise ValueError(
                f"KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs KAFKA_USERNAME "
                "and KAFKA_PASSWORD_FILE (or KAFKA_PASSWORD)"
            )
        return self

    def kafka_password_value(self) -> str | None:
        if self.kafka_password_file is not None:
            return self.kafka_password_file.read_text().strip()
        return None if self.kafka_password is None else self.kafka_password.get_secret_value()


CLUSTER_SCHEMES = {"redis+cluster": False, "rediss+cluster": True}
"""The REDIS_URL schemes that name a Redis Cluster by seed nodes, and whether each speaks TLS."""


def is_cluster_url(url: str) -> bool:
    return url.split("://", 1)[0] in CLUSTER_SCHEMES


class RedisConnection(BaseSettings):
    """How a client reaches and authenticates to Redis (REDIS_URL, REDIS_USERNAME,
    REDIS_PASSWORD_FILE or REDIS_PASSWORD). A user and password given here win over any the URL
    carries (redis://user:password@host:port/db, which keeps working on its own)."""

    model_config = SettingsConfigDict(env_prefix="SHEBAO_", extra="ignore", frozen=True)

    redis_url: str = Field(
        "redis://127.0.0.1:6379/0",
        validation_alias=AliasChoices("REDIS_URL"),
        description="one node (redis://, rediss://) or a Redis Cluster by several seed nodes: "
        "redis+cluster://[user[:password]@]host:port[,host:port...] (rediss+cluster:// for TLS)",
    )
    redis_wait_replicas: int | None = Field(
        None,
        ge=0,
        validation_alias=AliasChoices("REDIS_WAIT_REPLICAS"),
        description="replicas a commit must reach (WAIT) before its outputs are published; "
        "default 1 on a cluster, 0 on one node",
    )
    redis_wait_timeout_ms: int = Field(
        1000, ge=1, validation_alias=AliasChoices("REDIS_WAIT_TIMEOUT_MS")
    )
    state_layout: Literal["auto", "one-slot", "partitioned"] = Field(
        "auto",
        validation_alias=AliasChoices("STATE_LAYOUT"),
        description="where a service keeps its state: one slot, or one slot per input partition "
        "(spread over a cluster's shards; only a service whose rules allow it); auto: "
        "partitioned on a Redis Cluster when the service allows it, one slot otherwise",
    )
    redis_username: str | None = Field(
        None,
        validation_alias=AliasChoices("REDIS_USERNAME"),
        description="this client's ACL user (shebao-<service> for a service)",
    )
    redis_password: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("REDIS_PASSWORD"),
        description="prefer REDIS_PASSWORD_FILE (a mounted secret)",
    )
    redis_password_file: Path | None = Field(
        None, validation_alias=AliasChoices("REDIS_PASSWORD_FILE")
    )

    @model_validator(mode="after")
    def _password_with_user(self) -> RedisConnection:
        if self.redis_username and self.redis_password is None and self.redis_password_file is None:
            raise ValueError(
                f"REDIS_USERNAME={self.redis_username} needs REDIS_PASSWORD_FILE "
                "(or REDIS_PASSWORD)"
            )
        return self

    @property
    def redis_cluster(self) -> bool:
        return is_cluster_url(self.redis_url)

    def partitioned_state(self, allowed: bool) -> bool:
        """Whether a service whose rules allow a partitioned layout (`allowed`) uses one."""
        if self.state_layout == "auto":
            return allowed and self.redis_cluster
        return self.state_layout == "partitioned"

    def wait_replicas(self) -> int:
        if self.redis_wait_replicas is not None:
            return self.redis_wait_replicas
        return 1 if self.redis_cluster else 0

    def redis_password_value(self) -> str | None:
        if self.redis_password_file is not None:
            return self.redis_password_file.read_text().strip()
        return None if self.redis_password is None else self.redis_password.get_secret_value()


class ServiceSettings(KafkaConnection, RedisConnection):
    model_config = SettingsConfigDict(env_prefix="SHEBAO_", extra="ignore", frozen=True)

    environment: Literal["development", "test", "production"] = Field(
        "development", validation_alias=AliasChoices("SHEBAO_ENVIRONMENT")
    )
    pseudonym_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("SHEBAO_PSEUDONYM_KEY"),
        description="HMAC key that turns citizen IDs into person references; one per deployment",
    )
    citizen_id_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("SHEBAO_CITIZEN_ID_KEY"),
        description="key that seals citizen IDs (enrollment) and opens them for the tax bureau"
        " (contributions); no other service is given it",
    )

    auth_jwks_url: str | None = Field(
        None,
        validation_alias=AliasChoices("SHEBAO_AUTH_JWKS_URL"),
        description="the identity provider's JWKS (https://.../certs): the keys that sign the"
        " read side's bearer tokens; fetched, cached, fetched again for an unknown key id",
    )
    auth_jwks_file: Path | None = Field(
        None,
        validation_alias=AliasChoices("SHEBAO_AUTH_JWKS_FILE"),
        description="the same JWKS as a mounted file (read again for an unknown key id);"
        " SHEBAO_AUTH_JWKS_URL wins when both are set",
    )
    auth_issuer: str | None = Field(
        None,
        validation_alias=AliasChoices("SHEBAO_AUTH_ISSUER"),
        description="the `iss` every token must carry",
    )
    auth_audience: str = Field(
        "shebao",
        validation_alias=AliasChoices("SHEBAO_AUTH_AUDIENCE"),
        description="the `aud` every token must carry (one of its audiences)",
    )
    auth_leeway_seconds: int = Field(
        30, ge=0, le=300, description="clock skew allowed on exp, nbf and iat"
    )
    auth_jwks_refresh_seconds: int = Field(
        30,
        ge=1,
        description="an unknown key id fetches the JWKS again at most this often (a flood of"
        " forged key ids must not become a flood of requests to the identity provider)",
    )
    auth_jwks_max_age_seconds: int = Field(
        3600, ge=60, description="the fetched JWKS is fetched again after this long"
    )
    audit_timeout_seconds: float = Field(
        10.0,
        gt=0,
        description="how long a read-side request waits for its audit record to be"
        " acknowledged; past it the request is refused with 503",
    )

    http_host: str = "0.0.0.0"  # noqa: S104 - a container listens on all interfaces
    http_port: int = 8080
    log_level: str = "INFO"
    log_json: bool = True
    tracing_exporter: Literal["none", "console", "otlp"] = "none"

    batch_max_records: int = Field(500, ge=1, le=10_000)
    commit_max_output_bytes: int = Field(
        4 * 1024 * 1024,
        ge=1024,
        description="a batch whose outputs grow past this many bytes is committed in parts:"
        " records that fan out (an employer's month assessed, one output per employee) would"
        " otherwise hold a whole batch's outputs and new state in memory at once",
    )
    batch_timeout_ms: int = Field(100, ge=1)
    fetch_busy_min_bytes: int = Field(
        16 * 1024,
        ge=1,
        description="while records flow, a consumer's fetch is answered once the broker holds"
        " this many bytes for it (or after fetch_busy_max_wait_ms): fewer, fuller fetches at a"
        " trickle; an idle consumer's fetch is answered at its first record. 1: every fetch is"
        " answered at its first record (aiokafka's default)",
    )
    fetch_busy_max_wait_ms: int = Field(
        20, ge=1, le=500, description="how long the broker may hold a busy fetch for its bytes"
    )
    max_record_bytes: int = Field(
        MAX_VALUE_BYTES, description="larger records are refused (record_too_large)"
    )
    max_publish_bytes: int = Field(
        1024 * 1024,
        ge=1024,
        description="the largest record the relay sends; keep it at or below the broker's"
        " message.max.bytes: a larger output is parked, never retried forever",
    )
    dlq_max_value_bytes: int = Field(256 * 1024, description="longer dead-letter copies are cut")
    dedupe_ttl_seconds: int = Field(7 * 24 * 3600, ge=60)
    command_id_ttl_days: int = Field(
        90, ge=1, description="how long a command id is remembered: a resend within it is harmless"
    )
    state_cache_entries: int = Field(
        10_000, ge=100, description="decoded state kept per subscription (memory vs reads)"
    )
    gc_gen0_threshold: int = Field(
        50_000, ge=700, description="allocations between young-generation garbage collections"
    )
    outbox_max_pending: int = Field(20_000, ge=100)
    producer_linger_ms: int = Field(
        0,
        ge=0,
        description="the relay hands a committed batch's entries over at once, so they share a"
        " produce request without lingering; a linger only delayed every hop",
    )
    producer_max_batch_bytes: int = 512 * 1024
    producer_request_timeout_ms: int = Field(
        30_000,
        ge=1000,
        description="how long the relay waits for an acknowledgement, or for a topic's metadata"
        " before it asks whether the topic exists at all",
    )
    metadata_max_age_ms: int = Field(30_000, description="how soon a new partner topic is seen")
    session_timeout_ms: int = 30_000
    heartbeat_interval_ms: int = 3_000
    max_poll_interval_ms: int = 300_000
    shutdown_grace_seconds: float = Field(25.0, description="finish, flush and leave within this")
    create_topics: bool = Field(True, description="create the service's topics at start-up")
    topic_partitions: int = Field(12, ge=1)
    topic_replication: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _kafka_in_production(self) -> ServiceSettings:
        if self.environment == "production" and self.kafka_security_protocol != "SASL_SSL":
            raise ValueError(
                "production connects to Kafka with KAFKA_SECURITY_PROTOCOL=SASL_SSL (an account"
                f" of its own over TLS), not {self.kafka_security_protocol}"
            )
        return self

    @model_validator(mode="after")
    def _key_in_production(self) -> ServiceSettings:
        if self.environment == "production" and _weak(self.pseudonym_key, DEV_PSEUDONYM_KEY):
            raise ValueError(
                "production needs its own pseudonym_key of at least 32 characters "
                "(SHEBAO_PSEUDONYM_KEY)"
            )
        if self.environment == "production" and not self.auth_configured:
            raise ValueError(
                "production needs the read side's token issuer: SHEBAO_AUTH_JWKS_URL (or "
                "SHEBAO_AUTH_JWKS_FILE) and SHEBAO_AUTH_ISSUER"
            )
        if self.environment == "production" and any(
            ".invalid" in (v or "") for v in (self.auth_jwks_url, self.auth_issuer)
        ):
            raise ValueError(
                "SHEBAO_AUTH_JWKS_URL and SHEBAO_AUTH_ISSUER are still the placeholders "
                "(.invalid): set the identity provider's"
            )
        return self

    @property
    def auth_configured(self) -> bool:
        """Whether bearer tokens can be verified: a JWKS to verify them with and an issuer.
        Without, every read-side request is refused (401); production refuses to start."""
        return (self.auth_jwks_url is not None or self.auth_jwks_file is not None) and bool(
            self.auth_issuer
        )

    def pseudonym_secret(self) -> bytes:
        if self.pseudonym_key is None:
            return DEV_PSEUDONYM_KEY.encode()
        return self.pseudonym_key.get_secret_value().encode()

    def citizen_id_secret(self) -> bytes:
        """The sealing key; only enrollment and contributions ask for it, and in production
        asking without one of its own (32 characters at least) is an error."""
        if self.environment == "production" and _weak(self.citizen_id_key, DEV_CITIZEN_ID_KEY):
            raise ValueError(
                "production needs its own citizen_id_key of at least 32 characters "
                "(SHEBAO_CITIZEN_ID_KEY)"
            )
        if self.citizen_id_key is None:
            return DEV_CITIZEN_ID_KEY.encode()
        return self.citizen_id_key.get_secret_value().encode()


def _weak(key: SecretStr | None, dev: str) -> bool:
    return key is None or key.get_secret_value() in ("", dev) or len(key.get_secret_value()) < 32
