"""Bank withholding result files over HTTP (the CSV layout is in domain/bank_files.py)."""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request

from payments.domain.bank_files import parse_withholding_file
from payments.entrypoints import security
from payments.entrypoints.security import FinanceWriter
from payments.service_layer.bank_withholding import import_withholding_file
from propfee import audit, uploads
from propfee.http import Pool

router = APIRouter(tags=["bank withholding"])


@router.post("/bank-withholding/files")
async def import_file(
    request: Request, pool: Pool, principal: FinanceWriter, limits: uploads.Limits
) -> dict[str, Any]:
    """Body: the CSV file (text/csv, UTF-8). Idempotent: importing it again records nothing.
    Every community of the file must be the caller's (404 naming the first that is not); a
    row whose unit is not the caller's or not in the row's community, or whose invoices are
    not the unit's, is a row error and is not recorded; audited per community
    (``bank_withholding.imported``). Past the upload limits: 413, or 422 naming the row and
    column (``propfee.uploads``)."""
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HTTPException(422, "the file must be UTF-8") from exc
    uploads.check_csv(text, limits)
    debits, _ = parse_withholding_file(text)
    per_community = Counter(d.community_id for d in debits)
    digest = hashlib.sha256(raw).hexdigest()
    async with pool.acquire() as conn, conn.transaction():
        companies = await security.communities(conn, principal, per_community)
        result = await import_withholding_file(conn, principal, text, datetime.now(UTC))
        for community_id, rows in sorted(per_community.items()):
            await audit.record(
                conn,
                principal,
                "bank_withholding.imported",
                "bank_file",
                digest,
                community_id=community_id,
                after={**result, "rows_of_community": rows},
                company_id=companies.get(community_id),
            )
        return result
