"""What no text an owner reads may contain (issue 19): the one check, run on every rendering
before it is sent (a message that fails it fails on its channel with these reasons) and
reusable by the demo's invariants over the texts actually sent.

Refused: an unfilled placeholder (``{{``, ``{%``, ``None``, ``null``, ``undefined``, ``nan``),
an internal id (``unit-…``, ``inv-…``, ``case-…``, ``pay-…``, ``ntf-…``, a uuid, a long hex
run), a negative number (``-3天``, ``-12.00元``), an ISO date (``2026-12-31``: people read
``2026年12月31日``) and an empty fill (``于前``, ``请于前缴纳``, ``金额元``).
"""

from __future__ import annotations

import re

_PLACEHOLDER = re.compile(
    r"\{\{|\}\}|\{%|%\}|(?<![A-Za-z])(?:None|null|undefined|NaN|nan)(?![A-Za-z])"
)
_INTERNAL_ID = re.compile(
    r"(?<![A-Za-z0-9])(?:unit|inv|case|pay|pmt|ntf|party|prm|plan|cmt|run)[-_]"
    r"(?=[0-9A-Za-z-]*\d)[0-9A-Za-z-]{4,}"
    r"|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|(?<![0-9A-Za-z])(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{12,}(?![0-9A-Za-z])"
)
#: A minus sign right before a number that is not part of a range, a phone or a date
#: ("0755-12345678" and "1-3" are not negative numbers: a digit precedes the dash).
_NEGATIVE = re.compile(r"(?<![0-9A-Za-z])[-−－]\s?\d")
_ISO_DATE = re.compile(r"(?<!\d)\d{4}-\d{2}-\d{2}(?!\d)")
#: A value left empty between its words.
_EMPTY_FILL = re.compile(
    r"[于在]之?前(?:缴|付|支|办)|金额元|(?<![0-9.])元(?:未缴|，尚欠)|已逾期天|共期|尊敬的业主"
)


def problems(text: str) -> list[str]:
    """Every reason ``text`` may not reach an owner; empty when it may."""
    found: list[str] = []
    for pattern, what in (
        (_PLACEHOLDER, "an unfilled placeholder"),
        (_INTERNAL_ID, "an internal id"),
        (_NEGATIVE, "a negative number"),
        (_ISO_DATE, "a machine date (write 2026年12月31日)"),
        (_EMPTY_FILL, "an empty value"),
    ):
        for match in dict.fromkeys(m.group(0) for m in pattern.finditer(text)):
            found.append(f"{what}: {match!r}")
    return found
