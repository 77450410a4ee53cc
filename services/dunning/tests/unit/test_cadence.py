"""EXAMPLES.md "Quiet hours and caps", and phone-call windows by the Chinese calendar."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from dunning.domain.cadence import QuietHours, ReminderCap, earliest_send
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


def test_fifth_reminder_waits_until_the_oldest_leaves_the_window() -> None:
    sent = [t("2026-03-01 10:00"), t("2026-03-05 10:00"), t("2026-03-09 10:00"),
            t("2026-03-13 10:00")]  # fmt: skip
    cap = ReminderCap()
    assert cap.next_allowed(t("2026-03-20 10:00"), sent) == t("2026-03-31 10:00")
    assert cap.next_allowed(t("2026-03-20 10:00"), sent[1:]) == t("2026-03-20 10:00")
    assert ReminderCap(limit=2).next_allowed(t("2026-03-20 10:00"), sent) == t("2026-04-08 10:00")


def test_cap_then_quiet_hours_combine_deferred_not_dropped() -> None:
    sent = [t("2026-03-01 22:30") - timedelta(hours=1) for _ in range(4)]  # 21:30 on 03-01
    send = earliest_send(t("2026-03-20 10:00"), SH, sent, QuietHours(), ReminderCap())
    assert send == t("2026-04-01 08:00")  # free at 03-31 21:30, quiet until 08:00


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
