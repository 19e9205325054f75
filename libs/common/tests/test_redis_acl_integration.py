"""The Redis users hold on a real redis-server: a service's user reaches its own keys (through
the real Store and its commit script) and nothing else; no command of @dangerous/@admin; no
connection without a password. Redis only: the `restartable_redis` fixture (a LocalRedis with
its ACL file, or a container), no Kafka."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis

from shebao_common.redis_acl import ADMIN_USER, catalog_services, service_user
from shebao_common.redis_client import redis_client
from shebao_common.runtime.store import CommitPlan, OutboxEntry, Store, StreamId
from shebao_common.settings import RedisConnection
from shebao_devinfra.local import ensure_redis_server, free_port, stop_pid
from shebao_devinfra.probe import wait_for_redis
from shebao_devinfra.redis_users import generate, service_credentials, without_credentials

pytestmark = pytest.mark.integration


def service_client(admin_url: str, service: str) -> aioredis.Redis:
    """The client a service builds (redis_client) from the settings ServiceProcess gives it."""
    creds = service_credentials(admin_url, service)
    assert creds is not None, "the fixture's Redis must carry an admin password"
    user, password = creds
    conn = RedisConnection(
        REDIS_URL=without_credentials(admin_url), REDIS_USERNAME=user, REDIS_PASSWORD=password
    )
    return redis_client(conn)


@pytest.fixture
async def two(restartable_redis: Any) -> AsyncIterator[tuple[Any, aioredis.Redis, aioredis.Redis]]:
    admin = aioredis.Redis.from_url(restartable_redis.url)
    a = service_client(restartable_redis.url, "enrollment")
    b = service_client(restartable_redis.url, "welfare")
    yield admin, a, b
    for c in (admin, a, b):
        await c.aclose()


async def refused(call: Callable[[], Awaitable[Any]]) -> str:
    """The NOPERM error the call gets (a script's refused call comes back as its error)."""
    with pytest.raises(redis.exceptions.ResponseError) as err:
        await call()
    text = str(err.value)
    assert (
        isinstance(err.value, redis.exceptions.NoPermissionError)
        or "can't access" in text
        or "NOPERM" in text
        or "no permissions" in text
    ), text
    return text


async def test_a_service_reaches_its_own_keys_through_the_store(
    two: tuple[Any, aioredis.Redis, aioredis.Redis],
) -> None:
    admin, enrollment, _ = two
    store = Store(enrollment, "enrollment")
    k = store.state_key(f"acl:{uuid.uuid4().hex}")
    entry = OutboxEntry(store.outbox_key("s", "t", 0), StreamId(1, 0), "out", b"k", b"v", b"[]")
    plan = CommitPlan(ttl=60)
    plan.offsets.append((store.offsets_key("s"), "t:0", "", "1"))
    plan.marks.append((store.mark_key(uuid.uuid4().hex), "f"))
    plan.reads.append((k, 0))
    plan.writes.append((k, 1, b'{"x":1}'))
    plan.outbox.append(entry)
    plan.incr(store.counter_key("c"), "n", 2)
    assert (await store.commit(plan)).status == "OK"
    assert await store.load_state([k]) == [(1, b'{"x":1}')]
    assert await store.counters("c") == {"n": 2}
    assert [e.value for e in await store.outbox_range(entry.stream, None)] == [b"v"]
    await store.trim([(entry.stream, entry.id)])
    assert await enrollment.ping()
    assert [x async for x in enrollment.scan_iter(match=f"{store.prefix}:*:c:*")] == [
        store.counter_key("c").encode()
    ]
    # what it wrote is where the admin sees it
    assert await admin.get(k) == b'1|{"x":1}'


async def test_a_service_cannot_read_or_write_another_services_keys(
    two: tuple[Any, aioredis.Redis, aioredis.Redis],
) -> None:
    admin, enrollment, welfare = two
    theirs = f"shebao:welfare:s:acl:{uuid.uuid4().hex}"
    await admin.set(theirs, b"1|welfare's")
    await refused(lambda: enrollment.get(theirs))
    await refused(lambda: enrollment.mget([theirs]))
    await refused(lambda: enrollment.set(theirs, b"1|overwritten"))
    await refused(lambda: enrollment.delete(theirs))
    await refused(lambda: enrollment.hgetall("shebao:welfare:off:s"))
    await refused(lambda: enrollment.xadd("shebao:welfare:parked", {"t": "x"}))
    await refused(lambda: enrollment.rename("shebao:enrollment:x", theirs))
    # outside every service's prefix, and a key that only starts like another service's
    await refused(lambda: enrollment.set("elsewhere", b"x"))
    await refused(lambda: enrollment.set("shebao:enrollment-other:x", b"x"))
    # nor through a script, by a key given as an argument rather than declared
    store = Store(enrollment, "enrollment")
    plan = CommitPlan(ttl=60)
    plan.offsets.append(("shebao:welfare:off:s", "t:0", "", "1"))
    plan.writes.append((theirs, 2, b"stolen"))
    await refused(lambda: store.commit(plan))
    await refused(lambda: enrollment.eval("return redis.call('GET', ARGV[1])", 0, theirs))
    assert await admin.get(theirs) == b"1|welfare's"
    assert await admin.hgetall("shebao:welfare:off:s") == {}
    assert not await admin.exists("elsewhere", "shebao:enrollment-other:x")
    # and the other way round
    mine = f"shebao:enrollment:s:acl:{uuid.uuid4().hex}"
    await admin.set(mine, b"1|enrollment's")
    await refused(lambda: welfare.get(mine))
    assert await welfare.set(f"shebao:welfare:s:acl:{uuid.uuid4().hex}", b"1|ok")


async def test_a_service_runs_no_dangerous_or_admin_command(
    two: tuple[Any, aioredis.Redis, aioredis.Redis],
) -> None:
    admin, enrollment, _ = two
    await admin.set("shebao:welfare:s:survivor", b"1|x")
    for call in (
        enrollment.flushall,
        enrollment.flushdb,
        lambda: enrollment.config_get("*"),
        lambda: enrollment.config_set("appendonly", "no"),
        lambda: enrollment.keys("*"),
        enrollment.info,
        lambda: enrollment.acl_setuser(service_user("enrollment"), keys=["*"]),
        enrollment.acl_list,
        enrollment.client_list,
        lambda: enrollment.execute_command("FUNCTION", "FLUSH"),
        lambda: enrollment.execute_command("SCRIPT", "FLUSH"),
        lambda: enrollment.execute_command("BGREWRITEAOF"),
        lambda: enrollment.execute_command("SWAPDB", "0", "1"),
        lambda: enrollment.execute_command("SHUTDOWN"),
        lambda: enrollment.publish("anything", "x"),
        enrollment.randomkey,
    ):
        text = await refused(call)
        assert "command" in text or "channel" in text, text
    assert await admin.get("shebao:welfare:s:survivor") == b"1|x"
    assert await admin.config_get("appendonly") == {"appendonly": "yes"}


async def test_no_connection_without_a_password(restartable_redis: Any) -> None:
    bare = without_credentials(restartable_redis.url)
    assert bare != restartable_redis.url
    anonymous = redis.Redis.from_url(bare, protocol=2)
    try:
        with pytest.raises(redis.exceptions.AuthenticationError):
            anonymous.get("shebao:enrollment:s:x")
        with pytest.raises(redis.exceptions.AuthenticationError):
            anonymous.set("x", "y")
    finally:
        anonymous.close()
    for user, password in (("default", ""), ("default", "guess"), (ADMIN_USER, "guess")):
        wrong = redis.Redis.from_url(bare, username=user, password=password or None)
        try:
            with pytest.raises(redis.exceptions.AuthenticationError):
                wrong.ping()
        finally:
            wrong.close()
    # a service's user with another's password
    user, _ = service_credentials(restartable_redis.url, "enrollment") or ("", "")
    _, theirs = service_credentials(restartable_redis.url, "welfare") or ("", "")
    wrong = redis.Redis.from_url(bare, username=user, password=theirs)
    try:
        with pytest.raises(redis.exceptions.AuthenticationError):
            wrong.ping()
    finally:
        wrong.close()


async def test_a_service_users_commits_and_user_survive_a_restart(restartable_redis: Any) -> None:
    """ServiceProcess creates a user for any service name (a test's own too) and saves the ACL
    file: after a restart of Redis the service reconnects as the same user."""
    name = f"acltest-{uuid.uuid4().hex[:6]}"
    user, password = service_credentials(restartable_redis.url, name) or ("", "")
    conn = RedisConnection(
        REDIS_URL=without_credentials(restartable_redis.url),
        REDIS_USERNAME=user,
        REDIS_PASSWORD=password,
    )
    client = redis_client(conn)
    await client.set(f"shebao:{name}:s:a", b"1|x")
    await refused(lambda: client.get("shebao:enrollment:s:a"))
    # commits through the script: the AOF logs their writes as MULTI/EXEC, which Redis replays
    # with the `default` user's permissions (see redis_acl.DEFAULT_RULES)
    store = Store(client, name)
    for n in range(1, 51):
        plan = CommitPlan(ttl=600)
        plan.offsets.append((store.offsets_key("s"), "t:0", str(n - 1) if n > 1 else "", str(n)))
        plan.writes.append((store.state_key("b"), n, b"%d" % n))
        plan.incr(store.counter_key("c"), "n", 1)
        assert (await store.commit(plan)).status == "OK"
    await client.aclose()
    restartable_redis.restart()
    client = redis_client(conn)  # the same credentials; nothing created the user again
    store = Store(client, name)
    try:
        assert await client.get(f"shebao:{name}:s:a") == b"1|x"
        assert await store.counters("c") == {"n": 50}
        assert await store.load_offsets("s", ["t:0"]) == [50]
        assert await store.load_state([store.state_key("b")]) == [(50, b"50")]
        await refused(lambda: client.get("shebao:enrollment:s:a"))
    finally:
        await client.aclose()


@pytest.fixture
def generated() -> Iterator[tuple[Path, int]]:
    """A redis-server started with nothing but the ACL file `shebao-infra redis-acl` wrote."""
    folder = Path(tempfile.mkdtemp(prefix="shebao-acl-"))
    generate(folder)
    port = free_port()
    proc = subprocess.Popen(
        [
            *(ensure_redis_server(), "--port", str(port), "--bind", "127.0.0.1", "--save", ""),
            *("--aclfile", str(folder / "users.acl"), "--dir", str(folder)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        admin_pw = (folder / f"{ADMIN_USER}.password").read_text().strip()
        wait_for_redis(f"redis://{ADMIN_USER}:{admin_pw}@127.0.0.1:{port}/0", timeout=30)
        yield folder, port
    finally:
        stop_pid(proc.pid, timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


async def test_the_generated_acl_file_gives_each_service_its_user(
    generated: tuple[Path, int],
) -> None:
    folder, port = generated
    assert "password" not in (folder / "users.acl").read_text()
    for s in catalog_services():
        pw_file = folder / f"{service_user(s)}.password"
        assert oct(pw_file.stat().st_mode & 0o777) == "0o600"
        assert pw_file.read_text().strip() not in (folder / "users.acl").read_text()
        conn = RedisConnection(
            REDIS_URL=f"redis://127.0.0.1:{port}/0",
            REDIS_USERNAME=service_user(s),
            REDIS_PASSWORD_FILE=str(pw_file),
        )
        client = redis_client(conn)
        try:
            assert await client.set(f"shebao:{s}:s:x", b"1|x")
            other = next(o for o in catalog_services() if o != s)
            await refused(partial(client.get, f"shebao:{other}:s:x"))
            await refused(client.flushall)
        finally:
            await client.aclose()
    # a second run keeps the passwords the first one wrote
    before = {p.name: p.read_text() for p in folder.glob("*.password")}
    generate(folder)
    assert {p.name: p.read_text() for p in folder.glob("*.password")} == before


async def test_the_containers_boot_script_keeps_saved_users_across_a_restart(
    tmp_path: Path,
) -> None:
    """DockerRedis's command (`boot_script`), run here by the host's sh with its redis-server:
    the ACL file from the environment on the first start, users saved later kept after it."""
    import base64
    import os

    from shebao_devinfra.redis_users import (
        ACL_ENV,
        boot_script,
        derived_acl_file,
        new_password,
        with_credentials,
    )

    port, admin_pw = free_port(), new_password()
    env = {**os.environ, ACL_ENV: base64.b64encode(derived_acl_file(admin_pw).encode()).decode()}
    args = f"--port {port} --bind 127.0.0.1 --appendonly yes --save ''"
    url = with_credentials(f"redis://127.0.0.1:{port}/0", ADMIN_USER, admin_pw)

    def spawn() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            ["sh", "-c", boot_script(str(tmp_path), args)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    proc = spawn()
    try:
        wait_for_redis(url, timeout=30)
        user, password = service_credentials(url, "boot-test") or ("", "")
        conn = RedisConnection(
            REDIS_URL=without_credentials(url), REDIS_USERNAME=user, REDIS_PASSWORD=password
        )
        client = redis_client(conn)
        await client.set("shebao:boot-test:s:a", b"1|x")
        await client.aclose()
        stop_pid(proc.pid, timeout=10)
        proc = spawn()
        wait_for_redis(url, timeout=30)
        client = redis_client(conn)
        try:
            assert await client.get("shebao:boot-test:s:a") == b"1|x"
            await refused(client.flushall)
        finally:
            await client.aclose()
        anonymous = redis.Redis.from_url(without_credentials(url))
        with pytest.raises(redis.exceptions.AuthenticationError):
            anonymous.ping()
        anonymous.close()
    finally:
        stop_pid(proc.pid, timeout=10)


def test_a_service_process_runs_as_its_own_user(restartable_redis: Any, tmp_path: Path) -> None:
    from shebao_devinfra.testing import ServiceProcess

    svc = ServiceProcess(
        "enrollment",
        "shebao_enrollment.main",
        kafka="127.0.0.1:1",
        redis_url=restartable_redis.url,
        log_dir=tmp_path,
    )
    # its Redis part only: the whole environment would also ask the (absent) broker for the
    # service's Kafka principal whenever the session acts as a broker's operator
    env = svc.redis_environment()
    assert env["REDIS_URL"] == without_credentials(restartable_redis.url)
    assert "@" not in env["REDIS_URL"]
    assert env["REDIS_USERNAME"] == "shebao-enrollment"
    secret = Path(env["REDIS_PASSWORD_FILE"])
    assert oct(secret.stat().st_mode & 0o777) == "0o600"
    client = redis.Redis.from_url(
        env["REDIS_URL"], username=env["REDIS_USERNAME"], password=secret.read_text()
    )
    try:
        assert client.set("shebao:enrollment:s:whoami", b"1|x")
        with pytest.raises(redis.exceptions.NoPermissionError):
            client.get("shebao:welfare:s:x")
    finally:
        client.close()
