"""Importing a community's ledger (台账): validation first, then a few set-based statements.

Nothing is imported from a file with errors unless the caller accepts the good rows. Units are
matched by their natural key (community + building/entrance/room), so importing the same file
again finds everything and changes nothing; a new unit's id is random (never derivable from
the room). Opening arrears become one invoice per unpaid
month (due on its last day), published like any other invoice, issued at ``opening_as_of``:
their interest runs only from the day after the import's as-of date (the day after max(due,
issue)), never from the old months' due dates. Late fees the old system already charged
(期初违约金) become one invoice of kind ``opening_late_fee``, a fixed amount that bears no late
fee of its own and is never recomputed.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from billing.domain.calendar import add_months, month_end, month_start
from billing.domain.handover import initial_ties
from billing.domain.ledger import (
    LedgerParseResult,
    LedgerRow,
    RejectedRow,
    RowError,
    parse_ledger,
)
from billing.errors import InvalidInput, NotFound
from billing.service_layer import visibility
from billing.service_layer.ids import new_id, stable_id
from billing.service_layer.invoices import copy_invoices
from billing.service_layer.issuing import late_fee_contract, liable_parties, owners_on
from billing.service_layer.registry import (
    PartyIn,
    contacts_event,
    developer_party,
    match_people,
    upsert_party,
)
from propfee import audit
from propfee.auth import Principal
from propfee.business_time import BusinessTimeRefused, acts_on_own_clock, utc_now
from propfee.events import Event, InvoiceIssued, InvoiceLine
from propfee.labels import room_label_of_key
from propfee.money import Money
from propfee.outbox import add_events
from propfee.problems import FieldProblem
from propfee.uploads import UploadLimits

ARREARS_INVOICE_COLUMNS = (
    "invoice_id",
    "community_id",
    "building_id",
    "unit_id",
    "payer_party_id",
    "kind",
    "period_start",
    "period_end",
    "due_date",
    "total_fen",
    "issued_at",
)


@dataclass
class ImportReport:
    total_rows: int
    errors: list[RowError]
    warnings: list[str]
    imported: bool
    units_created: int = 0
    units_existing: int = 0
    parties_created: int = 0
    arrears_invoices: int = 0
    arrears_fen: int = 0
    columns: dict[str, str] = field(default_factory=dict)
    #: The rows with errors as uploaded (``domain.ledger.RejectedRow``), to show beside them.
    rejected_rows: list[RejectedRow] = field(default_factory=list)


async def import_ledger(
    pool: asyncpg.Pool,
    community_id: str,
    data: bytes,
    filename: str,
    *,
    opening_as_of: date,
    accept_good_rows: bool = False,
    on_imported: Callable[[asyncpg.Connection, ImportReport], Awaitable[None]] | None = None,
    limits: UploadLimits | None = None,
) -> ImportReport:
    """``on_imported`` runs inside the import's transaction (the audit trail's hook); a file
    past ``limits`` raises ``UploadRefused`` (413 or 422) before any row is parsed."""
    parsed: LedgerParseResult = await asyncio.to_thread(parse_ledger, data, filename, limits)
    report = ImportReport(
        parsed.total_rows,
        parsed.errors,
        parsed.warnings,
        False,
        columns=parsed.columns,
        rejected_rows=parsed.rejected,
    )
    if parsed.errors and not accept_good_rows:
        return report
    if opening_as_of != month_start(opening_as_of):
        raise InvalidInput("opening_as_of: must be the first day of a month")
    async with pool.acquire() as conn, conn.transaction():
        community = await conn.fetchrow(
            "SELECT community_id, time_zone FROM communities WHERE community_id = $1", community_id
        )
        if community is None:
            raise NotFound(f"community {community_id} does not exist")
        tz = ZoneInfo(community["time_zone"])
        at = datetime.combine(opening_as_of, time(0), tz).astimezone(UTC)
        await _write(conn, community_id, parsed.rows, opening_as_of, at, report)
        await conn.execute(
            "INSERT INTO ledger_imports (import_id, community_id, file_sha256, filename, "
            "rows_total, rows_imported, rows_rejected) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            stable_id("imp", community_id, datetime.now(UTC).isoformat()),
            community_id,
            hashlib.sha256(data).hexdigest(),
            filename,
            parsed.total_rows,
            report.units_created,
            len({e.row for e in parsed.errors}),
        )
        report.imported = True
        if on_imported is not None:
            await on_imported(conn, report)
    report.imported = True
    return report


class LedgerRejected(InvalidInput):
    """A ledger with bad rows, nothing imported (422): ``errors[]`` names each row and
    column (``field``) with the reason; the report's counts are extension members."""


async def import_ledger_as(
    pool: asyncpg.Pool,
    principal: Principal,
    community_id: str,
    data: bytes,
    filename: str,
    *,
    opening_as_of: date,
    accept_good_rows: bool,
    limits: UploadLimits | None,
) -> ImportReport:
    """The import as a caller asks for it: in their scope, ``opening_as_of`` not ahead of
    next month's first day for staff (403; the ledger's past is the old system's history),
    audited in the import's transaction. A ledger with errors imports nothing unless
    ``accept_good_rows``: ``LedgerRejected``."""
    company_id = await visibility.community(pool, principal, community_id)
    zone = ZoneInfo(await visibility.time_zone(pool, community_id))
    today = utc_now().astimezone(zone).date()
    limit = add_months(month_start(today), 1)
    if opening_as_of > limit and not acts_on_own_clock(principal):
        raise BusinessTimeRefused(f"opening_as_of: may not be later than {limit}")

    async def audited(conn: asyncpg.Connection, report: ImportReport) -> None:
        summary = asdict(report)
        summary.pop("errors")
        summary.pop("rejected_rows")  # the rows' cells stay out of the audit trail
        summary["rows_rejected"] = len({e.row for e in report.errors})
        await audit.record(
            conn,
            principal,
            "ledger.imported",
            "ledger_import",
            filename,
            community_id=community_id,
            company_id=company_id,
            after=summary,
        )

    report = await import_ledger(
        pool,
        community_id,
        data,
        filename,
        opening_as_of=opening_as_of,
        accept_good_rows=accept_good_rows,
        on_imported=audited,
        limits=limits,
    )
    if not report.imported:
        rows = len({e.row for e in report.errors})
        summary = asdict(report)
        summary.pop("errors")
        raise LedgerRejected(
            f"{rows} row(s) of the ledger have errors: nothing imported (fix them, or send "
            "accept_good_rows=true to import the others)",
            errors=[
                FieldProblem(field=e.column or "row", reason=e.reason, row=e.row)
                for e in report.errors
            ],
            **summary,
        )
    return report


async def _write(
    conn: asyncpg.Connection,
    community_id: str,
    rows: list[LedgerRow],
    opening_as_of: date,
    at: datetime,
    report: ImportReport,
) -> None:
    buildings = sorted({r.building for r in rows})
    building_ids = {b: stable_id("bld", community_id, b) for b in buildings}
    await conn.execute(
        "INSERT INTO buildings (building_id, community_id, name) "
        "SELECT i, $1, n FROM unnest($2::text[], $3::text[]) AS x(i, n) ON CONFLICT DO NOTHING",
        community_id,
        [building_ids[b] for b in buildings],
        buildings,
    )
    # New units get random ids; a unit already registered (a re-import, a unit created over
    # the API) is found by its natural key, the community and building/entrance/room.
    proposed = {r.unit_key: new_id("unit") for r in rows}
    created = await conn.fetch(
        "INSERT INTO units (unit_id, community_id, building_id, entrance, room, unit_key, "
        "unit_type, floor_area_m2, status, handover_date) "
        "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], "
        "$6::text[], $7::text[], $8::numeric[], $9::text[], $10::date[]) "
        "ON CONFLICT DO NOTHING RETURNING unit_key",
        [proposed[r.unit_key] for r in rows],
        [community_id] * len(rows),
        [building_ids[r.building] for r in rows],
        [r.entrance for r in rows],
        [r.room for r in rows],
        [r.unit_key for r in rows],
        [r.unit_type for r in rows],
        [r.floor_area_m2 for r in rows],
        [r.status for r in rows],
        [r.handover_date for r in rows],
    )
    new_keys = {c["unit_key"] for c in created}
    unit_ids: dict[str, str] = dict(
        await conn.fetch(
            "SELECT unit_key, unit_id FROM units WHERE community_id = $1 "
            "AND unit_key = ANY($2::text[])",
            community_id,
            list(proposed),
        )
    )
    report.units_created = len(new_keys)
    report.units_existing = len(rows) - len(new_keys)
    new_rows = [r for r in rows if r.unit_key in new_keys]
    events: list[tuple[Event, str, str]] = []
    links: list[tuple[str, str, str, bool, date, date | None]] = []
    developer = developer_party(community_id)
    assert developer.party_id is not None
    # Who pays from when (the developer through the month of handover, then the owner or
    # tenant): the rule's one home is billing.domain.handover.
    ties = {
        r.unit_key: initial_ties(
            status=r.status,
            payer=r.payer,
            handover_date=r.handover_date,
            has_owner=bool(r.owner_name or r.owner_phone),
            has_tenant=bool(r.tenant_name or r.tenant_phone),
        )
        for r in new_rows
    }
    developer_created = False
    if any(t.role == "developer" for unit_ties in ties.values() for t in unit_ties):
        developer_created = await upsert_party(conn, developer, developer.party_id, at)
    parties: list[tuple[str, PartyIn]] = []
    for r in new_rows:
        party_of = {"developer": developer.party_id}
        if r.owner_name or r.owner_phone:
            owner = PartyIn(community_id, "owner", name=r.owner_name, phone=r.owner_phone)
            party_of["owner"] = stable_id("pty", community_id, r.unit_key, "owner")
            parties.append((party_of["owner"], owner))
        if r.tenant_name or r.tenant_phone:
            tenant = PartyIn(community_id, "tenant", name=r.tenant_name, phone=r.tenant_phone)
            party_of["tenant"] = stable_id("pty", community_id, r.unit_key, "tenant", r.tenant_name)
            parties.append((party_of["tenant"], tenant))
        unit_id = unit_ids[r.unit_key]
        links += [
            (unit_id, party_of[t.role], t.role, t.pays, t.valid_from, t.valid_to)
            for t in ties[r.unit_key]
        ]
    # One person is one party (issue 18 rule 12): an owner of three flats (the same verified
    # phone) is one party, matched within the file and to the community's existing parties.
    same = await match_people(conn, community_id, [(pid, p.phone) for pid, p in parties])
    links = [
        (u, same.get(pid, pid), role, pays, since, until)
        for u, pid, role, pays, since, until in links
    ]
    parties = [(pid, p) for pid, p in parties if same[pid] == pid]
    inserted = await conn.fetch(
        "INSERT INTO parties (party_id, community_id, kind, name, phone) "
        "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) "
        "ON CONFLICT DO NOTHING RETURNING party_id",
        [p for p, _ in parties],
        [community_id] * len(parties),
        [p.kind for _, p in parties],
        [p.name for _, p in parties],
        [p.phone for _, p in parties],
    )
    fresh = {r["party_id"] for r in inserted}
    report.parties_created = len(fresh) + developer_created
    events += [(contacts_event(p, pid, at), pid, pid) for pid, p in parties if pid in fresh]
    await conn.execute(
        "INSERT INTO unit_parties (unit_id, party_id, role, pays, valid_from, valid_to) "
        "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bool[], $5::date[], "
        "$6::date[]) ON CONFLICT DO NOTHING",
        *[list(col) for col in zip(*links, strict=True)] if links else [[]] * 6,
    )
    spaces = [(r.parking_space, unit_ids[r.unit_key]) for r in new_rows if r.parking_space]
    await conn.execute(
        "INSERT INTO parking_spaces (community_id, space_id, unit_id) "
        "SELECT $1, s, u FROM unnest($2::text[], $3::text[]) AS x(s, u) ON CONFLICT DO NOTHING",
        community_id,
        [s for s, _ in spaces],
        [u for _, u in spaces],
    )
    vacant = [unit_ids[r.unit_key] for r in new_rows if r.status == "vacant"]
    await conn.execute(
        "INSERT INTO vacancies (unit_id, registered_on) SELECT u, $2 FROM unnest($1::text[]) u "
        "ON CONFLICT DO NOTHING",
        vacant,
        opening_as_of,
    )
    payer_of = {link[0]: link[1] for link in links if link[3]}
    events += await _opening_arrears(
        conn, community_id, new_rows, unit_ids, building_ids, payer_of, opening_as_of, at, report
    )
    if events:
        await add_events(conn, events, time=at)


async def _opening_arrears(
    conn: asyncpg.Connection,
    community_id: str,
    rows: list[LedgerRow],
    unit_ids: dict[str, str],
    building_ids: dict[str, str],
    payer_of: dict[str, str],
    opening_as_of: date,
    at: datetime,
    report: ImportReport,
) -> list[tuple[Event, str, str]]:
    """Split each household's opening arrears evenly over its unpaid months; its opening late
    fee (if any) is one more invoice. All are issued at ``at`` (opening_as_of)."""
    invoices, lines = [], []
    events: list[tuple[Event, str, str]] = []
    contract = await late_fee_contract(conn, community_id)
    owners = await owners_on(conn, list(unit_ids.values()), opening_as_of)
    for r in rows:
        unit_id = unit_ids[r.unit_key]
        payer = payer_of.get(unit_id)
        if payer is None:
            continue
        if r.opening_late_fee_fen:
            invoice_id = stable_id("inv", "opening-late-fee", unit_id, opening_as_of)
            due = opening_as_of - timedelta(days=1)
            start = add_months(opening_as_of, -1)
            description = "期初违约金（原系统已计，不再计息）"
            fen = r.opening_late_fee_fen
            invoices.append(
                (
                    invoice_id,
                    community_id,
                    building_ids[r.building],
                    unit_id,
                    payer,
                    "opening_late_fee",
                    start,
                    due,
                    due,
                    fen,
                    at,
                )
            )
            lines.append((invoice_id, 1, "opening_late_fee", description, 1, fen, fen))
            event = InvoiceIssued(
                invoice_id=invoice_id,
                community_id=community_id,
                building_id=building_ids[r.building],
                unit_id=unit_id,
                payer_party_id=payer,
                period_start=start,
                period_end=due,
                due_date=due,
                lines=[
                    InvoiceLine(
                        fee_item="opening_late_fee",
                        description=description,
                        quantity="1",
                        unit_price_fen=fen,
                        amount_fen=fen,
                    )
                ],
                total_fen=fen,
                issued_at=at,
                room_label=room_label_of_key(r.unit_key),
                kind="opening_late_fee",
                collection="property",
                liable_party_ids=liable_parties(payer, owners.get(unit_id)),
                interest_from=None,  # a fixed amount: it bears no late fee
            )
            events.append((event, unit_id, invoice_id))
            report.arrears_invoices += 1
            report.arrears_fen += fen
        if not r.opening_arrears_fen or r.arrears_first_month is None:
            continue
        months = []
        month = r.arrears_first_month
        while month < opening_as_of:
            months.append(month)
            month = add_months(month, 1)
        if not months:
            months = [add_months(opening_as_of, -1)]
        for month, part in zip(
            months, Money(r.opening_arrears_fen).split([1] * len(months)), strict=True
        ):
            invoice_id = stable_id("inv", "opening", unit_id, month)
            due = month_end(month)
            description = f"期初欠费 {month:%Y-%m}"
            invoices.append(
                (
                    invoice_id,
                    community_id,
                    building_ids[r.building],
                    unit_id,
                    payer,
                    "opening_arrears",
                    month,
                    due,
                    due,
                    part.fen,
                    at,
                )
            )
            lines.append((invoice_id, 1, "opening_arrears", description, 1, part.fen, part.fen))
            event = InvoiceIssued(
                invoice_id=invoice_id,
                community_id=community_id,
                building_id=building_ids[r.building],
                unit_id=unit_id,
                payer_party_id=payer,
                period_start=month,
                period_end=due,
                due_date=due,
                lines=[
                    InvoiceLine(
                        fee_item="opening_arrears",
                        description=description,
                        quantity="1",
                        unit_price_fen=part.fen,
                        amount_fen=part.fen,
                    )
                ],
                total_fen=part.fen,
                issued_at=at,
                room_label=room_label_of_key(r.unit_key),
                kind="opening_arrears",
                collection="property",
                # Never back-dated: issued at opening_as_of, interest only from the next day.
                liable_party_ids=liable_parties(payer, owners.get(unit_id)),
                interest_from=contract.interest_from(due, at),
            )
            events.append((event, unit_id, invoice_id))
            report.arrears_invoices += 1
            report.arrears_fen += part.fen
    await copy_invoices(conn, invoices, ARREARS_INVOICE_COLUMNS, lines)
    return events
