"""Who may look a person up at the counter, through real Kafka and Redis.

The service runs as a process trusting a local token issuer. A lookup without a token, with an
expired one, with one signed by a key the issuer does not publish, without a stated purpose, with
a role the route does not accept, or by a Nanjing counter for a Suzhou person is refused; a
Nanjing counter's lookup of a Nanjing person is answered. Every request leaves exactly one
`ReadAudited` on `shebao.enrollment.audit.v1`, with the person's keyed reference and never the
raw citizen ID. Started without an issuer, the service refuses every lookup (401), never opens.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from enrollment_harness import citizen_id

from shebao_common.auth import AUDITOR, COUNTER
from shebao_contracts import enrollment as c
from shebao_contracts.audit import ReadAudited
from shebao_devinfra.issuer import LocalIssuer
from shebao_devinfra.testing import (
    ServiceProcess,
    http_get,
    message_record,
    producer,
    read_all,
    recreate_topics,
    wait_until,
)

pytestmark = pytest.mark.integration

NANJING, SUZHOU = "320100", "320500"
NJ_PERSON = citizen_id(date(1980, 5, 17), region="320102", n=1)
SZ_PERSON = citizen_id(date(1985, 9, 3), region="320505", n=2)
NOBODY = citizen_id(date(1990, 1, 1), region="320102", n=3)
T0 = datetime(2025, 7, 2, 8, tzinfo=UTC)


async def _register(bootstrap: str) -> None:
    prod = await producer(bootstrap)
    try:
        for n, (cid, region) in enumerate(((NJ_PERSON, NANJING), (SZ_PERSON, SUZHOU))):
            msg = c.RegisterPerson(
                citizen_id=cid,
                name=f"参保人{n}",
                hukou_region=region,
                residence=c.Residence.URBAN,
                registered_on=date(2024, 1, 1),
            )
            k, v, h = message_record(msg, message_id=f"reg-{n}", time=T0, key=cid)
            await prod.send(c.COMMANDS.name, key=k, value=v, headers=h)
        await prod.flush()
    finally:
        await prod.stop()


def _by_purpose(records: list[Any]) -> dict[str, list[ReadAudited]]:
    out: dict[str, list[ReadAudited]] = {}
    for r in records:
        headers = dict(r.headers)
        assert headers["ce_type"] == ReadAudited.TYPE.encode()
        audited = ReadAudited.model_validate_json(r.value)
        assert headers["ce_id"] == audited.request_id.encode()
        out.setdefault(audited.purpose or "", []).append(audited)
    return out


async def test_counter_lookups_are_authorised_by_region_and_every_one_is_audited(
    infra: Any, tmp_path: Path
) -> None:
    redis_url = infra.redis_url.rsplit("/", 1)[0] + "/5"
    r = aioredis.Redis.from_url(redis_url)
    await r.flushdb()
    await r.aclose()
    await recreate_topics(
        infra.kafka_bootstrap, [c.COMMANDS.name, c.EVENTS.name, c.COMMANDS.dlq, c.AUDIT.name]
    )
    issuer = LocalIssuer(tmp_path / "auth")
    forger = LocalIssuer.foreign(tmp_path / "auth")
    svc = ServiceProcess(
        "enrollment",
        "shebao_enrollment",
        kafka=infra.kafka_bootstrap,
        redis_url=redis_url,
        log_dir=tmp_path,
        issuer=issuer,
    )
    nj_counter = issuer.mint("counter-nj-0042", [COUNTER], NANJING)
    try:
        svc.start()
        await svc.wait_ready()
        await _register(infra.kafka_bootstrap)

        async def registered() -> bool:
            statuses = [
                (await svc.get_json(f"/persons?citizen_id={cid}", purpose="setup"))[0]
                for cid in (NJ_PERSON, SZ_PERSON)
            ]
            return statuses == [200, 200]

        await wait_until(registered, timeout=60)

        def path(cid: str) -> str:
            return f"/persons?citizen_id={cid}"

        answers: dict[str, tuple[int, Any]] = {}
        for purpose, cid, token in (
            ("no token", NJ_PERSON, None),
            ("expired", NJ_PERSON, issuer.mint("counter-nj-0042", [COUNTER], NANJING, ttl=-120)),
            ("forged", NJ_PERSON, forger.mint("counter-nj-0042", [COUNTER], NANJING)),
            ("forged kid", NJ_PERSON, forger.mint("x", [AUDITOR], kid=issuer.kid)),
            ("wrong role", NJ_PERSON, issuer.mint("portal-1", ["partner"], NANJING)),
            ("other region", SZ_PERSON, nj_counter),
            ("not registered", NOBODY, nj_counter),
            ("allowed", NJ_PERSON, nj_counter),
            ("auditor", SZ_PERSON, issuer.mint("auditor-1", [AUDITOR])),
        ):
            answers[purpose] = await svc.get_json(path(cid), token=token, purpose=purpose)
        answers[""] = await svc.get_json(path(NJ_PERSON), token=nj_counter, purpose=None)

        statuses = {p: status for p, (status, _) in answers.items()}
        assert statuses == {
            "no token": 401,
            "expired": 401,
            "forged": 401,
            "forged kid": 401,
            "wrong role": 403,
            "other region": 403,
            "not registered": 404,
            "allowed": 200,
            "auditor": 200,
            "": 400,
        }
        assert answers["no token"][1]["detail"].startswith("no bearer token")
        assert "expired" in answers["expired"][1]["detail"]
        assert answers["other region"][1]["error"] == "forbidden_region"
        assert answers["wrong role"][1]["error"] == "forbidden_role"
        assert answers[""][1]["error"] == "purpose_required"
        allowed = answers["allowed"][1]
        assert allowed["hukou_region"] == NANJING
        for purpose, (_, body) in answers.items():
            text = json.dumps(body)
            assert NJ_PERSON not in text and SZ_PERSON not in text and NOBODY not in text, purpose

        audit = _by_purpose(await read_all(infra.kafka_bootstrap, c.AUDIT.name))
        for purpose, (status, _) in answers.items():
            assert len(audit.get(purpose, [])) == 1, (purpose, audit.get(purpose))
            (rec,) = audit[purpose]
            assert rec.status == status and rec.route == "/persons"
            assert rec.service == "enrollment"
        assert {p: audit[p][0].outcome for p in answers} == {
            "no token": "unauthenticated",
            "expired": "unauthenticated",
            "forged": "unauthenticated",
            "forged kid": "unauthenticated",
            "wrong role": "forbidden",
            "other region": "forbidden",
            "not registered": "not_found",
            "allowed": "allowed",
            "auditor": "allowed",
            "": "invalid",
        }
        ok = audit["allowed"][0]
        assert ok.actor == "counter-nj-0042" and ok.roles == (COUNTER,)
        assert ok.actor_region == NANJING and ok.issuer == issuer.issuer
        assert ok.subject_kind == "person" and ok.subject == allowed["person"]
        assert ok.subject_regions == (NANJING,)
        for refused in ("no token", "expired", "forged", "forged kid"):
            assert audit[refused][0].actor == "anonymous" and audit[refused][0].reason
        other = audit["other region"][0]
        assert other.actor == "counter-nj-0042" and other.subject_regions == (SUZHOU,)
        assert other.subject == answers["auditor"][1]["person"]  # the same keyed reference
        assert audit["not registered"][0].subject is not None
        assert audit["auditor"][0].subject_regions == (SUZHOU,)

        raw = b"".join(r.value for r in await read_all(infra.kafka_bootstrap, c.AUDIT.name))
        for cid in (NJ_PERSON, SZ_PERSON, NOBODY):
            assert cid.encode() not in raw
        # the cluster's endpoints stay open
        for open_path in ("/healthz", "/readyz", "/metrics"):
            status, _ = await http_get(svc.url + open_path)  # no token
            assert status == 200, open_path
        svc.terminate()

        # Without an issuer configured the service starts and refuses every lookup.
        svc.env["SHEBAO_AUTH_ISSUER"] = ""
        svc.start()
        await svc.wait_ready()
        status, body = await svc.get_json(path(NJ_PERSON), token=nj_counter)
        assert status == 401 and "no token issuer is configured" in body["detail"]
    finally:
        svc.stop()


async def test_a_lookup_that_cannot_be_audited_is_refused(
    infra: Any, restartable_kafka: Any, tmp_path: Path
) -> None:
    """Kafka away: what a lookup would find (200, and 404 or another region's 403 too) is
    refused with 503 once its record is not acknowledged in time; a refusal before any lookup
    (401, a role's 403) is still answered. Kafka back: answered again, each with its record."""
    bootstrap = restartable_kafka.bootstrap
    redis_url = infra.redis_url.rsplit("/", 1)[0] + "/6"
    r = aioredis.Redis.from_url(redis_url)
    await r.flushdb()
    await r.aclose()
    await recreate_topics(bootstrap, [c.COMMANDS.name, c.EVENTS.name, c.AUDIT.name])
    svc = ServiceProcess(
        "enrollment",
        "shebao_enrollment",
        kafka=bootstrap,
        redis_url=redis_url,
        log_dir=tmp_path,
        env={"SHEBAO_ENROLLMENT_AUDIT_TIMEOUT_SECONDS": "2"},
    )
    coverage = f"/coverage?region={NANJING}&on=2025-06-30"
    try:
        svc.start()
        await svc.wait_ready()
        assert (await svc.get_json(coverage, purpose="before"))[0] == 200

        await asyncio.to_thread(restartable_kafka.down)
        status, body = await svc.get_json(coverage, purpose="during")
        assert (status, body["error"]) == (503, "audit_unavailable")
        status, body = await svc.get_json(f"/persons?citizen_id={NOBODY}", purpose="during")
        assert (status, body["error"]) == (503, "audit_unavailable")  # not 404
        assert (await svc.get_json(coverage, token=None, purpose="during"))[0] == 401
        # refused before any lookup: answered; refused after one (another region): not
        portal = svc.issuer.mint("portal-1", ["partner"], NANJING) if svc.issuer else None
        assert (await svc.get_json(coverage, token=portal, purpose="during"))[0] == 403
        sz_counter = svc.issuer.mint("counter-sz", [COUNTER], SUZHOU) if svc.issuer else None
        assert (await svc.get_json(coverage, token=sz_counter, purpose="during"))[0] == 503

        await asyncio.to_thread(restartable_kafka.up)

        async def answered() -> bool:
            return (await svc.get_json(coverage, purpose="retry"))[0] == 200

        await wait_until(answered, timeout=120, interval=1.0)
        assert (await svc.get_json(coverage, purpose="after"))[0] == 200
        audit = _by_purpose(await read_all(bootstrap, c.AUDIT.name))
        assert [a.status for a in audit["before"]] == [200]
        assert [a.status for a in audit["after"]] == [200]
        assert audit["after"][0].subject_kind == "region"
    finally:
        svc.stop()
