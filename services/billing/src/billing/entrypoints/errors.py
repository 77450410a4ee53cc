"""Domain errors as HTTP answers: 404 for what does not exist, 409 for a state that forbids
the action, 422 for bad input (the message says what and where)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import HTTPException

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
