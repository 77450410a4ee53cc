"""Publishing fee schedules and reading their history."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import asyncpg

from billing.domain.schedule import (
    FeeItem,
    FeeSchedule,
    ScheduleError,
    ScheduleHistory,
    validate_schedule,
)
from billing.service_layer.ids import stable_id


def _decimal(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


async def load_history(conn: asyncpg.Connection, community_id: str) -> ScheduleHistory:
    rows = await conn.fetch(
        "SELECT s.schedule_id, s.version, s.published_on, s.effective_from, s.approval_ref, "
        "s.pricing_type, s.service_level, s.legal_basis, s.complaint_line, "
        "coalesce(json_agg(json_build_object('code', i.code, 'name', i.name, 'kind', i.kind, "
        "'unit_type', i.unit_type, 'rate_fen', i.rate_fen::text, 'pass_through', i.pass_through, "
        "'supplier_tariff_fen', i.supplier_tariff_fen::text, 'tariff_source', i.tariff_source) "
        "ORDER BY array_position(ARRAY['area', 'fixed', 'parking', 'metered', 'shared_meter', "
        "'one_off'], i.kind), i.code, i.unit_type) FILTER (WHERE i.code IS NOT NULL), '[]') "
        "AS items "
        "FROM fee_schedules s LEFT JOIN fee_items i USING (schedule_id) "
        "WHERE s.community_id = $1 GROUP BY s.schedule_id ORDER BY s.version",
        community_id,
    )
    return ScheduleHistory(
        [
            FeeSchedule(
                r["schedule_id"],
                r["version"],
                r["published_on"],
                r["effective_from"],
                r["approval_ref"],
                tuple(
                    FeeItem(
                        i["code"],
                        i["name"],
                        i["kind"],
                        Decimal(i["rate_fen"]),
                        i["unit_type"],
                        i["pass_through"],
                        _decimal(i["supplier_tariff_fen"]),
                        i["tariff_source"] or "",
                    )
                    for i in r["items"]
                ),
                r["pricing_type"],
                r["service_level"],
                r["legal_basis"],
                r["complaint_line"],
            )
            for r in rows
        ]
    )


async def publish_schedule(
    conn: asyncpg.Connection,
    community_id: str,
    *,
    published_on: date,
    effective_from: date,
    approval_ref: str,
    items: tuple[FeeItem, ...],
    pricing_type: str,
    service_level: str = "",
    legal_basis: str = "",
    complaint_line: str = "",
) -> FeeSchedule:
    """Publish the next version; refuse what the law or arithmetic forbids."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext('billing-schedule:' || $1))", community_id
    )
    history = await load_history(conn, community_id)
    previous = history.versions[-1] if history.versions else None
    version = (previous.version + 1) if previous else 1
    schedule = FeeSchedule(
        stable_id("sch", community_id, version),
        version,
        published_on,
        effective_from,
        approval_ref,
        items,
        pricing_type,
        service_level,
        legal_basis,
        complaint_line,
    )
    validate_schedule(schedule, previous=previous)
    if not pricing_type.strip():
        raise ScheduleError("pricing_type: required (e.g. 政府指导价 or 市场调节价)")
    await conn.execute(
        "INSERT INTO fee_schedules (schedule_id, community_id, version, published_on, "
        "effective_from, approval_ref, pricing_type, service_level, legal_basis, complaint_line) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        schedule.schedule_id,
        community_id,
        version,
        published_on,
        effective_from,
        approval_ref,
        pricing_type,
        service_level,
        legal_basis,
        complaint_line,
    )
    await conn.executemany(
        "INSERT INTO fee_items (schedule_id, code, name, kind, unit_type, rate_fen, pass_through, "
        "supplier_tariff_fen, tariff_source) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        [
            (
                schedule.schedule_id,
                i.code,
                i.name,
                i.kind,
                i.unit_type,
                i.rate_fen,
                i.pass_through,
                i.supplier_tariff_fen,
                i.tariff_source or None,
            )
            for i in items
        ],
    )
    return schedule
