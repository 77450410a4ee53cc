"""Pay links (issue 19) over real Kafka and PostgreSQL on a real payments process: the
notifier's PayLinkIssued is kept once; ``GET /p/{token}`` answers what the household owes
that day (unpaid principal plus the late fee accrued to yesterday, computed here
independently), a forged and an unknown token the same 404, an expired link 410; staff revoke
(audited, idempotent) and the link answers 410 revoked; another company's staff can neither
revoke nor list it; an order from the link asks the same total."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest

from propfee.auth import Role
from propfee.events import CommunityUpdated, Event, InvoiceIssued, PayLinkIssued
from propfee.kafka import make_producer
from propfee.pay_links import new_token
from tests.support.auth import BearerAuth
from tests.support.fixtures import wait_until
from tests.support.kafka import publish

pytestmark = pytest.mark.integration
SHANGHAI = ZoneInfo("Asia/Shanghai")
SECRET = "test-pay-link-secret-19"
READ_BURST = 25


def _community(community: str, company: str, name: str) -> CommunityUpdated:
    return CommunityUpdated(
        community_id=community,
        company_id=company,
        company_name=f"{name}物业",
        name=name,
        city="杭州",
        late_fee_daily_rate=Decimal("0.0003"),
        late_fee_annual_cap=Decimal("0.2"),
        updated_at=datetime.now(UTC),
    )


def _invoice(invoice_id: str, community: str, unit: str, **kw: Any) -> InvoiceIssued:
    data: dict[str, Any] = dict(
        invoice_id=invoice_id,
        community_id=community,
        building_id="b-9",
        unit_id=unit,
        payer_party_id="owner-pl",
        lines=[],
        total_fen=27580,
        issued_at=datetime.now(UTC) - timedelta(days=40),
        schedule_version="1",
        room_label="9栋2单元502",
        period_start=date(2026, 1, 1),
        period_end=date(2026, 1, 31),
    )
    data.update(kw)
    return InvoiceIssued(**data)


def _link(token: str, community: str, unit: str, **kw: Any) -> PayLinkIssued:
    now = datetime.now(UTC)
    data: dict[str, Any] = dict(
        token=token,
        community_id=community,
        unit_id=unit,
        party_id="owner-pl",
        occasion="inv:reminder:friendly",
        issued_at=now,
        expires_at=now + timedelta(days=7),
    )
    data.update(kw)
    return PayLinkIssued(**data)


def _late_fee(principal_fen: int, rate: str, days: int) -> int:
    """The fee accrued over ``days`` days, rounded half up to the fen (independent of
    propfee.late_fees)."""
    fee = Decimal(principal_fen) * Decimal(rate) * days
    return int(fee.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _forge(token: str) -> str:
    return token[:-3] + "".join("1" if ch != "1" else "2" for ch in token[-3:])


def _same(r: httpx.Response) -> dict[str, Any]:
    """A problem body but its ``instance`` (the path asked, which differs per token)."""
    body: dict[str, Any] = r.json()
    body.pop("instance", None)
    return body


async def test_pay_links_resolve_to_what_is_owed_today_and_can_be_revoked(  # type: ignore[no-untyped-def]
    services, create_database, kafka, test_prefix, staff_auth, dev_issuer
) -> None:
    tag = uuid.uuid4().hex[:6]
    community, unit, other_unit = f"c-pl{tag}", f"u-pl{tag}", f"u-pl2{tag}"
    foreign_community, foreign_unit = f"c-plx{tag}", f"u-plx{tag}"
    today = datetime.now(SHANGHAI).date()
    interest_from = today - timedelta(days=12)
    db = await create_database("payments")
    proc = services(
        "payments",
        db,
        pay_link_secret=SECRET,
        pay_link_reads_per_client_burst=str(READ_BURST),
        pay_link_reads_per_client_per_hour="1",
    ).start()
    key = SECRET.encode()
    active, expired, spare, foreign = (new_token(key) for _ in range(4))
    events: list[Event] = [
        _community(community, "co-1", "翠苑一区"),
        _community(foreign_community, "co-2", "别家小区"),
        # Overdue: a late fee from interest_from to yesterday at the contract's 0.03% a day.
        _invoice(
            f"inv-late-{tag}",
            community,
            unit,
            due_date=interest_from - timedelta(days=1),
            interest_from=interest_from,
        ),
        # Not yet due: its principal only.
        _invoice(
            f"inv-next-{tag}",
            community,
            unit,
            total_fen=12000,
            due_date=today + timedelta(days=20),
            interest_from=today + timedelta(days=21),
        ),
        _invoice(f"inv-x-{tag}", foreign_community, foreign_unit, due_date=today),
        _link(active, community, unit),
        # Issued with an expiry already past: kept, and expired from the start.
        _link(
            expired,
            community,
            unit,
            issued_at=datetime.now(UTC) - timedelta(days=9),
            expires_at=datetime.now(UTC) - timedelta(days=2),
        ),
        _link(spare, community, unit, occasion="inv:reminder:formal"),
        _link(foreign, foreign_community, foreign_unit),
        # The same token again (a retry of the notifier): changes nothing.
        _link(active, community, unit, occasion="changed", expires_at=datetime.now(UTC)),
        # The same token for another household: refused, the first stays.
        _link(active, community, other_unit, occasion="stolen"),
    ]
    producer = make_producer(kafka, client_id="test-pl")
    await producer.start()
    try:
        for event in events:
            await publish(producer, test_prefix + type(event).topic(), event, key=unit)
    finally:
        await producer.stop()

    conn = await asyncpg.connect(db)

    async def consumed() -> bool:
        links = await conn.fetchval("SELECT count(*) FROM pay_links")
        invoices = await conn.fetchval("SELECT count(*) FROM invoices")
        named = await conn.fetchval("SELECT count(*) FROM communities WHERE name IS NOT NULL")
        return bool(links == 4 and invoices == 3 and named == 2)

    await wait_until(consumed, timeout=90)
    # Every event is handled in order on its partition (one key): the last two are processed.
    await wait_until(
        lambda: _inbox_has(conn, len(events)),
        timeout=60,
    )
    row = await conn.fetchrow("SELECT * FROM pay_links WHERE token = $1", active)
    assert (row["unit_id"], row["occasion"]) == (unit, "inv:reminder:friendly")
    assert row["expires_at"] > datetime.now(UTC) + timedelta(days=6)

    company_b = BearerAuth(dev_issuer.mint("b-admin", [Role.company_admin], "co-2", "*"))
    async with httpx.AsyncClient(base_url=proc.url, timeout=30) as http:
        # What the household owes today: principal plus the fee to yesterday, the total.
        r = await http.get(f"/p/{active}")
        assert r.status_code == 200, r.text
        body = r.json()
        days = (today - interest_from).days  # interest_from .. yesterday
        fee = _late_fee(27580, "0.0003", days)
        assert fee > 0
        lines = {x["invoice_id"]: x for x in body["owed"]["invoices"]}
        assert (
            lines[f"inv-late-{tag}"]["principal_fen"],
            lines[f"inv-late-{tag}"]["late_fee_fen"],
        ) == (27580, fee)
        assert lines[f"inv-late-{tag}"]["amount_fen"] == 27580 + fee
        assert (
            lines[f"inv-next-{tag}"]["late_fee_fen"],
            lines[f"inv-next-{tag}"]["amount_fen"],
        ) == (0, 12000)
        assert body["total_fen"] == body["owed"]["total_fen"] == 27580 + fee + 12000
        assert body["owed"]["as_of"] == str(today)
        assert body["household"] == {"room_label": "9栋2单元502", "community_name": "翠苑一区"}
        assert datetime.fromisoformat(body["expires_at"]) == row["expires_at"]
        assert unit not in r.text and "owner-pl" not in r.text, "no internal id of the household"

        # Forged and unknown: the same 404, whatever the text.
        unknown = await http.get(f"/p/{new_token(key)}")
        forged = await http.get(f"/p/{_forge(active)}")
        assert unknown.status_code == forged.status_code == 404
        # The same problem body but for ``instance``, which echoes the path asked.
        assert _same(unknown) == _same(forged)
        for text in (
            "x",
            "9栋2单元502",
            "🙂" * 9,
            "a" * 5000,
            active + "0",
            active.swapcase(),
            "%00",
        ):
            r = await http.get(f"/p/{text}")
            assert (r.status_code, _same(r)) == (404, _same(unknown)), text
            r = await http.post(f"/p/{text}/orders", json={"channel": "wechat_pay"})
            assert (r.status_code, _same(r)) == (404, _same(unknown)), text

        # Expired at issue: 410 with the expiry.
        r = await http.get(f"/p/{expired}")
        assert r.status_code == 410 and r.json()["state"] == "expired", r.text
        assert datetime.fromisoformat(r.json()["expires_at"]) < datetime.now(UTC)

        # Another company's staff: neither revoke nor list (nothing changes).
        r = await http.post(f"/pay-links/{active}/revoke", json={"reason": "试试"}, auth=company_b)
        assert r.status_code in (403, 404), r.text
        r = await http.get(f"/units/{unit}/pay-links", auth=company_b)
        assert r.status_code in (403, 404), r.text
        assert (await http.get(f"/p/{active}")).status_code == 200
        # Nor does company A reach company B's.
        r = await http.post(
            f"/pay-links/{foreign}/revoke", json={"reason": "试试"}, auth=staff_auth
        )
        assert r.status_code in (403, 404), r.text
        assert (await http.get(f"/p/{foreign}")).status_code == 200

        # Paying from the link asks what the link shows.
        r = await http.post(f"/p/{spare}/orders", json={"channel": "wechat_pay"})
        assert r.status_code == 201, r.text
        assert r.json()["amount_fen"] == 27580 + fee + 12000
        assert sorted(r.json()["invoice_ids"]) == sorted(lines)
        r = await http.post(f"/p/{expired}/orders", json={"channel": "wechat_pay"})
        assert r.status_code == 410, r.text

        # Revoke: a reason is required; audited once; idempotent.
        r = await http.post(f"/pay-links/{active}/revoke", json={"reason": " "}, auth=staff_auth)
        assert r.status_code == 422, r.text
        r = await http.post(
            f"/pay-links/{active}/revoke", json={"reason": "发给了错误的住户"}, auth=staff_auth
        )
        assert r.status_code == 200, r.text
        first = r.json()
        assert first["state"] == "revoked" and first["revoke_reason"] == "发给了错误的住户"
        again = await http.post(
            f"/pay-links/{active}/revoke", json={"reason": "再撤一次"}, auth=staff_auth
        )
        assert again.status_code == 200 and again.json()["revoked_at"] == first["revoked_at"]
        assert again.json()["revoke_reason"] == "发给了错误的住户"
        audited = await conn.fetch(
            "SELECT actor, reason, unit_id FROM audit_log WHERE action = 'pay_link.revoked'"
        )
        assert [(a["reason"], a["unit_id"]) for a in audited] == [("发给了错误的住户", unit)]
        r = await http.get(f"/p/{active}")
        assert r.status_code == 410 and r.json()["state"] == "revoked", r.text
        r = await http.post(f"/p/{active}/orders", json={"channel": "wechat_pay"})
        assert r.status_code == 410, r.text

        # The unit's links for staff, with their states.
        r = await http.get(f"/units/{unit}/pay-links", auth=staff_auth)
        assert r.status_code == 200, r.text
        states = {x["token"]: x["state"] for x in r.json()["items"]}
        assert states == {active: "revoked", expired: "expired", spare: "active"}

        # Opening links is limited per client address (signed tokens; a forged one is
        # refused before any read and keeps answering 404).
        statuses = [(await http.get(f"/p/{spare}")).status_code for _ in range(READ_BURST)]
        assert 429 in statuses and set(statuses) <= {200, 429}, statuses
        limited = await http.get(f"/p/{spare}")
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
        assert (await http.get(f"/p/{_forge(spare)}")).status_code == 404
    await conn.close()


async def _inbox_has(conn: asyncpg.Connection, count: int) -> bool:
    return bool(await conn.fetchval("SELECT count(*) FROM inbox") >= count)
