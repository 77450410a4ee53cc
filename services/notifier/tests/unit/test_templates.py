"""Templates are validated when saved: syntax, variables, required SMS content, length, wording."""

import pytest
from jinja2.exceptions import SecurityError

from notifier.domain.channels import CHANNELS
from notifier.service_layer.templates import (
    Template,
    builtin,
    builtin_problems,
    pick,
    render,
    validate,
)
from notifier.settings import NotifierSettings

KW = {"sign_name": "物业服务", "max_segments": 1}
DEFAULTS = NotifierSettings()


def test_every_builtin_template_passes_the_check_a_saved_one_does() -> None:
    """Issue 18 rule 11: the built-in templates name the sender and a dispute contact in every
    channel (the SMS ones and the receipts did not) and pass the wording check."""
    assert builtin_problems(DEFAULTS.sms_sign_name, DEFAULTS.sms_max_segments) == {}
    for message_type in ("bill", "receipt", "reminder", "confirmation"):
        for channel in CHANNELS:
            template = builtin(message_type, channel, "zh-CN")
            assert template is not None
            # In SMS the registered sign name (【签名】) is the sender's identity.
            needed = {"contact"} if channel == "sms" else {"company", "contact"}
            assert needed <= set(template.variables()), template.template_id
            problems = validate(
                message_type,
                channel,
                template.body,
                None,
                sign_name=DEFAULTS.sms_sign_name,
                max_segments=DEFAULTS.sms_max_segments,
            )
            assert problems == [], (template.template_id, problems)


@pytest.mark.parametrize("channel", CHANNELS)
def test_every_channel_needs_sender_and_dispute_contact_and_lawful_wording(channel: str) -> None:
    kw = {"sign_name": "物业服务", "max_segments": 2}
    body = "已收到{{ room }}缴费{{ amount }}元（{{ pay_channel }}）"
    problems = validate("receipt", channel, body, None, **kw)
    if channel == "sms":  # the registered sign name is the sender's identity (issue 19)
        assert not any("no sender identity" in p for p in problems)
        unsigned = validate("receipt", channel, body, None, **{**kw, "sign_name": ""})
        assert any("no sender identity in the sms template" in p for p in unsigned)
    else:
        assert any(f"no sender identity in the {channel} template" in p for p in problems)
    assert any(f"no dispute contact in the {channel} template" in p for p in problems)
    for tail in (
        "{{ contact }}{{ company }}",
        "{{ company_name }}{{ dispute_contact }}",
        "{{ company }}{{ complaint_line }}",
    ):
        assert validate("receipt", channel, body + tail, None, **kw) == []
    threat = body + "{{ contact }}{{ company }}否则 后果自负"
    assert validate("receipt", channel, threat, None, **kw) == [
        f"wording: '否则后果自负' (threat) is refused in a {channel} template"
    ]


def test_wording_is_checked_in_branches_the_sample_does_not_take_and_in_the_subject() -> None:
    tail = "{{ contact }}{{ company }}"
    hidden = "{% if tier == 'black' %}逾期将停{{ '' }}水{% endif %}" + tail
    assert any("'停水'" in p for p in validate("reminder", "letter", hidden, None, **KW))
    joined = "{{ '断' ~ '电' }}" + tail
    assert any("'断电'" in p for p in validate("reminder", "app_push", joined, None, **KW))
    subject = validate("reminder", "email", "请缴费" + tail, "曝光通知", **KW)
    assert subject == ["wording: '曝光' (public shaming) is refused in a email template"]


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
        "coercion" in p
        for p in validate(
            "reminder", "email", "不缴将停电{{ room }}{{ company }}{{ contact }}", None, **KW
        )
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


def test_the_renderer_fills_the_sender_and_dispute_variables_from_the_community() -> None:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from notifier.service_layer.composer import context

    row = {
        "params": {"amount_fen": 27580, "room": "1栋/1单元/101"},
        "message_type": "reminder",
        "requested_at": datetime(2026, 12, 1, tzinfo=UTC),
        "unit_id": "u-1",
        "subject_id": "case-1",
        "service_phone": "4008123456",
        "company_name": "安居物业",
        "community_name": "幸福里",
        "complaint_line": None,
        "stage": None,
    }
    ctx = context(row, ZoneInfo("Asia/Shanghai"), DEFAULTS)
    assert ctx["company"] == ctx["company_name"] == "安居物业"
    # No complaint line: the dispute variables give the service phone, never nothing.
    assert ctx["complaint_line"] == ctx["dispute_contact"] == "4008123456"
    ctx = context({**row, "complaint_line": "12345"}, ZoneInfo("Asia/Shanghai"), DEFAULTS)
    assert ctx["complaint_line"] == ctx["dispute_contact"] == "12345"
    assert ctx["contact"] == "4008123456"
