"""Import a bank withholding result file: each successful debit is one payment, once.

Re-importing the same file (or an overlapping one) records nothing twice: the row's batch and
serial number are its dedup key. The same key with other data is reported as a conflict.
Set-based: the new rows go in with one INSERT ... SELECT FROM unnest(...).

Every row is checked against the caller's scope first (``scoped_debits``): its unit must be a
unit payments knows in the row's ``community_id`` and the caller's scope, its invoices that
unit's. A row that is not is a row error and is never recorded.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

import asyncpg
from fastapi import HTTPException

from payments.domain.bank_files import Debit, RowError, parse_withholding_file
from payments.service_layer import access
from propfee import audit, uploads
from propfee.auth import Principal
from propfee.events import PaymentReceived
from propfee.outbox import add_event
from propfee.problems import InvalidInput


def _hash(d: Debit) -> str:
    invoices = ",".join(d.invoice_ids)
    data = f"{d.unit_id}|{d.payer_party_id}|{invoices}|{d.amount_fen}|{d.bank_reference}"
    return hashlib.sha256(data.encode()).hexdigest()


#: The communities payments knows each id in (billing's invoices, its payments and orders).
_KNOWN = (
    "SELECT DISTINCT k.id, k.community_id FROM ("
    " SELECT {c} AS id, community_id FROM invoices WHERE {c} = ANY($1::text[]) UNION ALL"
    " SELECT {c}, community_id FROM payments WHERE {c} = ANY($1::text[]) UNION ALL"
    " SELECT {c}, community_id FROM payment_orders WHERE {c} = ANY($1::text[])) k"
)


async def _known(conn: asyncpg.Connection, column: str, ids: set[str]) -> dict[str, set[str]]:
    known: dict[str, set[str]] = {}
    for r in await conn.fetch(_KNOWN.format(c=column), sorted(ids)):
        known.setdefault(r["id"], set()).add(r["community_id"])
    return known


async def scoped_debits(
    conn: asyncpg.Connection, principal: Principal, debits: Sequence[Debit]
) -> tuple[list[Debit], list[RowError]]:
    """The rows the caller may record, and a row error for each other, like ids in a request
    (``adapters.scoping``): the row's unit, if payments knows it, must be in the caller's
    scope (``access.unit``: not another company's or another community's) and in the row's
    ``community_id``; its payer, if known, a payer of that community; its invoices that unit's.
    A unit or payer payments has not heard of yet (a debit before the first invoice) is taken
    to be in the row's community, which must be the caller's: a community of the file outside
    the caller's scope refuses the whole file (404, ``access.communities``)."""
    await access.communities(conn, principal, {d.community_id for d in debits})
    units = await _known(conn, "unit_id", {d.unit_id for d in debits})
    payers = await _known(conn, "payer_party_id", {d.payer_party_id for d in debits})
    unit_community: dict[str, str | None] = {}
    for unit_id in units:
        try:
            unit_community[unit_id] = (await access.unit(conn, principal, unit_id))["community_id"]
        except HTTPException as exc:
            if exc.status_code != 404:
                raise
            unit_community[unit_id] = None  # known, but not the caller's
    invoices = {
        r["invoice_id"]: (r["unit_id"], r["community_id"])
        for r in await conn.fetch(
            "SELECT invoice_id, unit_id, community_id FROM invoices "
            "WHERE invoice_id = ANY($1::text[])",
            sorted({i for d in debits for i in d.invoice_ids}),
        )
    }
    accepted: list[Debit] = []
    errors: list[RowError] = []
    for d in debits:
        community = unit_community.get(d.unit_id, d.community_id)
        if community is None:
            errors.append(RowError(d.line, "unit_id", "not a unit in your scope"))
        elif community != d.community_id or d.community_id not in units.get(
            d.unit_id, {d.community_id}
        ):
            errors.append(
                RowError(d.line, "unit_id", f"the unit is not in community {d.community_id}")
            )
        elif d.community_id not in payers.get(d.payer_party_id, {d.community_id}):
            errors.append(
                RowError(d.line, "payer_party_id", f"not a payer of community {d.community_id}")
            )
        elif foreign := [i for i in d.invoice_ids if invoices.get(i) != (d.unit_id, community)]:
            errors.append(
                RowError(d.line, "invoice_ids", f"not invoices of the unit: {'|'.join(foreign)}")
            )
        else:
            accepted.append(d)
    return accepted, errors


async def import_withholding_file(
    conn: asyncpg.Connection, principal: Principal, text: str, received_at: datetime
) -> dict[str, Any]:
    """Inside a transaction. Returns counts and the rows refused (line, column, reason):
    unreadable rows and rows outside the caller's scope (``scoped_debits``)."""
    parsed, errors = parse_withholding_file(text)
    debits, refused = await scoped_debits(conn, principal, parsed)
    errors = sorted([*errors, *refused], key=lambda e: e.line)
    paid = [d for d in debits if d.succeeded]
    inserted = await conn.fetch(
        "INSERT INTO payments (payment_id, dedup_key, community_id, unit_id, payer_party_id, "
        "invoice_ids, amount_fen, channel, gateway, gateway_transaction_id, paid_at, "
        "received_at, request_hash) "
        "SELECT 'pay-' || gen_random_uuid(), k, c, u, p, string_to_array(i, '|'), a, "
        "'bank_withholding', 'bank', r, t, $11, h "
        "FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], "
        "$7::text[], $8::timestamptz[], $9::text[], $10::int[]) "
        "AS x(k, c, u, p, i, a, r, t, h, line) "
        "ON CONFLICT (dedup_key) DO NOTHING RETURNING payment_id, dedup_key",
        [d.dedup_key for d in paid],
        [d.community_id for d in paid],
        [d.unit_id for d in paid],
        [d.payer_party_id for d in paid],
        ["|".join(d.invoice_ids) for d in paid],
        [d.amount_fen for d in paid],
        [d.bank_reference for d in paid],
        [d.debited_at for d in paid],
        [_hash(d) for d in paid],
        [d.line for d in paid],
        received_at,
    )
    new_keys = {r["dedup_key"]: r["payment_id"] for r in inserted}
    existing = await conn.fetch(
        "SELECT dedup_key, request_hash FROM payments WHERE dedup_key = ANY($1::text[])",
        [d.dedup_key for d in paid if d.dedup_key not in new_keys],
    )
    known = {r["dedup_key"]: r["request_hash"] for r in existing}
    conflicts = [
        {
            "line": d.line,
            "column": "batch_no,serial_no",
            "reason": "already imported with other data",
        }
        for d in paid
        if d.dedup_key in known and known[d.dedup_key] != _hash(d)
    ]
    for d in paid:
        if d.dedup_key in new_keys:
            payment_id = new_keys[d.dedup_key]
            event = PaymentReceived(
                payment_id=payment_id,
                community_id=d.community_id,
                unit_id=d.unit_id,
                payer_party_id=d.payer_party_id,
                invoice_ids=list(d.invoice_ids),
                amount_fen=d.amount_fen,
                channel="bank_withholding",
                gateway="bank",
                gateway_transaction_id=d.bank_reference or None,
                paid_at=d.debited_at,
                received_at=received_at,
            )
            await add_event(conn, event, key=d.unit_id, subject=payment_id, time=received_at)
    return {
        "recorded": len(new_keys),
        "already_recorded": len(paid) - len(new_keys) - len(conflicts),
        "failed_debits": len(debits) - len(paid),
        "errors": [asdict(e) for e in errors] + conflicts,
    }


async def import_file(
    pool: asyncpg.Pool,
    principal: Principal,
    raw: bytes,
    limits: uploads.Limits,
    received_at: datetime,
) -> dict[str, Any]:
    """A bank's result file (UTF-8 CSV, 422 otherwise; within the upload limits): every
    community of the file must be the caller's (404 naming the first that is not); rows out
    of scope are row errors (``scoped_debits``). Audited per community
    (``bank_withholding.imported``, the file's SHA-256 as the record id)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput("the file must be UTF-8") from exc
    uploads.check_csv(text, limits)
    debits, _ = parse_withholding_file(text)
    per_community = Counter(d.community_id for d in debits)
    digest = hashlib.sha256(raw).hexdigest()
    async with pool.acquire() as conn, conn.transaction():
        companies = await access.communities(conn, principal, per_community)
        result = await import_withholding_file(conn, principal, text, received_at)
        for community_id, rows in sorted(per_community.items()):
            await audit.record(
                conn,
                principal,
                "bank_withholding.imported",
                "bank_file",
                digest,
                community_id=community_id,
                after={**result, "rows_of_community": rows},
                company_id=companies.get(community_id),
            )
    return result
