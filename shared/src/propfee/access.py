"""Every HTTP request measured and logged once: RED metrics per route and an access log line
carrying a request id.

A pure ASGI middleware (``BaseHTTPMiddleware`` would run the app in another task and copy
the context, so the request id would not reach the handler's log lines, and it buffers
streaming answers):

- ``propfee_http_requests_total{method,route,status}`` and
  ``propfee_http_request_duration_seconds{method,route}``. ``route`` is the matched path
  template (``/units/{unit_id}``), never the path: ids in paths would make a series per
  unit. A path no route matches is ``<unmatched>``; a method the router does not know is
  ``OTHER``.
- The request id: the caller's ``X-Request-ID`` when it is 1 to 64 characters of
  ``[A-Za-z0-9._:-]`` (a gateway's or another service's), else a new one; echoed in the
  answer's ``X-Request-ID`` and bound in structlog's context, so every log line of the
  request carries ``request_id``.
- One log line per request (``http request``): method, route template, status,
  ``duration_ms``, request id. Never the path, the query string, headers or bodies: a path or
  query may carry a phone number or a name, a token, a signature. The probes and ``/metrics``
  log at DEBUG (every few seconds from the kubelet and Prometheus); a 5xx logs at WARNING.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from propfee import metrics
from propfee.logging import get_logger
from propfee.problems import MEDIA_TYPE, problem

log = get_logger("propfee.access")

REQUEST_ID_HEADER = "x-request-id"
UNMATCHED = "<unmatched>"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: Routes asked every few seconds by machines: logged at DEBUG.
QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})


def request_id_from(scope: Scope) -> str:
    """The caller's request id when it is safe to log and echo, else a new one."""
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            try:
                candidate: str = bytes(value).decode("ascii")
            except UnicodeDecodeError:
                break
            if _REQUEST_ID.fullmatch(candidate):
                return candidate
            break
    # 32 random hex digits, as uuid4().hex was, for a fifth of its cost (hot path).
    return os.urandom(16).hex()


def route_of(scope: Scope) -> str:
    """The path template of the route that matched (the router puts the route in the
    scope); for an answer given before routing (a 413 on a too-large body), the documented
    path template the path matches; ``<unmatched>`` when none does."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if isinstance(template, str):
        return template
    return _template_matching(scope)


def _template_matching(scope: Scope) -> str:
    app: Any = scope.get("app")
    state = getattr(app, "state", None)
    if app is None or state is None or not hasattr(app, "openapi"):
        return UNMATCHED
    templates = getattr(state, "propfee_route_templates", None)
    if templates is None:
        try:
            paths = list(app.openapi().get("paths", {}))
        except Exception:
            paths = []
        # The most specific first: /units/export before /units/{unit_id}.
        paths.sort(key=lambda p: (p.count("{"), -len(p)))
        templates = [
            (re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(p)) + "$"), p)
            for p in paths
        ]
        state.propfee_route_templates = templates
    path = scope.get("path", "")
    for pattern, template in templates:
        if pattern.match(path):
            return str(template)
    return UNMATCHED


class AccessLog:
    """Measure, log and tag each HTTP request (see the module's docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope)
        started = time.perf_counter()
        status = 500  # unless an answer starts: an exception escaping the app is a 500

        started_response = False
        error: str | None = None

        async def send_tagged(message: Message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                status = int(message["status"])
                started_response = True
                headers = [
                    (k, v) for k, v in message.get("headers", ()) if k.lower() != b"x-request-id"
                ]
                headers.append((b"x-request-id", request_id.encode("ascii")))
                message = {**message, "headers": headers}
            await send(message)

        # bind/reset rather than bound_contextvars(): that one copies the whole context to
        # save what it overwrites, several times the cost of the request's own bookkeeping.
        tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            try:
                await self.app(scope, receive, send_tagged)
            except Exception as exc:
                # Answered here (problem details, with the request id) rather than by the
                # server's bare 500; re-raised so the server logs the traceback as before.
                error = type(exc).__name__
                if not started_response:
                    body = json.dumps(problem(500, "internal error")).encode()
                    await send_tagged(
                        {
                            "type": "http.response.start",
                            "status": 500,
                            "headers": [
                                (b"content-type", MEDIA_TYPE.encode()),
                                (b"content-length", str(len(body)).encode()),
                            ],
                        }
                    )
                    await send_tagged({"type": "http.response.body", "body": body})
                raise
            finally:
                self._record(scope, status, time.perf_counter() - started, request_id, error)
        finally:
            structlog.contextvars.reset_contextvars(**tokens)

    @staticmethod
    def _record(
        scope: Scope, status: int, seconds: float, request_id: str, error: str | None
    ) -> None:
        method = scope.get("method", "")
        method = method if method in _METHODS else "OTHER"
        route = route_of(scope)
        counter, histogram = _series(method, route, status)
        counter.inc()
        histogram.observe(seconds)
        level = (
            logging.WARNING
            if status >= 500
            else logging.DEBUG
            if route in QUIET_ROUTES
            else logging.INFO
        )
        # The level is checked first: a filtered event still costs structlog's whole
        # processor call when it is made (every request of a service logging at WARNING).
        if not logging.getLogger("propfee.access").isEnabledFor(level):
            return
        log.log(
            level,
            "http request",
            method=method,
            route=route,
            status=status,
            duration_ms=round(seconds * 1000, 1),
            request_id=request_id,
            **({"error": error} if error else {}),
        )


#: The metric children of each (method, route, status) seen: ``labels()`` costs a lookup and
#: a lock per call. Bounded: routes are templates, methods and statuses few.
_SERIES: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def _series(method: str, route: str, status: int) -> tuple[Any, Any]:
    key = (method, route, status)
    found = _SERIES.get(key)
    if found is None:
        found = (
            metrics.HTTP_REQUESTS.labels(method, route, str(status)),
            metrics.HTTP_SECONDS.labels(method, route),
        )
        _SERIES[key] = found
    return found
