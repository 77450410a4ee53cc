"""Deterministic ids: the fast form is the UUID5 one it replaced (ids already stored)."""

from __future__ import annotations

import uuid

from billing.service_layer.ids import _NAMESPACE, stable_id


def test_stable_id_is_the_uuid5_prefix() -> None:
    for n in range(2000):
        parts = ("run-1a2b", f"unit-{n}", n, "物业", None)
        key = "\x1f".join(str(p) for p in parts)
        assert stable_id("inv", *parts) == f"inv-{uuid.uuid5(_NAMESPACE, key).hex[:20]}"
