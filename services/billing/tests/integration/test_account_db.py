"""The account rules against the real PostgreSQL, through the service layer that production
runs: lapsing prepayment discounts published by the late-fee job, dunning's clock arriving
before its invoice, utilities apart, sales (frozen or transferred credit) and the seller's
arrears as of the sale day."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from billing.service_layer import payments
from billing.service_layer.accounts import ChangeContext, recompute_account
from billing.service_layer.invoices import copy_invoices
from billing.service_layer.late_fees import assess_late_fees
from billing.service_layer.ledger_import import import_ledger
from billing.service_layer.limitation_clocks import record_limitation_clock
from billing.service_layer.reports import aging
from billing.service_layer.statements import PlanRequest, create_plan, party_arrears, statement
from propfee.events import LimitationClockChanged, PaymentReceived, PaymentRefunded
from propfee.money import round_half_up

from .conftest import COMMUNITY, setup_community

pytestmark = pytest.mark.integration

LEDGER = (
    "楼栋,单元,房号,房屋类型,建筑面积,房屋状态,交房日期,业主姓名,业主电话,缴费责任人\n"
    "1栋,1单元,101,住宅,100.00,已入住,2019-06-30,梁娟,15034773197,业主\n"
    "1栋,1单元,102,住宅,100.00,已入住,2019-06-30,姚欣杰,17771750349,业主\n"
    "1栋,1单元,201,住宅,100.00,已入住,2019-06-30,侯勇涛,15019645277,业主\n"
).encode()
RATE = Decimal("0.0001")  # a day, below the cap (0.039 / 365)
COLUMNS = (
    "invoice_id", "community_id", "building_id", "unit_id", "payer_party_id", "kind",
    "period_start", "period_end", "due_date", "total_fen", "issued_at", "collection",
)  # fmt: skip


def noon(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 4, tzinfo=UTC)  # 12:00 in Shanghai


async def _units(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    await setup_community(pool, late_fee=RATE)
    await import_ledger(pool, COMMUNITY, LEDGER, "l.csv", opening_as_of=date(2025, 1, 1))
    return list(await pool.fetch("SELECT unit_id, building_id FROM units ORDER BY unit_key"))


async def _invoice(
    pool: asyncpg.Pool,
    unit: asyncpg.Record,
    invoice_id: str,
    due: date,
    issued: date,
    lines: list[tuple[str, int]],
    *,
    payer: str = "owner",
    collection: str = "property",
) -> None:
    total = sum(fen for _, fen in lines)
    async with pool.acquire() as conn, conn.transaction():
        await copy_invoices(
            conn,
            [
                (invoice_id, COMMUNITY, unit["building_id"], unit["unit_id"], payer, "regular",
                 issued.replace(day=1), due, due, total, noon(issued), collection)
            ],
            COLUMNS,
            [
                (invoice_id, n, item, item, Decimal(1), Decimal(fen), fen)
                for n, (item, fen) in enumerate(lines, 1)
            ],
        )  # fmt: skip
        await recompute_account(conn, unit["unit_id"], noon(issued), ChangeContext("credit"))


async def _pay(
    pool: asyncpg.Pool,
    unit: asyncpg.Record,
    payment_id: str,
    fen: int,
    day: date,
    names: list[str] | None = None,
    payer: str = "owner",
) -> None:
    event = PaymentReceived(
        payment_id=payment_id, community_id=COMMUNITY, unit_id=unit["unit_id"],
        payer_party_id=payer, invoice_ids=names or [], amount_fen=fen, channel="cash",
        paid_at=noon(day), received_at=noon(day),
    )  # fmt: skip
    async with pool.acquire() as conn, conn.transaction():
        await payments.record_payment(conn, event, None)  # type: ignore[arg-type]


async def _balances(pool: asyncpg.Pool, invoice_id: str) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT payload FROM outbox WHERE topic = 'billing.invoice-balance-changed' ORDER BY id"
    )
    events = [json.loads(bytes(r["payload"])) for r in rows]
    return [e for e in events if e["invoice_id"] == invoice_id]


async def test_a_discount_not_earned_lapses_and_the_late_fee_job_publishes_it(billing_pool) -> None:  # type: ignore[no-untyped-def]
    unit, other, _ = await _units(billing_pool)
    quarter = [("property_fee", 30000), ("prepay_discount_quarterly", -1500)]
    await _invoice(billing_pool, unit, "q-late", date(2025, 3, 31), date(2025, 3, 1), quarter)
    await _invoice(billing_pool, other, "q-early", date(2025, 3, 31), date(2025, 3, 1), quarter)
    await _pay(billing_pool, unit, "part", 20000, date(2025, 3, 10))
    await _pay(billing_pool, other, "full", 28500, date(2025, 3, 31))

    await assess_late_fees(billing_pool, COMMUNITY, date(2025, 3, 31))
    row = await billing_pool.fetchrow("SELECT * FROM invoices WHERE invoice_id = 'q-late'")
    assert row["discount_lapsed_fen"] == 0  # its due day: still to be earned

    await assess_late_fees(billing_pool, COMMUNITY, date(2025, 4, 1))
    row = await billing_pool.fetchrow("SELECT * FROM invoices WHERE invoice_id = 'q-late'")
    assert row["discount_lapsed_fen"] == 1500 and row["total_fen"] == 28500
    lapsed = (await _balances(billing_pool, "q-late"))[-1]
    # Dunning reads the arrears: the undiscounted amount less what was paid.
    assert lapsed["principal_outstanding_fen"] == 10000 and lapsed["total_fen"] == 28500
    assert lapsed["discount_lapsed_fen"] == 1500  # the billed total stays; the lapse is apart
    assert lapsed["reason"] == "recompute"
    assert lapsed["late_fee_basis"]["starts_on"] == "2025-04-01"
    assert lapsed["late_fee_basis"]["principal_outstanding_fen"] == 10000
    early = await billing_pool.fetchrow("SELECT * FROM invoices WHERE invoice_id = 'q-early'")
    assert early["discount_lapsed_fen"] == 0 and early["status"] == "paid"
    # Every reader of the arrears sees the undiscounted amount: the receivables aging as of a
    # day after the lapse, and an installment plan over the invoice.
    async with billing_pool.acquire() as conn:
        buckets = await aging(conn, COMMUNITY, date(2025, 4, 10))
        assert sum(b["outstanding_fen"] for b in buckets) == 10000
        before = await aging(conn, COMMUNITY, date(2025, 3, 31))  # its due day: discounted
        assert sum(b["outstanding_fen"] for b in before) == 8500
        async with conn.transaction():
            plan_id = await create_plan(
                conn,
                PlanRequest(unit["unit_id"], ("q-late",), 3, date(2025, 5, 1), "困难",
                            noon(date(2025, 4, 1))),
            )  # fmt: skip
            total = await conn.fetchval(
                "SELECT total_fen FROM installment_plans WHERE plan_id = $1", plan_id
            )
            assert total == 10000

    # Paying the undiscounted arrears (beyond the billed total: the constraint allows it).
    await _pay(billing_pool, unit, "rest", 10003, date(2025, 4, 2))
    row = await billing_pool.fetchrow("SELECT * FROM invoices WHERE invoice_id = 'q-late'")
    assert row["principal_paid_fen"] == 30000 and row["status"] == "paid"
    assert row["late_fee_paid_fen"] == round_half_up(Decimal(10000) * RATE)


async def test_a_clock_before_its_invoice_applies_when_the_invoice_arrives(billing_pool) -> None:  # type: ignore[no-untyped-def]
    unit, _, _ = await _units(billing_pool)

    def clock(version: int, expires: date) -> LimitationClockChanged:
        return LimitationClockChanged(
            invoice_id="old", community_id=COMMUNITY, unit_id=unit["unit_id"],
            due_date=date(2022, 1, 31), expires_on=expires, clock_version=version,
            changed_at=noon(date(2025, 2, 1)),
        )  # fmt: skip

    async with billing_pool.acquire() as conn, conn.transaction():
        await record_limitation_clock(conn, clock(2, date(2025, 1, 31)), None)
        await record_limitation_clock(conn, clock(1, date(2030, 1, 31)), None)  # older: ignored
        await record_limitation_clock(conn, clock(2, date(2030, 1, 31)), None)  # duplicate
    stored = await billing_pool.fetchrow("SELECT * FROM limitation_clocks")
    assert (stored["clock_version"], stored["expires_on"]) == (2, date(2025, 1, 31))

    await _invoice(billing_pool, unit, "old", date(2022, 1, 31), date(2022, 1, 1), [("x", 10000)])
    await _invoice(billing_pool, unit, "new", date(2025, 3, 31), date(2025, 3, 1), [("x", 5000)])
    await _pay(billing_pool, unit, "p", 50000, date(2025, 3, 5))
    old = await billing_pool.fetchrow("SELECT * FROM invoices WHERE invoice_id = 'old'")
    assert old["principal_paid_fen"] == 0 and old["time_barred"] is True
    assert (await _balances(billing_pool, "old"))[-1]["time_barred"] is True
    new = await billing_pool.fetchrow("SELECT * FROM invoices WHERE invoice_id = 'new'")
    assert new["status"] == "paid"
    # Named, it is paid.
    await _pay(billing_pool, unit, "named", 20000, date(2025, 3, 6), ["old"])
    old = await billing_pool.fetchrow("SELECT * FROM invoices WHERE invoice_id = 'old'")
    assert old["status"] == "paid"


async def test_utilities_stand_apart_and_bear_no_late_fee_unless_the_contract_says(
    billing_pool,
) -> None:  # type: ignore[no-untyped-def]
    unit, _, _ = await _units(billing_pool)
    await _invoice(billing_pool, unit, "fee", date(2025, 1, 31), date(2025, 1, 1), [("pf", 30000)])
    await _invoice(
        billing_pool, unit, "water", date(2025, 2, 28), date(2025, 2, 1), [("water", 4000)],
        collection="utilities",
    )  # fmt: skip
    await _pay(billing_pool, unit, "w", 10000, date(2025, 3, 10), ["water"])
    async with billing_pool.acquire() as conn:
        st = await statement(conn, unit["unit_id"], date(2025, 3, 10))
    by_id = {i["invoice_id"]: i for i in st["invoices"]}
    assert by_id["water"]["status"] == "paid" and by_id["water"]["collection"] == "utilities"
    assert by_id["fee"]["principal_paid_fen"] == 0  # overdue property fee: untouched
    assert st["credit_fen"] == 6000  # kept for utilities
    # Utilities bear no late fee unless the contract names one for them.
    await _invoice(
        billing_pool, unit, "power", date(2025, 3, 31), date(2025, 3, 20), [("power", 9000)],
        collection="utilities",
    )  # fmt: skip
    async with billing_pool.acquire() as conn:
        st = await statement(conn, unit["unit_id"], date(2025, 6, 30))
    by_id = {i["invoice_id"]: i for i in st["invoices"]}
    assert by_id["power"]["principal_paid_fen"] == 6000 and by_id["power"]["late_fee_fen"] == 0
    assert by_id["fee"]["late_fee_fen"] > 0
    await billing_pool.execute("UPDATE communities SET utilities_late_fee = true")
    async with billing_pool.acquire() as conn:
        st = await statement(conn, unit["unit_id"], date(2025, 4, 10))
    power = next(i for i in st["invoices"] if i["invoice_id"] == "power")
    # 3,000 unpaid for 04-01 .. 04-10 at 0.0001 a day.
    assert power["late_fee_fen"] == round_half_up(Decimal(3000 * 10) * RATE)


async def _sell(pool: asyncpg.Pool, unit: asyncpg.Record, choice: str, day: date) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO unit_sales (sale_id, unit_id, sold_on, sold_at, seller_party_ids, "
            "buyer_party_id, seller_credit) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            f"sale-{unit['unit_id']}",
            unit["unit_id"],
            day,
            noon(day),
            ["owner"],
            "buyer",
            choice,
        )
        await recompute_account(conn, unit["unit_id"], noon(day), ChangeContext("recompute"))


async def test_a_sale_settles_the_account(billing_pool) -> None:  # type: ignore[no-untyped-def]
    arrears, refunded, transferred = await _units(billing_pool)
    sold = date(2025, 3, 15)
    # The seller's arrears as of the sale day, late fee included (party_arrears).
    await _invoice(
        billing_pool, arrears, "s1", date(2025, 1, 31), date(2025, 1, 1), [("pf", 30000)]
    )
    await _pay(billing_pool, arrears, "part", 10000, date(2025, 2, 10))
    async with billing_pool.acquire() as conn:
        [owed] = await party_arrears(conn, arrears["unit_id"], ["owner"], sold)
    # 30,000 for 02-01..02-09, 20,000 for 02-10..03-15 (34 days), at 0.0001 a day.
    fee = round_half_up(Decimal(30000 * 9 + 20000 * 34) * RATE)
    assert (owed["invoice_id"], owed["principal_outstanding_fen"]) == ("s1", 20000)
    assert owed["late_fee_outstanding_fen"] == fee == 95
    assert owed["outstanding_fen"] == 20000 + 95
    async with billing_pool.acquire() as conn:
        assert await party_arrears(conn, arrears["unit_id"], ["buyer"], sold) == []
    await _sell(billing_pool, arrears, "refund", sold)
    # The buyer's invoice and money: the buyer's money never pays the seller's arrears.
    await _invoice(
        billing_pool, arrears, "b1", date(2025, 4, 30), date(2025, 4, 1), [("pf", 27580)],
        payer="buyer",
    )  # fmt: skip
    await _pay(billing_pool, arrears, "buyer-pays", 100000, date(2025, 4, 2), payer="buyer")
    s1 = await billing_pool.fetchrow("SELECT * FROM invoices WHERE invoice_id = 's1'")
    b1 = await billing_pool.fetchrow("SELECT * FROM invoices WHERE invoice_id = 'b1'")
    assert s1["principal_paid_fen"] == 10000 and b1["status"] == "paid"

    # Seller's credit at the sale: refunded (frozen until the refund) or transferred.
    for unit, choice in ((refunded, "refund"), (transferred, "transfer")):
        await _pay(billing_pool, unit, f"pre-{choice}", 50000, date(2025, 1, 5))
        await _sell(billing_pool, unit, choice, sold)
        await _invoice(
            billing_pool, unit, f"b-{choice}", date(2025, 4, 30), date(2025, 4, 1),
            [("pf", 27580)], payer="buyer",
        )  # fmt: skip
    frozen = await billing_pool.fetchrow("SELECT * FROM invoices WHERE invoice_id = 'b-refund'")
    moved = await billing_pool.fetchrow("SELECT * FROM invoices WHERE invoice_id = 'b-transfer'")
    assert frozen["principal_paid_fen"] == 0 and moved["status"] == "paid"
    async with billing_pool.acquire() as conn:
        st = await statement(conn, refunded["unit_id"], date(2025, 4, 10))
    assert st["credit_fen"] == st["frozen_credit_fen"] == 50000
    refund = PaymentRefunded(
        refund_id="r-1", payment_id="pre-refund", community_id=COMMUNITY,
        unit_id=refunded["unit_id"], payer_party_id="owner", amount_fen=50000, reason="出售退还余额",
        refunded_at=noon(date(2025, 4, 12)),
    )  # fmt: skip
    async with billing_pool.acquire() as conn, conn.transaction():
        await payments.record_refund(conn, refund, None)  # type: ignore[arg-type]
    assert (
        await billing_pool.fetchval(
            "SELECT count(*) FROM account_credits WHERE unit_id = $1", refunded["unit_id"]
        )
        == 0
    )
    frozen = await billing_pool.fetchrow("SELECT * FROM invoices WHERE invoice_id = 'b-refund'")
    assert frozen["principal_paid_fen"] == 0
    # Every fen accounted for, per unit.
    rows = await billing_pool.fetch(
        "SELECT u.unit_id, "
        "(SELECT coalesce(sum(amount_fen), 0) FROM payments_received p WHERE p.unit_id = u.unit_id)"
        " - (SELECT coalesce(sum(amount_fen), 0) FROM refunds_received r "
        "    WHERE r.unit_id = u.unit_id) AS paid_in, "
        "(SELECT coalesce(sum(amount_fen), 0) FROM allocations a WHERE a.unit_id = u.unit_id) "
        " + (SELECT coalesce(sum(credit_fen), 0) FROM account_credits c "
        "    WHERE c.unit_id = u.unit_id) AS accounted FROM units u"
    )
    assert all(r["paid_in"] == r["accounted"] for r in rows)


async def test_the_stored_journal_is_the_replay_whatever_the_arrival_order(billing_pool) -> None:  # type: ignore[no-untyped-def]
    """The journal is written from its first changed entry on (not rewritten whole): a
    payment that arrives after a later one changes the middle, a refund appends, and after
    each the stored journal is exactly the replay's, every fen in it or in credit."""
    from billing.service_layer.accounts import load_account

    unit = (await _units(billing_pool))[0]
    uid = unit["unit_id"]
    await _invoice(
        billing_pool, unit, "inv-j1", date(2025, 2, 15), date(2025, 2, 1), [("f", 30000)]
    )
    await _invoice(
        billing_pool, unit, "inv-j2", date(2025, 3, 15), date(2025, 3, 1), [("f", 30000)]
    )

    async def check() -> None:
        stored = [
            tuple(r)
            for r in await billing_pool.fetch(
                "SELECT seq, payment_id, invoice_id, component, amount_fen, at FROM allocations "
                "WHERE unit_id = $1 ORDER BY seq",
                uid,
            )
        ]
        async with billing_pool.acquire() as conn:
            account = await load_account(conn, uid)
        assert account is not None
        replayed = [
            (n, x.payment_id, x.invoice_id, x.component, x.amount_fen, x.at)
            for n, x in enumerate(account.state.allocations, 1)
        ]
        assert stored == replayed
        paid = await billing_pool.fetchval(
            "SELECT coalesce(sum(amount_fen), 0) FROM payments_received WHERE unit_id = $1", uid
        )
        back = await billing_pool.fetchval(
            "SELECT coalesce(sum(amount_fen), 0) FROM refunds_received WHERE unit_id = $1", uid
        )
        credit = await billing_pool.fetchval(
            "SELECT coalesce(sum(credit_fen), 0) FROM account_credits WHERE unit_id = $1", uid
        )
        assert paid - back == sum(r[4] for r in stored) + credit

    await _pay(billing_pool, unit, "pay-late", 25000, date(2025, 3, 20))
    await check()
    await _pay(billing_pool, unit, "pay-early", 20000, date(2025, 2, 10))  # arrives second
    await check()
    await _pay(billing_pool, unit, "pay-last", 30000, date(2025, 3, 25))
    await check()
    refund = PaymentRefunded(
        refund_id="ref-j", payment_id="pay-early", community_id=COMMUNITY, unit_id=uid,
        payer_party_id="owner", amount_fen=5000,
        reason="overpaid", refunded_at=noon(date(2025, 3, 26)),
    )  # fmt: skip
    async with billing_pool.acquire() as conn, conn.transaction():
        await payments.record_refund(conn, refund, None)  # type: ignore[arg-type]
    await check()


async def test_the_statement_says_what_a_payment_today_settles(billing_pool) -> None:  # type: ignore[no-untyped-def]
    """A payment on day D stops interest on the paid part from day D (EXAMPLES.md): the
    statement as of D counts D's interest (``late_fee_outstanding_fen``, if unpaid by the end of
    the day) and offers ``late_fee_payable_fen`` for a payment made on D; paying principal plus
    that on D settles the invoice to the fen, nothing left over and nothing owed."""
    unit, _, _ = await _units(billing_pool)
    await _invoice(billing_pool, unit, "fee", date(2025, 1, 31), date(2025, 1, 1), [("pf", 300000)])
    day = date(2025, 2, 10)
    async with billing_pool.acquire() as conn:
        st = await statement(conn, unit["unit_id"], day)
    fee = next(i for i in st["invoices"] if i["invoice_id"] == "fee")
    # 02-01 .. 02-10 is 10 days; paid on 02-10, 9 days at 0.0001 a day.
    assert fee["late_fee_outstanding_fen"] == round_half_up(Decimal(300000 * 10) * RATE) == 300
    assert fee["late_fee_payable_fen"] == round_half_up(Decimal(300000 * 9) * RATE) == 270
    assert st["late_fee_payable_fen"] >= fee["late_fee_payable_fen"]
    await _pay(billing_pool, unit, "counter", 300000 + 270, day, ["fee"])
    async with billing_pool.acquire() as conn:
        after = await statement(conn, unit["unit_id"], day)
    fee = next(i for i in after["invoices"] if i["invoice_id"] == "fee")
    assert fee["status"] == "paid"
    assert fee["late_fee_paid_fen"] == 270
    assert fee["late_fee_outstanding_fen"] == fee["late_fee_payable_fen"] == 0
    paid = sum(a["amount_fen"] for a in after["allocations"] if a["payment_id"] == "counter")
    assert paid == 300000 + 270  # every fen of it on this invoice: no credit
