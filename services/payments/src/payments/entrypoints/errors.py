"""What the database refuses is the request's fault, not the server's: a value out of range or
malformed (a NUL character in a text, a number too large for its column) is 422, a broken rule
422, a duplicate 409. The answer names the rule, never the row. A gateway that fails answers an
RFC 7807 problem: 503 unreachable, 502 a bad answer (``service_layer.prepay``)."""

from __future__ import annotations

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from payments.service_layer.prepay import GatewayFailure


def install_database_error_handlers(app: FastAPI) -> None:
    async def integrity(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, asyncpg.PostgresError)
        what = getattr(exc, "constraint_name", None) or getattr(exc, "column_name", None)
        status = 409 if isinstance(exc, asyncpg.UniqueViolationError) else 422
        detail = "conflicts with an existing record" if status == 409 else "refused by a rule"
        return JSONResponse({"detail": f"{detail}{f' ({what})' if what else ''}"}, status)

    async def data(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": "a value is out of range or malformed"}, 422)

    app.add_exception_handler(asyncpg.IntegrityConstraintViolationError, integrity)
    app.add_exception_handler(asyncpg.DataError, data)


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
