"""Every Redis client of the platform is built here, from `RedisConnection` (REDIS_URL,
REDIS_USERNAME, REDIS_PASSWORD_FILE or REDIS_PASSWORD): a service's runtime, its rebuild job and
the parked-output tool alike.

REDIS_URL names one node (redis://host:port/db, rediss:// with TLS) or a Redis Cluster by seed
nodes (redis+cluster://host:port,host:port,..., rediss+cluster:// with TLS): the cluster client
learns the slots from any seed that answers and follows MOVED/ASK and failovers itself.

A user and password from the settings win over any in the URL; without them the URL's own
(redis://user:password@host:port/db) are used, as before.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import redis.asyncio as aioredis

from .settings import CLUSTER_SCHEMES, RedisConnection


def cluster_seeds(url: str) -> tuple[list[tuple[str, int]], str | None, str | None, bool]:
    """(seed nodes, user, password, tls) of a redis+cluster:// URL."""
    scheme, _, rest = url.partition("://")
    if scheme not in CLUSTER_SCHEMES:
        raise ValueError(f"not a cluster URL: {scheme}://...")
    netloc = rest.split("/", 1)[0]
    creds, _, hosts = netloc.rpartition("@")
    user, _, password = creds.partition(":")
    seeds = []
    for h in hosts.split(","):
        host, _, port = h.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"a cluster seed is host:port, not {h!r} (REDIS_URL)")
        seeds.append((host.strip("[]"), int(port)))
    return (
        seeds,
        unquote(user) if user else None,
        unquote(password) if password else None,
        CLUSTER_SCHEMES[scheme],
    )


def redis_client(conn: RedisConnection | None = None, **options: Any) -> Any:
    """An asyncio client for `conn` (the environment's connection when None): a
    `redis.asyncio.Redis`, or a `redis.asyncio.RedisCluster` for a redis+cluster:// URL.
    `options` go to the client (timeouts, health checks)."""
    c = RedisConnection() if conn is None else conn
    url = c.redis_url
    password = c.redis_password_value()
    if c.redis_cluster:
        from redis.asyncio.cluster import ClusterNode, RedisCluster

        seeds, url_user, url_password, tls = cluster_seeds(url)
        return RedisCluster(
            startup_nodes=[ClusterNode(h, p) for h, p in seeds],
            username=c.redis_username or url_user,
            password=password if password is not None else url_password,
            ssl=tls,
            **options,
        )
    if c.redis_username or password is not None:
        # from_url lets the URL's user and password win over keyword arguments: drop them
        parts = urlsplit(url)
        url = urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
        kept_user, kept_password = parts.username, parts.password
        options["username"] = c.redis_username or (kept_user and unquote(kept_user))
        options["password"] = (
            password if password is not None else (kept_password and unquote(kept_password))
        )
    return aioredis.Redis.from_url(url, **options)
