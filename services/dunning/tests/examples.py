"""Example tables of the rules the sweep runs in SQL (EXAMPLES.md), shared by the unit tests of
the Python helper and the integration tests of the SQL functions (one table, every home)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

AS_OF = date(2026, 11, 22)

#: (due, as of, months overdue): Civil Code art. 202 at month ends (DOMAIN.md, December 2026).
MONTHS = [
    (date(2025, 9, 30), AS_OF, 13),  # EXAMPLES.md "Tiers as of a date"
    (date(2026, 4, 30), AS_OF, 6),
    (date(2026, 8, 31), AS_OF, 2),
    (date(2026, 10, 31), AS_OF, 0),
    (date(2026, 3, 31), date(2026, 9, 30), 6),  # issue 18 rule 5: month end to month end
    (date(2026, 3, 31), date(2026, 9, 29), 5),
    (date(2026, 3, 31), date(2026, 4, 30), 1),  # 31st → 30th
    (date(2026, 5, 31), date(2026, 6, 30), 1),
    (date(2025, 12, 31), date(2026, 1, 30), 0),
    (date(2026, 1, 31), date(2026, 2, 28), 1),  # 31st → Feb 28
    (date(2026, 1, 31), date(2026, 3, 31), 2),
    (date(2028, 1, 31), date(2028, 2, 29), 1),  # leap year: Feb 29 is the month's end
    (date(2028, 1, 31), date(2028, 2, 28), 0),
    (date(2026, 1, 30), date(2026, 2, 28), 1),  # no corresponding day: the month's last
    (date(2026, 1, 28), date(2026, 2, 27), 0),
    (date(2026, 2, 28), date(2026, 3, 28), 0),  # due on a month end: to the next month end
    (date(2026, 2, 28), date(2026, 3, 31), 1),
    (date(2028, 2, 29), date(2028, 3, 29), 0),
    (date(2028, 2, 29), date(2028, 3, 31), 1),
    (date(2024, 2, 29), date(2025, 2, 28), 12),
    (date(2026, 1, 15), date(2026, 2, 15), 1),  # the same day a month later
    (date(2026, 1, 15), date(2026, 2, 14), 0),  # the day before
    (date(2026, 1, 15), date(2026, 1, 15), 0),  # the due date itself
    (date(2026, 12, 1), AS_OF, 0),  # before the due date
]

DEFAULT_THRESHOLDS = (12, 500_000, 6, 1)  # red months, red amount, yellow months, green months
STRICT = (6, 100_000, 3, 1)

#: (oldest due, as of, overdue principal, amount chased, thresholds, tier): top down, first
#: match wins; the red line runs on overdue principal (issue 18 rule 6).
TIERS = [
    (date(2025, 9, 30), AS_OF, 600_000, 600_000, DEFAULT_THRESHOLDS, "red"),
    (date(2025, 9, 30), AS_OF, 400_000, 400_000, DEFAULT_THRESHOLDS, "yellow"),
    (date(2026, 4, 30), AS_OF, 600_000, 600_000, DEFAULT_THRESHOLDS, "yellow"),
    (date(2026, 8, 31), AS_OF, 10_000, 10_000, DEFAULT_THRESHOLDS, "green"),
    (date(2026, 10, 31), AS_OF, 10_000, 10_000, DEFAULT_THRESHOLDS, "current"),
    (date(2025, 11, 22), AS_OF, 600_000, 600_000, DEFAULT_THRESHOLDS, "yellow"),  # 12 months
    (date(2025, 10, 22), AS_OF, 500_000, 500_000, DEFAULT_THRESHOLDS, "yellow"),  # 5,000 yuan
    (date(2025, 10, 22), AS_OF, 500_001, 500_001, DEFAULT_THRESHOLDS, "red"),
    (date(2026, 5, 22), AS_OF, 1, 1, DEFAULT_THRESHOLDS, "yellow"),  # exactly 6 months
    (date(2026, 10, 22), AS_OF, 1, 1, DEFAULT_THRESHOLDS, "green"),  # exactly 1 month
    (date(2020, 1, 1), AS_OF, 0, 0, DEFAULT_THRESHOLDS, "current"),  # nothing chased
    (None, AS_OF, 0, 0, DEFAULT_THRESHOLDS, "current"),
    (date(2026, 3, 31), AS_OF, 200_000, 200_000, STRICT, "red"),  # per-community thresholds
    (date(2026, 7, 31), AS_OF, 200_000, 200_000, STRICT, "yellow"),
    (date(2025, 1, 31), AS_OF, 450_000, 550_000, DEFAULT_THRESHOLDS, "yellow"),  # fee not red
    (date(2025, 1, 31), AS_OF, 500_001, 550_000, DEFAULT_THRESHOLDS, "red"),
    (date(2025, 1, 31), AS_OF, 0, 8_000, DEFAULT_THRESHOLDS, "yellow"),  # late fee alone
]

_SH = ZoneInfo("Asia/Shanghai")


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=_SH)


_FOUR = [_t("2026-03-13 10:00"), _t("2026-03-09 10:00"), _t("2026-03-05 10:00"),
         _t("2026-03-01 10:00")]  # fmt: skip
#: (the payer's reminders up to now, newest first; cap; window days; now; free at or None):
#: EXAMPLES.md "Quiet hours and caps": 4 in any rolling 30 days, a fifth deferred until the
#: oldest of the four leaves the window.
CAP = [
    (_FOUR, 4, 30, _t("2026-03-20 10:00"), _t("2026-03-31 10:00")),
    (_FOUR[:3], 4, 30, _t("2026-03-20 10:00"), None),  # three: one more may go
    (_FOUR, 2, 30, _t("2026-03-20 10:00"), _t("2026-04-08 10:00")),  # cap 2
    (_FOUR, 4, 30, _t("2026-03-31 10:00"), None),  # the oldest has just left the window
    ([*_FOUR[:3], _t("2026-02-10 10:00")], 4, 30, _t("2026-03-20 10:00"), None),  # too old
    ([], 4, 30, _t("2026-03-20 10:00"), None),
]

#: (limitation period's last day, as of, state): the last day itself still runs (art. 203);
#: staff are alerted from six months before it.
LIMITATION = [
    (date(2028, 1, 5), date(2027, 7, 4), "running"),
    (date(2028, 1, 5), date(2027, 7, 5), "alert"),  # EXAMPLES.md: alert on 2027-07-05
    (date(2028, 1, 5), date(2028, 1, 5), "alert"),
    (date(2028, 1, 6), date(2028, 1, 6), "alert"),
    (date(2028, 1, 5), date(2028, 1, 6), "expired"),
    (date(2027, 8, 31), date(2027, 2, 27), "running"),  # six months before 08-31: 02-28
    (date(2027, 8, 31), date(2027, 2, 28), "alert"),
]
