"""propfee.auth.scope: every id a request names is resolved and scoped before the route runs.

The resolvers here are in memory (the logic under test is the collection of ids and the
decision); the services' SQL resolvers run in tests/security against PostgreSQL."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from propfee.auth import (
    COMPANY,
    AuthSettings,
    Kind,
    Owner,
    Principal,
    Role,
    ScopeRegistry,
    TokenVerifier,
    new_ids,
    require,
    secure_app,
)
from propfee.auth.dev import DevIssuer
from propfee.auth.scope import (
    SCOPED_EXTENSION,
    OutOfScope,
    Ref,
    UnscopedIds,
    check,
    collect,
)

RECORDS = {
    "unit": {"u-a1": Owner("c-a", "co-a"), "u-a2": Owner("c-a2", "co-a"),
             "u-b1": Owner("c-b", "co-b"), "u-new": Owner("c-x", None)},
    "community": {"c-a": Owner("c-a", "co-a"), "c-a2": Owner("c-a2", "co-a"),
                  "c-b": Owner("c-b", "co-b"), "c-x": Owner("c-x", None)},
    "policy": {"pol-a": Owner(None, "co-a"), "pol-b": Owner(None, "co-b")},
}  # fmt: skip


def _kind(name: str, **kw: Any) -> Kind:
    async def resolve(_conn: Any, ids: list[str]) -> dict[str, Owner]:
        return {i: RECORDS[name][i] for i in ids if i in RECORDS[name]}

    return Kind(name, resolve, **kw)


UNIT, COMMUNITY, POLICY = (
    _kind("unit"),
    _kind("community", wildcards=frozenset({"*"})),
    _kind("policy"),
)
REGISTRY = ScopeRegistry(
    fields={"unit_id": UNIT, "unit_ids": UNIT, "community_id": COMMUNITY, "policy_id": POLICY,
            "company_id": COMPANY},
    not_references={"staff_id": "a person at the identity provider"},
)  # fmt: skip


def _principal(company: str, communities: list[str] | None, *roles: Role) -> Principal:
    return Principal(
        "x", company, frozenset(communities or ()), frozenset(roles or {Role.finance}),
        all_communities=communities is None,
    )  # fmt: skip


def _check(principal: Principal, refs: list[Ref], **kw: Any) -> None:
    asyncio.run(check(None, REGISTRY, principal, refs, **kw))


def test_collect_path_query_and_body_at_any_depth() -> None:
    refs = collect(
        REGISTRY,
        {"unit_id": "u-a1", "gateway": "wechatpay"},
        [("community_id", "c-a"), ("limit", "5")],
        {"community_id": "c-a", "rows": [{"unit_id": "u-b1", "staff_id": "s"}],
         "unit_ids": ["u-a1", 3, "u-a2"], "note": {"policy_id": "pol-a"}, "x": "*"},
    )  # fmt: skip
    assert [(r.name, r.value, r.anchor) for r in refs] == [
        ("unit_id", "u-a1", False),
        ("community_id", "c-a", False),
        ("community_id", "c-a", True),
        ("unit_id", "u-b1", False),
        ("unit_ids", "u-a1", False),
        ("unit_ids", "u-a2", False),
        ("policy_id", "pol-a", False),
    ]
    assert collect(REGISTRY, {"community_id": "*"}, [], None) == []  # a wildcard names nothing


def test_in_scope_refs_pass() -> None:
    clerk = _principal("co-a", ["c-a"])
    _check(clerk, [Ref("community_id", "c-a", True), Ref("unit_id", "u-a1", False)])
    _check(_principal("co-a", None), [Ref("policy_id", "pol-a", False)])
    _check(_principal("*", None, Role.service), [Ref("unit_id", "u-b1", False)])


@pytest.mark.parametrize(
    ("principal", "refs", "what"),
    [
        # another company's unit in the body of a request about my community
        (
            _principal("co-a", ["c-a"]),
            [Ref("community_id", "c-a", True), Ref("unit_id", "u-b1", False)],
            "unit u-b1",
        ),
        # a company-wide token of another company
        (_principal("co-b", None), [Ref("unit_id", "u-a1", False)], "unit u-a1"),
        # my company, but another community than my token's
        (_principal("co-a", ["c-a"]), [Ref("unit_id", "u-a2", False)], "unit u-a2"),
        # both in my scope, but not in the community the request names
        (
            _principal("co-a", None),
            [Ref("community_id", "c-a", True), Ref("unit_id", "u-a2", False)],
            "unit u-a2",
        ),
        # the anchor decides even when the body lists the odd one first
        (
            _principal("co-a", None),
            [Ref("unit_id", "u-a2", False), Ref("community_id", "c-a", True)],
            "unit u-a2",
        ),
        # what does not exist
        (_principal("co-a", None), [Ref("unit_id", "u-zz", False)], "unit u-zz"),
        # a community whose company is not known: deployment-wide tokens only
        (_principal("co-a", None), [Ref("unit_id", "u-new", False)], "unit u-new"),
        # company-level records of another company, and another company named outright
        (_principal("co-a", None), [Ref("policy_id", "pol-b", False)], "policy pol-b"),
        (_principal("co-a", ["c-a"]), [Ref("company_id", "co-b", False)], "company co-b"),
        # a company-level record of my company with a community of another company
        (
            _principal("*", None, Role.service),
            [Ref("community_id", "c-b", True), Ref("policy_id", "pol-a", False)],
            "policy pol-a",
        ),
    ],
)
def test_out_of_scope_refs_are_not_found(principal: Principal, refs: list[Ref], what: str) -> None:
    with pytest.raises(OutOfScope, match=f"^{what} not found$"):
        _check(principal, refs)


def test_a_deployment_wide_token_reaches_what_is_not_learnt_yet() -> None:
    service = _principal("*", None, Role.service)
    _check(service, [Ref("community_id", "c-later", True), Ref("unit_id", "u-later", False)])
    with pytest.raises(OutOfScope):  # but what is known must still belong together
        _check(service, [Ref("community_id", "c-later", True), Ref("unit_id", "u-a1", False),
                         Ref("unit_id", "u-b1", False)])  # fmt: skip


def test_new_ids_may_name_nothing_but_not_someone_elses() -> None:
    clerk = _principal("co-a", None)
    _check(clerk, [Ref("unit_id", "u-brand-new", False)], new=frozenset({"unit_id"}))
    with pytest.raises(OutOfScope):
        _check(clerk, [Ref("unit_id", "u-b1", False)], new=frozenset({"unit_id"}))


class _Pool:
    @asynccontextmanager
    async def acquire(self):  # type: ignore[no-untyped-def]
        yield None


class _Runtime:
    def __init__(self) -> None:
        self.pool = _Pool()
        self.started = asyncio.Event()
        self.started.set()


Clerk = Annotated[Principal, Depends(require(Role.fee_clerk))]
Finance = Annotated[Principal, Depends(require(Role.finance))]


class PaymentIn(BaseModel):
    community_id: str
    unit_id: str
    staff_id: str | None = None


def _app(issuer: DevIssuer) -> FastAPI:
    app = FastAPI()
    app.state.runtime = _Runtime()
    calls: list[str] = []
    app.state.calls = calls

    @app.post("/payments")
    async def pay(body: PaymentIn, p: Clerk) -> dict[str, str]:
        calls.append(body.unit_id)
        return {"unit_id": body.unit_id}

    @app.get("/units/{unit_id}")
    async def unit(unit_id: str, p: Clerk) -> dict[str, str]:
        return {"unit_id": unit_id}

    @app.post("/units", openapi_extra=new_ids("unit_id"))
    async def create(body: PaymentIn, p: Clerk) -> dict[str, str]:
        return {"unit_id": body.unit_id}

    verifier = TokenVerifier(AuthSettings(jwks_file=issuer.jwks_path, jwks_url=None))
    return secure_app(app, scope=REGISTRY, verifier=verifier)


@pytest.fixture
def issuer(tmp_path: Path) -> DevIssuer:
    return DevIssuer.load_or_create(tmp_path)


def test_routes_resolve_every_id_before_running(issuer: DevIssuer) -> None:
    app = _app(issuer)
    client = TestClient(app)
    clerk = {"Authorization": f"Bearer {issuer.mint('c', ['fee_clerk'], 'co-a', ['c-a'])}"}
    mine = {"community_id": "c-a", "unit_id": "u-a1"}
    assert client.post("/payments", json=mine, headers=clerk).status_code == 200
    r = client.post("/payments", json={**mine, "unit_id": "u-b1"}, headers=clerk)
    assert r.status_code == 404 and r.json() == {"detail": "unit u-b1 not found"}
    assert app.state.calls == ["u-a1"]  # the route never ran for the foreign unit
    assert client.get("/units/u-b1", headers=clerk).status_code == 404
    assert client.get("/units/u-a1", headers=clerk).status_code == 200
    # no token, a wrong role: 401/403 as before, never a 404 that would confirm anything
    assert client.post("/payments", json={**mine, "unit_id": "u-b1"}).status_code == 401
    auditor = {"Authorization": f"Bearer {issuer.mint('a', ['auditor'], 'co-a')}"}
    r = client.post("/payments", json={**mine, "unit_id": "u-b1"}, headers=auditor)
    assert r.status_code == 403
    # a malformed body is the route's 422, not a 500
    r = client.post("/payments", content=b"{not json", headers={**clerk, "Content-Type":
                                                                 "application/json"})  # fmt: skip
    assert r.status_code == 422
    created = client.post("/units", json={**mine, "unit_id": "u-new-one"}, headers=clerk)
    assert created.status_code == 200
    taken = client.post("/units", json={**mine, "unit_id": "u-b1"}, headers=clerk)
    assert taken.status_code == 404
    schema = app.openapi()
    assert schema["paths"]["/payments"]["post"][SCOPED_EXTENSION] == ["community_id", "unit_id"]


class TransferIn(BaseModel):
    account_id: str


def test_an_api_naming_unexplained_ids_does_not_start(issuer: DevIssuer) -> None:
    app = FastAPI()

    @app.post("/transfers/{transfer_id}")
    async def transfer(transfer_id: str, body: TransferIn, p: Finance) -> None:
        return None

    with pytest.raises(UnscopedIds, match=r"transfer_id.*account_id|account_id.*transfer_id"):
        secure_app(app, scope=REGISTRY)
