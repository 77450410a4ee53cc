"""Billing against the real PostgreSQL: import, schedules, runs, allocation, adjustments."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from billing.errors import InvalidInput
from billing.service_layer import payments
from billing.service_layer.ledger_import import import_ledger
from billing.service_layer.registry import CommunityIn, upsert_community
from billing.service_layer.runs import RunError, RunRequest, run_billing
from billing.service_layer.schedules import publish_schedule
from propfee.events import PaymentReceived, PaymentRefunded

from .conftest import COMMUNITY, ITEMS, setup_community

pytestmark = pytest.mark.integration

SAMPLE = Path(__file__).resolve().parents[1] / "unit" / "data" / "sample-ledger.csv"
OPENING = date(2025, 1, 1)


async def _outbox(pool, topic: str) -> list[dict]:  # type: ignore[no-untyped-def, type-arg]
    rows = await pool.fetch("SELECT payload FROM outbox WHERE topic = $1 ORDER BY id", topic)
    return [json.loads(bytes(r["payload"])) for r in rows]


async def test_import_the_sample_ledger_twice(billing_pool) -> None:  # type: ignore[no-untyped-def]
    await setup_community(billing_pool)
    data = SAMPLE.read_bytes()
    first = await import_ledger(billing_pool, COMMUNITY, data, "台账.csv", opening_as_of=OPENING)
    assert first.imported and first.errors == []
    assert first.units_created == 1236
    counts = dict(
        await billing_pool.fetch("SELECT unit_type, count(*) FROM units GROUP BY unit_type")
    )
    assert counts == {"residential": 1169, "shop": 67}
    assert await billing_pool.fetchval("SELECT count(*) FROM vacancies") == 187
    # Opening arrears: one invoice per unpaid month; e.g. 1栋/1单元/301, 2,210.00 from 2023-12.
    arrears = await billing_pool.fetch(
        "SELECT i.total_fen, i.due_date FROM invoices i JOIN units u USING (unit_id) "
        "WHERE u.unit_key = '1栋/1单元/301' ORDER BY i.due_date"
    )
    assert [a["total_fen"] for a in arrears] == [17000] * 13
    assert arrears[0]["due_date"] == date(2023, 12, 31)
    assert first.arrears_fen == sum(
        r["total_fen"] for r in await billing_pool.fetch("SELECT total_fen FROM invoices")
    )
    issued = await _outbox(billing_pool, "billing.invoice-issued")
    contacts = await _outbox(billing_pool, "billing.party-contacts-updated")
    assert len(issued) == first.arrears_invoices
    assert len(contacts) == first.parties_created
    # The room as people write it (issue 19), never billing's key.
    assert "1栋1单元301" in {e["room_label"] for e in issued}
    assert not any("/" in e["room_label"] for e in issued)

    again = await import_ledger(billing_pool, COMMUNITY, data, "台账.csv", opening_as_of=OPENING)
    assert again.units_created == 0 and again.units_existing == 1236
    assert again.parties_created == 0 and again.arrears_invoices == 0
    assert len(await _outbox(billing_pool, "billing.invoice-issued")) == len(issued)


async def test_a_file_with_errors_imports_nothing_unless_asked(billing_pool) -> None:  # type: ignore[no-untyped-def]
    await setup_community(billing_pool)
    lines = SAMPLE.read_text("utf-8").splitlines()
    bad = [lines[0], lines[1], lines[2].replace(",143.00,", ",-5,"), lines[1], lines[3]]
    data = ("\n".join(bad) + "\n").encode()
    report = await import_ledger(billing_pool, COMMUNITY, data, "bad.csv", opening_as_of=OPENING)
    assert not report.imported
    assert {(e.row, e.column) for e in report.errors} >= {(3, "建筑面积")}
    assert any(e.row == 4 and "duplicate" in e.reason for e in report.errors)
    assert await billing_pool.fetchval("SELECT count(*) FROM units") == 0
    good = await import_ledger(
        billing_pool, COMMUNITY, data, "bad.csv", opening_as_of=OPENING, accept_good_rows=True
    )
    assert good.imported and good.units_created == 2


async def test_monthly_run_is_idempotent_and_bills_by_the_schedule(billing_pool) -> None:  # type: ignore[no-untyped-def]
    await setup_community(billing_pool)
    await import_ledger(
        billing_pool, COMMUNITY, SAMPLE.read_bytes(), "l.csv", opening_as_of=OPENING
    )
    before = await billing_pool.fetchval("SELECT count(*) FROM invoices")
    request = RunRequest(COMMUNITY, date(2025, 1, 1), "monthly", date(2025, 1, 1))
    summary = await run_billing(billing_pool, request, chunk=500)
    assert summary.created and summary.invoices == 1236
    again = await run_billing(billing_pool, request)
    assert not again.created and again.invoices == 1236
    assert await billing_pool.fetchval("SELECT count(*) FROM invoices") == before + 1236
    # 1栋/1单元/301: 68 m² × 2.50 + parking space B346 at 300.00.
    lines = await billing_pool.fetch(
        "SELECT l.fee_item, l.amount_fen FROM invoice_lines l JOIN invoices i USING (invoice_id) "
        "JOIN units u USING (unit_id) WHERE u.unit_key = '1栋/1单元/301' AND i.run_id = $1 "
        "ORDER BY l.line_no",
        summary.run_id,
    )
    assert [(r["fee_item"], r["amount_fen"]) for r in lines] == [
        ("property_fee", 17000),
        ("parking", 30000),
    ]
    events = await _outbox(billing_pool, "billing.invoice-issued")
    assert sum(1 for e in events if e["period_start"] == "2025-01-01") == 1236
    labels = {e["room_label"] for e in events if e["period_start"] == "2025-01-01"}
    assert "1栋1单元301" in labels and not any("/" in label for label in labels)
    assert summary.total_fen == sum(
        e["total_fen"] for e in events if e["period_start"] == "2025-01-01"
    )


async def test_run_refusals(billing_pool) -> None:  # type: ignore[no-untyped-def]
    await setup_community(billing_pool)
    with pytest.raises(RunError, match="more than 12 months ahead"):
        await run_billing(
            billing_pool, RunRequest(COMMUNITY, date(2026, 3, 1), "monthly", date(2025, 1, 1))
        )
    # as_of never moves the cap window into the future: counted from the day of recording.
    with pytest.raises(RunError, match="more than 12 months ahead of 2026-01-15"):
        await run_billing(
            billing_pool,
            RunRequest(COMMUNITY, date(2027, 3, 1), "monthly", date(2027, 3, 1), date(2026, 1, 15)),
        )
    with pytest.raises(RunError, match="past the service contract's end"):
        await run_billing(
            billing_pool, RunRequest(COMMUNITY, date(2027, 7, 1), "yearly", date(2027, 6, 1))
        )
    with pytest.raises(RunError, match="no fee schedule is effective on 2024-11-01"):
        await run_billing(
            billing_pool, RunRequest(COMMUNITY, date(2024, 11, 1), "monthly", date(2024, 11, 1))
        )
    async with billing_pool.acquire() as conn, conn.transaction():
        # The refusal is the 422 problem, with the first day the version may take effect.
        with pytest.raises(InvalidInput, match=r"less than 30 days.*earliest 2025-03-31"):
            await publish_schedule(
                conn,
                COMMUNITY,
                published_on=date(2025, 3, 1),
                effective_from=date(2025, 3, 15),
                approval_ref="x",
                items=ITEMS,
                pricing_type="市场调节价",
            )
    # A contract rate above the cap is stored as written (it accrues at the cap): not refused.
    async with billing_pool.acquire() as conn, conn.transaction():
        await upsert_community(
            conn,
            COMMUNITY,
            CommunityIn(
                company_id="co-1", name="x", city="杭州", late_fee_daily_rate=Decimal("0.0005")
            ),
            datetime.now(UTC),
        )
        rate = await conn.fetchval(
            "SELECT late_fee_daily_rate FROM communities WHERE community_id = $1", COMMUNITY
        )
        assert rate == Decimal("0.0005")


def _payment(
    pid: str, unit: str, fen: int, day: date, invoices: list[str] | None = None
) -> PaymentReceived:
    at = datetime(day.year, day.month, day.day, 2, tzinfo=UTC)
    return PaymentReceived(
        payment_id=pid,
        community_id=COMMUNITY,
        unit_id=unit,
        payer_party_id="x",
        invoice_ids=invoices or [],
        amount_fen=fen,
        channel="wechat_pay",
        paid_at=at,
        received_at=at,
    )


async def _apply(pool, handler, event) -> None:  # type: ignore[no-untyped-def]
    async with pool.acquire() as conn, conn.transaction():
        await handler(conn, event, None)


async def test_payments_refunds_and_credit_keep_every_fen(billing_pool) -> None:  # type: ignore[no-untyped-def]
    await setup_community(billing_pool)
    await import_ledger(
        billing_pool, COMMUNITY, SAMPLE.read_bytes(), "l.csv", opening_as_of=OPENING
    )
    unit = await billing_pool.fetchval("SELECT unit_id FROM units WHERE unit_key = '1栋/1单元/301'")
    # Prepaid before the run: becomes credit, then settles the January invoice when issued.
    await _apply(
        billing_pool, payments.record_payment, _payment("p-pre", unit, 300000, date(2024, 12, 20))
    )
    arrears = await billing_pool.fetchval(
        "SELECT count(*) FROM invoices WHERE unit_id = $1 AND status = 'paid'", unit
    )
    assert arrears == 13  # the opening arrears (221,000 fen) were due: paid first, with late fees
    credit = await billing_pool.fetchval(
        "SELECT sum(credit_fen) FROM account_credits WHERE unit_id = $1", unit
    )
    late_fees = await billing_pool.fetchval(
        "SELECT sum(late_fee_paid_fen) FROM invoices WHERE unit_id = $1", unit
    )
    assert credit == 300000 - 221000 - late_fees
    await run_billing(
        billing_pool, RunRequest(COMMUNITY, date(2025, 1, 1), "monthly", date(2025, 1, 1))
    )
    jan = await billing_pool.fetchrow(
        "SELECT invoice_id, status, total_fen FROM invoices WHERE unit_id = $1 AND kind = 'regular'",
        unit,
    )
    assert jan["total_fen"] == 47000
    assert jan["status"] == ("paid" if credit >= 47000 else "partially_paid")
    # A refund of the prepayment reverses allocations: nothing paid is left where it was.
    await _apply(
        billing_pool,
        payments.record_refund,
        PaymentRefunded(
            refund_id="r-1",
            payment_id="p-pre",
            community_id=COMMUNITY,
            unit_id=unit,
            payer_party_id="x",
            amount_fen=300000,
            reason="paid twice",
            refunded_at=datetime(2025, 1, 5, tzinfo=UTC),
        ),
    )
    assert (
        await billing_pool.fetchval(
            "SELECT count(*) FROM invoices WHERE unit_id = $1 AND status = 'paid'", unit
        )
        == 0
    )
    # Invariant for every unit: payments - refunds = allocated + credit.
    rows = await billing_pool.fetch(
        """
        SELECT u.unit_id,
               coalesce((SELECT sum(amount_fen) FROM payments_received p WHERE p.unit_id = u.unit_id), 0)
             - coalesce((SELECT sum(amount_fen) FROM refunds_received r WHERE r.unit_id = u.unit_id), 0)
               AS paid_in,
               coalesce((SELECT sum(amount_fen) FROM allocations a WHERE a.unit_id = u.unit_id), 0)
             + coalesce((SELECT sum(credit_fen) FROM account_credits c WHERE c.unit_id = u.unit_id), 0)
               AS accounted
          FROM units u
        """
    )
    assert all(r["paid_in"] == r["accounted"] for r in rows)
    balance_events = await _outbox(billing_pool, "billing.invoice-balance-changed")
    assert {e["reason"] for e in balance_events} >= {"payment", "credit", "refund"}
    assert len(await _outbox(billing_pool, "billing.invoice-settled")) >= 13
    receipts = await billing_pool.fetch("SELECT receipt_no FROM receipts")
    assert [r["receipt_no"] for r in receipts] == [f"{COMMUNITY}/R2024-0000001"]


async def test_void_waiver_and_write_off(billing_pool) -> None:  # type: ignore[no-untyped-def]
    await setup_community(billing_pool)
    await import_ledger(
        billing_pool, COMMUNITY, SAMPLE.read_bytes(), "l.csv", opening_as_of=OPENING
    )
    unit = await billing_pool.fetchval("SELECT unit_id FROM units WHERE unit_key = '1栋/1单元/301'")
    invoices = [
        r["invoice_id"]
        for r in await billing_pool.fetch(
            "SELECT invoice_id FROM invoices WHERE unit_id = $1 ORDER BY due_date", unit
        )
    ]
    await _apply(
        billing_pool,
        payments.record_payment,
        _payment("p1", unit, 17000, date(2025, 1, 10), [invoices[0]]),
    )
    at = datetime(2025, 1, 11, tzinfo=UTC)
    async with billing_pool.acquire() as conn, conn.transaction():
        fee = await conn.fetchval(
            "SELECT late_fee_fixed_fen FROM invoices WHERE invoice_id = $1", invoices[0]
        )
        assert fee > 0
        await payments.waive_late_fee(conn, invoices[0], fee, "hardship", "manager-li", at)
        note = await payments.void_invoice(conn, invoices[1], "duplicate month", at)
        await payments.write_off(conn, invoices[2], "uncollectable", "cfo-wang", at)
    assert note == "CN2025-0000001"
    statuses = [
        r["status"]
        for r in await billing_pool.fetch(
            "SELECT status FROM invoices WHERE invoice_id = ANY($1) ORDER BY due_date", invoices[:3]
        )
    ]
    assert statuses == ["paid", "void", "written_off"]
    async with billing_pool.acquire() as conn, conn.transaction():
        with pytest.raises(payments.InvoiceStateError):
            await payments.void_invoice(conn, invoices[1], "again", at)
    reasons = [e["reason"] for e in await _outbox(billing_pool, "billing.invoice-balance-changed")]
    assert {"waiver", "void", "write_off"} <= set(reasons)


async def _account_picture(pool, unit: str):  # type: ignore[no-untyped-def]
    """The unit's account with invoices named by what they bill (ids are random per
    database: each database gave the unit its own)."""
    allocations = await pool.fetch(
        "SELECT a.payment_id, i.kind, i.period_start, a.component, a.amount_fen, a.at "
        "FROM allocations a JOIN invoices i USING (invoice_id) WHERE a.unit_id = $1 "
        "ORDER BY a.seq",
        unit,
    )
    invoices = await pool.fetch(
        "SELECT kind, period_start, status, principal_paid_fen, late_fee_paid_fen "
        "FROM invoices WHERE unit_id = $1 ORDER BY kind, period_start",
        unit,
    )
    credit = await pool.fetchval(
        "SELECT coalesce(sum(credit_fen), 0) FROM account_credits WHERE unit_id = $1", unit
    )
    return [tuple(r) for r in allocations], [tuple(r) for r in invoices], credit


async def test_any_arrival_order_gives_the_same_account(create_database) -> None:  # type: ignore[no-untyped-def]
    """Payments and refunds that arrive before the invoices they pay, or before their own
    payment, end in exactly the account that in-order arrival gives."""
    from propfee.db import create_pool, migrate_database

    head = "\n".join(SAMPLE.read_text("utf-8").splitlines()[:60]).encode()
    pools = []
    units = []
    for name in ("in_order", "reversed"):
        dsn = await create_database(name)
        await migrate_database(dsn, "billing")
        pool = await create_pool(dsn)
        await setup_community(pool)
        await import_ledger(pool, COMMUNITY, head, "l.csv", opening_as_of=OPENING)
        pools.append(pool)
        units.append(
            await pool.fetchval("SELECT unit_id FROM units WHERE unit_key = '1栋/1单元/301'")
        )
    feb = RunRequest(COMMUNITY, date(2025, 2, 1), "monthly", date(2025, 2, 1))
    mar = RunRequest(COMMUNITY, date(2025, 3, 1), "monthly", date(2025, 3, 1))

    def events(unit: str) -> tuple[PaymentReceived, PaymentReceived, PaymentRefunded]:
        refund = PaymentRefunded(
            refund_id="r1",
            payment_id="p2",
            community_id=COMMUNITY,
            unit_id=unit,
            payer_party_id="x",
            amount_fen=20000,
            reason="overpaid",
            refunded_at=datetime(2025, 3, 6, tzinfo=UTC),
        )
        return (
            _payment("p1", unit, 250000, date(2025, 2, 10)),
            _payment("p2", unit, 60000, date(2025, 3, 5)),
            refund,
        )

    in_order, reversed_ = pools
    pay1, pay2, refund = events(units[0])
    await run_billing(in_order, feb)
    await _apply(in_order, payments.record_payment, pay1)
    await run_billing(in_order, mar)
    await _apply(in_order, payments.record_payment, pay2)
    await _apply(in_order, payments.record_refund, refund)

    pay1, pay2, refund = events(units[1])
    await _apply(reversed_, payments.record_refund, refund)  # before its payment
    await _apply(reversed_, payments.record_payment, pay2)  # before the March invoice
    await _apply(reversed_, payments.record_payment, pay1)  # before the February invoice
    await run_billing(reversed_, mar)
    await run_billing(reversed_, feb)

    first, second = [await _account_picture(p, u) for p, u in zip(pools, units, strict=True)]
    assert first == second
    assert first[0], "the payments were allocated"
    assert first[2] + sum(a[4] for a in first[0]) == 250000 + 60000 - 20000
    for pool in pools:
        await pool.close()


async def test_every_published_payload_matches_its_contract(billing_pool) -> None:  # type: ignore[no-untyped-def]
    """Runs serialise InvoiceIssued by hand and accounts build events without re-validation:
    every outbox row must still validate against the model its ce_type names."""
    from propfee.events import EVENTS_BY_TYPE

    await setup_community(billing_pool)
    head = "\n".join(SAMPLE.read_text("utf-8").splitlines()[:80]).encode()
    await import_ledger(billing_pool, COMMUNITY, head, "l.csv", opening_as_of=OPENING)
    await run_billing(
        billing_pool, RunRequest(COMMUNITY, date(2025, 1, 1), "monthly", date(2025, 1, 1))
    )
    units = [r["unit_id"] for r in await billing_pool.fetch("SELECT unit_id FROM units LIMIT 20")]
    for n, unit in enumerate(units):
        await _apply(
            billing_pool,
            payments.record_payment,
            _payment(f"pay{n}", unit, 50000 + n, date(2025, 1, 20)),
        )
    rows = await billing_pool.fetch("SELECT topic, headers, payload FROM outbox")
    seen = set()
    for row in rows:
        headers = dict(row["headers"])
        model = EVENTS_BY_TYPE[headers["ce_type"]]
        assert model.topic() == row["topic"]
        event = model.model_validate_json(bytes(row["payload"]))
        assert getattr(event, "currency", "CNY") == "CNY"
        seen.add(model.__name__)
    assert {
        "InvoiceIssued",
        "InvoiceBalanceChanged",
        "InvoiceSettled",
        "PartyContactsUpdated",
    } <= seen


async def test_late_fee_assessment_publishes_only_changes(billing_pool) -> None:  # type: ignore[no-untyped-def]
    from billing.service_layer.late_fees import assess_late_fees

    await setup_community(billing_pool, late_fee=Decimal("0.0001"))
    head = "\n".join(SAMPLE.read_text("utf-8").splitlines()[:8]).encode()
    await import_ledger(billing_pool, COMMUNITY, head, "l.csv", opening_as_of=OPENING)
    await run_billing(
        billing_pool, RunRequest(COMMUNITY, date(2025, 1, 1), "monthly", date(2025, 1, 1))
    )
    first = await assess_late_fees(billing_pool, COMMUNITY, date(2025, 3, 2))
    assert first.invoices_assessed > 0 and first.changed == first.invoices_assessed
    events = await _outbox(billing_pool, "billing.late-fee-assessed")
    assert len(events) == first.changed
    # An invoice of 27,580... here 1栋/1单元/101: 143 m² x 2.50 = 35,750 due 2025-01-31; as of
    # 2025-03-02 that is 30 days at min(0.0001, 0.039/365) a day: 35,750 x 0.0001 x 30 = 107.25.
    fee = next(
        e for e in events if e["principal_outstanding_fen"] == 35750 and e["as_of"] == "2025-03-02"
    )
    assert fee["late_fee_fen"] == 107
    again = await assess_late_fees(billing_pool, COMMUNITY, date(2025, 3, 2))
    assert again.changed == 0  # nothing changed: nothing published
    later = await assess_late_fees(billing_pool, COMMUNITY, date(2025, 3, 12))
    assert later.changed == first.invoices_assessed
    assert (
        len(await _outbox(billing_pool, "billing.late-fee-assessed"))
        == first.changed + later.changed
    )
    no_rate = await billing_pool.execute(
        "UPDATE communities SET late_fee_daily_rate = NULL WHERE community_id = $1", COMMUNITY
    )
    assert no_rate == "UPDATE 1"
    assert (await assess_late_fees(billing_pool, COMMUNITY, date(2025, 4, 1))).changed == 0


async def test_one_phone_owning_two_flats_is_one_party(billing_pool) -> None:  # type: ignore[no-untyped-def]
    """Issue 18 rule 12: parties are people, matched by verified phone (a normalised mainland
    mobile), not created per unit; a landline shared by two households matches nobody."""
    await setup_community(billing_pool)
    header = SAMPLE.read_text("utf-8").splitlines()[0]
    rows = [
        "1栋,1单元,101,住宅,100.00,已入住,2019-06-30,王芳,138 0013 8000,,,业主,,,500.00,2024-11",
        "1栋,1单元,102,住宅,90.00,已入住,2019-06-30,王芳,+8613800138000,,,业主,,,300.00,2024-12",
        "1栋,1单元,201,住宅,90.00,已入住,2019-06-30,李四,010-62345678,,,业主,,,,",
        "1栋,1单元,202,住宅,90.00,已入住,2019-06-30,张三,010-62345678,,,业主,,,,",
    ]
    data = ("\n".join([header, *rows]) + "\n").encode()
    report = await import_ledger(billing_pool, COMMUNITY, data, "l.csv", opening_as_of=OPENING)
    assert report.imported and report.errors == []
    assert report.parties_created == 4  # the developer (handed over units) and three people
    assert await billing_pool.fetchval("SELECT count(*) FROM parties WHERE kind = 'owner'") == 3
    owners = dict(
        await billing_pool.fetch(
            "SELECT u.room, up.party_id FROM unit_parties up JOIN units u USING (unit_id) "
            "WHERE up.role = 'owner'"
        )
    )
    assert owners["101"] == owners["102"] and owners["201"] != owners["202"]
    payers = {r["payer_party_id"] for r in await billing_pool.fetch("SELECT * FROM invoices")}
    assert payers == {owners["101"]}
    contacts = await _outbox(billing_pool, "billing.party-contacts-updated")
    assert len(contacts) == 4
    # A later file (another flat of the same mobile) finds the same person.
    later = "1栋,2单元,301,住宅,80.00,已入住,2019-06-30,王芳,13800138000,,,业主,,,,"
    again = await import_ledger(
        billing_pool, COMMUNITY, f"{header}\n{later}\n".encode(), "l2.csv", opening_as_of=OPENING
    )
    assert again.parties_created == 0
    third = await billing_pool.fetchval(
        "SELECT up.party_id FROM unit_parties up JOIN units u USING (unit_id) WHERE u.room = '301' "
        "AND up.role = 'owner'"
    )
    assert third == owners["101"]


async def test_person_key_is_the_normalised_mainland_mobile(billing_pool) -> None:  # type: ignore[no-untyped-def]
    """The one home of the matching rule (migration 0009), run on an example table."""
    examples = {
        "13800138000": "mobile:13800138000",
        "138 0013 8000": "mobile:13800138000",
        "138-0013-8000": "mobile:13800138000",
        "+86 13800138000": "mobile:13800138000",
        "0086-13800138000": "mobile:13800138000",
        "8613800138000": "mobile:13800138000",
        "12800138000": None,  # no mainland mobile starts 12
        "1380013800": None,  # ten digits
        "010-62345678": None,  # a landline: a household's, never a person's
        "0571-87654321": None,
        "": None,
    }
    keys = dict(
        await billing_pool.fetch(
            "SELECT p, billing_person_key(p) FROM unnest($1::text[]) p", list(examples)
        )
    )
    assert keys == examples
