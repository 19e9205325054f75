"""Redis: the service's state, dedupe marks, outbox and partition offsets, written atomically.

Layout under the service prefix `shebao:<service>`, every key but `layout` under a hash tag
`<tag>` (`Layout`): `{<service>}` when the whole service is one slot, `{<service>/<p>}` when
its state is owned by input partition p (`Layout.partitions`):
  <tag>:s:<kind>:<id>            "<version>|<JSON>"        state ("<version>|" = deleted, TTL)
  <tag>:dd:<event id>            body fingerprint, TTL      the event was applied
  <tag>:off:<subscription>       hash {<topic>:<partition>: next offset}
  <tag>:ob:<sub>:<topic>:<part>  stream {t, k, v, h, c}     outbox, ids <input offset + 1>-<n>,
                                                            c: when its batch committed (ms)
  <tag>:c:<name>                 hash {field: integer}      counters (one set per tag, summed
                                                            when read)
  <tag>:parked                   stream {t, k, v, h, ...}   outputs the broker can never take
  layout                         hash {partitions}          what the keyspace was written with

One Lua script commits a whole batch of one tag: it first checks that every partition's stored
offset is the one this consumer started from (fencing a zombie), that no event was applied
before, and that every state key read still has the version that was read (another consumer of
the same service may write it); only then it writes state, marks, outbox entries, counters and
offsets. Every key it touches carries the same hash tag, so on Redis Cluster the script runs on
one shard, in one slot (no CROSSSLOT), and a single Redis runs the same layout unchanged. Redis
runs a script to completion before anything else, and the AOF (and a replica) keeps it as one
unit. The batch travels as one MessagePack argument: packing thousands of separate arguments cost
more than the script. State is a plain string so that a batch's reads are one MGET.
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import msgpack

from ..domain import Counters, StateKey, StateModel
from ..redis_acl import key_prefix
from . import compiled

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
-- The batch's rows come flat (a list of keys and values, not a table per row: unpacking builds
-- no table per record), and whole lists of keys are read and written with one command (MGET,
-- MSET), not one each (issue 20: Redis CPU per claim; BENCHMARKS.md).
local CHUNK = 1000  -- keys per command, under Lua's limit of values unpacked at once
local function mget(flat, width)  -- the value of the first column of each row of `flat`
  local out, rows = {}, #flat / width
  for i = 1, rows, CHUNK do
    local names = {}
    for j = i, math.min(i + CHUNK - 1, rows) do names[#names + 1] = flat[(j - 1) * width + 1] end
    local got = redis.call('MGET', unpack(names))
    for j = 1, #names do out[#out + 1] = got[j] end
  end
  return out
end
-- 1. fencing: each partition's stored offset must be the one we started from
local o = p[2]  -- rows of 4: offsets key, field, expected, new
local already = 0
for i = 1, #o, 4 do
  local cur = redis.call('HGET', o[i], o[i + 1])
  if cur == false then cur = '' end
  if cur ~= o[i + 2] then
    if cur == o[i + 3] then
      already = already + 1
    else
      return {'FENCED', o[i + 1], cur}
    end
  end
end
if already > 0 then
  if already == #o / 4 then return {'ALREADY'} end
  return {'FENCED', '', ''}
end
-- 2. dedupe marks: an event id seen before returns its stored body fingerprint
local m = p[3]  -- rows of 2: mark key, fingerprint
local dups = {'DUPLICATE'}
local seen = mget(m, 2)
for i = 1, #m / 2 do
  if seen[i] and #dups < 2000 then dups[#dups + 1] = m[2 * i - 1]; dups[#dups + 1] = seen[i] end
end
if #dups > 1 then return dups end
-- 3. read-set validation: every key read still has the version read
local r = p[4]  -- rows of 2: state key, version read
local conflicts = {'CONFLICT'}
local current = mget(r, 2)
for i = 1, #r / 2 do
  local ver = '0'
  if current[i] then ver = string.match(current[i], '^(%d+)|') or '0' end
  if ver ~= r[2 * i] and #conflicts < 1000 then conflicts[#conflicts + 1] = r[2 * i - 1] end
end
if #conflicts > 1 then return conflicts end
-- every check passed: from here on only writes, which cannot fail on valid arguments
for i = 1, #o, 4 do redis.call('HSET', o[i], o[i + 1], o[i + 3]) end
for i = 1, #m, 2 do redis.call('SET', m[i], m[i + 1], 'EX', ttl) end
-- 4. state writes: version|data, in MSETs; a delete is a tombstone "version|" that expires
local w = p[5]  -- rows of 3: state key, version, data ('' to delete)
local kv = {}
for i = 1, #w, 3 do
  if w[i + 2] == '' then
    redis.call('SET', w[i], w[i + 1] .. '|', 'EX', ttl)
  else
    kv[#kv + 1] = w[i]; kv[#kv + 1] = w[i + 1] .. '|' .. w[i + 2]
    if #kv >= 2 * CHUNK then redis.call('MSET', unpack(kv)); kv = {} end
  end
end
if #kv > 0 then redis.call('MSET', unpack(kv)) end
-- 5. outbox entries
local e = p[6]  -- rows of 6: stream, id, topic, key, value, headers
for i = 1, #e, 6 do
  redis.call('XADD', e[i], e[i + 1], 't', e[i + 2], 'k', e[i + 3], 'v', e[i + 4], 'h', e[i + 5],
    'c', p[9])
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

    def slot_key(self) -> str | None:
        """One key of the plan (they all share a slot): how a cluster routes the script."""
        for rows in (self.offsets, self.writes, self.marks, self.reads, self.trims):
            if rows:
                return rows[0][0]
        if self.outbox:
            return self.outbox[0].stream
        return next(iter(self.increments), (None, ""))[0]

    def packed(self) -> bytes:
        """The whole batch as one MessagePack argument of the commit script, each kind of row
        flattened into one list (the script reads them by position)."""
        marks: list[str] = []
        for mark in self.marks:
            marks += mark
        reads: list[str] = []
        for k, v in self.reads:
            reads += (k, str(v))
        writes: list[str | bytes] = []
        for k, v, d in self.writes:
            writes += (k, str(v), d)
        outbox: list[str | bytes] = []
        for e in self.outbox:
            outbox += (e.stream, str(e.id), e.topic, e.key, e.value, e.headers)
        return cast(
            bytes,
            msgpack.packb(
                [
                    self.ttl,
                    [x for row in self.offsets for x in row],
                    marks,
                    reads,
                    writes,
                    outbox,
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


_M = 0x5BD1E995  # murmur2's mixing constant


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 hash of `data` (Java's `Utils.murmur2`) as an unsigned 32-bit integer:
    the same value as aiokafka's `partitioner.murmur2`, computed four bytes at a time
    (`struct.unpack_from`) rather than byte by byte, in about half its CPU. The relay hashes
    every output record's key (issue 20: 2-3 % of a settlement hop's CPU was aiokafka's)."""
    length = len(data)
    h = 0x9747B28C ^ length
    words = length >> 2
    if words:
        for k in struct.unpack_from(f"<{words}I", data):
            k = (k * _M) & 0xFFFFFFFF
            k ^= k >> 24
            h = ((h * _M) & 0xFFFFFFFF) ^ ((k * _M) & 0xFFFFFFFF)
    rest = length & 3
    if rest:
        tail = length - rest
        if rest == 3:
            h ^= data[tail + 2] << 16
        if rest >= 2:
            h ^= data[tail + 1] << 8
        h = ((h ^ data[tail]) * _M) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * _M) & 0xFFFFFFFF
    return h ^ (h >> 15)


def default_partition(key: bytes | str, partitions: int) -> int:
    """The partition Kafka's default partitioner (Java's, aiokafka's; librdkafka's
    `murmur2_random`) gives a record key among `partitions`."""
    raw = key.encode() if isinstance(key, str) else key
    return int(murmur2(raw) & 0x7FFFFFFF) % partitions


@dataclass(frozen=True, slots=True)
class Layout:
    """Where a service's keys go: one hash tag for the whole service (`partitions` None), or
    one per input partition number, owned by the records of that partition of every topic the
    service reads (co-partitioned: the same key, the same partition count)."""

    service: str
    partitions: int | None = None

    def __post_init__(self) -> None:
        if self.partitions is not None and self.partitions < 1:
            raise ValueError(f"a layout of {self.partitions} partitions")

    @property
    def partitioned(self) -> bool:
        return self.partitions is not None

    def tag(self, partition: int = 0) -> str:
        """The hash tag of the keys input partition `partition` owns."""
        if self.partitions is None:
            return "{" + self.service + "}"
        if not 0 <= partition < self.partitions:
            raise LayoutError(
                f"{self.service}: a record of partition {partition}, and the state is laid out "
                f"for {self.partitions} partitions (docs/CAPACITY.md#changing-partition-counts)"
            )
        return "{" + f"{self.service}/{partition}" + "}"

    def home(self, key: StateKey[Any], partition: int = 0) -> int:
        """The partition whose slot holds `key` when a record of `partition` declares it: the
        owner's (`Entity.owner`) in a partitioned layout, else the record's own."""
        owner = key.entity.owner
        if owner is None or self.partitions is None:
            return partition
        return default_partition(owner(key.id), self.partitions)

    def tags(self) -> list[str]:
        """Every tag, for reads that gather (counters, the parked outputs, a probe)."""
        return [self.tag(p) for p in range(self.partitions or 1)]

    def describe(self) -> str:
        return f"{self.partitions} partitions" if self.partitions is not None else "one slot"


class LayoutError(RuntimeError):
    """The keyspace and the topics disagree about who owns what: said in words, at start."""


def tag_in(key: str) -> str:
    """The hash tag (with its braces) a key name carries."""
    a = key.index("{")
    return key[a : key.index("}", a) + 1]


class Store:
    def __init__(self, client: Any, service: str, layout: Layout | None = None) -> None:
        """`client`: a `redis.asyncio.Redis` or `RedisCluster` (`redis_client`)."""
        self.client = client
        self.service = service
        self.layout = layout or Layout(service)
        self.prefix = key_prefix(service)  # the ACL user's key pattern is built from it too
        self._commit = client.register_script(COMMIT_LUA)
        self._park = client.register_script(PARK_LUA)

    # names
    def slot_prefix(self, partition: int = 0) -> str:
        """What every key of that partition's slot starts with (before a colon)."""
        return f"{self.prefix}:{self.layout.tag(partition)}"

    def state_key(self, name: str, partition: int = 0) -> str:
        return f"{self.slot_prefix(partition)}:s:{name}"

    def mark_key(self, event_id: str, partition: int = 0) -> str:
        return f"{self.slot_prefix(partition)}:dd:{event_id}"

    def offsets_key(self, subscription: str, partition: int = 0) -> str:
        return f"{self.slot_prefix(partition)}:off:{subscription}"

    def outbox_key(self, subscription: str, topic: str, partition: int) -> str:
        return f"{self.slot_prefix(partition)}:ob:{subscription}:{topic}:{partition}"

    def counter_key(self, name: str, partition: int = 0) -> str:
        return f"{self.slot_prefix(partition)}:c:{name}"

    @property
    def parked_key(self) -> str:
        """The parked stream of a one-slot layout (`parked_keys` has them all)."""
        return f"{self.slot_prefix()}:parked"

    def parked_key_of(self, key: str) -> str:
        """The parked stream in the same slot as `key` (an outbox stream)."""
        return f"{self.prefix}:{tag_in(key)}:parked"

    @property
    def parked_keys(self) -> list[str]:
        return [f"{self.slot_prefix(p)}:parked" for p in range(self.layout.partitions or 1)]

    @property
    def layout_key(self) -> str:
        return f"{self.prefix}:layout"

    def state_prefix(self, partition: int = 0) -> str:
        """What a state key of that partition starts with, before its name."""
        return f"{self.slot_prefix(partition)}:s:"

    # the layout the keyspace was written with
    @property
    def _rebuild(self) -> str:
        return f"python -m shebao_{self.service.replace('-', '_')} rebuild --wipe"

    async def check_layout(self, subscriptions: Sequence[str] = ()) -> None:
        """Refuse (LayoutError) a keyspace written with another layout; record ours on a new one.

        A keyspace with no record may hold the keys of a release before hash tags
        (`<prefix>:off:<subscription>`, untagged): the service would find none of its state and
        read its inputs from the start, deciding again; that is refused too."""
        want = str(self.layout.partitions or 0)
        raw = await self.client.hget(self.layout_key, "partitions")
        if raw is None:
            legacy = [f"{self.prefix}:off:{sub}" for sub in subscriptions]
            if legacy and any([await self.client.exists(k) for k in legacy]):
                raise LayoutError(
                    f"{self.service}: Redis holds its state as a release before hash tags kept "
                    f"it ({self.prefix}:off:..., no {self.layout_key}): rebuild it from its log "
                    f"of record into this layout ({self._rebuild}, deploy/README.md), then "
                    "start it"
                )
            await self.client.hset(self.layout_key, "partitions", want)
            return
        have = int(raw)
        if str(have) != want:
            was = f"{have} partitions" if have else "one slot"
            raise LayoutError(
                f"{self.service}: its state in Redis is laid out for {was}, and it starts with "
                f"{self.layout.describe()}: a changed partition count moves the ownership of "
                "keys. Stop the service, rebuild its state from its log of record "
                f"({self._rebuild}, see docs/CAPACITY.md#changing-partition-counts), then "
                "start it."
            )

    # reads
    async def load_offsets(self, subscription: str, fields: Sequence[str]) -> list[int | None]:
        """Each `<topic>:<partition>` field's stored next offset (None: never committed)."""
        if not fields:
            return []
        by_key: dict[str, list[int]] = {}
        for i, f in enumerate(fields):
            part = int(f.rpartition(":")[2])
            by_key.setdefault(self.offsets_key(subscription, part), []).append(i)
        out: list[int | None] = [None] * len(fields)
        pipe = self.client.pipeline(transaction=False)
        order = list(by_key.items())
        for key, idx in order:
            pipe.hmget(key, [fields[i] for i in idx])
        for (_, idx), raw in zip(order, await pipe.execute(), strict=True):
            for i, v in zip(idx, raw, strict=True):
                out[i] = None if v is None else int(v)
        return out

    async def load_state(self, keys: Sequence[str]) -> list[tuple[int, bytes | None]]:
        """(version, data) per key; version 0 and no data when absent, data None for a tombstone.

        One MGET per slot and 2,000 keys (a cluster refuses an MGET across slots, and a cluster
        pipeline any MGET), the slots' at once."""
        if not keys:
            return []
        groups: dict[str, list[int]] = {}
        for i, k in enumerate(keys):
            groups.setdefault(tag_in(k), []).append(i)
        chunks = [idx[c : c + 2000] for idx in groups.values() for c in range(0, len(idx), 2000)]
        if len(chunks) == 1:  # a batch's keys: its one slot, one round trip as ever
            answers = [await self.client.mget([keys[i] for i in chunks[0]])]
        else:
            answers = await asyncio.gather(
                *(self.client.mget([keys[i] for i in chunk]) for chunk in chunks)
            )
        out: list[tuple[int, bytes | None]] = [(0, None)] * len(keys)
        for chunk, raw in zip(chunks, answers, strict=True):
            for i, v in zip(chunk, cast("list[bytes | None]", raw), strict=True):
                out[i] = split_state(v)
        return out

    async def load_counters(self, names: Sequence[str]) -> list[dict[str, int]]:
        """Counter sets by name (as given to Decision.incr), summed over the layout's tags, in
        one pipelined round trip."""
        tags = self.layout.tags()
        pipe = self.client.pipeline(transaction=False)
        for n in names:
            for p in range(len(tags)):
                pipe.hgetall(self.counter_key(n, p))
        rows = cast("list[dict[bytes, bytes]]", await pipe.execute())
        out: list[dict[str, int]] = []
        for i in range(len(names)):
            total: dict[str, int] = {}
            for row in rows[i * len(tags) : (i + 1) * len(tags)]:
                for k, v in row.items():
                    f = k.decode()
                    total[f] = total.get(f, 0) + int(v)
            out.append(total)
        return out

    async def snapshot(
        self, keys: Mapping[str, StateKey[Any]], partition: int = 0
    ) -> dict[str, tuple[int, StateModel | None]]:
        """Each key's (version, decoded value) as a record of `partition` sees it, by name:
        counter sets as a `Counters` with version -1 (never version-checked, summed over every
        slot); state another partition owns (`Layout.home`) with version -1 too, read from its
        owner's slot (read-only, never version-checked); the rest from `partition`'s slot. One
        MGET per slot, at once."""
        out: dict[str, tuple[int, StateModel | None]] = {}
        tallies = [n for n, k in keys.items() if k.entity.counters]
        if tallies:
            for name, values in zip(tallies, await self.load_counters(tallies), strict=True):
                out[name] = (-1, Counters(values=values))
        names = [n for n, k in keys.items() if not k.entity.counters]
        if names:
            homes = [self.layout.home(keys[n], partition) for n in names]
            rows = await self.load_state(
                [self.state_key(n, h) for n, h in zip(names, homes, strict=True)]
            )
            for name, home, (version, data) in zip(names, homes, rows, strict=True):
                model = keys[name].entity.model
                value = None if data is None else compiled.read(model, data)
                out[name] = (version if home == partition else -1, value)
        return out

    async def get_state(
        self, key: str | StateKey[Any], owner: bytes | str | None = None
    ) -> bytes | None:
        """A state value by name (or by key). In a partitioned layout the value lives with the
        partition its record key goes to: `owner`, else the key's `Entity.owner`; without
        either every partition is asked, in one pipelined round trip, and the one that holds
        it answers."""
        name = key if isinstance(key, str) else key.name
        if not self.layout.partitioned:
            raw = await self.client.get(self.state_key(name))
            return split_state(cast("bytes | None", raw))[1]
        assert self.layout.partitions is not None
        if owner is None and not isinstance(key, str) and key.entity.owner is not None:
            owner = key.entity.owner(key.id)
        if owner is not None:
            part = default_partition(owner, self.layout.partitions)
            raw = await self.client.get(self.state_key(name, part))
            return split_state(cast("bytes | None", raw))[1]
        found = await self.load_state(
            [self.state_key(name, p) for p in range(self.layout.partitions)]
        )
        best = max(found, key=lambda vd: vd[0])
        return best[1]

    async def counters(self, name: str) -> dict[str, int]:
        return (await self.load_counters([name]))[0]

    async def counter_fields(self, prefix: str) -> dict[str, dict[str, int]]:
        """Every counter set whose name starts with `prefix`, summed over the tags (a SCAN per
        tag: for read sides that list counter sets)."""
        names: set[str] = set()
        for p in range(self.layout.partitions or 1):
            head = self.counter_key("", p)
            async for k in self.scan(head + prefix + "*"):
                names.add(k.removeprefix(head))
        ordered = sorted(names)
        return dict(zip(ordered, await self.load_counters(ordered), strict=True))

    async def scan(self, match: str) -> AsyncIterator[str]:
        """Key names matching `match`, from every shard of a cluster."""
        async for k in self.client.scan_iter(match=match, count=1000):
            yield k.decode() if isinstance(k, bytes) else k

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
        """Commit a plan whose keys all carry one tag (one slot)."""
        key = plan.slot_key()
        raw = await self._commit(keys=[] if key is None else [key], args=[plan.packed()])
        status = raw[0].decode() if isinstance(raw[0], bytes) else str(raw[0])
        items = tuple(x.decode() if isinstance(x, bytes) else str(x) for x in raw[1:])
        return CommitResult(status, items)

    async def replicated(self, plan: CommitPlan, replicas: int, timeout_ms: int) -> int:
        """WAIT until `replicas` replicas of the shard holding `plan`'s slot have its writes (or
        the timeout); how many have. A cluster asks the node serving that slot now."""
        key = plan.slot_key()
        if key is None or replicas <= 0:
            return replicas
        if hasattr(self.client, "get_node_from_key"):
            node = self.client.get_node_from_key(key)
            n = await self.client.execute_command("WAIT", replicas, timeout_ms, target_nodes=node)
        else:
            n = await self.client.execute_command("WAIT", replicas, timeout_ms)
        return int(n)

    async def park(self, entry: OutboxEntry, reason: str, detail: str) -> int:
        """Move an entry from its outbox to the parked stream of its slot; the parked count
        after it (of that slot)."""
        n = await self._park(
            keys=[entry.stream, self.parked_key_of(entry.stream)],
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
        pipe = self.client.pipeline(transaction=False)
        for k in self.parked_keys:
            pipe.xlen(k)
        return sum(int(n) for n in await pipe.execute())

    async def trim(self, trims: Iterable[tuple[str, StreamId]]) -> None:
        pipe = self.client.pipeline(transaction=False)
        n = 0
        for stream, last in trims:
            pipe.xtrim(stream, minid=str(last.next()), approximate=False)
            n += 1
        if n:
            await pipe.execute()
