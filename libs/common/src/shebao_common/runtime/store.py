"""Redis: the service's state, dedupe marks, outbox and partition offsets, written atomically.

Layout under the service prefix `shebao:<service>`:
  s:<kind>:<id>            "<version>|<JSON>"           state ("<version>|" = deleted, with a TTL)
  dd:<event id>            body fingerprint, with a TTL  the event was applied
  off:<subscription>       hash {<topic>:<partition>: next offset}
  ob:<sub>:<topic>:<part>  stream {t, k, v, h, c}       outbox, ids <input offset + 1>-<n>,
                                                        c: when its batch committed (epoch ms)
  c:<name>                 hash {field: integer}        counters
  parked                   stream {t, k, v, h, ...}     outputs the broker can never take

One Lua script commits a whole batch: it first checks that every partition's stored offset is
the one this consumer started from (fencing a zombie), that no event was applied before, and that
every state key read still has the version that was read (another consumer of the same service
may write it); only then it writes state, marks, outbox entries, counters and offsets. Redis runs
a script to completion before anything else, and the AOF keeps it as one unit. The batch travels
as one MessagePack argument: packing thousands of separate arguments cost more than the script.
State is a plain string so that a batch's reads are one MGET.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import msgpack
import redis.asyncio as aioredis

from ..domain import Counters, StateKey, StateModel
from ..redis_acl import key_prefix

# An outbox entry that can never be published moves to the parked stream in one step, so it is
# neither lost nor published twice; the relay then goes on with the entries behind it.
PARK_LUA = r"""
redis.call('XADD', KEYS[2], '*', 't', ARGV[2], 'k', ARGV[3], 'v', ARGV[4], 'h', ARGV[5],
  'reason', ARGV[6], 'detail', ARGV[7], 'outbox', KEYS[1], 'entry', ARGV[1])
redis.call('XDEL', KEYS[1], ARGV[1])
return redis.call('XLEN', KEYS[2])
"""

COMMIT_LUA = r"""
local p = cmsgpack.unpack(ARGV[1])
local ttl = p[1]
-- 1. fencing: each partition's stored offset must be the one we started from
local already = 0
for _, o in ipairs(p[2]) do
  local cur = redis.call('HGET', o[1], o[2])
  if cur == false then cur = '' end
  if cur ~= o[3] then
    if cur == o[4] then
      already = already + 1
    else
      return {'FENCED', o[2], cur}
    end
  end
end
if already > 0 then
  if already == #p[2] then return {'ALREADY'} end
  return {'FENCED', '', ''}
end
-- 2. dedupe marks: an event id seen before returns its stored body fingerprint
local dups = {'DUPLICATE'}
for _, m in ipairs(p[3]) do
  local seen = redis.call('GET', m[1])
  if seen and #dups < 2000 then dups[#dups + 1] = m[1]; dups[#dups + 1] = seen end
end
if #dups > 1 then return dups end
-- 3. read-set validation: every key read still has the version read
local conflicts = {'CONFLICT'}
for _, r in ipairs(p[4]) do
  local cur = redis.call('GET', r[1])
  local ver = '0'
  if cur then ver = string.match(cur, '^(%d+)|') or '0' end
  if ver ~= r[2] and #conflicts < 1000 then conflicts[#conflicts + 1] = r[1] end
end
if #conflicts > 1 then return conflicts end
-- every check passed: from here on only writes, which cannot fail on valid arguments
for _, o in ipairs(p[2]) do redis.call('HSET', o[1], o[2], o[4]) end
for _, m in ipairs(p[3]) do redis.call('SET', m[1], m[2], 'EX', ttl) end
-- 4. state writes: version|data; a delete is a tombstone "version|" that expires
for _, w in ipairs(p[5]) do
  if w[3] == '' then
    redis.call('SET', w[1], w[2] .. '|', 'EX', ttl)
  else
    redis.call('SET', w[1], w[2] .. '|' .. w[3])
  end
end
-- 5. outbox entries
for _, e in ipairs(p[6]) do
  redis.call('XADD', e[1], e[2], 't', e[3], 'k', e[4], 'v', e[5], 'h', e[6], 'c', p[9])
end
-- 6. counters
for _, c in ipairs(p[7]) do redis.call('HINCRBY', c[1], c[2], c[3]) end
-- 7. outbox trims of entries the broker acknowledged
for _, t in ipairs(p[8]) do redis.call('XTRIM', t[1], 'MINID', t[2]) end
return {'OK'}
"""


def split_state(raw: bytes | None) -> tuple[int, bytes | None]:
    """(version, data) of a stored state value; (0, None) when absent, data None if deleted."""
    if not raw:
        return 0, None
    version, _, data = raw.partition(b"|")
    return int(version), data or None


@dataclass(frozen=True, slots=True)
class StreamId:
    ms: int
    seq: int

    @classmethod
    def parse(cls, text: str | bytes) -> StreamId:
        s = text.decode() if isinstance(text, bytes) else text
        a, _, b = s.partition("-")
        return cls(int(a), int(b or 0))

    def __str__(self) -> str:
        return f"{self.ms}-{self.seq}"

    def next(self) -> StreamId:
        return StreamId(self.ms, self.seq + 1)

    def __lt__(self, other: StreamId) -> bool:
        return (self.ms, self.seq) < (other.ms, other.seq)

    def __le__(self, other: StreamId) -> bool:
        return (self.ms, self.seq) <= (other.ms, other.seq)


@dataclass(slots=True)
class OutboxEntry:
    stream: str
    id: StreamId
    topic: str
    key: bytes
    value: bytes
    headers: bytes
    """JSON list of [name, value] pairs, as stored in the stream."""
    header_list: list[tuple[str, bytes]] | None = None
    """The same headers ready for the producer, when the entry was built in this process."""
    committed_ms: int | None = None
    """When its batch committed (wall clock, epoch ms), when read back from Redis; None for an
    entry written before the outbox kept it."""


@dataclass(slots=True)
class CommitPlan:
    ttl: int
    offsets: list[tuple[str, str, str, str]] = field(default_factory=list)
    marks: list[tuple[str, str]] = field(default_factory=list)
    reads: list[tuple[str, int]] = field(default_factory=list)
    writes: list[tuple[str, int, bytes]] = field(default_factory=list)
    outbox: list[OutboxEntry] = field(default_factory=list)
    increments: dict[tuple[str, str], int] = field(default_factory=dict)
    """Counter changes summed per (counter key, field): one HINCRBY each, not one per record."""
    trims: list[tuple[str, StreamId]] = field(default_factory=list)

    def incr(self, key: str, field: str, by: int) -> None:
        self.increments[(key, field)] = self.increments.get((key, field), 0) + by

    def packed(self) -> bytes:
        """The whole batch as one MessagePack argument of the commit script."""
        return cast(
            bytes,
            msgpack.packb(
                [
                    self.ttl,
                    self.offsets,
                    self.marks,
                    [(k, str(v)) for k, v in self.reads],
                    [(k, str(v), d) for k, v, d in self.writes],
                    [
                        (e.stream, str(e.id), e.topic, e.key, e.value, e.headers)
                        for e in self.outbox
                    ],
                    [(k, f, by) for (k, f), by in self.increments.items()],
                    [(s, str(last.next())) for s, last in self.trims],
                    str(time.time_ns() // 1_000_000),  # the outbox entries' commit time
                ],
                use_bin_type=False,
            ),
        )  # Redis's cmsgpack knows only the old spec (raw, no bin/str8)


@dataclass(frozen=True, slots=True)
class CommitResult:
    status: str  # OK, ALREADY, FENCED, DUPLICATE, CONFLICT
    items: tuple[str, ...] = ()


class Store:
    def __init__(self, client: aioredis.Redis, service: str) -> None:
        self.client = client
        self.prefix = key_prefix(service)  # the ACL user's key pattern is built from it too
        self._commit = client.register_script(COMMIT_LUA)
        self._park = client.register_script(PARK_LUA)

    # names
    def state_key(self, name: str) -> str:
        return f"{self.prefix}:s:{name}"

    def mark_key(self, event_id: str) -> str:
        return f"{self.prefix}:dd:{event_id}"

    def offsets_key(self, subscription: str) -> str:
        return f"{self.prefix}:off:{subscription}"

    def outbox_key(self, subscription: str, topic: str, partition: int) -> str:
        return f"{self.prefix}:ob:{subscription}:{topic}:{partition}"

    def counter_key(self, name: str) -> str:
        return f"{self.prefix}:c:{name}"

    @property
    def parked_key(self) -> str:
        return f"{self.prefix}:parked"

    # reads
    async def load_offsets(self, subscription: str, fields: Sequence[str]) -> list[int | None]:
        if not fields:
            return []
        raw = await self.client.hmget(self.offsets_key(subscription), list(fields))
        return [None if v is None else int(v) for v in raw]

    async def load_state(self, keys: Sequence[str]) -> list[tuple[int, bytes | None]]:
        """(version, data) per key; version 0 and no data when absent, data None for a tombstone."""
        out: list[tuple[int, bytes | None]] = []
        for i in range(0, len(keys), 2000):
            raw = cast("list[bytes | None]", await self.client.mget(keys[i : i + 2000]))
            out.extend(split_state(v) for v in raw)
        return out

    async def load_counters(self, names: Sequence[str]) -> list[dict[str, int]]:
        """Counter sets by name (as given to Decision.incr), one round trip."""
        pipe = self.client.pipeline(transaction=False)
        for n in names:
            pipe.hgetall(self.counter_key(n))
        rows = cast("list[dict[bytes, bytes]]", await pipe.execute())
        return [{k.decode(): int(v) for k, v in row.items()} for row in rows]

    async def snapshot(
        self, keys: Mapping[str, StateKey[Any]]
    ) -> dict[str, tuple[int, StateModel | None]]:
        """Each key's (version, decoded value) as stored, by name, in two round trips: counter
        sets as a `Counters` with version -1 (never version-checked), the rest with one MGET."""
        out: dict[str, tuple[int, StateModel | None]] = {}
        tallies = [n for n, k in keys.items() if k.entity.counters]
        if tallies:
            for name, values in zip(tallies, await self.load_counters(tallies), strict=True):
                out[name] = (-1, Counters(values=values))
        names = [n for n, k in keys.items() if not k.entity.counters]
        if names:
            rows = await self.load_state([self.state_key(n) for n in names])
            for name, (version, data) in zip(names, rows, strict=True):
                model = keys[name].entity.model
                out[name] = (version, None if data is None else model.model_validate_json(data))
        return out

    async def get_state(self, name: str) -> bytes | None:
        return split_state(cast("bytes | None", await self.client.get(self.state_key(name))))[1]

    async def counters(self, name: str) -> dict[str, int]:
        raw = cast("dict[bytes, bytes]", await self.client.hgetall(self.counter_key(name)))
        return {k.decode(): int(v) for k, v in raw.items()}

    async def outbox_range(
        self, stream: str, after: StreamId | None, count: int = 1000
    ) -> list[OutboxEntry]:
        start = "-" if after is None else f"({after}"
        rows = cast(
            "list[tuple[bytes, dict[bytes, bytes]]]",
            await self.client.xrange(stream, min=start, max="+", count=count),
        )
        return [
            OutboxEntry(
                stream=stream,
                id=StreamId.parse(rid),
                topic=f[b"t"].decode(),
                key=f[b"k"],
                value=f[b"v"],
                headers=f[b"h"],
                committed_ms=int(f[b"c"]) if b"c" in f else None,
            )
            for rid, f in rows
        ]

    # writes
    async def commit(self, plan: CommitPlan) -> CommitResult:
        raw = await self._commit(keys=[], args=[plan.packed()])
        status = raw[0].decode() if isinstance(raw[0], bytes) else str(raw[0])
        items = tuple(x.decode() if isinstance(x, bytes) else str(x) for x in raw[1:])
        return CommitResult(status, items)

    async def park(self, entry: OutboxEntry, reason: str, detail: str) -> int:
        """Move an entry from its outbox to the parked stream; the parked count after it."""
        n = await self._park(
            keys=[entry.stream, self.parked_key],
            args=[
                str(entry.id),
                entry.topic,
                entry.key,
                entry.value,
                entry.headers,
                reason,
                detail[:2000],
            ],
        )
        return int(n)

    async def parked_count(self) -> int:
        return int(await self.client.xlen(self.parked_key))

    async def trim(self, trims: Iterable[tuple[str, StreamId]]) -> None:
        pipe = self.client.pipeline(transaction=False)
        n = 0
        for stream, last in trims:
            pipe.xtrim(stream, minid=str(last.next()), approximate=False)
            n += 1
        if n:
            await pipe.execute()
