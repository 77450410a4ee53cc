"""Letters and door notices after rendering: print batches, tracking numbers (posted, not
delivered) and deliveries recorded with proof."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import AwareDatetime, BaseModel, Field

from notifier.entrypoints.models import LetterBatch, LetterStatus
from notifier.entrypoints.security import LetterClerk, LetterProofRecorder, LetterRecorder
from notifier.service_layer import print_jobs, staff
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


@router.get(
    "/letters/batches/{batch_id}.pdf",
    response_class=Response,
    responses={**PDF, **problem_responses(409, **{"409": "Its print job is not done yet"})},
)
async def download_letter_batch_pdf(pool: Pool, batch_id: str, principal: LetterClerk) -> Response:
    """A print batch's PDF (to callers who see every community of its letters); 409 while
    its print job is still rendering it."""
    return Response(await staff.batch_pdf(pool, principal, batch_id), media_type="application/pdf")


class LetterPrintJobIn(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{"case_ids": ["case-1", "case-2"]}]}}

    case_ids: list[str] = Field(
        min_length=1,
        max_length=5000,
        description="The letters of these dunning cases (the console's workbench selection, "
        "across pages); a case outside the caller's communities has none",
    )


class LetterPrintJob(BaseModel):
    """A print job: its batch's letters are gathered; their PDF is rendered in the
    background (``done`` of ``total`` letters so far)."""

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "job_id": "ljob-5f1c",
                    "batch_id": "batch-81c2",
                    "status": "running",
                    "total": 120,
                    "done": 40,
                    "created_at": "2026-03-30T02:00:00Z",
                    "finished_at": None,
                }
            ]
        }
    }

    job_id: str
    batch_id: str | None = Field(description="The print batch (null: no letters were due)")
    status: Literal["queued", "running", "done"]
    total: int = Field(description="Letters in the batch")
    done: int = Field(description="Letters rendered so far")
    created_at: datetime
    finished_at: datetime | None


@router.post("/letters/print-jobs", status_code=202)
async def create_letter_print_job(
    pool: Pool, principal: LetterRecorder, body: LetterPrintJobIn
) -> LetterPrintJob:
    """The workbench's bulk "print letters" as a background job: the letters of the cases
    ``case_ids`` rendered by now are gathered at once into a print batch, as
    ``POST /letters/batches`` does (the caller's communities only; audited), and answered at
    once (202); their PDF is rendered in the background, in chunks:
    ``GET /letters/print-jobs/{job_id}`` for the progress, then
    ``GET /letters/print-jobs/{job_id}.pdf``."""
    return LetterPrintJob(**await print_jobs.create_print_job(pool, principal, body.case_ids))


@router.get(
    "/letters/print-jobs/{job_id}.pdf",
    response_class=Response,
    responses={
        **PDF,
        **problem_responses(409, **{"409": "The job is not done yet, or found no letters"}),
    },
)
async def download_letter_print_job_pdf(
    pool: Pool, job_id: str, principal: LetterClerk
) -> Response:
    """The PDF of a done print job (its batch's, ``GET /letters/batches/{batch_id}.pdf``);
    404 as for its progress, 409 before it is done or when it found no letters."""
    return Response(await print_jobs.job_pdf(pool, principal, job_id), media_type="application/pdf")


# After the PDF's route: "{job_id}" would match "<id>.pdf" too.
@router.get("/letters/print-jobs/{job_id}")
async def get_letter_print_job(pool: Pool, job_id: str, principal: LetterClerk) -> LetterPrintJob:
    """A print job's progress (to callers who see every community of its letters; 404 for
    another company's)."""
    return LetterPrintJob(**await print_jobs.job_progress(pool, principal, job_id))


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
