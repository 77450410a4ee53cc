"""Letters and door notices after rendering: print batches, tracking numbers (posted, not
delivered) and deliveries recorded with proof."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import AwareDatetime, BaseModel, Field

from notifier.entrypoints.models import LetterBatch, LetterStatus
from notifier.entrypoints.security import LetterClerk, LetterProofRecorder, LetterRecorder
from notifier.service_layer import staff
from propfee.http import Pool
from propfee.problems import FieldProblem, InvalidInput, problem_responses

router = APIRouter(tags=["letters"])
PDF: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}}
}


class LetterBatchIn(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{"case_ids": ["case-1", "case-2"]}]}}

    case_ids: list[str] | None = Field(
        default=None,
        min_length=1,
        max_length=5000,
        description="Only the letters of these dunning cases (the console's workbench "
        "selection); a case outside the caller's communities has none",
    )


@router.post("/letters/batches", status_code=201)
async def create_letter_batch(
    pool: Pool,
    principal: LetterRecorder,
    as_of: datetime | None = None,
    body: LetterBatchIn | None = None,
) -> LetterBatch:
    """Gather rendered letters and door notices of the caller's communities into one
    print-ready PDF: those rendered by now (staff; a chosen ``as_of`` is the service role's
    alone, 403 otherwise), of the cases ``case_ids`` only when given (the workbench's bulk
    "print letters"). Audited (per community of the batch)."""
    if as_of is not None and as_of.tzinfo is None:
        raise InvalidInput(
            "as_of needs a time zone offset (RFC 3339)",
            errors=[FieldProblem(field="query.as_of", reason="no time zone offset")],
        )
    case_ids = body.case_ids if body is not None else None
    return LetterBatch(**await staff.create_batch(pool, principal, as_of, case_ids))


@router.get("/letters/batches/{batch_id}.pdf", response_class=Response, responses=PDF)
async def download_letter_batch_pdf(pool: Pool, batch_id: str, principal: LetterClerk) -> Response:
    """A print batch's PDF (to callers who see every community of its letters)."""
    return Response(await staff.batch_pdf(pool, principal, batch_id), media_type="application/pdf")


class TrackingIn(BaseModel):
    tracking_number: str = Field(min_length=4, max_length=100)
    carrier: str = Field(default="EMS", max_length=50)
    posted_at: AwareDatetime | None = Field(
        default=None,
        description="When it was posted (default: now). Staff may back-date it within the "
        "company's window (backdate_days, default 7) and never forward-date it (403); the "
        "time it was recorded is kept too",
    )
    delivered_at: AwareDatetime | None = Field(
        default=None,
        json_schema_extra={"deprecated": True},
        description="Deprecated: read as posted_at. A tracking number means posted, not "
        "delivered; record the delivery with POST /notifications/{id}/delivery",
    )


@router.post(
    "/notifications/{notification_id}/tracking",
    responses=problem_responses(409, **{"409": "Not a letter awaiting its tracking number"}),
)
async def record_letter_tracking(
    pool: Pool, notification_id: str, body: TrackingIn, principal: LetterProofRecorder
) -> LetterStatus:
    """The postal tracking number: the letter is posted, not delivered (its delivery is
    recorded with proof by ``POST /notifications/{notification_id}/delivery``); a letter
    posted already answers ``unchanged``. Audited."""
    status = await staff.record_tracking(
        pool,
        principal,
        notification_id,
        tracking_number=body.tracking_number,
        carrier=body.carrier,
        posted_at=body.posted_at or body.delivered_at,
    )
    return LetterStatus(notification_id=notification_id, status=status)


@router.post(
    "/notifications/{notification_id}/delivery",
    responses=problem_responses(409, **{"409": "Not a letter awaiting delivery"}),
)
async def record_letter_delivery(
    pool: Pool, notification_id: str, body: staff.DeliveryProof, principal: LetterProofRecorder
) -> LetterStatus:
    """A letter's (or door notice's) delivery, with proof: the carrier's delivery status or a
    signed receipt with its scan or reference (422 without either). Publishes
    NotificationDelivered with that proof: only now does dunning count it as a delivered
    demand. 409 when it is not a letter awaiting delivery; a delivered one is unchanged.
    Audited."""
    status = await staff.record_delivery(pool, principal, notification_id, body)
    return LetterStatus(notification_id=notification_id, status=status)
