"""The Chinese font every printed document embeds (issue 19: "Chinese fonts embedded").

ReportLab's built-in CJK font (STSong-Light) is not embedded: the PDF names it and trusts the
reader to have it, so a court's or an owner's viewer without Adobe's Asian font pack shows
blanks or substitutes. Documents here embed a subset of a TrueType CJK font instead:
WenQuanYi Zen Hei (Debian's ``fonts-wqy-zenhei``, GPL with the font exception: embedding
does not bind the document), installed by the project's scripts (``make sync`` runs
``deploy/local/os-packages.sh``) and by each service's Dockerfile. ReportLab reads TrueType
outlines only, which is why Noto CJK (CFF outlines) is not used.

``PROPFEE_CJK_FONT`` names another TrueType font or collection (``path`` or ``path#index``).
"""

from __future__ import annotations

import functools
import os
import threading
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

#: The name documents draw with (``canvas.setFont(FONT, size)``, paragraph styles).
FONT = "PropfeeCJK"
#: Where Debian's packages put the font (first found wins).
CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
)


class FontMissing(RuntimeError):
    """No embeddable Chinese font: a document without one must not be printed."""


def font_path() -> tuple[str, int]:
    """The font file and the index within a collection."""
    configured = os.environ.get("PROPFEE_CJK_FONT")
    if configured:
        path, _, index = configured.partition("#")
        if not Path(path).is_file():
            raise FontMissing(f"PROPFEE_CJK_FONT={configured}: no such file")
        return path, int(index or 0)
    for path in CANDIDATES:
        if Path(path).is_file():
            return path, 0
    raise FontMissing(
        "no embeddable Chinese font: install Debian's fonts-wqy-zenhei (make sync does, as "
        "root; deploy/local/os-packages.sh) or set PROPFEE_CJK_FONT to a TrueType font"
    )


_REGISTERING = threading.Lock()


@functools.cache
def _registered() -> str:
    path, index = font_path()
    pdfmetrics.registerFont(TTFont(FONT, path, subfontIndex=index))
    return FONT


def cjk_font() -> str:
    """Register the font once per process and return its name (:data:`FONT`); under a lock,
    so that documents rendered in worker threads (notifier's print jobs) beside the event
    loop's never register it twice."""
    with _REGISTERING:
        return _registered()
