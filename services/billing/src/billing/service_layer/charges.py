"""One-off special services, billed in the run for their month."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg

from billing.domain.calendar import month_start
from billing.service_layer.billed_months import lock_billing
from billing.service_layer.ids import stable_id
from propfee import audit
from propfee.auth import Principal


@dataclass(frozen=True)
class OneOffCharge:
    unit_id: str
    item_code: str
    quantity: Decimal
    description: str
    period_month: date

    @property
    def charge_id(self) -> str:
        """The same charge sent again is the same charge (idempotent)."""
        return stable_id("chg", self.unit_id, self.item_code, self.period_month, self.description)


async def add_charge(
    conn: asyncpg.Connection,
    principal: Principal,
    scope: Mapping[str, Any],
    charge: OneOffCharge,
) -> str:
    """Record the charge for its month's run (once); audited when new."""
    await lock_billing(conn, scope["community_id"], shared=True)
    inserted = await conn.fetchval(
        "INSERT INTO one_off_charges (charge_id, unit_id, item_code, quantity, description, "
        "period_month) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING true",
        charge.charge_id,
        charge.unit_id,
        charge.item_code,
        charge.quantity,
        charge.description,
        month_start(charge.period_month),
    )
    if inserted:
        after = asdict(charge)
        after.pop("unit_id")
        await audit.record(
            conn,
            principal,
            "charge.added",
            "one_off_charge",
            charge.charge_id,
            community_id=scope["community_id"],
            unit_id=charge.unit_id,
            company_id=scope["company_id"],
            after=after,
            reason=charge.description or None,
        )
    return charge.charge_id
