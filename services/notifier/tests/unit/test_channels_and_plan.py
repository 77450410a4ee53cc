"""Channel choice, preferences, do-not-contact, SMS length, wording, and the dispatcher's plan."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from notifier.domain import sms
from notifier.domain.channels import (
    Chosen,
    Contact,
    NotSent,
    Preferences,
    choose_channel,
    fallback_channel,
)
from notifier.domain.plan import (
    AwaitContacts,
    Defer,
    Due,
    Fail,
    Recipient,
    Rules,
    Send,
    Suppress,
    decide,
)
from notifier.domain.wording import forbidden_wording

SH = ZoneInfo("Asia/Shanghai")
FULL = Contact(phone="13812345678", email="a@b.cn", wechat_openid="o-1", postal_address="杭州市1号")


def test_requested_channel_when_allowed_and_reachable() -> None:
    assert choose_channel("sms", FULL, Preferences(), essential=False) == Chosen(
        "sms", "13812345678"
    )


def test_disallowed_channel_is_replaced_by_the_preferred_one() -> None:
    prefs = Preferences(allowed=frozenset({"wechat", "email"}), preferred=("email", "wechat"))
    choice = choose_channel("sms", FULL, prefs, essential=False)
    assert choice == Chosen("email", "a@b.cn", substituted=True)


def test_party_preference_comes_first_for_electronic_messages_not_for_paper() -> None:
    prefs = Preferences(preferred=("wechat", "sms"))
    assert choose_channel("sms", FULL, prefs, essential=False) == Chosen("wechat", "o-1", True)
    assert choose_channel("app_push", FULL, prefs, essential=True) == Chosen("wechat", "o-1", True)
    # A letter (or door notice) is asked for as proof of delivery: it stands.
    at_home = Contact(phone="13812345678", wechat_openid="o-1", postal_address="杭州市1号",
                      room_label="1-1-101")  # fmt: skip
    assert choose_channel("letter", at_home, prefs, essential=True) == Chosen("letter", "杭州市1号")
    assert choose_channel("door_notice", at_home, prefs, essential=True) == Chosen(
        "door_notice", "1-1-101"
    )
    # Without a WeChat contact, the next preferred channel, then the requested one.
    no_wechat = Contact(phone="13812345678", app_user_id="app-1")
    assert choose_channel("app_push", no_wechat, prefs, essential=False) == Chosen(
        "sms", "13812345678", True
    )
    assert choose_channel("app_push", no_wechat, Preferences(), essential=False) == Chosen(
        "app_push", "app-1"
    )


def test_do_not_contact_silences_reminders_but_not_bills_or_demands() -> None:
    prefs = Preferences(do_not_contact=True)
    quiet = choose_channel("sms", FULL, prefs, essential=False)
    assert isinstance(quiet, NotSent) and quiet.suppressed
    assert choose_channel("sms", FULL, prefs, essential=True) == Chosen("sms", "13812345678")


def test_essential_message_goes_by_a_lawful_channel_even_when_all_are_disallowed() -> None:
    prefs = Preferences(allowed=frozenset({"app_push"}))
    assert choose_channel("sms", FULL, prefs, essential=True) == Chosen("sms", "13812345678")
    assert isinstance(choose_channel("sms", FULL, prefs, essential=False), NotSent)


def test_no_contact_is_a_reason_not_an_exception() -> None:
    choice = choose_channel("sms", Contact(), Preferences(), essential=True)
    assert isinstance(choice, NotSent) and "no usable contact" in choice.reason
    assert not choice.suppressed


def test_fallback_skips_failed_channels() -> None:
    prefs = Preferences(preferred=("wechat",))
    assert fallback_channel(["sms"], FULL, prefs, essential=False) == Chosen("wechat", "o-1", True)
    assert (
        fallback_channel(["sms", "wechat", "email", "letter"], FULL, prefs, essential=False) is None
    )


def test_sms_segments_count_the_sign() -> None:
    assert sms.segments("") == 0 and sms.segments("字" * 70) == 1
    assert (
        sms.segments("字" * 71) == 2
        and sms.segments("字" * 134) == 2
        and sms.segments("字" * 135) == 3
    )
    assert sms.with_sign("物业服务", "你好") == "【物业服务】你好"
    assert sms.length_problem("字" * 70) is None
    assert "71 characters" in (sms.length_problem("字" * 71) or "")
    assert sms.length_problem("字" * 134, max_segments=2) is None


def test_templates_may_not_threaten_supplies_or_advertise() -> None:
    assert forbidden_wording("逾期将停水停电", "reminder")
    assert forbidden_wording("参加抽奖", "reminder") and not forbidden_wording("参加抽奖", "bill")
    assert forbidden_wording("请于3月20日前缴纳", "reminder") == []


def _due(**kw: object) -> Due:
    base = dict(
        message_type="reminder",
        subject_id="case-1",
        stage="r7",
        requested_channel="sms",
        essential=False,
        requested_at=datetime(2026, 3, 5, 10, tzinfo=SH),
    )
    base.update(kw)
    return Due(**base)  # type: ignore[arg-type]


RECIPIENT = Recipient(FULL, Preferences(), SH)


def test_plan_awaits_contacts_then_fails_after_grace() -> None:
    rules = Rules(contact_grace=timedelta(hours=24))
    assert isinstance(
        decide(_due(), None, datetime(2026, 3, 5, 12, tzinfo=SH), rules), AwaitContacts
    )
    failed = decide(_due(), None, datetime(2026, 3, 6, 10, tzinfo=SH), rules)
    assert isinstance(failed, Fail) and failed.staff_task


def test_plan_defers_for_quiet_hours_and_caps_sends_otherwise() -> None:
    night = decide(_due(), RECIPIENT, datetime(2026, 3, 5, 21, 30, tzinfo=SH), Rules())
    assert night == Defer(datetime(2026, 3, 6, 8, tzinfo=SH), "quiet hours")
    history = [(datetime(2026, 3, d, 10, tzinfo=SH), (f"case-{d}", "r")) for d in (1, 2, 3, 4)]
    capped = decide(_due(), RECIPIENT, datetime(2026, 3, 5, 10, tzinfo=SH), Rules(), history)
    assert capped == Defer(datetime(2026, 3, 31, 10, tzinfo=SH), "frequency cap")
    # A second channel of an occasion already sent is not a new reminder; bills are not capped.
    same = [*history[1:], (datetime(2026, 3, 1, 10, tzinfo=SH), ("case-1", "r7"))]
    assert isinstance(
        decide(_due(), RECIPIENT, datetime(2026, 3, 5, 10, tzinfo=SH), Rules(), same), Send
    )
    bill = decide(
        _due(message_type="bill"), RECIPIENT, datetime(2026, 3, 5, 10, tzinfo=SH), Rules(), history
    )
    assert bill == Send("sms", "13812345678", False)
    # Letters are printed: no quiet hours.
    letter = decide(
        _due(requested_channel="letter"), RECIPIENT, datetime(2026, 3, 5, 23, tzinfo=SH), Rules()
    )
    assert letter == Send("letter", "杭州市1号", False)


def test_plan_suppresses_for_do_not_contact() -> None:
    recipient = Recipient(FULL, Preferences(do_not_contact=True), SH)
    assert isinstance(
        decide(_due(), recipient, datetime(2026, 3, 5, 10, tzinfo=SH), Rules()), Suppress
    )
