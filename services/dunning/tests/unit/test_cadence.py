"""EXAMPLES.md "Quiet hours", and phone-call windows by the Chinese calendar (both run in
Python in production: the sweep's ``_policy_arrays``). The reminder cap's examples run against
its SQL home, ``dunning_cap_free_at`` (tests/examples.py CAP, tests/integration)."""

from datetime import datetime, time
from zoneinfo import ZoneInfo

from dunning.domain.cadence import QuietHours
from dunning.domain.call_windows import call_allowed, is_workday, next_call_window

SH = ZoneInfo("Asia/Shanghai")


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SH)


def test_reminder_at_2130_is_sent_at_0800_next_day() -> None:
    assert QuietHours().next_allowed(t("2026-03-05 21:30"), SH) == t("2026-03-06 08:00")


def test_quiet_edges() -> None:
    quiet = QuietHours()
    assert quiet.is_quiet(t("2026-03-05 21:00"), SH)
    assert quiet.is_quiet(t("2026-03-06 07:59"), SH)
    assert not quiet.is_quiet(t("2026-03-06 08:00"), SH)
    assert not quiet.is_quiet(t("2026-03-05 20:59"), SH)
    assert quiet.next_allowed(t("2026-03-06 03:00"), SH) == t("2026-03-06 08:00")
    daytime = QuietHours(time(12, 0), time(14, 0))
    assert daytime.next_allowed(t("2026-03-06 12:30"), SH) == t("2026-03-06 14:00")


def test_quiet_hours_are_local_time() -> None:
    utc_instant = datetime.fromisoformat("2026-03-05T13:30:00+00:00")  # 21:30 in Shanghai
    assert QuietHours().is_quiet(utc_instant, SH)


def test_make_up_workday_and_holidays() -> None:
    assert is_workday(t("2026-02-14 12:00").date())  # Saturday, a make-up workday
    assert not is_workday(t("2026-10-01 12:00").date())  # National Day
    assert not is_workday(t("2026-03-07 12:00").date())  # an ordinary Saturday
    assert is_workday(t("2099-03-06 12:00").date())  # beyond the calendar: Mon–Fri rule


def test_call_windows() -> None:
    assert call_allowed(t("2026-03-05 18:30"), SH)  # Thursday
    assert not call_allowed(t("2026-03-05 12:00"), SH)
    assert call_allowed(t("2026-03-07 12:00"), SH)  # Saturday
    assert not call_allowed(t("2026-03-07 18:30"), SH)
    assert call_allowed(t("2026-02-14 18:30"), SH)  # make-up workday: evening window
    assert not call_allowed(t("2026-10-01 18:30"), SH)  # holiday: daytime window
    assert next_call_window(t("2026-03-05 20:30"), SH) == (
        t("2026-03-06 18:00"), t("2026-03-06 20:00"),
    )  # fmt: skip
    assert next_call_window(t("2026-03-06 21:00"), SH) == (
        t("2026-03-07 10:00"), t("2026-03-07 17:00"),
    )  # fmt: skip
    assert next_call_window(t("2026-03-07 11:00"), SH)[0] == t("2026-03-07 11:00")
