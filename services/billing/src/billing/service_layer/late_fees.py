"""Late-fee assessments: as of a date, recompute each account with an overdue invoice (a
prepayment discount whose due date passed unpaid lapses then, an invoice past its limitation
date becomes time-barred: both published as InvoiceBalanceChanged), and publish each overdue
invoice's accrued late fee where it changed since the last assessment (a scheduled job calls
this daily or monthly)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import asyncpg

from billing.service_layer.accounts import ChangeContext, recompute_accounts
from propfee import audit
from propfee.auth import Principal
from propfee.events import Event, LateFeeAssessed
from propfee.outbox import add_events

CHUNK = 500


@dataclass(frozen=True)
class Assessment:
    invoices_assessed: int
    changed: int
    late_fee_outstanding_fen: int


async def assess_late_fees(pool: asyncpg.Pool, community_id: str, as_of: date) -> Assessment:
    async with pool.acquire() as conn:
        community = await conn.fetchrow(
            "SELECT late_fee_daily_rate, time_zone FROM communities WHERE community_id = $1",
            community_id,
        )
        if community is None:
            raise LookupError(f"community {community_id} not found")
        units = [
            r["unit_id"]
            for r in await conn.fetch(
                "SELECT DISTINCT unit_id FROM invoices WHERE community_id = $1 AND due_date < $2 "
                "AND status IN ('issued', 'partially_paid') ORDER BY unit_id",
                community_id,
                as_of,
            )
        ]
    at = datetime.combine(as_of, time(0), ZoneInfo(community["time_zone"])).astimezone(UTC)
    change = ChangeContext("recompute", note=f"late-fee assessment as of {as_of.isoformat()}")
    assessed = changed = outstanding = 0
    for start in range(0, len(units), CHUNK):
        chunk = units[start : start + CHUNK]
        async with pool.acquire() as conn, conn.transaction():
            accounts = await recompute_accounts(conn, chunk, at, change)
            if community["late_fee_daily_rate"] is None:
                continue  # no contract rate: no late fee, ever (lapses were still published)
            updates: list[tuple[str, int]] = []
            events: list[tuple[Event, str, str]] = []
            for account in accounts.values():
                for row in account.invoices:
                    b = account.state.invoices.get(row["invoice_id"])
                    if b is None or b.status not in ("issued", "partially_paid"):
                        continue
                    if row["due_date"] >= as_of:
                        continue
                    fee = b.late_fee_accrued(as_of, account.terms)
                    left = max(fee - b.late_fee_paid_fen - b.late_fee_waived_fen, 0)
                    assessed += 1
                    outstanding += left
                    if fee == row["late_fee_assessed_fen"]:
                        continue
                    updates.append((row["invoice_id"], fee))
                    event = LateFeeAssessed(
                        invoice_id=row["invoice_id"],
                        community_id=row["community_id"],
                        unit_id=row["unit_id"],
                        payer_party_id=row["payer_party_id"],
                        as_of=as_of,
                        late_fee_fen=fee,
                        late_fee_paid_fen=b.late_fee_paid_fen,
                        late_fee_waived_fen=b.late_fee_waived_fen,
                        late_fee_outstanding_fen=left,
                        principal_outstanding_fen=max(b.principal_due_fen, 0),
                        assessed_at=at,
                    )
                    events.append((event, row["unit_id"], row["invoice_id"]))
            await conn.execute(
                "UPDATE invoices AS i SET late_fee_assessed_fen = x.fee "
                "FROM unnest($1::text[], $2::bigint[]) AS x(id, fee) WHERE i.invoice_id = x.id",
                [u[0] for u in updates],
                [u[1] for u in updates],
            )
            await add_events(conn, events, time=at)
            changed += len(updates)
    return Assessment(assessed, changed, outstanding)


async def assess_audited(
    pool: asyncpg.Pool, principal: Principal, community_id: str, company_id: str, as_of: date
) -> Assessment:
    """``assess_late_fees``, audited when an accrued late fee changed."""
    result = await assess_late_fees(pool, community_id, as_of)
    if result.changed:
        async with pool.acquire() as conn:
            await audit.record(
                conn,
                principal,
                "late_fees.assessed",
                "late_fee_assessment",
                f"{community_id}:{as_of}",
                community_id=community_id,
                company_id=company_id,
                after={"as_of": as_of, **result.__dict__},
            )
    return result
