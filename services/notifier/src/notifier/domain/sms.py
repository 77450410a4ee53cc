"""SMS length rules of the Chinese providers (Alibaba Cloud, Tencent Cloud).

The sign name (【签名】) counts. Up to 70 characters is one segment; a longer text is split
into segments of 67 characters (the rest carries the concatenation header).
"""

from __future__ import annotations

import math

SINGLE_SEGMENT = 70
MULTI_SEGMENT = 67


def with_sign(sign_name: str, body: str) -> str:
    """The text the person receives: the provider prefixes the sign name."""
    return f"【{sign_name}】{body}" if sign_name else body


def segments(text: str) -> int:
    """How many billed segments ``text`` takes (0 for an empty text)."""
    n = len(text)
    if n == 0:
        return 0
    if n <= SINGLE_SEGMENT:
        return 1
    return math.ceil(n / MULTI_SEGMENT)


def length_problem(text: str, max_segments: int = 1) -> str | None:
    """None when ``text`` fits in ``max_segments``; otherwise why not, in words staff act on."""
    used = segments(text)
    if used <= max_segments:
        return None
    limit = SINGLE_SEGMENT if max_segments == 1 else MULTI_SEGMENT * max_segments
    return (
        f"SMS is {len(text)} characters ({used} segments); at most {limit} characters "
        f"({max_segments} segment{'s' if max_segments > 1 else ''}) are allowed, sign included"
    )
