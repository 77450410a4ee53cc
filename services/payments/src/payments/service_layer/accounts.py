"""Merchant accounts (WeChat Pay mchid, Alipay app_id, UnionPay merId) and their companies.

A deployment serves several companies; each gateway's merchant account belongs to one of them
(``PAYMENTS_<GATEWAY>_COMPANY_ID``). Every gateway-level record — an exception, a statement
import, a discrepancy — names its merchant account and so its company: only that company's
company-wide staff (and the deployment's service role) see or resolve it.

The settings name one account per gateway; ``merchant_accounts`` keeps every account the
deployment has known (the records name them) and marks the configured ones. At start the
configured accounts are written there and the records follow their account's company.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from payments.errors import AmbiguousAccount
from payments.settings import PaymentsSettings
from propfee.auth import Principal, not_found

RECORD_TABLES = ("payment_exceptions", "statement_imports", "discrepancies")


@dataclass(frozen=True, slots=True)
class MerchantAccount:
    gateway: str  # wechatpay | alipay | unionpay (as records name the gateway)
    merchant_id: str
    company_id: str | None


def configured_accounts(s: PaymentsSettings) -> list[MerchantAccount]:
    """The accounts the settings name (one per gateway whose merchant id is set)."""
    named = (
        ("wechatpay", s.wechatpay_mchid, s.wechatpay_company_id),
        ("alipay", s.alipay_app_id, s.alipay_company_id),
        ("unionpay", s.unionpay_mer_id, s.unionpay_company_id),
    )
    return [MerchantAccount(g, m, c or None) for g, m, c in named if m]


async def sync_accounts(conn: asyncpg.Connection, accounts: Sequence[MerchantAccount]) -> None:
    """Write the configured accounts; records without an account get their gateway's
    configured one; every record carries its account's company. Idempotent (each start)."""
    async with conn.transaction():
        # Replicas (and uvicorn workers) start together: one at a time.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('payments.merchant_accounts'))")
        await conn.execute(
            "UPDATE merchant_accounts SET configured = false, updated_at = now() "
            "WHERE configured AND (gateway, merchant_id) NOT IN "
            "(SELECT * FROM unnest($1::text[], $2::text[]))",
            [a.gateway for a in accounts],
            [a.merchant_id for a in accounts],
        )
        await conn.executemany(
            "INSERT INTO merchant_accounts (gateway, merchant_id, company_id) VALUES ($1, $2, $3) "
            "ON CONFLICT (gateway, merchant_id) DO UPDATE SET company_id = EXCLUDED.company_id, "
            "configured = true, updated_at = now() "
            "WHERE (merchant_accounts.company_id, merchant_accounts.configured) "
            "IS DISTINCT FROM (EXCLUDED.company_id, true)",
            [(a.gateway, a.merchant_id, a.company_id) for a in accounts],
        )
        for table in RECORD_TABLES:
            await conn.execute(
                f"UPDATE {table} r SET merchant_id = a.merchant_id FROM merchant_accounts a "
                "WHERE r.merchant_id = '' AND a.configured AND a.gateway = r.gateway"
            )
            await conn.execute(
                f"UPDATE {table} r SET company_id = a.company_id FROM merchant_accounts a "
                "WHERE a.gateway = r.gateway AND a.merchant_id = r.merchant_id "
                "AND r.company_id IS DISTINCT FROM a.company_id"
            )


async def statement_account(
    conn: asyncpg.Connection | asyncpg.Pool,
    principal: Principal,
    gateway: str,
    merchant_id: str | None,
) -> MerchantAccount:
    """The merchant account a statement is imported for: the one named (404 unless the
    caller's company owns it), else the caller's company's configured account of the gateway
    (404 when it has none, 422 when it has several)."""
    company, _ = principal.sql_scope()
    rows = await conn.fetch(
        "SELECT gateway, merchant_id, company_id FROM merchant_accounts WHERE gateway = $1 "
        "AND ($2::text IS NULL OR company_id = $2) "
        "AND (CASE WHEN $3::text IS NULL THEN configured ELSE merchant_id = $3 END) "
        "ORDER BY merchant_id",
        gateway,
        company,
        merchant_id,
    )
    if not rows:
        what = f"{gateway} merchant account {merchant_id}" if merchant_id else None
        raise not_found(what or f"{gateway} merchant account of the company")
    if len(rows) > 1:
        raise AmbiguousAccount(
            f"the company has several {gateway} merchant accounts: name merchant_id"
        )
    return MerchantAccount(**dict(rows[0]))
