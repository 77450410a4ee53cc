"""What the security tests need to know about a service: how to build and seed it, and one
valid request per operation, so every endpoint of its OpenAPI document is exercised.

A service plugs in by adding a :class:`SecuredService` to :data:`SERVICES` (see
billing_case.py): the tests in this folder are parametrised over it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from propfee.auth.dev import DevIssuer
from propfee.settings import ServiceSettings


@dataclass(frozen=True)
class Example:
    """One request that is valid for the operation (with the caller's ids filled in)."""

    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


#: Path parameters by name -> value, for the caller's community ("mine") or another one.
Ids = dict[str, str]
ExampleFactory = Callable[[Ids], Example]


@dataclass(frozen=True)
class World:
    """The seeded data: ids in the community the scoped token sees, in another community of
    the same company, and in another company's community."""

    company_id: str
    mine: Ids
    other: Ids
    foreign_company_id: str
    foreign: Ids


@dataclass(frozen=True)
class SecuredService:
    name: str
    settings: Callable[..., ServiceSettings]
    create_app: Callable[[ServiceSettings], FastAPI]
    #: Seeds a world through the (started, trusting ``issuer``) app.
    seed: Callable[[TestClient, DevIssuer, str], World]
    #: "METHOD /path" -> a valid request for it; every operation must have one.
    examples: dict[str, ExampleFactory]
    #: Operations not tied to one community (lists filtered by scope, city-wide rules): no
    #: 404-by-scope check, and the in-scope token covers every community.
    unscoped: frozenset[str] = frozenset()


def _billing() -> SecuredService:
    from tests.security.billing_case import BILLING

    return BILLING


def _dunning() -> SecuredService:
    from tests.security.dunning_case import DUNNING

    return DUNNING


def _notifier() -> SecuredService:
    from tests.security.notifier_case import NOTIFIER

    return NOTIFIER


def _payments() -> SecuredService:
    from tests.security.payments_case import PAYMENTS

    return PAYMENTS


SERVICE_FACTORIES: dict[str, Callable[[], SecuredService]] = {
    "payments": _payments,
    "notifier": _notifier,
    "billing": _billing,
    "dunning": _dunning,
}


def service(name: str) -> SecuredService:
    return SERVICE_FACTORIES[name]()
