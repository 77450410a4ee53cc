"""The WeChat access token of one app, shared by every send of this process.

``/cgi-bin/stable_token`` (default) returns the same token until it expires, whoever asks, so
replicas do not invalidate each other's; ``/cgi-bin/token`` is the classic call (each fetch
replaces the previous token). The token is cached until five minutes before it expires;
concurrent sends wait for one fetch. When WeChat answers 40001/42001/40014 for a token, the
caller asks :meth:`AccessToken.refresh` once: a token another send already replaced is
simply returned, otherwise a new one is fetched (``force_refresh`` when the stable token
comes back unchanged).
"""

from __future__ import annotations

import asyncio
import time

import aiohttp

from notifier.adapters.base import call

#: The token was invalid (40001, 40014) or expired (42001).
TOKEN_ERRORS = frozenset({40001, 40014, 42001})
MARGIN_S = 300


class TokenError(RuntimeError):
    """WeChat refused to issue a token (busy, wrong credentials, IP not whitelisted)."""


class AccessToken:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        api_base: str,
        app_id: str,
        app_secret: str,
        api: str = "stable_token",
    ) -> None:
        self._session = session
        self._base = api_base.rstrip("/")
        self._app_id = app_id
        self._secret = app_secret
        self._api = api
        self._token: str | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()

    def _valid(self) -> bool:
        return self._token is not None and time.monotonic() < self._expires

    async def get(self) -> str:
        if self._valid():
            assert self._token is not None
            return self._token
        async with self._lock:
            if not self._valid():
                await self._fetch(force=False)
            assert self._token is not None
            return self._token

    async def refresh(self, rejected: str) -> str:
        """A new token after WeChat rejected ``rejected`` (once for all who saw it)."""
        async with self._lock:
            if self._token is not None and self._token != rejected and self._valid():
                return self._token
            await self._fetch(force=False)
            if self._token == rejected and self._api == "stable_token":
                await self._fetch(force=True)
            assert self._token is not None
            return self._token

    async def _fetch(self, *, force: bool) -> None:
        if self._api == "stable_token":
            response = await call(
                self._session,
                "POST",
                f"{self._base}/cgi-bin/stable_token",
                json_body={
                    "grant_type": "client_credential",
                    "appid": self._app_id,
                    "secret": self._secret,
                    "force_refresh": force,
                },
            )
        else:
            response = await call(
                self._session,
                "GET",
                f"{self._base}/cgi-bin/token",
                params={
                    "grant_type": "client_credential",
                    "appid": self._app_id,
                    "secret": self._secret,
                },
            )
        if response.status != 200:
            raise TokenError(f"token endpoint answered HTTP {response.status}")
        answer = response.json()
        if "access_token" not in answer:
            raise TokenError(f"token refused: {answer.get('errcode')} {answer.get('errmsg')}")
        self._token = str(answer["access_token"])
        self._expires = time.monotonic() + int(answer.get("expires_in", 7200)) - MARGIN_S
