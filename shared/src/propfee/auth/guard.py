"""FastAPI glue: ``require(*roles)`` on every staff endpoint, explicit marks on open ones,
404 for what the caller may not see, and masking of contact data for roles that don't need it.

Every route either depends on ``require(...)`` or is marked open (``openapi_extra=
open_route("signature")`` for gateway webhooks). The dependency puts the bearer scheme with
its roles into each operation of the OpenAPI document; ``secure_app(app)`` copies them into
``x-propfee-roles``, and ``unsecured_operations(schema)`` lists what is neither — a test
fails on it.
"""

from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from propfee.auth import scope as scope_module
from propfee.auth.principal import Principal
from propfee.auth.roles import Role
from propfee.auth.scope import ScopeRegistry
from propfee.auth.settings import AuthSettings
from propfee.auth.verify import InvalidToken, TokenVerifier
from propfee.masking import mask_value

ROLES_EXTENSION = "x-propfee-roles"
OPEN_EXTENSION = "x-propfee-open"
#: Paths every service serves without a token (probes, metrics, the API's own description).
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs",
                        "/docs/oauth2-redirect", "/redoc"})  # fmt: skip

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    bearerFormat="JWT",
    description="A JWT (RS256/ES256) from the company's identity provider: `sub`, `company`, "
    '`communities` (list or "*"), `roles`.',
)


def _unauthorized(reason: str) -> HTTPException:
    # RFC 6750: the reason goes into error_description; never the token itself.
    return HTTPException(
        401,
        reason,
        headers={"WWW-Authenticate": f'Bearer realm="propfee", error="invalid_token", '
                 f'error_description="{reason}"'},
    )  # fmt: skip


def get_verifier(request: Request) -> TokenVerifier:
    """The app's verifier (``secure_app`` installs one; created from the environment else)."""
    verifier: TokenVerifier | None = getattr(request.app.state, "auth_verifier", None)
    if verifier is None:
        verifier = request.app.state.auth_verifier = TokenVerifier(AuthSettings())
    return verifier


def require(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency that returns the caller's :class:`Principal` when the token is valid and
    carries one of ``roles`` (401 otherwise, 403 for a wrong role)::

        Staff = Annotated[Principal, Depends(require(*STAFF_READ))]

        @router.get("/invoices/{invoice_id}")
        async def get_invoice(invoice_id: str, principal: Staff): ...

    The roles reach the OpenAPI document as the bearer requirement's list (OpenAPI 3.1 lets
    non-OAuth schemes list roles there) and, by ``secure_app``, as ``x-propfee-roles``.
    """
    allowed = frozenset(Role(r) for r in roles)
    if not allowed:
        raise ValueError("require() needs at least one role")
    scopes = sorted(allowed)

    async def dependency(
        request: Request,
        credentials: Annotated[
            HTTPAuthorizationCredentials | None, Security(bearer_scheme, scopes=scopes)
        ],
    ) -> Principal:
        if credentials is None:
            raise HTTPException(
                401,
                "a bearer token is required",
                headers={"WWW-Authenticate": 'Bearer realm="propfee"'},
            )
        try:
            principal = await get_verifier(request).verify(credentials.credentials)
        except InvalidToken as exc:
            raise _unauthorized(str(exc)) from None
        if not principal.roles & allowed:
            raise HTTPException(403, "your role may not do this")
        request.state.principal = principal
        await scope_module.enforce(
            request, principal
        )  # every id the request names: 404 unless in scope
        return principal

    dependency.__name__ = f"require_{'_'.join(scopes)}"
    dependency.roles = allowed  # type: ignore[attr-defined]
    return dependency


def open_route(reason: str) -> dict[str, Any]:
    """``openapi_extra`` for a route that is deliberately open, with why (e.g. "signature":
    a gateway webhook authenticated by its signature)."""
    return {OPEN_EXTENSION: reason}


def _operations(schema: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if method in {"get", "put", "post", "delete", "patch", "head", "options", "trace"}:
                yield path, method, operation


def operation_roles(operation: Mapping[str, Any]) -> list[str] | None:
    """The roles an OpenAPI operation's bearer requirement lists (None: no bearer)."""
    roles: set[str] = set()
    found = False
    for requirement in operation.get("security", []):
        if bearer_scheme.scheme_name in requirement:
            found = True
            roles |= set(requirement[bearer_scheme.scheme_name])
    return sorted(roles) if found else None


def annotate_openapi(schema: dict[str, Any]) -> dict[str, Any]:
    """Write ``x-propfee-roles`` into each operation that requires a token, and mark the
    probes open."""
    for path, _method, operation in _operations(schema):
        roles = operation_roles(operation)
        if roles is not None:
            operation[ROLES_EXTENSION] = roles
        elif path in OPEN_PATHS:
            operation.setdefault(OPEN_EXTENSION, "probe")
    return schema


def secure_app(
    app: FastAPI, *, scope: ScopeRegistry, verifier: TokenVerifier | None = None
) -> FastAPI:
    """Install the verifier and the service's scope registry (every id a request names is
    resolved and scoped by ``require``: :mod:`propfee.auth.scope`), refuse to build an API
    naming ids the registry does not explain, and make the OpenAPI document list each
    operation's roles (``x-propfee-roles``; the probes ``x-propfee-open: probe``) and scoped
    ids (``x-propfee-scoped-ids``)."""
    app.state.auth_verifier = verifier or TokenVerifier(AuthSettings())
    app.state.scope_registry = scope
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None and app.openapi_schema.get("x-propfee-secured"):
            return app.openapi_schema
        schema = annotate_openapi(generate())
        scope_module.validate(schema, scope, OPEN_EXTENSION)
        schema["x-propfee-secured"] = True
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
    openapi()  # an API naming ids nobody resolves does not start
    return app


def unsecured_operations(schema: dict[str, Any]) -> list[str]:
    """Operations with neither ``x-propfee-roles`` nor ``x-propfee-open`` ("METHOD path")."""
    return [
        f"{method.upper()} {path}"
        for path, method, operation in _operations(schema)
        if not operation.get(ROLES_EXTENSION) and OPEN_EXTENSION not in operation
    ]


def not_found(what: str) -> HTTPException:
    return HTTPException(404, f"{what} not found")


def ensure_visible(
    principal: Principal, community_id: str | None, company_id: str | None, what: str
) -> None:
    """404 ("<what> not found", the same answer as for what does not exist) unless the
    principal may see the community. Call it after loading the unit, invoice, party, ...;
    ``company_id`` is the community's company as stored (None where unknown)."""
    if not principal.sees(community_id, company_id):
        raise not_found(what)


def ensure_visible_known(
    principal: Principal, community_id: str | None, company_id: str | None, what: str
) -> None:
    """``ensure_visible``, failing closed where the community's company is not known yet (a
    service that learns it from billing.community-updated): only a deployment-wide token
    (company ``"*"``) reaches such a community."""
    if company_id is None and not principal.all_companies:
        raise not_found(what)
    ensure_visible(principal, community_id, company_id, what)


Check = Callable[[Principal, str | None, str | None, str], None]


async def visible_row(
    conn: Any, principal: Principal, what: str, sql: str, *args: Any, check: Check = ensure_visible
) -> Any:
    """The row ``sql`` finds (it selects ``community_id`` and ``company_id``) when the caller
    may see its community; 404 ("<what> not found") when there is none or they may not: the
    same answer either way, so ids of other companies cannot be probed."""
    row = await conn.fetchrow(sql, *args)
    if row is None:
        raise not_found(what)
    check(principal, row["community_id"], row["company_id"], what)
    return row


#: Fields that hold personal contact data in responses.
PERSONAL_FIELDS = frozenset(
    {"name", "phone", "email", "wechat_openid", "app_user_id", "postal_address", "id_number",
     "id_card", "address", "tax_id", "title", "buyer_name", "payer_name", "contact"}
)  # fmt: skip


def mask_personal(
    principal: Principal, record: Mapping[str, Any], fields: Iterable[str] = PERSONAL_FIELDS
) -> dict[str, Any]:
    """``record`` as is for roles that see contact data (``CONTACT_ROLES``); otherwise the
    personal fields masked (``propfee.masking.mask_value``)."""
    if principal.sees_contacts:
        return dict(record)
    names = frozenset(fields)
    return {
        k: (mask_value(v) if k in names and isinstance(v, str) and v else v)
        for k, v in record.items()
    }
