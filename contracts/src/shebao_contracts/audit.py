"""The audit trail of the read side: one `ReadAudited` per request to a service's HTTP read routes.

Every request to a read route (a person, an employer's ledger, a household, a region's totals)
is recorded on its service's `shebao.<service>.audit.v1` before it is answered, the refused ones
(no or bad token: 401, wrong role or region: 403) as well as the answered ones. A record says who
asked (the token's `sub`, or `anonymous`), about whom (a person by their keyed reference, never a
raw citizen ID; an employer by its code; a household by its id), on which route, with what
outcome, when, and the purpose the caller stated (`X-Shebao-Purpose`). The query string is not
recorded: it may hold a citizen ID.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import Field

from .envelope import Message
from .topics import Topic

Outcome = Literal["allowed", "invalid", "unauthenticated", "forbidden", "not_found", "failed"]


class ReadAudited(Message):
    """A request to a read route, as it was decided (recorded before the answer is sent)."""

    TYPE = "shebao.audit.ReadAudited"

    request_id: str = Field(max_length=64, description="unique per request; also the ce_id")
    service: str = Field(max_length=64)
    route: str = Field(max_length=128, description="the path, without the query string")
    actor: str = Field(
        max_length=256, description="the token's `sub`, or `anonymous` when no token was valid"
    )
    issuer: str | None = Field(None, max_length=512)
    roles: tuple[str, ...] = ()
    actor_region: str | None = Field(None, max_length=16, description="the token's `region`")
    subject_kind: str | None = Field(
        None, max_length=32, description="person, employer, household, hospital, region, ..."
    )
    subject: str | None = Field(
        None,
        max_length=128,
        description="whom the request was about: a person's keyed reference (never a citizen ID)",
    )
    subject_regions: tuple[str, ...] = Field(
        (), description="the pooling regions the subject belongs to, as authorisation saw them"
    )
    purpose: str | None = Field(None, max_length=200, description="the caller's stated purpose")
    status: int = Field(ge=100, le=599, description="the HTTP status answered")
    outcome: Outcome
    reason: str | None = Field(None, max_length=256, description="why a request was refused")
    at: datetime

    EXAMPLE: ClassVar[dict[str, Any]] = {
        "request_id": "5f0c1a8e9b7d4c2a8f6e3d1b0a9c8e7f",
        "service": "enrollment",
        "route": "/persons",
        "actor": "counter-320100-0042",
        "issuer": "https://idp.shebao.example/realms/shebao",
        "roles": ["counter"],
        "actor_region": "320100",
        "subject_kind": "person",
        "subject": "3f1b0c9a7e5d4b2c8a6f4e2d0c9b7a5e",
        "subject_regions": ["320100"],
        "purpose": "counter enquiry",
        "status": 200,
        "outcome": "allowed",
        "reason": None,
        "at": "2025-01-15T09:30:00+08:00",
    }


def audit_topic(service: str) -> Topic:
    """The audit topic of one service: written by it alone, read by auditors' tools."""
    return Topic(
        f"shebao.{service}.audit.v1",
        owner=service,
        key="the subject (person reference, employer code, ...) or, without one, the actor",
        messages=(ReadAudited,),
        description="Every request to the service's HTTP read side: who, about whom, route,"
        " outcome, when and why (`ReadAudited`). Kept without time limit.",
    )
