"""The console's server (propfee.console): the built files with the router's fallback, the
API proxy (path, query, headers and body passed through as sent; the answer streamed back)
and the development sign-in (present only in development; its tokens verify like the
services verify them)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from propfee.auth import Role, TokenVerifier
from propfee.auth.dev import DevIssuer
from propfee.console import ConsoleSettings, create_app
from tests.support.auth import auth_settings


class Chunks(httpx.AsyncByteStream):
    """An upstream answer arriving in pieces."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><div id=app></div>")
    (tmp_path / "assets" / "app-1234.js").write_text("console.log(1)")
    return tmp_path


def settings(dist: Path, environment: str = "development") -> ConsoleSettings:
    return ConsoleSettings(
        dist=dist,
        billing_url="http://billing.test",
        payments_url="http://payments.test",
        PROPFEE_ENVIRONMENT=environment,  # type: ignore[call-arg]
    )


def test_static_files_and_the_routers_fallback(dist: Path) -> None:
    with TestClient(create_app(settings(dist))) as client:
        r = client.get("/assets/app-1234.js")
        assert r.status_code == 200 and "immutable" in r.headers["cache-control"]
        for path in ("/", "/cashier?community=c-1&unit=u-1", "/sign-in"):
            r = client.get(path)
            assert r.status_code == 200 and "id=app" in r.text, path
            assert r.headers["cache-control"] == "no-cache"
            assert "script-src 'self';" in r.headers["content-security-policy"]
        assert "id=app" in client.get("/../../etc/passwd").text  # never outside dist


def test_the_proxy_passes_requests_through_and_streams_answers(dist: Path) -> None:
    seen: list[httpx.Request] = []

    async def upstream(request: httpx.Request) -> httpx.Response:
        await request.aread()  # the body arrives streamed
        seen.append(request)
        return httpx.Response(
            201,
            stream=Chunks(b'{"payment_id": ', b'"p-1"}'),
            headers={"content-type": "application/json", "x-request-id": "r-1"},
        )

    app = create_app(settings(dist), transport=httpx.MockTransport(upstream))
    with TestClient(app) as client:
        r = client.post(
            "/api/payments/payments/counter?x=1&x=2",
            content=json.dumps({"amount_fen": 100}),
            headers={
                "Authorization": "Bearer t",
                "Idempotency-Key": "counter-0123456789",
                "Content-Type": "application/json",
            },
        )
        assert r.status_code == 201 and r.json() == {"payment_id": "p-1"}
        assert r.headers["x-request-id"] == "r-1"
        (sent,) = seen
        assert str(sent.url) == "http://payments.test/payments/counter?x=1&x=2"
        assert sent.headers["authorization"] == "Bearer t"
        assert sent.headers["idempotency-key"] == "counter-0123456789"
        assert json.loads(sent.content) == {"amount_fen": 100}
        r = client.get("/api/billing/units/u%2F1/statement")
        assert str(seen[-1].url) == "http://billing.test/units/u%2F1/statement"
        assert client.get("/api/nothing/x").status_code == 404


def test_an_unreachable_service_is_a_502(dist: Path) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with TestClient(create_app(settings(dist), transport=httpx.MockTransport(down))) as client:
        r = client.get("/api/billing/units/u-1")
        assert r.status_code == 502
        assert r.headers["content-type"] == "application/problem+json"


async def test_the_dev_sign_in_mints_tokens_the_services_accept(
    dist: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    issuer = DevIssuer.load_or_create(tmp_path / "auth")
    monkeypatch.setenv("PROPFEE_AUTH_JWKS_FILE", str(issuer.jwks_path))
    with TestClient(create_app(settings(dist))) as client:
        assert client.get("/console/config").json()["dev_sign_in"] is True
        r = client.post(
            "/dev/sign-in",
            json={"subject": "clerk-7", "role": "fee_clerk", "company_id": "co-1",
                  "communities": ["c-1"]},
        )  # fmt: skip
        assert r.status_code == 200, r.text
        token = r.json()["access_token"]
        assert (
            client.post("/dev/sign-in", json={"role": "service", "company_id": "co-1"}).status_code
            == 422
        )
        assert (
            client.post("/dev/sign-in", json={"role": "nobody", "company_id": "co-1"}).status_code
            == 422
        )
    principal = await TokenVerifier(auth_settings(issuer)).verify(token)
    assert principal.subject == "clerk-7"
    assert principal.roles == {Role.fee_clerk}
    assert (principal.company_id, principal.communities) == ("co-1", {"c-1"})


def test_no_dev_sign_in_outside_development(dist: Path) -> None:
    with TestClient(create_app(settings(dist, environment="production"))) as client:
        assert client.get("/console/config").json()["dev_sign_in"] is False
        r = client.post("/dev/sign-in", json={"role": "fee_clerk", "company_id": "co-1"})
        assert r.status_code == 404


def test_the_identity_provider_is_named_in_the_configuration(dist: Path) -> None:
    """A public client (no secret); the CSP lets scripts reach the token endpoint's origin."""
    oidc = ConsoleSettings(
        dist=dist,
        oidc_issuer="https://id.example.com/realms/co-1",
        oidc_client_id="propfee-console",
        oidc_authorization_endpoint="https://id.example.com/realms/co-1/auth",
        oidc_token_endpoint="https://id.example.com/realms/co-1/token",
        PROPFEE_ENVIRONMENT="production",  # type: ignore[call-arg]
    )
    with TestClient(create_app(oidc)) as client:
        config = client.get("/console/config").json()
        assert config["dev_sign_in"] is False
        assert config["oidc"] == {
            "issuer": "https://id.example.com/realms/co-1",
            "client_id": "propfee-console",
            "authorization_endpoint": "https://id.example.com/realms/co-1/auth",
            "token_endpoint": "https://id.example.com/realms/co-1/token",
            "end_session_endpoint": None,
            "scope": "openid profile",
            "renew_before_s": 60,
        }
        csp = client.get("/sign-in").headers["content-security-policy"]
        assert "connect-src 'self' https://id.example.com;" in csp
        assert "form-action 'self'" in csp
    with TestClient(create_app(settings(dist))) as client:
        assert client.get("/console/config").json()["oidc"] is None
        csp = client.get("/").headers["content-security-policy"]
        assert "connect-src 'self';" in csp


def test_a_half_or_plain_http_identity_provider_is_refused(dist: Path) -> None:
    with pytest.raises(ValueError, match="half configured"):
        ConsoleSettings(dist=dist, oidc_issuer="https://id.example.com")
    endpoints = {
        "oidc_issuer": "http://id.example.com",
        "oidc_client_id": "propfee-console",
        "oidc_authorization_endpoint": "http://id.example.com/auth",
        "oidc_token_endpoint": "http://id.example.com/token",
    }
    with pytest.raises(ValueError, match="must be https"):
        ConsoleSettings(dist=dist, **endpoints, PROPFEE_ENVIRONMENT="production")  # type: ignore[call-arg]
    # A developer's machine (and the tests' fake IdP) may use plain HTTP.
    assert ConsoleSettings(dist=dist, **endpoints, PROPFEE_ENVIRONMENT="development").oidc()  # type: ignore[call-arg]
    # The end-session endpoint (sign-out at the IdP) is held to the same rule.
    https = {k: v.replace("http://", "https://") for k, v in endpoints.items()}
    with pytest.raises(ValueError, match="must be https"):
        ConsoleSettings(
            dist=dist,
            **https,
            oidc_end_session_endpoint="http://id.example.com/logout",
            PROPFEE_ENVIRONMENT="production",
        )  # type: ignore[call-arg]
