"""Issue 19 in the notifier process (Kafka, PostgreSQL): dunning's legal demand, with its
statement and a part payment, is dispatched as a letter and batched with a second letter; the
batch PDF, read back with pdftotext, has the demand (催告函) naming the debtor, the room, each
period with its amounts, the totals and the basis, then the other letter on a page of its own,
each page numbered within its letter."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from propfee.claims import yuan
from propfee.events import ArrearsEscalated, EscalationAction
from propfee.events.dunning import ClaimLine
from propfee.money import yuan_in_words
from tests.support import pdf_layout

from .conftest import community, community_known, party, party_known, wait_for

pytestmark = pytest.mark.integration
MORNING = datetime(2026, 3, 30, 2, tzinfo=UTC)  # 10:00 in Shanghai


def _lines(n: int) -> list[ClaimLine]:
    """Months of 2025, each with a late fee."""
    return [
        ClaimLine(
            invoice_id=f"inv-{m}",
            period_start=date(2025, m, 1),
            period_end=date(2025, m + 1, 1) - timedelta(days=1),
            due_date=date(2025, m + 1, 1) - timedelta(days=1),
            principal_fen=30_000 + m,
            late_fee_fen=500 * m,
        )
        for m in range(1, n + 1)
    ]


def _escalation(
    case_id: str, party_id: str, stage: str, lines: list[ClaimLine]
) -> ArrearsEscalated:
    return ArrearsEscalated(
        case_id=case_id, community_id="c-1", unit_id=f"u-{case_id}", payer_party_id=party_id,
        stage=stage, previous_stage="final_letter", tier="red",
        outstanding_fen=sum(x.principal_fen + x.late_fee_fen for x in lines),
        oldest_due_date=lines[0].due_date, days_overdue=400,
        invoice_ids=[x.invoice_id for x in lines], escalated_at=MORNING,
        actions=[EscalationAction(kind="message", channel="letter")], room_label="5-1-302",
        deadline=date(2026, 4, 14) if stage == "legal_demand" else None,
        statement=lines, paid_fen=12_000,
    )  # fmt: skip


async def test_a_batch_prints_the_demand_with_its_statement_then_the_next_letter(
    staff_auth,
    clock_auth,
    create_database,
    services,
    providers,
    bus,  # type: ignore[no-untyped-def]
) -> None:
    db = await create_database("notifier")
    notifier = services("notifier", db, **providers.env).start()
    await bus.send(community(), key="c-1")
    await bus.send(party("p-l", postal_address="杭州市西湖区幸福路1号"), key="p-l")
    await bus.send(party("p-m", postal_address="杭州市西湖区幸福路2号"), key="p-m")
    demand_lines, other_lines = _lines(11), _lines(2)
    async with httpx.AsyncClient(base_url=notifier.url, timeout=30, auth=staff_auth) as http:
        await community_known(http, "c-1")
        for p in ("p-l", "p-m"):
            await party_known(http, p)
        await bus.send(_escalation("cl", "p-l", "legal_demand", demand_lines), key="u-cl")
        await bus.send(_escalation("cm", "p-m", "formal_letter", other_lines), key="u-cm")
        await wait_for(http, "/notifications", {"status": "queued"}, lambda r: len(r) == 2)
        report = (
            await http.post("/dispatch", auth=clock_auth, params={"as_of": MORNING.isoformat()})
        ).json()
        assert report.get("printing") == 2, report
        batch = (await http.post("/letters/batches")).json()
        assert batch["letters"] == 2, batch
        r = await http.get(f"/letters/batches/{batch['batch_id']}.pdf")
        assert r.status_code == 200, r.text
        pdf = r.content
    text = pdf_layout.text(pdf)
    pages = text.split("\f")[:-1]
    demand = [p for p in pages if "催告〔2026〕" in p]
    other = [p for p in pages if "函〔2026〕" in p and "催告〔2026〕" not in p]
    assert len(demand) + len(other) == len(pages) and demand and other
    flat = "".join("".join(demand).split())
    assert "催告函" in flat and "张三（5-1-302）：" in flat
    assert "《中华人民共和国民法典》第九百四十四条" in flat and "自本函送达之日起15日内" in flat
    for line in demand_lines:
        month = line.due_date.month
        row = re.search(rf"^\s*2025年{month}月\s+\S+\s+(\S+)\s+(\S+)\s+(\S+)", text, re.M)
        assert row is not None, line
        assert row.groups() == (
            yuan(line.principal_fen), yuan(line.late_fee_fen),
            yuan(line.principal_fen + line.late_fee_fen),
        )  # fmt: skip
    total = sum(x.principal_fen + x.late_fee_fen for x in demand_lines)
    assert f"应缴合计{yuan(total)}" in flat and yuan_in_words(total) in flat
    assert "您已就上述期间缴纳120.00元" in flat
    for number, page in enumerate(demand, start=1):
        assert f"第{number}页共{len(demand)}页" in "".join(page.split())
    assert "物业费催缴函" in other[0] and "第1页共" in "".join(other[0].split())
    assert pdf_layout.layout_problems(pdf) == [] and pdf_layout.fonts_not_embedded(pdf) == []
