"""Issue 16 items 4 and 5 and the template rendering limits, against a real notifier process:
templates belong to a company (saved by company-level staff as drafts, approved by a second
person, audited; another company neither sees nor approves them, and its households never
receive them), a template whose sample rendering exceeds a limit is refused at save without
stalling the service, and a staff dispatch sends only the caller's communities' messages,
as of now."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest

from propfee.auth import Role
from propfee.events import ArrearsEscalated, CommunityUpdated, EscalationAction
from tests.support.auth import BearerAuth, staff_token

from .conftest import T0, community, community_known, party, party_known, wait_for

pytestmark = pytest.mark.integration

#: An SMS reminder with everything it must carry, the sender and the dispute contact.
#: One segment with the sample values (issue 19: a reminder SMS of two is refused at save).
B_SMS = "{{ room }}欠{{ amount }}元{{ deadline }}前缴 {{ pay_link }} 询{{ contact }}远方物业"


def other_company() -> CommunityUpdated:
    return CommunityUpdated(
        community_id="c-9",
        company_id="co-2",
        company_name="远方物业",
        name="远方花园",
        city="苏州",
        service_phone="4009999999",
        updated_at=T0,
    )


def reminder(case_id: str, party_id: str, community_id: str) -> ArrearsEscalated:
    return ArrearsEscalated(
        case_id=case_id,
        community_id=community_id,
        unit_id=f"u-{case_id}",
        payer_party_id=party_id,
        stage="reminder_7d",
        previous_stage="due_notice",
        tier="green",
        outstanding_fen=27580,
        oldest_due_date=date(2026, 1, 31),
        days_overdue=58,
        invoice_ids=[f"inv-{case_id}"],
        escalated_at=datetime(2026, 3, 30, 2, tzinfo=UTC),
        actions=[EscalationAction(kind="message", channel="sms")],
        room_label=f"1-1-{case_id}",
        deadline=date(2026, 4, 10),
    )


def auth(
    issuer: Any, subject: str, company: str, roles: list[Role], communities: Any = "*"
) -> BearerAuth:
    token = staff_token(issuer, roles, company_id=company, communities=communities, subject=subject)
    return BearerAuth(token)


async def test_templates_belong_to_a_company_and_need_a_second_person(
    clock_auth,
    dev_issuer,
    create_database,
    services,
    providers,
    bus,  # type: ignore[no-untyped-def]
) -> None:
    notifier = services("notifier", await create_database("notifier"), **providers.env).start()
    await bus.send(community(), key="c-1")
    await bus.send(other_company(), key="c-9")
    await bus.send(party("p-a", phone="13800000001"), key="p-a")
    p_b = party("p-b", phone="13800000002").model_copy(update={"community_id": "c-9"})
    await bus.send(p_b, key="p-b")
    a1 = auth(dev_issuer, "a-1", "co-1", [Role.company_admin])
    b1 = auth(dev_issuer, "b-1", "co-2", [Role.company_admin])
    b2 = auth(dev_issuer, "b-2", "co-2", [Role.company_admin])
    b_manager = auth(dev_issuer, "b-m", "co-2", [Role.community_manager])
    b_scoped = auth(dev_issuer, "b-s", "co-2", [Role.company_admin], ["c-9"])
    sms = {"message_type": "reminder", "channel": "sms", "body": B_SMS, "created_by": "经理"}
    async with (
        httpx.AsyncClient(base_url=notifier.url, timeout=30) as http,
        httpx.AsyncClient(base_url=notifier.url, timeout=30, auth=a1) as as_a1,
        httpx.AsyncClient(base_url=notifier.url, timeout=30, auth=b2) as as_b2,
        httpx.AsyncClient(base_url=notifier.url, timeout=30, auth=clock_auth) as as_clock,
    ):
        await community_known(as_a1, "c-1")
        for who in (b_manager, b_scoped):  # not company-level
            refused = await http.post("/templates", json=sms, auth=who)
            assert refused.status_code == 403, refused.text
        saved = await http.post("/templates", json=sms, auth=b1)
        assert saved.status_code == 201, saved.text
        draft = saved.json()
        assert draft["company_id"] == "co-2" and draft["status"] == "draft"
        version_id = draft["template_version_id"]

        # Another company: not listed, not approvable (404), nothing changes.
        assert (await http.get("/templates", auth=a1)).json()["items"] == []
        foreign = await http.post(f"/template-versions/{version_id}/approve", auth=a1)
        assert foreign.status_code == 404 and foreign.json()["detail"].endswith("not found")
        # Nor may it save into co-2 by naming it.
        named = await http.post("/templates", json={**sms, "company_id": "co-2"}, auth=a1)
        assert named.status_code == 404
        # The author may not approve their own template.
        own = await http.post(f"/template-versions/{version_id}/approve", auth=b1)
        assert own.status_code == 403
        listed = (await http.get("/templates", auth=b2)).json()["items"]
        assert [(t["template_version_id"], t["status"]) for t in listed] == [(version_id, "draft")]

        # A draft does not render: co-2's first reminder goes with the built-in wording.
        await party_known(as_b2, "p-b")
        await bus.send(reminder("b1", "p-b", "c-9"), key="u-b1")
        await wait_for(as_b2, "/notifications", {"status": "queued"}, lambda r: len(r) == 1)
        report = (
            await http.post(
                "/dispatch", params={"as_of": "2026-03-30T10:00:00+08:00"}, auth=clock_auth
            )
        ).json()
        assert report.get("sent") == 1, report
        b_rows = {
            r["subject_id"]: r for r in (await http.get("/notifications", auth=b2)).json()["items"]
        }
        assert b_rows["b1"]["template_id"].startswith("builtin:")

        # The second person approves: audited, and co-2's next reminder uses it; co-1's does not.
        approved = await http.post(
            f"/template-versions/{version_id}/approve", json={"note": "法务已审"}, auth=b2
        )
        assert approved.status_code == 200, approved.text
        assert approved.json()["approved_by"] == "b-2" and approved.json()["author"] == "b-1"
        again = await http.post(f"/template-versions/{version_id}/approve", auth=b2)
        assert again.status_code == 409
        trail = (await http.get("/audit", params={"actor": "b-2"}, auth=b2)).json()["items"]
        entry = next(e for e in trail if e["action"] == "template.approved")
        assert entry["before"]["status"] == "draft" and entry["after"]["status"] == "approved"
        assert entry["reason"] == "法务已审"
        assert (await http.get("/audit", params={"actor": "b-2"}, auth=a1)).json()["items"] == []

        await party_known(as_a1, "p-a")
        await bus.send(reminder("b2", "p-b", "c-9"), key="u-b2")
        await bus.send(reminder("a1", "p-a", "c-1"), key="u-a1")
        await wait_for(as_clock, "/notifications", {"status": "queued"}, lambda r: len(r) == 2)
        report = (
            await http.post(
                "/dispatch", params={"as_of": "2026-03-30T10:05:00+08:00"}, auth=clock_auth
            )
        ).json()
        assert report.get("sent") == 2, report
        b_rows = {
            r["subject_id"]: r for r in (await http.get("/notifications", auth=b2)).json()["items"]
        }
        assert b_rows["b2"]["template_id"] == "reminder.*.sms.zh-CN"
        assert b_rows["b2"]["template_version"] == 1 and b_rows["b2"]["body"].endswith("远方物业")
        a_rows = {
            r["subject_id"]: r for r in (await http.get("/notifications", auth=a1)).json()["items"]
        }
        assert set(a_rows) == {"a1"}
        assert a_rows["a1"]["template_id"].startswith("builtin:")
        assert "远方物业" not in a_rows["a1"]["body"]

        # Every template names its sender and a way to dispute.
        bare = {**sms, "channel": "email", "body": "{{ room }}请缴费"}
        refused = await http.post("/templates", json=bare, auth=b1)
        problems = " ".join(refused.json()["problems"])
        assert refused.status_code == 422
        assert "sender identity" in problems and "dispute contact" in problems
        written = {**bare, "body": "{{ room }}请缴费。远方物业，电话4009999999"}
        assert (await http.post("/templates", json=written, auth=b1)).status_code == 201
    assert notifier.stop_gracefully()


async def test_rendering_limits_refuse_at_save_without_stalling_the_service(
    dev_issuer,
    create_database,
    services,
    providers,  # type: ignore[no-untyped-def]
) -> None:
    notifier = services("notifier", await create_database("notifier"), **providers.env).start()
    admin = auth(dev_issuer, "a-1", "co-1", [Role.company_admin])
    tail = "{{ company }}{{ contact }}"
    # No nested loop or macro (refused as such), just slow: 1,000 x 5,000 filter calls.
    loops = "{% for i in range(1000) %}{{ (('x' * 5000)|list|map('upper')|join)[:0] }}{% endfor %}"
    cases = {
        "NOTIFIER_TEMPLATE_RENDER_TIMEOUT_S": loops + tail,
        "NOTIFIER_TEMPLATE_MAX_OUTPUT_CHARS": "{% for i in range(1000) %}很长很长的一段话，十二个字{% endfor %}"
        + tail,
        "range: argument 1000000000": "{% for i in range(10**9) %}x{% endfor %}" + tail,
        # Each step within the limits, the whole doubling a text to gigabytes.
        "NOTIFIER_TEMPLATE_RENDER_MEMORY_MB": "{% set a = 'x' * 10000 %}"
        + "{% set a = a ~ a %}" * 20
        + "{{ a[:1] }}"
        + tail,
    }
    async with httpx.AsyncClient(base_url=notifier.url, timeout=60, auth=admin) as http:
        for limit, body in cases.items():
            save = asyncio.create_task(
                http.post(
                    "/templates",
                    json={
                        "message_type": "bill",
                        "channel": "email",
                        "body": body,
                        "created_by": "a-1",
                    },
                )
            )
            # The check runs off the event loop: the service answers meanwhile.
            await asyncio.sleep(0.3)
            started = time.monotonic()
            assert (await http.get("/healthz")).status_code == 200
            assert time.monotonic() - started < 1.0, f"{limit}: the event loop was blocked"
            r = await save
            assert r.status_code == 422, f"{limit}: {r.status_code} {r.text}"
            assert limit in " ".join(r.json()["problems"]), r.text
        assert (await http.get("/templates")).json()["items"] == []
    assert notifier.stop_gracefully()


async def test_staff_dispatch_sends_only_their_communities_as_of_now(
    clock_auth,
    dev_issuer,
    create_database,
    services,
    providers,
    bus,  # type: ignore[no-untyped-def]
) -> None:
    notifier = services("notifier", await create_database("notifier"), **providers.env).start()
    await bus.send(community(), key="c-1")
    await bus.send(other_company(), key="c-9")
    await bus.send(party("p-a", phone="13800000001"), key="p-a")
    p_b = party("p-b", phone="13800000002").model_copy(update={"community_id": "c-9"})
    await bus.send(p_b, key="p-b")
    a1 = auth(dev_issuer, "a-1", "co-1", [Role.company_admin])
    async with httpx.AsyncClient(base_url=notifier.url, timeout=30, auth=clock_auth) as http:
        for p in ("p-a", "p-b"):
            await party_known(http, p)
        await bus.send(reminder("a1", "p-a", "c-1"), key="u-a1")
        await bus.send(reminder("b1", "p-b", "c-9"), key="u-b1")
        before = await wait_for(http, "/notifications", {"status": "queued"}, lambda r: len(r) == 2)
        b_before = next(r for r in before if r["subject_id"] == "b1")

        # A chosen instant is the service role's alone.
        chosen = await http.post(
            "/dispatch", params={"as_of": "2026-03-30T10:00:00+08:00"}, auth=a1
        )
        assert chosen.status_code == 403 and "as_of" in chosen.text
        # As of now: company A's message is decided (sent, or deferred by quiet hours
        # depending on the time of day), company B's is not touched.
        report = (await http.post("/dispatch", auth=a1)).json()
        assert report.get("claimed") == 1, report
        rows = {r["subject_id"]: r for r in (await http.get("/notifications")).json()["items"]}
        assert rows["b1"] == b_before
        assert rows["b1"]["status"] == "queued" and rows["b1"]["attempts"] == 0
        assert rows["a1"]["status"] == "sent" or rows["a1"]["status_reason"] == "quiet hours"
        assert [m["phone"] for m in providers.alibaba.sent] in ([], ["13800000001"])
        # The service role dispatches the deployment's queue.
        report = (
            await http.post("/dispatch", params={"as_of": "2026-03-30T10:00:00+08:00"})
        ).json()
        assert "13800000002" in [m["phone"] for m in providers.alibaba.sent], report
    assert notifier.stop_gracefully()


async def test_a_template_is_previewed_as_the_dispatcher_renders_it(
    dev_issuer,
    create_database,
    services,
    providers,
    bus,  # type: ignore[no-untyped-def]
) -> None:
    """The console's preview: the composer's rendering (``templates.shown``) with sample
    values, an SMS signed and counted, the check's problems beside it; nothing is saved."""
    notifier = services("notifier", await create_database("notifier"), **providers.env).start()
    await bus.send(other_company(), key="c-9")
    b1 = auth(dev_issuer, "b-1", "co-2", [Role.company_admin])
    a1 = auth(dev_issuer, "a-1", "co-1", [Role.company_admin])
    manager = auth(dev_issuer, "b-m", "co-2", [Role.community_manager])
    sms = {"message_type": "reminder", "channel": "sms", "body": B_SMS}
    async with httpx.AsyncClient(base_url=notifier.url, timeout=30) as http:
        shown = await http.post("/templates/preview", json=sms, auth=b1)
        assert shown.status_code == 200, shown.text
        preview = shown.json()
        assert preview["problems"] == [] and preview["sms_segments"] == 1
        assert preview["body"].startswith("【物业服务】12栋3单元2801欠12345.67元")
        assert preview["body"].endswith("远方物业") and "{{" not in preview["body"]
        assert preview["sample"]["room"] == "12栋3单元2801"
        assert preview["subject"] == "示例物业服务有限公司：物业费缴费提醒"

        # A letter: no sign, no segments; a refused wording is previewed with its problems.
        letter = {**sms, "channel": "letter", "body": "{{ room }}请缴费"}
        shown = (await http.post("/templates/preview", json=letter, auth=b1)).json()
        assert shown["body"] == "12栋3单元2801请缴费" and shown["sms_segments"] is None
        assert any("dispute contact" in p for p in shown["problems"])
        # A syntax error: no rendering, the reason.
        broken = {**sms, "body": "{{ room "}
        shown = (await http.post("/templates/preview", json=broken, auth=b1)).json()
        assert shown["body"] is None and shown["problems"][0].startswith("body: syntax error")

        # Company-level staff only; another company's id is 404; nothing was saved.
        assert (await http.post("/templates/preview", json=sms, auth=manager)).status_code == 403
        named = {**sms, "company_id": "co-2"}
        assert (await http.post("/templates/preview", json=named, auth=a1)).status_code == 404
        assert (await http.get("/templates", auth=b1)).json()["items"] == []
    assert notifier.stop_gracefully()
