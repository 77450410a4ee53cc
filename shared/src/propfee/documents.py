"""What people open, built from text that users typed: PDFs and spreadsheets.

A name, a note or a room label is typed by a household or a clerk and may be hostile:

* ReportLab's ``Paragraph`` reads its text as markup: ``<a href>`` becomes a live link,
  ``<img src>`` makes the renderer fetch the URL (from inside the cluster), ``<font>`` restyles
  and an unbalanced tag breaks the whole document. :func:`pdf_text` escapes text so it is
  printed as typed. (``canvas.drawString`` draws its text literally and needs nothing.)
* Excel, WPS and LibreOffice run a cell that begins with ``= + - @`` (or a tab or carriage
  return) as a formula: ``=HYPERLINK(...)`` sends data away, DDE runs commands.
  :func:`spreadsheet_cell` prefixes such *text* with a single quote (OWASP's advice for CSV
  injection); numbers stay numbers, so a negative amount is still a number.
"""

from __future__ import annotations

from typing import TypeVar
from xml.sax.saxutils import escape

T = TypeVar("T")

#: A cell beginning with one of these is read as a formula by spreadsheet programs.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def pdf_text(value: object) -> str:
    """``value`` as text for a ReportLab ``Paragraph``: no tag or entity in it is live."""
    return escape("" if value is None else str(value))


def spreadsheet_cell(value: T) -> T | str:
    """Text that a spreadsheet would run as a formula, made inert; anything else unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value
