"""Readiness: a broker is up when it answers a metadata request, Redis when it answers PING."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from typing import Any


def _port_open(bootstrap: str) -> bool:
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


async def kafka_answers(
    bootstrap: str, timeout_ms: int = 3000, options: dict[str, Any] | None = None
) -> bool:
    """The broker answers a metadata request (as the environment's Kafka identity, or with
    `options` for the connection)."""
    from aiokafka.client import AIOKafkaClient

    from shebao_common.kafka_security import client_options

    if not _port_open(bootstrap):  # keeps aiokafka from logging every refused connection
        return False

    opts = {**(client_options() if options is None else options), "bootstrap_servers": bootstrap}
    client = AIOKafkaClient(**opts, request_timeout_ms=timeout_ms)
    try:
        await client.bootstrap()
        return bool(client.cluster.brokers())
    except Exception:
        return False
    finally:
        await client.close()


def wait_for_kafka(
    bootstrap: str,
    timeout: float = 90.0,
    alive: Callable[[], bool] = lambda: True,
    options: dict[str, Any] | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError("the broker process exited")
        if asyncio.run(kafka_answers(bootstrap, options=options)):
            return
        time.sleep(0.3)
    raise TimeoutError(f"no metadata answer from {bootstrap} within {timeout:.0f}s")


def wait_for_redis(
    url: str, timeout: float = 30.0, alive: Callable[[], bool] = lambda: True
) -> None:
    import redis

    deadline = time.monotonic() + timeout
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        while time.monotonic() < deadline:
            if not alive():
                raise RuntimeError("the redis-server process exited")
            try:
                if client.ping():
                    # Loading a large AOF answers PING with LOADING; wait until it is done.
                    info = client.info("persistence")
                    if not info.get("loading"):
                        return
            except redis.exceptions.BusyLoadingError:
                pass
            except redis.exceptions.ConnectionError:
                pass
            time.sleep(0.1)
    finally:
        client.close()
    raise TimeoutError(f"no PING answer from {url} within {timeout:.0f}s")
