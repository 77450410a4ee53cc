"""What staff read: cases, a case's escalations and pauses, tasks, work queues, limitation
clocks and the community settings. Every list is filtered in SQL by the caller's scope
(``principal.sql_scope()``) and, for the legal role, to the legal track; every list is read a
page at a time by keyset (``after``: the sort key of the last row served, ``limit``: how
many rows), never by offset."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from dunning.adapters.policies import EFFECTIVE_POLICY_ID
from dunning.adapters.sweep_sql import DEFAULT_LATE_FEE_DE_MINIMIS_FEN
from dunning.domain.policy import Policy
from dunning.errors import NotFound
from dunning.service_layer import scope
from dunning.service_layer.scope import legal_case_sql, legal_only, legal_sql, scope_sql
from propfee.aging import bucket_sql
from propfee.auth import Principal
from propfee.business_time import utc_now

#: A key no row sorts before (keyset paging's first page).
_NO_KEY = None


def _case_select(as_of: int) -> str:
    """A case with what it owes now, read from its open receivables (one home: the list, the
    totals, the export and a single case read it alike): ``outstanding_fen``, the oldest
    unpaid due date, days overdue and aging bucket as of the date ``$as_of`` (the buckets of
    ``propfee.aging``, billing's report's), its building and the fee items owed."""
    days = f"(${as_of}::date - o.oldest_unpaid_due_date)"
    return (
        "SELECT c.case_id, c.unit_id, c.community_id, c.payer_party_id, c.status, c.on_hold, "
        "c.hold_payment_id, c.opened_at, c.closed_at, c.stage, c.stage_entered_at, c.tier, "
        "c.oldest_due_date, c.room_label, c.owner_staff_id, c.assigned_to, c.assigned_role, "
        "c.deferred_until, c.deferred_reason, c.legal_since, "
        "o.outstanding_fen, o.oldest_unpaid_due_date, o.fee_items, "
        f"{days} AS days_overdue, {bucket_sql(days)} AS aging_bucket, "
        "(SELECT b.building_id FROM receivables b WHERE b.unit_id = c.unit_id "
        "  AND b.building_id IS NOT NULL LIMIT 1) AS building_id, "
        "EXISTS (SELECT 1 FROM pauses p WHERE p.case_id = c.case_id AND p.resolved_at IS NULL "
        "  AND p.scope = 'case' AND p.ends_at > now()) AS paused "
        "FROM arrears_cases c CROSS JOIN LATERAL (SELECT "
        "  coalesce(sum(coalesce(r.principal_outstanding_fen, r.total_fen) "
        "    + r.late_fee_outstanding_fen), 0)::bigint AS outstanding_fen, "
        "  min(r.due_date) FILTER (WHERE coalesce(r.principal_outstanding_fen, r.total_fen) "
        "    + r.late_fee_outstanding_fen > 0) AS oldest_unpaid_due_date, "
        "  coalesce((SELECT array_agg(DISTINCT f ORDER BY f) FROM receivables r2, "
        "    unnest(r2.fee_items) f WHERE r2.unit_id = c.unit_id "
        "    AND r2.payer_party_id = c.payer_party_id AND r2.issued AND NOT r2.settled), "
        "    '{}') AS fee_items "
        "  FROM receivables r WHERE r.unit_id = c.unit_id "
        "  AND r.payer_party_id = c.payer_party_id AND r.issued AND NOT r.settled) o"
    )


def _key(after: list[Any] | None, size: int) -> list[Any]:
    return list(after) if after is not None else [_NO_KEY] * size


CaseSort = Literal["opened_at", "-outstanding_fen", "oldest_unpaid_due_date", "room_label"]


@dataclass(frozen=True)
class _SortKey:
    sql: str
    type: str
    parse: Callable[[Any], Any]
    of: Callable[[Mapping[str, Any]], Any]


#: Each order of the case list: its key in SQL (ascending; ties broken by ``case_id``), the
#: key's type, how a cursor's value is read back and the key of a served row.
SORTS: dict[str, _SortKey] = {
    "opened_at": _SortKey(
        "q.opened_at", "timestamptz", datetime.fromisoformat, lambda c: c["opened_at"].isoformat()
    ),
    "-outstanding_fen": _SortKey(
        "-q.outstanding_fen", "bigint", int, lambda c: -int(c["outstanding_fen"])
    ),
    "oldest_unpaid_due_date": _SortKey(
        "coalesce(q.oldest_unpaid_due_date, '9999-12-31'::date)",
        "date",
        date.fromisoformat,
        lambda c: (c["oldest_unpaid_due_date"] or date(9999, 12, 31)).isoformat(),
    ),
    "room_label": _SortKey(
        "coalesce(q.room_label, '')", "text", str, lambda c: c["room_label"] or ""
    ),
}


@dataclass(frozen=True)
class CaseFilter:
    """What the case list, its totals and its export keep (None: any)."""

    unit_id: str | None = None
    status: str | None = None
    community_id: str | None = None
    tier: str | None = None
    stage: str | None = None
    assigned_to: str | None = None
    building_id: str | None = None
    fee_item: str | None = None
    aging: str | None = None


def today() -> date:
    """The business date the list ages by (China's time zone, as billing's reports)."""
    return utc_now().astimezone(ZoneInfo("Asia/Shanghai")).date()


def _filtered(principal: Principal, f: CaseFilter, as_of: date) -> tuple[str, list[Any]]:
    """The filtered cases as a subquery ``q`` and its parameters ($1..$13)."""
    company, communities = principal.sql_scope()
    sql = (
        f"SELECT * FROM ({_case_select(1)} "
        "WHERE ($2::text IS NULL OR c.unit_id = $2) AND ($3::text IS NULL OR c.status = $3) "
        "AND ($4::text IS NULL OR c.community_id = $4) AND ($5::text IS NULL OR c.tier = $5) "
        "AND ($6::text IS NULL OR c.stage = $6) AND ($7::text IS NULL OR c.assigned_to = $7) "
        f"AND {scope_sql('c.community_id', 8, 9)} AND {legal_sql('c', 10)}) q "
        "WHERE ($11::text IS NULL OR q.building_id = $11) "
        "AND ($12::text IS NULL OR $12 = ANY(q.fee_items)) "
        "AND ($13::text IS NULL OR q.aging_bucket = $13)"
    )
    params = [
        as_of, f.unit_id, f.status, f.community_id, f.tier, f.stage, f.assigned_to,
        company, communities, legal_only(principal), f.building_id, f.fee_item, f.aging,
    ]  # fmt: skip
    return sql, params


async def list_cases(
    pool: Any, principal: Principal, f: CaseFilter, *, sort: str = "opened_at",
    after: list[Any] | None, limit: int, as_of: date | None = None,
) -> list[Any]:  # fmt: skip
    """Cases in the caller's communities in ``sort`` order (its key, then case_id)."""
    key = SORTS[sort]
    sql, params = _filtered(principal, f, as_of or today())
    value, case_id = _key(after, 2)
    rows = await pool.fetch(
        f"SELECT q.* FROM ({sql}) q WHERE $14::{key.type} IS NULL "
        f"OR ({key.sql}, q.case_id) > ($14::{key.type}, $15::text) "
        f"ORDER BY {key.sql}, q.case_id LIMIT $16",
        *params,
        value,
        case_id,
        limit,
    )
    return list(rows)


async def case_totals(
    pool: Any, principal: Principal, f: CaseFilter, *, as_of: date | None = None
) -> dict[str, Any]:
    """The totals over every case the filter keeps (not a page): cases, households and what
    they owe now."""
    day = as_of or today()
    sql, params = _filtered(principal, f, day)
    row = await pool.fetchrow(
        "SELECT count(*) AS cases, count(DISTINCT q.unit_id) AS households, "
        f"coalesce(sum(q.outstanding_fen), 0)::bigint AS outstanding_fen FROM ({sql}) q",
        *params,
    )
    return {**dict(row), "as_of": day}


async def cases_by_ids(conn: Any, case_ids: list[str], *, as_of: date) -> list[Any]:
    """The cases named (each already resolved through the caller's scope), as the list reads
    them, in the order named."""
    rows = await conn.fetch(f"{_case_select(1)} WHERE c.case_id = ANY($2::text[])", as_of, case_ids)
    order = {case_id: n for n, case_id in enumerate(case_ids)}
    return sorted(rows, key=lambda r: order[r["case_id"]])


async def get_case(pool: Any, principal: Principal, case_id: str) -> Any:
    await scope.case(pool, principal, case_id)
    row = await pool.fetchrow(f"{_case_select(1)} WHERE c.case_id = $2", today(), case_id)
    if row is None:
        raise NotFound(f"case {case_id} not found")
    return row


async def list_escalations(
    pool: Any, principal: Principal, case_id: str, *, after: list[Any] | None, limit: int
) -> list[Any]:
    """The case's escalations in order (key: escalated_at, escalation_id)."""
    await scope.case(pool, principal, case_id)
    at, escalation_id = _key(after, 2)
    rows = await pool.fetch(
        "SELECT escalation_id, stage, cycle, previous_stage, tier, outstanding_fen, "
        "oldest_due_date, invoice_ids, actions, deadline, staff_id, escalated_at "
        "FROM escalations WHERE case_id = $1 AND ($2::timestamptz IS NULL "
        "OR (escalated_at, escalation_id) > ($2, $3::bigint)) "
        "ORDER BY escalated_at, escalation_id LIMIT $4",
        case_id,
        at,
        escalation_id,
        limit,
    )
    return list(rows)


async def list_pauses(
    pool: Any, principal: Principal, case_id: str, *, after: list[Any] | None, limit: int
) -> list[Any]:
    """The case's pauses (key: starts_at, pause_id)."""
    await scope.case(pool, principal, case_id)
    starts, pause_id = _key(after, 2)
    rows = await pool.fetch(
        "SELECT pause_id, scope, invoice_id, reason, owner, starts_at, ends_at, note, "
        "plan_id, resolved_at, resolution FROM pauses WHERE case_id = $1 "
        "AND ($2::timestamptz IS NULL OR (starts_at, pause_id) > ($2, $3::text)) "
        "ORDER BY starts_at, pause_id LIMIT $4",
        case_id,
        starts,
        pause_id,
        limit,
    )
    return list(rows)


async def list_tasks(
    pool: Any, principal: Principal, *, case_id: str | None, assignee: str | None,
    status: str | None, kind: str | None, after: list[Any] | None, limit: int,
    due_by: date | None = None,
) -> list[Any]:  # fmt: skip
    """Tasks in the caller's communities (key: created_at, task_id). ``due_by``: the tasks
    due by that day, the workbench's "due today": a call whose lawful call window (computed
    by the sweep, ``domain/call_windows.py``) opens by then, or a task due on or before it."""
    company, communities = principal.sql_scope()
    created, task_id = _key(after, 2)
    rows = await pool.fetch(
        "SELECT task_id, case_id, community_id, unit_id, kind, stage, reason, source, "
        "status, assignee, window_start, window_end, due_on, notifier_task_id, created_at, "
        "completed_at, (SELECT rc.room_label FROM arrears_cases rc "
        "WHERE rc.case_id = tasks.case_id) AS room_label "
        "FROM tasks WHERE ($1::text IS NULL OR case_id = $1) "
        "AND ($2::text IS NULL OR assignee = $2) AND ($3::text IS NULL OR status = $3) "
        f"AND ($4::text IS NULL OR kind = $4) AND {scope_sql('tasks.community_id', 5, 6)} "
        f"AND {legal_case_sql('tasks.case_id', 7)} "
        "AND ($8::timestamptz IS NULL OR (created_at, task_id) > ($8, $9::text)) "
        f"AND ($11::date IS NULL OR {DUE_BY_SQL}) "
        "ORDER BY created_at, task_id LIMIT $10",
        case_id,
        assignee,
        status,
        kind,
        company,
        communities,
        legal_only(principal),
        created,
        task_id,
        limit,
        due_by,
    )
    return list(rows)


async def list_promises(
    pool: Any, principal: Principal, *, due_by: date | None, status: str | None,
    community_id: str | None, case_id: str | None, assigned_to: str | None,
    after: list[Any] | None, limit: int,
) -> list[Any]:  # fmt: skip
    """Promises to pay of the caller's cases (the legal role: of legal-track cases), the
    soonest promised first (key: promised_date, promise_id). ``due_by``: promised on or
    before that day (the workbench's "promises falling due": with ``status=open``, due today
    or overdue and not yet kept or broken). 404 for a community or case outside the
    caller's scope."""
    if community_id is not None:
        await scope.community(pool, principal, community_id)
    if case_id is not None:
        await scope.case(pool, principal, case_id)
    company, communities = principal.sql_scope()
    promised, promise_id = _key(after, 2)
    rows = await pool.fetch(
        "SELECT p.promise_id, p.case_id, c.community_id, c.unit_id, c.room_label, "
        "p.amount_fen, p.promised_date, p.signed, p.staff_id, p.status, p.made_at, "
        "p.closed_at, c.assigned_to "
        "FROM promises p JOIN arrears_cases c USING (case_id) "
        "WHERE ($1::date IS NULL OR p.promised_date <= $1) "
        "AND ($2::text IS NULL OR p.status = $2) AND ($3::text IS NULL OR c.community_id = $3) "
        "AND ($4::text IS NULL OR p.case_id = $4) AND ($5::text IS NULL OR c.assigned_to = $5) "
        f"AND {scope_sql('c.community_id', 6, 7)} AND {legal_sql('c', 8)} "
        "AND ($9::date IS NULL OR (p.promised_date, p.promise_id) > ($9, $10::text)) "
        "ORDER BY p.promised_date, p.promise_id LIMIT $11",
        due_by,
        status,
        community_id,
        case_id,
        assigned_to,
        company,
        communities,
        legal_only(principal),
        promised,
        promise_id,
        limit,
    )
    return list(rows)


#: The time zone of a task's community's policy (the zone its call window was computed in);
#: the built-in default's when no policy is stored yet.
_TASK_ZONE = (
    "coalesce((SELECT tz.time_zone FROM policies tz WHERE tz.policy_id = "
    + EFFECTIVE_POLICY_ID.replace("$1", "tasks.community_id").replace("$2", "NULL::text")
    + f"), '{Policy.model_fields['time_zone'].default}')"
)
#: A task due by ``$11`` (a date): a call whose window opens by the end of that day (the
#: window's local date, in its policy's zone), or another task due on or before it.
DUE_BY_SQL = (
    "(CASE WHEN tasks.window_start IS NOT NULL "
    f"THEN (tasks.window_start AT TIME ZONE {_TASK_ZONE})::date <= $11 "
    "ELSE tasks.due_on <= $11 END)"
)


async def work_queue(
    pool: Any, principal: Principal, staff_id: str, *, after: list[Any] | None, limit: int
) -> list[Any]:
    """A person's open cases, most valuable first: tier (red, yellow, green, current), then
    what is owed, with the open tasks on each (key: -tier rank, -outstanding, case_id)."""
    company, communities = principal.sql_scope()
    rank, owed, case_id = _key(after, 3)
    rows = await pool.fetch(
        "SELECT * FROM (SELECT c.case_id, c.unit_id, c.community_id, c.payer_party_id, "
        "c.room_label, c.tier, c.stage, c.outstanding_fen, c.oldest_due_date, "
        "c.owner_staff_id = $1 AS owner, "
        "-CASE c.tier WHEN 'red' THEN 3 WHEN 'yellow' THEN 2 WHEN 'green' THEN 1 "
        "ELSE 0 END AS rank_key, "
        "coalesce((SELECT json_agg(json_build_object('task_id', t.task_id, 'kind', t.kind, "
        "  'window_start', t.window_start, 'window_end', t.window_end, 'due_on', t.due_on) "
        "  ORDER BY t.created_at) FROM tasks t WHERE t.case_id = c.case_id "
        "  AND t.status = 'open'), '[]') AS tasks "
        "FROM arrears_cases c WHERE c.status = 'open' "
        "AND (c.assigned_to = $1 OR c.owner_staff_id = $1) "
        f"AND {scope_sql('c.community_id', 2, 3)} AND {legal_sql('c', 4)}) q "
        "WHERE $5::integer IS NULL OR (q.rank_key, -q.outstanding_fen, q.case_id) "
        "  > ($5, $6::bigint, $7::text) "
        "ORDER BY q.rank_key, -q.outstanding_fen, q.case_id LIMIT $8",
        staff_id,
        company,
        communities,
        legal_only(principal),
        rank,
        owed,
        case_id,
        limit,
    )
    return list(rows)


async def limitation_by_community(
    pool: Any, principal: Principal, *, as_of: date, within_days: int,
    after: list[Any] | None, limit: int,
) -> list[Any]:  # fmt: skip
    """Per community (key: community_id): open invoices whose limitation period ends within
    ``within_days`` of ``as_of`` or has ended, counted, with the amount."""
    company, communities = principal.sql_scope()
    (community_id,) = _key(after, 1)
    rows = await pool.fetch(
        "SELECT community_id, count(*) AS invoices, "
        "count(*) FILTER (WHERE limitation_expires_on < $1) AS voluntary_only, "
        "sum(coalesce(principal_outstanding_fen, total_fen))::bigint AS outstanding_fen, "
        "min(limitation_expires_on) AS earliest_expiry FROM receivables "
        "WHERE issued AND NOT settled AND limitation_expires_on <= $1 + $2::integer "
        f"AND {scope_sql('receivables.community_id', 3, 4)} "
        "AND ($5::text IS NULL OR community_id > $5) "
        "GROUP BY community_id ORDER BY community_id LIMIT $6",
        as_of,
        within_days,
        company,
        communities,
        community_id,
        limit,
    )
    return list(rows)


async def limitation_clocks(
    pool: Any, principal: Principal, *, as_of: date, within_days: int,
    after: list[Any] | None, limit: int,
) -> list[Any]:  # fmt: skip
    """Open invoices whose limitation period ends within ``within_days`` of ``as_of`` or has
    ended, one by one (key: limitation_expires_on, invoice_id)."""
    company, communities = principal.sql_scope()
    expires, invoice_id = _key(after, 2)
    rows = await pool.fetch(
        "SELECT invoice_id, unit_id, community_id, due_date, limitation_expires_on, "
        "limitation_expires_on < $1 AS voluntary_only FROM receivables "
        "WHERE issued AND NOT settled AND limitation_expires_on <= $1 + $2::integer "
        f"AND {scope_sql('receivables.community_id', 3, 4)} "
        "AND ($5::date IS NULL OR (limitation_expires_on, invoice_id) > ($5, $6::text)) "
        "ORDER BY limitation_expires_on, invoice_id LIMIT $7",
        as_of,
        within_days,
        company,
        communities,
        expires,
        invoice_id,
        limit,
    )
    return list(rows)


async def community_settings(pool: Any, principal: Principal, community_id: str) -> int:
    """The community's late-fee de-minimis (fen; the default when it has set none)."""
    async with pool.acquire() as conn:
        await scope.community(conn, principal, community_id)
        fen = await conn.fetchval(
            "SELECT late_fee_de_minimis_fen FROM community_settings WHERE community_id = $1",
            community_id,
        )
    return int(fen or DEFAULT_LATE_FEE_DE_MINIMIS_FEN)
