"""Identifiers. Deterministic ones (the same natural key always gives the same id, so re-running
a billing run finds what it created before) for what only the service derives from its own
ids; random ones for units and invoices, whose ids must not be derivable from public data
(room numbers, community ids) nor reveal whether an id exists in another company."""

from __future__ import annotations

import hashlib
import secrets
import uuid

_NAMESPACE = uuid.UUID("6f1d7c1e-3b7a-4d59-9a57-0d8f1e0b6a11")
_NAMESPACE_BYTES = _NAMESPACE.bytes


def stable_id(prefix: str, *parts: object) -> str:
    """``prefix-`` and 20 hex digits of a UUID5 over the parts (short enough for any gateway).

    ``uuid.uuid5(_NAMESPACE, key).hex[:20]``, computed without the UUID object (a billing run
    makes one per invoice): SHA-1 of the namespace and the key, the version and variant bits
    set in the first 10 bytes."""
    key = "\x1f".join(str(p) for p in parts)
    head = bytearray(hashlib.sha1(_NAMESPACE_BYTES + key.encode()).digest()[:10])
    head[6] = (head[6] & 0x0F) | 0x50
    head[8] = (head[8] & 0x3F) | 0x80
    return f"{prefix}-{head.hex()}"


def new_id(prefix: str) -> str:
    """``prefix-`` and 20 random hex digits: an id nobody can derive or guess (units and
    invoices; a client's own identifier is kept as their ``reference``)."""
    return f"{prefix}-{secrets.token_hex(10)}"
