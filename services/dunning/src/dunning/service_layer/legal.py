"""The legal track: moving a case by hand into a later stage (mediation, lawsuit,
enforcement) and the precondition of every legal referral: an individually delivered demand
whose deadline has passed (Civil Code art. 944 §2). Refusals say which precondition failed."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from dunning.adapters import claim_sql as cl
from dunning.adapters import joint_liability_sql as j
from dunning.adapters import sweep_sql as q
from dunning.adapters.policies import EFFECTIVE_POLICY_ID, load_policy
from dunning.domain.guardrails import Refusal
from dunning.domain.policy import Stage
from dunning.service_layer.joint import owner_payloads
from dunning.service_layer.limitation import local_date, open_invoices_of_case
from dunning.service_layer.people import Refused, case_row
from propfee.dates import months_overdue
from propfee.events import ArrearsEscalated, EscalationAction
from propfee.events.dunning import ClaimLine
from propfee.outbox import add_event

#: What each refusal of the precondition (``dunning_demand_refusal``, migration 0010) means.
DEMAND_REFUSALS = {
    "no_delivered_demand": "no individually delivered demand with a deadline is on record "
    "(Civil Code 944 §2; a posted letter or a message the API accepted is not delivered)",
    "delivered_before_issue": "the only delivery on record is dated before the demand was issued",
    "delivered_after_deadline": "the demand was delivered after the deadline it states",
    "demand_deadline_not_passed": "the demand's deadline, counted from its delivery, has not "
    "passed",
}


async def legal_referral_refusal(
    conn: asyncpg.Connection, case_id: str, as_of: datetime, time_zone: str = "Asia/Shanghai"
) -> Refusal | None:
    """The legal-referral precondition of the case judged at the instant ``as_of``: the same
    SQL function the sweep runs (``dunning_case_demand_refusal``, the rule's one home)."""
    code = await conn.fetchval(
        "SELECT dunning_case_demand_refusal($1, $2, $3)", case_id, as_of, time_zone
    )
    return Refusal(code, DEMAND_REFUSALS.get(code, code)) if code else None


async def hold_refusal(conn: asyncpg.Connection, case_id: str, at: datetime) -> Refusal | None:
    """Issue 18 rule 9: nothing moves a case by hand while a case-scope pause is in force (a
    complaint, a dispute, a plan, a proceeding: resolve the pause first) or while any of its
    open invoices is under an installment plan being honoured (active: no part missed; the
    sweep holds those invoices the same way, ``adapters/sweep_sql.py`` ``planned``)."""
    row = await conn.fetchrow(
        "SELECT (SELECT reason FROM pauses ps WHERE ps.case_id = c.case_id AND ps.scope = 'case' "
        "AND ps.resolved_at IS NULL AND ps.starts_at <= $2 AND ps.ends_at > $2 LIMIT 1) "
        "AS paused, (SELECT ip.plan_id FROM installment_plans ip JOIN receivables r "
        "ON r.invoice_id = ANY (ip.invoice_ids) WHERE ip.unit_id = c.unit_id "
        "AND ip.status = 'active' AND ip.created_at <= $2 AND r.unit_id = c.unit_id "
        "AND r.issued AND NOT r.settled LIMIT 1) AS plan_id "
        "FROM arrears_cases c WHERE c.case_id = $1",
        case_id,
        at,
    )
    if row is None:
        return None
    if row["paused"]:
        return Refusal("case_paused", f"the case is paused ({row['paused']}): resolve it first")
    if row["plan_id"]:
        return Refusal(
            "under_honoured_plan",
            f"the debt is under installment plan {row['plan_id']}, honoured so far",
        )
    return None


async def advance(
    conn: asyncpg.Connection,
    case_id: str,
    *,
    stage: str,
    staff_id: str,
    at: datetime,
    judged_at: datetime | None = None,
) -> datetime:
    """Staff move a case into a later stage (mediation, lawsuit, ...). Refused with a reason
    when the case is not open, paused or its debt under an honoured plan (``hold_refusal``),
    or a stage with a lawsuit-like action (or declaring the
    precondition: ``Stage.requires_demand``) lacks a delivered demand, delivered in time,
    whose deadline (from delivery) passed as of ``judged_at`` (default ``at``): the HTTP layer
    passes the server's clock for staff, the simulation clock's instant for the service role.
    Such a stage is entered when it is judged (a referral is not back-dated past its
    precondition); any other at ``at``. A legal stage puts the case on the legal track.
    Returns when the case entered the stage."""
    case = await case_row(conn, case_id)
    policy = await load_policy(conn, case["community_id"])
    codes = [s.code for s in policy.stages]
    if stage not in codes:
        raise Refused(Refusal("unknown_stage", f"stage {stage!r} is not in the policy"))
    if case["status"] != "open":
        raise Refused(Refusal("case_closed", "the case is closed"))
    # Every unmet precondition is said at once (the first is ``refused``), so staff can meet
    # them all before trying again.
    unmet: list[Refusal] = []
    hold = await hold_refusal(conn, case_id, at)
    if hold:
        unmet.append(hold)
    stage_def = policy.stages[codes.index(stage)]
    if policy.is_legal(codes.index(stage)):
        day = at.astimezone(ZoneInfo(policy.time_zone)).date()
        if await conn.fetchval(q.CASE_OVERDUE_PRINCIPAL, case_id, day) <= 0:
            unmet.append(
                Refusal(
                    "late_fee_only",
                    "no overdue principal: a late fee alone never goes to the legal track",
                )
            )
    if stage_def.requires_demand:  # a lawsuit-like action, whatever the stage is called
        at = judged_at or at
        refusal = await legal_referral_refusal(conn, case_id, at, policy.time_zone)
        if refusal:
            unmet.append(refusal)
    if codes.index(stage) <= case["stage_index"]:
        unmet.append(Refusal("not_later", f"the case is already at {case['stage']!r}"))
    if unmet:
        raise Refused(unmet[0], unmet)
    await conn.execute(
        "UPDATE arrears_cases SET stage = $2, stage_index = $3, stage_entered_at = $4, "
        "legal_since = CASE WHEN $5 THEN coalesce(legal_since, $4) ELSE legal_since END "
        "WHERE case_id = $1",
        case_id, stage, codes.index(stage), at, policy.is_legal(codes.index(stage)),
    )  # fmt: skip
    await conn.execute(
        "INSERT INTO tasks (task_id, dedup_key, case_id, community_id, unit_id, kind, stage, "
        "reason, source, assignee, created_at) SELECT 'task-' || gen_random_uuid(), "
        "$1 || '|' || $2 || '||' || (a ->> 'channel'), $1, $3, $4, a ->> 'channel', $2, "
        "'moved by ' || $5, 'staff', $5, $6 FROM jsonb_array_elements($7::jsonb) a "
        "WHERE a ->> 'kind' = 'task' ON CONFLICT (dedup_key) DO NOTHING",
        case_id, stage, case["community_id"], case["unit_id"], staff_id, at,
        [a.model_dump(exclude={"sealed"}) for a in stage_def.actions],
    )  # fmt: skip
    deadline = None
    if stage_def.deadline_days is not None:  # a demand issued by hand has its deadline too
        deadline = at.astimezone(ZoneInfo(policy.time_zone)).date() + timedelta(
            days=stage_def.deadline_days
        )
        await conn.execute(
            "INSERT INTO demands (case_id, stage, deadline, issued_at, deadline_days) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            case_id, stage, deadline, at, stage_def.deadline_days,
        )  # fmt: skip
    await _publish_manual_escalation(conn, case, stage_def, at, staff_id, deadline)
    return at


async def _publish_manual_escalation(
    conn: asyncpg.Connection,
    case: asyncpg.Record,
    stage: Stage,
    at: datetime,
    staff_id: str,
    deadline: date | None = None,
) -> None:
    oldest = case["oldest_due_date"] or local_date(at)
    tier = case["tier"] if case["tier"] in ("red", "yellow", "green") else "green"
    invoices = await open_invoices_of_case(conn, case["case_id"], local_date(at) + timedelta(1))
    actions = [
        EscalationAction(kind=a.kind, channel=a.channel, template=a.template) for a in stage.actions
    ]
    claimed = await conn.fetchrow(
        cl.CASE_CLAIM, invoices, [a.model_dump() for a in actions], deadline
    )  # the sweep's claim_sql: one home of the lines and what was paid
    lines = claimed["statement"]
    event = ArrearsEscalated(
        case_id=case["case_id"],
        community_id=case["community_id"],
        unit_id=case["unit_id"],
        payer_party_id=case["payer_party_id"],
        stage=stage.code,
        previous_stage=case["stage"],
        tier=tier,
        outstanding_fen=max(case["outstanding_fen"], 0),
        oldest_due_date=oldest,
        days_overdue=max((local_date(at) - oldest).days, 0),
        invoice_ids=invoices,
        escalated_at=at,
        actions=actions,
        room_label=case["room_label"],
        months_overdue=months_overdue(oldest, local_date(at)),
        owner_staff_id=case["owner_staff_id"] or staff_id,
        deadline=deadline,
        statement=None if lines is None else [ClaimLine.model_validate(x) for x in lines],
        paid_fen=claimed["paid_fen"],
    )
    await conn.execute(
        "INSERT INTO escalations (case_id, stage, previous_stage, community_id, unit_id, "
        "payer_party_id, tier, outstanding_fen, oldest_due_date, invoice_ids, actions, reminder, "
        "staff_id, escalated_at, deadline) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, "
        "$11, $12, $13, $14, $15)",
        event.case_id, event.stage, event.previous_stage, event.community_id, event.unit_id,
        event.payer_party_id, event.tier, event.outstanding_fen, event.oldest_due_date,
        event.invoice_ids, [a.model_dump() for a in event.actions], stage.sends_messages,
        staff_id, at, deadline,
    )  # fmt: skip
    await add_event(conn, event, key=event.unit_id, subject=event.case_id, time=at)
    # From the policy's joint_liability_from_stage, the owner jointly liable with a tenant too.
    policy_id = await conn.fetchval(f"SELECT {EFFECTIVE_POLICY_ID}", case["community_id"], None)
    copies = await conn.fetch(j.CASE_COPIES, case["case_id"], policy_id, at)
    original = (event.case_id, event.stage, event.model_dump(mode="json"))
    for payload in owner_payloads([original], copies):
        copy = ArrearsEscalated.model_validate(payload)
        await add_event(conn, copy, key=copy.unit_id, subject=copy.case_id, time=at)
