"""The local Redis Cluster (`LocalRedisCluster`, fixtures `redis_cluster`, `own_redis_cluster`) on
the installed redis-server: keys spread over every master, one slot for a hash-tagged group and
CROSSSLOT for anything wider, the catalog's ACL users through a cluster client, and a killed
master replaced by its replica with every acknowledged write kept."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis
from redis.cluster import ClusterNode, RedisCluster

from shebao_common.redis_acl import ADMIN_USER, service_user
from shebao_devinfra.pytest_plugin import RedisClusterHandle
from shebao_devinfra.redis_users import derive_password, url_password

pytestmark = pytest.mark.integration

KEYS = 1000


def cluster_client(handle: RedisClusterHandle, user: str = ADMIN_USER, password: str = "") -> Any:
    return RedisCluster(
        startup_nodes=[ClusterNode(h, p) for h, p in handle.seeds],
        username=user,
        password=password or handle.admin_password,
        socket_timeout=5,
    )


@pytest.fixture
def admin(redis_cluster: RedisClusterHandle) -> Iterator[Any]:
    client = cluster_client(redis_cluster)
    yield client
    client.close()


def test_the_cluster_is_three_masters_with_a_replica_each(
    redis_cluster: RedisClusterHandle,
) -> None:
    cluster = redis_cluster.cluster
    masters = cluster.master_ports()
    assert len(masters) == 3 and len(cluster.nodes) == 6
    assert sorted(p for _, p in redis_cluster.seeds) == masters
    hosts = ",".join(f"127.0.0.1:{p}" for _, p in redis_cluster.seeds)
    assert redis_cluster.url == (
        f"redis+cluster://{ADMIN_USER}:{redis_cluster.admin_password}@{hosts}"
    )
    assert url_password(redis_cluster.url) == redis_cluster.admin_password
    # the default user is off: no command without the password
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis(port=masters[0]).ping()


def test_keys_spread_over_every_master_and_a_hash_tag_keeps_a_group_on_one_slot(
    redis_cluster: RedisClusterHandle, admin: Any
) -> None:
    run = uuid.uuid4().hex[:8]
    keys = [f"spread:{run}:{i}" for i in range(KEYS)]
    for k in keys:
        admin.set(k, k)
    assert admin.mget_nonatomic(keys) == [k.encode() for k in keys]
    owners = {redis_cluster.cluster.master_for_key(k) for k in keys[:50]}
    assert owners == set(redis_cluster.cluster.master_ports())

    a, b = f"{{t1}}:a:{run}", f"{{t1}}:b:{run}"
    assert admin.keyslot(a) == admin.keyslot(b)
    with admin.pipeline(transaction=True) as tx:
        tx.set(a, "1").set(b, "2")
        assert len(tx.execute()) == 2  # b"OK" each: a cluster transaction gives the raw replies
    assert admin.mget(a, b) == [b"1", b"2"]
    both = "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('SET', KEYS[2], ARGV[2])"
    assert admin.eval(both, 2, a, b, "3", "4") == b"OK"
    assert admin.mget(a, b) == [b"3", b"4"]


def test_keys_of_different_slots_in_one_transaction_or_script_are_refused_crossslot(
    redis_cluster: RedisClusterHandle, admin: Any
) -> None:
    a, b = "{t1}:a", "{t2}:b"
    assert admin.keyslot(a) != admin.keyslot(b)
    both = "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('SET', KEYS[2], ARGV[2])"
    # the server refuses, whichever node is asked and whoever owns the slots
    node = redis_cluster.cluster.client(redis_cluster.cluster.master_for_key(a))
    try:
        # (redis-py gives the server's CROSSSLOT error as ClusterCrossSlotError)
        with pytest.raises(redis.exceptions.ClusterCrossSlotError):
            node.eval(both, 2, a, b, "1", "2")
        with pytest.raises(redis.exceptions.ClusterCrossSlotError):
            node.mset({a: "1", b: "2"})
        # MULTI/EXEC: queued one by one, refused at EXEC (keys of two slots of this one node;
        # a key of another node's slot is answered MOVED already when queued)
        owner = redis_cluster.cluster.master_for_key(a)
        c = next(
            k
            for k in (f"{{t{i}}}:c" for i in range(3, 1000))
            if redis_cluster.cluster.master_for_key(k) == owner
            and admin.keyslot(k) != admin.keyslot(a)
        )
        tx = node.pipeline(transaction=True)
        tx.set(a, "1").set(c, "2")
        with pytest.raises(redis.exceptions.ResponseError) as err:
            tx.execute()
        assert isinstance(err.value, redis.exceptions.ClusterCrossSlotError) or (
            "CROSSSLOT" in str(err.value) or "same slot" in str(err.value)
        ), repr(err.value)
        assert node.exists(a) == node.exists(c) == 0
    finally:
        node.close()
    # the cluster client refuses before sending
    with pytest.raises(redis.exceptions.RedisClusterException, match="same key slot"):
        admin.eval(both, 2, a, b, "1", "2")
    with admin.pipeline(transaction=True) as tx:
        tx.set(a, "1").set(b, "2")
        with pytest.raises(redis.exceptions.CrossSlotTransactionError, match="same slot"):
            tx.execute()
    assert admin.exists(a, b) == 0


async def test_a_service_user_reaches_its_own_keys_through_a_cluster_client_and_no_others(
    redis_cluster: RedisClusterHandle, admin: Any
) -> None:
    user = service_user("enrollment")
    client = aioredis.RedisCluster(
        startup_nodes=[aioredis.cluster.ClusterNode(h, p) for h, p in redis_cluster.seeds],
        username=user,
        password=derive_password(redis_cluster.admin_password, user),
    )
    try:
        run = uuid.uuid4().hex[:8]
        mine = [f"shebao:enrollment:s:cluster:{run}:{i}" for i in range(30)]
        for k in mine:
            assert await client.set(k, b"1|x")
        assert {redis_cluster.cluster.master_for_key(k) for k in mine} == set(
            redis_cluster.cluster.master_ports()
        )
        assert await client.get(mine[0]) == b"1|x"
        theirs = f"shebao:welfare:s:cluster:{run}"
        admin.set(theirs, b"1|welfare's")
        for call in (
            lambda: client.get(theirs),
            lambda: client.set(theirs, b"stolen"),
            lambda: client.eval("return redis.call('GET', KEYS[1])", 1, theirs),
        ):
            with pytest.raises(redis.exceptions.ResponseError) as err:
                await call()
            assert "NOPERM" in str(err.value) or "no permissions" in str(err.value), err.value
        assert admin.get(theirs) == b"1|welfare's"
    finally:
        await client.aclose()


def test_a_killed_master_is_replaced_by_its_replica_and_every_acknowledged_write_is_kept(
    own_redis_cluster: RedisClusterHandle,
) -> None:
    cluster = own_redis_cluster.cluster
    client = cluster_client(own_redis_cluster)
    try:
        keys = [f"kept:{i}" for i in range(KEYS)] + ["{t1}:a", "{t1}:b"]
        for k in keys[:KEYS]:
            client.set(k, k)
        with client.pipeline(transaction=True) as tx:
            tx.set("{t1}:a", "{t1}:a").set("{t1}:b", "{t1}:b")
            tx.execute()
        # WAIT on each master, on the connection that wrote there: every write is on a replica
        for node in client.get_primaries():
            assert client.execute_command("WAIT", 1, 1000, target_nodes=node) == 1
        victim = cluster.master_for_key("{t1}:a")
        served = sum(1 for k in keys if cluster.master_for_key(k) == victim)
        assert served > 0

        cluster.kill(victim)
        cluster.wait_failover(victim)
        assert victim not in cluster.master_ports()
        assert len(cluster.master_ports()) == 3
        # the same client finds the new master (it re-reads the slots after losing a node)
        assert [client.get(k) for k in keys] == [k.encode() for k in keys]

        cluster.revive(victim)
        cluster.wait_healthy(60)
        assert victim not in cluster.master_ports()  # it came back as a replica
        role = cluster.client(victim)
        try:
            assert role.info("replication")["role"] == "slave"
        finally:
            role.close()
        assert [client.get(k) for k in keys] == [k.encode() for k in keys]
    finally:
        client.close()
