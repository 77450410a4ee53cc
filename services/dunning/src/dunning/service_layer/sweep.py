"""The sweep: as of one instant, move every due case to its next stage, set-based.

A sweep is a run of work items (migration 0015): ``plan_sweep`` writes them, and any dunning
replica claims one (``FOR UPDATE SKIP LOCKED``: the claim's row lock lasts the item's
transaction) and does it in one transaction: escalations, outbox events and the item marked
done commit together, so a replica that dies mid-item leaves it to the next claimer. An item
is the cases of a range of payer slots: every case of one person is judged by one item (the
reminder cap counts the person, one combined reminder per occasion, issue 18 rule 12). Items
of one sweep run in parallel; sweeps run one after another (an item is claimed only from the
oldest sweep with pending items), as the single-transaction sweep did under its lock.

Redoing an item, or the same sweep, changes nothing: the unique key on ``escalations`` and the
``stage_index`` guard make double escalation impossible, and a stage is never due sooner than
a day after the previous one. Quiet hours and the reminder cap defer a reminder
(``deferred_until``) and never drop it: the case stays due and the next sweep after that
instant sends it. The last item done sums the items' results into the sweep's.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from dunning.adapters import joint_liability_sql as j
from dunning.adapters import sweep_escalate_sql as w
from dunning.adapters import sweep_housekeeping_sql as h
from dunning.adapters import sweep_sql as q
from dunning.adapters.policies import ensure_default_policy
from dunning.domain.cadence import QuietHours
from dunning.domain.call_windows import next_call_window
from dunning.service_layer.joint import owner_payloads
from propfee.events import ArrearsCaseResumed, ArrearsEscalated
from propfee.logging import get_logger
from propfee.outbox import RawEvent, add_events, add_raw_events
from propfee.problems import NotFound

log = get_logger(__name__)
#: A statement of a large item may run longer than the pool's default command timeout.
TIMEOUT_S = 900.0
#: Payer slots (``dunning_payer_slot``: 0..4095), split among a sweep's items.
SLOTS = 4096
#: About this many open cases per item. Each item pays a fixed cost (its temporary tables,
#: their statistics, one pass over the open invoices for its hash joins), so larger items cost
#: less per case: 200,000 cases on 2 replicas swept in 59 s with items of 50,000 against 89 s
#: with items of 10,000 (bench/dunning/bench_sweep.py, same machine and load). A million
#: cases still make 20 items to share among replicas.
ITEM_CASES = 50_000
#: An item that failed this many times is given up (the sweep finishes, counting it).
MAX_ATTEMPTS = 3
#: A claimer whose connection hangs mid-item (not closed) gives its claim up after this long
#: idle in its transaction.
IDLE_CLAIM_TIMEOUT = "60s"
#: This process, as it signs the items it does.
WORKER = f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class SweepResult:
    as_of: str
    sweep_id: int | None = None
    items: int = 0
    items_failed: int = 0
    cases: int = 0
    escalated: int = 0
    monthly_reminders: int = 0
    deferred: dict[str, int] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)
    by_stage: dict[str, int] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def add(self, other: dict[str, Any]) -> None:
        """Add an item's result (its ``as_dict``) to this sweep's."""
        self.cases += other.get("cases", 0)
        self.escalated += other.get("escalated", 0)
        self.monthly_reminders += other.get("monthly_reminders", 0)
        for mine, theirs in (
            (self.deferred, other.get("deferred", {})),
            (self.refused, other.get("refused", {})),
            (self.by_stage, other.get("by_stage", {})),
        ):
            for key, n in theirs.items():
                mine[key] = mine.get(key, 0) + n
        for key, s in other.get("timings_s", {}).items():
            self.timings_s[key] = round(self.timings_s.get(key, 0.0) + s, 3)


@dataclass
class SweepProgress:
    """A sweep as it runs: its items done, failed and in all, and what the done ones did."""

    sweep_id: int
    as_of: str
    company_id: str | None
    finished: bool
    items_total: int
    items_done: int
    items_failed: int
    cases: int
    escalated: int
    monthly_reminders: int
    errors: list[str]

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class _Item:
    sweep_id: int
    item_no: int
    slot_from: int
    slot_to: int
    as_of: datetime
    company_id: str | None
    community_ids: list[str] | None


class _Clock:
    def __init__(self, result: SweepResult) -> None:
        self.result, self.last = result, time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.result.timings_s[name] = round(now - self.last, 3)
        self.last = now


async def _policy_arrays(conn: asyncpg.Connection, as_of: datetime) -> list[list[object]]:
    """Per policy: quiet now and until when (its own quiet hours in its own time zone), and
    the next call window in that zone. Keyed by policy, not by zone: two policies in one zone
    (a community's own and the default, both Asia/Shanghai) keep their own quiet hours."""
    ids: list[object] = []
    quiet: list[object] = []
    quiet_until: list[object] = []
    call_start: list[object] = []
    call_end: list[object] = []
    rows = await conn.fetch(
        "SELECT policy_id, time_zone, document->>'quiet_start' AS s, "
        "document->>'quiet_end' AS e FROM policies"
    )
    for row in rows:
        tz = ZoneInfo(row["time_zone"])
        hours = _quiet_hours(row["s"], row["e"])
        start, end = next_call_window(as_of, tz)
        ids.append(row["policy_id"])
        quiet.append(hours.is_quiet(as_of, tz))
        quiet_until.append(hours.next_allowed(as_of, tz))
        call_start.append(start)
        call_end.append(end)
    return [ids, quiet, quiet_until, call_start, call_end]


def _quiet_hours(start: str | None, end: str | None) -> QuietHours:
    if not start or not end:
        return QuietHours()
    return QuietHours(
        datetime.strptime(start, "%H:%M").time(), datetime.strptime(end, "%H:%M").time()
    )


def _resumed(row: asyncpg.Record, as_of: datetime) -> tuple[ArrearsCaseResumed, str, str]:
    event = ArrearsCaseResumed(
        pause_id=row["pause_id"],
        case_id=row["case_id"],
        community_id=row["community_id"],
        unit_id=row["unit_id"],
        resolution="installment missed",
        resumed_at=as_of,
    )
    return event, row["unit_id"], row["case_id"]


async def _scope(
    conn: asyncpg.Connection,
    as_of: datetime,
    company_id: str | None,
    community_ids: list[str] | None,
) -> None:
    """Bind the sweep's instant and scope for the transaction (``sweep_sql``'s settings)."""
    await conn.execute(
        "SELECT set_config('dunning.sweep_as_of', $1, true), "
        "set_config('dunning.sweep_company', coalesce($2, ''), true), "
        "set_config('dunning.sweep_communities', coalesce($3::text[]::text, ''), true)",
        as_of.isoformat(),
        company_id,
        community_ids,
    )


async def plan_sweep(
    conn: asyncpg.Connection,
    as_of: datetime,
    *,
    company_id: str | None = None,
    community_ids: list[str] | None = None,
    by: str | None = None,
    item_cases: int = ITEM_CASES,
) -> int:
    """Write a sweep and its items (about ``item_cases`` open cases each); its id. Nothing is
    swept yet: replicas claim the items (``work_one``)."""
    if as_of.tzinfo is None:
        raise ValueError("as_of must be an aware instant")
    await ensure_default_policy(conn)
    async with conn.transaction():
        await _scope(conn, as_of, company_id, community_ids)
        cases = await conn.fetchval(
            f"SELECT count(*) FROM arrears_cases c WHERE c.status = 'open' "
            f"AND {q.in_sweep_scope('c.community_id')}",
            timeout=TIMEOUT_S,
        )
        n = max(1, min(SLOTS, -(-cases // max(1, item_cases))))
        sweep_id: int = await conn.fetchval(
            "INSERT INTO sweeps (as_of, requested_by, company_id, community_ids, items_total) "
            "VALUES ($1, $2, $3, $4, $5) RETURNING sweep_id",
            as_of,
            by,
            company_id,
            community_ids,
            n,
        )
        bounds = [SLOTS * k // n for k in range(n + 1)]
        await conn.executemany(
            "INSERT INTO sweep_items (sweep_id, item_no, slot_from, slot_to) "
            "VALUES ($1, $2, $3, $4)",
            [(sweep_id, k, bounds[k], bounds[k + 1]) for k in range(n)],
        )
    log.info("sweep planned", sweep_id=sweep_id, as_of=as_of.isoformat(), items=n, cases=cases)
    return sweep_id


_CLAIM = """
SELECT i.sweep_id, i.item_no, i.slot_from, i.slot_to, s.as_of, s.company_id, s.community_ids
FROM sweep_items i JOIN sweeps s USING (sweep_id)
WHERE i.state = 'pending'
  AND i.sweep_id = (SELECT min(sweep_id) FROM sweep_items WHERE state = 'pending')
ORDER BY i.item_no
LIMIT 1
FOR UPDATE OF i SKIP LOCKED
"""


async def work_one(conn: asyncpg.Connection, *, worker: str = WORKER) -> bool:
    """Claim one pending item (of the oldest sweep that has any) and do it in one transaction;
    False when there is none to claim (none pending, or every pending one being done)."""
    claimed: _Item | None = None
    try:
        async with conn.transaction():
            row = await conn.fetchrow(_CLAIM)
            if row is None:
                return False
            claimed = _Item(**dict(row))
            await conn.execute(
                f"SET LOCAL idle_in_transaction_session_timeout = '{IDLE_CLAIM_TIMEOUT}'"
            )
            result = await _sweep_item(conn, claimed)
            await conn.execute(
                "UPDATE sweep_items SET state = 'done', result = $3, done_by = $4, "
                "finished_at = clock_timestamp(), attempts = attempts + 1 "
                "WHERE sweep_id = $1 AND item_no = $2",
                claimed.sweep_id,
                claimed.item_no,
                result,
                worker,
            )
            await _finish_if_last(conn, claimed.sweep_id)
        return True
    except Exception as exc:
        if claimed is None or conn.is_closed():
            raise
        log.warning(
            "sweep item failed",
            sweep_id=claimed.sweep_id,
            item_no=claimed.item_no,
            error=type(exc).__name__,
        )
        await _failed(conn, claimed, exc)
        return True


async def _failed(conn: asyncpg.Connection, item: _Item, exc: Exception) -> None:
    """Count a failed attempt; the last allowed one gives the item up."""
    async with conn.transaction():
        state = await conn.fetchval(
            "UPDATE sweep_items SET attempts = attempts + 1, last_error = $3, "
            "state = CASE WHEN attempts + 1 >= $4 THEN 'failed' ELSE state END, "
            "finished_at = CASE WHEN attempts + 1 >= $4 THEN clock_timestamp() END "
            "WHERE sweep_id = $1 AND item_no = $2 AND state = 'pending' RETURNING state",
            item.sweep_id,
            item.item_no,
            f"{type(exc).__name__}: {exc}"[:500],
            MAX_ATTEMPTS,
        )
        if state == "failed":
            await _finish_if_last(conn, item.sweep_id)


async def _finish_if_last(conn: asyncpg.Connection, sweep_id: int) -> None:
    """In the transaction of an item just done (or given up): when no item of the sweep is
    pending any more, sum the items into the sweep's result and its tier snapshot. The lock on
    the sweep's row orders the items' last steps: the last sees every other item committed."""
    sweep = await conn.fetchrow("SELECT as_of FROM sweeps WHERE sweep_id = $1 FOR UPDATE", sweep_id)
    states = await conn.fetch(
        "SELECT state, result, last_error FROM sweep_items WHERE sweep_id = $1", sweep_id
    )
    if any(r["state"] == "pending" for r in states):
        return
    result = SweepResult(as_of=sweep["as_of"].isoformat(), sweep_id=sweep_id, items=len(states))
    for r in states:
        if r["state"] == "done":
            result.add(r["result"])
        else:
            result.items_failed += 1
    await conn.execute(h.SNAPSHOT, sweep_id)
    await conn.execute(
        "UPDATE sweeps SET finished_at = clock_timestamp(), result = $2 WHERE sweep_id = $1",
        sweep_id,
        result.as_dict(),
    )
    # Delivered at commit: the replica answering the sweep's POST stops waiting at once.
    await conn.execute("SELECT pg_notify($1, $2)", DONE_CHANNEL, str(sweep_id))
    log.info(
        "sweep done",
        sweep_id=sweep_id,
        as_of=result.as_of,
        items=result.items,
        failed=result.items_failed,
        escalated=result.escalated,
        cases=result.cases,
    )


async def _indexed(conn: asyncpg.Connection, statement: str) -> None:
    """Run ``statement``, which joins the item's cases (a temporary table) to a big table, by
    index probes: an item is about 1% of the cases, yet the planner, unsure of the probes'
    cost, read all of ``receivables`` or ``arrears_cases`` for each item (profile: 4.3 s of
    an item of 10,000 cases among 1,000,000 went on LIMITATION_ALERTS' full scan)."""
    await conn.execute("SET LOCAL enable_seqscan = off")
    await conn.execute(statement, timeout=TIMEOUT_S)  # an error ends the transaction anyway
    await conn.execute("SET LOCAL enable_seqscan = on")


async def _sweep_item(conn: asyncpg.Connection, item: _Item) -> dict[str, Any]:
    """Sweep the item's cases as of the sweep's instant, in the caller's transaction; the
    item's result (``SweepResult.as_dict`` and its tier counts, ``tiers``)."""
    as_of = item.as_of
    result = SweepResult(as_of=as_of.isoformat())
    # Big hash joins and aggregates: room in memory; no JIT compile (seconds, no gain).
    await conn.execute("SET LOCAL work_mem = '256MB'; SET LOCAL jit = off")
    await _scope(conn, as_of, item.company_id, item.community_ids)
    await conn.execute(
        "SELECT set_config('dunning.sweep_slot_from', $1, true), "
        "set_config('dunning.sweep_slot_to', $2, true)",
        str(item.slot_from),
        str(item.slot_to),
    )
    await conn.execute(q.ZONES)
    await conn.execute(q.FILL_ZONES, *await _policy_arrays(conn, as_of))
    clock = _Clock(result)
    # Statistics of the join keys only (the planner's row counts and distinct keys): the
    # temporary tables are wide, a full ANALYZE of each cost as much as a statement.
    await conn.execute(q.BASE_CASES, timeout=TIMEOUT_S)
    await conn.execute(
        "ANALYZE sweep_base (case_id, unit_id, payer_party_id, policy_id)", timeout=TIMEOUT_S
    )
    await conn.execute(q.CASES, timeout=TIMEOUT_S)
    await conn.execute(
        "ANALYZE sweep_cases (case_id, unit_id, payer_party_id, policy_id, tier)", timeout=TIMEOUT_S
    )
    clock.lap("cases")
    await _indexed(conn, q.REFRESH_CASES)
    clock.lap("refresh")
    await conn.execute(q.NEXT_STAGES, timeout=TIMEOUT_S)
    await conn.execute(q.CAP_PER_PERSON, timeout=TIMEOUT_S)
    await conn.execute("ANALYZE sweep_next (case_id, verdict)")
    clock.lap("next_stages")
    for row in await conn.fetch(
        "SELECT verdict, count(*) AS n FROM sweep_next WHERE verdict <> 'go' "
        "AND verdict <> 'not_due' GROUP BY verdict"
    ):
        kind, _, reason = row["verdict"].partition(":")
        (result.deferred if kind == "deferred" else result.refused)[reason] = row["n"]
    await _indexed(conn, q.DEFER)
    escalated = await conn.fetch(w.ESCALATE, timeout=TIMEOUT_S)
    clock.lap("escalate")
    monthly = await conn.fetch(w.MONTHLY, timeout=TIMEOUT_S)
    clock.lap("monthly")
    # Owners jointly liable: copies of what this item escalated (nothing escalated, none).
    made = sorted({r["case_id"] for r in (*escalated, *monthly)})
    joint = await conn.fetch(j.SWEEP_COPIES, made, timeout=TIMEOUT_S) if made else []
    await _indexed(conn, h.RED_OWNERS)
    await _indexed(conn, h.RED_UNOWNED_TASKS)
    for statement in (
        h.PROMISE_PAID,
        h.KEPT_PROMISES,
        h.BROKEN_PROMISES,
    ):
        await conn.execute(statement, timeout=TIMEOUT_S)
    resumed = await conn.fetch(h.MISSED_PLANS, timeout=TIMEOUT_S)
    await _indexed(conn, h.LIMITATION_ALERTS)
    tiers = [
        {**dict(r), "local_date": r["local_date"].isoformat()}
        for r in await conn.fetch(h.ITEM_TIERS)
    ]
    clock.lap("owners_promises_plans_alerts_snapshot")
    result.cases = await conn.fetchval("SELECT count(*) FROM sweep_cases")
    rows = [*escalated, *monthly]
    events = [
        RawEvent(ArrearsEscalated, r["payload"].encode(), r["unit_id"], r["case_id"]) for r in rows
    ]
    if joint:
        originals = [(r["case_id"], r["stage"], json.loads(r["payload"])) for r in rows]
        events += [
            RawEvent(ArrearsEscalated, json.dumps(p).encode(), p["unit_id"], p["case_id"])
            for p in owner_payloads(originals, joint)
        ]
    if events:
        await add_raw_events(conn, events, time=as_of)
    if resumed:
        await add_events(conn, [_resumed(r, as_of) for r in resumed], time=as_of)
    clock.lap("outbox")
    result.escalated, result.monthly_reminders = len(escalated), len(monthly)
    for r in escalated:
        result.by_stage[r["stage"]] = result.by_stage.get(r["stage"], 0) + 1
    # The temporary tables go with the transaction; a claimer's next item makes its own.
    return {**result.as_dict(), "tiers": tiers}


async def sweep_result(conn: asyncpg.Connection, sweep_id: int) -> SweepResult | None:
    """The finished sweep's result; None while it runs."""
    result = await conn.fetchval(
        "SELECT result FROM sweeps WHERE sweep_id = $1 AND finished_at IS NOT NULL", sweep_id
    )
    if result is None:
        return None
    return SweepResult(**{k: v for k, v in result.items() if k in SweepResult.__dataclass_fields__})


#: NOTIFY channel of finished sweeps (payload: the sweep id).
DONE_CHANNEL = "propfee_sweep_done"


async def run_sweep(
    conn: asyncpg.Connection,
    as_of: datetime,
    *,
    company_id: str | None = None,
    community_ids: list[str] | None = None,
    by: str | None = None,
    item_cases: int = ITEM_CASES,
    poll_s: float = 0.05,
) -> SweepResult:
    """Sweep every open case as of ``as_of`` (an aware instant): of ``company_id``'s
    communities (None: every company) and, when given, of ``community_ids`` only (a staff
    member's sweep touches their scope and nothing else). Plans the sweep, works on its items
    (other replicas' claimers work beside) and answers once the last is done."""
    sweep_id = await plan_sweep(
        conn, as_of, company_id=company_id, community_ids=community_ids, by=by,
        item_cases=item_cases,
    )  # fmt: skip
    finished = asyncio.Event()

    def on_done(_conn: object, _pid: int, _channel: str, payload: str) -> None:
        if payload == str(sweep_id):
            finished.set()

    # Listening before looking: a replica finishing the last item wakes this one at once
    # instead of at its next poll (the demo sweeps every simulated day).
    await conn.add_listener(DONE_CHANNEL, on_done)
    try:
        wait = poll_s
        while True:
            # An older sweep's items come first (sweeps run one after another); an item
            # another replica holds is waited for, and claimed again if that replica dies.
            if await work_one(conn):
                wait = poll_s
                continue
            result = await sweep_result(conn, sweep_id)
            if result is not None:
                result.as_of = as_of.isoformat()  # as asked (the stored instant is in UTC)
                return result
            try:
                await asyncio.wait_for(finished.wait(), wait)
            except TimeoutError:
                wait = min(wait * 2, 1.0)
    finally:
        await conn.remove_listener(DONE_CHANNEL, on_done)


async def sweep_for(pool: Any, principal: Any, as_of: datetime) -> SweepResult:
    """``POST /sweeps``: the caller's scope (company and communities) as of ``as_of``."""
    company, communities = principal.sql_scope()
    async with pool.acquire() as conn:
        return await run_sweep(
            conn, as_of, company_id=company, community_ids=communities, by=principal.subject
        )


async def sweep_progress(pool: Any, principal: Any, sweep_id: int) -> SweepProgress:
    """``GET /sweeps/{sweep_id}``: a sweep of the caller's company whose communities are all
    the caller's (404 for another's; a company-wide sweep for a caller of some communities)."""
    company, communities = principal.sql_scope()
    row = await pool.fetchrow(
        "SELECT s.sweep_id, s.as_of, s.company_id, s.finished_at IS NOT NULL AS finished, "
        "s.items_total, count(*) FILTER (WHERE i.state = 'done') AS items_done, "
        "count(*) FILTER (WHERE i.state = 'failed') AS items_failed, "
        "coalesce(sum((i.result ->> 'cases')::int), 0)::int AS cases, "
        "coalesce(sum((i.result ->> 'escalated')::int), 0)::int AS escalated, "
        "coalesce(sum((i.result ->> 'monthly_reminders')::int), 0)::int AS monthly_reminders, "
        "coalesce(array_agg(i.item_no::text || ': ' || i.last_error ORDER BY i.item_no) "
        "FILTER (WHERE i.last_error IS NOT NULL), '{}') AS errors "
        "FROM sweeps s LEFT JOIN sweep_items i USING (sweep_id) "
        "WHERE s.sweep_id = $1 AND ($2::text IS NULL OR s.company_id = $2) "
        "AND ($3::text[] IS NULL OR s.community_ids <@ $3::text[]) "
        "GROUP BY s.sweep_id",
        sweep_id,
        company,
        communities,
    )
    if row is None:
        raise NotFound(f"sweep {sweep_id} not found")
    return SweepProgress(**{**dict(row), "as_of": row["as_of"].isoformat()})
