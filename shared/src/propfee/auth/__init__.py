"""Staff sign-in, roles and community scoping for every service's HTTP API.

- :class:`Role`, the role sets (``STAFF_READ``, ``CONTACT_ROLES``, ...) and :class:`Principal`;
- :class:`TokenVerifier`: JWT (RS256/ES256) against a JWKS file or URL (``AuthSettings``);
- :func:`require` (a FastAPI dependency returning the Principal), :func:`open_route`,
  :func:`secure_app`, :func:`ensure_visible` (404, not 403), :func:`mask_personal`;
- :mod:`propfee.auth.dev`: the local development issuer (``python -m propfee.auth``).

See docs/security.md.
"""

from propfee.auth.guard import (
    OPEN_EXTENSION,
    OPEN_PATHS,
    PERSONAL_FIELDS,
    ROLES_EXTENSION,
    annotate_openapi,
    ensure_visible,
    ensure_visible_known,
    get_verifier,
    mask_personal,
    not_found,
    open_route,
    operation_roles,
    require,
    secure_app,
    unsecured_operations,
    visible_row,
)
from propfee.auth.principal import ALL, Principal
from propfee.auth.roles import (
    ADJUST,
    AUDIT_READ,
    BILLING_WRITE,
    CONTACT_ROLES,
    REGISTRY_WRITE,
    REPORTS,
    STAFF_READ,
    Role,
)
from propfee.auth.scope import (
    COMPANY,
    Kind,
    Owner,
    ScopeRegistry,
    column_resolver,
    community_resolver,
    new_ids,
    refused_ids,
    sql_resolver,
)
from propfee.auth.settings import AuthSettings
from propfee.auth.verify import InvalidToken, JwksSource, TokenVerifier

__all__ = [
    "ADJUST",
    "ALL",
    "AUDIT_READ",
    "BILLING_WRITE",
    "COMPANY",
    "CONTACT_ROLES",
    "OPEN_EXTENSION",
    "OPEN_PATHS",
    "PERSONAL_FIELDS",
    "REGISTRY_WRITE",
    "REPORTS",
    "ROLES_EXTENSION",
    "STAFF_READ",
    "AuthSettings",
    "InvalidToken",
    "JwksSource",
    "Kind",
    "Owner",
    "Principal",
    "Role",
    "ScopeRegistry",
    "TokenVerifier",
    "annotate_openapi",
    "column_resolver",
    "community_resolver",
    "ensure_visible",
    "ensure_visible_known",
    "get_verifier",
    "mask_personal",
    "new_ids",
    "not_found",
    "open_route",
    "operation_roles",
    "refused_ids",
    "require",
    "secure_app",
    "sql_resolver",
    "unsecured_operations",
    "visible_row",
]
