"""Domain errors as HTTP answers: 404 for what does not exist, 409 for a state that forbids
the action, 422 for bad input (the message says what and where)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse

from billing.service_layer.payments import InvoiceStateError
from billing.service_layer.registry import Conflict


@contextmanager
def domain_errors() -> Iterator[None]:
    try:
        yield
    except HTTPException:
        raise
    except LookupError as exc:
        raise HTTPException(404, str(exc).strip("'\"")) from exc
    except (InvoiceStateError, Conflict) as exc:
        raise HTTPException(409, str(exc)) from exc
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc


def install_database_error_handlers(app: FastAPI) -> None:
    """What the database refuses is the request's fault, not the server's: a value out of
    range or a broken rule is 422, a duplicate 409. The answer names the rule, never the row
    (which may hold personal data)."""

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
