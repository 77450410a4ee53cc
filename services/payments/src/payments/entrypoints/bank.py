"""Bank withholding result files over HTTP (the CSV layout is in domain/bank_files.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request

from payments.service_layer.bank_withholding import import_withholding_file
from propfee.http import Pool

router = APIRouter(tags=["bank withholding"])


@router.post("/bank-withholding/files")
async def import_file(request: Request, pool: Pool) -> dict[str, Any]:
    """Body: the CSV file (text/csv, UTF-8). Idempotent: importing it again records nothing."""
    try:
        text = (await request.body()).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HTTPException(422, "the file must be UTF-8") from exc
    async with pool.acquire() as conn, conn.transaction():
        return await import_withholding_file(conn, text, datetime.now(UTC))
