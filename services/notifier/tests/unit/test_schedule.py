"""Quiet hours and frequency caps (EXAMPLES.md, "Quiet hours and caps"), time as an argument."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from notifier.domain.schedule import (
    FrequencyCap,
    QuietHours,
    after_cap,
    after_quiet_hours,
    earliest_send,
    retry_delay,
)

SH = ZoneInfo("Asia/Shanghai")
QUIET = QuietHours(time(21), time(8))


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH)


def test_worked_example_2130_goes_at_0800_next_day() -> None:
    assert after_quiet_hours(sh(2026, 3, 5, 21, 30), SH, QUIET) == sh(2026, 3, 6, 8, 0)


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (sh(2026, 3, 5, 20, 59, 59), sh(2026, 3, 5, 20, 59, 59)),
        (sh(2026, 3, 5, 21, 0), sh(2026, 3, 6, 8, 0)),
        (sh(2026, 3, 5, 23, 59), sh(2026, 3, 6, 8, 0)),
        (sh(2026, 3, 6, 0, 0), sh(2026, 3, 6, 8, 0)),
        (sh(2026, 3, 6, 7, 59, 59), sh(2026, 3, 6, 8, 0)),
        (sh(2026, 3, 6, 8, 0), sh(2026, 3, 6, 8, 0)),
        (sh(2026, 12, 31, 22, 0), sh(2027, 1, 1, 8, 0)),
    ],
)
def test_quiet_hours_edges(at: datetime, expected: datetime) -> None:
    assert after_quiet_hours(at, SH, QUIET) == expected


def test_quiet_hours_use_the_community_time_zone_and_keep_the_callers_zone() -> None:
    at = datetime(2026, 3, 5, 13, 30, tzinfo=UTC)  # 21:30 in Shanghai, 14:30 in Berlin
    result = after_quiet_hours(at, SH, QUIET)
    assert result == datetime(2026, 3, 6, 0, 0, tzinfo=UTC) and result.tzinfo == UTC
    assert after_quiet_hours(at, ZoneInfo("Europe/Berlin"), QUIET) == at


def test_quiet_hours_not_wrapping_midnight_and_disabled() -> None:
    siesta = QuietHours(time(12), time(14))
    assert after_quiet_hours(sh(2026, 3, 5, 12, 30), SH, siesta) == sh(2026, 3, 5, 14, 0)
    assert after_quiet_hours(sh(2026, 3, 5, 11, 0), SH, siesta) == sh(2026, 3, 5, 11, 0)
    assert after_quiet_hours(sh(2026, 3, 5, 23, 0), SH, QuietHours(time(21), time(21))) == sh(
        2026, 3, 5, 23, 0
    )


def test_fifth_reminder_waits_until_the_oldest_of_four_leaves_the_window() -> None:
    sent = [sh(2026, 3, d, 10, 0) for d in (1, 8, 15, 22)]
    cap = FrequencyCap(4, timedelta(days=30))
    assert after_cap(sh(2026, 3, 25, 10, 0), sent, cap) == sh(2026, 3, 31, 10, 0)
    assert after_cap(sh(2026, 3, 25, 10, 0), sent[1:], cap) == sh(2026, 3, 25, 10, 0)
    # Sends older than the window do not count.
    assert after_cap(sh(2026, 4, 1, 10, 0), sent, cap) == sh(2026, 4, 1, 10, 0)


def test_cap_then_quiet_hours_combine() -> None:
    sent = [sh(2026, 3, d, 22 if d == 1 else 10, 0) for d in (1, 8, 15, 22)]
    # Released at 22:00 on 31 March: inside the quiet hours, so 08:00 on 1 April.
    when = earliest_send(sh(2026, 3, 25, 10), SH, QUIET, FrequencyCap(), sent)
    assert when == sh(2026, 4, 1, 8, 0)
    assert earliest_send(sh(2026, 3, 25, 10), SH, QUIET) == sh(2026, 3, 25, 10)


def test_cap_must_allow_something_and_retry_backoff_grows_to_a_cap() -> None:
    with pytest.raises(ValueError):
        after_cap(sh(2026, 3, 1), [], FrequencyCap(0))
    delays = [retry_delay(n, timedelta(seconds=60), timedelta(hours=1)) for n in range(1, 9)]
    assert delays[:3] == [timedelta(seconds=60), timedelta(seconds=120), timedelta(seconds=240)]
    assert delays[-1] == timedelta(hours=1)
    with pytest.raises(ValueError):
        retry_delay(0, timedelta(seconds=1), timedelta(seconds=2))
