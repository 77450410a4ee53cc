"""What every InvoiceIssued says beyond its lines, the same on every path that issues one
(runs, manual invoices, the ledger import's opening arrears).

- ``liable_party_ids``: the payer and, when someone else pays (a tenant), the owner, who
  stays jointly liable (issue 17, rule 10).
- ``interest_from``: the first day that can bear a late fee, the day after max(due date, issue
  date in the community's time zone) (``propfee.late_fees.interest_starts``, the rule's one
  home), when the service contract sets a late-fee rate; for utilities collected on behalf of
  suppliers only when the contract names one for them (``communities.utilities_late_fee``).
  None: the invoice bears no late fee.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import asyncpg

from billing.domain.charges import Collection
from propfee.late_fees import interest_starts


def liable_parties(payer: str, owner: str | None) -> list[str]:
    return [payer] + ([owner] if owner and owner != payer else [])


@dataclass(frozen=True)
class LateFeeContract:
    """Whether a community's invoices bear a late fee, per collection."""

    has_rate: bool
    utilities_late_fee: bool
    time_zone: str = "Asia/Shanghai"

    def bears(self, collection: Collection) -> bool:
        return self.has_rate and (collection == "property" or self.utilities_late_fee)

    def interest_from(
        self, due: date, issued: date | datetime, collection: Collection = "property"
    ) -> date | None:
        if not self.bears(collection):
            return None
        if isinstance(issued, datetime):
            issued = issued.astimezone(ZoneInfo(self.time_zone)).date()
        return interest_starts(due, issued)

    @classmethod
    def of(cls, community: asyncpg.Record) -> LateFeeContract:
        return cls(
            community["late_fee_daily_rate"] is not None,
            community["utilities_late_fee"],
            community["time_zone"],
        )


async def late_fee_contract(conn: asyncpg.Connection, community_id: str) -> LateFeeContract:
    row = await conn.fetchrow(
        "SELECT late_fee_daily_rate, utilities_late_fee, time_zone FROM communities "
        "WHERE community_id = $1",
        community_id,
    )
    if row is None:
        raise LookupError(f"community {community_id} does not exist")
    return LateFeeContract.of(row)


async def owners_on(conn: asyncpg.Connection, unit_ids: Sequence[str], day: date) -> dict[str, str]:
    """Each unit's owner on the day (units without one are left out)."""
    rows = await conn.fetch(
        "SELECT DISTINCT ON (unit_id) unit_id, party_id FROM unit_parties "
        "WHERE unit_id = ANY($1::text[]) AND role = 'owner' AND valid_from <= $2 "
        "AND (valid_to IS NULL OR valid_to >= $2) ORDER BY unit_id, valid_from DESC",
        list(unit_ids),
        day,
    )
    return {r["unit_id"]: r["party_id"] for r in rows}
