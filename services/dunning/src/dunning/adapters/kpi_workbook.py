"""The KPI report as an XLSX workbook: one sheet per part of the JSON answer.

The same figures as ``GET /reports/kpis`` (one home: the KPI use case); amounts stay integer
fen (a number cell, the header says ``_fen``), rates are number cells, dates date cells, and
text a spreadsheet would run as a formula is neutralised (``spreadsheet_cell``)."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from propfee.documents import spreadsheet_cell

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

KPI_COLUMNS = (
    "chased", "paid_after_chase", "success_rate", "cost_fen", "cost_per_chase_fen",
    "complaints", "complaint_rate",
)  # fmt: skip
RECOVERY_COLUMNS = ("community_id", "historical_fen", "recovered_fen", "recovery_rate")
TIER_COLUMNS = ("as_of_date", "community_id", "tier", "cases", "outstanding_fen")


def _cell(sheet: WriteOnlyWorksheet, value: Any) -> WriteOnlyCell:
    if value is None or isinstance(value, bool | int | float):
        return WriteOnlyCell(sheet, value=value)
    if isinstance(value, date):
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = "yyyy-mm-dd"
        return cell
    cell = WriteOnlyCell(sheet, value=spreadsheet_cell(str(value)))
    cell.data_type = "s"
    cell.number_format = "@"
    return cell


def _sheet(
    book: Workbook, title: str, columns: Sequence[str], rows: Sequence[Mapping[str, Any]]
) -> None:
    sheet = book.create_sheet(title)
    sheet.append([_cell(sheet, c) for c in columns])
    for row in rows:
        sheet.append([_cell(sheet, row.get(c)) for c in columns])


def kpi_workbook(report: Mapping[str, Any]) -> bytes:
    """Sheets ``kpis`` (one row per key of ``by``), ``historical_recovery``, ``tier_counts``."""
    book = Workbook(write_only=True)
    by = str(report["by"])
    _sheet(book, "kpis", [by, *KPI_COLUMNS], report["rows"])
    _sheet(book, "historical_recovery", RECOVERY_COLUMNS, report["historical_recovery"])
    _sheet(book, "tier_counts", TIER_COLUMNS, report["tier_counts"])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
