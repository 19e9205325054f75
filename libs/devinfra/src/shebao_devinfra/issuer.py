"""A local token issuer for tests and the demo: an RSA key, its JWKS file, and minted tokens.

`LocalIssuer(directory)` keeps its private key in `directory/private/issuer-key.pem` (made once,
reused by every later issuer on the same directory, so a restarted service and its test agree)
and publishes the public half in `directory/public/jwks.json` (the folder compose mounts into
the services' containers, without the key); a service reads that file through
`SHEBAO_AUTH_JWKS_FILE` (`env()`). `mint(sub, roles, region, ttl)` signs a token the service
accepts; `LocalIssuer.foreign(directory)` is an issuer with its own key under the same `iss` and
audience, whose tokens a service configured for the first must refuse.

Development and tests only: nothing here is a secret of a deployment.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from shebao_common.auth import OPERATOR

ISSUER = "https://issuer.shebao.test"
AUDIENCE = "shebao"
OPERATOR_SUB = "test-operator"


class LocalIssuer:
    def __init__(
        self,
        directory: Path,
        *,
        issuer: str = ISSUER,
        audience: str = AUDIENCE,
        name: str = "issuer",
        publish: bool = True,
    ) -> None:
        self.directory = directory
        self.issuer = issuer
        self.audience = audience
        (directory / "private").mkdir(parents=True, exist_ok=True)
        (directory / "private").chmod(0o700)
        (directory / "public").mkdir(parents=True, exist_ok=True)
        key_path = directory / "private" / f"{name}-key.pem"
        if key_path.exists():
            loaded = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            assert isinstance(loaded, rsa.RSAPrivateKey)
            self.key = loaded
        else:
            self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            tmp = key_path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(
                self.key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
            tmp.chmod(0o600)
            tmp.replace(key_path)
        self.kid = f"{name}-{_thumb(self.public_jwk(kid=None))}"
        self.jwks_path = directory / "public" / "jwks.json"
        if publish:
            tmp = self.jwks_path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(self.jwks()))
            tmp.replace(self.jwks_path)

    @classmethod
    def foreign(cls, directory: Path) -> LocalIssuer:
        """Another key claiming to be the same issuer; its JWKS is not published."""
        return cls(directory, name="foreign", publish=False)

    def public_jwk(self, kid: str | None) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk |= {"use": "sig", "alg": "RS256"}
        if kid is not None:
            jwk["kid"] = kid
        return jwk

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.public_jwk(self.kid)]}

    def env(self) -> dict[str, str]:
        """What a service needs to verify this issuer's tokens."""
        return {
            "SHEBAO_AUTH_JWKS_FILE": str(self.jwks_path),
            "SHEBAO_AUTH_ISSUER": self.issuer,
            "SHEBAO_AUTH_AUDIENCE": self.audience,
        }

    def mint(
        self,
        sub: str,
        roles: Iterable[str],
        region: str | None = None,
        ttl: float = 300.0,
        *,
        not_before: float | None = None,
        kid: str | None = None,
        **claims: Any,
    ) -> str:
        """A signed access token; `ttl` may be negative (already expired)."""
        now = time.time()
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": sub,
            "iat": int(now),
            "exp": int(now + ttl),
            "jti": uuid.uuid4().hex,
            "roles": list(roles),
        }
        if region is not None:
            payload["region"] = region
        if not_before is not None:
            payload["nbf"] = int(not_before)
        payload |= claims
        return jwt.encode(payload, self.key, algorithm="RS256", headers={"kid": kid or self.kid})

    def operator_token(self, ttl: float = 3600.0) -> str:
        """A province-wide token, what tests and the demo read the read side with."""
        return self.mint(OPERATOR_SUB, [OPERATOR], ttl=ttl)


def dev_issuer(root: Path) -> LocalIssuer:
    """The development issuer of a checkout (`.infra/auth`, ignored by git): what `make up`'s
    services trust and what the demo and the compose tests mint their tokens with."""
    return LocalIssuer(root / ".infra" / "auth")


def _thumb(jwk: dict[str, Any]) -> str:
    """A short, stable key id from the public key (RFC 7638 thumbprint, first 16 characters)."""
    import base64
    import hashlib

    canonical = json.dumps({k: jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")[:16]
