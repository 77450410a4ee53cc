"""notifier as a case of the security tests: three communities (two of co-1, one of co-2), each
with a party, a sent SMS (with the provider's id), a letter awaiting its tracking number (with
its PDF) and a print batch; one valid request per operation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from notifier.app import create_app
from notifier.settings import NotifierSettings
from propfee.auth import Role
from propfee.auth.dev import DevIssuer
from propfee.events import CommunityUpdated, PartyContactsUpdated
from propfee.settings import ServiceSettings
from tests.security.cases import Example, Ids, SecuredService, World
from tests.support.auth import bearer

AT = datetime(2026, 3, 5, 2, tzinfo=UTC)
CALLBACK_TOKEN = "callback-token-for-security-tests"


def _settings(**kwargs: Any) -> NotifierSettings:
    return NotifierSettings(
        dispatcher_enabled=False,
        print_workers=0,
        receipt_callback_token=CALLBACK_TOKEN,
        **kwargs,
    )


def _app(settings: ServiceSettings) -> FastAPI:
    return create_app(settings)


def _ok(r: object) -> None:
    status = r.status_code  # type: ignore[attr-defined]
    assert status < 300, r.text  # type: ignore[attr-defined]


def _letter(room: str) -> dict[str, Any]:
    return {
        "company": "安居物业", "community": "幸福花园", "contact": "4008123456",
        "recipient_address": "杭州市幸福花园1栋101", "room": room, "amount": "275.80",
        "deadline": "2026年3月20日", "pay_link": "https://pf.cn/p/u-1", "title": "物业费催缴函",
    }  # fmt: skip


def _store(http: TestClient, company: str, community: str, tag: str) -> Ids:
    """The community, a party and two messages as notifier would hold them after billing's
    and dunning's events and a dispatch pass (in the app's loop)."""
    from notifier.adapters.letters_pdf import render_pdf
    from notifier.service_layer import projections

    unit, party = f"u-{community}", f"p-{community}"
    sms, letter = f"n-sms-{community}", f"n-letter-{community}"
    provider_id = f"ali-{community}"
    runtime = http.app.state.runtime  # type: ignore[attr-defined]

    # fmt: off
    async def store() -> None:
        async with runtime.pool.acquire() as conn, conn.transaction():
            await projections.upsert_community(conn, CommunityUpdated(
                community_id=community, company_id=company, company_name=f"物业{company}",
                name=f"小区{tag}", city="杭州", service_phone="4008123456", updated_at=AT))
            await projections.upsert_party(conn, PartyContactsUpdated(
                party_id=party, community_id=community, kind="owner", name="张三",
                phone="13812345678", postal_address="杭州市幸福花园1栋101", updated_at=AT))
            insert = (
                "INSERT INTO notifications (notification_id, dedup_key, community_id, unit_id, "
                "party_id, channel, requested_channel, message_type, subject_id, stage, body, "
                "status, source_event_id, requested_at, sent_at, provider, provider_message_id, "
                "params, document, proof) "
                "VALUES ($1, $1, $2, $3, $4, $5, $5, 'reminder', $6, 'reminder_7d', $7, $8, $9, "
                "$10, $10, $11, $12, $13, $14, $15)"
            )
            await conn.execute(
                insert, sms, community, unit, party, "sms", f"case-{community}",
                "【物业服务】1-1-101物业费275.80元3月20日前缴，询4008123456", "sent",
                uuid.uuid4(), AT, "alibaba", provider_id, {}, None, {"phone": "13812345678"})
            await conn.execute(
                insert, letter, community, unit, party, "letter", f"case-{community}",
                "物业费催缴函", "printing", uuid.uuid4(), AT, "print", None,
                {"letter": _letter("1-1-101")}, render_pdf([_letter("1-1-101")]), None)
            # A second case's letter, for a print job.
            await conn.execute(
                insert, f"n-print-{community}", community, unit, party, "letter",
                f"print-{community}", "物业费催缴函", "printing", uuid.uuid4(), AT, "print", None,
                {"letter": _letter("1-1-101")}, render_pdf([_letter("1-1-101")]), None)
    # fmt: on

    http.portal.call(store)  # type: ignore[union-attr]
    return {
        "community_id": community,
        "unit_id": unit,
        "party_id": party,
        "notification_id": letter,
        "sms_id": sms,
        "provider_message_id": provider_id,
    }


def _print(http: TestClient) -> None:
    """Render every pending print job (the print worker's chunks, in the app's loop)."""
    from notifier.service_layer import print_jobs

    runtime = http.app.state.runtime  # type: ignore[attr-defined]

    async def work() -> None:
        async with runtime.pool.acquire() as conn:
            while await print_jobs.work_chunk(conn):
                pass

    http.portal.call(work)  # type: ignore[union-attr]


def _seed_community(
    http: TestClient, issuer: DevIssuer, company: str, community: str, tag: str
) -> Ids:
    ids = _store(http, company, community, tag)
    clerk = bearer(issuer.mint("seed", [Role.fee_clerk], company, [community]))
    # A print job of the second case's letter, rendered (by the app's loop) to the end.
    r = http.post("/letters/print-jobs", headers=clerk, json={"case_ids": [f"print-{community}"]})
    _ok(r)
    job = r.json()
    assert job["total"] == 1, job
    _print(http)
    r = http.post("/letters/batches", headers=clerk)  # staff: as of now
    _ok(r)
    batch = r.json()
    assert batch["notification_ids"] == [ids["notification_id"]], batch
    # A draft template of the company (saved by "seed"; approved by someone else).
    admin = bearer(issuer.mint("seed", [Role.company_admin], company, "*"))
    r = http.post("/templates", headers=admin, json={
        "message_type": "reminder", "channel": "sms", "body": REMINDER_SMS,
        "created_by": "经理"})  # fmt: skip
    _ok(r)
    return {
        **ids,
        "batch_id": batch["batch_id"],
        "job_id": job["job_id"],
        "template_version_id": r.json()["template_version_id"],
    }


def seed(http: TestClient, issuer: DevIssuer, run: str) -> World:
    return World(
        company_id="co-1",
        mine=_seed_community(http, issuer, "co-1", f"{run}-a", "A"),
        other=_seed_community(http, issuer, "co-1", f"{run}-b", "B"),
        foreign_company_id="co-2",
        foreign=_seed_community(http, issuer, "co-2", f"{run}-x", "X"),
    )


#: One segment with the sample values (a reminder SMS of two is refused at save, issue 19).
REMINDER_SMS = "{{ room }}欠费{{ amount }}元，{{ deadline }}前缴 {{ pay_link }} 询{{ contact }}"
EXAMPLES = {
    "GET /notifications": lambda ids: Example(params={"community_id": ids["community_id"]}),
    "GET /notifications/{notification_id}/document": lambda ids: Example(),
    "POST /dispatch": lambda ids: Example(),  # staff: as of now (an instant: service only)
    "POST /receipts": lambda ids: Example(json={
        "provider": "alibaba", "provider_message_id": ids["provider_message_id"],
        "success": True, "status": "DELIVERED"}),
    "PUT /parties/{party_id}/preferences": lambda ids: Example(json={
        "allowed_channels": ["sms", "letter"], "preferred_channels": ["sms"],
        "do_not_contact": False, "note": "电话里说的", "set_by": "客服小王"}),
    "GET /templates": lambda ids: Example(),
    "POST /templates": lambda ids: Example(json={
        "message_type": "reminder", "channel": "sms", "body": REMINDER_SMS,
        "created_by": "经理", "company_id": "co-1"}),
    "POST /templates/preview": lambda ids: Example(json={
        "message_type": "reminder", "channel": "sms", "body": REMINDER_SMS,
        "company_id": "co-1"}),
    "POST /template-versions/{template_version_id}/approve": lambda ids: Example(
        json={"note": "法务已审"}),
    "POST /letters/batches": lambda ids: Example(),
    "GET /letters/batches/{batch_id}.pdf": lambda ids: Example(),
    "POST /letters/print-jobs": lambda ids: Example(json={
        "case_ids": [f"print-{ids['community_id']}", f"case-{ids['community_id']}"]}),
    "GET /letters/print-jobs/{job_id}": lambda ids: Example(),
    "GET /letters/print-jobs/{job_id}.pdf": lambda ids: Example(),
    "POST /notifications/{notification_id}/tracking": lambda ids: Example(json={
        "tracking_number": f"EMS{ids['community_id']}CN", "carrier": "EMS",
        "delivered_at": (datetime.now(UTC) - timedelta(hours=2)).isoformat()}),
    "POST /notifications/{notification_id}/delivery": lambda ids: Example(json={
        "receipt_reference": f"签收单扫描-{ids['community_id']}.pdf", "signed_by": "张三",
        "delivered_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat()}),
    "GET /parties/{party_id}": lambda ids: Example(),
    "GET /communities/{community_id}/contact-rules": lambda ids: Example(),
    "PUT /communities/{community_id}/contact-rules": lambda ids: Example(json={
        "quiet_start": "21:30", "quiet_end": "08:00", "reminder_cap": 3,
        "cap_window_days": 30, "set_by": "经理"}),
    "GET /audit": lambda ids: Example(params={"community_id": ids["community_id"]}),
}  # fmt: skip

NOTIFIER = SecuredService(
    name="notifier",
    settings=_settings,
    create_app=_app,
    seed=seed,
    examples=EXAMPLES,
    unscoped=frozenset(
        {
            "GET /notifications",
            "POST /dispatch",
            "GET /templates",
            "POST /templates",
            "POST /templates/preview",
            # Company-level (a company admin of every community): no single community.
            "POST /template-versions/{template_version_id}/approve",
            "POST /letters/batches",
            "POST /letters/print-jobs",
            "GET /audit",
        }
    ),
)
