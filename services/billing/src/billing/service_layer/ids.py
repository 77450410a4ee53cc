"""Identifiers. Deterministic ones (the same natural key always gives the same id, so re-running
a billing run finds what it created before) for what only the service derives from its own
ids; random ones for units and invoices, whose ids must not be derivable from public data
(room numbers, community ids) nor reveal whether an id exists in another company."""

from __future__ import annotations

import secrets
import uuid

_NAMESPACE = uuid.UUID("6f1d7c1e-3b7a-4d59-9a57-0d8f1e0b6a11")


def stable_id(prefix: str, *parts: object) -> str:
    """``prefix-`` and 20 hex digits of a UUID5 over the parts (short enough for any gateway)."""
    key = "\x1f".join(str(p) for p in parts)
    return f"{prefix}-{uuid.uuid5(_NAMESPACE, key).hex[:20]}"


def new_id(prefix: str) -> str:
    """``prefix-`` and 20 random hex digits: an id nobody can derive or guess (units and
    invoices; a client's own identifier is kept as their ``reference``)."""
    return f"{prefix}-{secrets.token_hex(10)}"
