"""The sweep: as of one instant, move every due case to its next stage, set-based.

One transaction under an advisory lock (replicas take turns; the unique key on
``escalations`` and the ``stage_index`` guard make double escalation impossible). Running
the same sweep twice changes nothing: a stage is never due sooner than a day after the
previous one. Quiet hours and the reminder cap defer a reminder (``deferred_until``) and
never drop it: the case stays due and the next sweep after that instant sends it.
"""

from __future__ import annotations

import json
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

log = get_logger(__name__)
SWEEP_LOCK = 7_301_503
#: A sweep over a million cases may run longer than the pool's default command timeout.
TIMEOUT_S = 900.0


@dataclass
class SweepResult:
    as_of: str
    cases: int = 0
    escalated: int = 0
    monthly_reminders: int = 0
    deferred: dict[str, int] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)
    by_stage: dict[str, int] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


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


async def run_sweep(
    conn: asyncpg.Connection,
    as_of: datetime,
    *,
    company_id: str | None = None,
    community_ids: list[str] | None = None,
    by: str | None = None,
) -> SweepResult:
    """Sweep every open case as of ``as_of`` (an aware instant) in one transaction: of
    ``company_id``'s communities (None: every company) and, when given, of ``community_ids``
    only (a staff member's sweep touches their scope and nothing else)."""
    if as_of.tzinfo is None:
        raise ValueError("as_of must be an aware instant")
    await ensure_default_policy(conn)
    result = SweepResult(as_of=as_of.isoformat())
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", SWEEP_LOCK)
        # Big hash joins and aggregates: room in memory; no JIT compile (seconds, no gain).
        await conn.execute("SET LOCAL work_mem = '256MB'; SET LOCAL jit = off")
        await conn.execute("SELECT set_config('dunning.sweep_as_of', $1, true)", as_of.isoformat())
        await conn.execute(
            "SELECT set_config('dunning.sweep_company', coalesce($1, ''), true), "
            "set_config('dunning.sweep_communities', coalesce($2::text[]::text, ''), true)",
            company_id,
            community_ids,
        )
        await conn.execute(q.ZONES)
        await conn.execute(q.FILL_ZONES, *await _policy_arrays(conn, as_of))
        clock = _Clock(result)
        await conn.execute(q.CASES, timeout=TIMEOUT_S)
        await conn.execute("ANALYZE sweep_cases", timeout=TIMEOUT_S)
        clock.lap("cases")
        await conn.execute(q.REFRESH_CASES, timeout=TIMEOUT_S)
        clock.lap("refresh")
        await conn.execute(q.NEXT_STAGES, timeout=TIMEOUT_S)
        await conn.execute(q.CAP_PER_PERSON, timeout=TIMEOUT_S)
        await conn.execute("ANALYZE sweep_next")
        clock.lap("next_stages")
        for row in await conn.fetch(
            "SELECT verdict, count(*) AS n FROM sweep_next WHERE verdict <> 'go' "
            "AND verdict <> 'not_due' GROUP BY verdict"
        ):
            kind, _, reason = row["verdict"].partition(":")
            (result.deferred if kind == "deferred" else result.refused)[reason] = row["n"]
        await conn.execute(q.DEFER, timeout=TIMEOUT_S)
        escalated = await conn.fetch(w.ESCALATE, timeout=TIMEOUT_S)
        clock.lap("escalate")
        monthly = await conn.fetch(w.MONTHLY, timeout=TIMEOUT_S)
        clock.lap("monthly")
        joint = await conn.fetch(j.SWEEP_COPIES, timeout=TIMEOUT_S)  # owners jointly liable
        for statement in (
            h.RED_OWNERS,
            h.RED_UNOWNED_TASKS,
            h.PROMISE_PAID,
            h.KEPT_PROMISES,
            h.BROKEN_PROMISES,
        ):
            await conn.execute(statement, timeout=TIMEOUT_S)
        resumed = await conn.fetch(h.MISSED_PLANS, timeout=TIMEOUT_S)
        await conn.execute(h.LIMITATION_ALERTS, timeout=TIMEOUT_S)
        await conn.execute(h.SNAPSHOT, timeout=TIMEOUT_S)
        clock.lap("owners_promises_plans_alerts_snapshot")
        result.cases = await conn.fetchval("SELECT count(*) FROM sweep_cases")
        rows = [*escalated, *monthly]
        events = [
            RawEvent(ArrearsEscalated, r["payload"].encode(), r["unit_id"], r["case_id"])
            for r in rows
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
        await conn.execute(
            "INSERT INTO sweeps (as_of, finished_at, result, requested_by, company_id, "
            "community_ids) VALUES ($1, clock_timestamp(), $2, $3, $4, $5)",
            as_of,
            result.as_dict(),
            by,
            company_id,
            community_ids,
        )
    log.info("sweep done", as_of=result.as_of, escalated=result.escalated, cases=result.cases)
    return result


async def sweep_for(pool: Any, principal: Any, as_of: datetime) -> SweepResult:
    """``POST /sweeps``: the caller's scope (company and communities) as of ``as_of``."""
    company, communities = principal.sql_scope()
    async with pool.acquire() as conn:
        return await run_sweep(
            conn, as_of, company_id=company, community_ids=communities, by=principal.subject
        )
