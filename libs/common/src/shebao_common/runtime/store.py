"""Redis: the service's state, dedupe marks, outbox and partition offsets, written atomically.

Layout under the service prefix `shebao:<service>`:
  s:<kind>:<id>            hash {v: version, d: JSON}    state (a tombstone keeps v, d = "")
  dd:<event id>            body fingerprint, with a TTL  the event was applied
  off:<subscription>       hash {<topic>:<partition>: next offset}
  ob:<sub>:<topic>:<part>  stream {t, k, v, h}          outbox, ids <input offset + 1>-<n>
  c:<name>                 hash {field: integer}        counters

One Lua script commits a whole batch: it first checks that every partition's stored offset is
the one this consumer started from (fencing a zombie), that no event was applied before, and that
every state key read still has the version that was read (another consumer of the same service
may write it); only then it writes state, marks, outbox entries, counters and offsets. Redis runs
a script to completion before anything else, and the AOF keeps it as one unit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import redis.asyncio as aioredis

COMMIT_LUA = r"""
local i = 1
local function nxt() local v = ARGV[i]; i = i + 1; return v end
local ttl = nxt()
-- 1. fencing: each partition's stored offset must be the one we started from
local n = tonumber(nxt())
local offs = {}
local already = 0
for _ = 1, n do
  local h, f, expected, new = nxt(), nxt(), nxt(), nxt()
  local cur = redis.call('HGET', h, f)
  if cur == false then cur = '' end
  if cur ~= expected then
    if cur == new then
      already = already + 1
    else
      return {'FENCED', f, cur}
    end
  end
  offs[#offs + 1] = {h, f, new}
end
if already > 0 then
  if already == n then return {'ALREADY'} end
  return {'FENCED', '', ''}
end
-- 2. dedupe marks: an event id seen before returns its stored body fingerprint
n = tonumber(nxt())
local marks = {}
local dups = {'DUPLICATE'}
for _ = 1, n do
  local k, fp = nxt(), nxt()
  local seen = redis.call('GET', k)
  if seen then
    if #dups < 2000 then dups[#dups + 1] = k; dups[#dups + 1] = seen end
  end
  marks[#marks + 1] = {k, fp}
end
if #dups > 1 then return dups end
-- 3. read-set validation: every key read still has the version read
n = tonumber(nxt())
local conflicts = {'CONFLICT'}
for _ = 1, n do
  local k, v = nxt(), nxt()
  local cur = redis.call('HGET', k, 'v')
  if cur == false then cur = '0' end
  if cur ~= v then
    if #conflicts < 1000 then conflicts[#conflicts + 1] = k end
  end
end
if #conflicts > 1 then return conflicts end
-- every check passed: from here on only writes, which cannot fail on valid arguments
for _, o in ipairs(offs) do redis.call('HSET', o[1], o[2], o[3]) end
for _, m in ipairs(marks) do redis.call('SET', m[1], m[2], 'EX', ttl) end
-- 4. state writes: key, new version, data ('' = delete, kept as a tombstone with a TTL)
n = tonumber(nxt())
for _ = 1, n do
  local k, v, d = nxt(), nxt(), nxt()
  redis.call('HSET', k, 'v', v, 'd', d)
  if d == '' then redis.call('EXPIRE', k, ttl) else redis.call('PERSIST', k) end
end
-- 5. outbox entries
n = tonumber(nxt())
for _ = 1, n do
  local s, id, t, k, v, h = nxt(), nxt(), nxt(), nxt(), nxt(), nxt()
  redis.call('XADD', s, id, 't', t, 'k', k, 'v', v, 'h', h)
end
-- 6. counters
n = tonumber(nxt())
for _ = 1, n do
  local k, f, by = nxt(), nxt(), nxt()
  redis.call('HINCRBY', k, f, by)
end
-- 7. outbox trims of entries the broker acknowledged
n = tonumber(nxt())
for _ = 1, n do
  local s, m = nxt(), nxt()
  redis.call('XTRIM', s, 'MINID', m)
end
return {'OK'}
"""


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


@dataclass(slots=True)
class CommitPlan:
    ttl: int
    offsets: list[tuple[str, str, str, str]] = field(default_factory=list)
    marks: list[tuple[str, str]] = field(default_factory=list)
    reads: list[tuple[str, int]] = field(default_factory=list)
    writes: list[tuple[str, int, bytes]] = field(default_factory=list)
    outbox: list[OutboxEntry] = field(default_factory=list)
    increments: list[tuple[str, str, int]] = field(default_factory=list)
    trims: list[tuple[str, StreamId]] = field(default_factory=list)

    def argv(self) -> list[Any]:
        a: list[Any] = [self.ttl, len(self.offsets)]
        for h, f, expected, new in self.offsets:
            a += (h, f, expected, new)
        a.append(len(self.marks))
        for k, fp in self.marks:
            a += (k, fp)
        a.append(len(self.reads))
        for k, v in self.reads:
            a += (k, v)
        a.append(len(self.writes))
        for k, v, d in self.writes:
            a += (k, v, d)
        a.append(len(self.outbox))
        for e in self.outbox:
            a += (e.stream, str(e.id), e.topic, e.key, e.value, e.headers)
        a.append(len(self.increments))
        for k, f, by in self.increments:
            a += (k, f, by)
        a.append(len(self.trims))
        for s, last in self.trims:
            a += (s, str(last.next()))
        return a


@dataclass(frozen=True, slots=True)
class CommitResult:
    status: str  # OK, ALREADY, FENCED, DUPLICATE, CONFLICT
    items: tuple[str, ...] = ()


class Store:
    def __init__(self, client: aioredis.Redis, service: str) -> None:
        self.client = client
        self.prefix = f"shebao:{service}"
        self._commit = client.register_script(COMMIT_LUA)

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

    # reads
    async def load_offsets(self, subscription: str, fields: Sequence[str]) -> list[int | None]:
        if not fields:
            return []
        raw = await self.client.hmget(self.offsets_key(subscription), list(fields))
        return [None if v is None else int(v) for v in raw]

    async def load_state(self, keys: Sequence[str]) -> list[tuple[int, bytes | None]]:
        """(version, data) per key; version 0 and no data when absent, data None for a tombstone."""
        if not keys:
            return []
        pipe = self.client.pipeline(transaction=False)
        for k in keys:
            pipe.hmget(k, "v", "d")
        out: list[tuple[int, bytes | None]] = []
        for v, d in await pipe.execute():
            out.append((0 if v is None else int(v), d or None))
        return out

    async def get_state(self, name: str) -> bytes | None:
        raw = cast("bytes | None", await self.client.hget(self.state_key(name), "d"))
        return raw or None

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
            )
            for rid, f in rows
        ]

    # writes
    async def commit(self, plan: CommitPlan) -> CommitResult:
        raw = await self._commit(keys=[], args=plan.argv())
        status = raw[0].decode() if isinstance(raw[0], bytes) else str(raw[0])
        items = tuple(x.decode() if isinstance(x, bytes) else str(x) for x in raw[1:])
        return CommitResult(status, items)

    async def trim(self, trims: Iterable[tuple[str, StreamId]]) -> None:
        pipe = self.client.pipeline(transaction=False)
        n = 0
        for stream, last in trims:
            pipe.xtrim(stream, minid=str(last.next()), approximate=False)
            n += 1
        if n:
            await pipe.execute()
