"""Reading a printed document back the way its reader sees it (issue 19), with poppler's
``pdftotext`` and ``pdffonts`` (Debian's poppler-utils; ``make sync`` installs it):

- :func:`text`: the text in reading order, with the layout kept (``pdftotext -layout``);
- :func:`pages`: every word with its box, per page (``pdftotext -bbox``);
- :func:`layout_problems`: a word past the printable area, or two words drawn over each other
  (an overprint, a list running into a footer);
- :func:`fonts_not_embedded`: fonts the reader's viewer would have to supply.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

MM = 72 / 25.4


@dataclass(frozen=True, slots=True)
class Word:
    text: str
    x0: float
    y0: float  # from the top of the page, in points
    x1: float
    y1: float


@dataclass(frozen=True, slots=True)
class Page:
    number: int
    width: float
    height: float
    words: list[Word]

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)


def _run(tool: str, pdf: bytes, *args: str) -> str:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "document.pdf"
        path.write_bytes(pdf)
        done = subprocess.run(
            [tool, *args, str(path), *(["-"] if tool == "pdftotext" else [])],
            capture_output=True,
            check=True,
            timeout=60,
        )
    return done.stdout.decode("utf-8")


def text(pdf: bytes) -> str:
    """The document's text as laid out (columns kept on one line), pages split by \\f."""
    return _run("pdftotext", pdf, "-layout", "-enc", "UTF-8")


def pages(pdf: bytes) -> list[Page]:
    """Every page with its words and their boxes."""
    html = _run("pdftotext", pdf, "-bbox", "-enc", "UTF-8")
    root = ElementTree.fromstring(html.replace("<!DOCTYPE", "<!-- ").replace('.dtd">', '.dtd" -->'))
    ns = {"x": "http://www.w3.org/1999/xhtml"}
    out = []
    for number, page in enumerate(root.iter(f"{{{ns['x']}}}page"), start=1):
        words = [
            Word(
                w.text or "",
                float(w.get("xMin", 0)),
                float(w.get("yMin", 0)),
                float(w.get("xMax", 0)),
                float(w.get("yMax", 0)),
            )
            for w in page.iter(f"{{{ns['x']}}}word")
        ]
        out.append(Page(number, float(page.get("width", 0)), float(page.get("height", 0)), words))
    return out


def layout_problems(pdf: bytes, margin_mm: float = 5.0, tolerance: float = 0.5) -> list[str]:
    """Words outside the printable area (``margin_mm`` from each edge) and words overlapping
    another word (more than ``tolerance`` points each way): empty for a clean page."""
    problems: list[str] = []
    margin = margin_mm * MM
    for page in pages(pdf):
        for w in page.words:
            if (
                w.x0 < margin
                or w.y0 < margin
                or w.x1 > page.width - margin
                or (w.y1 > page.height - margin)
            ):
                problems.append(f"page {page.number}: '{w.text}' runs past the printable area")
        ordered = sorted(page.words, key=lambda w: (w.y0, w.x0))
        for i, a in enumerate(ordered):
            for b in ordered[i + 1 :]:
                if b.y0 >= a.y1 - tolerance:
                    break
                if min(a.x1, b.x1) - max(a.x0, b.x0) > tolerance and (
                    min(a.y1, b.y1) - max(a.y0, b.y0) > tolerance
                ):
                    problems.append(f"page {page.number}: '{a.text}' overlaps '{b.text}'")
    return problems


#: The standard 14 fonts every PDF reader has (Latin only: never enough for Chinese).
STANDARD_14 = ("Helvetica", "Times", "Courier", "Symbol", "ZapfDingbats")


def fonts_not_embedded(pdf: bytes) -> list[str]:
    """Fonts the document uses without embedding them (``pdffonts``), other than the standard
    14 every reader has (STSong-Light, ReportLab's CJK font, is one that is not embedded)."""
    lines = _run("pdffonts", pdf).splitlines()[2:]
    missing = []
    for line in lines:
        parts = line.split()
        # name type... encoding emb sub uni object ID: emb is the 5th column from the end
        if len(parts) >= 7 and parts[-5] == "no" and not parts[0].startswith(STANDARD_14):
            missing.append(parts[0])
    return missing
