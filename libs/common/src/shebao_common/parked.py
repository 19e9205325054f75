"""Parked outputs: list them, and publish them again once the cause is mended.

An outbox entry the broker can never take as it is (larger than the broker's limit, a topic that
does not exist, a topic the service may not write) is moved from its outbox to the service's
parked stream, so that the outputs behind it go on; `shebao_outbox_parked_entries` counts what waits
there. After the cause is mended (the topic created, the ACL granted, the limit raised):

    python -m shebao_common.parked list   --service medical-settlement
    python -m shebao_common.parked replay --service medical-settlement [--id ID ...]

`replay` publishes each entry alone with an idempotent producer and removes it from the parked
stream once the broker has acknowledged it; an entry that fails again stays, with the error
printed. Entries keep their event ids, so a consumer that somehow saw one before drops it.
KAFKA_BOOTSTRAP_SERVERS and REDIS_URL are read as by the services.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass
from typing import cast

import orjson
import redis.asyncio as aioredis
from aiokafka import AIOKafkaProducer

from .kafka_security import client_options
from .redis_client import redis_client
from .runtime.store import Store
from .settings import ServiceSettings


@dataclass(frozen=True, slots=True)
class Parked:
    id: str
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]
    reason: str
    detail: str
    outbox: str
    entry: str
    stream: str = ""
    """The parked stream holding it (one per slot of the service's layout)."""


async def parked_entries(client: aioredis.Redis, service: str) -> list[Parked]:
    """Every parked entry of the service, from the parked stream of each of its slots."""
    store = Store(client, service)
    streams = sorted({k async for k in store.scan(f"{store.prefix}:{{*}}:parked")})
    out: list[Parked] = []
    for stream in streams:
        out.extend(await _parked_in(client, stream))
    return out


async def _parked_in(client: aioredis.Redis, stream: str) -> list[Parked]:
    rows = cast(
        "list[tuple[bytes, dict[bytes, bytes]]]",
        await client.xrange(stream, "-", "+"),
    )
    return [
        Parked(
            id=rid.decode(),
            topic=f[b"t"].decode(),
            key=f[b"k"],
            value=f[b"v"],
            headers=[(k, v.encode()) for k, v in orjson.loads(f[b"h"])],
            reason=f[b"reason"].decode(),
            detail=f[b"detail"].decode(errors="replace"),
            outbox=f[b"outbox"].decode(),
            entry=f[b"entry"].decode(),
            stream=stream,
        )
        for rid, f in rows
    ]


async def replay(
    client: aioredis.Redis, bootstrap: str, service: str, ids: set[str] | None = None
) -> tuple[int, list[tuple[Parked, str]]]:
    """Publish parked entries (all, or those named); (published, [(entry, error), ...])."""
    todo = [p for p in await parked_entries(client, service) if ids is None or p.id in ids]
    producer = AIOKafkaProducer(
        **client_options(bootstrap=bootstrap),
        client_id=f"shebao-{service}-replay",
        acks="all",
        enable_idempotence=True,
        request_timeout_ms=15_000,
    )
    await producer.start()
    published = 0
    failed: list[tuple[Parked, str]] = []
    try:
        for p in todo:
            try:
                await producer.send_and_wait(
                    p.topic, value=p.value, key=p.key or None, headers=p.headers
                )
            except Exception as exc:
                failed.append((p, f"{type(exc).__name__}: {exc}"))
                continue
            await client.xdel(p.stream, p.id)
            published += 1
    finally:
        await producer.stop()
    return published, failed


async def _main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m shebao_common.parked", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("command", choices=("list", "replay"))
    parser.add_argument("--service", required=True, help="e.g. medical-settlement")
    parser.add_argument("--id", action="append", help="a parked entry's id (repeatable)")
    args = parser.parse_args(argv)
    settings = ServiceSettings()
    client = redis_client(settings)
    try:
        if args.command == "list":
            entries = await parked_entries(client, args.service)
            for p in entries:
                print(f"{p.id}  {p.topic}  {p.reason}  {len(p.value)} bytes  {p.detail[:120]}")
            print(f"{len(entries)} parked output(s) of {args.service}")
            return 0
        only = set(args.id) if args.id else None
        published, failed = await replay(
            client, settings.kafka_bootstrap_servers, args.service, only
        )
        for p, error in failed:
            print(f"{p.id}  {p.topic}  still refused: {error[:200]}")
        print(f"{published} published, {len(failed)} still parked")
        return 1 if failed else 0
    finally:
        await client.aclose()


if __name__ == "__main__":
    sys.exit(asyncio.run(_main(sys.argv[1:])))
