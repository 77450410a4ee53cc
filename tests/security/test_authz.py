"""Every endpoint of every secured service, from its OpenAPI document:

- no token, and expired / not yet valid / wrong issuer / wrong audience / badly signed /
  unknown key / tampered / alg none / HS256-with-the-public-key tokens -> 401 with
  ``WWW-Authenticate: Bearer`` and nothing of the token echoed;
- every role the endpoint does not declare -> 403;
- every declared role, in scope -> neither 401, 403 nor 404;
- another community of the same company, and another company -> 404 (community-scoped
  endpoints), the same answer as for what does not exist.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from propfee.auth import ROLES_EXTENSION, Role
from propfee.auth.dev import DevIssuer
from tests.security.cases import SERVICE_FACTORIES, Example, Ids, service
from tests.security.conftest import Running
from tests.security.tokens import bad_tokens
from tests.support.auth import bearer

pytestmark = pytest.mark.integration

METHODS = ("get", "put", "post", "patch", "delete")


def _operations(name: str) -> list[tuple[str, str, str]]:
    case = service(name)
    schema = case.create_app(case.settings()).openapi()
    return [
        (name, method.upper(), path)
        for path, item in schema["paths"].items()
        for method, op in item.items()
        if method in METHODS and ROLES_EXTENSION in op
    ]


OPERATIONS = [op for name in SERVICE_FACTORIES for op in _operations(name)]
IDS = [f"{s}:{m} {p}" for s, m, p in OPERATIONS]


@pytest.fixture
def op(request: pytest.FixtureRequest, running: Running) -> tuple[Running, str, str]:
    _, method, path = request.param
    return running, method, path


def _roles(running: Running, method: str, path: str) -> frozenset[Role]:
    operation: Any = running.schema["paths"][path][method.lower()]  # type: ignore[index]
    return frozenset(Role(r) for r in operation[ROLES_EXTENSION])


def _call(
    running: Running, method: str, path: str, ids: Ids, headers: dict[str, str]
) -> httpx.Response:
    key = f"{method} {path}"
    assert key in running.case.examples, f"{running.case.name}: no example request for {key}"
    example: Example = running.case.examples[key](ids)
    return running.client.request(
        method,
        path.format(**ids),
        params=example.params,
        json=example.json,
        content=example.content,
        headers={**example.headers, **headers},
    )


def _token(issuer: DevIssuer, role: Role, company: str, communities: list[str] | str) -> str:
    return issuer.mint(f"user-{role}", [role], company, communities)


@pytest.mark.parametrize("running", sorted(SERVICE_FACTORIES), indirect=True)
def test_every_operation_has_an_example(running: Running) -> None:
    missing = [
        f"{m} {p}" for s, m, p in OPERATIONS
        if s == running.case.name and f"{m} {p}" not in running.case.examples
    ]  # fmt: skip
    assert not missing, f"add example requests for {missing} to the service's security case"


@pytest.mark.parametrize(
    ("running", "op"),
    [(s, (s, m, p)) for s, m, p in OPERATIONS],
    ids=IDS,
    indirect=True,
)
def test_bad_tokens_are_401(
    running: Running, op: tuple[Running, str, str], dev_issuer: DevIssuer, tmp_path_factory
) -> None:  # type: ignore[no-untyped-def]
    _, method, path = op
    ids = running.world.mine
    r = _call(running, method, path, ids, {})
    assert r.status_code == 401, r.text
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    stranger = tmp_path_factory.mktemp("stranger")
    for reason, token in bad_tokens(dev_issuer, stranger, running.world.company_id).items():
        r = _call(running, method, path, ids, bearer(token))
        assert r.status_code == 401, f"{reason}: {r.status_code} {r.text}"
        assert r.headers["WWW-Authenticate"].startswith("Bearer"), reason
        assert token not in r.text and token[-20:] not in r.text, f"{reason}: token echoed"
    r = _call(running, method, path, ids, {"Authorization": "Basic YWxpY2U6c2VjcmV0"})
    assert r.status_code == 401, "a non-bearer scheme is no token"


@pytest.mark.parametrize(
    ("running", "op"),
    [(s, (s, m, p)) for s, m, p in OPERATIONS],
    ids=IDS,
    indirect=True,
)
def test_roles_and_scope(
    running: Running, op: tuple[Running, str, str], dev_issuer: DevIssuer
) -> None:
    _, method, path = op
    key = f"{method} {path}"
    allowed = _roles(running, method, path)
    world = running.world
    scoped = key not in running.case.unscoped
    mine: list[str] | str = [world.mine["community_id"]] if scoped else "*"
    for role in sorted(set(Role) - allowed):
        r = _call(running, method, path, world.mine,
                  bearer(_token(dev_issuer, role, world.company_id, mine)))  # fmt: skip
        assert r.status_code == 403, f"{role}: {r.status_code} {r.text}"
    for role in sorted(allowed):
        token = _token(dev_issuer, role, world.company_id, mine)
        r = _call(running, method, path, world.mine, bearer(token))
        assert r.status_code not in (401, 403, 404), f"{role}: {r.status_code} {r.text}"
        assert r.status_code < 500, f"{role}: {r.status_code} {r.text}"
    if not scoped:
        return
    role = sorted(allowed)[0]
    attempts = {
        "another community": (world.other, _token(dev_issuer, role, world.company_id, mine)),
        "another company": (
            world.foreign,
            _token(dev_issuer, role, world.company_id, "*"),
        ),
        "another company, same community ids": (
            world.mine,
            _token(dev_issuer, role, world.foreign_company_id, "*"),
        ),
    }
    for what, (ids, token) in attempts.items():
        r = _call(running, method, path, ids, bearer(token))
        assert r.status_code == 404, f"{what}: {r.status_code} {r.text}"
        assert r.json()["detail"].endswith("not found"), f"{what}: {r.text}"
