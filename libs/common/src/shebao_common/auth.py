"""Bearer tokens for the read side: OIDC access tokens (JWT) verified against the issuer's JWKS.

A token is accepted when it is signed with RS256 or ES256 by a key of the configured JWKS (never
`none`, never an HMAC algorithm: a public key is not a shared secret), and its `iss`, `aud`,
`exp` and (when present) `nbf` hold, with a small leeway for clock skew. It must name its
subject (`sub`). What the bearer may do comes from two claims:

- `roles`: a list of role names (`counter`, `auditor`, `operator`, ...); each read route declares
  the roles it accepts (`shebao_common.runtime.access.readable_by`);
- `region`: the pooling region a regional role works for (a six-digit code, e.g. 320100 for
  Nanjing). A `counter` sees the persons, employers and households of its region only; the
  province-wide roles (`auditor`, `operator`) see every region.

The JWKS comes from a URL (fetched over HTTP(S), cached, fetched again after
`auth_jwks_max_age_seconds`, and at once, rate-limited, when a token names a key id it does not
hold: the identity provider rotates its keys) or from a mounted file (read again the same way).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.request
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

ALGORITHMS = ("RS256", "ES256")
"""The only signature algorithms accepted."""

COUNTER = "counter"
AUDITOR = "auditor"
OPERATOR = "operator"
PROVINCE_WIDE = frozenset({AUDITOR, OPERATOR})
"""Roles that see every region; every other role sees its token's `region` only."""
ANY_ROLE = frozenset({COUNTER, AUDITOR, OPERATOR})

ANONYMOUS = "anonymous"
_REGION = re.compile(r"^[1-8][0-9]{5}$")
_MAX_TOKEN_CHARS = 16 * 1024
_MAX_JWKS_BYTES = 1024 * 1024


class Unauthenticated(Exception):
    """The request carries no valid token (401); `reason` says why, in words safe to answer."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class KeysUnavailable(Exception):
    """The JWKS could not be read: the platform's failure, not the caller's (503)."""


@dataclass(frozen=True)
class Principal:
    """Who a valid token speaks for."""

    sub: str
    issuer: str
    roles: frozenset[str]
    region: str | None

    def province_wide(self, accepted: Collection[str]) -> bool:
        """Whether one of the roles a route accepts lets this principal see every region."""
        return bool(self.roles & PROVINCE_WIDE & frozenset(accepted))

    def may_see(self, accepted: Collection[str], regions: Collection[str]) -> bool:
        """A route accepting `accepted` roles may show this principal a subject of `regions`:
        a province-wide role sees all; a regional role its token's region (a subject with no
        known region is for the province-wide roles only)."""
        if self.province_wide(accepted):
            return True
        return self.region is not None and self.region in regions


Fetch = Callable[[], Awaitable[bytes]]


def url_fetcher(url: str, timeout: float = 5.0) -> Fetch:
    """Fetch a JWKS over HTTP(S), in a thread (urllib blocks)."""

    def call() -> bytes:
        request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
        with urllib.request.urlopen(request, timeout=timeout) as r:  # noqa: S310 - configured URL
            return bytes(r.read(_MAX_JWKS_BYTES + 1))

    async def fetch() -> bytes:
        return await asyncio.to_thread(call)

    return fetch


def file_fetcher(path: Path) -> Fetch:
    async def fetch() -> bytes:
        return await asyncio.to_thread(path.read_bytes)

    return fetch


def signing_keys(jwks: bytes) -> dict[str, tuple[str, jwt.PyJWK]]:
    """key id -> (algorithm, key) of the usable signing keys of a JWKS document: RSA keys of
    2048 bits or more (RS256) and P-256 keys (ES256); every other key is left out."""
    if len(jwks) > _MAX_JWKS_BYTES:
        raise ValueError("JWKS larger than 1 MiB")
    doc = json.loads(jwks)
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
        raise ValueError("not a JWKS: no 'keys' list")
    out: dict[str, tuple[str, jwt.PyJWK]] = {}
    for data in doc["keys"]:
        if not isinstance(data, dict) or data.get("use", "sig") != "sig":
            continue
        kty, crv = data.get("kty"), data.get("crv")
        alg = "RS256" if kty == "RSA" else "ES256" if kty == "EC" and crv == "P-256" else None
        if alg is None or data.get("alg", alg) != alg:
            continue
        try:
            key = jwt.PyJWK(data, algorithm=alg)
        except (jwt.PyJWKError, ValueError, TypeError):
            continue
        material = key.key
        if isinstance(material, rsa.RSAPublicKey) and material.key_size < 2048:
            continue
        if not isinstance(material, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
            continue  # a private key published by mistake is not used
        out[str(data.get("kid", ""))] = (alg, key)
    return out


class TokenVerifier:
    """Verifies bearer tokens against one issuer's JWKS; safe to share by every request."""

    def __init__(
        self,
        *,
        fetch: Fetch | None,
        issuer: str | None,
        audience: str,
        leeway: float = 30.0,
        refresh_seconds: float = 30.0,
        max_age_seconds: float = 3600.0,
    ) -> None:
        """`fetch` None (or no issuer) means no issuer is configured: every token is refused."""
        self.fetch = fetch if issuer else None
        self.issuer = issuer or ""
        self.audience = audience
        self.leeway = leeway
        self.refresh_seconds = refresh_seconds
        self.max_age_seconds = max_age_seconds
        self._keys: dict[str, tuple[str, jwt.PyJWK]] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0

    @classmethod
    def from_settings(cls, s: Any) -> TokenVerifier:
        """From a `ServiceSettings` (its `auth_*` fields)."""
        fetch: Fetch | None = None
        if s.auth_jwks_url:
            fetch = url_fetcher(s.auth_jwks_url)
        elif s.auth_jwks_file is not None:
            fetch = file_fetcher(Path(s.auth_jwks_file))
        return cls(
            fetch=fetch,
            issuer=s.auth_issuer,
            audience=s.auth_audience,
            leeway=s.auth_leeway_seconds,
            refresh_seconds=s.auth_jwks_refresh_seconds,
            max_age_seconds=s.auth_jwks_max_age_seconds,
        )

    @property
    def configured(self) -> bool:
        return self.fetch is not None

    async def _load(self, *, because_unknown: bool) -> None:
        async with self._lock:
            now = time.monotonic()
            if self._fetched_at is not None:
                age = now - self._fetched_at
                if because_unknown and age < self.refresh_seconds:
                    return
                if not because_unknown and age < self.max_age_seconds:
                    return
            assert self.fetch is not None
            try:
                keys = signing_keys(await self.fetch())
            except Exception as exc:
                if self._keys:  # keep the keys we have; try again after the refresh interval
                    self._fetched_at = now - self.max_age_seconds + self.refresh_seconds
                    return
                raise KeysUnavailable(f"the token issuer's keys could not be read: {exc}") from exc
            self.fetches += 1
            self._keys, self._fetched_at = keys, now

    async def _key(self, kid: str) -> tuple[str, jwt.PyJWK] | None:
        await self._load(because_unknown=False)
        found = self._keys.get(kid)
        if found is None:
            await self._load(because_unknown=True)
            found = self._keys.get(kid)
        if found is None and not kid and len(self._keys) == 1:
            found = next(iter(self._keys.values()))  # a JWKS of one key, a token without kid
        return found

    async def verify(self, authorization: str | None) -> Principal:
        """The principal of an `Authorization: Bearer <token>` header, or `Unauthenticated`."""
        if self.fetch is None:
            raise Unauthenticated(
                "no token issuer is configured on this service (SHEBAO_AUTH_JWKS_URL or "
                "SHEBAO_AUTH_JWKS_FILE, and SHEBAO_AUTH_ISSUER): every request is refused"
            )
        if not authorization:
            raise Unauthenticated("no bearer token (Authorization: Bearer <token>)")
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("the Authorization header is not 'Bearer <token>'")
        if len(token) > _MAX_TOKEN_CHARS:
            raise Unauthenticated("the token is too long")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise Unauthenticated("the token is not a JWT") from None
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise Unauthenticated(f"tokens must be signed with {' or '.join(ALGORITHMS)}")
        kid = header.get("kid") or ""
        if not isinstance(kid, str):
            raise Unauthenticated("the token's key id is not a string")
        found = await self._key(kid)
        if found is None:
            raise Unauthenticated("the token is signed by a key the issuer does not publish")
        key_alg, key = found
        if key_alg != alg:
            raise Unauthenticated("the token's algorithm does not match its key")
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise Unauthenticated("the token is not valid yet (nbf)") from None
        except jwt.InvalidIssuerError:
            raise Unauthenticated("the token is from another issuer") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated("the token is for another audience") from None
        except jwt.InvalidSignatureError:
            raise Unauthenticated("the token's signature does not verify") from None
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthenticated(f"the token has no {exc.claim!r} claim") from None
        except jwt.InvalidTokenError:
            raise Unauthenticated("the token is not valid") from None
        return principal_of(claims)


def principal_of(claims: dict[str, Any]) -> Principal:
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > 256:
        raise Unauthenticated("the token's sub is not a string of 1 to 256 characters")
    raw_roles = claims.get("roles", [])
    if not isinstance(raw_roles, list) or not all(isinstance(r, str) for r in raw_roles):
        raise Unauthenticated("the token's roles claim is not a list of strings")
    region = claims.get("region")
    if region is not None and not (isinstance(region, str) and _REGION.match(region)):
        raise Unauthenticated("the token's region claim is not a six-digit region code")
    return Principal(
        sub=sub,
        issuer=str(claims.get("iss", "")),
        roles=frozenset(raw_roles),
        region=region,
    )
