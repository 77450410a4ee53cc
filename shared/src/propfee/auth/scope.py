"""Every id a request names is resolved and scoped in one place, before the route runs.

A route used to check the id in its path and trust the ids in its body: a fee clerk of one
company could record a counter payment on another company's unit by naming it in the body.
Here, the ids of a request — path parameters, query parameters and the fields of a JSON body,
at any depth — are looked up through the service's :class:`ScopeRegistry` and must

1. exist and lie in the caller's scope (the answer is 404 "<kind> <id> not found" otherwise,
   the same as for what does not exist, so other companies' ids cannot be probed), and
2. belong together: every community-level record a request names lies in one community (the
   path's, or the body's ``community_id``), and every company-level record in that
   community's company.

The check runs inside ``require(...)``, the dependency every token-protected route has (a
test fails on a route with neither it nor an explicit open mark), right after the token and
the role are accepted: a request without a valid token or role still gets its 401/403, never
a 404, and no route can skip it. ``secure_app(app, scope=registry)`` installs the registry and
refuses to build an app in which an operation names an id field (``*_id``, ``*_ids``) that
the registry neither resolves nor explains (``not_references``): a new route cannot forget
its ids. Routes that create a record under an id of the caller's choosing list it in
``openapi_extra=new_ids("unit_id")`` (an existing one must still be in scope).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import HTTPException, Request

from propfee.auth.principal import Principal

NEW_IDS_EXTENSION = "x-propfee-new-ids"
REFUSED_IDS_EXTENSION = "x-propfee-refused-ids"
SCOPED_EXTENSION = "x-propfee-scoped-ids"


@dataclass(frozen=True)
class Owner:
    """Where a record lives: a community (and its company), or a company alone
    (``community_id`` None: company-level records such as policies or merchant accounts)."""

    community_id: str | None
    company_id: str | None


#: Looks up ids of one kind: ``{id: Owner}`` for those that exist (missing ones are absent).
Resolver = Callable[[Any, list[str]], Awaitable[dict[str, Owner]]]


def sql_resolver(sql: str) -> Resolver:
    """A resolver from one query over ``$1::text[]`` selecting ``id, community_id,
    company_id`` (``company_id`` may be NULL where the service has not learnt it)."""

    async def resolve(conn: Any, ids: list[str]) -> dict[str, Owner]:
        return await _owners(conn, sql, ids)

    return resolve


async def _owners(conn: Any, sql: str, ids: list[str]) -> dict[str, Owner]:
    rows = await conn.fetch(sql, ids)
    return {r["id"]: Owner(r["community_id"], r["company_id"]) for r in rows}


@dataclass(frozen=True)
class ColumnResolver:
    """A resolver over a table whose rows carry ``community_id``: each id of ``column`` in its
    community, with the company the service has learnt for it (``communities``; none yet:
    NULL). Several rows of one id (a unit's invoices) lie in one community: any one answers.
    Every request naming such an id runs it, so ``column`` must lead an index of ``table``
    that is not partial (tests/contracts/test_scope_lookups.py)."""

    table: str
    column: str

    @property
    def sql(self) -> str:
        t, c = self.table, self.column
        return (
            f"SELECT DISTINCT ON (t.{c}) t.{c} AS id, t.community_id, c.company_id "
            f"FROM {t} t LEFT JOIN communities c USING (community_id) "
            f"WHERE t.{c} = ANY($1::text[]) ORDER BY t.{c}"
        )

    async def __call__(self, conn: Any, ids: list[str]) -> dict[str, Owner]:
        return await _owners(conn, self.sql, ids)


def column_resolver(table: str, column: str) -> Resolver:
    """The :class:`ColumnResolver` of ``table.column``."""
    return ColumnResolver(table, column)


#: A service's ``communities`` table (each community's company, as the service learnt it).
community_resolver: Resolver = sql_resolver(
    "SELECT community_id AS id, community_id, company_id FROM communities "
    "WHERE community_id = ANY($1::text[])"
)


async def _company(_conn: Any, ids: list[str]) -> dict[str, Owner]:
    return {i: Owner(None, i) for i in ids}


@dataclass(frozen=True)
class Kind:
    """A kind of record ids name (``unit``, ``invoice``, ...) and how to find its owner."""

    name: str
    resolve: Resolver
    #: values that name no record (``"*"``: every building of the community)
    wildcards: frozenset[str] = frozenset()


#: A company id: "exists" for every id, in the company it names.
COMPANY = Kind("company", _company)


@dataclass(frozen=True)
class ScopeRegistry:
    """Which request fields name which kind of record, for one service."""

    #: field or parameter name -> kind (``"unit_id": UNIT, "invoice_ids": INVOICE``)
    fields: Mapping[str, Kind]
    #: id-like names that are not references to a scoped record, each with why
    not_references: Mapping[str, str] = field(default_factory=dict)

    def unexplained(self, names: Iterable[str]) -> list[str]:
        return sorted(
            n for n in set(names)
            if id_like(n) and n not in self.fields and n not in self.not_references
        )  # fmt: skip


def new_ids(*names: str) -> dict[str, Any]:
    """``openapi_extra`` of a route that creates a record under an id the caller chooses: the
    named fields may name nothing yet (an existing record must still be in scope)."""
    return {NEW_IDS_EXTENSION: sorted(names)}


def refused_ids(*names: str) -> dict[str, Any]:
    """``openapi_extra`` of a route that refuses these fields whatever they name (422: the id
    is the server's to choose): they are not looked up, so the answer is the same 422 for any
    value, an id of another company included (no existence oracle)."""
    return {REFUSED_IDS_EXTENSION: sorted(names)}


def id_like(name: str) -> bool:
    return name.endswith("_id") or name.endswith("_ids")


@dataclass(frozen=True)
class Ref:
    name: str  # the field or parameter
    value: str
    anchor: bool  # the path's or the body's community id: the request's community


def collect(
    registry: ScopeRegistry,
    path_params: Mapping[str, Any],
    query: Iterable[tuple[str, str]],
    body: Any,
) -> list[Ref]:
    """The references a request makes, in order: path, query, body (any depth)."""
    refs: list[Ref] = []
    for name, value in path_params.items():
        if name in registry.fields and isinstance(value, str):
            refs.append(Ref(name, value, anchor=name == "community_id"))
    for name, value in query:
        if name in registry.fields:
            refs.append(Ref(name, value, anchor=False))
    refs.extend(_walk(registry, body, top=True))
    return [r for r in refs if r.value not in registry.fields[r.name].wildcards]


def _walk(registry: ScopeRegistry, value: Any, *, top: bool) -> Iterator[Ref]:
    if isinstance(value, dict):
        for name, item in value.items():
            if name in registry.fields:
                if isinstance(item, str):
                    yield Ref(name, item, anchor=top and name == "community_id")
                elif isinstance(item, list):
                    yield from (Ref(name, v, anchor=False) for v in item if isinstance(v, str))
            elif isinstance(item, dict | list):
                yield from _walk(registry, item, top=False)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(registry, item, top=False)


class OutOfScope(Exception):
    def __init__(self, what: str) -> None:
        super().__init__(f"{what} not found")


def _reaches(principal: Principal, owner: Owner) -> bool:
    if owner.community_id is None:  # a company-level record
        return principal.all_companies or (
            owner.company_id is not None and owner.company_id == principal.company_id
        )
    if owner.company_id is None and not principal.all_companies:
        return False  # a community whose company this service has not learnt: fail closed
    return principal.sees(owner.community_id, owner.company_id)


async def check(
    conn: Any,
    registry: ScopeRegistry,
    principal: Principal,
    refs: list[Ref],
    *,
    new: frozenset[str] = frozenset(),
) -> None:
    """Raise :class:`OutOfScope` for the first reference the caller may not name."""
    by_kind: dict[str, tuple[Kind, set[str]]] = {}
    for ref in refs:
        kind = registry.fields[ref.name]
        by_kind.setdefault(kind.name, (kind, set()))[1].add(ref.value)
    owners: dict[tuple[str, str], Owner] = {}
    for kind_name, (kind, ids) in by_kind.items():
        found = await kind.resolve(conn, sorted(ids))
        owners.update({(kind_name, i): o for i, o in found.items()})
    community: str | None = None
    company: str | None = None
    # Anchors first: the request's community is the one its path or body names.
    for ref in sorted(refs, key=lambda r: not r.anchor):
        kind = registry.fields[ref.name]
        what = f"{kind.name} {ref.value}"
        owner = owners.get((kind.name, ref.value))
        if owner is None:
            # A deployment-wide token also reaches what this service has not learnt yet
            # (events arrive in any order); nobody else names what does not exist.
            if ref.name in new or principal.all_companies:
                continue
            raise OutOfScope(what)
        if not _reaches(principal, owner):
            raise OutOfScope(what)
        if owner.community_id is not None:
            if community is None:
                community = owner.community_id
            elif owner.community_id != community:
                raise OutOfScope(what)  # not in the community the request is about
        if owner.company_id is not None:
            if company is None:
                company = owner.company_id
            elif owner.company_id != company:
                raise OutOfScope(what)


def operation_id_fields(schema: Mapping[str, Any], operation: Mapping[str, Any]) -> set[str]:
    """Names of the parameters and (nested) JSON body fields of an OpenAPI operation."""
    components = schema.get("components", {}).get("schemas", {})
    names = {p["name"] for p in operation.get("parameters", [])}
    for content in operation.get("requestBody", {}).get("content", {}).values():
        names |= _properties(components, content.get("schema", {}), frozenset())
    return names


def _properties(components: Mapping[str, Any], s: Any, seen: frozenset[str]) -> set[str]:
    if not isinstance(s, dict):
        return set()
    if "$ref" in s:
        name = s["$ref"].rsplit("/", 1)[-1]
        return set() if name in seen else _properties(components, components[name], seen | {name})
    out: set[str] = set()
    for key, value in s.get("properties", {}).items():
        out.add(key)
        out |= _properties(components, value, seen)
    for key in ("items", "additionalProperties"):
        out |= _properties(components, s.get(key), seen)
    for key in ("anyOf", "oneOf", "allOf"):
        for item in s.get(key, []):
            out |= _properties(components, item, seen)
    return out


class UnscopedIds(RuntimeError):
    """An operation names ids the service's scope registry does not know."""


def validate(schema: Mapping[str, Any], registry: ScopeRegistry, open_extension: str) -> None:
    """Refuse an API whose token-protected operations name ids the registry neither resolves
    nor explains; mark each operation's resolved ids (``x-propfee-scoped-ids``)."""
    problems: list[str] = []
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if method not in {"get", "put", "post", "patch", "delete"}:
                continue
            if open_extension in operation:
                continue
            names = operation_id_fields(schema, operation)
            problems += [f"{method.upper()} {path}: {n}" for n in registry.unexplained(names)]
            operation[SCOPED_EXTENSION] = sorted(n for n in names if n in registry.fields)
    if problems:
        raise UnscopedIds(
            "these operations name ids the scope registry neither resolves nor explains "
            f"(add them to the service's ScopeRegistry): {problems}"
        )


MAX_SCOPED_BODY = 16 * 1024 * 1024


async def enforce(request: Request, principal: Principal) -> None:
    """The scope check of one request (called by ``require`` once the token and role are
    good): 404 for the first id the caller may not name. A no-op in an app without a
    registry (``secure_app`` always installs one)."""
    registry: ScopeRegistry | None = getattr(request.app.state, "scope_registry", None)
    if registry is None:
        return
    body: Any = None
    if request.headers.get("content-type", "").startswith("application/json"):
        length = request.headers.get("content-length", "")
        if not (length.isdigit() and int(length) > MAX_SCOPED_BODY):
            raw = await request.body()  # FastAPI has read it already: cached, read once
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None  # the route answers 422
    route = request.scope.get("route")
    extra = getattr(route, "openapi_extra", None) or {}
    refused = frozenset(extra.get(REFUSED_IDS_EXTENSION, ()))
    refs = [
        r
        for r in collect(registry, request.path_params, request.query_params.multi_items(), body)
        if r.name not in refused
    ]
    if not refs:
        return
    runtime = getattr(request.app.state, "runtime", None)
    pool = getattr(runtime, "pool", None)
    if runtime is None or pool is None or not runtime.started.is_set():
        raise HTTPException(503, "service is starting; try again shortly")
    new = frozenset(extra.get(NEW_IDS_EXTENSION, ()))
    try:
        async with pool.acquire() as conn:
            await check(conn, registry, principal, refs, new=new)
    except OutOfScope as exc:
        raise HTTPException(404, str(exc)) from None
