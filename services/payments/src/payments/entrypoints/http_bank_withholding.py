"""Bank withholding result files over HTTP (the CSV layout is in domain/bank_files.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request

from payments.entrypoints.http_reconciliation import CSV_BODY
from payments.entrypoints.models import BankFileImported
from payments.entrypoints.security import FinanceWriter
from payments.service_layer import bank_withholding
from propfee import uploads
from propfee.http import Pool
from propfee.problems import problem_responses

router = APIRouter(tags=["bank withholding"])


@router.post(
    "/bank-withholding/files",
    response_model=BankFileImported,
    openapi_extra=CSV_BODY,
    responses=problem_responses(404, 413),
)
async def import_bank_withholding_file(
    request: Request, pool: Pool, principal: FinanceWriter, limits: uploads.Limits
) -> BankFileImported:
    """Body: the CSV file (text/csv, UTF-8). Idempotent: importing it again records nothing.
    Every community of the file must be the caller's (404 naming the first that is not); a
    row whose unit is not the caller's or not in the row's community, or whose invoices are
    not the unit's, is a row error and is not recorded; audited per community
    (``bank_withholding.imported``). Past the upload limits: 413, or 422 naming the row and
    column (``propfee.uploads``)."""
    result = await bank_withholding.import_file(
        pool, principal, await request.body(), limits, datetime.now(UTC)
    )
    return BankFileImported.model_validate(result)
