"""Settings refuse an insecure production deployment before a service connects anywhere."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from shebao_common.kafka_security import broker_security, client_options
from shebao_common.settings import KafkaConnection, ServiceSettings

KEY = "k" * 40
ISSUER = {
    "SHEBAO_AUTH_JWKS_URL": "https://id.example.org/jwks",
    "SHEBAO_AUTH_ISSUER": "https://id.example.org",
}


@pytest.fixture(autouse=True)
def _no_kafka_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what each test gives: a test session that started a broker put the operator's
    identity (KAFKA_USERNAME, ...) into this process's environment, which settings read."""
    for var in (
        "KAFKA_BOOTSTRAP_SERVERS",
        "KAFKA_SECURITY_PROTOCOL",
        "KAFKA_SASL_MECHANISM",
        "KAFKA_USERNAME",
        "KAFKA_PASSWORD",
        "KAFKA_PASSWORD_FILE",
        "KAFKA_SSL_CAFILE",
    ):
        monkeypatch.delenv(var, raising=False)


def test_production_refuses_kafka_without_tls_and_an_account() -> None:
    for protocol in ("PLAINTEXT", "SASL_PLAINTEXT", "SSL"):
        with pytest.raises(ValidationError, match="SASL_SSL"):
            ServiceSettings(
                SHEBAO_ENVIRONMENT="production",
                SHEBAO_PSEUDONYM_KEY=KEY,
                KAFKA_SECURITY_PROTOCOL=protocol,
                KAFKA_USERNAME="shebao-enrollment",
                KAFKA_PASSWORD="pw",
                **ISSUER,
            )
    ok = ServiceSettings(
        SHEBAO_ENVIRONMENT="production",
        SHEBAO_PSEUDONYM_KEY=KEY,
        KAFKA_SECURITY_PROTOCOL="SASL_SSL",
        KAFKA_USERNAME="shebao-enrollment",
        KAFKA_PASSWORD="pw",
        **ISSUER,
    )
    assert ok.kafka_security_protocol == "SASL_SSL"


def test_sasl_needs_a_user_and_a_password() -> None:
    with pytest.raises(ValidationError, match="KAFKA_USERNAME"):
        KafkaConnection(KAFKA_SECURITY_PROTOCOL="SASL_SSL")


def test_the_password_comes_from_its_file(tmp_path: Path) -> None:
    secret = tmp_path / "kafka.password"
    secret.write_text("from-the-secret\n")
    conn = KafkaConnection(
        KAFKA_BOOTSTRAP_SERVERS="kafka:9093",
        KAFKA_SECURITY_PROTOCOL="SASL_SSL",
        KAFKA_USERNAME="shebao-welfare",
        KAFKA_PASSWORD_FILE=secret,
    )
    opts = client_options(conn)
    assert opts["sasl_plain_password"] == "from-the-secret"
    assert opts["sasl_mechanism"] == "SCRAM-SHA-512"
    assert opts["security_protocol"] == "SASL_SSL"
    assert opts["ssl_context"] is not None
    assert client_options(conn, bootstrap="other:9093")["bootstrap_servers"] == "other:9093"
    security = broker_security(conn)
    assert security is not None and security.use_ssl


def test_plaintext_has_no_sasl_options() -> None:
    opts = client_options(KafkaConnection(KAFKA_SECURITY_PROTOCOL="PLAINTEXT"))
    assert "sasl_mechanism" not in opts
    assert broker_security(KafkaConnection(KAFKA_SECURITY_PROTOCOL="PLAINTEXT")) is None
