"""Setting up billing over its real HTTP API, shared by the end-to-end tests.

The client must carry a staff token (``httpx.AsyncClient(auth=staff_auth)``, the session
fixture in tests/support/fixtures.py): billing refuses requests without one."""

from __future__ import annotations

from datetime import date, timedelta

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
    published = date(2025, 1, 1)
    r = await http.post(
        f"{billing}/communities/{community_id}/fee-schedules",
        json={
            "published_on": str(published),
            "effective_from": str(published + timedelta(days=30)),
            "approval_ref": "杭价〔2025〕1号",
            "pricing_type": "政府指导价",
            "items": SCHEDULE_ITEMS,
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


def invoice_body(
    unit_id: str, reference: str | None = None, area: str = "98.50"
) -> dict[str, object]:
    """A manual invoice for January 2026, issued now (staff may not back-date it further
    than the company's window). ``reference``: the client's own identifier, which makes a
    retry safe (the same reference for the same unit finds the invoice); the invoice's id is
    billing's."""
    body: dict[str, object] = {
        "unit_id": unit_id,
        "period_start": "2026-01-01",
        "period_end": "2026-01-31",
        "due_date": "2026-01-31",
        "lines": [{"fee_item": "property_fee", "quantity": area}],
    }
    if reference:
        body["reference"] = reference
    return body
