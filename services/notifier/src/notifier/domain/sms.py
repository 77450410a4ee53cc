"""SMS segments as carriers count (and bill) them, the sign name (【签名】) included.

A text whose every character is in the GSM 03.38 default alphabet is sent in GSM-7: 160
septets fit one segment, 153 per segment once it is split (the concatenation header takes
the rest); the extension table's characters (``^{}\\[~]|€`` and form feed) take two septets
each. Any other character (every Chinese one) makes the whole text UCS-2: 70 characters for
one segment, 67 per segment when longer. Characters outside the Basic Multilingual Plane
(emoji) take two UCS-2 code units. Chinese providers (Alibaba Cloud, Tencent Cloud) bill by
these segments, so one character too many doubles the cost of a message.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

GSM7_SINGLE = 160
GSM7_MULTI = 153
UCS2_SINGLE = 70
UCS2_MULTI = 67
#: Kept for callers that speak of the Chinese (UCS-2) limits.
SINGLE_SEGMENT = UCS2_SINGLE
MULTI_SEGMENT = UCS2_MULTI

#: GSM 03.38 default alphabet (one septet each).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
#: The extension table (an escape and the character: two septets each).
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")


@dataclass(frozen=True, slots=True)
class Count:
    """How a text is sent: its encoding, its length in that encoding's units (septets or
    UCS-2 code units) and the segments it takes."""

    encoding: str  # "GSM-7" | "UCS-2"
    units: int
    segments: int
    single_limit: int
    multi_limit: int


def with_sign(sign_name: str, body: str) -> str:
    """The text the person receives: the provider prefixes the sign name."""
    return f"【{sign_name}】{body}" if sign_name else body


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def count(text: str) -> Count:
    """The encoding, units and segments of ``text`` (0 segments for an empty text)."""
    if is_gsm7(text):
        units = sum(2 if ch in GSM7_EXTENSION else 1 for ch in text)
        single, multi, encoding = GSM7_SINGLE, GSM7_MULTI, "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, multi, encoding = UCS2_SINGLE, UCS2_MULTI, "UCS-2"
    if units == 0:
        used = 0
    elif units <= single:
        used = 1
    else:
        used = math.ceil(units / multi)
    return Count(encoding, units, used, single, multi)


def segments(text: str) -> int:
    """How many billed segments ``text`` takes (0 for an empty text)."""
    return count(text).segments


def length_problem(text: str, max_segments: int = 1) -> str | None:
    """None when ``text`` fits in ``max_segments``; otherwise why not, in words staff act on."""
    c = count(text)
    if c.segments <= max_segments:
        return None
    limit = c.single_limit if max_segments == 1 else c.multi_limit * max_segments
    unit = "characters" if c.encoding == "UCS-2" else "GSM-7 septets"
    return (
        f"SMS is {c.units} {unit} ({c.encoding}, {c.segments} segments); at most {limit} "
        f"{unit} ({max_segments} segment{'s' if max_segments > 1 else ''}) are allowed, "
        "sign included"
    )


def short_link(url: str) -> str:
    """A link as an SMS prints it: without ``https://`` (eight characters fewer; phones
    linkify ``pf.cn/p/aB3xK9q2Z``). Templates put a space after it, so no linkifier takes
    the next Chinese character into the link."""
    for scheme in ("https://", "http://"):
        url = url.removeprefix(scheme)
    return url
