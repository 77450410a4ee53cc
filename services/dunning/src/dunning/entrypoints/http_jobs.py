"""Bulk actions as background jobs (the console's workbench): create one with the selection,
then read its progress (and, for an export, download its file when finished). The work is
``service_layer/jobs.py``'s, done by any replica."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from dunning.adapters.xlsx import XLSX_TYPE
from dunning.entrypoints import security
from dunning.service_layer import jobs
from propfee.auth import Principal
from propfee.http import Pool
from propfee.problems import FieldProblem, InvalidInput, problem_responses

router = APIRouter()


class CaseFilter(BaseModel):
    """The open cases of the caller's scope matching every field given (as ``GET /cases``)."""

    community_id: str | None = Field(default=None, min_length=1, max_length=200)
    tier: Literal["red", "yellow", "green", "current"] | None = None


class CaseAssignmentsIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"case_ids": ["case-1", "case-2"], "staff_id": "hk-1"}]}
    )
    case_ids: list[str] | None = Field(
        default=None, min_length=1, max_length=jobs.MAX_ITEMS,
        description="The selection (duplicates count once); or give `filter`",
    )  # fmt: skip
    filter: CaseFilter | None = Field(
        default=None, description="Every open case matching it, instead of `case_ids`"
    )
    staff_id: str = Field(min_length=1, max_length=200)
    role: Literal["housekeeper", "collector", "legal"] = "housekeeper"


class CaseExportIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"case_ids": ["case-1", "case-2"]}]})
    case_ids: list[str] | None = Field(
        default=None, min_length=1, max_length=jobs.MAX_ITEMS,
        description="The selection (duplicates count once); or give `filter`",
    )  # fmt: skip
    filter: CaseFilter | None = Field(
        default=None, description="Every open case matching it, instead of `case_ids`"
    )


async def _selection(
    pool: Pool, principal: Principal, case_ids: list[str] | None,
    case_filter: CaseFilter | None,
) -> list[str]:  # fmt: skip
    """``case_ids``, or the open cases of the caller's scope matching ``case_filter``."""
    if (case_ids is None) == (case_filter is None):
        raise InvalidInput(
            "give either case_ids or filter",
            errors=[FieldProblem(field="case_ids", reason="either case_ids or filter")],
        )
    if case_filter is not None:
        return await jobs.cases_matching(
            pool, principal, community_id=case_filter.community_id, tier=case_filter.tier
        )
    return case_ids or []


class JobError(BaseModel):
    case_id: str
    error: str = Field(description="Why this item was refused")


class Job(BaseModel):
    """A bulk job as it runs: items done (including refused ones: ``failed``) of ``total``."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "job_id": "job-5f0c", "kind": "assign_cases", "total": 120, "done": 50,
                    "failed": 0, "changed": 50, "finished": False,
                    "created_at": "2026-03-10T10:00:00+08:00", "finished_at": None,
                    "errors": [],
                }
            ]
        }
    )  # fmt: skip
    job_id: str
    kind: Literal["assign_cases", "export_cases"]
    total: int
    done: int = Field(description="Items done successfully")
    failed: int = Field(description="Items refused (see errors)")
    changed: int = Field(description="Items whose case changed (the rest were so already)")
    finished: bool
    created_at: str
    finished_at: str | None
    errors: list[JobError] = Field(description="The first refused items, with the reason")
    file_name: str | None = Field(
        default=None,
        description="A finished export's file (``GET /jobs/{job_id}/file``); null before",
    )


@router.post("/jobs/case-assignments", tags=["jobs"], status_code=202)
async def create_assignment_job(
    body: CaseAssignmentsIn, pool: Pool, principal: security.CaseWorker
) -> Job:
    """Assign every selected case (across pages) to one person, in the background: answered
    at once with the job (202); ``GET /jobs/{job_id}`` for its progress. 404 (nothing queued)
    when a case is outside the caller's scope. With ``filter`` instead of ``case_ids``: every
    open case of the caller's scope matching it, as it is now (422 when none or too many).
    Each case is assigned as ``POST /cases/{case_id}/assignment`` does, audited, with the
    caller's rights; a case assigned so already is left as it is."""
    case_ids = await _selection(pool, principal, body.case_ids, body.filter)
    job = await jobs.create_assignment_job(
        pool, principal, case_ids, staff_id=body.staff_id, role=body.role
    )
    return Job.model_validate(job.as_dict())


@router.post("/jobs/case-exports", tags=["jobs"], status_code=202, responses=problem_responses(404))
async def create_export_job(body: CaseExportIn, pool: Pool, principal: security.Reader) -> Job:
    """Export every selected case (across pages) as the arrears list's XLSX workbook (the
    columns of ``GET /cases.xlsx``, one row per case in the order selected), in the
    background: answered at once with the job (202); ``GET /jobs/{job_id}`` for its
    progress, then ``GET /jobs/{job_id}/file`` for the workbook. 404 (nothing queued) when a
    case is outside the caller's scope; ``filter`` as for ``/jobs/case-assignments``. A case
    that leaves the caller's scope meanwhile fails alone and is left out."""
    case_ids = await _selection(pool, principal, body.case_ids, body.filter)
    job = await jobs.create_export_job(pool, principal, case_ids)
    return Job.model_validate(job.as_dict())


@router.get("/jobs/{job_id}", tags=["jobs"])
async def get_job(job_id: str, pool: Pool, principal: security.Reader) -> Job:
    """A bulk job's progress; 404 for another company's job (or one reaching communities
    outside the caller's)."""
    return Job.model_validate((await jobs.job_progress(pool, principal, job_id)).as_dict())


@router.get(
    "/jobs/{job_id}/file",
    tags=["jobs"],
    response_class=Response,
    responses={
        200: {"content": {XLSX_TYPE: {"schema": {"type": "string", "format": "binary"}}}},
        **problem_responses(409, **{"409": "The job is not finished, or ends with no file"}),
    },
)
async def download_job_file(job_id: str, pool: Pool, principal: security.Reader) -> Response:
    """The file a finished job ended with (an export's XLSX workbook); 404 for another
    company's job (or one reaching communities outside the caller's), 409 before it is
    made."""
    name, media_type, content = await jobs.job_file(pool, principal, job_id)
    return Response(
        content,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
