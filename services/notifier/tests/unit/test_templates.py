"""Templates are validated when saved: syntax, variables, required SMS content, length, wording."""

import pytest
from jinja2.exceptions import SecurityError

from notifier.service_layer.templates import Template, builtin, pick, render, validate

KW = {"sign_name": "物业服务", "max_segments": 1}


def test_every_builtin_template_is_valid() -> None:
    for message_type in ("bill", "receipt", "reminder", "confirmation"):
        for channel in ("sms", "wechat", "email", "letter"):
            template = builtin(message_type, channel, "zh-CN")
            assert template is not None
            assert validate(message_type, channel, template.body, None, **KW) == []


def test_refusals_say_why() -> None:
    assert "syntax error" in validate("reminder", "email", "{{ room ", None, **KW)[0]
    assert validate("reminder", "email", "{{ owner_name }}", None, **KW) == [
        "body: unknown variable 'owner_name'"
    ]
    missing = validate("reminder", "sms", "{{ room }}请缴费{{ amount }}元", None, **KW)
    assert any("must carry 'pay_link'" in p for p in missing)
    long = "{{ room }}{{ amount }}{{ deadline }}{{ pay_link }}{{ contact }}" + "请" * 40
    assert any("segments" in p for p in validate("reminder", "sms", long, None, **KW))
    assert any(
        "coercion" in p for p in validate("reminder", "email", "不缴将停电{{ room }}", None, **KW)
    )


def test_pick_prefers_the_stage_then_falls_back_to_zh_cn_and_builtin() -> None:
    assert pick({}, "co-1", "reminder", "r7", "sms", "en-US") == builtin("reminder", "sms", "zh-CN")


def test_pick_takes_only_the_company_s_own_approved_template() -> None:
    own = Template("reminder.*.sms.zh-CN", 2, "A的{{ room }}")
    saved = {("co-a", "reminder.*.sms.zh-CN"): own}
    assert pick(saved, "co-a", "reminder", "r7", "sms", "zh-CN") == own
    default = builtin("reminder", "sms", "zh-CN")
    assert pick(saved, "co-b", "reminder", "r7", "sms", "zh-CN") == default
    assert pick(saved, None, "reminder", "r7", "sms", "zh-CN") == default


IDENTITY = {"sender_names": ("安居物业",), "dispute_contacts": ("4008123456",)}


def test_a_saved_template_names_the_sender_and_a_dispute_contact() -> None:
    body = "{{ room }}尚欠物业费{{ amount }}元。"
    problems = validate("reminder", "email", body, None, **KW, **IDENTITY)
    assert any("no sender identity" in p for p in problems), problems
    assert any("no dispute contact" in p for p in problems), problems
    assert validate("reminder", "email", body + "{{ company }}，询{{ contact }}", None, **KW,
                    **IDENTITY) == []  # fmt: skip
    written = body + "安居物业，电话4008123456"
    assert validate("reminder", "email", written, None, **KW, **IDENTITY) == []


def test_rendering_limits() -> None:
    with pytest.raises(SecurityError):
        render("{% for i in range(10**9) %}x{% endfor %}", {})
    with pytest.raises(SecurityError):
        render("{{ 'x' * 10**8 }}", {})
    with pytest.raises(SecurityError):
        render("{{ 10 ** 100000 }}", {})
    with pytest.raises(SecurityError):
        render("{% for i in range(1000) %}很长的一段话{% endfor %}", {}, max_output=1000)
    out = validate("reminder", "email", "{% for i in range(1000) %}很长的一段话{% endfor %}",
                   None, **KW, max_output=1000)  # fmt: skip
    assert out and "output limit of 1000" in out[0]


@pytest.mark.parametrize(
    "body",
    [
        "{{ room|center(100000000) }}",
        "{{ room.ljust(100000000) }}",
        "{{ '%100000000s' % room }}",
        "{{ '{:>100000000}'.format(room) }}",
        "{{ room|indent(1000000) }}",
        "{{ ('x' * 9000)|replace('x', 'yy') }}",
    ],
)
def test_filters_and_methods_cannot_build_huge_values(body: str) -> None:
    with pytest.raises(SecurityError):
        render(body, {"room": "12-3-2801"})


@pytest.mark.parametrize(
    ("body", "construct"),
    [
        ("{% macro f(n) %}{{ f(n) }}{% endmacro %}", "{% macro %}"),
        ("{% for a in range(3) %}{% for b in range(3) %}{% endfor %}{% endfor %}", "loop inside"),
        ("{% for a in [1] recursive %}{{ loop(a) }}{% endfor %}", "recursive loop"),
    ],
)
def test_constructs_that_explode_rendering_time_are_refused(body: str, construct: str) -> None:
    problems = validate("reminder", "email", body + "{{ company }}{{ contact }}", None, **KW)
    assert any(construct in p for p in problems), problems
