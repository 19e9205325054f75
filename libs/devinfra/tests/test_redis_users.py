"""`shebao-infra redis-acl` and the helpers that hand a service its Redis user (unit tests:
nothing connects; the real server: libs/common/tests/test_redis_acl_integration.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shebao_common.redis_acl import ADMIN_USER, catalog_services, service_user
from shebao_devinfra.cli import main
from shebao_devinfra.redis_users import (
    derive_password,
    url_password,
    with_credentials,
    without_credentials,
)


def test_redis_acl_writes_password_files_and_an_acl_file_of_hashes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["redis-acl", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert printed == (tmp_path / "users.acl").read_text()
    users = [ADMIN_USER, *(service_user(s) for s in catalog_services())]
    assert sorted(p.name for p in tmp_path.glob("*.password")) == sorted(
        f"{u}.password" for u in users
    )
    for u in users:
        pw = (tmp_path / f"{u}.password").read_text().strip()
        assert len(pw) >= 32 and pw not in printed
        assert f"user {u} on " in printed
    assert "user default off" in printed
    assert oct((tmp_path / "users.acl").stat().st_mode & 0o777) == "0o600"


def test_redis_acl_keeps_given_passwords_and_prints_setuser_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "shebao-welfare.password").write_text("chosen-by-the-operator\n")
    assert main(["redis-acl", str(tmp_path), "--setuser"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1].startswith("ACL SETUSER default off")
    assert len(lines) == 2 + len(catalog_services())
    assert (tmp_path / "shebao-welfare.password").read_text() == "chosen-by-the-operator\n"
    assert "chosen-by-the-operator" not in "\n".join(lines)
    assert main(["redis-acl"]) == 2


def test_service_passwords_derive_from_the_admins() -> None:
    a = derive_password("admin-one", "shebao-welfare")
    assert a == derive_password("admin-one", "shebao-welfare")
    assert a != derive_password("admin-two", "shebao-welfare")
    assert a != derive_password("admin-one", "shebao-enrollment")


def test_urls_with_and_without_credentials() -> None:
    url = with_credentials("redis://127.0.0.1:6379/3", ADMIN_USER, "p@ss:w/rd")
    assert url_password(url) == "p@ss:w/rd"
    assert without_credentials(url) == "redis://127.0.0.1:6379/3"
    assert with_credentials(url, "other", "x") == "redis://other:x@127.0.0.1:6379/3"
    assert url_password("redis://127.0.0.1:6379/0") is None


def test_compose_runs_each_service_as_its_user_and_redis_with_the_generated_file() -> None:
    import yaml  # type: ignore[import-untyped]

    from shebao_devinfra.images import repo_root
    from shebao_devinfra.redis_users import boot_script, password_var

    entries = yaml.safe_load((repo_root() / "compose.yaml").read_text())["services"]
    command = entries["redis"]["command"]
    assert command[:2] == ["sh", "-c"]
    script = boot_script("/data", "--appendonly yes", keep_saved=False)
    assert command[2].replace("$$", "$") == script
    assert "SHEBAO_REDIS_ACL_B64" in entries["redis"]["environment"]
    for s in catalog_services():
        env = entries[s]["environment"]
        assert env["REDIS_USERNAME"] == service_user(s)
        assert env["REDIS_PASSWORD"].startswith("${" + password_var(s) + ":?")


def test_each_deployment_logs_in_as_its_user_with_its_secret() -> None:
    import yaml  # type: ignore[import-untyped]

    from shebao_devinfra.images import repo_root

    for s in catalog_services():
        docs = yaml.safe_load_all((repo_root() / f"deploy/k8s/base/{s}/{s}.yaml").read_text())
        (dep,) = [d for d in docs if d and d["kind"] == "Deployment"]
        pod = dep["spec"]["template"]["spec"]
        (c,) = pod["containers"]
        env = {e["name"]: e.get("value") for e in c["env"]}
        assert env["REDIS_USERNAME"] == service_user(s)
        mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
        assert env["REDIS_PASSWORD_FILE"] == mounts["redis-password"] + "/password"
        (vol,) = [v for v in pod["volumes"] if v["name"] == "redis-password"]
        assert vol["secret"]["secretName"] == f"shebao-redis-{s}"
        assert "REDIS_PASSWORD" not in env, "the password comes from the file, never the env"


def test_redis_acl_env_gives_compose_its_variables(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import base64

    from shebao_devinfra.redis_users import password_var

    assert main(["redis-acl", str(tmp_path), "--env"]) == 0
    lines = dict(
        line.removeprefix("export ").split("=", 1) for line in capsys.readouterr().out.splitlines()
    )
    acl = base64.b64decode(lines["SHEBAO_REDIS_ACL_B64"]).decode()
    assert acl == (tmp_path / "users.acl").read_text()
    admin = (tmp_path / f"{ADMIN_USER}.password").read_text().strip()
    assert lines["SHEBAO_REDIS_ADMIN_PASSWORD"] == admin
    for s in catalog_services():
        pw = (tmp_path / f"{service_user(s)}.password").read_text().strip()
        assert lines[password_var(s)] == pw
    assert main(["redis-acl", str(tmp_path), "--env", "--setuser"]) == 2
