"""Every Redis client of the platform is built here, from `RedisConnection` (REDIS_URL,
REDIS_USERNAME, REDIS_PASSWORD_FILE or REDIS_PASSWORD): a service's runtime, its rebuild job and
the parked-output tool alike.

A user and password from the settings win over any in the URL; without them the URL's own
(redis://user:password@host:port/db) are used, as before.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import redis.asyncio as aioredis

from .settings import RedisConnection


def redis_client(conn: RedisConnection | None = None, **options: Any) -> aioredis.Redis:
    """An asyncio client for `conn` (the environment's connection when None); `options` go to
    `redis.asyncio.Redis` (timeouts, health checks)."""
    c = RedisConnection() if conn is None else conn
    url = c.redis_url
    password = c.redis_password_value()
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
