"""Token verification and the development issuer (no network, no database)."""

from __future__ import annotations

import json
import re
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi import Depends, FastAPI, HTTPException
from fastapi.testclient import TestClient

from propfee.auth import (
    ROLES_EXTENSION,
    AuthSettings,
    InvalidToken,
    JwksSource,
    Principal,
    Role,
    ScopeRegistry,
    TokenVerifier,
    ensure_visible_known,
    mask_personal,
    open_route,
    require,
    secure_app,
    unsecured_operations,
    visible_row,
)
from propfee.auth.dev import DevIssuer


def _verifier(issuer: DevIssuer, **kw: object) -> TokenVerifier:
    return TokenVerifier(AuthSettings(jwks_file=issuer.jwks_path, jwks_url=None, **kw))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> DevIssuer:
    return DevIssuer.load_or_create(tmp_path_factory.mktemp("iss"))


def test_dev_issuer_is_idempotent_and_keeps_its_key_private(tmp_path: Path) -> None:
    first = DevIssuer.load_or_create(tmp_path)
    again = DevIssuer.load_or_create(tmp_path)
    assert first.kid == again.kid
    mode = stat.S_IMODE((tmp_path / "private-key.pem").stat().st_mode)
    assert mode == 0o600
    jwks = json.loads(first.jwks_path.read_text())
    assert [k["kid"] for k in jwks["keys"]] == [first.kid]
    assert "d" not in jwks["keys"][0], "no private material in the JWKS"


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
async def test_valid_token_gives_the_principal(tmp_path: Path, alg: str) -> None:
    issuer = DevIssuer.load_or_create(tmp_path, algorithm=alg)  # type: ignore[arg-type]
    token = issuer.mint("alice", [Role.finance, "unknown-role"], "co1", ["c1", "c2"])
    principal = await _verifier(issuer).verify(token)
    assert principal.subject == "alice" and principal.company_id == "co1"
    assert principal.roles == {Role.finance}
    assert principal.sees("c1") and not principal.sees("c3")
    assert not principal.sees("c1", "co2"), "the company is checked when given"
    everything = await _verifier(issuer).verify(issuer.mint("bob", ["auditor"], "co1"))
    assert everything.all_communities and everything.sees("any", "co1")
    assert not everything.sees("any", "co2")


async def test_refusals(issuer: DevIssuer, tmp_path: Path) -> None:
    verifier = _verifier(issuer)
    now = int(time.time())
    stranger = DevIssuer.load_or_create(tmp_path / "s")
    cases = {
        "token expired": issuer.mint("a", ["finance"], "co", exp=now - 100),
        "token not yet valid": issuer.mint("a", ["finance"], "co", nbf=now + 100),
        "token issuer not accepted": issuer.mint("a", ["finance"], "co", iss="x"),
        "token audience not accepted": issuer.mint("a", ["finance"], "co", aud="x"),
        "token signature invalid": stranger.mint("a", ["finance"], "co",
                                                 headers={"kid": issuer.kid}),
        "token signed by an unknown key": stranger.mint("a", ["finance"], "co"),
        "token lacks the company claim": issuer.mint("a", ["finance"], "co", company=None),
        "token lacks the exp claim": issuer.mint("a", ["finance"], "co", exp=None),
        'company "*" is only for service tokens': issuer.mint("a", ["finance"], "*"),
        "token communities claim": issuer.mint("a", ["finance"], "co", communities="c1"),
        "malformed token": "abc",
    }  # fmt: skip
    for expected, token in cases.items():
        with pytest.raises(InvalidToken, match=re.escape(expected)):
            await verifier.verify(token)
    service = await verifier.verify(issuer.mint("cron", ["service"], "*"))
    assert service.all_companies and service.sees("c9", "co9")


async def test_clock_skew_within_the_leeway_is_accepted(issuer: DevIssuer) -> None:
    now = int(time.time())
    token = issuer.mint("a", ["finance"], "co", exp=now - 5, nbf=now + 5)
    assert (await _verifier(issuer, leeway_s=30).verify(token)).subject == "a"


def test_symmetric_and_none_algorithms_cannot_be_configured() -> None:
    for bad in (["HS256"], ["none"], []):
        with pytest.raises(ValueError):
            AuthSettings(algorithms=bad)


async def test_jwks_by_url_is_cached_and_refreshed_on_unknown_kid(tmp_path: Path) -> None:
    old = DevIssuer.load_or_create(tmp_path / "old")
    new = DevIssuer.load_or_create(tmp_path / "new")
    served = {"jwks": old.jwks}
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url)
        return httpx.Response(200, json=served["jwks"])

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    settings = AuthSettings(jwks_url="https://idp.test/jwks", jwks_min_refresh_s=0)
    verifier = TokenVerifier(settings, JwksSource(settings, client))
    for _ in range(3):
        await verifier.verify(old.mint("a", ["finance"], "co"))
    assert len(calls) == 1, "cached"
    served["jwks"] = new.jwks  # the IdP rotated its key
    assert (await verifier.verify(new.mint("b", ["finance"], "co"))).subject == "b"
    assert len(calls) == 2
    await client.aclose()


def test_require_401_403_and_openapi_roles(issuer: DevIssuer) -> None:
    app = FastAPI()

    @app.get("/secret")
    async def secret(p: Principal = Depends(require(Role.finance))) -> dict[str, str]:  # noqa: B008
        return {"sub": p.subject}

    @app.post("/webhook", openapi_extra=open_route("signature"))
    async def webhook() -> dict[str, str]:
        return {}

    @app.get("/forgotten")
    async def forgotten() -> dict[str, str]:
        return {}

    secure_app(app, scope=ScopeRegistry(fields={}), verifier=_verifier(issuer))
    client = TestClient(app)
    r = client.get("/secret")
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    bad = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."
    r = client.get("/secret", headers={"Authorization": f"Bearer {bad}"})
    assert r.status_code == 401 and bad not in r.text
    auditor = issuer.mint("a", ["auditor"], "co")
    assert client.get("/secret", headers={"Authorization": f"Bearer {auditor}"}).status_code == 403
    finance = issuer.mint("f", ["finance"], "co")
    r = client.get("/secret", headers={"Authorization": f"Bearer {finance}"})
    assert r.json() == {"sub": "f"}
    schema = app.openapi()
    assert schema["paths"]["/secret"]["get"][ROLES_EXTENSION] == ["finance"]
    assert schema["paths"]["/webhook"]["post"]["x-propfee-open"] == "signature"
    assert unsecured_operations(schema) == ["GET /forgotten"]


def test_mask_personal_by_role() -> None:
    row = {"party_id": "p1", "name": "张三丰", "phone": "13812345678"}
    clerk = Principal("c", "co", frozenset(), frozenset({Role.fee_clerk}), True)
    auditor = Principal("a", "co", frozenset(), frozenset({Role.auditor}), True)
    assert mask_personal(clerk, row) == row
    masked = mask_personal(auditor, row)
    assert masked["name"] == "张**" and masked["phone"] == "138****5678"
    assert masked["party_id"] == "p1"


def test_cli_keygen_and_mint(tmp_path: Path) -> None:
    run = [sys.executable, "-m", "propfee.auth"]
    out = subprocess.run([*run, "keygen", "--dir", str(tmp_path)], capture_output=True,
                         text=True, check=True)  # fmt: skip
    assert str(tmp_path / "jwks.json") in out.stdout
    token = subprocess.run(
        [*run, "mint", "--dir", str(tmp_path), "--sub", "alice", "--role", "finance",
         "--company", "co1", "--community", "c1", "--ttl", "60"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    issuer = DevIssuer.load_or_create(tmp_path)
    import asyncio

    principal = asyncio.run(_verifier(issuer).verify(token))
    assert principal.communities == {"c1"} and principal.roles == {Role.finance}


def test_a_community_whose_company_is_unknown_is_seen_by_deployment_wide_tokens_only() -> None:
    company = Principal("c", "co", frozenset(), frozenset({Role.auditor}), True)
    deployment = Principal("d", "*", frozenset(), frozenset({Role.auditor}), True)
    with pytest.raises(HTTPException) as caught:
        ensure_visible_known(company, "comm-1", None, "case x")
    assert caught.value.status_code == 404 and caught.value.detail == "case x not found"
    ensure_visible_known(deployment, "comm-1", None, "case x")
    ensure_visible_known(company, "comm-1", "co", "case x")
    with pytest.raises(HTTPException):
        ensure_visible_known(company, "comm-1", "other-co", "case x")


def test_company_level_is_a_company_admin_for_every_community_or_the_service_role() -> None:
    def who(roles: set[Role], communities: frozenset[str], all_: bool) -> Principal:
        return Principal("u", "co", communities, frozenset(roles), all_)

    assert who({Role.company_admin}, frozenset(), True).company_level
    assert who({Role.service}, frozenset({"c1"}), False).company_level
    assert who({Role.fee_clerk, Role.company_admin}, frozenset(), True).company_level
    # A company admin scoped to some communities acts for those communities only.
    assert not who({Role.company_admin}, frozenset({"c1"}), False).company_level
    # Other roles, even for every community, are not company-level.
    for role in set(Role) - {Role.company_admin, Role.service}:
        assert not who({role}, frozenset(), True).company_level, role


class _Conn:
    def __init__(self, row: dict[str, str | None] | None) -> None:
        self.row = row
        self.asked: list[tuple[str, tuple[object, ...]]] = []

    async def fetchrow(self, sql: str, *args: object) -> dict[str, str | None] | None:
        self.asked.append((sql, args))
        return self.row


async def test_visible_row_answers_404_alike_for_missing_and_foreign_rows() -> None:
    me = Principal("c", "co", frozenset(), frozenset({Role.auditor}), True)
    mine: dict[str, str | None] = {"community_id": "comm-1", "company_id": "co", "x": "1"}
    conn = _Conn(mine)
    assert await visible_row(conn, me, "unit u1", "SELECT ...", "u1") == mine
    assert conn.asked == [("SELECT ...", ("u1",))]
    foreign: dict[str, str | None] = {"community_id": "comm-9", "company_id": "other-co"}
    for row in (None, foreign):
        with pytest.raises(HTTPException) as caught:
            await visible_row(_Conn(row), me, "unit u1", "SELECT ...", "u1")
        assert caught.value.status_code == 404 and caught.value.detail == "unit u1 not found"
    unknown: dict[str, str | None] = {"community_id": "comm-1", "company_id": None}
    with pytest.raises(HTTPException):
        await visible_row(_Conn(unknown), me, "unit u1", "q", "u1", check=ensure_visible_known)
