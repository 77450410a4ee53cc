"""SMS segments as carriers count them (GSM-7 160/153, extension characters two septets;
UCS-2 70/67; the 【sign】 included), and the template check built on them (issue 19)."""

import pytest

from notifier.domain import sms
from notifier.service_layer.templates import (
    ONE_SEGMENT_TYPES,
    SAMPLE_TOKEN,
    samples,
    segment_findings,
    validate,
)


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        ("", "GSM-7", 0, 0),
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("[" * 80, "GSM-7", 160, 1),  # extension characters count two
        ("a" * 159 + "€", "GSM-7", 161, 2),
        ("Pay 12.00 by 31 Dec: pf.cn/p/aB3xK9q2Z {ok} ^~|\\", "GSM-7", 48 + 6, 1),
        ("字" * 70, "UCS-2", 70, 1),
        ("字" * 71, "UCS-2", 71, 2),
        ("字" * 134, "UCS-2", 134, 2),
        ("字" * 135, "UCS-2", 135, 3),
        ("a" * 69 + "字", "UCS-2", 70, 1),  # one Chinese character: the whole text is UCS-2
        ("a" * 100 + "é" + "字", "UCS-2", 102, 2),
        ("😀" * 35, "UCS-2", 70, 1),  # outside the BMP: two code units each
        ("😀" * 36, "UCS-2", 72, 2),
    ],
)
def test_segments_as_carriers_count_them(
    text: str, encoding: str, units: int, segments: int
) -> None:
    c = sms.count(text)
    assert (c.encoding, c.units, c.segments) == (encoding, units, segments)
    assert sms.segments(text) == segments


def test_the_sign_is_counted() -> None:
    body = "字" * 64
    assert sms.segments(body) == 1
    assert sms.segments(sms.with_sign("物业服务", body)) == 1  # 6 + 64 = 70
    assert sms.segments(sms.with_sign("物业服务中心", body)) == 2  # 8 + 64 = 72
    problem = sms.length_problem(sms.with_sign("物业服务中心", body))
    assert problem is not None and "72 characters (UCS-2, 2 segments)" in problem


def test_an_sms_link_has_no_scheme() -> None:
    assert sms.short_link("https://pf.cn/p/aB3xK9q2Z") == "pf.cn/p/aB3xK9q2Z"
    sample = samples("sms", "https://pay.example.com/p/")[0]
    assert sample["pay_link"] == f"pay.example.com/p/{SAMPLE_TOKEN}"
    assert samples("email")[0]["pay_link"] == f"https://pf.cn/p/{SAMPLE_TOKEN}"


KW = {"sign_name": "物业服务", "max_segments": 2}
#: Two segments with the sample values (a longer tail than any default).
LONG = "{{ room }}物业费{{ amount }}元，请于{{ deadline }}前缴纳 {{ pay_link }} 如有疑问请致电{{ contact }}"
SHORT = "{{ room }}欠费{{ amount }}元，{{ deadline }}前缴 {{ pay_link }} 询{{ contact }}"


@pytest.mark.parametrize("message_type", sorted(ONE_SEGMENT_TYPES))
def test_a_bill_or_reminder_sms_beyond_one_segment_is_refused(message_type: str) -> None:
    assert validate(message_type, "sms", SHORT, None, **KW) == []
    problems = validate(message_type, "sms", LONG, None, **KW)
    assert any("2 segments" in p and "one segment" in p for p in problems), problems


def test_other_types_beyond_one_segment_are_warned_not_refused() -> None:
    body = "{{ room }}已缴{{ amount }}元（{{ pay_channel }}），感谢您一直以来对我们工作的支持与理解，电子票据已发送至您的邮箱，如有疑问请致电{{ contact }}"
    assert validate("receipt", "sms", body, None, **KW) == []
    assert segment_findings(body, "物业服务") != []


def test_a_longer_pay_link_base_counts() -> None:
    assert segment_findings(SHORT, "物业服务") == []
    assert segment_findings(SHORT, "物业服务", "https://pay.example-property.com/pay/") != []
