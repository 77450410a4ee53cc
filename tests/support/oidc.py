"""A small OpenID Connect provider for the tests, served over real HTTP (uvicorn in a thread).

It does what the company's identity provider does for the console, and checks what a real one
checks: ``/authorize`` (a public client, an allowed redirect URI, ``response_type=code``, a
``code_challenge`` with method S256, ``state`` and ``nonce``) answers with a redirect back
carrying a one-time code and the state; ``/token`` exchanges the code only with the right
client, redirect URI and PKCE verifier (``BASE64URL(SHA256(verifier)) == challenge``) and
issues RS256 JWTs: an access token with Propfee's claims (``company``, ``communities``,
``roles``; audience ``propfee``) and an ID token carrying the nonce; ``/jwks`` serves the
public key the services verify with. CORS is open for the token endpoint, as an IdP's is for a
browser client. Who signs in is the test's choice (``next_user``): there is no login form.

Renewal and sign-out: the code exchange also issues a refresh token (``offer_refresh``);
``grant_type=refresh_token`` redeems it once, for the client it was issued to, and answers
with a new access token and a new refresh token (rotation: the old one is spent, and reusing a
spent one revokes the whole chain, as OAuth 2.0 Security BCP 4.14 advises). Access tokens live
``access_ttl`` seconds (short in a test of renewal). ``/end-session`` (RP-initiated logout)
checks the ``id_token_hint`` (its signature, this client) and the registered
``post_logout_redirect_uri``, records the session ended and redirects back with the state.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

import jwt
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.support.processes import free_port

CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, GET, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, Authorization",
}


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass
class User:
    subject: str
    roles: list[str]
    company: str
    communities: list[str] | str = "*"


@dataclass
class Refresh:
    user: User
    client_id: str
    chain: str  # the first refresh token of the sign-in: reuse of a spent one revokes it all
    spent: bool = False


@dataclass
class Grant:
    user: User
    client_id: str
    redirect_uri: str
    challenge: str
    nonce: str
    issued: float = field(default_factory=time.monotonic)


class FakeIdP:
    """``with FakeIdP(client_id, redirect_uris) as idp:`` serves it on a free port."""

    def __init__(
        self,
        client_id: str,
        audience: str = "propfee",
        *,
        access_ttl: int = 3600,
        offer_refresh: bool = True,
    ) -> None:
        self.client_id = client_id
        self.audience = audience
        self.access_ttl = access_ttl
        self.offer_refresh = offer_refresh
        self.redirect_uris: set[str] = set()
        self.post_logout_redirect_uris: set[str] = set()
        self.refresh_tokens: dict[str, Refresh] = {}
        self.revoked_chains: set[str] = set()
        #: Every /end-session query seen, and the subjects whose session ended there.
        self.end_session_requests: list[dict[str, str]] = []
        self.sessions_ended: list[str] = []
        self.port = free_port()
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = secrets.token_hex(4)
        self.next_user: User | None = None
        self.grants: dict[str, Grant] = {}
        #: Every /authorize query and /token form seen (the test inspects them).
        self.authorize_requests: list[dict[str, str]] = []
        self.token_requests: list[dict[str, str]] = []
        self.refusals: list[str] = []
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def jwks_url(self) -> str:
        return f"{self.issuer}/jwks"

    def console_env(self) -> dict[str, str]:
        """The console server's settings for this IdP."""
        return {
            "CONSOLE_OIDC_ISSUER": self.issuer,
            "CONSOLE_OIDC_CLIENT_ID": self.client_id,
            "CONSOLE_OIDC_AUTHORIZATION_ENDPOINT": f"{self.issuer}/authorize",
            "CONSOLE_OIDC_TOKEN_ENDPOINT": f"{self.issuer}/token",
            "CONSOLE_OIDC_END_SESSION_ENDPOINT": f"{self.issuer}/end-session",
            "CONSOLE_OIDC_SCOPE": "openid profile",
        }

    def service_env(self) -> dict[str, str]:
        """The services' (unprefixed) settings that make them trust this IdP alone."""
        return {
            "PROPFEE_AUTH_ISSUER": self.issuer,
            "PROPFEE_AUTH_AUDIENCE": self.audience,
            "PROPFEE_AUTH_JWKS_URL": self.jwks_url,
        }

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def access_token(self, user: User, ttl: int = 3600) -> str:
        """What the IdP issues for ``user`` (also handy for a test's own API calls)."""
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": user.subject,
            "iat": now,
            "nbf": now,
            "exp": now + ttl,
            "jti": secrets.token_hex(8),
            "azp": self.client_id,
            "company": user.company,
            "communities": user.communities,
            "roles": user.roles,
        }
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})

    def id_token(self, user: User, nonce: str, ttl: int = 3600) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.client_id,
            "sub": user.subject,
            "iat": now,
            "exp": now + ttl,
            "nonce": nonce,
        }
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})

    # -- endpoints -----------------------------------------------------------------------

    def _refuse(self, status: int, error: str, description: str) -> Response:
        self.refusals.append(f"{error}: {description}")
        return JSONResponse(
            {"error": error, "error_description": description}, status_code=status, headers=CORS
        )

    async def _authorize(self, request: Request) -> Response:
        q = dict(request.query_params)
        self.authorize_requests.append(q)
        if q.get("client_id") != self.client_id:
            return self._refuse(400, "unauthorized_client", "unknown client")
        redirect_uri = q.get("redirect_uri", "")
        if redirect_uri not in self.redirect_uris:
            return self._refuse(400, "invalid_request", "redirect_uri not registered")
        if q.get("response_type") != "code":
            return self._refuse(400, "unsupported_response_type", "code only")
        if q.get("code_challenge_method") != "S256" or len(q.get("code_challenge", "")) != 43:
            return self._refuse(400, "invalid_request", "PKCE with S256 is required")
        if not q.get("state") or not q.get("nonce"):
            return self._refuse(400, "invalid_request", "state and nonce are required")
        if "openid" not in q.get("scope", "").split():
            return self._refuse(400, "invalid_scope", "openid is required")
        if self.next_user is None:
            return self._refuse(403, "access_denied", "nobody signs in")
        code = secrets.token_urlsafe(24)
        self.grants[code] = Grant(
            self.next_user, self.client_id, redirect_uri, q["code_challenge"], q["nonce"]
        )
        return RedirectResponse(
            f"{redirect_uri}?{urlencode({'code': code, 'state': q['state']})}", status_code=302
        )

    def _tokens(self, user: User, client_id: str, chain: str | None = None) -> dict[str, Any]:
        """A token answer: an access token of ``access_ttl`` and, when offered, a refresh
        token of the sign-in's chain."""
        body: dict[str, Any] = {
            "access_token": self.access_token(user, self.access_ttl),
            "token_type": "Bearer",
            "expires_in": self.access_ttl,
            "scope": "openid profile",
        }
        if self.offer_refresh:
            token = secrets.token_urlsafe(32)
            self.refresh_tokens[token] = Refresh(user, client_id, chain or token)
            body["refresh_token"] = token
        return body

    def _refresh(self, form: dict[str, str]) -> Response:
        known = self.refresh_tokens.get(form.get("refresh_token", ""))
        if known is None or known.chain in self.revoked_chains:
            return self._refuse(400, "invalid_grant", "unknown or revoked refresh token")
        if known.spent:
            self.revoked_chains.add(known.chain)  # a replay: the whole chain is revoked
            return self._refuse(400, "invalid_grant", "refresh token already used")
        if form.get("client_id") != known.client_id:
            return self._refuse(400, "invalid_grant", "refresh token issued to another client")
        known.spent = True
        body = self._tokens(known.user, known.client_id, known.chain)
        return JSONResponse(body, headers={**CORS, "Cache-Control": "no-store"})

    async def _token(self, request: Request) -> Response:
        if request.method == "OPTIONS":
            return Response(status_code=204, headers=CORS)
        form = dict(parse_qsl((await request.body()).decode("ascii", "replace")))
        self.token_requests.append(form)
        if form.get("grant_type") == "refresh_token" and self.offer_refresh:
            return self._refresh(form)
        if form.get("grant_type") != "authorization_code":
            return self._refuse(400, "unsupported_grant_type", "authorization_code only")
        grant = self.grants.pop(form.get("code", ""), None)  # one use, right or wrong
        if grant is None or time.monotonic() - grant.issued > 60:
            return self._refuse(400, "invalid_grant", "unknown, used or expired code")
        if form.get("client_id") != grant.client_id:
            return self._refuse(400, "invalid_grant", "code issued to another client")
        if form.get("redirect_uri") != grant.redirect_uri:
            return self._refuse(400, "invalid_grant", "redirect_uri differs")
        if s256(form.get("code_verifier", "")) != grant.challenge:
            return self._refuse(400, "invalid_grant", "PKCE verifier does not match")
        body = {
            **self._tokens(grant.user, grant.client_id),
            "id_token": self.id_token(grant.user, grant.nonce),
        }
        return JSONResponse(body, headers={**CORS, "Cache-Control": "no-store"})

    async def _end_session(self, request: Request) -> Response:
        """RP-initiated logout: the ID token names who (and that it is ours, for this client);
        back to a registered post-logout URI with the state."""
        q = dict(request.query_params)
        self.end_session_requests.append(q)
        try:
            hint = jwt.decode(
                q.get("id_token_hint", ""),
                self.key.public_key(),
                algorithms=["RS256"],
                audience=self.client_id,
                issuer=self.issuer,
                options={"verify_exp": False},  # an expired hint still names the session
            )
        except jwt.PyJWTError as e:
            return self._refuse(400, "invalid_request", f"id_token_hint: {e}")
        back = q.get("post_logout_redirect_uri")
        if back is None or back not in self.post_logout_redirect_uris:
            return self._refuse(400, "invalid_request", "post_logout_redirect_uri not registered")
        self.sessions_ended.append(hint["sub"])
        # Signed out at the IdP: its refresh tokens for that person are worth nothing now.
        for refresh in self.refresh_tokens.values():
            if refresh.user.subject == hint["sub"]:
                self.revoked_chains.add(refresh.chain)
        state = {"state": q["state"]} if q.get("state") else {}
        return RedirectResponse(f"{back}?{urlencode(state)}" if state else back, status_code=302)

    async def _jwks(self, request: Request) -> Response:
        return JSONResponse(self.jwks(), headers=CORS)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/authorize", self._authorize),
                Route("/token", self._token, methods=["POST", "OPTIONS"]),
                Route("/jwks", self._jwks),
                Route("/end-session", self._end_session),
            ]
        )

    # -- lifecycle -----------------------------------------------------------------------

    def __enter__(self) -> FakeIdP:
        config = uvicorn.Config(
            self.app(), host="127.0.0.1", port=self.port, log_level="warning", access_log=False
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fake identity provider did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
