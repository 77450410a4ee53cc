"""Receipt numbers of counter payments (收据号): community, business day, sequence."""

from __future__ import annotations

from datetime import date


def receipt_number(community_id: str, day: date, seq: int) -> str:
    """``SJ-<community>-<yyyymmdd>-<000001>``: readable on paper, unique, in order per day."""
    if seq <= 0 or seq > 999_999:
        raise ValueError("receipt sequence out of range for one day")
    return f"SJ-{community_id}-{day:%Y%m%d}-{seq:06d}"
