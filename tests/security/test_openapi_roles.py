"""No staff endpoint without a role declaration: walk each service's OpenAPI document."""

from __future__ import annotations

import pytest

from propfee.auth import OPEN_EXTENSION, ROLES_EXTENSION, Role, unsecured_operations
from tests.security.cases import SERVICE_FACTORIES, service

#: Operations that may be open, and why; anything else open fails the test.
ALLOWED_OPEN = {"probe", "signature"}


@pytest.mark.parametrize("name", sorted(SERVICE_FACTORIES))
def test_every_operation_declares_roles_or_is_explicitly_open(name: str) -> None:
    case = service(name)
    schema = case.create_app(case.settings()).openapi()
    assert not unsecured_operations(schema), f"{name}: no x-propfee-roles on these"
    assert "bearer" in schema["components"]["securitySchemes"]
    known = {r.value for r in Role}
    for path, item in schema["paths"].items():
        for method, op in item.items():
            if ROLES_EXTENSION in op:
                assert op[ROLES_EXTENSION] and set(op[ROLES_EXTENSION]) <= known, path
                assert {"bearer": op[ROLES_EXTENSION]} in op["security"], path
            else:
                assert op[OPEN_EXTENSION] in ALLOWED_OPEN, f"{method} {path}"
                assert path in ("/healthz", "/readyz") or op[OPEN_EXTENSION] == "signature"


@pytest.mark.parametrize("name", sorted(SERVICE_FACTORIES))
def test_owners_committee_reaches_reports_only(name: str) -> None:
    case = service(name)
    schema = case.create_app(case.settings()).openapi()
    for path, item in schema["paths"].items():
        for method, op in item.items():
            if Role.owners_committee in op.get(ROLES_EXTENSION, []):
                assert method == "get" and "/reports/" in path, f"{method} {path}"
