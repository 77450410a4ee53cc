"""The services' public HTTP APIs as the simulator's actors use them.

Each actor has its own bearer token from the local development issuer (the real verification
path): automation (billing runs, sweeps, dispatch), the fee clerk at the counter, the
housekeepers and the legal staff. Gateways and owners need none: webhooks are authenticated by
their signatures and the unit QR code by its own signature.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from demo.world import ROOT

PORTS = {"billing": 8101, "payments": 8102, "dunning": 8103, "notifier": 8104}

#: Actor → roles.
ACTORS: dict[str, list[str]] = {
    "automation": ["service"],
    "clerk": ["fee_clerk", "finance"],
    "housekeeper": ["housekeeper", "customer_service"],
    "legal": ["legal", "community_manager"],
    "admin": ["company_admin", "finance"],
}


class ApiError(RuntimeError):
    pass


class Tokens:
    """Bearer tokens per actor from the development issuer, when the services check them."""

    def __init__(self, company_id: str, directory: Path | None = None, issuer: Any = None) -> None:
        self._headers: dict[str, dict[str, str]] = {a: {} for a in ACTORS}
        if issuer is None:
            from propfee.auth.dev import DevIssuer

            issuer = DevIssuer.load_or_create(directory or ROOT / ".local" / "auth")
        for actor, roles in ACTORS.items():
            token = issuer.mint(f"demo-{actor}", roles, company_id, "*", ttl_seconds=6 * 3600)
            self._headers[actor] = {"Authorization": f"Bearer {token}"}

    def headers(self, actor: str) -> dict[str, str]:
        return self._headers[actor]


class Api:
    """One keep-alive client for all four services, with retries on transient failures."""

    def __init__(self, urls: Mapping[str, str], tokens: Tokens, concurrency: int = 16) -> None:
        self.urls = dict(urls)
        self.tokens = tokens
        self.http = httpx.AsyncClient(
            timeout=httpx.Timeout(120.0, connect=10.0),
            limits=httpx.Limits(max_connections=concurrency * 2, max_keepalive_connections=64),
        )
        self.gate = asyncio.Semaphore(concurrency)
        self.requests = 0

    async def close(self) -> None:
        await self.http.aclose()

    async def call(
        self,
        method: str,
        service: str,
        path: str,
        *,
        actor: str | None = "automation",
        ok: tuple[int, ...] = (200, 201),
        raw: bool = False,
        **kwargs: Any,
    ) -> Any:
        headers = {**kwargs.pop("headers", {}), **(self.tokens.headers(actor) if actor else {})}
        url = self.urls[service] + path
        async with self.gate:
            for attempt in range(6):
                self.requests += 1
                try:
                    r = await self.http.request(method, url, headers=headers, **kwargs)
                except httpx.TransportError as exc:
                    if attempt == 5:
                        raise ApiError(f"{method} {service}{path}: {exc!r}") from exc
                    await asyncio.sleep(0.2 * 2**attempt)
                    continue
                if r.status_code in (502, 503, 504) and attempt < 5:
                    await asyncio.sleep(0.2 * 2**attempt)
                    continue
                if r.status_code not in ok:
                    raise ApiError(f"{method} {service}{path} → {r.status_code}: {r.text[:500]}")
                if raw:
                    return r
                if not r.content:
                    return None
                if "json" not in r.headers.get("content-type", ""):
                    return r.text
                return r.json()
        raise AssertionError("unreachable")

    async def get(self, service: str, path: str, **kwargs: Any) -> Any:
        return await self.call("GET", service, path, **kwargs)

    async def post(self, service: str, path: str, **kwargs: Any) -> Any:
        return await self.call("POST", service, path, **kwargs)

    async def put(self, service: str, path: str, **kwargs: Any) -> Any:
        return await self.call("PUT", service, path, **kwargs)

    async def patch(self, service: str, path: str, **kwargs: Any) -> Any:
        return await self.call("PATCH", service, path, **kwargs)

    async def metrics(self, service: str) -> str:
        r = await self.call("GET", service, "/metrics", actor=None, raw=True)
        return str(r.text)
