"""Principals and ACLs on a running cluster, through the admin client's connection.

aiokafka's admin client has no call for SCRAM credentials or ACLs, but speaks the wire protocol:
the requests below are Kafka's own (CreateAcls v1, DescribeAcls v1, DeleteAcls v1 and
AlterUserScramCredentials v0, KIP-554), sent on the admin client's connection. The salted
password is computed here as the SCRAM RFC says, so the password never travels.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import for_code
from aiokafka.protocol.admin import (
    CreateAclsRequest_v1,
    DeleteAclsRequest_v1,
    DescribeAclsRequest_v1,
)
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import (
    CompactArray,
    CompactBytes,
    CompactString,
    Int8,
    Int16,
    Int32,
    Schema,
    TaggedFields,
)

from shebao_contracts.access import Acl, Operation, PatternType, ResourceType

SCRAM_ITERATIONS = 8192
_MECHANISMS = {"SCRAM-SHA-256": (1, "sha256"), "SCRAM-SHA-512": (2, "sha512")}
_ALLOW = 3
_ANY = 1


class KafkaAdminError(RuntimeError):
    """The broker refused an admin request; the message carries its error."""


class _AlterScramResponse_v0(Response):  # type: ignore[misc]
    API_KEY = 51
    API_VERSION = 0
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "results",
            CompactArray(
                ("user", CompactString("utf-8")),
                ("error_code", Int16),
                ("error_message", CompactString("utf-8")),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class _AlterScramRequest_v0(RequestStruct):  # type: ignore[misc]
    FLEXIBLE_VERSION = True
    API_KEY = 51
    API_VERSION = 0
    RESPONSE_TYPE = _AlterScramResponse_v0
    SCHEMA = Schema(
        (
            "deletions",
            CompactArray(
                ("name", CompactString("utf-8")),
                ("mechanism", Int8),
                ("tags", TaggedFields),
            ),
        ),
        (
            "upsertions",
            CompactArray(
                ("name", CompactString("utf-8")),
                ("mechanism", Int8),
                ("iterations", Int32),
                ("salt", CompactBytes),
                ("salted_password", CompactBytes),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class _AlterScram(Request[_AlterScramRequest_v0]):  # type: ignore[misc]
    API_KEY = 51

    def __init__(self, deletions: list[Any], upsertions: list[Any]) -> None:
        self._deletions = deletions
        self._upsertions = upsertions

    def build(self, request_struct_class: type[_AlterScramRequest_v0]) -> _AlterScramRequest_v0:
        return request_struct_class(self._deletions, self._upsertions, {})


class _CreateAcls(Request[CreateAclsRequest_v1]):  # type: ignore[misc]
    API_KEY = 30

    def __init__(self, creations: list[tuple[Any, ...]]) -> None:
        self._creations = creations

    def build(self, request_struct_class: type[CreateAclsRequest_v1]) -> CreateAclsRequest_v1:
        return request_struct_class(self._creations)


class _DescribeAcls(Request[DescribeAclsRequest_v1]):  # type: ignore[misc]
    API_KEY = 29

    def __init__(self, principal: str | None) -> None:
        self._principal = principal

    def build(self, request_struct_class: type[DescribeAclsRequest_v1]) -> DescribeAclsRequest_v1:
        # any resource type, any name, any pattern, this principal, any host/operation/permission
        return request_struct_class(_ANY, None, _ANY, self._principal, None, _ANY, _ANY)


class _DeleteAcls(Request[DeleteAclsRequest_v1]):  # type: ignore[misc]
    API_KEY = 31

    def __init__(self, principal: str) -> None:
        self._principal = principal

    def build(self, request_struct_class: type[DeleteAclsRequest_v1]) -> DeleteAclsRequest_v1:
        return request_struct_class([(_ANY, None, _ANY, self._principal, None, _ANY, _ANY)])


def _raise(code: int, message: str | None, what: str) -> None:
    if code:
        raise KafkaAdminError(f"{what}: {for_code(code).__name__}: {message or ''}".strip())


def salted(password: str, mechanism: str, salt: bytes, iterations: int) -> bytes:
    """SCRAM's SaltedPassword: Hi(password, salt, i) = PBKDF2 with the mechanism's HMAC."""
    return hashlib.pbkdf2_hmac(_MECHANISMS[mechanism][1], password.encode(), salt, iterations)


async def upsert_scram_user(
    admin: AIOKafkaAdminClient, user: str, password: str, mechanism: str = "SCRAM-SHA-512"
) -> None:
    """Create the user's SCRAM credential, or replace its password."""
    code, _ = _MECHANISMS[mechanism]
    salt = os.urandom(32)
    upsert: tuple[Any, ...] = (
        user,
        code,
        SCRAM_ITERATIONS,
        salt,
        salted(password, mechanism, salt, SCRAM_ITERATIONS),
        {},
    )
    resp = await admin._send_to_controller(_AlterScram([], [upsert]))
    for r in resp.results:
        _raise(r[1], r[2], f"SCRAM credential of {r[0]}")


async def delete_scram_user(
    admin: AIOKafkaAdminClient, user: str, mechanism: str = "SCRAM-SHA-512"
) -> None:
    """Remove the user's credential; a user that has none is not an error."""
    resp = await admin._send_to_controller(_AlterScram([(user, _MECHANISMS[mechanism][0], {})], []))
    for r in resp.results:
        if for_code(r[1]).__name__ != "ResourceNotFoundError":
            _raise(r[1], r[2], f"SCRAM credential of {r[0]}")


async def create_acls(admin: AIOKafkaAdminClient, acls: Iterable[Acl]) -> int:
    """Add ALLOW bindings (existing ones are kept, an identical one is not doubled)."""
    creations = [
        (int(a.resource), a.name, int(a.pattern), a.principal, "*", int(a.operation), _ALLOW)
        for a in acls
    ]
    if not creations:
        return 0
    resp = await admin._send_request(_CreateAcls(creations))
    for code, message in resp.creation_responses:
        _raise(code, message, "CreateAcls")
    return len(creations)


async def describe_acls(admin: AIOKafkaAdminClient, user: str | None = None) -> list[Acl]:
    """The ALLOW bindings of one user (of every user when None)."""
    principal = None if user is None else f"User:{user}"
    resp = await admin._send_request(_DescribeAcls(principal))
    _raise(resp.error_code, resp.error_message, "DescribeAcls")
    out: list[Acl] = []
    for rtype, name, ptype, acls in resp.resources:
        for p, _host, op, perm in acls:
            if perm == _ALLOW:
                out.append(
                    Acl(
                        p.removeprefix("User:"),
                        ResourceType(rtype),
                        name,
                        PatternType(ptype),
                        Operation(op),
                    )
                )
    return sorted(out)


async def delete_acls(admin: AIOKafkaAdminClient, user: str) -> int:
    """Remove every binding of the user; the number removed."""
    resp = await admin._send_request(_DeleteAcls(f"User:{user}"))
    removed = 0
    for code, message, matching in resp.filter_responses:
        _raise(code, message, "DeleteAcls")
        removed += len(matching)
    return removed


async def grant(admin: AIOKafkaAdminClient, user: str, password: str, acls: Sequence[Acl]) -> None:
    """The user exists with this password and exactly these ACLs (idempotent)."""
    await upsert_scram_user(admin, user, password)
    have = set(await describe_acls(admin, user))
    if have - set(acls):
        await delete_acls(admin, user)
        have = set()
    await create_acls(admin, [a for a in acls if a not in have])


async def revoke(admin: AIOKafkaAdminClient, user: str) -> None:
    await delete_acls(admin, user)
    await delete_scram_user(admin, user)
