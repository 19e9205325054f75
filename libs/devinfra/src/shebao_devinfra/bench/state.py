"""Bytes of Redis state per service and key kind: what a capacity model multiplies out.

Every key of a service starts with `shebao:<service>:` (`redis_acl.key_prefix`) and, but for
`layout`, its slot's hash tag (`{<service>}` or `{<service>/<p>}`); the kind of a key is what
follows up to the next variable part (`runtime/store.py`'s layout):
  s:<kind>:<id>   state of one kind        dd:<event id>   dedupe mark
  off:<sub>       offsets of a subscription  ob:<sub>:...  an outbox stream
  c:<name>:...    counters                 parked          outputs the broker never took

Every key is counted with SCAN; up to `sample` keys per kind (the first SCAN returns, i.e. in
hash order, which is as good as random) are weighed with `MEMORY USAGE key SAMPLES 0` (every
element of a hash or stream, not an estimate from five). The bytes of a kind are its mean
sampled size times its count. `INFO memory` gives what Redis holds beyond the keys.

    python scripts/state_bytes.py [--url REDIS_URL] [--sample 2000]
    python -m shebao_devinfra.bench ... --state-bytes   (at the end of a benchmark run)
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections import defaultdict
from dataclasses import dataclass, field

import redis.asyncio as aioredis


def kind_of(rest: str) -> str:
    """The kind of a key from what follows the service prefix (and its slot's hash tag)."""
    parts = rest.split(":")
    if parts[0].startswith("{") and len(parts) > 1:
        parts = parts[1:]
    head = parts[0]
    if head in ("s", "c") and len(parts) > 1:
        return f"{head}:{parts[1]}"
    if head == "ob" and len(parts) > 2:
        return f"ob:{parts[1]}:{parts[2]}"  # the subscription and the topic, not the partition
    return head


@dataclass
class Kind:
    count: int = 0
    sampled: list[int] = field(default_factory=list)
    types: set[str] = field(default_factory=set)
    ttl: int = 0  # sampled keys with a TTL

    @property
    def mean(self) -> float:
        return sum(self.sampled) / len(self.sampled) if self.sampled else 0.0

    @property
    def total(self) -> float:
        return self.mean * self.count


async def measure(url: str, sample: int = 2000) -> dict[str, dict[str, Kind]]:
    """service -> kind -> Kind, over every `shebao:*` key."""
    r = aioredis.Redis.from_url(url)
    out: dict[str, dict[str, Kind]] = defaultdict(lambda: defaultdict(Kind))
    to_weigh: list[tuple[str, str, bytes]] = []
    try:
        async for key in r.scan_iter(match="shebao:*", count=2000):
            name = key.decode()
            _, service, rest = name.split(":", 2)
            k = out[service][kind_of(rest)]
            k.count += 1
            if k.count <= sample:
                to_weigh.append((service, kind_of(rest), key))
        for i in range(0, len(to_weigh), 500):
            chunk = to_weigh[i : i + 500]
            async with r.pipeline(transaction=False) as pipe:
                for _, _, key in chunk:
                    pipe.memory_usage(key, samples=0)
                    pipe.type(key)
                    pipe.pttl(key)
                answers = await pipe.execute()
            for j, (service, kind, _) in enumerate(chunk):
                used, typ, pttl = answers[3 * j : 3 * j + 3]
                if used is None:  # expired or deleted since the scan
                    continue
                k = out[service][kind]
                k.sampled.append(int(used))
                k.types.add(typ.decode() if isinstance(typ, bytes) else str(typ))
                k.ttl += int(pttl) > 0
    finally:
        await r.aclose()
    return out


async def memory_info(url: str) -> dict[str, int]:
    r = aioredis.Redis.from_url(url)
    try:
        info = await r.info("memory")
        keys = await r.dbsize()
    finally:
        await r.aclose()
    wanted = (
        "used_memory",
        "used_memory_dataset",
        "used_memory_overhead",
        "used_memory_startup",
        "used_memory_scripts",
        "used_memory_rss",
    )
    out = {k: int(info[k]) for k in wanted if k in info}
    out["keys"] = int(keys)
    return out


async def command_time(url: str, top: int = 8) -> str:
    """Redis's own CPU since it started (INFO cpu) and the commands that took most of its time
    (INFO commandstats: calls and microseconds inside each command, scripts included)."""
    r = aioredis.Redis.from_url(url)
    try:
        cpu = await r.info("cpu")
        stats = await r.info("commandstats")
    finally:
        await r.aclose()
    used = float(cpu.get("used_cpu_user", 0)) + float(cpu.get("used_cpu_sys", 0))
    rows = sorted(
        (
            (name.removeprefix("cmdstat_"), int(v["calls"]), int(v["usec"]))
            for name, v in stats.items()
        ),
        key=lambda row: -row[2],
    )
    text = ", ".join(f"{n} {c:,} calls {u / 1e6:.2f} s" for n, c, u in rows[:top])
    return f"Redis CPU since start {used:.1f} s (user + sys); time in commands: {text}"


def report(found: dict[str, dict[str, Kind]], memory: dict[str, int]) -> str:
    lines = ["Redis state by service and key kind (MEMORY USAGE ... SAMPLES 0 on sampled keys):"]
    lines.append(
        f"{'service':<24} {'kind':<56} {'type':<7}{'keys':>11}{'weighed':>9}"
        f"{'bytes/key':>11}{'MB':>10}  with TTL"
    )
    grand = 0.0
    for service in sorted(found):
        total = 0.0
        for kind, k in sorted(found[service].items(), key=lambda kv: -kv[1].total):
            total += k.total
            ttl = f"{k.ttl}/{len(k.sampled)}" if k.sampled else ""
            lines.append(
                f"{service:<24} {kind:<56} {','.join(sorted(k.types)):<7}{k.count:>11,}"
                f"{len(k.sampled):>9,}{k.mean:>11,.0f}{k.total / 1e6:>10.2f}  {ttl}"
            )
        lines.append(
            f"{service:<24} {'(all kinds)':<56} {'':<7}{'':>11}{'':>9}{'':>11}{total / 1e6:>10.2f}"
        )
        grand += total
    lines.append(f"sum of MEMORY USAGE over every shebao key (estimated): {grand / 1e6:.2f} MB")
    lines.append(
        "INFO memory: "
        + ", ".join(
            f"{k} {v / 1e6:.2f} MB" if k != "keys" else f"keys {v:,}" for k, v in memory.items()
        )
    )
    return "\n".join(lines)


async def main_async(url: str, sample: int) -> str:
    found = await measure(url, sample)
    return report(found, await memory_info(url)) + "\n" + await command_time(url)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--url", default=os.environ.get("REDIS_URL"), help="default: $REDIS_URL")
    p.add_argument("--sample", type=int, default=2000, help="keys weighed per kind")
    args = p.parse_args(argv)
    if not args.url:
        p.error("give --url or set REDIS_URL")
    print(asyncio.run(main_async(args.url, args.sample)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
