"""Who may read what on a service's HTTP read side, and the audit record of every request.

Each read route declares the roles it accepts (`@readable_by(COUNTER, AUDITOR, OPERATOR)`); the
runtime refuses a route that declares none. While a route runs, `about(kind, subject, regions)`
names whom the request is about and the pooling regions that subject belongs to: a regional
role (a counter) is then refused (403) unless its token's region is one of them. A route that
answers without naming its subject's regions is answered to province-wide roles only.

The runtime (`ServiceRuntime._json_route`) verifies the token, checks the role, runs the route,
and publishes a `ReadAudited` to the service's audit topic before it answers; a request whose
record is not acknowledged within `audit_timeout_seconds` is refused with 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiokafka import AIOKafkaProducer

from shebao_contracts.audit import Outcome, ReadAudited
from shebao_contracts.envelope import Envelope

from ..auth import ANONYMOUS, Principal
from ..logging import mask_ids

log = logging.getLogger("shebao.access")

F = TypeVar("F", bound=Callable[..., Any])
_ROLES_ATTRIBUTE = "__shebao_readable_by__"
PURPOSE_HEADER = "x-shebao-purpose"
MAX_PURPOSE_CHARS = 200


def readable_by(*roles: str) -> Callable[[F], F]:
    """Declare the roles a read route accepts."""
    if not roles:
        raise ValueError("a read route accepts at least one role")

    def mark(fn: F) -> F:
        setattr(fn, _ROLES_ATTRIBUTE, frozenset(roles))
        return fn

    return mark


def roles_of(fn: Callable[..., Any]) -> frozenset[str] | None:
    """The roles a route declared (bound methods included), or None."""
    found = getattr(fn, _ROLES_ATTRIBUTE, None)
    if found is None:
        found = getattr(getattr(fn, "__func__", None), _ROLES_ATTRIBUTE, None)
    return found if isinstance(found, frozenset) else None


class Refused(Exception):
    """Answer `status` with `{"error": error, "detail": detail}` (and audit it)."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.error, self.detail = status, error, detail


@dataclass
class Lookup:
    """One request to a read route, as it is being decided."""

    route: str
    accepted: frozenset[str]
    principal: Principal | None = None
    purpose: str | None = None
    subject_kind: str | None = None
    subject: str | None = None
    subject_regions: tuple[str, ...] = ()
    regions_checked: bool = False

    def about(self, kind: str, subject: str | None, regions: Iterable[str] | None) -> None:
        """Name the request's subject; with `regions`, check the principal may see them."""
        self.subject_kind, self.subject = kind, subject
        if regions is None:
            return
        self.subject_regions = tuple(sorted({r for r in regions if r}))
        assert self.principal is not None
        if not self.principal.may_see(self.accepted, self.subject_regions):
            raise Refused(
                403,
                "forbidden_region",
                f"this {kind} is not in your region ({self.principal.region or 'none'})",
            )
        self.regions_checked = True


_current: ContextVar[Lookup] = ContextVar("shebao_read_lookup")


def current() -> Lookup:
    """The request a read route is running for."""
    return _current.get()


def about(kind: str, subject: str | None, regions: Iterable[str] | None = None) -> None:
    """Inside a read route: whom this request is about, and the pooling regions the subject
    belongs to (None while they are not known, e.g. before a 404). Raises `Refused` (403) when
    the caller's region is not among them."""
    lookup = _current.get(None)
    if lookup is not None:  # a route called directly (a unit test) has no request to check
        lookup.about(kind, subject, regions)


@contextlib.contextmanager
def running(lookup: Lookup) -> Any:
    token = _current.set(lookup)
    try:
        yield lookup
    finally:
        _current.reset(token)


def purpose_of(headers: dict[str, str]) -> str | None:
    """The caller's stated purpose, or `Refused` (400) when missing or unreadable."""
    purpose = headers.get(PURPOSE_HEADER, "").strip()
    if not purpose:
        raise Refused(
            400,
            "purpose_required",
            "say why you look this up: header X-Shebao-Purpose (e.g. 'counter enquiry')",
        )
    if len(purpose) > MAX_PURPOSE_CHARS or not purpose.isprintable():
        raise Refused(
            400, "invalid_purpose", f"X-Shebao-Purpose: printable, at most {MAX_PURPOSE_CHARS}"
        )
    return purpose


def outcome_of(status: int) -> Outcome:
    if status < 400:
        return "allowed"
    if status == 401:
        return "unauthenticated"
    if status == 403:
        return "forbidden"
    if status == 404:
        return "not_found"
    return "invalid" if status < 500 else "failed"


def record_of(
    lookup: Lookup, *, service: str, request_id: str, status: int, reason: str | None
) -> ReadAudited:
    p = lookup.principal
    return ReadAudited(
        request_id=request_id,
        service=service,
        route=lookup.route,
        actor=p.sub if p is not None else ANONYMOUS,
        issuer=p.issuer if p is not None else None,
        roles=tuple(sorted(p.roles)) if p is not None else (),
        actor_region=p.region if p is not None else None,
        subject_kind=lookup.subject_kind,
        subject=mask_ids(lookup.subject) if lookup.subject else None,
        subject_regions=lookup.subject_regions,
        purpose=lookup.purpose,
        status=status,
        outcome=outcome_of(status),
        reason=reason[:256] if reason else None,
        at=datetime.now(UTC),
    )


class AuditLog:
    """Publishes `ReadAudited` records with one idempotent producer, started on first use and
    reused by every request."""

    def __init__(
        self,
        service: str,
        topic: str | None,
        make_producer: Callable[[], AIOKafkaProducer],
        timeout: float,
    ) -> None:
        self.service = service
        self.topic = topic
        self.make_producer = make_producer
        self.timeout = timeout
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def _started(self) -> AIOKafkaProducer:
        if self._producer is not None:
            return self._producer
        async with self._lock:
            if self._producer is None:
                producer = self.make_producer()
                try:
                    await producer.start()
                except BaseException:
                    with contextlib.suppress(Exception):
                        await producer.stop()
                    raise
                self._producer = producer
            return self._producer

    async def publish(self, record: ReadAudited) -> bool:
        """Whether the record was acknowledged (acks=all) within the timeout."""
        if self.topic is None:
            log.error("no audit topic in the contract of %s: request refused", self.service)
            return False
        envelope = Envelope(
            id=record.request_id,
            type=ReadAudited.TYPE,
            source=f"/shebao/{self.service}",
            time=record.at,
            subject=record.route,
        )
        key = (record.subject or record.actor).encode()
        try:
            async with asyncio.timeout(self.timeout):
                producer = await self._started()
                sent = await producer.send(
                    self.topic,
                    record.model_dump_json().encode(),
                    key=key,
                    headers=envelope.to_headers(),
                )
                await sent
            return True
        except Exception as exc:
            log.error(
                "audit record %s not acknowledged: %s",
                record.request_id,
                str(exc) or type(exc).__name__,
            )
            return False

    async def stop(self) -> None:
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await self._producer.stop()
            self._producer = None
