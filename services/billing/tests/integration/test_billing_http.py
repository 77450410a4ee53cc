"""Billing's HTTP API in process (real PostgreSQL and Kafka): statements, plans, receipts,
reports and exports, and refusals with clear messages."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from billing.app import create_app
from billing.service_layer import payments
from billing.settings import BillingSettings
from propfee.auth import Role
from propfee.auth.dev import DevIssuer
from propfee.db import create_pool
from propfee.events import PaymentReceived
from propfee.paging import encode_cursor
from tests.support.auth import bearer, staff_token, trust

pytestmark = pytest.mark.integration

SAMPLE = Path(__file__).resolve().parents[1] / "unit" / "data" / "sample-ledger.csv"
C = "c-http"


@pytest_asyncio.fixture
async def billing_db(create_database) -> str:  # type: ignore[no-untyped-def]
    return await create_database("billing_http")


def _pay(dsn: str, unit_id: str, payment_id: str, fen: int, day: date) -> None:
    async def go() -> None:
        pool = await create_pool(dsn)
        at = datetime(day.year, day.month, day.day, 3, tzinfo=UTC)
        event = PaymentReceived(
            payment_id=payment_id,
            community_id=C,
            unit_id=unit_id,
            payer_party_id="p",
            amount_fen=fen,
            channel="alipay",
            paid_at=at,
            received_at=at,
        )
        async with pool.acquire() as conn, conn.transaction():
            await payments.record_payment(conn, event, None)  # type: ignore[arg-type]
        await pool.close()

    asyncio.run(go())


def _app(billing_db: str, kafka: str, test_prefix: str, dev_issuer: DevIssuer) -> Any:
    settings = BillingSettings(
        database_url=billing_db, kafka_bootstrap_servers=kafka, topic_prefix=test_prefix
    )
    return trust(create_app(settings), dev_issuer)


def _wait_ready(http: TestClient) -> None:
    for _ in range(100):
        if http.get("/readyz").status_code == 200:
            return
        asyncio.run(asyncio.sleep(0.1))


def test_billing_api_end_to_end(
    billing_db: str, kafka: str, test_prefix: str, dev_issuer: DevIssuer
) -> None:
    app = _app(billing_db, kafka, test_prefix, dev_issuer)
    admin = bearer(staff_token(dev_issuer, [Role.company_admin], company_id="co"))
    auditor = bearer(staff_token(dev_issuer, [Role.auditor], company_id="co"))
    # The simulation clock: only the service role acts as of another day than today.
    clock = bearer(staff_token(dev_issuer, [Role.service], company_id="co"))
    with TestClient(app, headers=admin) as http:
        _wait_ready(http)
        r = http.put(
            f"/communities/{C}",
            json={
                "company_id": "co",
                "company_name": "示例物业",
                "name": "阳光花园",
                "city": "杭州",
                "late_fee_daily_rate": "0.0001",
            },
        )
        assert r.status_code == 200, r.text
        # A contract rate above the cap is stored and accrues at the cap (issue 17 rule 1):
        # test_account_http.py proves it through this API.
        bad = http.put(
            f"/communities/{C}",
            json={
                "company_id": "co",
                "name": "x",
                "city": "x",
                "installment_min_parts": 7,
                "installment_max_parts": 6,
            },
        )
        assert bad.status_code == 422 and "installment_min_parts" in bad.text
        schedule = {
            "published_on": "2024-11-01",
            "effective_from": "2024-12-01",
            "approval_ref": "杭价〔2024〕7号",
            "pricing_type": "政府指导价",
            "items": [
                {
                    "code": "property_fee",
                    "name": "物业服务费",
                    "kind": "area",
                    "rate_fen": "250",
                    "unit_type": "residential",
                },
                {
                    "code": "property_fee",
                    "name": "物业服务费",
                    "kind": "area",
                    "rate_fen": "480",
                    "unit_type": "shop",
                },
                {"code": "parking", "name": "车位", "kind": "parking", "rate_fen": "30000"},
            ],
        }
        # Published now, a version is recorded today: a back-dated one is refused even for a
        # company admin; the schedule the community had before Propfee is imported.
        r = http.post(f"/communities/{C}/fee-schedules", json=schedule)
        assert r.status_code == 422 and "not the day of recording" in r.json()["detail"]
        history = {"approval_ref": "公司批复〔2025〕1号", "versions": [schedule]}
        assert http.post(f"/communities/{C}/fee-schedules/import", json=history).status_code == 201
        early = {**schedule, "published_on": None, "effective_from": str(date.today())}
        r = http.post(f"/communities/{C}/fee-schedules", json=early)
        assert r.status_code == 422 and "less than 30 days" in r.json()["detail"]
        assert len(http.get(f"/communities/{C}/fee-schedules").json()["items"]) == 1

        bad_file = SAMPLE.read_bytes().replace(b",143.00,", b",143m2,", 1)
        r = http.post(
            f"/communities/{C}/ledger-imports",
            content=bad_file,
            params={"filename": "l.csv", "opening_as_of": "2025-01-01"},
        )
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "建筑面积"
        # The bad row as uploaded, beside its error (the console shows it): names and phones
        # masked; the good rows are not repeated.
        [rejected] = r.json()["rejected_rows"]
        assert rejected["row"] == 2 and rejected["cells"]["建筑面积"] == "143m2"
        assert (rejected["cells"]["房号"], rejected["cells"]["业主姓名"]) == ("101", "梁*")
        assert rejected["cells"]["业主电话"] == "150****3197"
        r = http.post(
            f"/communities/{C}/ledger-imports",
            content=SAMPLE.read_bytes(),
            params={"filename": "l.csv", "opening_as_of": "2025-01-01"},
        )
        assert r.status_code == 200 and r.json()["units_created"] == 1236
        r = http.post(
            f"/communities/{C}/billing-runs",
            json={"period_start": "2025-01-01", "as_of": "2025-01-01"},
            headers=clock,
        )
        assert r.status_code == 201 and r.json()["invoices"] == 1236
        again = http.post(
            f"/communities/{C}/billing-runs",
            json={"period_start": "2025-01-01", "as_of": "2025-01-01"},
            headers=clock,
        )
        assert again.status_code == 200 and again.json()["created"] is False

        unit_id = _unit_id(http, billing_db)
        unit = http.get(f"/units/{unit_id}", headers=auditor).json()
        assert all("*" in p["name"] for p in unit["parties"] if p["name"])  # masked
        unmasked = http.get(f"/units/{unit_id}").json()  # the admin sees contact data
        assert any(p["name"] and "*" not in p["name"] for p in unmasked["parties"])
        _pay(billing_db, unit["unit_id"], "pay-1", 50000, date(2025, 1, 20))
        st = http.get(f"/units/{unit['unit_id']}/statement", params={"as_of": "2025-02-15"}).json()
        assert st["payments"][0]["receipt_no"].endswith("R2025-0000001")
        assert sum(a["amount_fen"] for a in st["allocations"]) + st["credit_fen"] == 50000
        csv = http.get(f"/units/{unit['unit_id']}/statement", params={"format": "csv"})
        assert csv.content.startswith(b"\xef\xbb\xbfinvoice_id,")
        pdf = http.get("/payments/pay-1/receipt.pdf")
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        assert http.get("/payments/pay-1/receipt").json()["receipt_no"] == "R2025-0000001"
        e = http.post("/payments/pay-1/e-invoice-requests", json={"title": "个人"}).json()
        assert e["status"] == "requested"
        assert (
            http.patch(
                f"/e-invoice-requests/{e['request_id']}", params={"status": "issued"}
            ).json()["status"]
            == "issued"
        )
        trail = http.get("/audit", params={"unit_id": unit["unit_id"]}).json()["items"]
        outcome = next(a for a in trail if a["action"] == "e_invoice.outcome_recorded")
        assert outcome["subject_id"] == e["request_id"]
        assert outcome["before"]["status"] == "requested"
        assert outcome["after"]["status"] == "issued"

        open_ids = [i["invoice_id"] for i in st["invoices"] if i["principal_outstanding_fen"] > 0]
        two = {"invoice_ids": open_ids, "parts": 2, "first_due": "2025-03-31", "reason": "失业"}
        r = http.post(f"/units/{unit['unit_id']}/installment-plans", json=two, headers=clock)
        assert r.status_code == 422 and "range of 3-6" in r.json()["detail"]
        plan = http.post(
            f"/units/{unit['unit_id']}/installment-plans",
            json={
                "invoice_ids": open_ids,
                "parts": 3,
                "first_due": "2025-03-31",
                "reason": "失业",
                "at": "2025-02-15T00:00:00Z",
            },
            headers=clock,
        ).json()
        assert [p["status"] for p in plan["parts"]] == ["due", "due", "due"]
        later = http.get(
            f"/units/{unit['unit_id']}/installment-plans", params={"as_of": "2025-04-10"}
        ).json()["items"][0]
        assert later["missed"] and later["parts"][0]["status"] == "missed"

        _pay(
            billing_db,
            _unit_id(http, billing_db, "1栋/1单元/101"),
            "pay-2",
            40000,
            date(2025, 1, 21),
        )
        aging = http.get(f"/communities/{C}/reports/aging", params={"as_of": "2025-02-15"}).json()
        assert aging["next"] is None
        buckets = ["0-30", "31-90", "91-180", "181-365", "365+"]
        assert [b["bucket"] for b in aging["items"]] == buckets
        assert sum(b["outstanding_fen"] for b in aging["items"]) > 0
        # One household's aging (the room page): its own invoices only, by the same buckets.
        mine = http.get(
            f"/communities/{C}/reports/aging",
            params={"as_of": "2025-02-15", "unit_id": unit["unit_id"]},
        ).json()["items"]
        assert [b["bucket"] for b in mine] == buckets
        assert {b["households"] for b in mine} <= {0, 1}
        owed = sum(b["outstanding_fen"] for b in mine)
        assert 0 < owed < sum(b["outstanding_fen"] for b in aging["items"])
        r = http.get(f"/communities/{C}/reports/aging", params={"unit_id": "no-such-unit"})
        assert r.status_code == 404, r.text
        _walk_reports(http)
        _aging_groups(http, dev_issuer, unit["unit_id"], mine)
        rows = http.get(
            f"/communities/{C}/reports/collection",
            params={
                "start": "2025-01-01",
                "end": "2025-01-31",
                "as_of": "2025-02-15",
                "by": "fee_item",
            },
        ).json()["items"]
        fee = next(r for r in rows if r["key"] == "property_fee")
        assert 0 < fee["collection_rate"] < 1
        xlsx = http.get(
            f"/communities/{C}/reports/collection",
            params={"start": "2025-01-01", "end": "2025-01-31", "by": "building", "format": "xlsx"},
        )
        sheet = load_workbook(io.BytesIO(xlsx.content)).active
        assert sheet is not None and sheet.cell(1, 1).value == "key" and sheet.max_row > 2
        recovery = http.get(
            f"/communities/{C}/reports/recovery", params={"as_of": "2025-02-15"}
        ).json()
        assert recovery["opening_fen"] > 0 and recovery["recovered_fen"] > 0
        # The same row as XLSX (the console's download); another company's token: 404.
        xlsx = http.get(
            f"/communities/{C}/reports/recovery", params={"as_of": "2025-02-15", "format": "xlsx"}
        )
        assert xlsx.status_code == 200 and "recovery.xlsx" in xlsx.headers["content-disposition"]
        sheet = load_workbook(io.BytesIO(xlsx.content)).active
        assert sheet is not None
        header, row = sheet.iter_rows(values_only=True)
        assert dict(zip(header, row, strict=True)) == recovery
        stranger = bearer(staff_token(dev_issuer, [Role.company_admin], company_id="co-other"))
        for fmt in ("json", "xlsx"):
            r = http.get(
                f"/communities/{C}/reports/recovery",
                params={"as_of": "2025-02-15", "format": fmt},
                headers=stranger,
            )
            assert r.status_code == 404, r.text
        on_time = http.get(
            f"/communities/{C}/reports/on-time", params={"start": "2025-01-01", "end": "2025-01-31"}
        ).json()["items"]
        assert on_time[0]["households"] == 1236
        by_building = http.get(
            f"/communities/{C}/reports/on-time",
            params={"start": "2025-01-01", "end": "2025-01-31", "by": "building"},
        ).json()["items"]
        assert sum(r["households"] for r in by_building) == 1236
        assert (
            http.get(
                f"/communities/{C}/reports/on-time",
                params={"start": "2025-01-01", "end": "2025-01-31", "by": "fee_item"},
            ).status_code
            == 422
        )


def _aging_groups(
    http: TestClient, dev_issuer: DevIssuer, unit_id: str, mine: list[dict[str, Any]]
) -> None:
    """Aging by building, fee item and month: every group's five buckets, whose amounts add
    up to the ungrouped report's per bucket, to the fen; paged, downloaded, tenant-scoped.
    And one household's aging for whoever reads the unit (a housekeeper), while the
    community-wide reports stay closed to a housekeeper."""
    day = {"as_of": "2025-02-15"}

    def walk(params: dict[str, Any]) -> list[dict[str, Any]]:
        walked: list[dict[str, Any]] = []
        query = dict(params)
        while True:
            page = http.get(f"/communities/{C}/reports/aging", params=query).json()
            walked += page["items"]
            if not page["next"]:
                return walked
            query["cursor"] = page["next"]

    total = http.get(f"/communities/{C}/reports/aging", params=day).json()["items"]
    labels = [b["bucket"] for b in total]
    for by in ("building", "fee_item", "month"):
        items = walk({**day, "by": by, "limit": 500})
        keys = sorted({r["key"] for r in items})
        assert len(keys) >= 1 and all(k is not None for k in keys)
        # Five buckets per group, in (key, age) order.
        assert [(r["key"], r["bucket"]) for r in items] == [(k, b) for k in keys for b in labels]
        for field in ("outstanding_fen", "property_fen", "utilities_fen"):
            for bucket in labels:
                assert sum(r[field] for r in items if r["bucket"] == bucket) == next(
                    t[field] for t in total if t["bucket"] == bucket
                ), (by, field, bucket)
        # Paged seven rows at a time (a page ends inside a group): the same rows.
        assert walk({**day, "by": by, "limit": 7}) == items
        # The XLSX: the same rows, the key first.
        xlsx = http.get(
            f"/communities/{C}/reports/aging", params={**day, "by": by, "format": "xlsx"}
        )
        assert xlsx.status_code == 200, xlsx.text
        assert f"aging-by-{by}.xlsx" in xlsx.headers["content-disposition"]
        sheet = load_workbook(io.BytesIO(xlsx.content)).active
        assert sheet is not None
        header, *cells = sheet.iter_rows(values_only=True)
        assert header[0] == "key"
        assert [dict(zip(header, row, strict=True)) for row in cells] == items
    assert len({r["key"] for r in walk({**day, "by": "building", "limit": 500})}) > 1
    fee_items = {r["key"] for r in walk({**day, "by": "fee_item", "limit": 500})}
    assert {"opening_arrears", "property_fee"} <= fee_items
    # One collection only: the groups add up to that collection's total.
    only = {**day, "collection": "property"}
    whole = http.get(f"/communities/{C}/reports/aging", params=only).json()["items"]
    split = http.get(f"/communities/{C}/reports/aging", params={**only, "by": "fee_item"}).json()[
        "items"
    ]
    assert sum(r["outstanding_fen"] for r in split) == sum(r["outstanding_fen"] for r in whole)
    # A cursor that is not a (key, bucket) is a 422; a `by` that is not one, too.
    bad = encode_cursor(["x", "7-8"])
    r = http.get(f"/communities/{C}/reports/aging", params={"by": "building", "cursor": bad})
    assert r.status_code == 422, r.text
    r = http.get(f"/communities/{C}/reports/aging", params={"by": "tier"})
    assert r.status_code == 422, r.text
    # Tenant scoping: another company's admin, another community's manager: 404.
    stranger = bearer(staff_token(dev_issuer, [Role.company_admin], company_id="co-other"))
    neighbour = bearer(
        staff_token(dev_issuer, [Role.community_manager], company_id="co", communities=["c-x"])
    )
    for who in (stranger, neighbour):
        for fmt in ("json", "xlsx"):
            r = http.get(
                f"/communities/{C}/reports/aging",
                params={**day, "by": "building", "format": fmt},
                headers=who,
            )
            assert r.status_code == 404, r.text
        r = http.get(f"/units/{unit_id}/aging", params=day, headers=who)
        assert r.status_code == 404, r.text

    # A housekeeper of the community reads one household's aging (the room page)...
    keeper = bearer(staff_token(dev_issuer, [Role.housekeeper], company_id="co", communities=[C]))
    r = http.get(f"/units/{unit_id}/aging", params=day, headers=keeper)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["unit_id"] == unit_id and body["as_of"] == "2025-02-15"
    assert body["buckets"] == mine
    # ... but not the community's reports, grouped or not, nor another unit's by the back door.
    for params in (day, {**day, "by": "building"}, {**day, "unit_id": unit_id}):
        r = http.get(f"/communities/{C}/reports/aging", params=params, headers=keeper)
        assert r.status_code == 403, r.text
    r = http.get(
        f"/communities/{C}/reports/collection",
        params={"start": "2025-01-01", "end": "2025-01-31"},
        headers=keeper,
    )
    assert r.status_code == 403, r.text
    r = http.get("/units/no-such-unit/aging", headers=keeper)
    assert r.status_code == 404, r.text


def _walk_reports(http: TestClient) -> None:
    """The reports answer cursor pages (keyset on the grouping key); a download stays whole."""
    aging: list[dict[str, Any]] = []
    params: dict[str, Any] = {"as_of": "2025-02-15", "limit": 2}
    pages = 0
    while True:
        answer = http.get(f"/communities/{C}/reports/aging", params=params)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        assert len(page["items"]) <= 2
        aging += page["items"]
        pages += 1
        if not page["next"]:
            assert "Link" not in answer.headers
            break
        assert 'rel="next"' in answer.headers["Link"]
        params["cursor"] = page["next"]
    assert pages == 3
    assert [b["bucket"] for b in aging] == ["0-30", "31-90", "91-180", "181-365", "365+"]

    period = {"start": "2025-01-01", "end": "2025-01-31", "by": "building"}
    whole = http.get(f"/communities/{C}/reports/collection", params=period).json()
    assert whole["next"] is None and len(whole["items"]) > 2
    walked: list[dict[str, Any]] = []
    query: dict[str, Any] = {**period, "limit": 2}
    while True:
        page = http.get(f"/communities/{C}/reports/collection", params=query).json()
        walked += page["items"]
        if not page["next"]:
            break
        query["cursor"] = page["next"]
    assert walked == whole["items"]
    keys = [(r["key"], r["collection"]) for r in walked]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    # A download is the whole report whatever the page asked: a header and every row.
    csv_text = http.get(
        f"/communities/{C}/reports/collection", params={**period, "limit": 1, "format": "csv"}
    ).content.decode("utf-8-sig")
    assert len(csv_text.strip().splitlines()) == 1 + len(whole["items"])

    for path, cursor in [
        ("aging", "not-a-cursor!"),
        ("aging", encode_cursor(["1000+"])),  # not a bucket
        ("collection", encode_cursor(["2025-01"])),  # a key of another report
        ("on-time", encode_cursor([1, 2])),
    ]:
        bad = http.get(
            f"/communities/{C}/reports/{path}",
            params={**period, "as_of": "2025-02-15", "cursor": cursor},
        )
        assert bad.status_code == 422, (path, bad.text)
        assert bad.headers["content-type"].startswith("application/problem+json")


def _unit_id(http: TestClient, dsn: str, key: str = "1栋/1单元/301") -> str:
    async def go() -> str:
        pool = await create_pool(dsn)
        value = await pool.fetchval("SELECT unit_id FROM units WHERE unit_key = $1", key)
        await pool.close()
        return str(value)

    return asyncio.run(go())


def test_party_patch_changes_only_the_fields_it_names(
    billing_db: str, kafka: str, test_prefix: str, dev_issuer: DevIssuer
) -> None:
    """Recording a mailing address must not erase the phone number (PATCH is partial), an
    explicit null clears a field, and every change is published to the other services."""
    app = _app(billing_db, kafka, test_prefix, dev_issuer)
    admin = bearer(staff_token(dev_issuer, [Role.company_admin], company_id="co"))
    with TestClient(app, headers=admin) as http:
        _wait_ready(http)
        community = {"company_id": "co", "company_name": "示例物业", "name": "阳光花园",
                     "city": "杭州", "late_fee_daily_rate": "0.0001"}  # fmt: skip
        assert http.put(f"/communities/{C}", json=community).status_code == 200
        created = http.post(
            "/parties",
            json={"community_id": C, "kind": "owner", "name": "梁娟", "phone": "15034773197",
                  "wechat_openid": "oWX1", "allowed_channels": ["sms", "wechat"]},
        )  # fmt: skip
        assert created.status_code == 201, created.text
        party_id = created.json()["party_id"]

        r = http.patch(f"/parties/{party_id}", json={"postal_address": "杭州市示例路1号1栋101室"})
        assert r.status_code == 200, r.text
        party = http.get(f"/parties/{party_id}").json()
        assert party["postal_address"] == "杭州市示例路1号1栋101室"
        assert party["name"] == "梁娟" and party["phone"] == "15034773197"
        assert party["wechat_openid"] == "oWX1"
        assert party["allowed_channels"] == ["sms", "wechat"]

        r = http.patch(f"/parties/{party_id}", json={"wechat_openid": None, "do_not_contact": True})
        assert r.status_code == 200, r.text
        party = http.get(f"/parties/{party_id}").json()
        assert party["wechat_openid"] is None and party["do_not_contact"] is True
        assert party["phone"] == "15034773197"
        assert party["postal_address"] == "杭州市示例路1号1栋101室"

        bad = http.patch(f"/parties/{party_id}", json={"allowed_channels": ["fax"]})
        assert bad.status_code == 422

    async def published() -> list[dict[str, object]]:
        pool = await create_pool(billing_db)
        rows = await pool.fetch(
            "SELECT payload FROM outbox WHERE topic LIKE '%party-contacts-updated' ORDER BY id"
        )
        await pool.close()
        return [dict(json.loads(r["payload"])) for r in rows]

    events = [e for e in asyncio.run(published()) if e.get("party_id") == party_id]
    assert len(events) == 3  # created, address recorded, openid cleared
    assert events[1]["phone"] == "15034773197" and events[1]["postal_address"]
    assert events[2]["wechat_openid"] is None and events[2]["phone"] == "15034773197"


def test_a_person_is_one_party_whatever_the_units(
    billing_db: str, kafka: str, test_prefix: str, dev_issuer: DevIssuer
) -> None:
    """Issue 18 rule 12 over HTTP: the same verified mobile, written another way, is the same
    party (left as it is); the normalised key is never shown."""
    app = _app(billing_db, kafka, test_prefix, dev_issuer)
    admin = bearer(staff_token(dev_issuer, [Role.company_admin], company_id="co"))
    with TestClient(app, headers=admin) as http:
        _wait_ready(http)
        community = {"company_id": "co", "company_name": "示例物业", "name": "阳光花园",
                     "city": "杭州", "late_fee_daily_rate": "0.0001"}  # fmt: skip
        assert http.put(f"/communities/{C}", json=community).status_code == 200
        first = http.post(
            "/parties",
            json={"community_id": C, "kind": "owner", "name": "梁娟", "phone": "150 3477 3197"},
        )
        assert first.status_code == 201, first.text
        again = http.post(
            "/parties",
            json={"community_id": C, "kind": "tenant", "name": "梁 娟", "phone": "+8615034773197"},
        )
        assert again.status_code == 201, again.text
        assert again.json()["party_id"] == first.json()["party_id"]
        assert again.json()["name"] == "梁娟" and "person_key" not in again.json()
        other = http.post(
            "/parties",
            json={"community_id": C, "kind": "owner", "name": "李四", "phone": "0571-87654321"},
        )
        assert other.json()["party_id"] != first.json()["party_id"]
