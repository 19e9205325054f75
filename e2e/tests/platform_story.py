"""What the e2e stories share: the platform's services started as processes, and a teller that
sends messages as offices and partners do and reads what the platform publishes.

Topics are recreated empty first (every internal topic of the catalog, and the partners' ones
a story names), so a story reads only its own records.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from shebao_common.pseudonym import Pseudonymizer
from shebao_common.settings import is_cluster_url
from shebao_contracts import contributions as cc
from shebao_contracts import medical as m
from shebao_contracts.envelope import Message
from shebao_devinfra.kit import Offsets, caught_up
from shebao_devinfra.testing import (
    ServiceProcess,
    message_record,
    producer,
    read_all,
    recreate_topics,
    redis_for,
    wait_until,
)
from shebao_partners import claim_body, employer_collected, example_lines

Records = list[dict[str, Any]]
CST = timezone(timedelta(hours=8))


class Story:
    """Sends as offices, the scheduler and partners do; reads topics and the read sides."""

    def __init__(
        self, bootstrap: str, prod: Any, services: dict[str, ServiceProcess], key: str
    ) -> None:
        self.bootstrap, self.prod, self.services, self.n = bootstrap, prod, services, 0
        self.offsets = Offsets(bootstrap)
        self._refs = Pseudonymizer(key.encode())

    def ref(self, citizen_id: str) -> str:
        """The person's reference, as the services derive it with the story's key."""
        return self._refs.person_ref(citizen_id)

    async def send(self, topic: str, key: str, msg: Message, at: datetime, ce_id: str = "") -> None:
        self.n += 1
        k, v, h = message_record(
            msg, message_id=ce_id or f"story-{self.n}", time=at, key=key, topic=topic
        )
        await self.prod.send_and_wait(topic, key=k, value=v, headers=h)

    async def of(self, topic: str, kind: type[Message], **match: Any) -> Records:
        """The bodies of a kind on a topic, those whose fields equal `match`."""
        out = []
        for r in await read_all(self.bootstrap, topic):
            if dict(r.headers)["ce_type"].decode() != kind.TYPE:
                continue
            body = json.loads(r.value)
            if all(body.get(f) == v for f, v in match.items()):
                out.append(body)
        return out

    async def until(
        self, topic: str, kind: type[Message], ok: Callable[[Records], bool], **match: Any
    ) -> Records:
        found: Records = []

        async def done() -> bool:
            found[:] = await self.of(topic, kind, **match)
            return ok(found)

        try:
            await wait_until(done, timeout=90, interval=0.3)
        except TimeoutError:
            raise AssertionError(f"waited for {kind.__name__} on {topic}: {found[-3:]}") from None
        return found

    async def claim(
        self, hospital: str, claim_id: str, patient: str, at: datetime, **kw: Any
    ) -> dict[str, Any]:
        """A hospital's claim (the worked example's lines unless given), and its answer."""
        lines = kw.pop("lines", None) or example_lines()
        body = claim_body(hospital, claim_id, patient, lines, **kw)
        claim = m.ClaimSubmitted.model_validate(body)
        await self.send(m.CLAIMS.named(code=hospital), claim_id, claim, at)
        (answer,) = await self.until(
            m.SETTLEMENTS.named(code=hospital), m.SettlementResult, bool, claim_id=claim_id
        )
        return answer

    async def insured_months(
        self, region: str, bureau: str, employer: str, months: list[str], persons: list[str]
    ) -> Records:
        """Each month closed by the scheduler (on the next month's first day), the employer's
        assessment collected in full by the bureau four days later, and every one of `persons`
        credited the month; the bureau's assessments, in order."""
        # contributions reads enrollment's events in a consumer group of its own: the close must
        # not overtake the employments it assesses (a month later, as in life, it never would)
        contributions = self.services["contributions"]

        async def employed() -> bool:
            status, body = await contributions.get_json(f"/employers?code={employer}")
            return status == 200 and body.get("employees", 0) >= len(persons)

        await wait_until(employed, timeout=60)
        dues = []
        for month in months:
            y, n = int(month[:4]), int(month[5:])
            after = datetime(y + n // 12, n % 12 + 1, 1, 10, tzinfo=CST)
            await self.send(
                cc.COMMANDS.name, region, cc.ClosePeriod(region=region, month=month), after
            )
            (due,) = await self.until(
                cc.ASSESSMENTS.named(code=bureau),
                cc.TaxAssessmentIssued,
                bool,
                employer=employer,
                period=month,
            )
            collected = employer_collected(
                f"{employer[-4:]}-{month}", employer, month, Decimal(due["amount_due"])
            )
            await self.send(
                cc.COLLECTIONS.named(code=bureau), employer, collected, after + timedelta(days=4)
            )
            await self.until(
                cc.EVENTS.name,
                cc.ContributionCredited,
                lambda xs: {x["person"] for x in xs} >= set(persons),
                period=month,
            )
            dues.append(due)
        return dues

    async def followed(self, name: str, topics: list[str], what: str) -> None:
        """The service has read everything on `topics` and published what it decided."""
        await caught_up(self.services[name], topics, self.offsets, what, timeout=90)

    async def decided_all(self, redis: Any, name: str, topics: list[str]) -> bool:
        """Whether the service has committed every partition of `topics` up to its end (the
        lowest of its subscriptions' stored offsets, where several read one) and emptied its
        outbox: it decided everything sent so far and published what it decided. Read from the
        offsets and outbox the runtime keeps in Redis, whatever the process counted since its
        start."""
        ends = {(t, p): n for t in topics for p, n in (await self.offsets.ends(t)).items()}
        stored: dict[tuple[str, int], list[int]] = {}
        async for key in redis.scan_iter(f"shebao:{name}:*:off:*"):
            for f, v in (await redis.hgetall(key)).items():
                topic, _, part = f.decode().rpartition(":")
                stored.setdefault((topic, int(part)), []).append(int(v))
        if any(n > min(stored.get(tp, [0])) for tp, n in ends.items()):
            return False
        async for key in redis.scan_iter(f"shebao:{name}:*:ob:*"):
            if await redis.xlen(key):
                return False
        return True


def story_redis_url(url: str, db: int) -> str:
    """The Redis a story runs on: database `db` of one node, or a whole Redis Cluster (which
    has database 0 only; a story gets a cluster of its own)."""
    if is_cluster_url(url):
        return url
    return url.rsplit("/", 1)[0] + f"/{db}"


@asynccontextmanager
async def platform(
    infra: Any,
    logs: Path,
    names: tuple[str, ...],
    *,
    redis_db: int,
    key: str,
    partner_topics: list[str] = (),  # type: ignore[assignment]
    producer_options: dict[str, Any] | None = None,
    service_env: dict[str, str] | None = None,
) -> AsyncIterator[Story]:
    """The named services as processes on empty topics and an empty Redis database;
    `producer_options` go to the story's producer (e.g. a longer request timeout, for a story
    that restarts the broker under it), `service_env` to every service's environment, its
    names without the service's prefix (e.g. SESSION_TIMEOUT_MS)."""
    redis_url = story_redis_url(infra.redis_url, redis_db)
    r = redis_for(redis_url)
    await (r.flushall() if is_cluster_url(redis_url) else r.flushdb())
    await recreate_topics(
        infra.kafka_bootstrap, [*partner_topics, *(t + ".dlq" for t in partner_topics)]
    )
    services = {
        name: ServiceProcess(
            name,
            "shebao_" + name.replace("-", "_"),
            kafka=infra.kafka_bootstrap,
            redis_url=redis_url,
            log_dir=logs,
            env={"SHEBAO_PSEUDONYM_KEY": key},
        )
        for name in names
    }
    for svc in services.values():
        svc.env.update({svc.prefix + k: v for k, v in (service_env or {}).items()})
    prod = await producer(infra.kafka_bootstrap, **(producer_options or {}))
    story = Story(infra.kafka_bootstrap, prod, services, key)
    await story.offsets.start()
    try:
        for svc in services.values():
            svc.start()
        for svc in services.values():
            await svc.wait_ready()
        yield story
    finally:
        for svc in services.values():
            svc.stop()
        await prod.stop()
        await story.offsets.stop()
        await r.aclose()
