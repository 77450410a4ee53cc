"""Limitation clocks from events, evidence bundles (PDF + ZIP) and KPIs over the real database."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date, datetime

import pytest
from openpyxl import load_workbook

from dunning.adapters.kpi_workbook import XLSX_TYPE
from propfee.auth import Role
from propfee.events import InvoiceBalanceChanged
from services.dunning.tests.integration.support import (
    at,
    case_of,
    delivered,
    feed,
    invoice,
    payment,
    settled,
)
from tests.support.auth import BearerAuth, staff_token
from tests.support.pdf_layout import fonts_not_embedded, text

pytestmark = pytest.mark.integration


def part_paid(inv, when, version: int = 2) -> InvoiceBalanceChanged:  # type: ignore[no-untyped-def]
    return InvoiceBalanceChanged(
        invoice_id=inv.invoice_id, community_id="c-1", unit_id=inv.unit_id,
        payer_party_id=inv.payer_party_id, balance_version=version, status="partially_paid",
        due_date=inv.due_date, total_fen=inv.total_fen, principal_paid_fen=10_000,
        principal_outstanding_fen=inv.total_fen - 10_000, late_fee_fen=0, reason="payment",
        changed_at=when,
    )  # fmt: skip


async def expires(pool, inv) -> date:  # type: ignore[no-untyped-def]
    return await pool.fetchval(
        "SELECT limitation_expires_on FROM receivables WHERE invoice_id = $1", inv.invoice_id
    )


async def test_limitation_clock_examples_from_events_in_any_order(api, pool) -> None:  # type: ignore[no-untyped-def]
    inv = invoice("3001", date(2023, 3, 31), total_fen=600_000)
    await feed(pool, part_paid(inv, at("2025-01-05 10:00")))  # before the invoice itself
    await feed(pool, inv)
    assert await expires(pool, inv) == date(2028, 1, 5)
    case = await case_of(pool, "3001")
    await feed(pool, delivered(case["case_id"], "3001", "reminder", at("2024-05-10 12:00")))
    assert await expires(pool, inv) == date(2028, 1, 5)
    other = invoice("3002", date(2023, 3, 31))
    await feed(pool, other)
    assert await expires(pool, other) == date(2026, 3, 31)
    r = await api.post("/sweeps", json={"as_of": at("2027-08-01 10:00").isoformat()})
    assert r.status_code == 200
    alerts = (await api.get("/tasks", params={"kind": "limitation_alert"})).json()["items"]
    assert [a["due_on"] for a in alerts] == ["2028-01-05"]
    listed = (await api.get("/limitation", params={"as_of": "2027-08-01"})).json()["items"]
    assert {(x["invoice_id"], x["voluntary_only"]) for x in listed} == {
        (other.invoice_id, True), (inv.invoice_id, False),
    }  # fmt: skip
    escalation = (await api.get(f"/cases/{case['case_id']}/escalations")).json()["items"][0]
    assert escalation["invoice_ids"] == [inv.invoice_id], "expired: off the automatic ladder"
    assert escalation["outstanding_fen"] == 590_000


async def test_evidence_bundle_pdf_and_zip(api, pool) -> None:  # type: ignore[no-untyped-def]
    await feed(pool, invoice("3003", date(2026, 1, 31)))
    case_id = (await case_of(pool, "3003"))["case_id"]
    await api.post("/sweeps", json={"as_of": at("2026-02-08 10:00").isoformat()})
    await feed(pool, delivered(case_id, "3003", "reminder", at("2026-02-08 10:01")))
    await api.post(
        f"/cases/{case_id}/outcomes",
        json={"kind": "visit", "reason_code": "hardship", "staff_id": "hk-2"},
    )
    await api.post(
        f"/cases/{case_id}/promises",
        json={"amount_fen": 100, "promised_date": "2026-03-01", "signed": True, "staff_id": "hk-2"},
    )
    letter = {
        "stage": "formal_letter",
        "tracking_no": "EMS9988776655",
        "staff_id": "hk-2",
        "sent_at": at("2026-02-10 10:00").isoformat(),
        "delivered_at": at("2026-02-12 10:00").isoformat(),
        "carrier_status": "妥投",  # delivery proof: a tracking number alone is posted
    }
    assert (await api.post(f"/cases/{case_id}/letters", json=letter)).status_code == 201
    bundle = (await api.get(f"/cases/{case_id}/evidence")).json()
    assert len(bundle["reminders"]) == 1 and len(bundle["calls_and_visits"]) == 1
    assert bundle["letters"][0]["tracking_no"] == "EMS9988776655"
    assert {p["channel"] for p in bundle["delivery_proof"]} == {"letter"}
    assert len(bundle["delivery_proof"]) == 2 and len(bundle["promises"]) == 1
    pdf = await api.get(f"/cases/{case_id}/evidence.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert fonts_not_embedded(pdf.content) == []  # the Chinese font travels with the file
    assert "物业服务费" in text(pdf.content)
    archive = zipfile.ZipFile(io.BytesIO((await api.get(f"/cases/{case_id}/evidence.zip")).content))
    assert {"证据材料.pdf", "证据目录.csv", "证据1-物业服务费账单.csv"} <= set(archive.namelist())
    letters = next(n for n in archive.namelist() if "催缴函" in n)
    rows = list(csv.reader(io.StringIO(archive.read(letters).decode("utf-8-sig"))))
    assert rows[0] == ["项目", "内容"] and "EMS9988776655" in rows[1][1]
    assert (await api.get("/cases/nope/evidence.pdf")).status_code == 404


async def test_kpis_success_cost_complaints_recovery_and_tiers(api, pool, dev_issuer) -> None:  # type: ignore[no-untyped-def]
    paid_later = invoice("3004", date(2026, 1, 31))
    for inv in (paid_later, invoice("3005", date(2026, 1, 31)), invoice("3006", date(2025, 6, 30))):
        await feed(pool, inv)
    await api.post("/sweeps", json={"as_of": at("2026-02-08 10:00").isoformat()})
    case5 = (await case_of(pool, "3005"))["case_id"]
    await api.post(
        f"/cases/{case5}/outcomes",
        json={
            "kind": "call",
            "reason_code": "unhappy_with_service",
            "staff_id": "hk-3",
            "at": at("2026-02-09 18:30").isoformat(),
        },
    )
    await feed(pool, payment("3004", at("2026-02-10 10:00")))
    await feed(pool, settled(paid_later, at("2026-02-10 10:01")))
    body = (
        await api.get(
            "/kpis", params={"start": "2026-02-01", "end": "2026-03-01", "by": "community"}
        )
    ).json()
    row = body["rows"][0]
    assert row["community"] == "c-1" and row["chased"] == 3
    assert row["paid_after_chase"] == 1 and row["success_rate"] == pytest.approx(1 / 3, abs=1e-3)
    assert row["complaints"] == 1
    # reminder by SMS costs 5 fen; the old case got a reminder too (sms).
    assert row["cost_fen"] == 15 and row["cost_per_chase_fen"] == 5
    by_channel = (
        await api.get("/kpis", params={"start": "2026-02-01", "end": "2026-03-01", "by": "channel"})
    ).json()
    assert [r["channel"] for r in by_channel["rows"]] == ["sms"]
    recovery = body["historical_recovery"][0]
    assert recovery["historical_fen"] == 27_580 * 3 and recovery["recovered_fen"] == 27_580
    assert {t["tier"]: t["cases"] for t in body["tier_counts"]} == {"current": 2, "yellow": 1}
    text = (
        await api.get(
            "/kpis.csv", params={"start": "2026-02-01", "end": "2026-03-01", "by": "stage"}
        )
    ).text
    assert text.splitlines()[0].startswith("stage,chased")

    # The XLSX (the console's download) holds the JSON report's figures, sheet by sheet;
    # another company's token gets a workbook with headers only.
    period = {"start": "2026-02-01", "end": "2026-03-01", "by": "community"}
    for route in ("/kpis.xlsx", "/reports/kpis.xlsx"):
        answer = await api.get(route, params=period)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith(XLSX_TYPE)
        assert "dunning-kpis-by-community" in answer.headers["content-disposition"]
        book = load_workbook(io.BytesIO(answer.content))
        assert book.sheetnames == ["kpis", "historical_recovery", "tier_counts"]
        for sheet, part in (
            ("kpis", "rows"),
            ("historical_recovery", "historical_recovery"),
            ("tier_counts", "tier_counts"),
        ):
            assert _sheet_rows(book[sheet]) == [
                {k: _plain(v) for k, v in r.items() if k in _header(book[sheet])}
                for r in body[part]
            ], sheet
    stranger = BearerAuth(staff_token(dev_issuer, [Role.company_admin], company_id="co-other"))
    answer = await api.get("/reports/kpis.xlsx", params=period, auth=stranger)
    assert answer.status_code == 200
    book = load_workbook(io.BytesIO(answer.content))
    assert all(book[s].max_row == 1 for s in book.sheetnames)
    owners = BearerAuth(staff_token(dev_issuer, [Role.owners_committee]))
    assert (await api.get("/kpis.xlsx", params=period, auth=owners)).status_code == 403
    staff = {**period, "by": "staff"}
    assert (await api.get("/reports/kpis.xlsx", params=staff, auth=owners)).status_code == 403


def _header(sheet) -> list[str]:  # type: ignore[no-untyped-def]
    return [c.value for c in next(sheet.iter_rows(max_row=1))]


def _sheet_rows(sheet) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    header = _header(sheet)
    return [
        dict(zip(header, row, strict=True)) for row in sheet.iter_rows(min_row=2, values_only=True)
    ]


def _plain(value: object) -> object:
    """A JSON value as the workbook's cell reads back (dates as datetimes)."""
    if isinstance(value, str) and len(value) == 10 and value[4] == "-" and value[7] == "-":
        return datetime.fromisoformat(value)
    return value
