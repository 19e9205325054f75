"""The secrets `make up` draws for compose.yaml: one password per principal, the operator's the
one this process acts with, the files compose.yaml names, none committed."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs12

from shebao_contracts import access
from shebao_devinfra import compose
from shebao_devinfra.images import repo_root, services

ROOT = repo_root()


@pytest.fixture
def operator(monkeypatch: pytest.MonkeyPatch) -> str:
    password = "operator-password-of-this-process"
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "PLAIN")
    monkeypatch.setenv("KAFKA_USERNAME", "admin")
    monkeypatch.setenv("KAFKA_PASSWORD", password)
    return password


def test_every_principal_gets_a_password_of_its_own(operator: str, tmp_path: Path) -> None:
    folder = tmp_path / "secrets" / "shebao"
    env = compose.write_secrets(folder, ROOT)
    assert env == {"SHEBAO_SECRETS": str(folder)}
    # closed on the host above it; readable by the containers' users below (kafka-init mounts it)
    assert stat.S_IMODE(folder.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755
    partners = access.load_partners(ROOT / "deploy" / "partners.toml")
    users = [access.service_user(s) for s in services()] + [p.user for p in partners]
    passwords = [(folder / f"{u}.password").read_text().strip() for u in users]
    assert len(set(passwords)) == len(users)
    assert all(len(p) >= 32 for p in passwords)
    assert operator not in passwords
    assert (folder / "kafka-admin.password").read_text().strip() == operator
    jaas = (folder / "kafka-jaas.conf").read_text()
    assert f'username="admin" password="{operator}" user_admin="{operator}";' in jaas
    assert "ScramLoginModule required;" in jaas
    props = (folder / "kafka-admin.properties").read_text().splitlines()
    assert props[:2] == ["security.protocol=SASL_SSL", "sasl.mechanism=PLAIN"]
    assert props[2].endswith(f'username="admin" password="{operator}";')
    assert props[3:] == ["ssl.truststore.type=PEM", "ssl.truststore.location=/run/secrets/kafka-ca"]
    # mounted into containers whose user is not the owner
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o644 for p in folder.iterdir())


def test_drawn_again_at_every_up_but_the_operators(operator: str, tmp_path: Path) -> None:
    compose.write_secrets(tmp_path, ROOT)
    first = (tmp_path / "shebao-welfare.password").read_text()
    compose.write_secrets(tmp_path, ROOT)
    assert (tmp_path / "shebao-welfare.password").read_text() != first
    assert (tmp_path / "kafka-admin.password").read_text().strip() == operator


def test_another_principal_than_the_operator_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("KAFKA_USERNAME", "shebao-welfare")
    monkeypatch.setenv("KAFKA_PASSWORD", "x")
    with pytest.raises(compose.EngineError, match="super user"):
        compose.write_secrets(tmp_path, ROOT)


def test_compose_mounts_exactly_the_files_written(operator: str, tmp_path: Path) -> None:
    compose.write_secrets(tmp_path, ROOT)
    declared = yaml.safe_load((ROOT / "compose.yaml").read_text())["secrets"]
    prefix = "${SHEBAO_SECRETS:-./.infra/secrets/shebao}/"
    for name, secret in declared.items():
        assert secret["file"].startswith(prefix), name
        assert (tmp_path / secret["file"].removeprefix(prefix)).is_file(), name


def test_the_secrets_folder_is_not_committed() -> None:
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", ".infra/secrets/shebao/kafka-admin.password"],
        cwd=ROOT,
        check=False,
    )
    assert ignored.returncode == 0


def test_the_broker_certificate_is_the_throwaway_cas_for_its_names(
    operator: str, tmp_path: Path
) -> None:
    compose.write_secrets(tmp_path, ROOT)
    ca = x509.load_pem_x509_certificate((tmp_path / "kafka-ca.pem").read_bytes())
    tls = dict(
        line.split("=", 1) for line in (tmp_path / "kafka-tls.properties").read_text().split()
    )
    key, cert, chain = pkcs12.load_key_and_certificates(
        (tmp_path / "kafka-keystore.p12").read_bytes(), tls["password"].encode()
    )
    assert key is not None and cert is not None
    cert.verify_directly_issued_by(ca)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["kafka", "localhost"]
    assert [str(i) for i in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert [c.subject for c in chain] == [ca.subject]
    with pytest.raises(ValueError, match="Invalid password"):  # the keystore is encrypted
        pkcs12.load_key_and_certificates((tmp_path / "kafka-keystore.p12").read_bytes(), None)
    # a new CA at every up: nothing signed by the last one is trusted
    compose.write_secrets(tmp_path, ROOT)
    assert (tmp_path / "kafka-ca.pem").read_bytes() != ca.public_bytes(Encoding.PEM)
