"""Setting up billing over its real HTTP API, shared by the end-to-end tests.

The client must carry a staff token (``httpx.AsyncClient(auth=staff_auth)``, the session
fixture in tests/support/fixtures.py): billing refuses requests without one."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx

SCHEDULE_ITEMS = [
    {
        "code": "property_fee",
        "name": "物业服务费",
        "kind": "area",
        "rate_fen": "280",
        "unit_type": "residential",
    },
    {
        "code": "property_fee",
        "name": "物业服务费",
        "kind": "area",
        "rate_fen": "480",
        "unit_type": "shop",
    },
    {"code": "parking", "name": "车位管理费", "kind": "parking", "rate_fen": "30000"},
]


async def setup_community(http: httpx.AsyncClient, billing: str, community_id: str) -> None:
    r = await http.put(
        f"{billing}/communities/{community_id}",
        json={
            "company_id": "co-1",
            "company_name": "示例物业",
            "name": "阳光花园",
            "city": "杭州",
            "late_fee_daily_rate": "0.0001",
            "service_phone": "0571-88886666",
        },
    )
    assert r.status_code == 200, r.text
    # The schedule the community had before it came to Propfee, imported with its original
    # dates (a version published now is recorded today: its 30 days' notice runs from today).
    published = date(2025, 1, 1)
    r = await http.post(
        f"{billing}/communities/{community_id}/fee-schedules/import",
        json={
            "approval_ref": "公司批复〔2025〕1号",
            "versions": [
                {
                    "published_on": str(published),
                    "effective_from": str(published + timedelta(days=30)),
                    "approval_ref": "杭价〔2025〕1号",
                    "pricing_type": "政府指导价",
                    "items": SCHEDULE_ITEMS,
                }
            ],
        },
    )
    assert r.status_code == 201, r.text


async def create_unit(
    http: httpx.AsyncClient, billing: str, community_id: str, room: str, area: str = "98.50"
) -> tuple[str, str]:
    """A unit paid by its owner; returns (unit_id, payer_party_id)."""
    r = await http.post(
        f"{billing}/units",
        json={
            "community_id": community_id,
            "building": "3栋",
            "entrance": "2单元",
            "room": room,
            "floor_area_m2": area,
            "owner": {"name": "张三", "phone": "13812345678"},
        },
    )
    assert r.status_code == 201, r.text
    unit = r.json()
    payer = next(p["party_id"] for p in unit["parties"] if p["pays"])
    return unit["unit_id"], payer


def this_month() -> date:
    """The first day of the current month in the communities' time zone: an invoice for it,
    issued now, is not overdue (no late fee before its due date)."""
    return datetime.now(ZoneInfo("Asia/Shanghai")).date().replace(day=1)


def invoice_body(
    unit_id: str, reference: str | None = None, area: str = "98.50", month: date | None = None
) -> dict[str, object]:
    """A manual invoice for ``month`` (default January 2026, long overdue), issued now (staff
    may not back-date it further than the company's window). ``reference``: the client's own
    identifier, which makes a retry safe (the same reference for the same unit finds the
    invoice); the invoice's id is billing's."""
    start = month or date(2026, 1, 1)
    end = (start.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    body: dict[str, object] = {
        "unit_id": unit_id,
        "period_start": str(start),
        "period_end": str(end),
        "due_date": str(end),
        "lines": [{"fee_item": "property_fee", "quantity": area}],
    }
    if reference:
        body["reference"] = reference
    return body
