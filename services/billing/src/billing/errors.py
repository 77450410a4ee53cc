"""Billing's errors: ``propfee.problems`` classes (each carries its HTTP status and problem
type, mapped once by the app factory), raised by the service layer.

Each is also the builtin it replaced (``LookupError``, ``ValueError``), so code that catches
those (and ``entrypoints.errors.domain_errors``, kept while routes still use it) behaves as
before."""

from __future__ import annotations

from propfee import problems


class NotFound(problems.NotFound, LookupError):
    """Absent, or not the caller's to see (404)."""


class Conflict(problems.Conflict, ValueError):
    """A state that forbids the action (409); the message says which."""


class InvalidInput(problems.InvalidInput, ValueError):
    """Bad input the request's schema could not tell (422); the message says what and where
    (``field: reason``), and ``errors[]`` names the field."""

    def __init__(self, detail: str, **kwargs: object) -> None:
        if "errors" not in kwargs and ": " in detail:
            field, reason = detail.split(": ", 1)
            if field.isidentifier():
                kwargs["errors"] = [problems.FieldProblem(field=field, reason=reason)]
        super().__init__(detail, **kwargs)  # type: ignore[arg-type]


class RegistryError(InvalidInput):
    """Bad registry input (422)."""


class InvoiceStateError(Conflict):
    """An invoice whose state forbids the action (paid, void ...): 409."""


class Forbidden(problems.Forbidden):
    """The caller's role or scope may not do this (403)."""
