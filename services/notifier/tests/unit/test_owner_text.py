"""What no owner-facing text may contain (notifier.domain.owner_text), and the pay-by rule."""

from datetime import date

import pytest

from notifier.domain.deadlines import pay_by
from notifier.domain.owner_text import problems


@pytest.mark.parametrize(
    "text",
    [
        # What the demo's year sent before issue 19.
        "【物业服务】已收到unit-17640c2e9fa959aab424缴费323.00元，票据见https://pf.cn/p/unit-1",
        "尊敬的业主：您尚有物业费323.00元未缴（已逾期-3天）",
        "请于近日前缴纳 {{ pay_link }}",
        "账单 inv-2cf1ff3a9b 元",
        "截止 None",
        "case-5d1e 催缴",
        "编号 3f2a9c1e-7b4d-4c2a-9e8f-0a1b2c3d4e5f",
        "哈希 17640c2e9fa959aab424",
        "最早一期于2026-01-31到期",
        "请于前缴纳",
        "金额-12.00元",
        "undefined",
    ],
)
def test_refused(text: str) -> None:
    assert problems(text) != []


@pytest.mark.parametrize(
    "text",
    [
        "【物业服务】12栋3单元2801欠费12345.67元，12月31日前缴 pf.cn/p/aB3xK9q2Z 询075512345678",
        "如有疑问请致电0755-12345678",
        "您2026年11月—2027年1月的物业费账单已出，缴费截止日为2026年12月31日。",
        "A座1203已缴323.00元（微信支付），谢谢！询4008123456",
        "共1-3期",
    ],
)
def test_allowed(text: str) -> None:
    assert problems(text) == []


def test_pay_by_rule() -> None:
    asked = date(2026, 12, 10)
    kw = {"requested_on": asked, "within_days": 7}
    # The event's own deadline wins.
    assert pay_by(
        deadline=date(2026, 12, 25), due_date=date(2026, 1, 31), days_overdue=300, **kw
    ) == date(2026, 12, 25)
    # Before the due date: the due date.
    assert pay_by(deadline=None, due_date=date(2026, 12, 13), days_overdue=-3, **kw) == date(
        2026, 12, 13
    )
    assert pay_by(deadline=None, due_date=date(2026, 12, 10), days_overdue=0, **kw) == date(
        2026, 12, 10
    )
    # Overdue, no deadline: a week from the reminder.
    assert pay_by(deadline=None, due_date=date(2026, 1, 31), days_overdue=10, **kw) == date(
        2026, 12, 17
    )
    assert (
        pay_by(deadline=None, due_date=None, days_overdue=None, requested_on=None, within_days=7)
        is None
    )
