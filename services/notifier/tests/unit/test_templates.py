"""Templates are validated when saved: syntax, variables, required SMS content, length, wording."""

from notifier.service_layer.templates import builtin, pick, validate

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
    assert pick({}, "reminder", "r7", "sms", "en-US") == builtin("reminder", "sms", "zh-CN")
