"""Tabular exports: CSV (UTF-8 with BOM, so Excel opens Chinese text) and XLSX.

Documents people open in Excel and print:

* amounts stay integer fen (the column header says ``_fen``): a number cell, summable;
* rates and other decimals are number cells;
* dates are date cells (``yyyy-mm-dd``), timestamps date-time cells in their own offset's
  wall time (the text in CSV keeps the offset);
* ids, phones, references and every other text are text cells, so Excel never turns an id of
  digits into a number (dropping leading zeros, 1.2E+17);
* text a spreadsheet would run as a formula (``= + - @``, tab, carriage return) is neutralised
  (``propfee.documents.spreadsheet_cell``), in CSV always; in an XLSX text cell except a
  value that is plainly a phone number (``+8613812345678``, ``0571-8888 1234``): a text cell
  holds it as text already, and the OWASP set stays for everything else because the text does
  not stay in its cell (copied, retyped, saved as CSV it is live again), while a phone number
  read as a formula is at worst a number, never a command.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from propfee.documents import spreadsheet_cell

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
TEXT_FORMAT = "@"
#: A phone number and nothing else: an optional ``+``, then digits, spaces and hyphens.
PLAIN_PHONE = re.compile(r"\+?[0-9][0-9 -]*")


def _text(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date | Decimal):
        return str(value)
    if isinstance(value, list | tuple):
        value = ", ".join(str(v) for v in value)
    return spreadsheet_cell(value)


def to_csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_text(row.get(c)) for c in columns])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _cell(sheet: WriteOnlyWorksheet, value: Any) -> WriteOnlyCell:
    """One typed XLSX cell."""
    if value is None:
        return WriteOnlyCell(sheet, value=None)
    if isinstance(value, bool):
        return WriteOnlyCell(sheet, value=value)
    if isinstance(value, int | float | Decimal):
        return WriteOnlyCell(sheet, value=value)
    if isinstance(value, datetime):
        # Excel has no time zones: the wall time of the value's own offset.
        cell = WriteOnlyCell(sheet, value=value.replace(tzinfo=None))
        cell.number_format = DATETIME_FORMAT
        return cell
    if isinstance(value, date):
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = DATE_FORMAT
        return cell
    if isinstance(value, list | tuple):
        value = ", ".join(str(v) for v in value)
    cell = WriteOnlyCell(sheet, value=_xlsx_text(str(value)))
    cell.data_type = "s"  # text as typed, even "0012" or "1e5"
    cell.number_format = TEXT_FORMAT
    return cell


def _xlsx_text(value: str) -> str:
    """The text of an XLSX text cell: a plain phone number as it is, anything else a
    spreadsheet would run as a formula neutralised."""
    if PLAIN_PHONE.fullmatch(value):
        return value
    return spreadsheet_cell(value)


def to_xlsx(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], title: str) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title[:31])
    sheet.append([_cell(sheet, c) for c in columns])
    for row in rows:
        sheet.append([_cell(sheet, row.get(c)) for c in columns])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
