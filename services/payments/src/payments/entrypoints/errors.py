"""What the database refuses is the request's fault, not the server's: a value out of range or
malformed (a NUL character in a text, a number too large for its column) is 422, a broken rule
422, a duplicate 409. The answer names the rule, never the row."""

from __future__ import annotations

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


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
