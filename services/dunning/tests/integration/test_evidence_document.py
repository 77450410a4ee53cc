"""Issue 18, rule 14: the evidence bundle is a Chinese document a court can read (real
PostgreSQL, through HTTP): a cover with the creditor, the unit, the claim per period with its
late fee (rate, cap, days), totals in figures and in capitals, the limitation state per period;
then the evidence list with what each item proves, numbered as the ZIP's attachments. Local
times, yuan, 是/否, no internal ids, no raw JSON, user text printed literally."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import date
from decimal import Decimal

import pytest

from dunning.service_layer.evidence import gather
from propfee.events import InvoiceBalanceChanged, LateFeeAssessed, LateFeeBasis
from services.dunning.tests.integration.support import at, case_of, delivered, feed, invoice
from services.dunning.tests.integration.support import payment as payment_received
from tests.support.pdf import HOSTILE, inert_text

pytestmark = pytest.mark.integration

UNIT = "unit-3201"
ROOM = "3栋2单元1201室"


def _flat(text: str) -> str:
    return "".join(text.split())  # table cells wrap lines


async def _case_with_everything(api, pool) -> str:  # type: ignore[no-untyped-def]
    january = invoice(UNIT, date(2026, 1, 31), total_fen=123_456, schedule_version="2026版")
    february = invoice(UNIT, date(2026, 2, 28), total_fen=27_580, schedule_version="2026版")
    for inv in (january, february):
        await feed(pool, inv.model_copy(update={"room_label": ROOM}))
    case_id = (await case_of(pool, UNIT))["case_id"]
    assert (
        await api.post("/sweeps", json={"as_of": at("2026-02-08 10:00").isoformat()})
    ).is_success
    await feed(pool, delivered(case_id, UNIT, "reminder", at("2026-02-08 10:01")))
    await feed(pool, payment_received(UNIT, at("2026-03-10 09:30"), amount_fen=23_456))
    basis = LateFeeBasis(
        daily_rate=Decimal("0.0005"),
        annual_cap=Decimal("0.039"),
        starts_on=date(2026, 2, 1),
        through=date(2026, 3, 10),
        fen_days=3_800_000,
        principal_outstanding_fen=100_000,
    )
    await feed(
        pool,
        InvoiceBalanceChanged(
            invoice_id=january.invoice_id,
            community_id="c-1",
            unit_id=UNIT,
            payer_party_id=january.payer_party_id,
            balance_version=2,
            status="partially_paid",
            due_date=january.due_date,
            total_fen=123_456,
            principal_paid_fen=23_456,
            principal_outstanding_fen=100_000,
            late_fee_fen=1_234,
            reason="payment",
            changed_at=at("2026-03-10 09:30"),
            late_fee_basis=basis,
        ),
    )
    assessed = LateFeeAssessed(  # billing's later assessment: the late fee owed grows
        invoice_id=january.invoice_id,
        community_id="c-1",
        unit_id=UNIT,
        payer_party_id=january.payer_party_id,
        as_of=date(2026, 3, 31),
        late_fee_fen=1_734,
        late_fee_paid_fen=0,
        late_fee_waived_fen=0,
        late_fee_outstanding_fen=1_734,
        principal_outstanding_fen=100_000,
        assessed_at=at("2026-04-01 02:00"),
    )
    await feed(pool, assessed)
    letter = {
        "stage": "formal_letter",
        "tracking_no": "EMS9988776655",
        "staff_id": "hk-2",
        "sent_at": at("2026-02-10 10:00").isoformat(),
        "delivered_at": at("2026-02-12 15:20").isoformat(),
        "carrier_status": "妥投",  # delivered with the carrier's status (posted otherwise)
    }
    assert (await api.post(f"/cases/{case_id}/letters", json=letter)).status_code == 201
    promise = {
        "amount_fen": 50_000,
        "promised_date": "2026-03-01",
        "signed": True,
        "staff_id": "hk-2",
        "at": at("2026-02-15 16:00").isoformat(),
    }
    assert (await api.post(f"/cases/{case_id}/promises", json=promise)).status_code == 201
    pause = {
        "reason": "service_complaint",
        "owner": "客服部",
        "note": HOSTILE,
        "starts_at": at("2026-02-16 09:00").isoformat(),
        "ends_at": at("2026-03-16 09:00").isoformat(),
    }
    pause_id = (await api.post(f"/cases/{case_id}/pauses", json=pause)).json()["pause_id"]
    resolved = {"resolution": "已修复漏水，业主认可", "at": at("2026-02-20 11:00").isoformat()}
    assert (await api.post(f"/pauses/{pause_id}/resolve", json=resolved)).is_success
    visit = {
        "kind": "visit",
        "reason_code": "hardship",
        "staff_id": "hk-2",
        "note": "业主称下月缴清",
        "at": at("2026-02-14 19:05").isoformat(),
    }
    assert (await api.post(f"/cases/{case_id}/outcomes", json=visit)).status_code == 201
    return case_id


async def test_the_evidence_pdf_is_a_chinese_document_for_a_court(api, pool) -> None:  # type: ignore[no-untyped-def]
    case_id = await _case_with_everything(api, pool)
    response = await api.get(f"/cases/{case_id}/evidence.pdf")
    assert response.status_code == 200, response.text
    assert case_id not in response.headers["content-disposition"]
    text = _flat(inert_text(response.content))  # no link, no image: user text stays text

    for heading in ("案件摘要", "诉请金额明细", "诉讼时效", "证据目录", "证明目的"):
        assert heading in text
    # The cover: the creditor from billing.community-updated, the room as people write it, what
    # dunning cannot know written as to be completed, the schedule version.
    assert "物业co-1" in text and "小区c-1" in text and ROOM in text
    assert "债务人（待补充" in text and "责任依据（待补充" in text
    assert "2026版" in text
    # The claim per period, in yuan, with the late fee's rate, cap and days, and in capitals.
    assert "2026年1月" in text and "2026年2月" in text
    assert "1,000.00元" in text and "275.80元" in text and "17.34元" in text
    # The days run to the day the late fee owed was accrued to (the newest assessment).
    assert "日费率0.05%，年上限3.9%，自2026年2月1日计至2026年3月31日，共59天" in text
    assert "1,293.14元（人民币壹仟贰佰玖拾叁元壹角肆分）" in text
    assert "进行中" in text  # the limitation state per period, in Chinese
    # Local times (Asia/Shanghai), not UTC; booleans as 是/否.
    assert "2026年2月8日10:01" in text and "2026年2月12日15:20" in text
    assert "2026年2月14日19:05" in text and "11:05" not in text
    assert "债务人是否签字是" in text
    # Each demand with its delivery proof; promise, payment, complaint, contact log listed.
    assert "催缴提醒及送达凭证" in text and "催缴方式短信" in text
    assert "EMS9988776655" in text and "EMS123" in text and "已送达" in text
    assert "缴费承诺" in text and "缴费记录" in text and "已修复漏水，业主认可" in text
    assert "服务投诉" in text and "上门走访" in text and "经济困难业主称下月缴清" in text
    # No internal ids, no English column names, no raw values.
    raw_values = ("case-", "inv-", "unit-", "pay-", "letter-", "False", "True", "None", "_fen")
    for raw in (*raw_values, "[", "{"):
        assert raw not in text, raw
    assert _flat(HOSTILE) in text  # printed as typed


async def test_the_zip_attachments_are_numbered_as_the_evidence_list_cites_them(api, pool) -> None:  # type: ignore[no-untyped-def]
    case_id = await _case_with_everything(api, pool)
    archive = zipfile.ZipFile(io.BytesIO((await api.get(f"/cases/{case_id}/evidence.zip")).content))
    names = archive.namelist()
    listing = list(csv.DictReader(io.StringIO(archive.read("证据目录.csv").decode("utf-8-sig"))))
    assert [row["序号"] for row in listing] == [f"证据{n}" for n in range(1, len(listing) + 1)]
    assert set(names) == {"证据材料.pdf", "证据目录.csv"} | {row["附件"] for row in listing}
    for n, row in enumerate(listing, start=1):
        assert row["附件"].startswith(f"证据{n}-") and row["证明目的"]
    titles = [row["证据名称"] for row in listing]
    assert titles[0].startswith("物业服务费账单")
    kinds = [
        "物业服务费账单",
        "催缴提醒及送达凭证",
        "催缴函",
        "缴费承诺",
        "缴费记录",
        "投诉",
        "联系记录",
    ]
    positions = [next(i for i, t in enumerate(titles) if kind in t) for kind in kinds]
    assert positions == sorted(positions), titles
    # The PDF's list cites the same attachments.
    pdf_text = _flat(inert_text(archive.read("证据材料.pdf")))
    for row in listing:
        assert _flat(row["附件"]) in pdf_text
    bills = list(csv.reader(io.StringIO(archive.read(listing[0]["附件"]).decode("utf-8-sig"))))
    assert bills[0][:3] == ["期间", "缴费期限", "账单金额"]
    assert bills[1][:3] == ["2026年1月", "2026年1月31日", "1,234.56元"]
    every = "".join(archive.read(n).decode("utf-8-sig") for n in names if n.endswith(".csv"))
    for raw in ("case-", "inv-", "unit-", "letter-", "False", "True", "_fen"):
        assert raw not in every, raw
    assert re.search(r"2026年2月8日 10:01", every)


async def test_the_limitation_state_is_read_on_the_local_date(pool) -> None:  # type: ignore[no-untyped-def]
    """The bundle's limitation state per period is ``dunning_limitation_state`` on the policy's
    local date: 2026-12-31 23:00 in Shanghai is still the last day (alert); an hour and a half
    later it is 2027-01-01 there (expired), though still 2026-12-31 in UTC."""
    old = invoice(UNIT, date(2023, 12, 31), total_fen=10_000)
    await feed(pool, old)
    case_id = (await case_of(pool, UNIT))["case_id"]
    async with pool.acquire() as conn:
        expires = await conn.fetchval(
            "SELECT limitation_expires_on FROM receivables WHERE invoice_id = $1", old.invoice_id
        )
        assert expires == date(2026, 12, 31)
        before = await gather(conn, case_id, at("2026-12-31 23:00"))
        after = await gather(conn, case_id, at("2027-01-01 00:30"))
    assert [i["limitation_state"] for i in before["invoices"]] == ["alert"]
    assert [i["limitation_state"] for i in after["invoices"]] == ["expired"]
