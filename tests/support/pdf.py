"""Reading back a generated PDF in tests: its text, and proof that nothing in it is live."""

from __future__ import annotations

import io

from pypdf import PdfReader

#: A user-typed name that ReportLab's Paragraph would turn into a link and an image fetch.
HOSTILE = '<a href="http://evil">x</a><img src="http://evil/x.png"/>'


def inert_text(pdf: bytes) -> str:
    """The text of every page; fails if a page has an annotation (a link) or an image."""
    reader = PdfReader(io.BytesIO(pdf))
    texts = []
    for number, page in enumerate(reader.pages, start=1):
        assert "/Annots" not in page, f"page {number} has annotations (links)"
        resources = page.get("/Resources") or {}
        assert "/XObject" not in resources, f"page {number} draws an image or form"
        texts.append(page.extract_text())
    assert b"/URI" not in pdf and b"/Link" not in pdf
    return "\n".join(texts)
