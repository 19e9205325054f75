"""Redis users from the catalog, and how a client gets its credentials (unit tests: nothing
connects). That the rules hold on a real redis-server: test_redis_acl_integration.py."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from pydantic import ValidationError

from shebao_common.redis_acl import (
    ADMIN_USER,
    acl_file,
    catalog_services,
    key_pattern,
    service_rules,
    setuser_commands,
    user_rules,
)
from shebao_common.redis_client import redis_client
from shebao_common.runtime.store import Store
from shebao_common.settings import RedisConnection, ServiceSettings
from shebao_contracts.catalog import CONTRACTS

SERVICES = [c.service for c in CONTRACTS]


def passwords() -> dict[str, str]:
    return {s: f"pw-of-{s}" for s in SERVICES}


def users(text: str) -> dict[str, list[str]]:
    out = {}
    for line in text.splitlines():
        word, name, *rules = line.split()
        assert word == "user"
        out[name] = rules
    return out


def test_every_catalog_service_has_a_user_limited_to_its_own_prefix() -> None:
    assert catalog_services() == SERVICES
    got = users(acl_file("admin-pw", passwords()))
    assert set(got) == {"default", ADMIN_USER, *(f"shebao-{s}" for s in SERVICES)}
    for s in SERVICES:
        rules = got[f"shebao-{s}"]
        assert "on" in rules
        assert [r for r in rules if r.startswith("~")] == [f"~shebao:{s}:*"]
        assert "resetkeys" in rules and "resetchannels" in rules
        assert not [r for r in rules if r.startswith("&") or r == "allkeys" or r == "+@all"]
        # everything taken away first, then only what is granted
        grants = [i for i, r in enumerate(rules) if r.startswith("+")]
        assert grants and rules.index("-@all") < min(grants)
        assert {r for r in rules if r.startswith("+")} == {
            "+@connection",
            "+@string",
            "+@hash",
            "+@stream",
            "+@keyspace",
            "+@scripting",
            # a cluster client's view of the slots, granted after -@admin took CLUSTER away
            "+cluster|slots",
            "+cluster|shards",
            "+cluster|nodes",
            "+cluster|info",
            "+cluster|myid",
        }
        for denied in ("-@dangerous", "-@admin", "-function", "-script|flush"):
            assert denied in rules, (s, denied)
        assert rules.index("-@admin") < rules.index("+cluster|slots")


def test_the_pattern_covers_exactly_the_store_prefix() -> None:
    for s in SERVICES:
        store = Store(aioredis.Redis(), s)  # never connects
        assert key_pattern(s) == store.prefix + ":*"
        assert store.parked_key.startswith(store.prefix + ":")
        assert store.state_key("x").startswith(store.prefix + ":")
    # one service's pattern does not reach another whose name starts the same
    assert not key_pattern("welfare")[:-1].startswith(key_pattern("welf")[:-1])


def test_default_is_off_and_admin_has_everything() -> None:
    got = users(acl_file("admin-pw", passwords()))
    # off: nobody logs in as it; its permissions stay whole for the AOF replay (redis_acl)
    assert got["default"][0] == "off" and "resetpass" in got["default"]
    assert "nopass" not in got["default"] and "on" not in got["default"]
    assert {"on", "~*", "&*", "+@all"} <= set(got[ADMIN_USER])


def test_the_file_holds_hashes_never_passwords() -> None:
    text = acl_file("admin-pw", passwords())
    assert "admin-pw" not in text
    assert "#" + hashlib.sha256(b"admin-pw").hexdigest() in text
    for pw in passwords().values():
        assert pw not in text
        assert "#" + hashlib.sha256(pw.encode()).hexdigest() in text
        assert ">" not in text


def test_a_service_without_a_password_is_refused() -> None:
    pw = passwords()
    del pw["welfare"]
    with pytest.raises(ValueError, match="welfare"):
        acl_file("admin-pw", pw)
    with pytest.raises(ValueError, match="empty"):
        acl_file("", passwords())


def test_a_service_name_that_would_widen_the_pattern_is_refused() -> None:
    for bad in ("", "a*", "a:b", "a b", "a?", "[a]"):
        with pytest.raises(ValueError, match="not a service name"):
            service_rules(bad)


def test_setuser_commands_are_the_same_users_with_default_last() -> None:
    lines = setuser_commands("admin-pw", passwords()).splitlines()
    assert all(line.startswith("ACL SETUSER ") for line in lines)
    assert lines[-1].startswith("ACL SETUSER default off")
    from_file = users(acl_file("admin-pw", passwords()))
    assert {line.split()[2]: line.split()[3:] for line in lines} == from_file


def test_user_rules_set_exactly_one_password() -> None:
    rules = user_rules("pw", service_rules("welfare"))
    assert rules[:3] == ["on", "resetpass", "#" + hashlib.sha256(b"pw").hexdigest()]


def test_settings_take_a_user_and_a_password_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    monkeypatch.setenv("REDIS_URL", "redis://redis.example:6380/2")
    monkeypatch.setenv("REDIS_USERNAME", "shebao-welfare")
    monkeypatch.setenv("REDIS_PASSWORD_FILE", str(secret))
    s = ServiceSettings()
    assert s.redis_password_value() == "s3cret"
    pool = redis_client(s).connection_pool.connection_kwargs
    assert (pool["username"], pool["password"], pool["host"], pool["port"], pool["db"]) == (
        "shebao-welfare",
        "s3cret",
        "redis.example",
        6380,
        2,
    )


def test_a_user_without_a_password_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_USERNAME", "shebao-welfare")
    monkeypatch.delenv("REDIS_PASSWORD", raising=False)
    monkeypatch.delenv("REDIS_PASSWORD_FILE", raising=False)
    with pytest.raises(ValidationError, match="REDIS_PASSWORD_FILE"):
        ServiceSettings()


def test_credentials_in_the_url_keep_working(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REDIS_USERNAME", "REDIS_PASSWORD", "REDIS_PASSWORD_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REDIS_URL", "redis://shebao-admin:p%40ss@127.0.0.1:6379/0")
    pool = redis_client(RedisConnection()).connection_pool.connection_kwargs
    assert (pool["username"], pool["password"]) == ("shebao-admin", "p@ss")
    # settings' own win over the URL's
    monkeypatch.setenv("REDIS_USERNAME", "shebao-welfare")
    monkeypatch.setenv("REDIS_PASSWORD", "other")
    pool = redis_client(RedisConnection()).connection_pool.connection_kwargs
    assert (pool["username"], pool["password"]) == ("shebao-welfare", "other")


def test_a_password_alone_keeps_the_urls_user(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REDIS_USERNAME", "REDIS_PASSWORD_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REDIS_URL", "redis://shebao%2Dwelfare:old@127.0.0.1:6379/0")
    monkeypatch.setenv("REDIS_PASSWORD", "new")
    pool = redis_client(RedisConnection()).connection_pool.connection_kwargs
    assert (pool["username"], pool["password"]) == ("shebao-welfare", "new")
