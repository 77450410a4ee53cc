"""Issue 18 rule 7, the right person is chased: a case is a unit *and* a payer. After a sale,
a handover or a tenant change each party is chased only for its own invoices; the demand, the
limitation restarts and the evidence name that party; the owner jointly liable with a tenant
who pays is added from the policy's ``joint_liability_from_stage`` (real PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import asyncpg
import httpx
import pytest

from dunning.adapters.policies import community_policy_id, save_policy
from dunning.domain.default_policy import DEFAULT_POLICY
from dunning.service_layer.sweep import run_sweep
from propfee.db import migrate_database, service_migrations
from propfee.events import NotificationDelivered
from services.dunning.tests.integration.support import (
    at,
    feed,
    invoice,
    published,
    settled,
)

pytestmark = pytest.mark.integration


def billed(unit: str, due: date, payer: str, liable: list[str] | None = None, **kw: Any):  # type: ignore[no-untyped-def]
    """billing's InvoiceIssued for ``payer`` (and everyone ``liable``, payer first)."""
    return invoice(unit, due, **kw).model_copy(
        update={"payer_party_id": payer, "liable_party_ids": liable or [payer]}
    )


def delivered_to(case_id: str, unit: str, party: str, stage: str, when: str, **kw: Any):  # type: ignore[no-untyped-def]
    return NotificationDelivered(
        notification_id=f"n-{uuid.uuid4().hex[:8]}", community_id=kw.get("community", "c-1"),
        unit_id=unit, party_id=party, channel="sms", message_type="reminder",
        subject_id=case_id, stage=stage, delivered_at=at(when), proof={"status": "DELIVRD"},
    )  # fmt: skip


async def sweep(pool: asyncpg.Pool, when: str):  # type: ignore[no-untyped-def]
    async with pool.acquire() as conn:
        return await run_sweep(conn, at(when))


async def cases_of(pool: asyncpg.Pool, unit: str) -> dict[str, asyncpg.Record]:
    """The open cases of a unit, by payer."""
    rows = await pool.fetch(
        "SELECT * FROM arrears_cases WHERE unit_id = $1 AND status = 'open'", unit
    )
    return {r["payer_party_id"]: r for r in rows}


async def restarted(pool: asyncpg.Pool, source_id: str) -> set[str]:
    rows = await pool.fetch(
        "SELECT invoice_id FROM limitation_restarts WHERE source_id = $1", source_id
    )
    return {r["invoice_id"] for r in rows}


async def test_after_a_sale_seller_and_buyer_are_each_chased_for_their_own_invoices(
    api: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    """Sold on 2026-03-10: January and February (and March, the month of the sale) are the
    seller's, April the buyer's. Each has a case; a demand to the seller lists and restarts
    only the seller's invoices; a signed promise of the buyer restarts only the buyer's; the
    case list, one case and the evidence name that party and their money."""
    jan = billed("1801", date(2026, 1, 31), "p-seller")
    feb = billed("1801", date(2026, 2, 28), "p-seller")
    apr = billed("1801", date(2026, 4, 30), "p-buyer")
    for inv in (jan, feb, apr):
        await feed(pool, inv)
    cases = await cases_of(pool, "1801")
    assert set(cases) == {"p-seller", "p-buyer"}, "one case per unit and payer"
    seller, buyer = cases["p-seller"]["case_id"], cases["p-buyer"]["case_id"]

    result = await sweep(pool, "2026-05-08 10:00")
    assert result.escalated == 2
    events = {e.payer_party_id: e for e in await published(pool)}
    assert events["p-seller"].case_id == seller
    assert events["p-seller"].invoice_ids == [jan.invoice_id, feb.invoice_id]
    assert events["p-seller"].outstanding_fen == 2 * 27_580
    assert events["p-seller"].oldest_due_date == date(2026, 1, 31)
    assert events["p-buyer"].case_id == buyer and events["p-buyer"].invoice_ids == [apr.invoice_id]
    assert events["p-buyer"].outstanding_fen == 27_580
    assert events["p-buyer"].oldest_due_date == date(2026, 4, 30)

    # The seller's demand, delivered: the seller's invoices restart, never the buyer's.
    note = delivered_to(seller, "1801", "p-seller", events["p-seller"].stage, "2026-05-08 11:00")
    await feed(pool, note)
    assert await restarted(pool, note.notification_id) == {jan.invoice_id, feb.invoice_id}

    # Through HTTP: a signed promise of the buyer acknowledges the buyer's debt only.
    r = await api.post(f"/cases/{buyer}/promises", json={
        "amount_fen": 27_580, "promised_date": "2026-05-20", "signed": True,
        "at": "2026-05-08T12:00:00+08:00",
    })  # fmt: skip
    assert r.status_code in (200, 201), r.text
    promise_id = r.json()["promise_id"]
    assert await restarted(pool, promise_id) == {apr.invoice_id}

    listed = (await api.get("/cases", params={"unit_id": "1801", "status": "open"})).json()["items"]
    assert {(c["payer_party_id"], c["outstanding_fen"]) for c in listed} == {
        ("p-seller", 2 * 27_580),
        ("p-buyer", 27_580),
    }
    one = (await api.get(f"/cases/{seller}")).json()
    assert one["payer_party_id"] == "p-seller" and one["outstanding_fen"] == 2 * 27_580
    evidence = (await api.get(f"/cases/{seller}/evidence")).json()
    assert evidence["case"]["payer_party_id"] == "p-seller"
    assert [i["invoice_id"] for i in evidence["invoices"]] == [jan.invoice_id, feb.invoice_id]
    assert [p["notification_id"] for p in evidence["delivery_proof"]] == [note.notification_id]
    assert {e["payer_party_id"] for e in evidence["reminders"]} == {"p-seller"}

    # The seller settles: the seller's case closes, the buyer's stays open.
    await feed(pool, settled(jan, at("2026-05-09 09:00")))
    await feed(pool, settled(feb, at("2026-05-09 09:00")))
    assert set(await cases_of(pool, "1801")) == {"p-buyer"}


async def test_after_a_handover_the_developer_and_the_owner_have_their_own_cases(
    pool: asyncpg.Pool,
) -> None:
    """Handed over in January: the developer pays January, the owner from February. The
    developer settling closes the developer's case only; the owner is chased, by name, for
    February alone (never under the developer's case, nor the developer for it)."""
    developer = billed("1802", date(2026, 1, 31), "p-developer")
    owner = billed("1802", date(2026, 2, 28), "p-owner")
    await feed(pool, developer)
    await feed(pool, owner)
    assert set(await cases_of(pool, "1802")) == {"p-developer", "p-owner"}
    await feed(pool, settled(developer, at("2026-03-01 09:00")))
    cases = await cases_of(pool, "1802")
    assert set(cases) == {"p-owner"}, "the developer paid: the developer's case is closed"
    result = await sweep(pool, "2026-03-08 10:00")
    assert result.escalated == 1
    [event] = await published(pool)
    assert event.payer_party_id == "p-owner" and event.invoice_ids == [owner.invoice_id]
    assert event.case_id == cases["p-owner"]["case_id"]
    assert event.outstanding_fen == 27_580 and event.oldest_due_date == date(2026, 2, 28)


async def _joint_policy(pool: asyncpg.Pool, community: str, stage: str | None) -> None:
    own = DEFAULT_POLICY.model_copy(
        update={"policy_id": community_policy_id(community), "joint_liability_from_stage": stage}
    )
    async with pool.acquire() as conn, conn.transaction():
        await save_policy(conn, own, "co-1")
        await conn.execute(
            "INSERT INTO community_policies (community_id, policy_id) VALUES ($1, $2)",
            community,
            own.policy_id,
        )


async def test_a_defaulting_tenant_s_owner_is_added_from_the_configured_stage(
    pool: asyncpg.Pool,
) -> None:
    """c-9's policy adds the jointly liable owner from ``final_reminder``: the reminder goes
    to the tenant alone; the final reminder and every later stage with messages also to the
    owner (the messages, not the tasks), each a row of its own; the owner's delivery receipt
    restarts the clocks, the tenant's receipt is the tenant's."""
    await _joint_policy(pool, "c-9", "final_reminder")
    jan = billed("1803", date(2026, 1, 31), "p-tenant", ["p-tenant", "p-owner"], community="c-9")
    await feed(pool, jan)
    [case] = (await cases_of(pool, "1803")).values()
    assert case["payer_party_id"] == "p-tenant"

    assert (await sweep(pool, "2026-02-07 10:00")).by_stage == {"reminder": 1}
    assert [(e.stage, e.payer_party_id) for e in await published(pool)] == [
        ("reminder", "p-tenant")
    ], "before the configured stage the tenant alone"

    assert (await sweep(pool, "2026-02-15 10:00")).by_stage == {"final_reminder": 1}
    tenant, owner = (await published(pool))[1:]
    assert (tenant.payer_party_id, tenant.jointly_liable_for) == ("p-tenant", None)
    assert (owner.payer_party_id, owner.jointly_liable_for) == ("p-owner", "p-tenant")
    assert owner.case_id == tenant.case_id == case["case_id"]
    assert owner.stage == "final_reminder" and owner.invoice_ids == [jan.invoice_id]
    assert owner.outstanding_fen == tenant.outstanding_fen == 27_580
    assert owner.days_overdue == tenant.days_overdue == 15
    assert [a.channel for a in owner.actions] == ["sms", "wechat"]

    assert (await sweep(pool, "2026-02-22 10:00")).by_stage == {"phone_call": 1}
    assert [e.payer_party_id for e in (await published(pool))[3:]] == ["p-tenant"], (
        "a stage of tasks only: staff work the case, no copy to the owner"
    )
    assert (await sweep(pool, "2026-03-02 10:00")).by_stage == {"wechat_app": 1}
    assert [e.payer_party_id for e in (await published(pool))[4:]] == ["p-tenant", "p-owner"]
    rows = await pool.fetch(
        "SELECT stage, payer_party_id FROM escalations WHERE case_id = $1 ORDER BY escalation_id",
        case["case_id"],
    )
    assert [(r["stage"], r["payer_party_id"]) for r in rows] == [
        ("reminder", "p-tenant"), ("final_reminder", "p-tenant"),
        ("final_reminder", "p-owner"), ("phone_call", "p-tenant"),
        ("wechat_app", "p-tenant"), ("wechat_app", "p-owner"),
    ]  # fmt: skip

    # The owner's restarts come from the owner's own delivery receipt.
    to_owner = delivered_to(case["case_id"], "1803", "p-owner", "final_reminder",
                            "2026-02-15 11:00", community="c-9")  # fmt: skip
    await feed(pool, to_owner)
    assert await restarted(pool, to_owner.notification_id) == {jan.invoice_id}
    # A receipt of someone liable for none of the case's invoices restarts nothing.
    stranger = delivered_to(case["case_id"], "1803", "p-other", "final_reminder",
                            "2026-02-16 11:00", community="c-9")  # fmt: skip
    await feed(pool, stranger)
    assert await restarted(pool, stranger.notification_id) == set()


async def test_an_owner_sold_during_the_tenancy_answers_for_their_own_months_only(
    pool: asyncpg.Pool,
) -> None:
    """The tenant pays throughout; the flat was sold in February: January's owner is jointly
    liable for January, February's owner for February. Each owner's copy names their own
    invoice and amount; a policy without joint liability addresses the tenant alone."""
    await _joint_policy(pool, "c-9", "reminder")
    jan = billed("1804", date(2026, 1, 31), "p-t", ["p-t", "p-owner-a"], community="c-9")
    feb = billed("1804", date(2026, 2, 28), "p-t", ["p-t", "p-owner-b"], total_fen=30_000,
                 community="c-9")  # fmt: skip
    await feed(pool, jan)
    await feed(pool, feb)
    await feed(pool, billed("1805", date(2026, 1, 31), "p-t2", ["p-t2", "p-o2"]))  # c-1
    assert (await sweep(pool, "2026-03-08 10:00")).escalated == 2
    events = {e.payer_party_id: e for e in await published(pool)}
    assert set(events) == {"p-t", "p-owner-a", "p-owner-b", "p-t2"}, "c-1: no joint liability"
    assert events["p-t"].invoice_ids == [jan.invoice_id, feb.invoice_id]
    assert events["p-t"].outstanding_fen == 57_580
    a, b = events["p-owner-a"], events["p-owner-b"]
    assert (a.invoice_ids, a.outstanding_fen, a.oldest_due_date) == (
        [jan.invoice_id],
        27_580,
        date(2026, 1, 31),
    )
    assert (b.invoice_ids, b.outstanding_fen, b.oldest_due_date) == (
        [feb.invoice_id],
        30_000,
        date(2026, 2, 28),
    )
    assert b.days_overdue == 8 and a.days_overdue == 36
    assert a.jointly_liable_for == b.jointly_liable_for == "p-t"


async def test_migration_0011_splits_a_household_case_holding_several_payers(
    create_database: Any,
) -> None:
    """Before 0011 a unit had one open case whatever the payer: the seller's case (with its
    history) keeps its id and the seller's invoices; the buyer gets a case of their own; a
    case whose payer owes nothing any more (only another payer's bills kept it open) closes."""
    url = await create_database("dunning")
    before = [
        m for m in service_migrations("dunning") if m.namespace != "dunning" or m.version < 11
    ]
    await migrate_database(url, before)
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "INSERT INTO receivables (invoice_id, unit_id, community_id, payer_party_id, "
            "due_date, total_fen, issued, settled) VALUES "
            "('i-1', 'u-1', 'c-1', 'p-seller', '2026-01-31', 100, true, false), "
            "('i-2', 'u-1', 'c-1', 'p-buyer', '2026-04-30', 100, true, false), "
            "('i-3', 'u-2', 'c-1', 'p-old', '2026-01-31', 100, true, true), "
            "('i-4', 'u-2', 'c-1', 'p-new', '2026-04-30', 100, true, false)"
        )
        await conn.execute(
            "INSERT INTO arrears_cases (case_id, unit_id, community_id, payer_party_id, "
            "opened_at, stage, stage_index) VALUES "
            "('case-u1', 'u-1', 'c-1', 'p-seller', '2026-02-01', 'reminder', 1), "
            "('case-u2', 'u-2', 'c-1', 'p-old', '2026-02-01', 'reminder', 1)"
        )
        await migrate_database(url, "dunning")
        rows = await conn.fetch(
            "SELECT case_id, unit_id, payer_party_id, status, stage FROM arrears_cases "
            "ORDER BY unit_id, payer_party_id"
        )
    finally:
        await conn.close()
    got = [(r["unit_id"], r["payer_party_id"], r["status"], r["stage"]) for r in rows]
    assert got == [
        ("u-1", "p-buyer", "open", None),
        ("u-1", "p-seller", "open", "reminder"),
        ("u-2", "p-new", "open", None),
        ("u-2", "p-old", "closed", "reminder"),
    ]
    assert rows[1]["case_id"] == "case-u1" and rows[3]["case_id"] == "case-u2"


async def test_a_manual_advance_also_addresses_the_jointly_liable_owner(
    api: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    """Staff moving a tenant's case by hand (HTTP) into a stage at or after the configured
    one publish the owner's copy too; before it, the tenant alone."""
    await _joint_policy(pool, "c-9", "formal_letter")
    jan = billed("1806", date(2026, 1, 31), "p-tenant6", ["p-tenant6", "p-owner6"],
                 community="c-9")  # fmt: skip
    await feed(pool, jan)
    [case] = (await cases_of(pool, "1806")).values()
    for stage, when in (("friendly_letter", "2026-04-01"), ("formal_letter", "2026-04-20")):
        r = await api.post(f"/cases/{case['case_id']}/advance", json={
            "stage": stage, "reason": "test", "at": f"{when}T10:00:00+08:00"})  # fmt: skip
        assert r.status_code == 200, r.text
    events = [(e.stage, e.payer_party_id, e.jointly_liable_for) for e in await published(pool)]
    assert events == [
        ("friendly_letter", "p-tenant6", None),
        ("formal_letter", "p-tenant6", None),
        ("formal_letter", "p-owner6", "p-tenant6"),
    ]
