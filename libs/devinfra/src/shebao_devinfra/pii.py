"""Where citizen ID numbers must not be: a scan of topics, service logs, metrics pages and Redis.

Issue 18's rule: a raw citizen ID (GB 11643-1999, 18 characters) travels only on the topics
whose partner needs it (a hospital's claims, a tax bureau's assessments), on the commands the
offices send (they name a person by ID; the service that reads them turns it into the keyed
pseudonym), in the dead-letter topics (they keep partners' records as they came), and in
enrollment's register of persons. Everything the platform writes for itself carries the
pseudonym, and every log line, metrics page and error text masks the ID (320102********1234).

A candidate is 17 ASCII digits and a digit or X not inside a longer run of digits; it is an ID
only when `validate_citizen_id` takes it (a real birth date and the ISO 7064 MOD 11-2 check
character), so timestamps, offsets and hashes do not count. A finding names the ID masked: the
scan's own report must not be a leak.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shebao_contracts.topics import Direction, Registry, Topic
from shebao_contracts.types import find_citizen_ids, mask_citizen_id

from .testing import http_get, read_all

# the JSON Schema pattern of `CitizenId`: a contract that publishes it names a person by ID
_CITIZEN_ID_PATTERN = '"^[0-9]{17}[0-9X]$"'


def citizen_ids(text: str | bytes) -> list[str]:
    """The valid 18-character citizen IDs in a text, upper-cased, in order of appearance."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    return find_citizen_ids(text)


@dataclass
class Finding:
    source: str
    where: str
    citizen_id: str  # masked

    def __str__(self) -> str:
        return f"{self.source}: {self.citizen_id} in {self.where}"


@dataclass
class Scan:
    """What one source gave: how much was read (records, lines, keys), and every ID found."""

    source: str
    read: int = 0
    findings: list[Finding] = field(default_factory=list)

    def look(self, where: str, data: str | bytes | None) -> None:
        if not data:
            return
        for cid in citizen_ids(data):
            self.findings.append(Finding(self.source, where, mask_citizen_id(cid)))

    def __str__(self) -> str:
        shown = "; ".join(str(f) for f in self.findings[:20])
        more = f" (and {len(self.findings) - 20} more)" if len(self.findings) > 20 else ""
        return f"{self.source}: read {self.read}, {len(self.findings)} IDs found{more} {shown}"


# topics ---------------------------------------------------------------------------------------


def names_citizen_ids(topic: Topic) -> bool:
    """Whether a message of the topic's contract carries a citizen ID (its published schema)."""
    return any(
        _CITIZEN_ID_PATTERN in json.dumps(m.model_json_schema(mode="serialization"))
        for m in topic.messages
    )


def id_allowed(registry: Registry, topic: str) -> bool:
    """Whether a raw citizen ID may travel on the topic: a dead-letter topic, a partner's topic,
    or an internal topic whose contract names a person by ID (the offices' commands)."""
    if topic.endswith(".dlq"):
        return True
    t = registry.get(topic)
    if t is None:
        return False  # a topic no contract names is the platform's own
    return t.direction is not Direction.INTERNAL or names_citizen_ids(t)


def internal_topics(registry: Registry, existing: Iterable[str]) -> list[str]:
    """The platform's own topics among `existing`: `shebao.*`, no dead-letter topic, none that
    may carry an ID (`id_allowed`)."""
    return sorted(n for n in existing if n.startswith("shebao.") and not id_allowed(registry, n))


async def scan_topics(
    bootstrap: str, topics: Sequence[str], *, source: str = "topics", records: bool = True
) -> Scan:
    """Every record of the topics: header names and values, and unless `records` is False its
    key and value (a dead letter keeps a partner's key and body as they came: only its headers
    are held to the rule). `read` counts records."""
    scan = Scan(source)
    for topic in topics:
        for r in await read_all(bootstrap, topic):
            scan.read += 1
            where = f"{topic}/{r.partition}@{r.offset}"
            if records:
                scan.look(f"{where} key", r.key)
                scan.look(f"{where} value", r.value)
            for name, value in r.headers or ():
                scan.look(
                    f"{where} header {name}", f"{name}={(value or b'').decode(errors='replace')}"
                )
    return scan


# logs and metrics -----------------------------------------------------------------------------


def scan_text(source: str, texts: Mapping[str, str]) -> Scan:
    """Texts by name (a service's log, a page): `read` counts their non-empty lines."""
    scan = Scan(source)
    for name, text in texts.items():
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                scan.read += 1
                scan.look(f"{name}:{n}", line)
    return scan


async def scan_metrics(urls: Mapping[str, str]) -> Scan:
    """Each service's /metrics page (by name: its base URL); `read` counts sample lines."""
    pages = {}
    for name, url in urls.items():
        status, body = await http_get(f"{url}/metrics")
        if status != 200:
            raise AssertionError(f"{name}'s /metrics answered {status}")
        text = body.decode(errors="replace")
        pages[f"{name} /metrics"] = "\n".join(
            line for line in text.splitlines() if not line.startswith("#")
        )
    scan = scan_text("metrics", pages)
    return scan


# Redis ----------------------------------------------------------------------------------------


async def _value(r: Any, key: bytes, kind: str) -> list[tuple[str, bytes]]:
    """A key's value as (part, bytes) pairs: a stream entry's fields, a hash's, a string."""
    if kind == "string":
        v = await r.get(key)
        return [("", v)] if v is not None else []
    if kind == "hash":
        return [
            (k.decode(errors="replace"), k + b"=" + v) for k, v in (await r.hgetall(key)).items()
        ]
    if kind == "stream":
        out = []
        for entry_id, fields in await r.xrange(key):
            for k, v in fields.items():
                out.append((f"{entry_id.decode()} {k.decode(errors='replace')}", v))
        return out
    if kind == "list":
        return [(str(i), v) for i, v in enumerate(await r.lrange(key, 0, -1))]
    if kind == "set":
        return [("", v) for v in await r.smembers(key)]
    if kind == "zset":
        return [("", v) for v in await r.zrange(key, 0, -1)]
    return []


def _stream_topic(r_fields: Mapping[bytes, bytes]) -> str:
    return r_fields.get(b"t", b"").decode(errors="replace")


async def scan_redis(
    redis_url: str, registry: Registry, *, values_exempt: Sequence[str] = ()
) -> tuple[Scan, int]:
    """Every key of the database: its name, and its value unless its name starts with one of
    `values_exempt`. An outbox or parked entry is a record on its way to a topic and is judged
    as that topic is (`id_allowed`: an assessment to a tax bureau names the person).

    Returns the scan (`read` counts keys) and how many exempt values held an ID (what the
    exemption is for)."""
    import redis.asyncio as aioredis

    scan = Scan("redis")
    exempt_with_ids = 0
    r: Any = aioredis.Redis.from_url(redis_url)
    try:
        async for key in r.scan_iter(count=1000):
            scan.read += 1
            name = key.decode(errors="replace")
            scan.look(f"key name {name}", name)
            kind = (await r.type(key)).decode()
            if name.startswith(tuple(values_exempt)):
                parts = await _value(r, key, kind)
                exempt_with_ids += any(citizen_ids(v) for _, v in parts)
                continue
            if kind == "stream":
                for entry_id, fields in await r.xrange(key):
                    topic = _stream_topic(fields)
                    if topic and id_allowed(registry, topic):
                        continue
                    for k, v in fields.items():
                        scan.look(f"{name} {entry_id.decode()} {k.decode(errors='replace')}", v)
                continue
            for part, v in await _value(r, key, kind):
                scan.look(f"{name} {part}".rstrip(), v)
    finally:
        await r.aclose()
    return scan, exempt_with_ids


__all__ = [
    "Finding",
    "Scan",
    "citizen_ids",
    "id_allowed",
    "internal_topics",
    "names_citizen_ids",
    "scan_metrics",
    "scan_redis",
    "scan_text",
    "scan_topics",
]
