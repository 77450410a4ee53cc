"""Late-fee waiver requests: asked by one person, decided by another."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from billing.service_layer.registry import Text

_EXAMPLE: dict[str, Any] = {
    "request_id": "lwr-7f3a9c1e2b4d6a8f0c1e",
    "invoice_id": "inv-2c4d6e8fa0b1c3d5e7f9",
    "unit_id": "unit-1a2b3c4d5e6f7a8b9c0d",
    "community_id": "c-lotus",
    "amount_fen": 1200,
    "reason": "疫情期间减免",
    "requested_by": "housekeeper-wang",
    "requested_at": "2026-12-03T09:30:00Z",
    "status": "pending",
    "decided_by": None,
    "decided_at": None,
    "decision_note": None,
    "waiver_id": None,
}


class WaiverRequestIn(BaseModel):
    amount_fen: Annotated[int, Field(strict=True, gt=0, le=10_000_000_00)]
    reason: Text


class WaiverDecisionIn(BaseModel):
    decision: Literal["approve", "reject"]
    note: str | None = Field(default=None, min_length=1, max_length=200)


class WaiverRequestOut(BaseModel):
    """A request to waive (part of) an invoice's late fee. ``pending`` until someone other
    than ``requested_by`` decides; ``approved`` carries the ``waiver_id`` applied (capped, like
    every waiver, at the late fee due when approved)."""

    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE]})

    request_id: str
    invoice_id: str
    unit_id: str
    community_id: str
    amount_fen: int
    reason: str
    requested_by: str
    requested_at: datetime
    status: Literal["pending", "approved", "rejected"]
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_note: str | None = None
    waiver_id: str | None = None
