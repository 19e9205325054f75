"""The read side's token verifier, without a broker: signatures, claims, JWKS from a file and
over HTTP, key rotation, and who may see which region."""

from __future__ import annotations

import asyncio
import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import ValidationError

from shebao_common.auth import (
    AUDITOR,
    COUNTER,
    OPERATOR,
    KeysUnavailable,
    Principal,
    TokenVerifier,
    Unauthenticated,
    file_fetcher,
    url_fetcher,
)
from shebao_common.runtime.access import Lookup, Refused, readable_by, roles_of
from shebao_common.settings import ServiceSettings
from shebao_devinfra.issuer import AUDIENCE, ISSUER, LocalIssuer

NANJING, SUZHOU = "320100", "320500"


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> LocalIssuer:
    return LocalIssuer(tmp_path_factory.mktemp("auth"))


def verifier(issuer: LocalIssuer, **kw: Any) -> TokenVerifier:
    return TokenVerifier(
        fetch=file_fetcher(issuer.jwks_path), issuer=ISSUER, audience=AUDIENCE, **kw
    )


def verify(v: TokenVerifier, token: str | None) -> Principal:
    return asyncio.run(v.verify(None if token is None else f"Bearer {token}"))


def refused(v: TokenVerifier, header: str | None) -> str:
    with pytest.raises(Unauthenticated) as caught:
        asyncio.run(v.verify(header))
    return caught.value.reason


def test_a_valid_token_gives_its_subject_roles_and_region(issuer: LocalIssuer) -> None:
    p = verify(verifier(issuer), issuer.mint("counter-7", [COUNTER], NANJING))
    assert p == Principal("counter-7", ISSUER, frozenset({COUNTER}), NANJING)


def test_expired_and_not_yet_valid_tokens_are_refused(issuer: LocalIssuer) -> None:
    v = verifier(issuer, leeway=5)
    assert "expired" in refused(v, "Bearer " + issuer.mint("a", [OPERATOR], ttl=-60))
    later = issuer.mint("a", [OPERATOR], not_before=time.time() + 600)
    assert "not valid yet" in refused(v, f"Bearer {later}")
    # within the leeway both still pass
    assert verify(v, issuer.mint("a", [OPERATOR], ttl=-2)).sub == "a"


def test_wrong_issuer_or_audience_is_refused(issuer: LocalIssuer) -> None:
    v = verifier(issuer)
    assert "another issuer" in refused(
        v, "Bearer " + issuer.mint("a", [OPERATOR], iss="https://elsewhere")
    )
    assert "another audience" in refused(
        v, "Bearer " + issuer.mint("a", [OPERATOR], aud="someone-else")
    )


def test_a_foreign_key_is_refused_under_any_key_id(issuer: LocalIssuer, tmp_path: Path) -> None:
    v = verifier(issuer)
    forger = LocalIssuer.foreign(tmp_path)
    assert "does not publish" in refused(v, "Bearer " + forger.mint("a", [OPERATOR]))
    # claiming the real key's id does not help: the signature does not verify
    same_kid = forger.mint("a", [OPERATOR], kid=issuer.kid)
    assert "signature" in refused(v, f"Bearer {same_kid}")


def test_none_and_hmac_are_refused_even_with_the_public_key_as_secret(
    issuer: LocalIssuer,
) -> None:
    v = verifier(issuer)
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "a", "exp": time.time() + 60}
    claims["roles"] = [OPERATOR]
    unsigned = jwt.encode(claims, None, algorithm="none", headers={"kid": issuer.kid})
    assert "RS256 or ES256" in refused(v, f"Bearer {unsigned}")
    public_pem = issuer.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # the classic confusion: HS256 with the RSA public key as the shared secret
    forged = _hs256(claims, public_pem, issuer.kid)
    assert "RS256 or ES256" in refused(v, f"Bearer {forged}")


def _hs256(claims: dict[str, Any], secret: bytes, kid: str) -> str:
    import base64
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    body = b64(json.dumps(claims).encode())
    sig = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


def test_missing_or_malformed_headers_are_refused(issuer: LocalIssuer) -> None:
    v = verifier(issuer)
    assert "no bearer token" in refused(v, None)
    assert "Bearer <token>" in refused(v, "Basic dXNlcjpwYXNz")
    assert "not a JWT" in refused(v, "Bearer not-a-token")
    no_sub = issuer.mint("", [OPERATOR])
    assert "sub" in refused(v, f"Bearer {no_sub}")
    bad_region = issuer.mint("a", [COUNTER], region="Nanjing")
    assert "region" in refused(v, f"Bearer {bad_region}")


def test_without_an_issuer_configured_everything_is_refused(issuer: LocalIssuer) -> None:
    for v in (
        TokenVerifier(fetch=None, issuer=ISSUER, audience=AUDIENCE),
        TokenVerifier(fetch=file_fetcher(issuer.jwks_path), issuer=None, audience=AUDIENCE),
    ):
        assert not v.configured
        reason = refused(v, "Bearer " + issuer.operator_token())
        assert "no token issuer is configured" in reason and "SHEBAO_AUTH_JWKS_URL" in reason


def test_an_es256_key_is_accepted(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [jwk | {"kid": "ec1"}]}))
    v = TokenVerifier(fetch=file_fetcher(tmp_path / "jwks.json"), issuer=ISSUER, audience="x")
    token = jwt.encode(
        {"iss": ISSUER, "aud": "x", "sub": "e", "exp": time.time() + 60, "roles": [AUDITOR]},
        key,
        algorithm="ES256",
        headers={"kid": "ec1"},
    )
    assert verify(v, token).roles == {AUDITOR}
    # an RS256 header against the EC key is refused before any signature check
    rs = LocalIssuer(tmp_path / "rs").mint("e", [AUDITOR], kid="ec1", aud="x")
    assert "does not match" in refused(v, f"Bearer {rs}")


def test_a_rotated_key_is_picked_up_and_unknown_ids_do_not_flood(tmp_path: Path) -> None:
    old = LocalIssuer(tmp_path, name="old")
    forged = LocalIssuer.foreign(tmp_path).operator_token()
    v = TokenVerifier(
        fetch=file_fetcher(old.jwks_path), issuer=ISSUER, audience=AUDIENCE, refresh_seconds=1.0
    )

    async def run() -> None:
        assert (await v.verify("Bearer " + old.operator_token())).sub
        assert v.fetches == 1
        new = LocalIssuer(tmp_path, name="new")  # rewrites jwks.json with the new key only
        await asyncio.sleep(1.1)
        # an unknown key id reads the JWKS again, once per refresh interval at most
        for _ in range(20):
            with pytest.raises(Unauthenticated):
                await v.verify(f"Bearer {forged}")
        assert v.fetches == 2
        assert (await v.verify("Bearer " + new.operator_token())).sub  # read with the forgery
        newer = LocalIssuer(tmp_path, name="newer")
        await asyncio.sleep(1.1)
        assert (await v.verify("Bearer " + newer.operator_token())).sub
        assert v.fetches == 3
        with pytest.raises(Unauthenticated, match="does not publish"):
            await v.verify("Bearer " + old.operator_token())  # rotated out

    asyncio.run(run())


@pytest.fixture
def served(issuer: LocalIssuer) -> Iterator[tuple[str, list[int]]]:
    """The issuer's JWKS over real HTTP, counting the requests."""
    hits: list[int] = []
    body = issuer.jwks_path.read_bytes()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(1)
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/certs", hits
    finally:
        server.shutdown()
        server.server_close()


def test_the_jwks_is_fetched_over_http_and_cached(
    issuer: LocalIssuer, served: tuple[str, list[int]]
) -> None:
    url, hits = served
    v = TokenVerifier(fetch=url_fetcher(url), issuer=ISSUER, audience=AUDIENCE)

    async def run() -> None:
        for i in range(5):
            assert (await v.verify("Bearer " + issuer.mint(f"u{i}", [OPERATOR]))).sub == f"u{i}"

    asyncio.run(run())
    assert len(hits) == 1


def test_an_unreachable_jwks_is_the_platforms_failure(issuer: LocalIssuer) -> None:
    v = TokenVerifier(
        fetch=url_fetcher("http://127.0.0.1:9/certs", timeout=1), issuer=ISSUER, audience=AUDIENCE
    )
    with pytest.raises(KeysUnavailable):
        verify(v, issuer.operator_token())


def test_regions_counters_see_their_own_and_province_wide_roles_all() -> None:
    every = (COUNTER, AUDITOR, OPERATOR)
    nj_counter = Principal("c", ISSUER, frozenset({COUNTER}), NANJING)
    auditor = Principal("a", ISSUER, frozenset({AUDITOR}), None)
    assert nj_counter.may_see(every, {NANJING, SUZHOU})
    assert not nj_counter.may_see(every, {SUZHOU})
    assert not nj_counter.may_see(every, set())  # a subject of no known region
    assert auditor.may_see(every, {SUZHOU}) and auditor.may_see(every, set())
    # a province-wide role counts only where the route accepts it
    assert not auditor.may_see((COUNTER,), {SUZHOU})

    lookup = Lookup(route="/persons", accepted=frozenset(every), principal=nj_counter)
    with pytest.raises(Refused) as caught:
        lookup.about("person", "ab" * 16, [SUZHOU])
    assert caught.value.status == 403 and not lookup.regions_checked
    lookup.about("person", "ab" * 16, [NANJING])
    assert lookup.regions_checked


def test_a_route_must_declare_its_roles() -> None:
    @readable_by(COUNTER)
    async def declared(query: dict[str, str], rt: Any) -> tuple[int, Any]:
        return 200, {}

    assert roles_of(declared) == {COUNTER}
    with pytest.raises(ValueError, match="at least one role"):
        readable_by()


def test_production_refuses_to_start_without_a_token_issuer() -> None:
    def settings(**env: str) -> ServiceSettings:
        base = {
            "SHEBAO_ENVIRONMENT": "production",
            "SHEBAO_PSEUDONYM_KEY": "k" * 40,
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_USERNAME": "shebao-enrollment",
            "KAFKA_PASSWORD": "pw",
        }
        return ServiceSettings(**(base | env))  # type: ignore[arg-type]

    with pytest.raises(ValidationError, match="SHEBAO_AUTH_JWKS_URL"):
        settings()
    with pytest.raises(ValidationError, match="SHEBAO_AUTH_ISSUER"):
        settings(SHEBAO_AUTH_JWKS_URL="https://idp/certs")
    with pytest.raises(ValidationError, match="placeholders"):
        settings(
            SHEBAO_AUTH_JWKS_URL="https://idp.shebao.invalid/certs",
            SHEBAO_AUTH_ISSUER="https://idp.shebao.invalid",
        )
    ok = settings(SHEBAO_AUTH_JWKS_URL="https://idp/certs", SHEBAO_AUTH_ISSUER="https://idp")
    assert ok.auth_configured and ok.environment == "production"
    dev = ServiceSettings(**{"SHEBAO_ENVIRONMENT": "test"})  # type: ignore[arg-type]
    assert not dev.auth_configured  # starts, and refuses every read-side request (401)


def test_the_runtime_refuses_a_route_without_roles() -> None:
    from shebao_common.runtime import ServiceRuntime
    from shebao_contracts.topics import Registry

    async def undeclared(query: dict[str, str], rt: Any) -> tuple[int, Any]:
        return 200, {}

    with pytest.raises(ValueError, match="declare no roles"):
        ServiceRuntime(
            name="x",
            settings=ServiceSettings(),
            registry=Registry(),
            subscriptions=[],
            routes=[("/open", undeclared)],
        )
