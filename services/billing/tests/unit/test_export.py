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


def test_xlsx_cells_have_the_types_people_print_and_sum() -> None:
    """Amounts in fen are integer number cells (the header says _fen), rates number cells,
    dates real date cells, ids and phones text cells (an id of digits keeps its zeros),
    formula-like text neutralised whatever its trigger."""
    columns = ["unit_id", "phone", "total_fen", "rate", "due_date", "note"]
    rows = [
        {
            "unit_id": "0012",
            "phone": "+8613800000000",
            "total_fen": 25000,
            "rate": Decimal("0.9123"),
            "due_date": date(2025, 1, 31),
            "note": "\t=cmd",
        },
        {
            "unit_id": "u-1",
            "phone": "13800000000",
            "total_fen": -1,
            "rate": None,
            "due_date": None,
            "note": "-2",
        },
    ]
    sheet = load_workbook(io.BytesIO(to_xlsx(rows, columns, "statement"))).active
    assert sheet is not None
    assert [c.value for c in sheet[1]] == columns
    unit, phone, total, rate, due, note = sheet[2]
    assert (unit.value, unit.data_type) == ("0012", "s")
    assert (phone.value, phone.data_type) == ("+8613800000000", "s")  # a phone, as it is
    assert (total.value, total.data_type) == (25000, "n")
    assert rate.data_type == "n" and rate.value == 0.9123
    assert due.is_date and due.value.date() == date(2025, 1, 31)
    assert due.number_format == "yyyy-mm-dd"
    assert (note.value, note.data_type) == ("'\t=cmd", "s")
    unit, phone, total, _, due, note = sheet[3]
    assert (phone.value, phone.data_type) == ("13800000000", "s")
    assert (total.value, total.data_type) == (-1, "n")
    assert due.value is None
    assert (note.value, note.data_type) == ("'-2", "s")


def test_xlsx_keeps_a_phone_number_as_it_is_and_neutralises_anything_else() -> None:
    """A text cell holds ``+8613812345678`` as text: only CSV needs the quote. Text that only
    looks like a phone at its start, or starts with another trigger, is still neutralised
    (the OWASP set), since it is live again once copied out or saved as CSV."""
    values = {
        "+8613812345678": "+8613812345678",
        "+86 138-1234-5678": "+86 138-1234-5678",
        "0571-8888 1234": "0571-8888 1234",
        "+86138+cmd|' /C calc'!A0": "'+86138+cmd|' /C calc'!A0",
        "+1+1": "'+1+1",
        "=1+1": "'=1+1",
        "-2": "'-2",
        "-8613812345678": "'-8613812345678",
        "@SUM(A1)": "'@SUM(A1)",
        "+": "'+",
    }
    rows = [{"phone": v} for v in values]
    sheet = load_workbook(io.BytesIO(to_xlsx(rows, ["phone"], "contacts"))).active
    assert sheet is not None
    cells = [row[0] for row in sheet.iter_rows(min_row=2)]
    assert [(c.value, c.data_type) for c in cells] == [(v, "s") for v in values.values()]
    # CSV is read by programs that evaluate a leading + : it stays neutralised there.
    text = to_csv(rows, ["phone"]).decode("utf-8-sig")
    assert next(csv.DictReader(io.StringIO(text)))["phone"] == "'+8613812345678"
