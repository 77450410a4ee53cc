"""Ledger imports (台账): a community's units, parties and opening arrears from the old
system's spreadsheet. Parse, call the use case (``service_layer.ledger_import``), answer."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Body, Query

from billing.entrypoints import models
from billing.entrypoints.security import BillingWriter
from billing.service_layer.ledger_import import import_ledger_as
from propfee import uploads
from propfee.http import Pool

router = APIRouter(tags=["ledger-imports"])


@router.post("/communities/{community_id}/ledger-imports")
async def import_ledger(
    community_id: models.Id,
    pool: Pool,
    principal: BillingWriter,
    data: Annotated[bytes, Body(media_type="application/octet-stream")],
    filename: Annotated[
        str, Query(min_length=1, max_length=255, description="original file name: .csv or .xlsx")
    ],
    opening_as_of: Annotated[date, Query(description="first day of the month the arrears run to")],
    limits: uploads.Limits,
    accept_good_rows: bool = False,
) -> models.LedgerImportOut:
    """Import a ledger (台账). A file with errors imports nothing (422, ``errors[]`` with
    every bad row: ``row``, ``field`` the column, ``reason``) unless ``accept_good_rows``;
    importing the same file again changes nothing. A file past the upload limits
    (``BILLING_MAX_UPLOAD_*``, ``BILLING_MAX_XLSX_*``) is refused: 413 for its size, rows or
    inflation, 422 naming the row and column of a cell too long. ``opening_as_of`` may lie
    in the past (the ledger is the old system's history), but staff may not date the
    arrears invoices later than next month's first day (403).

    Phones are read as the importer always did (``domain.ledger_formats.read_phone``: a
    mobile or a landline, in national form); a cell that is neither is an error of its row.
    A landline is kept: such a party is reached by letter or door notice, never by SMS."""
    report = await import_ledger_as(
        pool,
        principal,
        community_id,
        data,
        filename,
        opening_as_of=opening_as_of,
        accept_good_rows=accept_good_rows,
        limits=limits,
    )
    return models.LedgerImportOut(**asdict(report))
