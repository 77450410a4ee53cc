"""The services' public HTTP APIs as the simulator's actors use them.

Each actor has its own bearer token from the local development issuer (the real verification
path): automation (billing runs, sweeps, dispatch), the fee clerk at the counter, the
housekeepers and the legal staff. Gateways and owners need none: webhooks are authenticated by
their signatures and the unit QR code by its own signature.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp

from demo.world import ROOT

PORTS = {"billing": 8101, "payments": 8102, "dunning": 8103, "notifier": 8104}

#: Actor → roles. Staff who record what happened on a simulated day (a call, a promise, a
#: pause, a lawsuit) act on the simulation clock, which only the service role may do (DOMAIN.md,
#: business times): they carry it beside their own roles.
ACTORS: dict[str, list[str]] = {
    "automation": ["service"],
    "clerk": ["fee_clerk", "finance"],
    # The counter on the simulation clock: staff may back-date a counter payment only within
    # the company's window; the simulated day is the service role's (propfee.business_time).
    "counter": ["fee_clerk", "service"],
    "housekeeper": ["housekeeper", "customer_service", "service"],
    "legal": ["legal", "community_manager", "service"],
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
    """One keep-alive client for all four services, with retries on transient failures.

    aiohttp rather than httpx: the simulator makes tens of thousands of calls a simulated
    month on a machine the services already saturate, and httpx's connection pool spent a
    third of the simulator's CPU checking its idle connections (bench/README.md, "The demo").
    """

    def __init__(self, urls: Mapping[str, str], tokens: Tokens, concurrency: int = 16) -> None:
        self.urls = dict(urls)
        self.tokens = tokens
        self.concurrency = concurrency
        self._session: aiohttp.ClientSession | None = None
        self.gate = asyncio.Semaphore(concurrency)
        self.requests = 0

    @property
    def session(self) -> aiohttp.ClientSession:
        """Created on first use, inside the running event loop (as aiohttp requires)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=120.0, connect=10.0),
                connector=aiohttp.TCPConnector(limit=self.concurrency * 2),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def call(
        self,
        method: str,
        service: str,
        path: str,
        *,
        actor: str | None = "automation",
        ok: tuple[int, ...] = (200, 201),
        raw: bool = False,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | str | None = None,
    ) -> Any:
        """``raw``: the body as text, whatever its type; else JSON when the answer is JSON,
        the text otherwise, None when empty."""
        sent = {**(headers or {}), **(self.tokens.headers(actor) if actor else {})}
        url = self.urls[service] + path
        query = {k: str(v) for k, v in (params or {}).items()}
        data = content.encode() if isinstance(content, str) else content
        if json is not None:
            data = _dumps(json)
            sent.setdefault("Content-Type", "application/json")
        async with self.gate:
            for attempt in range(6):
                self.requests += 1
                try:
                    async with self.session.request(
                        method, url, headers=sent, params=query, data=data
                    ) as r:
                        status, body = r.status, await r.read()
                        kind = r.headers.get("Content-Type", "")
                except (aiohttp.ClientConnectionError, TimeoutError) as exc:
                    if attempt == 5:
                        raise ApiError(f"{method} {service}{path}: {exc!r}") from exc
                    await asyncio.sleep(0.2 * 2**attempt)
                    continue
                if status in (502, 503, 504) and attempt < 5:
                    await asyncio.sleep(0.2 * 2**attempt)
                    continue
                text = body.decode("utf-8", errors="replace")
                if status not in ok:
                    raise ApiError(f"{method} {service}{path} → {status}: {text[:500]}")
                if raw:
                    return text
                if not body:
                    return None
                if "json" not in kind:
                    return text
                return _loads(body)
        raise AssertionError("unreachable")

    async def get(self, service: str, path: str, **kwargs: Any) -> Any:
        return await self.call("GET", service, path, **kwargs)

    async def get_all(
        self, service: str, path: str, *, params: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> list[Any]:
        """Every item of a paged collection (``{"items": [...], "next": cursor}``), page
        after page; what was gathered so far when an answer is not a page (a status the
        caller allowed with ``ok=``, e.g. 404 for an id the service does not know yet)."""
        items: list[Any] = []
        query: dict[str, Any] = {**(params or {}), "limit": 1000}
        while True:
            page = await self.call("GET", service, path, params=query, **kwargs)
            if not isinstance(page, dict) or "items" not in page:
                return items
            items += page["items"]
            if not page.get("next"):
                return items
            query["cursor"] = page["next"]

    async def post(self, service: str, path: str, **kwargs: Any) -> Any:
        return await self.call("POST", service, path, **kwargs)

    async def put(self, service: str, path: str, **kwargs: Any) -> Any:
        return await self.call("PUT", service, path, **kwargs)

    async def patch(self, service: str, path: str, **kwargs: Any) -> Any:
        return await self.call("PATCH", service, path, **kwargs)

    async def metrics(self, service: str, name: str | None = None) -> str:
        """The service's Prometheus metrics; with ``name``, only that series."""
        params = {"name[]": name} if name else None
        return str(await self.call("GET", service, "/metrics", actor=None, raw=True, params=params))


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _loads(body: bytes) -> Any:
    return json.loads(body)
