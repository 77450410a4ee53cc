"""Errors as RFC 9457 problem details, one hierarchy for the four services.

Every error answer is ``application/problem+json``::

    {"type": "https://propfee.dev/problems/conflict", "title": "Conflict", "status": 409,
     "detail": "the run for 2026-11 is already under way", "refused": "run_in_progress"}

- The service layer raises a :class:`ProblemError` subclass (:class:`NotFound`,
  :class:`Conflict`, :class:`InvalidInput` ...); it knows nothing of HTTP beyond the status the
  class stands for.
- :func:`install` (called once, by ``propfee.http.create_service_app``) maps those, FastAPI's
  ``HTTPException``, request validation errors and what the database refuses (a duplicate 409,
  a broken rule or a malformed value 422, naming the rule, never the row) to problem details.
  Validation errors carry ``errors[]`` (``field``, ``reason``, and ``row`` for uploads,
  1-based as the file counts).
- :func:`problem_responses` documents the answers an operation can give; ``propfee.openapi``
  adds 401/403 to every secured operation, 404 where the path names something and 422 where
  the request has parameters or a body, so routes declare only the rest (409, 410, 413, 429 ...).

An ``HTTPException`` whose detail is a mapping (``{"refused": "...", ...}``) keeps its keys as
extension members beside ``detail`` (RFC 9457 section 3.2), and its ``reason`` or ``refused``
becomes the human ``detail``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any, ClassVar

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://propfee.dev/problems/"

#: The ``type`` slug per status where no more specific one is given.
_SLUGS = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    410: "gone",
    413: "too-large",
    415: "unsupported-media-type",
    422: "invalid-input",
    429: "too-many-requests",
    502: "bad-gateway",
    503: "unavailable",
}


class FieldProblem(BaseModel):
    """One thing wrong with the input: which field (dotted path), why, and for uploads the
    row (1-based, as a spreadsheet counts it)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"field": "area_m2", "reason": "must be > 0", "row": 7}]}
    )

    field: str
    reason: str
    row: int | None = None


class UnmetCondition(BaseModel):
    """One precondition a refused request did not meet: a stable ``code`` a client may
    translate, and a sentence (``detail``) saying what would meet it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "code": "no_delivered_demand",
                    "detail": "no individually delivered demand with a deadline is on record",
                }
            ]
        }
    )

    code: str
    detail: str


class Problem(BaseModel):
    """RFC 9457 problem details. Extension members (e.g. ``refused``) may follow."""

    model_config = ConfigDict(
        extra="allow",
        title="Problem",
        json_schema_extra={
            "examples": [
                {
                    "type": "https://propfee.dev/problems/not-found",
                    "title": "Not Found",
                    "status": 404,
                    "detail": "unit not found",
                }
            ]
        },
    )

    type: str = Field(description="A URI naming the kind of problem.")
    title: str = Field(description="The kind of problem, for people.")
    status: int = Field(description="The HTTP status code.")
    detail: str | None = Field(default=None, description="This occurrence, for people.")
    instance: str | None = Field(default=None, description="The request path.")
    errors: list[FieldProblem] | None = Field(
        default=None, description="What is wrong with the input, field by field."
    )
    unmet: list[UnmetCondition] | None = Field(
        default=None,
        description="A refusal's unmet preconditions, every one (not only the first).",
    )


class ProblemError(Exception):
    """An answer other than success, raised by the service layer. Subclasses fix the status."""

    status: ClassVar[int] = 400
    slug: ClassVar[str | None] = None

    def __init__(
        self,
        detail: str,
        *,
        errors: Sequence[FieldProblem] | None = None,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = list(errors) if errors is not None else None
        self.headers = dict(headers or {})
        self.extensions = extensions


class BadRequest(ProblemError):
    status = 400


class Unauthorized(ProblemError):
    status = 401


class Forbidden(ProblemError):
    status = 403


class NotFound(ProblemError):
    """Absent, or not the caller's to see: the same answer either way."""

    status = 404


class Conflict(ProblemError):
    """The request clashes with the current state (a duplicate, a state that forbids it)."""

    status = 409


class Gone(ProblemError):
    status = 410


class TooLarge(ProblemError):
    status = 413


class InvalidInput(ProblemError):
    """Well-formed but wrong input; ``errors`` says field by field (and row by row)."""

    status = 422


class TooManyRequests(ProblemError):
    status = 429


class Unavailable(ProblemError):
    status = 503


def problem(
    status: int,
    detail: str | None,
    *,
    instance: str | None = None,
    slug: str | None = None,
    errors: Iterable[FieldProblem | Mapping[str, Any]] | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The body of a problem-details answer."""
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    body: dict[str, Any] = {
        "type": TYPE_BASE + (slug or _SLUGS.get(status, str(status))),
        "title": title,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    if errors is not None:
        body["errors"] = [
            e.model_dump(exclude_none=True) if isinstance(e, FieldProblem) else dict(e)
            for e in errors
        ]
    for key, value in (extensions or {}).items():
        if key not in body:
            body[key] = value
    return body


def problem_response(
    status: int,
    detail: str | None,
    *,
    request: Request | None = None,
    headers: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> JSONResponse:
    body = problem(status, detail, instance=request.url.path if request else None, **kwargs)
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _detail_of(detail: Any) -> tuple[str | None, dict[str, Any], list[Any] | None]:
    """An ``HTTPException`` detail as (human detail, extension members, errors)."""
    if detail is None or isinstance(detail, str):
        return detail, {}, None
    if isinstance(detail, Mapping):
        extensions = {k: v for k, v in detail.items() if k not in {"detail", "errors"}}
        errors = detail.get("errors")
        text = detail.get("detail") or detail.get("reason") or detail.get("refused")
        if isinstance(text, list):
            text = "; ".join(str(t) for t in text)
        return (str(text) if text is not None else None), extensions, errors
    if isinstance(detail, list):
        return "; ".join(str(d) for d in detail), {}, None
    return str(detail), {}, None


def _field_of(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header", "cookie"}:
        where, rest = parts[0], parts[1:]
        return ".".join(rest) if rest and where == "body" else ".".join([where, *rest])
    return ".".join(parts)


def validation_errors(errors: Iterable[Mapping[str, Any]]) -> list[FieldProblem]:
    """pydantic's errors as ``errors[]`` members."""
    return [
        FieldProblem(field=_field_of(e.get("loc", ())) or "body", reason=str(e.get("msg", "")))
        for e in errors
    ]


def install(app: FastAPI) -> None:
    """Answer every error of ``app`` as problem details."""

    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ProblemError)
        return problem_response(
            exc.status,
            exc.detail,
            request=request,
            headers=exc.headers or None,
            slug=exc.slug,
            errors=exc.errors,
            extensions=exc.extensions,
        )

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        # Starlette's own (the router's 404 for an unknown path, 405) as well as FastAPI's.
        assert isinstance(exc, StarletteHTTPException)
        text, extensions, errors = _detail_of(exc.detail)
        return problem_response(
            exc.status_code,
            text,
            request=request,
            headers=exc.headers,
            errors=errors,
            extensions=extensions,
        )

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = validation_errors(exc.errors())
        return problem_response(
            422,
            "; ".join(f"{e.field}: {e.reason}" for e in errors[:5]) or "invalid request",
            request=request,
            errors=errors,
        )

    async def on_integrity(request: Request, exc: Exception) -> JSONResponse:
        # What the database refuses is the request's fault, not the server's: a duplicate is
        # 409, a broken rule 422. The answer names the rule, never the row (personal data).
        assert isinstance(exc, asyncpg.PostgresError)
        what = getattr(exc, "constraint_name", None) or getattr(exc, "column_name", None)
        status = 409 if isinstance(exc, asyncpg.UniqueViolationError) else 422
        text = "conflicts with an existing record" if status == 409 else "refused by a rule"
        return problem_response(status, f"{text}{f' ({what})' if what else ''}", request=request)

    async def on_data(request: Request, exc: Exception) -> JSONResponse:
        # A value out of range or malformed (a NUL character, a number too large): 422.
        return problem_response(422, "a value is out of range or malformed", request=request)

    app.add_exception_handler(asyncpg.IntegrityConstraintViolationError, on_integrity)
    app.add_exception_handler(asyncpg.DataError, on_data)
    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)


#: The description of each documented error status.
DESCRIPTIONS = {
    400: "The request cannot be read.",
    401: "No valid bearer token.",
    403: "The token's roles may not do this.",
    404: "Not found, or not the caller's to see (the same answer).",
    409: "Clashes with the current state.",
    410: "No longer available.",
    413: "The body is larger than the service accepts.",
    415: "The body's media type is not accepted.",
    422: "The input is invalid; `errors[]` says where.",
    429: "Too many requests; retry after the `Retry-After` header.",
    502: "An upstream provider failed.",
    503: "The service is not ready; retry shortly.",
}


def problem_responses(*statuses: int, **described: str) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each status answered as problem details.

    ``problem_responses(409, 410)``; ``problem_responses(409, **{"409": "already paid"})``
    overrides a description. ``propfee.openapi`` puts ``Problem`` into the components."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        out[status] = {
            "description": described.get(str(status), DESCRIPTIONS.get(status, "Error")),
            "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
    return out
