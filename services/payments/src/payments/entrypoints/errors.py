"""A gateway that fails answers a problem: 503 unreachable, 502 a bad answer
(``service_layer.prepay``). What the database refuses is mapped once, in ``propfee.problems``."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from payments.service_layer.prepay import GatewayFailure


def install_problem_handlers(app: FastAPI) -> None:
    """Gateway failures answer an RFC 7807 problem (``application/problem+json``)."""

    async def gateway(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, GatewayFailure)
        body = {
            "type": exc.type,
            "title": exc.title,
            "status": exc.status,
            "detail": exc.detail,
            "instance": request.url.path,
            **exc.extra,
        }
        headers = {"Retry-After": "30"} if exc.status == 503 else None
        return JSONResponse(body, exc.status, headers, media_type="application/problem+json")

    app.add_exception_handler(GatewayFailure, gateway)
