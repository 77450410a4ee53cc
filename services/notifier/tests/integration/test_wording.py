"""Issue 18 rule 11 through the notifier's HTTP API over real PostgreSQL: a company template
with coercive, shaming or threatening wording is refused (422) in every channel, naming the
phrase found and the channel, evasions included; one without the sender's identity or a
dispute contact is refused; a draft saved before the check (or under a weaker one) is refused
at approval."""

from __future__ import annotations

import asyncpg
import httpx
import pytest

from propfee.auth import Role
from tests.support.auth import BearerAuth, staff_token

from .conftest import community, community_known

pytestmark = pytest.mark.integration

#: Sender and dispute contact, so that only the wording is at fault.
TAIL = "如有异议请致电{{ contact }}。{{ company }}"


async def test_coercive_wording_and_missing_identity_are_refused_with_the_phrase_and_channel(
    dev_issuer,
    create_database,
    services,
    providers,
    bus,  # type: ignore[no-untyped-def]
) -> None:
    database = await create_database("notifier")
    notifier = services("notifier", database, **providers.env).start()
    await bus.send(community(), key="c-1")
    author = BearerAuth(staff_token(dev_issuer, [Role.company_admin], subject="author-1"))
    second = BearerAuth(staff_token(dev_issuer, [Role.company_admin], subject="second-2"))
    refused = {
        "door_notice": ("逾期不缴将断-水断 电。", "断水"),
        "sms": (
            "{{ room }}欠{{ amount }}元{{ deadline }}前缴{{ pay_link }}否则后果自负",
            "否则后果自负",
        ),
        "wechat": ("逾期将在业主群里点名。", "业主群里点名"),
        "app_push": ("您的門禁卡將失效。", "门禁卡将失效"),
        "email": ("欠费业主禁止进入小区。", "禁止进入小区"),
        "letter": ("我司将公示欠费名单，并列入黑名单。", "公示欠费名单"),
    }
    async with httpx.AsyncClient(base_url=notifier.url, timeout=30, auth=author) as http:
        await community_known(http, "c-1")
        for channel, (text, phrase) in refused.items():
            r = await http.post(
                "/templates",
                json={"message_type": "reminder", "channel": channel, "body": text + TAIL},
            )
            assert r.status_code == 422, (channel, r.text)
            problems = r.json()["problems"]
            assert any(f"'{phrase}'" in p and f"in a {channel} template" in p for p in problems), (
                channel,
                problems,
            )
        # Every channel: the sender and a dispute contact, as variables or written out.
        for channel in ("door_notice", "app_push", "letter"):
            bare = {"message_type": "reminder", "channel": channel, "body": "{{ room }}请缴费"}
            r = await http.post("/templates", json=bare)
            problems = " ".join(r.json()["problems"])
            assert r.status_code == 422
            assert f"no sender identity in the {channel} template" in problems
            assert f"no dispute contact in the {channel} template" in problems
        nothing_saved = (await http.get("/templates")).json()["items"]
        assert nothing_saved == []

        lawful = {
            "message_type": "reminder",
            "channel": "letter",
            "body": "依法催告：请于收到本函之日起15日内缴纳{{ amount }}元，逾期仍未缴纳的，我司可能"
            "依法提起诉讼。违约金按合同约定计收。如有困难可申请分期。"
            "如有异议请拨打投诉电话{{ complaint_line }}。{{ company_name }}",
        }
        saved = await http.post("/templates", json=lawful)
        assert saved.status_code == 201, saved.text

        # A draft from before this check (written straight into the table) is refused at
        # approval, not approved into use.
        conn = await asyncpg.connect(database)
        try:
            await conn.execute(
                "INSERT INTO templates (template_version_id, company_id, template_id, version, "
                "message_type, stage, channel, locale, body, provider_codes, created_by, "
                "author, status) VALUES ('tv-old', 'co-1', 'reminder.*.wechat.zh-CN', 1, "
                "'reminder', '*', 'wechat', 'zh-CN', $1, '{}'::jsonb, 'old', 'author-1', "
                "'draft')",
                "逾期将停止供水，后果自负。" + TAIL,
            )
        finally:
            await conn.close()
        r = await http.post("/template-versions/tv-old/approve", auth=second)
        assert r.status_code == 422, r.text
        problems = r.json()["problems"]
        assert any("'停止供水'" in p and "wechat" in p for p in problems), problems
        listed = {
            t["template_version_id"]: t["status"]
            for t in (await http.get("/templates")).json()["items"]
        }
        assert listed["tv-old"] == "draft"
        ok = await http.post(
            f"/template-versions/{saved.json()['template_version_id']}/approve", auth=second
        )
        assert ok.status_code == 200, ok.text
    assert notifier.stop_gracefully()
