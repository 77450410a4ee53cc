"""Token buckets in PostgreSQL (``rate_buckets``): shared by every replica and worker.

A bucket holds at most ``burst`` tokens and gains ``per_hour`` an hour; each request takes
one. A request that finds less than one token is refused with the seconds until there is one
(the Retry-After). Buckets untouched for a day are full again and are deleted now and then.
"""

from __future__ import annotations

import math
import secrets
from datetime import datetime, timedelta

import asyncpg

IDLE = timedelta(days=1)


async def take(
    conn: asyncpg.Connection, bucket: str, *, burst: int, per_hour: float, now: datetime
) -> int | None:
    """Inside a transaction: take a token; ``None`` when taken, else the seconds to wait."""
    if secrets.randbelow(100) == 0:  # housekeeping now and then
        await conn.execute("DELETE FROM rate_buckets WHERE updated_at < $1", now - IDLE)
    await conn.execute(
        "INSERT INTO rate_buckets (bucket, tokens, updated_at) VALUES ($1, $2, $3) "
        "ON CONFLICT (bucket) DO NOTHING",
        bucket,
        float(burst),
        now,
    )
    row = await conn.fetchrow(
        "SELECT tokens, updated_at FROM rate_buckets WHERE bucket = $1 FOR UPDATE", bucket
    )
    assert row is not None
    per_second = per_hour / 3600.0
    elapsed = max(0.0, (now - row["updated_at"]).total_seconds())
    available = min(float(burst), float(row["tokens"]) + elapsed * per_second)
    if available < 1.0:
        if per_second <= 0:
            return 3600
        wait: int = math.ceil((1.0 - available) / per_second)
        return max(1, wait)
    await conn.execute(
        "UPDATE rate_buckets SET tokens = $2, updated_at = $3 WHERE bucket = $1",
        bucket,
        available - 1.0,
        now,
    )
    return None
