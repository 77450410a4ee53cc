"""Tenancy, generated from each service's OpenAPI document: no company reaches another's
money, data or rules, and no community-scoped token reaches another community.

For every token-protected operation that names an id (in its path, its query or its body):

- a token of another company, and a token of another community of the same company, sending
  the in-scope request get 404 (or 403);
- an in-scope token sending the in-scope request with any *one* id swapped for the same kind
  of id of another company, or of another community of the same company (a body naming a
  unit elsewhere, an invoice of another unit's community, ...), gets 404 (or 403);

and each time the service's database is unchanged: every table's rows (the audit log and the
outbox included; the outbox by row count, as its relay marks rows published) compared before
and after. The example requests come from the service's case (tests/security/*_case.py); a
new route is covered as soon as it has one, which test_authz already requires.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from propfee.auth import ROLES_EXTENSION, Role
from propfee.auth.dev import DevIssuer
from propfee.auth.scope import SCOPED_EXTENSION
from tests.security.cases import SERVICE_FACTORIES, Example, Ids, service
from tests.security.conftest import Running
from tests.support.auth import bearer

pytestmark = pytest.mark.integration

METHODS = ("get", "put", "post", "patch", "delete")
#: Which role attacks: the most powerful the operation allows (fewest other checks in the way).
PREFERENCE = (Role.company_admin, Role.finance, Role.community_manager, Role.fee_clerk,
              Role.service, Role.customer_service, Role.housekeeper, Role.legal,
              Role.auditor, Role.owners_committee)  # fmt: skip
#: Only these answers mean "refused"; anything else (2xx, 409, 422, 5xx) is a failure.
REFUSED = (403, 404)


def _operations(name: str) -> list[tuple[str, str, str]]:
    case = service(name)
    schema = case.create_app(case.settings()).openapi()
    return [
        (name, method.upper(), path)
        for path, item in schema["paths"].items()
        for method, op in item.items()
        if method in METHODS and ROLES_EXTENSION in op and op.get(SCOPED_EXTENSION)
    ]


OPERATIONS = [op for name in sorted(SERVICE_FACTORIES) for op in _operations(name)]


def _request(running: Running, method: str, path: str, ids: Ids) -> dict[str, Any]:
    example: Example = running.case.examples[f"{method} {path}"](ids)
    return {
        "method": method,
        "url": path.format(**ids),
        "params": example.params,
        "json": example.json,
        "content": example.content,
        "headers": example.headers,
    }


def _send(running: Running, request: dict[str, Any], token: str) -> Any:
    return running.client.request(
        request["method"], request["url"], params=request["params"], json=request["json"],
        content=request["content"], headers={**request["headers"], **bearer(token)},
    )  # fmt: skip


def _snapshot(running: Running) -> dict[str, tuple[int, str | None]]:
    """Every table's row count and a digest of its rows (the outbox: the count alone)."""
    pool = running.client.app.state.runtime.pool  # type: ignore[attr-defined]

    async def take() -> dict[str, tuple[int, str | None]]:
        async with pool.acquire() as conn:
            tables = await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
            )
            out: dict[str, tuple[int, str | None]] = {}
            for (table,) in tables:
                if table == "outbox":
                    out[table] = (await conn.fetchval('SELECT count(*) FROM "outbox"'), None)
                    continue
                row = await conn.fetchrow(
                    f"SELECT count(*) AS n, md5(string_agg(t::text, '|' ORDER BY t::text)) "
                    f'AS digest FROM "{table}" t'
                )
                out[table] = (row["n"], row["digest"])
            return out

    return running.client.portal.call(take)  # type: ignore[union-attr, no-any-return]


def _names(request: dict[str, Any], fields: set[str], template: str, value: str) -> bool:
    """Does the request name ``value`` where an id is expected: a scoped path parameter,
    query parameter or JSON field, or anywhere in an uploaded file (rows carry ids)?"""
    if any(f"{{{f}}}" in template for f in fields) and value in request["url"].split("/"):
        return True
    if any(k in fields and str(v) == value for k, v in (request["params"] or {}).items()):
        return True
    if request["content"] is not None and value.encode() in request["content"]:
        return True

    def walk(node: Any) -> bool:
        if isinstance(node, dict):
            return any(
                (k in fields and (v == value or (isinstance(v, list) and value in v))) or walk(v)
                for k, v in node.items()
            )
        return isinstance(node, list) and any(walk(v) for v in node)

    return walk(request["json"])


_SETTLED: set[int] = set()


def _settle(running: Running) -> None:
    """Wait until the service's consumers are done with what seeding sent (the database
    no longer changes: for 3 s the first time, while the consumer group may still be joining;
    then for 0.4 s), so that what changes during a request is the request's doing."""
    quiet = 0.4 if id(running) in _SETTLED else 3.0
    last, since = _snapshot(running), time.monotonic()
    deadline = since + 60
    while time.monotonic() - since < quiet:
        assert time.monotonic() < deadline, "the database kept changing for 60 s"
        time.sleep(0.2)
        now = _snapshot(running)
        if now != last:
            last, since = now, time.monotonic()
    _SETTLED.add(id(running))


def _role(running: Running, method: str, path: str) -> Role:
    operation: Any = running.schema["paths"][path][method.lower()]  # type: ignore[index]
    allowed = {Role(r) for r in operation[ROLES_EXTENSION]}
    return next(r for r in PREFERENCE if r in allowed)


def _attacks(
    running: Running, method: str, path: str, issuer: DevIssuer
) -> dict[str, tuple[dict[str, Any], str]]:
    world = running.world
    role = _role(running, method, path)
    mine = world.mine["community_id"]
    scoped = issuer.mint(f"tenancy-{role}", [role], world.company_id, [mine])
    wide = issuer.mint(f"tenancy-{role}", [role], world.company_id, "*")
    operation: Any = running.schema["paths"][path][method.lower()]  # type: ignore[index]
    fields = set(operation[SCOPED_EXTENSION])
    in_scope = _request(running, method, path, world.mine)
    attacks: dict[str, tuple[dict[str, Any], str]] = {}

    def names_own(theirs: Ids) -> bool:
        """The request names one of my ids that the other tenant does not share."""
        return any(_names(in_scope, fields, path, v) for k, v in world.mine.items()
                   if theirs.get(k) != v)  # fmt: skip

    if names_own(world.foreign):
        attacks["another company's token"] = (
            in_scope, issuer.mint("x", [role], world.foreign_company_id, "*"))  # fmt: skip
    if names_own(world.other):  # a company-level record is every community's of the company
        attacks["another community's token"] = (
            in_scope, issuer.mint("y", [role], world.company_id, [world.other["community_id"]]))  # fmt: skip
    for key in sorted(world.mine):
        for where, ids, token in (("another company", world.foreign, wide),
                                  ("another community", world.other, scoped)):  # fmt: skip
            if key not in ids or ids[key] == world.mine[key]:
                continue
            swapped = _request(running, method, path, {**world.mine, key: ids[key]})
            if _names(swapped, fields, path, ids[key]):  # the operation names this id
                attacks[f"{key} of {where}"] = (swapped, token)
    return attacks


@pytest.mark.parametrize(
    ("running", "op"),
    [(s, (s, m, p)) for s, m, p in OPERATIONS],
    ids=[f"{s}:{m} {p}" for s, m, p in OPERATIONS],
    indirect=["running"],
)
def test_no_id_of_another_tenant_is_reached(
    running: Running, op: tuple[str, str, str], dev_issuer: DevIssuer
) -> None:
    _, method, path = op
    failures = []
    _settle(running)
    for what, (request, token) in _attacks(running, method, path, dev_issuer).items():
        before = _snapshot(running)
        r = _send(running, request, token)
        after = _snapshot(running)
        changed = sorted(t for t in before.keys() | after.keys() if before.get(t) != after.get(t))
        if r.status_code not in REFUSED or changed:
            failures.append(f"{what}: {r.status_code} {r.text[:200]} changed={changed}")
    assert not failures, "\n".join(failures)
