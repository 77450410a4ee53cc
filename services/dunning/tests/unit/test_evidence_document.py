"""The evidence document from a bundle (pure): what dunning does not know is "to be completed",
a posted letter is not shown as delivered, new proof fields are shown, the limitation state is
read in the policy's zone, and file names never carry a folder."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from dunning.adapters.evidence_document import compose
from propfee.claims import late_fee_terms


def bundle(**sections: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "case": {
            "case_id": "case-1",
            "room_label": None,
            "stage": "legal_demand",
            "status": "open",
        },
        "creditor": {},
        "as_of": datetime(2026, 12, 31, 17, 0, tzinfo=UTC),  # 2027-01-01 01:00 in Shanghai
        "invoices": [],
    }
    return base | sections


def text_of(doc: Any) -> str:
    parts = [doc.title, doc.subtitle, *(f"{a}{b}" for a, b in doc.cover)]
    parts += ["".join(r) for r in doc.claim_rows + doc.limitation_rows]
    parts += [f"{a}{b}" for a, b in doc.totals]
    for item in doc.items:
        parts += [item.title, item.purpose, *("".join(r) for r in item.rows)]
    return "".join(parts)


def test_unknown_facts_are_to_be_completed_never_invented() -> None:
    invoice = {
        "invoice_id": "inv-1",
        "due_date": date(2024, 1, 31),
        "total_fen": 10_000,
        "late_fee_outstanding_fen": 500,
        "status": "issued",
        "settled": False,
        "limitation_expires_on": None,
    }
    doc = compose(bundle(invoices=[invoice]))
    cover = dict(doc.cover)
    assert cover["债权人（物业服务人）"].startswith("（待补充")
    assert cover["债务人"].startswith("（待补充") and cover["责任依据"].startswith("（待补充")
    assert cover["房号"] == "（待补充）" and cover["收费标准版本"].startswith("（待补充")
    assert cover["当前催缴阶段"] == "催告函（附履行期限）"
    assert doc.claim_rows == [
        [
            "（待补充）（2024年1月31日到期）",
            "2024年1月31日",
            "100.00元",
            "5.00元",
            "（待补充）",
            "105.00元",
        ],
    ]
    assert doc.limitation_rows[0][-1] == "（待补充）"
    assert cover["诉请金额"] == "105.00元（人民币壹佰零伍元整）"
    assert "inv-1" not in text_of(doc) and "case-1" not in text_of(doc)


def test_posted_letter_is_not_delivered_and_new_proof_fields_are_shown() -> None:
    reminder = {
        "stage": "legal_demand",
        "cycle": "",
        "escalated_at": datetime(2026, 5, 1, 2, 0, tzinfo=UTC),
        "outstanding_fen": 600_000,
        "deadline": date(2026, 5, 16),
        "invoice_ids": ["inv-x"],
        "actions": [{"kind": "message", "channel": "letter"}],
    }
    letter = {
        "letter_id": "letter-9",
        "stage": "legal_demand",
        "carrier": "EMS",
        "tracking_no": "EMS1",
        "sent_at": datetime(2026, 5, 2, 1, 0, tzinfo=UTC),
        "delivered_at": None,
        "status": "posted",
        "carrier_status": "运输中",
    }
    proof = {
        "notification_id": "n-7",
        "outcome": "delivered",
        "channel": "wechat",
        "stage": "legal_demand",
        "at": datetime(2026, 5, 1, 2, 5, tzinfo=UTC),
        "detail": {"receipt_status": "success", "receipt_reference": "WX-42", "final": True},
    }
    doc = compose(bundle(reminders=[reminder], letters=[letter], delivery_proof=[proof]))
    (item,) = doc.items[1:]
    assert item.title == "催告函（附履行期限）及送达凭证（2026年5月1日 10:00）"
    assert "第九百四十四条" in item.purpose
    rows = dict((r[0], r[1]) for r in item.rows if r[0] != "送达凭证")
    assert rows["履行期限"] == "2026年5月16日" and rows["所涉期间"] == "（待补充）"
    assert "尚无妥投或签收记录" in rows["邮寄记录"] and "承运状态：运输中" in rows["邮寄记录"]
    assert "状态：已寄出（尚未确认送达）" in rows["邮寄记录"]
    delivered = next(r[1] for r in item.rows if r[0] == "送达凭证")
    assert delivered == "微信：已送达，2026年5月1日 10:05；回执状态：success；签收回执：WX-42"
    assert "letter-9" not in text_of(doc)


def test_limitation_state_is_shown_as_gathered() -> None:
    """The state comes from the sweep's own rule (``dunning_limitation_state``, run by
    ``service_layer/evidence.gather`` on the local date: tested in PostgreSQL); the document
    names it in Chinese, an expired claim as voluntary-only."""
    expiring = {
        "invoice_id": "inv-2",
        "period_start": date(2023, 12, 1),
        "period_end": date(2023, 12, 31),
        "due_date": date(2023, 12, 31),
        "total_fen": 100,
        "status": "issued",
        "settled": False,
        "limitation_expires_on": date(2026, 12, 31),
        "limitation_last_restart_on": None,
    }
    doc = compose(bundle(invoices=[{**expiring, "limitation_state": "expired"}]))
    assert doc.limitation_rows[0][-1] == "已届满（仅可由债务人自愿履行）"
    doc = compose(bundle(invoices=[{**expiring, "limitation_state": "alert"}]))
    assert doc.limitation_rows[0][-1] == "即将届满（不足6个月）"
    assert doc.claim_rows[0][0] == "2023年12月"


def test_attachment_names_carry_no_folder() -> None:
    reminder = {
        "stage": "a/b",
        "escalated_at": datetime(2026, 5, 1, tzinfo=UTC),
        "actions": [{"kind": "message", "channel": "sms"}],
    }
    doc = compose(bundle(reminders=[reminder]))
    assert doc.attachment(2) == "证据2-a-b及送达凭证.csv"


def test_late_fee_days_stop_at_the_limitation_expiry() -> None:
    basis = {
        "daily_rate": "0.0003",
        "annual_cap": "0.039",
        "starts_on": "2023-02-01",
        "through": "2026-01-10",
        "stops_on": "2026-01-31",
        "fen_days": 1,
        "principal_outstanding_fen": 100,
    }
    assert late_fee_terms(basis, 10, date(2026, 3, 1)) == (
        "日费率0.03%，年上限3.9%，自2023年2月1日计至2026年1月31日，共1096天"
        "（诉讼时效届满，计至2026年1月31日止）"
    )
    assert late_fee_terms(basis, 10).startswith(
        "日费率0.03%，年上限3.9%，自2023年2月1日计至2026年1月10日"
    )
    assert late_fee_terms({"daily_rate": None}, 0) == "合同未约定滞纳金"
    assert late_fee_terms(None, 0) == "无" and late_fee_terms(None, 5) == "（待补充）"


def test_the_basis_of_liability_follows_the_party_s_kind() -> None:
    """Issue 18 rules 7 and 14: the debtor's kind gives the basis of liability; the ID number
    is always to be completed (billing publishes none); others billing names liable on the
    invoices are named jointly liable; a party without a name or address is to be completed."""
    expected = {
        "owner": "业主（房屋所有权人，《民法典》第九百四十四条）",
        "tenant": "承租人（约定由承租人缴纳物业费）",
        "developer": "建设单位（房屋交付业主前）",
        "company": "单位",
    }
    for kind, basis in expected.items():
        cover = dict(compose(bundle(debtor={"kind": kind, "name": "某某"})).cover)
        assert cover["责任依据"] == basis, kind
        assert cover["债务人"].startswith("某某（")
        assert "（待补充：身份证号码或统一社会信用代码）" in cover["债务人"]
        assert "联系地址：（待补充：联系地址）" in cover["债务人"]
    joint = [{"party_id": "p-2", "kind": "owner", "name": None, "postal_address": None}]
    cover = dict(compose(bundle(debtor={"kind": "tenant"}, jointly_liable=joint)).cover)
    assert cover["债务人"].startswith("（待补充：姓名或名称）（承租人）")
    assert cover["责任依据"].startswith(
        "承租人（约定由承租人缴纳物业费）；业主（待补充：姓名或名称）"
    )
    assert "承担连带责任" in cover["责任依据"] and "p-2" not in cover["责任依据"]
