"""Bulk actions as background jobs (the console's workbench, issue 23): assign many cases to
one person (``assign_cases``), export them as the arrears workbook (``export_cases``, a job
that ends with a file: migration 0019). The pattern of ``sweep.py`` (and
``payments/service_layer/expiry.py``):

- ``create_assignment_job``: the selection is resolved through the caller's scope at once (404
  for any case the caller may not see: nothing is queued), written as one item per case, and
  answered at once with the job's id (202);
- ``work_chunk``: any dunning replica claims up to ``chunk`` pending items (``FOR UPDATE SKIP
  LOCKED``: two replicas never take the same item), does each through the single-case use
  case (``casework.assign_case_on``, one home of the rule and its audit) in a savepoint, marks
  them done (or failed, with the refusal) and commits the chunk; a replica that dies mid-chunk
  holds nothing and the chunk is claimed again; an item done again changes nothing;
- ``job_progress``: ``GET /jobs/{job_id}``: done / failed / total and the errors, for a job of
  the caller's company whose communities are all the caller's (404 for another's).

A job of a kind that ends with a file (``FILES``) is finished by the chunk that does its last
item: in that transaction, the file is made of the items done (in the order selected) and
kept with the job; ``GET /jobs/{job_id}/file`` serves it to whoever may read the job.

Each item is done with the rights of the person who asked (their claims are kept with the
job), not the worker's: a job cannot reach what its requester could not.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from fastapi import HTTPException

from dunning.adapters import xlsx
from dunning.errors import NotFound
from dunning.service_layer import casework, exports, people, scope
from dunning.service_layer.scope import legal_only, legal_sql, scope_sql
from propfee.auth import Principal, Role
from propfee.logging import get_logger
from propfee.problems import Conflict, FieldProblem, InvalidInput, ProblemError

log = get_logger(__name__)

WORKER = f"{socket.gethostname()}:{os.getpid()}"
#: Items per claimed chunk (one transaction).
CHUNK = 50
#: At most this many items in one job.
MAX_ITEMS = 5000
#: At most this many errors are listed in a job's progress (the counts are exact).
ERRORS_SHOWN = 50
#: The kinds of job, and those that end with a file (made when the last item is done).
KINDS = ("assign_cases", "export_cases")
FILES = frozenset({"export_cases"})


@dataclass(frozen=True)
class JobProgress:
    job_id: str
    kind: str
    total: int
    done: int
    failed: int
    changed: int
    finished: bool
    created_at: str
    finished_at: str | None
    errors: list[dict[str, str]] = field(default_factory=list)
    file_name: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _claims(principal: Principal) -> dict[str, Any]:
    return {
        "subject": principal.subject,
        "company_id": principal.company_id,
        "communities": sorted(principal.communities),
        "roles": sorted(r.value for r in principal.roles),
        "all_communities": principal.all_communities,
    }


def _principal(claims: dict[str, Any]) -> Principal:
    return Principal(
        subject=claims["subject"],
        company_id=claims["company_id"],
        communities=frozenset(claims["communities"]),
        roles=frozenset(Role(r) for r in claims["roles"]),
        all_communities=claims["all_communities"],
    )


async def create_assignment_job(
    pool: Any, principal: Principal, case_ids: list[str], *, staff_id: str, role: str
) -> JobProgress:
    """Queue the assignment of ``case_ids`` (duplicates once) to ``staff_id``; 404 naming the
    first case outside the caller's scope (nothing queued then)."""
    params = {"staff_id": staff_id, "role": role}
    return await create_job(pool, principal, "assign_cases", case_ids, params)


async def create_export_job(pool: Any, principal: Principal, case_ids: list[str]) -> JobProgress:
    """Queue the export of ``case_ids`` (duplicates once) as the arrears workbook; 404
    naming the first case outside the caller's scope (nothing queued then)."""
    return await create_job(pool, principal, "export_cases", case_ids, {})


async def create_job(
    pool: Any, principal: Principal, kind: str, case_ids: list[str], params: dict[str, Any]
) -> JobProgress:
    """Queue a job of ``kind`` over ``case_ids`` (duplicates once), each resolved through the
    caller's scope first: 404 naming the first case outside it (nothing queued then)."""
    if kind not in KINDS:  # pragma: no cover - the routes name the kind
        raise ValueError(f"unknown job kind {kind}")
    selection = list(dict.fromkeys(case_ids))
    company, communities = principal.sql_scope()
    job_id = f"job-{uuid.uuid4().hex}"
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            "SELECT c.case_id, c.community_id FROM arrears_cases c "
            "WHERE c.case_id = ANY($1::text[]) "
            f"AND {scope_sql('c.community_id', 2, 3)} AND {legal_sql('c', 4)}",
            selection,
            company,
            communities,
            legal_only(principal),
        )
        found = {r["case_id"]: r["community_id"] for r in rows}
        missing = [c for c in selection if c not in found]
        if missing:
            raise NotFound(f"case {missing[0]} not found")
        await conn.execute(
            "INSERT INTO bulk_jobs (job_id, kind, company_id, community_ids, requested_by, "
            "principal, params, items_total) VALUES ($1, $8, $2, $3, $4, $5, $6, $7)",
            job_id,
            principal.company_id,
            sorted(set(found.values())),
            principal.subject,
            json.dumps(_claims(principal)),
            json.dumps(params),
            len(selection),
            kind,
        )
        await conn.executemany(
            "INSERT INTO bulk_job_items (job_id, item_no, subject_id) VALUES ($1, $2, $3)",
            [(job_id, n, case_id) for n, case_id in enumerate(selection)],
        )
    return await job_progress(pool, principal, job_id)


async def cases_matching(
    pool: Any, principal: Principal, *, community_id: str | None, tier: str | None
) -> list[str]:
    """The open cases of the caller's scope (the legal role: on the legal track) in
    ``community_id`` and ``tier`` when given; 422 when none, or more than ``MAX_ITEMS``."""
    company, communities = principal.sql_scope()
    rows = await pool.fetch(
        "SELECT c.case_id FROM arrears_cases c WHERE c.status = 'open' "
        "AND ($1::text IS NULL OR c.community_id = $1) AND ($2::text IS NULL OR c.tier = $2) "
        f"AND {scope_sql('c.community_id', 3, 4)} AND {legal_sql('c', 5)} "
        "ORDER BY c.opened_at, c.case_id LIMIT $6",
        community_id,
        tier,
        company,
        communities,
        legal_only(principal),
        MAX_ITEMS + 1,
    )
    if not rows or len(rows) > MAX_ITEMS:
        reason = "no open case matches" if not rows else f"more than {MAX_ITEMS} cases match"
        raise InvalidInput(reason, errors=[FieldProblem(field="filter", reason=reason)])
    return [r["case_id"] for r in rows]


def _refusal(exc: Exception) -> str:
    if isinstance(exc, people.Refused):
        return exc.refusal.reason
    if isinstance(exc, HTTPException):
        return str(exc.detail)
    if isinstance(exc, ProblemError):
        return str(getattr(exc, "detail", None) or exc)
    return str(exc)


async def _do_item(
    conn: Any, kind: str, params: dict[str, Any], who: Principal, subject: str
) -> bool:
    if kind == "assign_cases":
        return await casework.assign_case_on(
            conn, who, subject, staff_id=params["staff_id"], role=params["role"], owner=False
        )
    if kind == "export_cases":  # still the requester's to see: exported when the job ends
        await scope.case(conn, who, subject)
        return False
    raise ValueError(f"unknown job kind {kind}")  # pragma: no cover


async def work_chunk(conn: Any, *, worker: str = WORKER, chunk: int = CHUNK) -> int:
    """Claim up to ``chunk`` pending items (of the oldest jobs first; any replica's), do them
    and commit them together; how many were claimed (0: nothing to do)."""
    async with conn.transaction():
        rows = await conn.fetch(
            "SELECT i.job_id, i.item_no, i.subject_id, b.kind, b.params, b.principal "
            "FROM bulk_job_items i JOIN bulk_jobs b USING (job_id) WHERE i.state = 'pending' "
            "ORDER BY b.created_at, i.job_id, i.item_no LIMIT $1 FOR UPDATE OF i SKIP LOCKED",
            chunk,
        )
        for row in rows:
            params = _json(row["params"])
            who = _principal(_json(row["principal"]))
            state, changed, error = "done", False, None
            try:
                async with conn.transaction():  # a savepoint: a refused item undoes only itself
                    changed = await _do_item(conn, row["kind"], params, who, row["subject_id"])
            except (LookupError, people.Refused, ProblemError, HTTPException) as exc:
                state, error = "failed", _refusal(exc)[:500]
            await conn.execute(
                "UPDATE bulk_job_items SET state = $3, changed = $4, error = $5, done_by = $6, "
                "finished_at = clock_timestamp() WHERE job_id = $1 AND item_no = $2",
                row["job_id"],
                row["item_no"],
                state,
                changed,
                error,
                worker,
            )
        for job_id in sorted({r["job_id"] for r in rows}):
            # The job's row lock orders the chunks' last steps: the last sees the others.
            await conn.execute("SELECT 1 FROM bulk_jobs WHERE job_id = $1 FOR UPDATE", job_id)
            finished = await conn.fetchrow(
                "UPDATE bulk_jobs SET finished_at = clock_timestamp() WHERE job_id = $1 "
                "AND finished_at IS NULL AND NOT EXISTS (SELECT 1 FROM bulk_job_items "
                "WHERE job_id = $1 AND state = 'pending') RETURNING kind, principal",
                job_id,
            )
            if finished is not None and finished["kind"] in FILES:
                await _make_file(conn, job_id, _principal(_json(finished["principal"])))
    if rows:
        log.info("bulk job chunk done", items=len(rows), worker=worker)
    return len(rows)


async def _make_file(conn: Any, job_id: str, who: Principal) -> None:
    """The file a finished job ends with: its items done, in the order selected."""
    done = await conn.fetch(
        "SELECT subject_id FROM bulk_job_items WHERE job_id = $1 AND state = 'done' "
        "ORDER BY item_no",
        job_id,
    )
    name, content = await exports.selected_cases_xlsx(conn, who, [r["subject_id"] for r in done])
    await conn.execute(
        "UPDATE bulk_jobs SET file_name = $2, file_type = $3, file_content = $4 WHERE job_id = $1",
        job_id,
        name,
        xlsx.XLSX_TYPE,
        content,
    )


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


async def job_progress(pool: Any, principal: Principal, job_id: str) -> JobProgress:
    """A job of the caller's company whose communities are all the caller's; 404 otherwise."""
    company, communities = principal.sql_scope()
    row = await pool.fetchrow(
        "SELECT b.job_id, b.kind, b.items_total AS total, b.created_at, b.finished_at, "
        "b.file_name, "
        "count(*) FILTER (WHERE i.state = 'done') AS done, "
        "count(*) FILTER (WHERE i.state = 'failed') AS failed, "
        "count(*) FILTER (WHERE i.changed) AS changed "
        "FROM bulk_jobs b LEFT JOIN bulk_job_items i USING (job_id) "
        "WHERE b.job_id = $1 AND ($2::text IS NULL OR b.company_id = $2) "
        "AND ($3::text[] IS NULL OR b.community_ids <@ $3::text[]) GROUP BY b.job_id",
        job_id,
        company,
        communities,
    )
    if row is None:
        raise NotFound(f"job {job_id} not found")
    errors = await pool.fetch(
        "SELECT subject_id, error FROM bulk_job_items WHERE job_id = $1 AND state = 'failed' "
        "ORDER BY item_no LIMIT $2",
        job_id,
        ERRORS_SHOWN,
    )
    return JobProgress(
        job_id=row["job_id"],
        kind=row["kind"],
        total=row["total"],
        done=row["done"],
        failed=row["failed"],
        changed=row["changed"],
        finished=row["finished_at"] is not None,
        created_at=row["created_at"].isoformat(),
        finished_at=row["finished_at"].isoformat() if row["finished_at"] else None,
        errors=[{"case_id": e["subject_id"], "error": e["error"]} for e in errors],
        file_name=row["file_name"],
    )


async def job_file(pool: Any, principal: Principal, job_id: str) -> tuple[str, str, bytes]:
    """The file a finished job ended with (name, media type, content), for whoever may read
    the job (404 otherwise); 409 while it is not made yet, or for a job without a file."""
    progress = await job_progress(pool, principal, job_id)
    row = await pool.fetchrow(
        "SELECT file_name, file_type, file_content FROM bulk_jobs WHERE job_id = $1", job_id
    )
    if row is None or row["file_content"] is None:
        reason = "it is not finished" if not progress.finished else "it has no file"
        raise Conflict(f"job {job_id} has no file to download: {reason}")
    return row["file_name"], row["file_type"], bytes(row["file_content"])
