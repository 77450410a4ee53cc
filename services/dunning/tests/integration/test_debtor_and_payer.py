"""Issue 18 rules 7 and 14 (real PostgreSQL, through HTTP): the evidence names the debtor and
the basis of their liability from billing's PartyContactsUpdated (the owner; the tenant with
the owner billing names jointly liable; to be completed when the party is unknown), masked in
the JSON bundle for roles that do not see contacts; a case's payments are its payer's: after
a sale the buyer's payment is neither in the seller's evidence nor counted for the seller's
promise (payments seen before the payer was recorded still count for the unit)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import asyncpg
import httpx
import pytest

from dunning.service_layer.sweep import run_sweep
from propfee.auth import Role
from propfee.auth.dev import DevIssuer
from propfee.events import PartyContactsUpdated
from services.dunning.tests.integration.conftest import in_process
from services.dunning.tests.integration.support import at, feed, invoice, payment
from tests.support.auth import bearer
from tests.support.pdf import inert_text

pytestmark = pytest.mark.integration

ADDRESS = "杭州市西湖区幸福路1号3栋2单元1201室"
BASIS_OWNER = "业主（房屋所有权人，《民法典》第九百四十四条）"


def party(party_id: str, kind: str, name: str, when: str = "2026-01-01 09:00", **kw: str):  # type: ignore[no-untyped-def]
    return PartyContactsUpdated(
        party_id=party_id, community_id="c-1", kind=kind, name=name, phone="13812345678",
        email="x@example.com", postal_address=kw.get("address", ADDRESS), updated_at=at(when),
    )  # fmt: skip


def billed(unit: str, due: date, payer: str, liable: list[str] | None = None):  # type: ignore[no-untyped-def]
    return invoice(unit, due).model_copy(
        update={"payer_party_id": payer, "liable_party_ids": liable or [payer]}
    )


async def case_of(pool: asyncpg.Pool, unit: str, payer: str) -> str:
    case_id = await pool.fetchval(
        "SELECT case_id FROM arrears_cases WHERE unit_id = $1 AND payer_party_id = $2 "
        "AND status = 'open'",
        unit,
        payer,
    )
    assert case_id is not None
    return str(case_id)


async def cover(api: httpx.AsyncClient, case_id: str) -> str:
    response = await api.get(f"/cases/{case_id}/evidence.pdf")
    assert response.status_code == 200, response.text
    return "".join(inert_text(response.content).split())


async def test_the_cover_names_the_owner_and_the_basis_of_liability(api, pool) -> None:  # type: ignore[no-untyped-def]
    await feed(pool, party("p-owner", "owner", "张三丰"))
    await feed(pool, party("p-owner", "owner", "旧名字", when="2025-06-01 09:00"))  # older: lost
    await feed(pool, billed("8101", date(2026, 1, 31), "p-owner"))
    text = await cover(api, await case_of(pool, "8101", "p-owner"))
    assert "债务人张三丰（业主），（待补充：身份证号码或统一社会信用代码），联系地址：" in text
    assert ADDRESS in text and "旧名字" not in text
    assert f"责任依据{BASIS_OWNER}" in text
    # Only what the evidence needs is kept: no phone, no e-mail.
    columns = await pool.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'parties'"
    )
    assert {c["column_name"] for c in columns} == {
        "party_id", "community_id", "kind", "name", "postal_address", "updated_at",
    }  # fmt: skip
    assert "13812345678" not in text


async def test_a_tenant_is_named_with_the_owner_jointly_liable(api, pool) -> None:  # type: ignore[no-untyped-def]
    await feed(pool, party("p-tenant", "tenant", "王租户", address="杭州市上城区某路8号"))
    await feed(pool, party("p-landlord", "owner", "李业主"))
    await feed(pool, billed("8102", date(2026, 1, 31), "p-tenant", ["p-tenant", "p-landlord"]))
    text = await cover(api, await case_of(pool, "8102", "p-tenant"))
    assert "债务人王租户（承租人）" in text and "杭州市上城区某路8号" in text
    assert "责任依据承租人（约定由承租人缴纳物业费）；业主李业主（联系地址：" in text
    assert "对欠缴物业服务费承担连带责任" in text


async def test_an_unknown_party_stays_to_be_completed(api, pool) -> None:  # type: ignore[no-untyped-def]
    await feed(pool, party("p-someone-else", "owner", "张三丰"))
    await feed(pool, billed("8103", date(2026, 1, 31), "p-unknown"))
    text = await cover(api, await case_of(pool, "8103", "p-unknown"))
    assert "债务人（待补充：姓名或名称、身份证号码或统一社会信用代码、联系地址）" in text
    assert "责任依据（待补充：业主、承租人或开发建设单位" in text
    assert "张三丰" not in text


async def test_the_json_bundle_masks_the_debtor_for_roles_without_contacts(
    pool: asyncpg.Pool, dev_issuer: DevIssuer
) -> None:
    await feed(pool, party("p-tenant2", "tenant", "王租户"))
    await feed(pool, party("p-landlord2", "owner", "李业主"))
    await feed(pool, billed("8104", date(2026, 1, 31), "p-tenant2", ["p-tenant2", "p-landlord2"]))
    case_id = await case_of(pool, "8104", "p-tenant2")
    transport = in_process(pool, dev_issuer)
    async with httpx.AsyncClient(transport=transport, base_url="http://dunning") as http:
        for role, masked in ((Role.auditor, True), (Role.customer_service, False)):
            headers = bearer(dev_issuer.mint("someone", [role], "co-1", "*"))
            r = await http.get(f"/cases/{case_id}/evidence", headers=headers)
            assert r.status_code == 200, r.text
            bundle = r.json()
            seen = f"{bundle['debtor']} {bundle['jointly_liable']}"
            for personal in ("王租户", "李业主", ADDRESS):
                assert (personal in seen) is not masked, (role, personal)
            assert bundle["debtor"]["kind"] == "tenant"
            assert [p["party_id"] for p in bundle["jointly_liable"]] == ["p-landlord2"]
            if masked:
                assert bundle["debtor"]["name"] == "王**"


async def test_the_buyer_s_payment_is_not_the_seller_s(api, pool) -> None:  # type: ignore[no-untyped-def]
    """After a sale the buyer pays the promised amount on the unit: it is not in the seller's
    evidence and does not keep the seller's promise. A payment seen before the payer was
    recorded (NULL) stays listed for the unit."""
    unit = "8105"
    await feed(pool, billed(unit, date(2026, 1, 31), "p-seller"))
    await feed(pool, billed(unit, date(2026, 2, 28), "p-buyer"))
    seller_case = await case_of(pool, unit, "p-seller")
    promise = {"amount_fen": 27_580, "promised_date": "2026-02-20", "signed": True,
               "staff_id": "hk-1", "at": at("2026-02-09 10:00").isoformat()}  # fmt: skip
    assert (await api.post(f"/cases/{seller_case}/promises", json=promise)).status_code == 201
    buyer_pays = payment(unit, at("2026-02-15 09:00"), 27_580).model_copy(
        update={"payer_party_id": "p-buyer"}
    )
    await feed(pool, buyer_pays)
    assert await pool.fetchval(
        "SELECT payer_party_id FROM payments_seen WHERE payment_id = $1", buyer_pays.payment_id
    ) == "p-buyer"  # fmt: skip
    await pool.execute(
        "INSERT INTO payments_seen (payment_id, unit_id, amount_fen, paid_at) "
        "VALUES ('pay-before-0014', $1, 1000, $2)",
        unit,
        datetime(2026, 1, 5, tzinfo=UTC),
    )
    async with pool.acquire() as conn:
        await run_sweep(conn, at("2026-02-22 10:00"))
    status = await pool.fetchval("SELECT status FROM promises WHERE case_id = $1", seller_case)
    assert status == "broken", "the buyer's money does not keep the seller's promise"

    bundle = (await api.get(f"/cases/{seller_case}/evidence")).json()
    assert [p["payment_id"] for p in bundle["payments"]] == ["pay-before-0014"]
    buyer_case = await case_of(pool, unit, "p-buyer")
    bundle = (await api.get(f"/cases/{buyer_case}/evidence")).json()
    assert {p["payment_id"] for p in bundle["payments"]} == {
        "pay-before-0014", buyer_pays.payment_id,
    }  # fmt: skip


async def test_a_payment_of_the_case_s_payer_still_keeps_the_promise(api, pool) -> None:  # type: ignore[no-untyped-def]
    unit = "8106"
    await feed(pool, billed(unit, date(2026, 1, 31), "p-seller6"))
    await feed(pool, billed(unit, date(2026, 2, 28), "p-buyer6"))
    seller_case = await case_of(pool, unit, "p-seller6")
    promise = {"amount_fen": 27_580, "promised_date": "2026-02-20", "signed": True,
               "staff_id": "hk-1", "at": at("2026-02-09 10:00").isoformat()}  # fmt: skip
    assert (await api.post(f"/cases/{seller_case}/promises", json=promise)).status_code == 201
    seller_pays = payment(unit, at("2026-02-15 09:00"), 27_580).model_copy(
        update={"payer_party_id": "p-seller6"}
    )
    await feed(pool, seller_pays)
    async with pool.acquire() as conn:
        await run_sweep(conn, at("2026-02-22 10:00"))
    status = await pool.fetchval("SELECT status FROM promises WHERE case_id = $1", seller_case)
    assert status == "kept"
