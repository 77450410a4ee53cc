"""Who may call what in billing, and the scoping lookups (404 for what the caller may not see).

The role sets per kind of endpoint (docs/security.md has the table):

- reads of accounts (units, invoices, statements, receipts): the staff, and the service role
  for automation;
- registry edits: fee clerks, community managers, company admins;
- pricing and billing (schedules, readings, charges, imports, runs, late-fee assessments):
  fee clerks, finance, company admins; runs and assessments also the service role (CronJobs);
- forgiving money (void, waiver, write-off): finance, community managers, company admins,
  always with a reason;
- reports (aggregates): also auditors and the owners' committee;
- company data (its name, its back-dating window, its vacancy rules): company-level roles only
  (``Principal.company_level``).
"""

from __future__ import annotations

from typing import Annotated, TypeAlias

import asyncpg
from fastapi import Depends, HTTPException

from propfee.auth import (
    ADJUST,
    BILLING_WRITE,
    REGISTRY_WRITE,
    REPORTS,
    STAFF_READ,
    Principal,
    Role,
    ensure_visible,
    not_found,
    require,
    visible_row,
)

READ = STAFF_READ | {Role.service}
#: Installment plans: staff, and the service role (the simulation clock records a plan as of
#: its own day; staff only as of now or within the company's back-dating window).
PLAN_WRITE = ADJUST | {Role.fee_clerk, Role.service}
PARTY_WRITE = REGISTRY_WRITE | {Role.customer_service}
READINGS = BILLING_WRITE | {Role.housekeeper}
RUNS = BILLING_WRITE | {Role.service}
#: Publishing a schedule version: staff record it today; the service role as of the simulation
#: clock's day.
SCHEDULE_WRITE = BILLING_WRITE | {Role.service}
#: Importing the schedules a community had before Propfee: company-level roles only (checked
#: with ``Principal.company_level`` in the route: a company admin for every community).
SCHEDULE_IMPORT = {Role.company_admin, Role.service}
E_INVOICE_REQUEST = {
    Role.fee_clerk,
    Role.housekeeper,
    Role.customer_service,
    Role.finance,
    Role.company_admin,
}
E_INVOICE_OUTCOME = {Role.finance, Role.company_admin}
#: Company data (name, settings, the company's vacancy rules): company-level roles only, i.e.
#: a company admin for every community or the service role (``Principal.company_level``).
COMPANY_WRITE = {Role.company_admin, Role.service}
#: A community's own vacancy rule (overrides its company's for the city).
COMMUNITY_VACANCY_RULE = {Role.finance, Role.community_manager, Role.company_admin}

Reader = Annotated[Principal, Depends(require(*READ))]
RegistryWriter = Annotated[Principal, Depends(require(*REGISTRY_WRITE))]
PartyWriter = Annotated[Principal, Depends(require(*PARTY_WRITE))]
BillingWriter = Annotated[Principal, Depends(require(*BILLING_WRITE))]
ReadingsWriter = Annotated[Principal, Depends(require(*READINGS))]
RunStarter = Annotated[Principal, Depends(require(*RUNS))]
ScheduleWriter = Annotated[Principal, Depends(require(*SCHEDULE_WRITE))]
ScheduleImporter = Annotated[Principal, Depends(require(*SCHEDULE_IMPORT))]
Adjuster = Annotated[Principal, Depends(require(*ADJUST))]
PlanWriter = Annotated[Principal, Depends(require(*PLAN_WRITE))]
ReportReader = Annotated[Principal, Depends(require(*REPORTS))]
EInvoiceRequester = Annotated[Principal, Depends(require(*E_INVOICE_REQUEST))]
EInvoiceRecorder = Annotated[Principal, Depends(require(*E_INVOICE_OUTCOME))]
CompanyWriter = Annotated[Principal, Depends(require(*COMPANY_WRITE))]
CommunityVacancyRuleWriter = Annotated[Principal, Depends(require(*COMMUNITY_VACANCY_RULE))]

Conn: TypeAlias = asyncpg.Connection | asyncpg.Pool


async def community(conn: Conn, principal: Principal, community_id: str) -> str:
    """The community's company; 404 when it does not exist or the caller may not see it."""
    company_id: str | None = await conn.fetchval(
        "SELECT company_id FROM communities WHERE community_id = $1", community_id
    )
    if company_id is None:
        raise not_found(f"community {community_id}")
    ensure_visible(principal, community_id, company_id, f"community {community_id}")
    return company_id


async def backdate_days(conn: Conn, company_id: str) -> int | None:
    """The company's window for back-dated records (``propfee.business_time``)."""
    days: int | None = await conn.fetchval(
        "SELECT backdate_days FROM companies WHERE company_id = $1", company_id
    )
    return days


async def time_zone(conn: Conn, community_id: str) -> str:
    zone: str | None = await conn.fetchval(
        "SELECT time_zone FROM communities WHERE community_id = $1", community_id
    )
    return zone or "Asia/Shanghai"


async def company(conn: Conn, principal: Principal, company_id: str) -> asyncpg.Record:
    """The company's row; 404 when it does not exist or is not the caller's company."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT * FROM companies WHERE company_id = $1", company_id
    )
    if row is None or not (principal.all_companies or principal.company_id == company_id):
        raise not_found(f"company {company_id}")
    return row


async def company_level(conn: Conn, principal: Principal, company_id: str) -> asyncpg.Record:
    """``company`` for a change of company data: 403 unless the caller is company-level."""
    row = await company(conn, principal, company_id)
    if not principal.company_level:
        raise HTTPException(
            403,
            f"company {company_id}: company data is changed by a company admin for every "
            'community (communities claim "*") or the service role',
        )
    return row


async def unit(conn: Conn, principal: Principal, unit_id: str) -> asyncpg.Record:
    """``(community_id, company_id)`` of a unit the caller may see; 404 otherwise."""
    return await visible_row(
        conn,
        principal,
        f"unit {unit_id}",
        "SELECT u.community_id, c.company_id FROM units u JOIN communities c USING (community_id) "
        "WHERE u.unit_id = $1",
        unit_id,
    )


async def invoice(conn: Conn, principal: Principal, invoice_id: str) -> asyncpg.Record:
    return await visible_row(
        conn,
        principal,
        f"invoice {invoice_id}",
        "SELECT i.unit_id, i.community_id, c.company_id FROM invoices i "
        "JOIN communities c USING (community_id) WHERE i.invoice_id = $1",
        invoice_id,
    )


async def payment(conn: Conn, principal: Principal, payment_id: str) -> asyncpg.Record:
    return await visible_row(
        conn,
        principal,
        f"payment {payment_id}",
        "SELECT p.unit_id, p.community_id, c.company_id FROM payments_received p "
        "JOIN communities c USING (community_id) WHERE p.payment_id = $1",
        payment_id,
    )


async def party(conn: Conn, principal: Principal, party_id: str) -> asyncpg.Record:
    return await visible_row(
        conn,
        principal,
        f"party {party_id}",
        "SELECT p.community_id, p.kind, c.company_id FROM parties p "
        "JOIN communities c USING (community_id) WHERE p.party_id = $1",
        party_id,
    )


async def e_invoice_request(conn: Conn, principal: Principal, request_id: str) -> asyncpg.Record:
    return await visible_row(
        conn,
        principal,
        f"e-invoice request {request_id}",
        "SELECT r.unit_id, u.community_id, c.company_id FROM e_invoice_requests r "
        "JOIN units u USING (unit_id) JOIN communities c ON c.community_id = u.community_id "
        "WHERE r.request_id = $1",
        request_id,
    )
