"""The dispatch backlog: messages due to be sent and not yet sent, by channel.

Read at each /metrics scrape (``propfee_dispatch_backlog{channel}``, NotifierRuntime.measure).
Due is what the dispatcher claims (``queries.CLAIM``): queued with its next attempt at or
before now, plus what a dispatcher has claimed and is sending (``sending``: at a provider, its
outcome not yet recorded; a lost claim stays here until recovery settles it). Messages
awaiting contacts, printing letters, retries not yet due and ``unknown`` ones (for staff to
review, never resent) are not backlog.
"""

from __future__ import annotations

import asyncpg

from notifier.domain.channels import CHANNELS

_DUE_BY_CHANNEL = """
SELECT channel, count(*) AS due FROM notifications
 WHERE (status = 'queued' AND next_attempt_at <= now()) OR status = 'sending'
 GROUP BY channel
"""


async def dispatch_backlog(pool: asyncpg.Pool) -> dict[str, int]:
    """Due and unsent messages per channel (every channel present, 0 when none is due)."""
    backlog = dict.fromkeys(CHANNELS, 0)
    for row in await pool.fetch(_DUE_BY_CHANNEL):
        backlog[row["channel"]] = row["due"]
    return backlog
