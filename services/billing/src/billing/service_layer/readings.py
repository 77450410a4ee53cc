"""Meter readings for pass-through utilities and shared meters' use (公摊), recorded for the
next run (never while a run bills the community) and audited."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg

from billing.domain.calendar import month_start
from billing.service_layer.billed_months import lock_billing
from propfee import audit
from propfee.auth import Principal
from propfee.problems import FieldProblem, InvalidInput


@dataclass(frozen=True)
class Reading:
    unit_id: str
    item_code: str
    period_month: date
    previous: Decimal
    current: Decimal


@dataclass(frozen=True)
class SharedReading:
    building_id: str
    item_code: str
    period_month: date
    quantity: Decimal


def check_readings(readings: Sequence[Reading]) -> None:
    """A reading below the previous one is refused (a meter does not run backwards)."""
    problems = [
        FieldProblem(
            field=f"body.{n}.current",
            reason=f"unit {r.unit_id} {r.item_code}: current reading {r.current} is below "
            f"the previous {r.previous}",
            row=n,
        )
        for n, r in enumerate(readings)
        if r.current < r.previous
    ]
    if problems:
        raise InvalidInput(
            "; ".join(f"[{p.row}] {p.reason}" for p in problems[:5]), errors=problems
        )


async def record_readings(
    conn: asyncpg.Connection,
    principal: Principal,
    community_id: str,
    company_id: str,
    readings: Sequence[Reading],
) -> int:
    """Record (or correct) each unit's reading for its month; audited."""
    check_readings(readings)
    await lock_billing(conn, community_id, shared=True)  # not while a run bills them
    units = list({r.unit_id for r in readings})
    found = await conn.fetchval(
        "SELECT count(*) FROM units WHERE community_id = $1 AND unit_id = ANY($2::text[])",
        community_id,
        units,
    )
    if found != len(units):
        raise InvalidInput(
            "unit_id: some units are not in this community",
            errors=[FieldProblem(field="body.unit_id", reason="not a unit of this community")],
        )
    await conn.executemany(
        "INSERT INTO meter_readings (unit_id, item_code, period_month, previous, current) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (unit_id, item_code, period_month) "
        "DO UPDATE SET previous = EXCLUDED.previous, current = EXCLUDED.current",
        [
            (r.unit_id, r.item_code, month_start(r.period_month), r.previous, r.current)
            for r in readings
        ],
    )
    await _audit(conn, principal, community_id, company_id, "meter", readings)
    return len(readings)


async def record_shared_readings(
    conn: asyncpg.Connection,
    principal: Principal,
    community_id: str,
    company_id: str,
    readings: Sequence[SharedReading],
) -> int:
    """A shared meter's use, split over the units in scope by floor area when billed."""
    await lock_billing(conn, community_id, shared=True)  # not while a run bills them
    await conn.executemany(
        "INSERT INTO shared_meter_readings (community_id, building_id, item_code, period_month, "
        "quantity) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (community_id, building_id, item_code, "
        "period_month) DO UPDATE SET quantity = EXCLUDED.quantity",
        [
            (community_id, r.building_id, r.item_code, month_start(r.period_month), r.quantity)
            for r in readings
        ],
    )
    await _audit(conn, principal, community_id, company_id, "shared_meter", readings)
    return len(readings)


async def _audit(
    conn: asyncpg.Connection,
    principal: Principal,
    community_id: str,
    company_id: str,
    kind: str,
    readings: Sequence[Reading] | Sequence[SharedReading],
) -> None:
    if readings:
        after: list[Mapping[str, Any]] = [asdict(r) for r in readings]
        await audit.record(
            conn,
            principal,
            f"{kind}_readings.recorded",
            f"{kind}_readings",
            f"{community_id}:{min(r.period_month for r in readings)}",
            community_id=community_id,
            company_id=company_id,
            after=after,
        )
