"""The arrears list as an XLSX workbook: its columns and how a case becomes a row (one home
for ``GET /cases.xlsx`` and the workbench's export job). The workbook itself is written by
``adapters/xlsx.py``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import date
from typing import Any

from dunning.adapters import xlsx
from dunning.service_layer import reads
from dunning.service_layer.scope import shown
from propfee.auth import Principal

#: The export's columns, in order.
EXPORT_COLUMNS = (
    "case_id", "room_label", "unit_id", "building_id", "community_id", "status", "tier",
    "stage", "assigned_to", "aging_bucket", "days_overdue", "oldest_unpaid_due_date",
    "outstanding_fen", "fee_items", "opened_at",
)  # fmt: skip
SHEET = "arrears"


def export_row(principal: Principal, case: Mapping[str, Any]) -> list[Any]:
    """A case (as ``reads`` reads it) as the export's row, as ``principal`` may see it."""
    row = shown(principal, case)
    return [row.get(c) for c in EXPORT_COLUMNS]


def file_name(as_of: date) -> str:
    return f"arrears-{as_of.isoformat()}.xlsx"


async def selected_cases_xlsx(
    conn: Any, principal: Principal, case_ids: Sequence[str], *, as_of: date | None = None
) -> tuple[str, bytes]:
    """The named cases (resolved through ``principal``'s scope already) as the arrears
    workbook, in the order named: its file name and content."""
    day = as_of or reads.today()
    cases = await reads.cases_by_ids(conn, list(case_ids), as_of=day)

    async def rows() -> AsyncIterator[list[Any]]:
        for case in cases:
            yield export_row(principal, case)

    with await xlsx.write(rows(), EXPORT_COLUMNS, SHEET) as file:
        return file_name(day), file.read()
