"""The staff console on one browser origin, for a developer's machine and the tests.

``python -m propfee.console serve`` serves the built console (``web/console/dist``) and
reverse-proxies ``/api/<service>/...`` to the four services (streamed both ways, nothing
buffered), so the browser talks to one origin and no service needs CORS. In Kubernetes an
nginx image and the Ingress do the same job (this process is not deployed there).

``POST /dev/sign-in`` mints a token of the local development issuer (``propfee.auth.dev``,
the key beside the JWKS the services trust: ``PROPFEE_AUTH_JWKS_FILE``) for a chosen role and
community scope. It exists only when ``PROPFEE_ENVIRONMENT=development``; anywhere else it
answers 404 and the console shows only the identity provider's sign-in.

``GET /console/config`` tells the browser how to sign in: the development sign-in (or not)
and the company's identity provider (``CONSOLE_OIDC_*``: issuer, authorization and token
endpoints, a public client id, no secret). The browser itself runs the authorization code
flow with PKCE (S256, state, nonce: oidc-client-ts) and sends the access token to the
services, which verify it against the IdP's JWKS (``PROPFEE_AUTH_ISSUER`` /
``PROPFEE_AUTH_JWKS_URL``). The console's Content-Security-Policy lets scripts connect to the
token endpoint's origin and nothing else outside this origin.

The access token is renewed without the user before it expires (``CONSOLE_OIDC_RENEW_BEFORE_S``
seconds before) with the refresh token the IdP issued (a ``refresh_token`` grant: a request to
the token endpoint, allowed by ``connect-src``; no hidden iframe, so nothing else to allow in
the policy, ``script-src 'self'`` unchanged). Signing out ends the IdP's session too when
``CONSOLE_OIDC_END_SESSION_ENDPOINT`` is set (RP-initiated logout: a top-level navigation with
``id_token_hint`` and ``post_logout_redirect_uri``, back to the console's sign-in page).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from propfee.auth.dev import DevIssuer
from propfee.auth.principal import ALL
from propfee.auth.roles import Role
from propfee.auth.settings import REPO_ROOT, AuthSettings

SERVICES = ("billing", "payments", "dunning", "notifier")
#: Headers not passed on in either direction (hop-by-hop, RFC 9110 7.6.1); nor is the
#: browser's Host (the upstream's is set by httpx).
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)


#: Sent with the console's own files: scripts and connections from this origin only (the
#: API is proxied here); inline style attributes are Element Plus's; blob: is the receipt
#: download; no framing.
def content_security_policy(connect: tuple[str, ...] = ()) -> str:
    """The console's policy; ``connect`` adds origins scripts may call (the IdP's token
    endpoint)."""
    connect_src = " ".join(("'self'", *connect))
    return (
        f"default-src 'self'; script-src 'self'; connect-src {connect_src}; "
        "img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; font-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    )


STATIC_HEADERS = {
    "Content-Security-Policy": content_security_policy(),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class ConsoleSettings(BaseSettings):
    """``CONSOLE_*`` variables; the defaults fit ``make up`` (deploy/local/services.sh)."""

    model_config = SettingsConfigDict(env_prefix="CONSOLE_", extra="ignore", env_file=None)

    http_host: str = "127.0.0.1"
    http_port: int = 8100
    dist: Path = REPO_ROOT / "web" / "console" / "dist"
    billing_url: str = "http://127.0.0.1:8101"
    payments_url: str = "http://127.0.0.1:8102"
    dunning_url: str = "http://127.0.0.1:8103"
    notifier_url: str = "http://127.0.0.1:8104"
    #: ``development`` enables the development sign-in; anything else is production.
    environment: Literal["development", "production"] = Field(
        default="production", validation_alias="PROPFEE_ENVIRONMENT"
    )
    proxy_timeout_s: float = 60.0
    #: The company's identity provider (OIDC, authorization code + PKCE, a public client: no
    #: secret). All four of issuer, client id, authorization and token endpoints, or none.
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_authorization_endpoint: str | None = None
    oidc_token_endpoint: str | None = None
    oidc_scope: str = "openid profile"
    #: RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0); optional.
    oidc_end_session_endpoint: str | None = None
    #: Renew the access token this many seconds before it expires (refresh_token grant).
    oidc_renew_before_s: int = Field(default=60, ge=1, le=3600)

    @model_validator(mode="after")
    def _oidc_complete(self) -> ConsoleSettings:
        required = {
            "CONSOLE_OIDC_ISSUER": self.oidc_issuer,
            "CONSOLE_OIDC_CLIENT_ID": self.oidc_client_id,
            "CONSOLE_OIDC_AUTHORIZATION_ENDPOINT": self.oidc_authorization_endpoint,
            "CONSOLE_OIDC_TOKEN_ENDPOINT": self.oidc_token_endpoint,
        }
        given = [k for k, v in required.items() if v]
        if given and len(given) != len(required):
            missing = sorted(set(required) - set(given))
            raise ValueError(f"the identity provider is half configured: {missing} missing")
        endpoints = (
            self.oidc_authorization_endpoint,
            self.oidc_token_endpoint,
            self.oidc_end_session_endpoint,
        )
        for url in (e for e in endpoints if e):
            scheme = urlsplit(url).scheme
            # Plain HTTP only on a developer's machine (and the tests' fake IdP).
            if scheme != "https" and not (scheme == "http" and self.environment == "development"):
                raise ValueError(f"identity provider endpoint {url!r} must be https")
        return self

    def oidc(self) -> dict[str, str | int | None] | None:
        """What the browser needs to run the code flow, renew and sign out; None when no IdP
        is configured."""
        if not self.oidc_issuer:
            return None
        config: dict[str, str | int | None] = {
            "issuer": self.oidc_issuer,
            "client_id": self.oidc_client_id or "",
            "authorization_endpoint": self.oidc_authorization_endpoint or "",
            "token_endpoint": self.oidc_token_endpoint or "",
            "end_session_endpoint": self.oidc_end_session_endpoint,
            "scope": self.oidc_scope,
            "renew_before_s": self.oidc_renew_before_s,
        }
        return config

    def static_headers(self) -> dict[str, str]:
        connect = (origin(self.oidc_token_endpoint),) if self.oidc_token_endpoint else ()
        return {**STATIC_HEADERS, "Content-Security-Policy": content_security_policy(connect)}

    def upstream(self, service: str) -> str:
        url: str = getattr(self, f"{service}_url")
        return url.rstrip("/")


class DevSignIn(BaseModel):
    """What the development sign-in page sends: who, which role, which company and scope."""

    subject: str = Field(default="dev-clerk", min_length=1, max_length=64)
    role: Role
    company_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:*-]+$")
    #: ``["*"]`` or empty: every community of the company.
    communities: list[str] = Field(default_factory=list, max_length=100)
    ttl_seconds: int = Field(default=8 * 3600, ge=60, le=24 * 3600)


def create_app(
    settings: ConsoleSettings | None = None, transport: httpx.AsyncBaseTransport | None = None
) -> Starlette:
    """The console's app; ``transport`` replaces the network to the services (tests)."""
    settings = settings or ConsoleSettings()
    development = settings.environment == "development"

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        timeout = httpx.Timeout(settings.proxy_timeout_s, connect=5.0)
        async with httpx.AsyncClient(
            timeout=timeout, follow_redirects=False, transport=transport
        ) as client:
            app.state.http = client
            yield

    async def proxy(request: Request) -> Response:
        service = request.path_params["service"]
        if service not in SERVICES:
            return _problem(404, f"no service {service!r}")
        # The path as the browser encoded it (an id with %2F stays one segment).
        raw = request.scope.get("raw_path") or request.url.path.encode()
        path = raw.decode("latin-1").split("/", 3)[3] if raw.count(b"/") >= 3 else ""
        url = f"{settings.upstream(service)}/{path}"
        if request.url.query:
            url += f"?{request.url.query}"  # as the browser encoded it
        headers = [
            (k, v)
            for k, v in request.headers.items()
            if k.lower() not in HOP_BY_HOP and k.lower() != "host"
        ]
        headers.append(("x-forwarded-host", request.headers.get("host", "")))
        headers.append(("x-forwarded-proto", request.url.scheme))
        client: httpx.AsyncClient = request.app.state.http
        upstream = client.build_request(
            request.method,
            url,
            headers=headers,
            # A body is streamed through (its Content-Length kept); none for a bare GET.
            content=request.stream() if _has_body(request) else None,
        )
        try:
            answer = await client.send(upstream, stream=True)
        except httpx.HTTPError:
            return _problem(502, f"{service} is not reachable")
        kept = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP}
        return StreamingResponse(
            answer.aiter_raw(),
            status_code=answer.status_code,
            headers=kept,
            background=BackgroundTask(answer.aclose),
        )

    async def config(request: Request) -> Response:
        """What the console needs before sign-in: whether the dev sign-in exists, and the
        identity provider (null when none is configured)."""
        return JSONResponse(
            {
                "dev_sign_in": development,
                "roles": [r.value for r in Role if r != Role.service],
                "oidc": settings.oidc(),
            },
            headers={"Cache-Control": "no-cache"},
        )

    async def dev_sign_in(request: Request) -> Response:
        if not development:
            return _problem(404, "the development sign-in exists only in development")
        try:
            body = DevSignIn.model_validate_json(await request.body())
        except ValidationError as exc:
            return _problem(422, "invalid sign-in", errors=exc.errors(include_url=False))
        if body.role == Role.service:
            return _problem(422, "staff roles only")
        issuer = DevIssuer.load_or_create(AuthSettings().jwks_file.parent)
        scope = [c for c in body.communities if c.strip()]
        communities: list[str] | str = ALL if not scope or ALL in scope else scope
        token = issuer.mint(
            body.subject,
            [body.role],
            body.company_id,
            communities,
            body.ttl_seconds,
        )
        return JSONResponse({"access_token": token, "token_type": "Bearer"})

    dist = settings.dist.resolve()
    static_headers = settings.static_headers()

    async def static(request: Request) -> Response:
        """A file of the built console, or index.html (the router's paths are the SPA's)."""
        rel = request.path_params.get("path", "")
        candidate = (dist / rel).resolve()
        if rel and candidate.is_file() and candidate.is_relative_to(dist):
            immutable = rel.startswith("assets/")  # hashed names: cached for a year
            return FileResponse(
                candidate,
                headers={
                    **static_headers,
                    "Cache-Control": "public, max-age=31536000, immutable"
                    if immutable
                    else "no-cache",
                },
            )
        index = dist / "index.html"
        if not index.is_file():
            return _problem(503, f"the console is not built ({dist}); run `make console`")
        return FileResponse(index, headers={**static_headers, "Cache-Control": "no-cache"})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]
    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", healthz),
            Route("/console/config", config),
            Route("/dev/sign-in", dev_sign_in, methods=["POST"]),
            Route("/api/{service}/{path:path}", proxy, methods=methods),
            Route("/{path:path}", static),
        ],
        lifespan=lifespan,
    )


def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    return (length is not None and length != "0") or "transfer-encoding" in request.headers


def _problem(status: int, detail: str, **extra: Any) -> Response:
    body = {"type": "about:blank", "title": detail, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type="application/problem+json")
