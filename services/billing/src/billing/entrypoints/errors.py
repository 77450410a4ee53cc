"""Deprecated: the service layer raises ``billing.errors`` (``propfee.problems`` classes),
mapped once by the app factory. ``domain_errors`` stays while routes still wrap calls with
it: it lets problems through as they are and maps the builtins older service code raises
(``LookupError`` 404, ``ValueError`` 422) the way it always did."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import HTTPException

from propfee.problems import ProblemError


@contextmanager
def domain_errors() -> Iterator[None]:
    try:
        yield
    except (HTTPException, ProblemError):
        raise
    except LookupError as exc:
        raise HTTPException(404, str(exc).strip("'\"")) from exc
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
