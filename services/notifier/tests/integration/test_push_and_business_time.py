"""Issue 16 items 11 and 6 for notifier, against a real notifier process and PostgreSQL.

WeChat message pushes: a captured query string can no longer forge a "delivered" proof (a
replayed query with another body changes nothing, a stale timestamp is refused, plaintext is
refused when safe mode is configured, a body swapped under a valid query signature is
refused). Business times staff send (a letter's delivery time, a manual receipt's time) go
through propfee.business_time with the company's back-dating window from
billing.community-updated."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from sandbox.wechat import WeChatPusher, template_finished

from .conftest import WX_ID, community, community_known

pytestmark = pytest.mark.integration
CB_TOKEN = "cb-token-for-replay-tests"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
AT = datetime(2026, 3, 5, 2, tzinfo=UTC)
INSERT = (
    "INSERT INTO notifications (notification_id, dedup_key, community_id, unit_id, party_id, "
    "channel, requested_channel, message_type, subject_id, stage, body, status, "
    "source_event_id, requested_at, sent_at, provider, provider_message_id, params) "
    "VALUES ($1, $1, $2, $3, 'p-1', $4, $4, 'reminder', $5, 'reminder_7d', '催缴', $6, $7, "
    "$8, $8, $9, $10, '{}'::jsonb)"
)


async def _message(
    database_url: str,
    notification_id: str,
    channel: str,
    status: str,
    provider: str,
    provider_message_id: str | None,
    community_id: str = "c-1",
) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            INSERT,
            notification_id,
            community_id,
            f"u-{notification_id}",
            channel,
            f"s-{notification_id}",
            status,
            uuid.uuid4(),
            AT,
            provider,
            provider_message_id,
        )
    finally:
        await conn.close()


async def _status(http: httpx.AsyncClient, subject_id: str) -> dict[str, Any]:
    rows = (await http.get("/notifications", params={"subject_id": subject_id})).json()["items"]
    assert len(rows) == 1, rows
    row: dict[str, Any] = rows[0]
    return row


async def _post(http: httpx.AsyncClient, params: dict[str, str], body: str) -> httpx.Response:
    return await http.post(
        "/receipts/wechat", params=params, content=body, headers={"Content-Type": "text/xml"}
    )


async def test_plaintext_push_replayed_or_stale_changes_nothing(
    staff_auth,
    create_database,
    services,
    providers,
    bus,  # type: ignore[no-untyped-def]
) -> None:
    """No EncodingAESKey: plaintext is WeChat's mode, and ``signature`` covers no body. A
    captured query string reused with a forged body, or a push older than the window, must
    not make a message delivered."""
    db = await create_database("notifier")
    env = {**providers.env, "wechat_callback_token": CB_TOKEN, "wechat_push_max_age_s": "300"}
    notifier = services("notifier", db, **env).start()
    await bus.send(community(), key="c-1")
    pusher = WeChatPusher(CB_TOKEN, WX_ID)
    async with httpx.AsyncClient(base_url=notifier.url, timeout=30, auth=staff_auth) as http:
        await community_known(http, "c-1")
        await _message(db, "n-real", "wechat", "sent", "wechat", "1001")
        await _message(db, "n-victim", "wechat", "sent", "wechat", "1002")

        # WeChat's genuine push for message 1001 (a refusal), answered and applied.
        params, body = pusher.request(template_finished("1001", "failed:user block"))
        assert (await _post(http, params, body)).text == "success"
        assert (await _status(http, "s-n-real"))["status"] == "failed"

        # The captured query string replayed with a forged body for another message:
        # acknowledged (WeChat's own retries look the same) and without effect.
        forged = template_finished("1002", "success")
        replay = await _post(http, params, forged)
        assert replay.status_code == 200
        assert (await _status(http, "s-n-victim"))["status"] == "sent"

        # A push signed with a timestamp older than the window: refused.
        old = str(int(time.time()) - 600)
        stale = {"signature": pusher.sign(old, "n-old"), "timestamp": old, "nonce": "n-old"}
        refused = await _post(http, stale, forged)
        assert refused.status_code == 401 and "stale" in refused.text
        assert (await _status(http, "s-n-victim"))["status"] == "sent"
        bad = {"signature": pusher.sign("²", "n"), "timestamp": "²", "nonce": "n"}
        assert (await _post(http, bad, forged)).status_code == 401
        huge = "9" * 5000
        bad = {"signature": pusher.sign(huge, "n"), "timestamp": huge, "nonce": "n"}
        assert (await _post(http, bad, forged)).status_code == 401

        # The server-URL check is held to the same window.
        echo = {**stale, "echostr": "e-1"}
        assert (await http.get("/receipts/wechat", params=echo)).status_code == 401

        # A fresh, genuine push for 1002 still proves delivery.
        params, body = pusher.request(forged)
        assert (await _post(http, params, body)).text == "success"
        assert (await _status(http, "s-n-victim"))["status"] == "delivered"
    assert notifier.stop_gracefully()


async def test_safe_mode_refuses_plaintext_and_swapped_bodies(
    staff_auth,
    create_database,
    services,
    providers,
    bus,  # type: ignore[no-untyped-def]
) -> None:
    """EncodingAESKey configured: only ``encrypt_type=aes`` pushes whose ``msg_signature``
    covers the encrypted body are accepted; a replayed safe-mode push changes nothing."""
    db = await create_database("notifier")
    env = {
        **providers.env,
        "wechat_callback_token": CB_TOKEN,
        "wechat_encoding_aes_key": AES_KEY,
    }
    notifier = services("notifier", db, **env).start()
    await bus.send(community(), key="c-1")
    pusher = WeChatPusher(CB_TOKEN, WX_ID, AES_KEY)
    async with httpx.AsyncClient(base_url=notifier.url, timeout=30, auth=staff_auth) as http:
        await community_known(http, "c-1")
        await _message(db, "n-a", "wechat", "sent", "wechat", "2001")
        await _message(db, "n-b", "wechat", "sent", "wechat", "2002")
        delivered_b = template_finished("2002", "success")

        # Plaintext, correctly signed (signature over token, timestamp, nonce): refused.
        params, body = pusher.request(delivered_b, safe=False)
        plain = await _post(http, params, body)
        assert plain.status_code == 401 and "plaintext" in plain.text
        # The same with a leftover encrypt_type but a plaintext body: refused too.
        params, _ = pusher.request(delivered_b, safe=True)
        assert (await _post(http, params, delivered_b)).status_code == 401
        assert (await _status(http, "s-n-b"))["status"] == "sent"

        # A genuine safe-mode push for 2001; its query kept, another (validly encrypted)
        # body swapped in: msg_signature no longer matches, refused.
        params, body = pusher.request(template_finished("2001", "success"), safe=True)
        _, swapped = pusher.request(delivered_b, safe=True)
        tampered = await _post(http, params, swapped)
        assert tampered.status_code == 401
        assert (await _status(http, "s-n-b"))["status"] == "sent"

        assert (await _post(http, params, body)).text == "success"
        assert (await _status(http, "s-n-a"))["status"] == "delivered"
        # Replayed as is: acknowledged, nothing new recorded.
        assert (await _post(http, params, body)).text == "success"
        conn = await asyncpg.connect(db)
        try:
            receipts = await conn.fetchval(
                "SELECT count(*) FROM delivery_receipts WHERE provider_message_id = '2001'"
            )
            seen = await conn.fetchval("SELECT count(*) FROM wechat_push_seen")
        finally:
            await conn.close()
        assert receipts == 1 and seen == 1
    assert notifier.stop_gracefully()


async def test_staff_delivery_times_stay_within_the_company_window(
    staff_auth,
    create_database,
    services,
    providers,
    bus,  # type: ignore[no-untyped-def]
) -> None:
    """A letter's delivery time and a manual receipt's time: staff may back-date within the
    company's window (here 2 days, from billing.community-updated), never forward-date."""
    db = await create_database("notifier")
    notifier = services("notifier", db, **providers.env).start()
    narrow = community().model_copy(update={"backdate_days": 2})
    await bus.send(narrow, key="c-1")
    async with httpx.AsyncClient(base_url=notifier.url, timeout=30, auth=staff_auth) as http:
        await community_known(http, "c-1")
        await _message(db, "n-letter", "letter", "printing", "print", None)
        await _message(db, "n-sms", "sms", "sent", "alibaba", "ali-1")
        url = "/notifications/n-letter/tracking"
        now = datetime.now(UTC)
        tomorrow = (now + timedelta(days=1)).isoformat()
        future = await http.post(url, json={"tracking_number": "EA1CN", "posted_at": tomorrow})
        assert future.status_code == 403 and "posted_at" in future.text
        too_old = (now - timedelta(days=3)).isoformat()
        old = await http.post(url, json={"tracking_number": "EA1CN", "posted_at": too_old})
        assert old.status_code == 403 and "2 days" in old.text
        assert (await _status(http, "s-n-letter"))["status"] == "printing"
        yesterday = now - timedelta(days=1)
        ok = await http.post(
            url,
            json={
                "tracking_number": "EA1CN",
                "posted_at": (yesterday - timedelta(hours=1)).isoformat(),
            },
        )
        assert ok.status_code == 200, ok.text
        row = await _status(http, "s-n-letter")
        assert row["status"] == "posted" and row["delivered_at"] is None  # issue 18 rule 3
        delivery = "/notifications/n-letter/delivery"
        proof = {"carrier_status": "妥投"}
        future = await http.post(delivery, json={**proof, "delivered_at": tomorrow})
        assert future.status_code == 403 and "delivered_at" in future.text
        old = await http.post(delivery, json={**proof, "delivered_at": too_old})
        assert old.status_code == 403 and "2 days" in old.text
        ok = await http.post(delivery, json={**proof, "delivered_at": yesterday.isoformat()})
        assert ok.status_code == 200, ok.text
        row = await _status(http, "s-n-letter")
        assert row["status"] == "delivered"
        assert datetime.fromisoformat(row["delivered_at"]) == yesterday

        receipt = {"provider": "alibaba", "provider_message_id": "ali-1", "success": True}
        ahead = await http.post(
            "/receipts", json={**receipt, "status": "DELIVRD", "reported_at": tomorrow}
        )
        assert ahead.status_code == 403 and "reported_at" in ahead.text
        assert (await _status(http, "s-n-sms"))["status"] == "sent"
        # Staff may not run the print batch as of another instant either.
        batch = await http.post("/letters/batches", params={"as_of": "2030-01-01T00:00:00Z"})
        assert batch.status_code == 403
    conn = await asyncpg.connect(db)
    try:
        recorded = await conn.fetchval(
            "SELECT delivery_recorded_at FROM notifications WHERE notification_id = 'n-letter'"
        )
    finally:
        await conn.close()
    assert recorded is not None and recorded > yesterday
    assert notifier.stop_gracefully()
