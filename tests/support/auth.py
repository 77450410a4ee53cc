"""Bearer tokens in tests: the local development issuer in a temporary directory, the
settings and environment that make a service trust it, and an httpx auth that sends a token.

The session fixture ``dev_issuer`` (tests/support/fixtures.py) creates the issuer once; the
``services`` fixture passes :func:`auth_env` to every service process; in-process apps are
pointed at it with :func:`trust`.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable

import httpx
from fastapi import FastAPI

from propfee.auth import AuthSettings, Role, TokenVerifier
from propfee.auth.dev import DevIssuer

#: The company the shared test helpers (tests/support/billing_api.py) create communities in.
TEST_COMPANY = "co-1"
#: What end-to-end tests act as: the company's admin (sees every community of the company).
STAFF_ROLES = (Role.company_admin, Role.finance)


class BearerAuth(httpx.Auth):
    """``httpx.AsyncClient(auth=BearerAuth(token))``: every request carries the token."""

    def __init__(self, token: str) -> None:
        self.token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.token}"
        yield request


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def auth_settings(issuer: DevIssuer) -> AuthSettings:
    return AuthSettings(
        jwks_file=issuer.jwks_path, issuer=issuer.issuer, audience=issuer.audience, jwks_url=None
    )


def auth_env(issuer: DevIssuer) -> dict[str, str]:
    """The (unprefixed) environment that makes a service process trust ``issuer``."""
    return {
        "PROPFEE_AUTH_JWKS_FILE": str(issuer.jwks_path),
        "PROPFEE_AUTH_ISSUER": issuer.issuer,
        "PROPFEE_AUTH_AUDIENCE": issuer.audience,
        "PROPFEE_AUTH_JWKS_URL": "",
    }


def trust(app: FastAPI, issuer: DevIssuer) -> FastAPI:
    """Make an in-process app verify tokens against ``issuer``."""
    app.state.auth_verifier = TokenVerifier(auth_settings(issuer))
    return app


def staff_token(
    issuer: DevIssuer,
    roles: Iterable[Role | str] = STAFF_ROLES,
    *,
    company_id: str = TEST_COMPANY,
    communities: Iterable[str] | str = "*",
    subject: str = "test-staff",
) -> str:
    return issuer.mint(subject, roles, company_id, communities)
