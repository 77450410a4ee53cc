"""Bulk actions as background jobs (the console's workbench): create one with the selection,
then read its progress. The work is ``service_layer/jobs.py``'s, done by any replica."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from dunning.entrypoints import security
from dunning.service_layer import jobs
from propfee.http import Pool
from propfee.problems import FieldProblem, InvalidInput

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
    kind: Literal["assign_cases"]
    total: int
    done: int = Field(description="Items done successfully")
    failed: int = Field(description="Items refused (see errors)")
    changed: int = Field(description="Items whose case changed (the rest were so already)")
    finished: bool
    created_at: str
    finished_at: str | None
    errors: list[JobError] = Field(description="The first refused items, with the reason")


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
    if (body.case_ids is None) == (body.filter is None):
        raise InvalidInput(
            "give either case_ids or filter",
            errors=[FieldProblem(field="case_ids", reason="either case_ids or filter")],
        )
    case_ids = body.case_ids
    if body.filter is not None:
        case_ids = await jobs.cases_matching(
            pool, principal, community_id=body.filter.community_id, tier=body.filter.tier
        )
    job = await jobs.create_assignment_job(
        pool, principal, case_ids or [], staff_id=body.staff_id, role=body.role
    )
    return Job.model_validate(job.as_dict())


@router.get("/jobs/{job_id}", tags=["jobs"])
async def get_job(job_id: str, pool: Pool, principal: security.CaseWorker) -> Job:
    """A bulk job's progress; 404 for another company's job (or one reaching communities
    outside the caller's)."""
    return Job.model_validate((await jobs.job_progress(pool, principal, job_id)).as_dict())
