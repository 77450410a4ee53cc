"""The staff console's arrears list (欠费, issue 23) over ``GET /cases``: filters by building,
fee item, tier, aging bucket, stage and assignee, in SQL and in the caller's scope; orders
walked a page at a time (keyset); the totals row over every case the filters keep
(``GET /cases/totals``); the XLSX export of exactly those cases (``GET /cases.xlsx``). Another
company's token sees none of them. The aging buckets are ``propfee.aging``'s, the same in
Python and in PostgreSQL."""

from __future__ import annotations

import io
from datetime import date, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from openpyxl import load_workbook

from dunning.service_layer.reads import today
from propfee.aging import BUCKET_LABELS, bucket_of, bucket_sql
from propfee.auth import Role
from propfee.auth.dev import DevIssuer
from propfee.events import InvoiceLine
from services.dunning.tests.integration.conftest import in_process
from services.dunning.tests.integration.support import community, feed, invoice
from tests.support.auth import bearer

pytestmark = pytest.mark.integration

#: unit -> (building, days overdue, fee item, amount)
UNITS = {
    "ar-a1": ("bld-a", 10, "property_fee", 10_000),
    "ar-a2": ("bld-a", 60, "property_fee", 20_000),
    "ar-b1": ("bld-b", 200, "parking", 40_000),
    "ar-b2": ("bld-b", 400, "property_fee", 80_000),
}


async def _setup(pool: asyncpg.Pool) -> None:
    day = today()
    for unit, (building, days, item, fen) in UNITS.items():
        line = InvoiceLine(fee_item=item, description=item, quantity="1", unit_price_fen=fen,
                           amount_fen=fen)  # fmt: skip
        inv = invoice(unit, day - timedelta(days=days), total_fen=fen).model_copy(
            update={"building_id": building, "lines": [line]}
        )
        await feed(pool, inv)
    # Tier, stage and assignee are the sweep's and the managers' (tested elsewhere).
    await pool.execute(
        "UPDATE arrears_cases SET tier = CASE WHEN unit_id LIKE 'ar-b%' THEN 'red' "
        "ELSE 'green' END, stage = CASE WHEN unit_id = 'ar-b2' THEN 'visit' ELSE 'reminder' END, "
        "assigned_to = CASE WHEN unit_id IN ('ar-a2', 'ar-b2') THEN 'hk-1' END"
    )
    # Another company's household, in arrears for as long.
    await feed(pool, community("c-x", "co-2"))
    await feed(pool, invoice("ar-x1", day - timedelta(days=400), community="c-x"))


async def _all(api: httpx.AsyncClient, path: str = "/cases", **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    query: dict[str, Any] = {**params, "limit": 1}
    while True:
        r = await api.get(path, params=query)
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        if not r.json()["next"]:
            return items
        query["cursor"] = r.json()["next"]


def _units(cases: list[dict[str, Any]]) -> list[str]:
    return [c["unit_id"] for c in cases]


async def test_filters_totals_and_export_agree(pool: asyncpg.Pool, api: httpx.AsyncClient) -> None:
    await _setup(pool)
    every = await _all(api, status="open")
    assert sorted(_units(every)) == sorted(UNITS)
    one = next(c for c in every if c["unit_id"] == "ar-b1")
    assert (one["building_id"], one["fee_items"], one["aging_bucket"]) == (
        "bld-b", ["parking"], "181-365",
    )  # fmt: skip
    assert one["days_overdue"] == 200 and one["outstanding_fen"] == 40_000
    assert one["oldest_unpaid_due_date"] == str(today() - timedelta(days=200))

    cases = {
        (("building_id", "bld-a"),): ["ar-a1", "ar-a2"],
        (("fee_item", "parking"),): ["ar-b1"],
        (("aging", "31-90"),): ["ar-a2"],
        (("aging", "365+"),): ["ar-b2"],
        (("tier", "red"),): ["ar-b1", "ar-b2"],
        (("stage", "visit"),): ["ar-b2"],
        (("assigned_to", "hk-1"),): ["ar-a2", "ar-b2"],
        (("building_id", "bld-b"), ("tier", "red"), ("fee_item", "property_fee")): ["ar-b2"],
        (("building_id", "bld-a"), ("tier", "red")): [],
    }
    for filters, units in cases.items():
        params = dict(filters)
        found = await _all(api, **params)
        assert sorted(_units(found)) == units, filters
        # The totals row: every case the filters keep, added up by the service.
        r = await api.get("/cases/totals", params=params)
        assert r.status_code == 200, r.text
        totals = r.json()
        assert totals["cases"] == len(found) == totals["households"]
        assert totals["outstanding_fen"] == sum(c["outstanding_fen"] for c in found)
        assert totals["as_of"] == str(today())
        # The export: exactly those cases, in the list's order.
        r = await api.get("/cases.xlsx", params={**params, "sort": "-outstanding_fen"})
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
        assert 'filename="arrears-' in r.headers["content-disposition"]
        sheet = load_workbook(io.BytesIO(r.content), read_only=True).active
        assert sheet is not None
        header, *rows = list(sheet.iter_rows(values_only=True))
        assert header[:2] == ("case_id", "room_label")
        ordered = await _all(api, **params, sort="-outstanding_fen")
        assert [row[0] for row in rows] == [c["case_id"] for c in ordered], filters
        fen = header.index("outstanding_fen")
        assert [row[fen] for row in rows] == [c["outstanding_fen"] for c in ordered]


async def test_each_order_walks_every_case_once(pool: asyncpg.Pool, api: httpx.AsyncClient) -> None:
    await _setup(pool)
    assert _units(await _all(api, sort="-outstanding_fen")) == ["ar-b2", "ar-b1", "ar-a2", "ar-a1"]
    assert _units(await _all(api, sort="oldest_unpaid_due_date")) == [
        "ar-b2", "ar-b1", "ar-a2", "ar-a1",
    ]  # fmt: skip
    assert sorted(_units(await _all(api, sort="room_label"))) == sorted(UNITS)
    assert sorted(_units(await _all(api))) == sorted(UNITS)
    for bad in ({"sort": "case_id"}, {"aging": "1-2"}, {"tier": "pink"}):
        r = await api.get("/cases", params=bad)
        assert r.status_code == 422, (bad, r.text)


async def test_another_company_sees_none_of_them(pool: asyncpg.Pool, dev_issuer: DevIssuer) -> None:
    await _setup(pool)
    headers = bearer(dev_issuer.mint("hk-2", [Role.housekeeper], "co-2", "*"))
    async with httpx.AsyncClient(
        transport=in_process(pool, dev_issuer), base_url="http://dunning", headers=headers
    ) as other:
        assert _units(await _all(other)) == ["ar-x1"]
        assert _units(await _all(other, building_id="bld-a")) == []
        totals = (await other.get("/cases/totals", params={"aging": "365+"})).json()
        assert (totals["cases"], totals["outstanding_fen"]) == (1, 27_580)
        r = await other.get("/cases/totals", params={"community_id": "c-1"})
        assert r.status_code == 404, r.text
        r = await other.get("/cases.xlsx", params={"community_id": "c-1"})
        assert r.status_code == 404, r.text
        r = await other.get("/cases.xlsx", params={"building_id": "bld-a"})
        assert r.status_code == 200, r.text
        sheet = load_workbook(io.BytesIO(r.content), read_only=True).active
        assert sheet is not None
        assert len(list(sheet.iter_rows(values_only=True))) == 1  # the header only


async def test_the_buckets_are_the_same_in_python_and_in_postgresql(pool: asyncpg.Pool) -> None:
    examples = {
        -1: None, 0: "0-30", 30: "0-30", 31: "31-90", 90: "31-90", 91: "91-180",
        180: "91-180", 181: "181-365", 365: "181-365", 366: "365+", 5000: "365+",
    }  # fmt: skip
    assert set(examples.values()) - {None} == set(BUCKET_LABELS)
    for days, label in examples.items():
        assert bucket_of(days) == label, days
        assert await pool.fetchval(f"SELECT {bucket_sql('$1::integer')}", days) == label, days
    assert await pool.fetchval(f"SELECT {bucket_sql('$1::integer')}", None) is None
    assert date.today()  # the list ages by dunning's today (reads.today)
