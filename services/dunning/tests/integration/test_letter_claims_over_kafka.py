"""Issue 19, over the real broker: an escalation to a letter stage carries what the letter
claims (ArrearsEscalated.statement: each invoice's period, principal and late fee with its
basis) and what was paid so far (``paid_fen``, after a part payment), from the sweep and from
a manual advance to the legal demand alike (one home: ``adapters/claim_sql.py``)."""

from __future__ import annotations

from datetime import date
from typing import Any

import asyncpg
import httpx
import pytest

from dunning.domain.default_policy import DEFAULT_POLICY
from propfee.auth import Role
from propfee.auth.dev import DevIssuer
from propfee.events import ArrearsEscalated, InvoiceBalanceChanged, LateFeeBasis
from propfee.kafka import make_producer
from services.dunning.tests.integration.support import at, community, invoice
from tests.support.auth import BearerAuth, staff_token
from tests.support.fixtures import wait_until
from tests.support.kafka import publish, read_topic

pytestmark = pytest.mark.integration


def _letter_policy() -> dict[str, Any]:
    """The default ladder cut to a letter a week after the due date and a legal demand moved
    to by hand."""
    document = DEFAULT_POLICY.model_dump(mode="json")
    stages = {s["code"]: s for s in document["stages"]}
    document["stages"] = [
        {**stages["formal_letter"], "offset_days": 7, "min_gap_days": 1, "min_months_overdue": 0},
        {**stages["legal_demand"], "automatic": False, "min_months_overdue": 0},
    ]
    document["monthly_reminder_day"] = None
    return document


async def test_letter_escalations_carry_their_lines_and_the_part_payment(
    create_database: Any,
    services: Any,
    test_prefix: str,
    kafka: str,
    staff_auth: BearerAuth,
    dev_issuer: DevIssuer,
) -> None:
    db = await create_database("dunning")
    dunning = services("dunning", db, sweep_interval_s="0").start()
    october, november, december = (
        invoice("kl", date(2025, 10, 31), total_fen=27_580),
        invoice("kl", date(2025, 11, 30), total_fen=27_580),
        invoice("kl", date(2025, 12, 31), total_fen=31_000),
    )
    # October part paid (100 yuan), with the late fee accrued on the rest and how.
    basis = LateFeeBasis(
        daily_rate="0.0005", annual_cap="0.24", starts_on=date(2025, 11, 1),
        through=date(2026, 1, 9), fen_days=17_580 * 70, principal_outstanding_fen=17_580,
    )  # fmt: skip
    part_paid = InvoiceBalanceChanged(
        invoice_id=october.invoice_id, community_id="c-1", unit_id="kl", payer_party_id="p-kl",
        balance_version=2, status="partially_paid", due_date=october.due_date,
        total_fen=27_580, principal_paid_fen=10_000, principal_outstanding_fen=17_580,
        late_fee_fen=615, reason="payment", changed_at=at("2026-01-09 10:00"),
        late_fee_basis=basis,
    )  # fmt: skip
    cron = BearerAuth(staff_token(dev_issuer, [Role.company_admin, Role.service], subject="sim"))
    producer = make_producer(kafka, client_id="letter-claims-test")
    await producer.start()
    try:
        for event in (community("c-1"), october, november, december, part_paid):
            key = getattr(event, "unit_id", "c-1")
            await publish(producer, test_prefix + event.topic(), event, key=key)
        async with httpx.AsyncClient(base_url=dunning.url, timeout=30, auth=staff_auth) as http:

            async def all_handled() -> bool:
                conn = await asyncpg.connect(db)
                try:
                    return await conn.fetchval("SELECT count(*) FROM inbox") == 5
                finally:
                    await conn.close()

            await wait_until(all_handled, timeout=60)
            saved = await http.put("/policies/c-1", auth=cron, json=_letter_policy())
            assert saved.status_code == 200, saved.text
            swept = await http.post(
                "/sweeps", json={"as_of": at("2026-01-10 10:00").isoformat()}, auth=cron
            )
            assert swept.status_code == 200 and swept.json()["escalated"] == 1, swept.text
            case_id = (await http.get("/cases", params={"unit_id": "kl"})).json()["items"][0][
                "case_id"
            ]
            moved = await http.post(
                f"/cases/{case_id}/advance", auth=cron,
                json={"stage": "legal_demand", "at": at("2026-01-12 10:00").isoformat()},
            )  # fmt: skip
            assert moved.status_code == 200, moved.text
        records = await read_topic(
            kafka, test_prefix + ArrearsEscalated.topic(), at_least=2, settle=1.5
        )
    finally:
        await producer.stop()
    events = {
        e.stage: e for e in (ArrearsEscalated.model_validate_json(r.value or b"") for r in records)
    }
    assert set(events) == {"formal_letter", "legal_demand"}
    for stage, event in events.items():
        lines = event.statement or []
        assert [(x.invoice_id, x.period_start, x.period_end, x.principal_fen) for x in lines] == [
            (october.invoice_id, date(2025, 10, 1), date(2025, 10, 31), 17_580),
            (november.invoice_id, date(2025, 11, 1), date(2025, 11, 30), 27_580),
            (december.invoice_id, date(2025, 12, 1), date(2025, 12, 31), 31_000),
        ], stage
        assert lines[0].late_fee_fen == 615 and lines[0].late_fee_basis == basis, stage
        assert lines[0].late_fee_as_of is not None and lines[0].fee_item == "property"
        assert [x.late_fee_fen for x in lines[1:]] == [0, 0]
        assert event.paid_fen == 10_000, stage
        assert event.outstanding_fen == sum(x.principal_fen + x.late_fee_fen for x in lines)
    assert events["legal_demand"].deadline == date(2026, 1, 27)
    assert dunning.stop_gracefully(), dunning.log_tail()


async def test_an_sms_reminder_carries_what_was_paid_but_no_lines(
    create_database: Any, services: Any, test_prefix: str, kafka: str, dev_issuer: DevIssuer
) -> None:
    """Lines go with printed messages and demands only (the sweep's events stay small)."""
    db = await create_database("dunning")
    dunning = services("dunning", db, sweep_interval_s="0").start()
    owed = invoice("ks", date(2026, 1, 31))
    cron = BearerAuth(staff_token(dev_issuer, [Role.service], company_id="*", subject="cron"))
    producer = make_producer(kafka, client_id="sms-claims-test")
    await producer.start()
    try:
        for event in (community("c-1"), owed):
            key = getattr(event, "unit_id", "c-1")
            await publish(producer, test_prefix + event.topic(), event, key=key)

        async def handled() -> bool:
            conn = await asyncpg.connect(db)
            try:
                return await conn.fetchval("SELECT count(*) FROM inbox") == 2
            finally:
                await conn.close()

        await wait_until(handled, timeout=60)
        async with httpx.AsyncClient(base_url=dunning.url, timeout=30, auth=cron) as http:
            swept = await http.post("/sweeps", json={"as_of": "2026-02-08T10:00:00+08:00"})
            assert swept.json()["escalated"] == 1, swept.text
        records = await read_topic(
            kafka, test_prefix + ArrearsEscalated.topic(), at_least=1, settle=1.0
        )
    finally:
        await producer.stop()
    event = ArrearsEscalated.model_validate_json(records[0].value or b"")
    assert event.stage == "reminder" and event.statement is None and event.paid_fen == 0
    assert dunning.stop_gracefully(), dunning.log_tail()
