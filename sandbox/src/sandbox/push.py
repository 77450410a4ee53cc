"""The owner app's push gateway: the webhook notifier's app-push adapter calls.

Our own protocol (``notifier.adapters.app_push``): the JSON body signed with
``X-Propfee-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>`` and
``X-Propfee-Timestamp`` (Unix seconds, within 5 minutes); 401 when the signature or the time
is wrong, 400 without ``app_user_id``; ``{"push_id": ...}`` otherwise, the same one again for a
repeated ``Idempotency-Key`` (or ``notification_id``), which is not pushed twice.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.state import WorldState, json_response, subject_kind
from sandbox.wechat import Inbox

MAX_SKEW_S = 300


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


#: ``on_accept(payload)``; ``on_refuse(signature: bool)``.
OnAccept = Callable[[dict[str, Any]], None]
OnRefuse = Callable[[bool], None]


class PushGateway:
    def __init__(
        self,
        state: Inbox,
        secret: str,
        *,
        on_accept: OnAccept | None = None,
        on_refuse: OnRefuse | None = None,
        sequential_ids: bool = True,
    ) -> None:
        """``sequential_ids``: push-1, push-2... (else random, unique across runs)."""
        self.state = state
        self.sequential_ids = sequential_ids
        self._pushed = 0
        self.secret = secret
        self.on_accept = on_accept
        self.on_refuse = on_refuse
        self._seen: dict[str, str] = {}  # Idempotency-Key → push_id
        self.app = Starlette(routes=[Route("/push", self.handle, methods=["POST"])])

    def _refuse(self, signature: bool, status: int, error: str) -> Response:
        if signature:
            self.state.bad_signatures += 1
        if self.on_refuse is not None:
            self.on_refuse(signature)
        return json_response({"error": error}, status)

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        timestamp = request.headers.get("x-propfee-timestamp", "")
        given = request.headers.get("x-propfee-signature", "")
        fresh = (
            timestamp.isascii()
            and timestamp.isdigit()
            and len(timestamp) <= 12
            and abs(time.time() - int(timestamp)) <= MAX_SKEW_S
        )
        if not fresh or not hmac.compare_digest(signature(self.secret, timestamp, body), given):
            return self._refuse(True, 401, "invalid_signature")
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if not isinstance(payload, dict) or not payload.get("app_user_id"):
            return self._refuse(False, 400, "invalid_request")
        key = request.headers.get("idempotency-key") or str(payload.get("notification_id", ""))
        known = self._seen.get(key) if key else None
        if known is None:
            self._pushed += 1
        push_id = known or (
            f"push-{self._pushed}" if self.sequential_ids else f"push-{uuid.uuid4().hex[:20]}"
        )
        if key:
            self._seen[key] = push_id
        if known is None:
            self.state.messages.append(payload)
            if self.on_accept is not None:
                self.on_accept(payload)
        return json_response({"push_id": push_id})


def push_app(state: Inbox, secret: str, **options: Any) -> Starlette:
    return PushGateway(state, secret, **options).app


class PushRoutes(WorldState):
    """The push gateway at ``/push``; what it accepts becomes the world's messages."""

    def push_routes(self) -> list[Route]:
        self.push = PushGateway(
            Inbox(),
            self.ids["push"]["secret"],
            on_accept=self._pushed,
            on_refuse=self._push_refused,
            sequential_ids=False,
        )
        return [Route("/push", self.push.handle, methods=["POST"])]

    def _pushed(self, payload: dict[str, Any]) -> None:
        self.push.state.messages.clear()  # the world's messages keep them
        title = str(payload.get("title") or "")
        self._accept(
            "app_push",
            str(payload["app_user_id"]),
            None,
            {"title": title, "link": payload.get("link")},
            str(payload.get("body") or ""),
            subject_kind(title),
        )

    def _push_refused(self, signature: bool) -> None:
        self._count("rejected_signatures.app_push" if signature else "rejected.app_push")
