"""WeChat end to end: subscription messages from a real notifier process to the fake WeChat
API, a refused subscription falling back to SMS, and WeChat's message push (signed, in safe
mode encrypted) proving delivery once; a push that does not verify changes nothing."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime

import httpx
import pytest

from propfee.events import ArrearsEscalated, EscalationAction
from sandbox.wechat import WeChatPusher, subscribe_sent, template_finished
from tests.support.kafka import read_topic

from .conftest import WX_ID, community, party, party_known, wait_for

pytestmark = pytest.mark.integration
CB_TOKEN = "cb-token-for-tests"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
SUBSCRIBE = {
    "default": {
        "template_id": "TPL-SUB",
        "page": "pages/pay/index?unit={unit_id}",
        "data": {"thing1": "room", "amount2": "amount", "time3": "deadline"},
    }
}


def stage(case_id: str, party_id: str) -> ArrearsEscalated:
    return ArrearsEscalated(
        case_id=case_id,
        community_id="c-1",
        unit_id=f"u-{case_id}",
        payer_party_id=party_id,
        stage="reminder_7d",
        previous_stage="due_notice",
        tier="green",
        outstanding_fen=27580,
        oldest_due_date=date(2026, 1, 31),
        days_overdue=58,
        invoice_ids=["inv-1"],
        escalated_at=datetime(2026, 3, 30, 2, tzinfo=UTC),
        actions=[EscalationAction(kind="message", channel="wechat")],
        room_label="3-2-1201",
        deadline=date(2026, 4, 10),
    )


async def push(
    http: httpx.AsyncClient, pusher: WeChatPusher, xml: str, *, safe: bool = False
) -> httpx.Response:
    params, body = pusher.request(xml, safe=safe)
    return await http.post(
        "/receipts/wechat", params=params, content=body, headers={"Content-Type": "text/xml"}
    )


async def test_subscription_message_proven_by_safe_mode_push_once(
    staff_auth,
    clock_auth,
    create_database,
    services,
    providers,
    bus,
    test_prefix,
    kafka,  # type: ignore[no-untyped-def]
) -> None:
    providers.wechat.refused_openids.add("oREF789")
    env = {
        **providers.env,
        "wechat_message_api": "subscribe",
        "wechat_subscribe_templates": json.dumps(SUBSCRIBE),
        "wechat_callback_token": CB_TOKEN,
        "wechat_encoding_aes_key": AES_KEY,
    }
    notifier = services("notifier", await create_database("notifier"), **env).start()
    await bus.send(community(), key="c-1")
    await bus.send(party("p-sub", wechat_openid="oMP456"), key="p-sub")
    await bus.send(party("p-ref", wechat_openid="oREF789", phone="13500000000"), key="p-ref")
    pusher = WeChatPusher(CB_TOKEN, WX_ID, AES_KEY)
    async with httpx.AsyncClient(base_url=notifier.url, timeout=30, auth=staff_auth) as http:
        for p in ("p-sub", "p-ref"):
            await party_known(http, p)
        for case, p in (("sub", "p-sub"), ("ref", "p-ref")):
            await bus.send(stage(case, p), key=f"u-{case}")
        await wait_for(http, "/notifications", {"status": "queued"}, lambda r: len(r) == 2)
        report = (
            await http.post(
                "/dispatch", auth=clock_auth, params={"as_of": "2026-03-30T10:00:00+08:00"}
            )
        ).json()
        assert report.get("sent") == 1 and report.get("failed") == 1, report
        report = (
            await http.post(
                "/dispatch", auth=clock_auth, params={"as_of": "2026-03-30T10:00:30+08:00"}
            )
        ).json()
        assert report.get("sent") == 1, report  # the refused subscription's SMS fallback
        sub = providers.wechat.subscribed
        assert len(sub) == 1 and sub[0]["touser"] == "oMP456"
        assert sub[0]["page"] == "pages/pay/index?unit=u-sub"
        assert sub[0]["data"] == {
            "thing1": {"value": "3-2-1201"},
            "amount2": {"value": "275.80元"},
            "time3": {"value": "2026年4月10日 23:59"},
        }
        assert providers.alibaba.sent[0]["phone"] == "13500000000"
        rows = {
            r["subject_id"] + "/" + r["channel"]: r
            for r in (await http.get("/notifications")).json()["items"]
        }
        row = rows["sub/wechat"]
        assert row["status"] == "sent" and row["provider"] == "wechat_subscribe"
        msgid = row["provider_message_id"]
        assert rows["ref/wechat"]["status"] == "failed"
        assert rows["ref/wechat"]["status_reason"].startswith("wechat_subscribe: 43101")

        # The server URL check: echo echostr when signed with our token, else 401.
        ts, nonce = str(int(time.time())), "n0nce"
        good = {"signature": pusher.sign(ts, nonce), "timestamp": ts, "nonce": nonce}
        ok = await http.get("/receipts/wechat", params={**good, "echostr": "echo-123"})
        assert ok.status_code == 200 and ok.text == "echo-123"
        bad = {**good, "signature": "0" * 40, "echostr": "x"}
        assert (await http.get("/receipts/wechat", params=bad)).status_code == 401

        delivered_xml = subscribe_sent([(msgid, 0, "success")])
        # Not WeChat's: wrong signature, or a tampered safe-mode message: refused, no change.
        params, body = pusher.request(delivered_xml, safe=True)
        forged = await http.post(
            "/receipts/wechat", params={**params, "signature": "f" * 40}, content=body
        )
        assert forged.status_code == 401
        tampered = await http.post(
            "/receipts/wechat", params={**params, "msg_signature": "a" * 40}, content=body
        )
        assert tampered.status_code == 401
        other = WeChatPusher("someone-else", WX_ID, AES_KEY)
        assert (await push(http, other, delivered_xml, safe=True)).status_code == 401
        still = (await http.get("/notifications", params={"subject_id": "sub"})).json()["items"][0]
        assert still["status"] == "sent"

        # WeChat's push (and its retries): delivered once.
        for _ in range(3):
            answer = await push(http, pusher, delivered_xml, safe=True)
            assert answer.status_code == 200 and answer.text == "success"
        row = (await http.get("/notifications", params={"subject_id": "sub"})).json()["items"][0]
        assert row["status"] == "delivered"
        assert row["proof"]["msgid"] == msgid and row["proof"]["receipt_status"] == "success"

    delivered = [
        json.loads(r.value or b"")
        for r in await read_topic(
            kafka, test_prefix + "notifier.notification-delivered", at_least=1
        )
    ]
    assert len(delivered) == 1 and delivered[0]["provider"] == "wechat_subscribe"
    assert delivered[0]["channel"] == "wechat" and delivered[0]["subject_id"] == "sub"
    failed = [
        json.loads(r.value or b"")
        for r in await read_topic(kafka, test_prefix + "notifier.notification-failed", at_least=1)
    ]
    assert len(failed) == 1 and failed[0]["fallback_channel"] == "sms"
    assert failed[0]["final"] is False and "43101" in failed[0]["reason"]
    log = notifier.log_path.read_text()
    assert "oMP456" not in log and "13500000000" not in log
    assert notifier.stop_gracefully()


async def test_template_message_blocked_by_the_user_falls_back(
    staff_auth,
    clock_auth,
    create_database,
    services,
    providers,
    bus,
    test_prefix,
    kafka,  # type: ignore[no-untyped-def]
) -> None:
    env = {**providers.env, "wechat_callback_token": CB_TOKEN}
    notifier = services("notifier", await create_database("notifier"), **env).start()
    await bus.send(community(), key="c-1")
    await bus.send(party("p-wx", wechat_openid="oWX123", email="owner@example.cn"), key="p-wx")
    pusher = WeChatPusher(CB_TOKEN, WX_ID)
    async with httpx.AsyncClient(base_url=notifier.url, timeout=30, auth=staff_auth) as http:
        await party_known(http, "p-wx")
        await bus.send(stage("blk", "p-wx"), key="u-blk")
        await wait_for(http, "/notifications", {"status": "queued"}, lambda r: len(r) == 1)
        report = (
            await http.post(
                "/dispatch", auth=clock_auth, params={"as_of": "2026-03-30T10:00:00+08:00"}
            )
        ).json()
        assert report.get("sent") == 1, report
        row = (await http.get("/notifications", params={"subject_id": "blk"})).json()["items"][0]
        assert row["status"] == "sent" and row["provider"] == "wechat"
        msgid = row["provider_message_id"]
        blocked = template_finished(msgid, "failed:user block")
        assert (await push(http, pusher, blocked)).text == "success"
        assert (await push(http, pusher, blocked)).text == "success"  # WeChat retries
        late = template_finished(msgid, "success")  # never un-fails a message
        assert (await push(http, pusher, late)).text == "success"
        rows = {
            r["channel"]: r
            for r in (await http.get("/notifications", params={"subject_id": "blk"})).json()[
                "items"
            ]
        }
        assert rows["wechat"]["status"] == "failed"
        assert rows["wechat"]["status_reason"] == "wechat delivery receipt: failed:user block"
        assert rows["email"]["status"] == "queued"
        report = (
            await http.post(
                "/dispatch", auth=clock_auth, params={"as_of": "2026-03-30T10:05:00+08:00"}
            )
        ).json()
        assert report.get("delivered") == 1, report
    failed = [
        json.loads(r.value or b"")
        for r in await read_topic(kafka, test_prefix + "notifier.notification-failed", at_least=1)
    ]
    assert len(failed) == 1 and failed[0]["fallback_channel"] == "email"
    delivered = [
        json.loads(r.value or b"")
        for r in await read_topic(
            kafka, test_prefix + "notifier.notification-delivered", at_least=1
        )
    ]
    assert [d["channel"] for d in delivered] == ["email"]
    assert notifier.stop_gracefully()
