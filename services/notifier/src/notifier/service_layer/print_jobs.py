"""The workbench's bulk "print letters" as a background job with progress (issue 23), in the
pattern of dunning's bulk jobs (``dunning/service_layer/jobs.py``):

- ``create_print_job``: the batch's letters are gathered at once, in the request's
  transaction, by ``staff.gather_batch`` (the scope, the selection and the audit of
  ``POST /letters/batches``: one home), without its PDF; the job keeps one item per letter,
  in the batch's order, and is answered at once (202);
- ``work_chunk``: the print worker of any notifier process claims up to ``chunk`` pending
  consecutive items of the oldest job (``FOR UPDATE SKIP LOCKED``: two workers never take the
  same item), renders their letters as one PDF (kept on the chunk's first item), marks them
  done and commits; a worker that dies mid-chunk holds nothing and the chunk is rendered
  again (an item is done once). The chunk that does a job's last items joins the parts, in
  order, into the batch's PDF and finishes the job, in its transaction;
- ``job_progress`` / ``job_pdf``: for whoever may read the batch (``access.print_job``),
  404 otherwise; the PDF is 409 until the job is done.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import socket
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
from pypdf import PdfReader, PdfWriter

from notifier.adapters.letters_pdf import render_pdf
from notifier.service_layer import access, staff
from propfee import business_time
from propfee.auth import Principal
from propfee.logging import get_logger
from propfee.problems import Conflict

log = get_logger(__name__)

WORKER = f"{socket.gethostname()}:{os.getpid()}"
#: Letters rendered per claimed chunk (one transaction, one part of the PDF).
CHUNK = 20


async def create_print_job(
    pool: asyncpg.Pool, principal: Principal, case_ids: list[str]
) -> dict[str, Any]:
    """Gather the letters of the cases ``case_ids`` rendered by now (the caller's communities
    only; audited as a batch) and queue the rendering of their PDF; the job's progress."""
    at = business_time.as_of_now(principal, None, datetime.now(UTC), field="as_of")
    job_id = f"ljob-{uuid.uuid4().hex}"
    async with pool.acquire() as conn, conn.transaction():
        batch = await staff.gather_batch(conn, principal, at, case_ids, render=False)
        ids: list[str] = list(batch["notification_ids"])
        await conn.execute(
            "INSERT INTO letter_print_jobs (job_id, batch_id, company_id, community_ids, "
            "requested_by, total, finished_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $6 = 0 THEN now() END)",
            job_id,
            batch["batch_id"],
            None if principal.all_companies else principal.company_id,
            list(batch["community_ids"]),
            principal.subject,
            len(ids),
        )
        await conn.executemany(
            "INSERT INTO letter_print_job_items (job_id, item_no, notification_id) "
            "VALUES ($1, $2, $3)",
            [(job_id, n, notification_id) for n, notification_id in enumerate(ids)],
        )
        return await _progress(conn, job_id)


async def work_chunk(conn: asyncpg.Connection, *, worker: str = WORKER, chunk: int = CHUNK) -> int:
    """Claim up to ``chunk`` pending consecutive items of the oldest job (any process's),
    render them as one part and commit; the last chunk of a job joins the parts into the
    batch's PDF. How many items were done (0: nothing to do)."""
    async with conn.transaction():
        rows = await conn.fetch(
            "SELECT i.job_id, i.item_no, i.notification_id FROM letter_print_job_items i "
            "JOIN letter_print_jobs j USING (job_id) WHERE NOT i.done "
            "ORDER BY j.created_at, i.job_id, i.item_no LIMIT $1 FOR UPDATE OF i SKIP LOCKED",
            chunk,
        )
        if not rows:
            return 0
        job_id, first = rows[0]["job_id"], rows[0]["item_no"]
        # One part is one run of the batch's letters: the claim stops at another job or a gap.
        claimed = []
        for n, row in enumerate(rows):
            if row["job_id"] != job_id or row["item_no"] != first + n:
                break
            claimed.append(row)
        ids = [r["notification_id"] for r in claimed]
        found = {
            r["notification_id"]: {**_json(r["letter"]), "notification_id": r["notification_id"]}
            for r in await conn.fetch(
                "SELECT notification_id, params -> 'letter' AS letter FROM notifications "
                "WHERE notification_id = ANY($1::text[])",
                ids,
            )
        }
        letters = [found[i] for i in ids if i in found]
        # ReportLab is CPU-bound: in a thread, so the process keeps answering meanwhile.
        part = await asyncio.to_thread(render_pdf, letters) if letters else None
        await conn.execute(
            "UPDATE letter_print_job_items SET done = true, done_by = $3, "
            "finished_at = clock_timestamp(), part = CASE WHEN item_no = $2 THEN $4::bytea END "
            "WHERE job_id = $1 AND item_no = ANY($5::int[])",
            job_id,
            first,
            worker,
            part,
            [r["item_no"] for r in claimed],
        )
        # The job's row lock orders the chunks' last steps: the last one sees the others.
        job = await conn.fetchrow(
            "SELECT batch_id, finished_at FROM letter_print_jobs WHERE job_id = $1 FOR UPDATE",
            job_id,
        )
        pending = await conn.fetchval(
            "SELECT count(*) FROM letter_print_job_items WHERE job_id = $1 AND NOT done", job_id
        )
        if pending == 0 and job["finished_at"] is None:
            parts = await conn.fetch(
                "SELECT part FROM letter_print_job_items WHERE job_id = $1 "
                "AND part IS NOT NULL ORDER BY item_no",
                job_id,
            )
            pdf = await asyncio.to_thread(_join, [bytes(p["part"]) for p in parts])
            await conn.execute(
                "UPDATE letter_batches SET pdf = $2 WHERE batch_id = $1", job["batch_id"], pdf
            )
            await conn.execute(
                "UPDATE letter_print_jobs SET finished_at = clock_timestamp() WHERE job_id = $1",
                job_id,
            )
            # The parts are in the batch's PDF now.
            await conn.execute(
                "UPDATE letter_print_job_items SET part = NULL WHERE job_id = $1", job_id
            )
    log.info("letter print chunk done", items=len(claimed), worker=worker)
    return len(claimed)


def _json(value: Any) -> Any:
    """A jsonb value, whether or not the connection decodes json (the pool's does)."""
    return json.loads(value) if isinstance(value, str) else value


def _join(parts: list[bytes]) -> bytes:
    writer = PdfWriter()
    for part in parts:
        writer.append(PdfReader(io.BytesIO(part)))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


async def _progress(conn: Any, job_id: str) -> dict[str, Any]:
    row = await conn.fetchrow(
        "SELECT j.job_id, j.batch_id, j.total, j.created_at, j.finished_at, "
        "(SELECT count(*) FROM letter_print_job_items i WHERE i.job_id = j.job_id AND i.done) "
        "AS done FROM letter_print_jobs j WHERE j.job_id = $1",
        job_id,
    )
    status = "done" if row["finished_at"] is not None else "running" if row["done"] else "queued"
    return {**dict(row), "status": status}


async def job_progress(pool: asyncpg.Pool, principal: Principal, job_id: str) -> dict[str, Any]:
    """A print job whose batch the caller may read; 404 otherwise."""
    async with pool.acquire() as conn:
        await access.print_job(conn, principal, job_id)
        return await _progress(conn, job_id)


async def job_pdf(pool: asyncpg.Pool, principal: Principal, job_id: str) -> bytes:
    """The PDF of a done print job (its batch's); 404 as for the progress, 409 before it is
    done or for a job that found no letters."""
    async with pool.acquire() as conn:
        job = await access.print_job(conn, principal, job_id)
        if job["finished_at"] is None:
            raise Conflict(f"print job {job_id} is not done yet")
        if job["batch_id"] is None:
            raise Conflict(f"print job {job_id} found no letters to print")
        return await staff.batch_pdf(conn, principal, job["batch_id"])
