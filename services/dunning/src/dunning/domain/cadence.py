"""Quiet hours (Civil Code art. 1033: no harassment), in the policy's local time.

A reminder due in quiet hours is deferred to the first instant they allow, never dropped: the
sweep computes, per policy, whether it is quiet now and until when (``service_layer/sweep.py``
``_policy_arrays``), so this is the production home of the quiet-hours rule. The defaults are
the shared ones (``propfee.contact_rules``, one home with notifier's).

The reminder cap (default 4 per payer in any rolling 30 days) lives in SQL, where the sweep
runs it set-based: ``dunning_cap_free_at`` (migration 0012), whose example table runs in
PostgreSQL (tests/integration/test_rules_in_sql.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from propfee.contact_rules import QUIET_END, QUIET_START


@dataclass(frozen=True, slots=True)
class QuietHours:
    start: time = QUIET_START
    end: time = QUIET_END

    def is_quiet(self, at: datetime, tz: ZoneInfo) -> bool:
        local = at.astimezone(tz).time()
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def next_allowed(self, at: datetime, tz: ZoneInfo) -> datetime:
        """``at`` itself when it is not quiet, else the end of the quiet period."""
        if not self.is_quiet(at, tz):
            return at
        local = at.astimezone(tz)
        end = datetime.combine(local.date(), self.end, tz)
        if end <= local:
            end = datetime.combine(local.date() + timedelta(days=1), self.end, tz)
        return end
