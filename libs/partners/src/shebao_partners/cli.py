"""`shebao-partner`: what a partner's integrator needs against a running platform.

    shebao-partner validate --type shebao.medical.ClaimSubmitted claim.json [--topic T]
    shebao-partner send --bootstrap HOST:9092 --topic partner.hospital.h320102001.claims.v1 \\
        --type shebao.medical.ClaimSubmitted [--key K] claim.json
    shebao-partner follow --bootstrap HOST:9092 --topic partner.hospital.h320102001.settlements.v1

`validate` checks a message file against the published JSON Schema of its type (the platform
refuses what the schema refuses; a few refusals depend on the platform's state, see
contracts/REASONS.md). `send` validates, then writes the record with its CloudEvents headers
(`ce_source` /partners/<code>, taken from the topic). `follow` prints each record of a topic, as
one JSON line: type, key, partition, offset, body. Exit status: 0 done, 1 the message is
refused by its schema, 2 a usage error (unknown type, unreadable file).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from shebao_common.kafka_security import client_options

from . import schemas
from .records import partner_headers, partner_source_of


def _load(path: str) -> Any:
    text = sys.stdin.read() if path == "-" else Path(path).read_text("utf-8")
    return json.loads(text)


def validate(ce_type: str, body: Any, topic: str | None, root: Path) -> tuple[int, list[str]]:
    found = schemas.find(root, ce_type, topic)
    if not found:
        where = f" on {topic}" if topic else ""
        return 2, [f"no published schema of {ce_type}{where} under {root}"]
    lines = []
    worst = 0
    for schema in found:
        wrong = schemas.problems(schema, body)
        if wrong:
            worst = 1
            lines += [f"{schema.topic}: {w}" for w in wrong]
        else:
            lines.append(f"{schema.topic}: valid {ce_type}")
    return worst, lines


async def send(
    bootstrap: str, topic: str, ce_type: str, key: str | None, body: Any
) -> tuple[int, int]:
    producer = AIOKafkaProducer(**client_options(bootstrap=bootstrap), enable_idempotence=True)
    await producer.start()
    try:
        source = partner_source_of(topic) or "/counter"
        headers = partner_headers(
            ce_type, message_id=str(uuid.uuid4()), time=datetime.now(UTC), source=source
        )
        meta = await producer.send_and_wait(
            topic,
            key=key.encode() if key else None,
            value=json.dumps(body, ensure_ascii=False).encode(),
            headers=headers,
        )
        return meta.partition, meta.offset
    finally:
        await producer.stop()


async def follow(
    bootstrap: str, topic: str, *, beginning: bool, count: int | None, timeout: float
) -> int:
    consumer = AIOKafkaConsumer(
        topic,
        **client_options(bootstrap=bootstrap),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest" if beginning else "latest",
    )
    await consumer.start()
    seen = 0
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout if timeout > 0 else None
        while count is None or seen < count:
            if deadline is not None and loop.time() > deadline:
                break
            batch = await consumer.getmany(timeout_ms=500)
            for tp, records in batch.items():
                for r in records:
                    headers = {k: v.decode(errors="replace") for k, v in r.headers}
                    try:
                        value: Any = json.loads(r.value) if r.value else None
                    except ValueError:
                        value = r.value.decode(errors="replace") if r.value else None
                    line = {
                        "type": headers.get("ce_type"),
                        "key": r.key.decode(errors="replace") if r.key else None,
                        "partition": tp.partition,
                        "offset": r.offset,
                        "body": value,
                    }
                    print(json.dumps(line, ensure_ascii=False), flush=True)
                    seen += 1
    finally:
        await consumer.stop()
    return seen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="shebao-partner", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    v = sub.add_parser("validate", help="check a message file against its published schema")
    s = sub.add_parser("send", help="validate, then send a message as a partner")
    f = sub.add_parser("follow", help="print the records of a topic as JSON lines")
    for p in (v, s):
        p.add_argument("--type", required=True, dest="ce_type", help="the message's ce_type")
        p.add_argument("--schemas", type=Path, default=None, help="contracts/schemas folder")
        p.add_argument("file", help="the message as JSON, or - for standard input")
    v.add_argument("--topic", default=None, help="only the schema of this topic")
    for p in (s, f):
        p.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers")
        p.add_argument("--topic", required=True)
    s.add_argument("--key", default=None)
    f.add_argument("--from-beginning", action="store_true")
    f.add_argument("--count", type=int, default=None, help="stop after this many records")
    f.add_argument("--timeout", type=float, default=0, help="stop after seconds (0: never)")
    args = parser.parse_args(argv)

    if args.command == "follow":
        asyncio.run(
            follow(
                args.bootstrap,
                args.topic,
                beginning=args.from_beginning,
                count=args.count,
                timeout=args.timeout,
            )
        )
        return 0
    root = args.schemas or schemas.default_root()
    try:
        body = _load(args.file)
    except (OSError, ValueError) as e:
        print(f"cannot read {args.file}: {e}", file=sys.stderr)
        return 2
    topic = args.topic
    status, lines = validate(args.ce_type, body, topic, root)
    for line in lines:
        print(line, file=sys.stderr if status else sys.stdout)
    if status or args.command == "validate":
        return status
    partition, offset = asyncio.run(send(args.bootstrap, topic, args.ce_type, args.key, body))
    print(f"sent to {topic} partition {partition} offset {offset}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
