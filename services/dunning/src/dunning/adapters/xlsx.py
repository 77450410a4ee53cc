"""The case list as an XLSX workbook people open in Excel: amounts integer fen in number
cells (the header says ``_fen``), dates date cells, ids and labels text cells neutralised
against formulas (``propfee.documents.spreadsheet_cell``). Written row by row (openpyxl's
write-only mode) into a temporary file that is streamed, so a long list is never held in
memory as a whole."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from datetime import date, datetime
from typing import IO, Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from propfee.documents import spreadsheet_cell

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CHUNK = 64 * 1024


def _cell(sheet: WriteOnlyWorksheet, value: Any) -> WriteOnlyCell:
    if value is None or isinstance(value, bool | int):
        return WriteOnlyCell(sheet, value=value)
    if isinstance(value, datetime):
        cell = WriteOnlyCell(sheet, value=value.replace(tzinfo=None))
        cell.number_format = "yyyy-mm-dd hh:mm:ss"
        return cell
    if isinstance(value, date):
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = "yyyy-mm-dd"
        return cell
    if isinstance(value, list | tuple):
        value = ", ".join(str(v) for v in value)
    cell = WriteOnlyCell(sheet, value=spreadsheet_cell(str(value)))
    cell.data_type = "s"
    cell.number_format = "@"
    return cell


async def write(
    rows: AsyncIterable[Sequence[Any]], columns: Sequence[str], title: str
) -> IO[bytes]:
    """The workbook in a temporary file (deleted when closed), positioned at its start."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title[:31])
    sheet.append([_cell(sheet, c) for c in columns])
    async for row in rows:
        sheet.append([_cell(sheet, v) for v in row])
    out = tempfile.TemporaryFile()  # closed by stream()
    # Zipping the sheet is CPU and disk work: off the event loop.
    await asyncio.to_thread(workbook.save, out)
    out.seek(0)
    return out


async def stream(file: IO[bytes]) -> AsyncIterator[bytes]:
    try:
        while chunk := file.read(CHUNK):
            yield chunk
    finally:
        file.close()
