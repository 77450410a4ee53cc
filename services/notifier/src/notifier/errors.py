"""Notifier's errors: ``propfee.problems`` classes (each carries its HTTP status), raised by
the service layer and mapped to RFC 9457 problem details once, by the app factory."""

from __future__ import annotations

from collections.abc import Sequence

from propfee.problems import (
    BadRequest,
    Conflict,
    InvalidInput,
    NotFound,
    ProblemError,
    Unauthorized,
    Unavailable,
)

__all__ = [
    "CallbackOff",
    "CallbackRefused",
    "ContactRulesRefused",
    "DispatcherStarting",
    "NotALetter",
    "NotReceipts",
    "NotifierError",
    "TemplateRefused",
    "TemplateStateConflict",
]


class NotifierError(ProblemError):
    """Any of notifier's own refusals (for ``except`` clauses that want them all)."""


class TemplateRefused(InvalidInput, NotifierError):
    """A template failed the check at save or approval: ``problems`` lists every reason."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("template refused", problems=list(problems))


class ContactRulesRefused(InvalidInput, NotifierError):
    """Quiet hours or a cap that cannot be: ``problems`` lists every reason."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("contact rules refused", problems=list(problems))


class TemplateStateConflict(Conflict, NotifierError):
    """A version approved already, a later one approved, or one of no company."""


class NotALetter(Conflict, NotifierError):
    """Tracking or delivery recorded for a message that is not a letter awaiting it."""


class DispatcherStarting(Unavailable, NotifierError):
    """The dispatcher is not running yet (the service is starting)."""


class CallbackOff(NotFound, NotifierError):
    """A provider callback whose secret is not configured: the endpoint is off."""


class CallbackRefused(Unauthorized, NotifierError):
    """A provider callback whose token, signature or timestamp does not verify."""


class NotReceipts(BadRequest, NotifierError):
    """A signed callback body that is not delivery receipts."""
