"""Publishing fee schedules and reading their history."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg

from billing.domain.schedule import (
    MIN_NOTICE,
    FeeItem,
    FeeSchedule,
    NoticeTooShort,
    ScheduleError,
    ScheduleHistory,
    validate_import,
    validate_schedule,
)
from billing.errors import InvalidInput
from billing.service_layer.ids import stable_id
from billing.service_layer.registry import Conflict
from propfee import audit
from propfee.auth import Principal
from propfee.problems import Forbidden


def _decimal(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


async def load_history(
    conn: asyncpg.Connection,
    community_id: str,
    *,
    after_version: int | None = None,
    limit: int | None = None,
) -> ScheduleHistory:
    """Every version oldest first; or, for a page, ``limit`` versions after ``after_version``
    (keyset on the version number)."""
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
        "WHERE s.community_id = $1 AND ($2::int IS NULL OR s.version > $2) "
        "GROUP BY s.schedule_id ORDER BY s.version LIMIT $3",
        community_id,
        after_version,
        limit,
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


@dataclass(frozen=True)
class VersionIn:
    """A version to record: what the schedule says, with its publication date."""

    published_on: date
    effective_from: date
    approval_ref: str
    items: tuple[FeeItem, ...]
    pricing_type: str
    service_level: str = ""
    legal_basis: str = ""
    complaint_line: str = ""


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
    """Publish the next version, recorded on ``published_on`` (the caller decides the day:
    the community's today, or the simulation clock's, ``recording_date``); refuse what the
    law or arithmetic forbids."""
    await _lock(conn, community_id)
    history = await load_history(conn, community_id)
    previous = history.versions[-1] if history.versions else None
    new = VersionIn(
        published_on,
        effective_from,
        approval_ref,
        items,
        pricing_type,
        service_level,
        legal_basis,
        complaint_line,
    )
    schedule = _schedule(community_id, (previous.version + 1) if previous else 1, new)
    try:
        validate_schedule(schedule, previous=previous)
    except NoticeTooShort as exc:
        # The refusal says when the version may take effect, machine-readably (the console
        # offers that day): ``earliest_effective_from``, with the day of recording.
        raise InvalidInput(
            str(exc),
            earliest_effective_from=exc.earliest.isoformat(),
            published_on=exc.published_on.isoformat(),
            notice_days=MIN_NOTICE.days,
        ) from exc
    await _insert(conn, community_id, [schedule], "published", None)
    return schedule


async def import_schedules(
    conn: asyncpg.Connection,
    community_id: str,
    versions: Sequence[VersionIn],
    *,
    approval_ref: str,
    imported_by: str,
    today: date,
) -> list[FeeSchedule]:
    """Record the schedules the community had before it came to Propfee, oldest first, with
    their original dates: once, and only before any version is recorded (409 otherwise).
    Who may (a company-level role) and the audit record are the caller's."""
    if not approval_ref.strip():
        raise ScheduleError("approval_ref: an import carries its approval reference")
    await _lock(conn, community_id)
    done = await conn.fetchrow(
        "SELECT approval_ref, imported_at FROM fee_schedule_imports WHERE community_id = $1",
        community_id,
    )
    if done is not None:
        raise Conflict(
            f"community {community_id}: its schedules before Propfee were imported on "
            f"{done['imported_at']:%Y-%m-%d} ({done['approval_ref']}); an import happens once"
        )
    recorded = await conn.fetchval(
        "SELECT count(*) FROM fee_schedules WHERE community_id = $1", community_id
    )
    if recorded:
        raise Conflict(
            f"community {community_id}: {recorded} schedule version(s) already recorded in "
            "Propfee; the schedules before Propfee are imported before the first one"
        )
    schedules = [_schedule(community_id, n, v) for n, v in enumerate(versions, start=1)]
    validate_import(schedules, today)
    for n, v in enumerate(versions):
        if not v.pricing_type.strip():
            raise ScheduleError(f"versions[{n}].pricing_type: required")
    await conn.execute(
        "INSERT INTO fee_schedule_imports (community_id, approval_ref, versions, imported_by) "
        "VALUES ($1, $2, $3, $4)",
        community_id,
        approval_ref,
        len(schedules),
        imported_by,
    )
    await _insert(conn, community_id, schedules, "imported", approval_ref)
    return schedules


async def _lock(conn: asyncpg.Connection, community_id: str) -> None:
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext('billing-schedule:' || $1))", community_id
    )


def _schedule(community_id: str, version: int, new: VersionIn) -> FeeSchedule:
    return FeeSchedule(
        stable_id("sch", community_id, version),
        version,
        new.published_on,
        new.effective_from,
        new.approval_ref,
        new.items,
        new.pricing_type,
        new.service_level,
        new.legal_basis,
        new.complaint_line,
    )


async def _insert(
    conn: asyncpg.Connection,
    community_id: str,
    schedules: Sequence[FeeSchedule],
    recorded_as: str,
    import_ref: str | None,
) -> None:
    for schedule in schedules:
        if not schedule.pricing_type.strip():
            raise ScheduleError("pricing_type: required (e.g. 政府指导价 or 市场调节价)")
    await conn.executemany(
        "INSERT INTO fee_schedules (schedule_id, community_id, version, published_on, "
        "effective_from, approval_ref, pricing_type, service_level, legal_basis, complaint_line, "
        "recorded_as, import_ref) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        [
            (
                s.schedule_id,
                community_id,
                s.version,
                s.published_on,
                s.effective_from,
                s.approval_ref,
                s.pricing_type,
                s.service_level,
                s.legal_basis,
                s.complaint_line,
                recorded_as,
                import_ref,
            )
            for s in schedules
        ],
    )
    await conn.executemany(
        "INSERT INTO fee_items (schedule_id, code, name, kind, unit_type, rate_fen, pass_through, "
        "supplier_tariff_fen, tariff_source) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        [
            (
                s.schedule_id,
                i.code,
                i.name,
                i.kind,
                i.unit_type,
                i.rate_fen,
                i.pass_through,
                i.supplier_tariff_fen,
                i.tariff_source or None,
            )
            for s in schedules
            for i in s.items
        ],
    )


async def publish_audited(
    conn: asyncpg.Connection,
    principal: Principal,
    community_id: str,
    company_id: str,
    new: VersionIn,
    request: dict[str, Any],
) -> FeeSchedule:
    """``publish_schedule`` with its audit row (``request``: the version as sent)."""
    schedule = await publish_schedule(conn, community_id, **new.__dict__)
    await audit.record(
        conn,
        principal,
        "fee_schedule.published",
        "fee_schedule",
        schedule.schedule_id,
        community_id=community_id,
        company_id=company_id,
        after={"version": schedule.version, **request, "published_on": new.published_on},
        reason=new.approval_ref,
    )
    return schedule


async def import_audited(
    conn: asyncpg.Connection,
    principal: Principal,
    community_id: str,
    company_id: str,
    versions: Sequence[VersionIn],
    requests: Sequence[dict[str, Any]],
    *,
    approval_ref: str,
    today: date,
) -> list[FeeSchedule]:
    """``import_schedules`` by a company-level role only (403 otherwise), audited."""
    if not principal.company_level:
        raise Forbidden(
            "the schedules before Propfee are imported by a company admin for every "
            'community (communities "*") or the service role'
        )
    schedules = await import_schedules(
        conn,
        community_id,
        versions,
        approval_ref=approval_ref,
        imported_by=principal.subject,
        today=today,
    )
    await audit.record(
        conn,
        principal,
        "fee_schedule.imported",
        "fee_schedule_import",
        community_id,
        community_id=community_id,
        company_id=company_id,
        after={
            "versions": [
                {"schedule_id": s.schedule_id, "version": s.version, **v}
                for s, v in zip(schedules, requests, strict=True)
            ]
        },
        reason=approval_ref,
    )
    return schedules
