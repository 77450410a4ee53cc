"""Reports over HTTP: the daily close (日清日结) and the totals, filtered by the caller's
communities and company."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from payments.entrypoints.models import CashierDay, DailyClose, Totals
from payments.entrypoints.security import CounterDay, FinanceReader, ReportReader
from payments.service_layer import reports
from propfee.http import Pool
from propfee.problems import problem_responses

router = APIRouter(tags=["reports"])


@router.get("/reports/daily-close", response_model=DailyClose)
async def get_daily_close_report(day: date, pool: Pool, principal: FinanceReader) -> DailyClose:
    """日清日结 of the caller's communities; the statements imported and the open discrepancies
    (gateway-level: of the company's merchant accounts) only for company-wide callers
    (``null`` otherwise)."""
    return DailyClose.model_validate(await reports.daily_close_report(pool, principal, day))


@router.get("/reports/cashier-day", response_model=CashierDay, responses=problem_responses(403))
async def get_cashier_day_report(
    day: date,
    pool: Pool,
    principal: CounterDay,
    cashier: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
) -> CashierDay:
    """日清日结 per cashier: the counter payments ``cashier`` (default: the caller) recorded on
    ``day`` in the caller's communities, with their receipts and the sums per channel. A fee
    clerk reads their own day only (403 for another's); finance, managers and auditors any."""
    return CashierDay.model_validate(
        await reports.cashier_day_report(pool, principal, day, cashier)
    )


@router.get("/reports/totals", response_model=Totals, responses=problem_responses(404))
async def get_totals_report(
    pool: Pool,
    principal: ReportReader,
    community_id: Annotated[str | None, Query(max_length=64)] = None,
) -> Totals:
    """Everything payments holds, in fen: payments received, refunds confirmed, exceptions
    open and resolved (count, amount_fen), net received; overall and by channel. Every
    community the caller sees unless ``community_id`` is given (aggregates only)."""
    return Totals.model_validate(await reports.totals_report(pool, principal, community_id))
