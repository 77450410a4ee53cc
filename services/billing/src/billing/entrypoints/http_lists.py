"""Community-wide reads: the units of a community (paged), where its money went, and the
audited export of its contact list (text a spreadsheet would run as a formula is neutralised:
``propfee.documents``)."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response

from billing.entrypoints import security
from billing.entrypoints.security import Reader, ReportReader
from propfee import audit
from propfee.auth import Principal, Role, require
from propfee.documents import spreadsheet_cell
from propfee.http import Pool

#: Who may take the whole contact list out of the system: the people who call and write to
#: households for a living. Finance, legal, auditors and automation read contacts one by one.
CONTACT_EXPORT = (Role.fee_clerk, Role.customer_service, Role.community_manager, Role.company_admin)
ContactExporter = Annotated[Principal, Depends(require(*CONTACT_EXPORT))]

router = APIRouter(prefix="/communities/{community_id}", tags=["registry"])

_UNITS = """
SELECT u.unit_id, u.unit_key, u.building_id, u.entrance, u.room, u.unit_type, u.floor_area_m2,
       u.status, u.handover_date,
       (SELECT up.party_id FROM unit_parties up
         WHERE up.unit_id = u.unit_id AND up.pays AND up.valid_to IS NULL
         ORDER BY up.valid_from DESC LIMIT 1) AS payer_party_id
  FROM units u
 WHERE u.community_id = $1 AND u.unit_id > $2
 ORDER BY u.unit_id
 LIMIT $3
"""


@router.get("/units")
async def list_units(
    community_id: str,
    pool: Pool,
    principal: Reader,
    after: Annotated[
        str, Query(max_length=64, description="the last unit_id of the page before")
    ] = "",
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> dict[str, Any]:
    """The community's units in id order, a page at a time (``next`` is the cursor), each with
    the party who pays now. No contact data: read a unit or a party for that."""
    await security.community(pool, principal, community_id)
    rows = await pool.fetch(_UNITS, community_id, after, limit)
    units = [dict(r) for r in rows]
    return {"units": units, "next": units[-1]["unit_id"] if len(units) == limit else None}


_MONEY = """
SELECT
  (SELECT count(*) FROM payments_received WHERE community_id = $1)::bigint AS payments,
  (SELECT coalesce(sum(amount_fen), 0) FROM payments_received WHERE community_id = $1)
      ::bigint AS payments_fen,
  (SELECT coalesce(sum(r.amount_fen), 0) FROM refunds_received r
     JOIN units u USING (unit_id) WHERE u.community_id = $1)::bigint AS refunds_fen,
  (SELECT coalesce(sum(a.amount_fen), 0) FROM allocations a
     JOIN units u USING (unit_id) WHERE u.community_id = $1)::bigint AS allocated_fen,
  (SELECT coalesce(sum(c.credit_fen), 0) FROM account_credits c
     JOIN units u USING (unit_id) WHERE u.community_id = $1)::bigint AS credit_fen
"""


@router.get("/reports/money")
async def money(community_id: str, pool: Pool, principal: ReportReader) -> dict[str, Any]:
    """Where every fen received went: payments − refunds = allocated + credit on account.
    ``balanced`` says whether that holds (it must, always)."""
    await security.community(pool, principal, community_id)
    row = dict(await pool.fetchrow(_MONEY, community_id) or {})
    row["balanced"] = (
        row["payments_fen"] - row["refunds_fen"] == row["allocated_fen"] + row["credit_fen"]
    )
    row["currency"] = "CNY"
    return row


_CONTACTS = """
SELECT u.unit_key, up.role, up.pays, p.party_id, p.name, p.phone, p.email, p.postal_address,
       p.do_not_contact
  FROM units u
  JOIN unit_parties up ON up.unit_id = u.unit_id AND up.valid_to IS NULL
  JOIN parties p ON p.party_id = up.party_id
 WHERE u.community_id = $1 AND up.role <> 'developer'
 ORDER BY u.unit_key, up.role
"""
CONTACT_COLUMNS = [
    "unit_key", "role", "pays", "party_id", "name", "phone", "email", "postal_address",
    "do_not_contact",
]  # fmt: skip


@router.get("/contacts", response_model=None)
async def export_contacts(
    community_id: str,
    pool: Pool,
    principal: ContactExporter,
    reason: Annotated[str, Query(min_length=2, max_length=200, description="why (audited)")],
    format: Literal["csv", "json"] = "csv",
) -> Response | list[dict[str, Any]]:
    """Every current owner and tenant with their contact data, unmasked: for the roles whose
    work is contacting households. Each export is recorded in the audit trail (who, when,
    how many rows, why)."""
    async with pool.acquire() as conn, conn.transaction():
        company_id = await security.community(conn, principal, community_id)
        rows = [dict(r) for r in await conn.fetch(_CONTACTS, community_id)]
        await audit.record(
            conn,
            principal,
            "contacts.exported",
            "community",
            community_id,
            community_id=community_id,
            company_id=company_id,
            after={"rows": len(rows), "format": format},
            reason=reason,
        )
    if format == "json":
        return rows
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CONTACT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: spreadsheet_cell(v) for k, v in r.items()} for r in rows)
    return Response(
        out.getvalue().encode("utf-8-sig"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="contacts-{community_id}.csv"'},
    )
