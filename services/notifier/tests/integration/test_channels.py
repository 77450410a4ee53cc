"""The other channels against local fakes: fallback from a failing SMS to e-mail over SMTP,
WeChat template messages, app push, printed letters posted (tracking number) then proven
delivered (carrier status), retries with backoff, and templates validated when saved."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import httpx
import pytest

from propfee.auth import Role
from propfee.events import ArrearsEscalated, EscalationAction
from tests.support.auth import BearerAuth, staff_token
from tests.support.kafka import read_topic

from .conftest import community, party, party_known, wait_for

pytestmark = pytest.mark.integration


def stage(case_id: str, party_id: str, channel: str) -> ArrearsEscalated:
    return ArrearsEscalated(
        case_id=case_id,
        community_id="c-1",
        unit_id=f"u-{case_id}",
        payer_party_id=party_id,
        stage="final_reminder",
        previous_stage="reminder_7d",
        tier="yellow",
        outstanding_fen=165480,
        oldest_due_date=date(2025, 9, 30),
        days_overdue=180,
        invoice_ids=["inv-a", "inv-b"],
        escalated_at=datetime(2026, 3, 30, 2, tzinfo=UTC),
        actions=[EscalationAction(kind="message", channel=channel)],
        room_label="5-1-302",
        deadline=date(2026, 4, 15),
    )


async def test_fallback_wechat_push_letter_retry_and_templates(
    staff_auth,
    clock_auth,
    dev_issuer,
    create_database,
    services,
    providers,
    bus,
    test_prefix,
    kafka,  # type: ignore[no-untyped-def]
) -> None:
    providers.alibaba.fail_phones.add("13700000000")
    providers.alibaba.flaky_phones["13600000000"] = 1
    notifier = services("notifier", await create_database("notifier"), **providers.env).start()
    await bus.send(community(), key="c-1")
    await bus.send(
        # No stated preference: the requested SMS goes first, fails for good, and the
        # fallback takes the next reachable channel (e-mail).
        party("p-fb", phone="13700000000", email="owner@example.cn"),
        key="p-fb",
    )
    await bus.send(party("p-wx", wechat_openid="oWX123"), key="p-wx")
    await bus.send(party("p-app", app_user_id="app-42"), key="p-app")
    await bus.send(party("p-post", postal_address="杭州市西湖区幸福路1号5-1-302"), key="p-post")
    await bus.send(party("p-flaky", phone="13600000000"), key="p-flaky")
    async with httpx.AsyncClient(base_url=notifier.url, timeout=30, auth=staff_auth) as http:
        refused = await http.post(
            "/templates",
            json={
                "message_type": "reminder",
                "stage": "final_reminder",
                "channel": "wechat",
                "body": "{{ room }}不缴将停水{{ amount }}",
                "created_by": "clerk-1",
            },
        )
        assert refused.status_code == 422 and "coercion" in json.dumps(
            refused.json(), ensure_ascii=False
        )
        saved = await http.post(
            "/templates",
            json={
                "message_type": "reminder",
                "stage": "final_reminder",
                "channel": "wechat",
                "body": "{{ room }}尚欠物业费{{ amount }}元，请于{{ deadline }}前缴纳。"
                "询{{ contact }}。{{ company }}",
                "created_by": "clerk-1",
            },
        )
        assert saved.status_code == 201 and saved.json()["version"] == 1, saved.text
        assert saved.json()["status"] == "draft"
        # A draft renders only once a second company-level person approves it.
        second = BearerAuth(staff_token(dev_issuer, [Role.company_admin], subject="admin-2"))
        approved = await http.post(
            f"/template-versions/{saved.json()['template_version_id']}/approve", auth=second
        )
        assert approved.status_code == 200 and approved.json()["status"] == "approved"
        for p in ("p-fb", "p-wx", "p-app", "p-post", "p-flaky"):
            await party_known(http, p)
        for case, p, channel in [
            ("fb", "p-fb", "sms"),
            ("wx", "p-wx", "wechat"),
            ("app", "p-app", "app_push"),
            ("post", "p-post", "letter"),
            ("flaky", "p-flaky", "sms"),
        ]:
            event = stage(case, p, channel)
            await bus.send(event, key=event.unit_id)
        await wait_for(http, "/notifications", {"status": "queued"}, lambda r: len(r) == 5)

        report = (
            await http.post(
                "/dispatch", auth=clock_auth, params={"as_of": "2026-03-30T10:00:00+08:00"}
            )
        ).json()
        # The permanent SMS failure falls back to e-mail in the same pass? No: the fallback is
        # due at once and goes with the next pass.
        assert report.get("retried") == 1 and report.get("failed") == 1
        report = (
            await http.post(
                "/dispatch", auth=clock_auth, params={"as_of": "2026-03-30T10:00:30+08:00"}
            )
        ).json()
        assert report.get("delivered") == 1, report  # the e-mail fallback
        report = (
            await http.post(
                "/dispatch", auth=clock_auth, params={"as_of": "2026-03-30T10:01:00+08:00"}
            )
        ).json()
        assert report.get("sent") == 1, report  # the flaky SMS, retried after 60 s

        rows = {
            r["subject_id"] + "/" + r["channel"]: r
            for r in (await http.get("/notifications")).json()["items"]
        }
        assert (
            rows["fb/sms"]["status"] == "failed"
            and "MOBILE_NUMBER_ILLEGAL" in rows["fb/sms"]["status_reason"]
        )
        email = rows["fb/email"]
        assert (
            email["status"] == "delivered"
            and email["fallback_of"] == rows["fb/sms"]["notification_id"]
        )
        assert "queued as" in email["proof"]["smtp_response"]  # Postfix: 2.0.0 Ok: queued as …
        assert providers.smtp.messages[0]["to"] == ["owner@example.cn"]
        # Accepted by the API is not delivered (issue 18 rule 3): sent until a receipt.
        assert rows["wx/wechat"]["status"] == "sent"
        assert rows["wx/wechat"]["template_id"] == "reminder.final_reminder.wechat.zh-CN"
        assert (
            rows["wx/wechat"]["body"]
            == "5-1-302尚欠物业费1654.80元，请于4月15日前缴纳。询4008123456。安居物业服务有限公司"
        )
        assert providers.wechat.messages[0]["touser"] == "oWX123"
        assert rows["app/app_push"]["status"] == "sent" and providers.push.bad_signatures == 0
        assert providers.push.messages[0]["app_user_id"] == "app-42"
        assert rows["flaky/sms"]["status"] == "sent" and rows["flaky/sms"]["attempts"] == 2
        letter = rows["post/letter"]
        assert letter["status"] == "printing"
        pdf = await http.get(f"/notifications/{letter['notification_id']}/document")
        assert pdf.content.startswith(b"%PDF") and pdf.headers["content-type"] == "application/pdf"
        batch = (await http.post("/letters/batches")).json()  # staff: as of now
        assert batch["letters"] == 1 and batch["notification_ids"] == [letter["notification_id"]]
        assert batch["by_channel"] == {"letter": [letter["notification_id"]]}
        printed = await http.get(f"/letters/batches/{batch['batch_id']}.pdf")
        assert (
            printed.content.startswith(b"%PDF")
            and b"/MediaBox [ 0 0 595.2756 841.8898 ]" in printed.content
        )
        tracked = await http.post(
            f"/notifications/{letter['notification_id']}/tracking",
            json={"tracking_number": "EA123456789CN"},  # posted now
        )
        assert tracked.json()["status"] == "posted"
        proof = {"carrier_status": "妥投", "signed_by": "本人"}
        done = await http.post(f"/notifications/{letter['notification_id']}/delivery", json=proof)
        assert done.json()["status"] == "delivered", done.text
        again = await http.post(
            f"/notifications/{rows['wx/wechat']['notification_id']}/tracking",
            json={"tracking_number": "EA000000000CN"},
        )
        assert again.status_code == 409

        # Every change is in the audit trail: who, what, before and after.
        trail = (await http.get("/audit", params={"actor": "test-staff"})).json()["items"]
        actions = {e["action"] for e in trail}
        assert {"template.saved", "letters.batched", "letter.tracking_recorded"} <= actions
        tracking = next(e for e in trail if e["action"] == "letter.tracking_recorded")
        assert tracking["subject_id"] == letter["notification_id"]
        assert tracking["community_id"] == "c-1" and tracking["before"]["status"] == "printing"
        assert tracking["after"]["tracking_number"] == "EA123456789CN"
        auditor = BearerAuth(staff_token(dev_issuer, [Role.auditor], communities=["c-1"]))
        scoped = (await http.get("/audit", auth=auditor)).json()["items"]
        assert scoped and {e["community_id"] for e in scoped} == {"c-1"}
        # Message bodies are evidence with personal data: masked for the auditor.
        seen = (await http.get("/notifications", auth=auditor)).json()["items"]
        wx = next(r for r in seen if r["notification_id"] == rows["wx/wechat"]["notification_id"])
        assert "5-1-302" not in wx["body"] and "1654.80" not in wx["body"]
        assert (await http.get(pdf.url.path, auth=auditor)).status_code == 403

    delivered = [
        json.loads(r.value or b"")
        for r in await read_topic(
            kafka, test_prefix + "notifier.notification-delivered", at_least=2
        )
    ]
    by_channel = {d["channel"]: d for d in delivered}
    assert set(by_channel) == {"email", "letter"}  # WeChat and app push await their receipts
    assert by_channel["letter"]["proof"]["tracking_number"] == "EA123456789CN"
    assert by_channel["letter"]["proof"]["carrier_status"] == "妥投"
    assert by_channel["email"]["requested_channel"] == "email"
    failed = [
        json.loads(r.value or b"")
        for r in await read_topic(kafka, test_prefix + "notifier.notification-failed", at_least=1)
    ]
    assert (
        len(failed) == 1
        and failed[0]["final"] is False
        and failed[0]["fallback_channel"] == "email"
    )
    assert notifier.stop_gracefully()
