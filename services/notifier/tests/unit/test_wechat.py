"""WeChat: subscription-message values by keyword type, push signatures and safe-mode
decryption (checked against the fake's own encryption, made with the cryptography library)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from notifier.adapters.wechat_crypto import MessageCrypto, PushRefused, signature, verify
from notifier.domain.wechat_fields import FieldError, format_value, kind_of, template_data
from notifier.entrypoints.http_wechat_push import receipts_of
from sandbox.wechat import WeChatPusher, subscribe_sent, template_finished

AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters, as WeChat issues


def test_keyword_kinds() -> None:
    assert kind_of("thing1") == "thing" and kind_of("character_string12") == "character_string"
    assert kind_of("amount2") == "amount" and kind_of("phone_number3") == "phone_number"


def test_values_follow_wechat_rules() -> None:
    assert format_value("amount2", 27580) == "275.80元"
    assert format_value("amount2", 9_999_999_999) == "99999999.99元"
    with pytest.raises(FieldError):
        format_value("amount2", 100_000_000_000)  # eleven digits
    assert format_value("time3", date(2026, 3, 20)) == "2026年3月20日 23:59"
    at = datetime(2026, 3, 6, 8, 0, 5, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert format_value("time4", at) == "2026年3月6日 08:00"
    assert format_value("date5", date(2026, 3, 20)) == "2026年3月20日"
    long = "幸福花园小区三期十二栋二单元二十八楼零一室业主"
    cut = format_value("thing1", long)
    assert len(cut) == 20 and cut.endswith("…")
    assert format_value("thing1", "第一行\n第二行") == "第一行 第二行"
    assert format_value("character_string4", "3-2-1201") == "3-2-1201"
    with pytest.raises(FieldError):
        format_value("character_string4", "三期1201")  # no Chinese in a character_string
    with pytest.raises(FieldError):
        format_value("character_string4", "x" * 33)  # never cut: a code cut short is wrong
    assert format_value("phrase5", "待缴费") == "待缴费"
    with pytest.raises(FieldError):
        format_value("phrase5", "请尽快缴纳物业费")
    assert format_value("phone_number6", "400-812-3456") == "400-812-3456"
    with pytest.raises(FieldError):
        format_value("time3", None)
    with pytest.raises(FieldError):
        format_value("weird7", "x")


def test_template_data_maps_keywords_to_message_values() -> None:
    data = template_data(
        {"thing1": "room", "amount2": "amount", "time3": "deadline"},
        {"room": "3-2-1201", "amount": 27580, "deadline": date(2026, 3, 20)},
    )
    assert data == {
        "thing1": {"value": "3-2-1201"},
        "amount2": {"value": "275.80元"},
        "time3": {"value": "2026年3月20日 23:59"},
    }


def test_push_signature_is_sha1_of_sorted_parts() -> None:
    pusher = WeChatPusher("tok-en", "wx-app")
    assert signature("tok-en", "1774834805", "nonce") == pusher.sign("1774834805", "nonce")
    assert verify(pusher.sign("1", "2"), "tok-en", "1", "2")
    assert not verify(pusher.sign("1", "2"), "other", "1", "2")
    assert not verify("", "tok-en", "1", "2")


def test_safe_mode_decrypts_what_wechat_encrypted() -> None:
    pusher = WeChatPusher("tok-en", "wx-app", AES_KEY)
    xml = template_finished("200163836", "success")
    params, body = pusher.request(xml, safe=True)
    encrypted = ET.fromstring(body).findtext("Encrypt") or ""
    crypto = MessageCrypto("tok-en", AES_KEY, "wx-app")
    plain = crypto.decrypt(
        encrypted,
        msg_signature=params["msg_signature"],
        timestamp=params["timestamp"],
        nonce=params["nonce"],
    )
    assert plain == xml
    with pytest.raises(PushRefused):  # a tampered signature
        crypto.decrypt(
            encrypted, msg_signature="0" * 40, timestamp=params["timestamp"], nonce=params["nonce"]
        )
    other_app = MessageCrypto("tok-en", AES_KEY, "wx-other")
    with pytest.raises(PushRefused):  # encrypted for another app
        other_app.decrypt(
            encrypted,
            msg_signature=params["msg_signature"],
            timestamp=params["timestamp"],
            nonce=params["nonce"],
        )
    with pytest.raises(ValueError):
        MessageCrypto("tok-en", "short", "wx-app")


def test_push_events_become_receipts() -> None:
    finished = receipts_of(ET.fromstring(template_finished("200163836", "failed:user block")))
    assert [(r.provider, r.provider_message_id, r.success, r.status) for r in finished] == [
        ("wechat", "200163836", False, "failed:user block")
    ]
    assert "FromUserName" not in finished[0].raw  # the openid is not kept
    sent = receipts_of(
        ET.fromstring(
            subscribe_sent([("17001", 0, "success"), ("17002", 43101, "failed: user refused")])
        )
    )
    assert [(r.provider, r.provider_message_id, r.success) for r in sent] == [
        ("wechat_subscribe", "17001", True),
        ("wechat_subscribe", "17002", False),
    ]
    assert sent[0].reported_at is not None and sent[0].reported_at.year == 2026
    other = "<xml><MsgType>event</MsgType><Event>subscribe</Event></xml>"
    assert receipts_of(ET.fromstring(other)) == []
