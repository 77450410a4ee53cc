"""Community-wide reads: the units of a community (paged) and where its money went."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from billing.entrypoints import security
from billing.entrypoints.security import Reader, ReportReader
from propfee.http import Pool

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
