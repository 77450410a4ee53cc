"""Deterministic identifiers: the same natural key always gives the same id, so re-running an
import or a billing run finds what it created before instead of creating it again."""

from __future__ import annotations

import uuid

_NAMESPACE = uuid.UUID("6f1d7c1e-3b7a-4d59-9a57-0d8f1e0b6a11")


def stable_id(prefix: str, *parts: object) -> str:
    """``prefix-`` and 20 hex digits of a UUID5 over the parts (short enough for any gateway)."""
    key = "\x1f".join(str(p) for p in parts)
    return f"{prefix}-{uuid.uuid5(_NAMESPACE, key).hex[:20]}"
