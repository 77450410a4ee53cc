"""Tabular exports (statements, reports): formula text made inert, numbers kept as numbers."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

from openpyxl import load_workbook

from billing.adapters.export import to_csv, to_xlsx

COLUMNS = ["key", "total_fen", "rate", "period_start", "invoice_ids"]
ROWS = [
    {
        "key": "=1+1栋",
        "total_fen": -1250,
        "rate": Decimal("-0.25"),
        "period_start": date(2025, 1, 1),
        "invoice_ids": ["@inv-1", "inv-2"],
    },
    {"key": "1栋", "total_fen": 0, "rate": None, "period_start": None, "invoice_ids": []},
]


def test_csv_cells_cannot_run_formulas_and_numbers_stay_numbers() -> None:
    text = to_csv(ROWS, COLUMNS).decode("utf-8-sig")
    first, second = csv.DictReader(io.StringIO(text))
    assert first == {
        "key": "'=1+1栋",
        "total_fen": "-1250",
        "rate": "-0.25",
        "period_start": "2025-01-01",
        "invoice_ids": "'@inv-1, inv-2",
    }
    assert second["key"] == "1栋"


def test_xlsx_cells_are_text_not_formulas_and_numbers_are_numbers() -> None:
    sheet = load_workbook(io.BytesIO(to_xlsx(ROWS, COLUMNS, "report"))).active
    assert sheet is not None
    key, total, _, _, ids = (sheet.cell(2, c) for c in range(1, 6))
    assert (key.value, key.data_type) == ("'=1+1栋", "s")
    assert (total.value, total.data_type) == (-1250, "n")
    assert ids.value == "'@inv-1, inv-2"
