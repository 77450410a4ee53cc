"""The legal track: moving a case by hand into a later stage (mediation, lawsuit,
enforcement) and the precondition of every legal referral: an individually delivered demand
whose deadline has passed (Civil Code art. 944 §2). Refusals say which precondition failed."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import asyncpg

from dunning.adapters import joint_liability_sql as j
from dunning.adapters.policies import EFFECTIVE_POLICY_ID, load_policy
from dunning.domain.guardrails import Demand, Refusal, check_legal_referral
from dunning.domain.policy import Stage
from dunning.service_layer.joint import owner_payloads
from dunning.service_layer.limitation import local_date, open_invoices_of_case
from dunning.service_layer.people import Refused, case_row
from propfee.events import ArrearsEscalated, EscalationAction
from propfee.outbox import add_event


async def legal_referral_refusal(
    conn: asyncpg.Connection, case_id: str, as_of: date
) -> Refusal | None:
    rows = await conn.fetch(
        "SELECT d.deadline, (SELECT min(ev.at) FROM contact_evidence ev WHERE ev.subject_id = "
        "d.case_id AND ev.stage = d.stage AND ev.outcome = 'delivered') AS delivered_at "
        "FROM demands d WHERE d.case_id = $1",
        case_id,
    )
    demands = [
        Demand(r["deadline"], local_date(r["delivered_at"]) if r["delivered_at"] else None)
        for r in rows
    ]
    return check_legal_referral(demands, as_of)


async def advance(
    conn: asyncpg.Connection, case_id: str, *, stage: str, staff_id: str, at: datetime
) -> None:
    """Staff move a case into a later stage (mediation, lawsuit, ...). Refused with a reason
    when the case is not open, paused, or a stage with a lawsuit-like action (or declaring the
    precondition: ``Stage.requires_demand``) lacks a delivered demand whose
    deadline passed before ``at`` (for staff never later than the server's clock: the HTTP
    layer refuses a forward-dated ``at``). A legal stage puts the case on the legal track."""
    case = await case_row(conn, case_id)
    policy = await load_policy(conn, case["community_id"])
    codes = [s.code for s in policy.stages]
    if stage not in codes:
        raise Refused(Refusal("unknown_stage", f"stage {stage!r} is not in the policy"))
    if case["status"] != "open":
        raise Refused(Refusal("case_closed", "the case is closed"))
    stage_def = policy.stages[codes.index(stage)]
    if stage_def.requires_demand:  # a lawsuit-like action, whatever the stage is called
        refusal = await legal_referral_refusal(conn, case_id, local_date(at))
        if refusal:
            raise Refused(refusal)
    if codes.index(stage) <= case["stage_index"]:
        raise Refused(Refusal("not_later", f"the case is already at {case['stage']!r}"))
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
    await _publish_manual_escalation(conn, case, stage_def, at, staff_id)


async def _publish_manual_escalation(
    conn: asyncpg.Connection, case: asyncpg.Record, stage: Stage, at: datetime, staff_id: str
) -> None:
    oldest = case["oldest_due_date"] or local_date(at)
    tier = case["tier"] if case["tier"] in ("red", "yellow", "green") else "green"
    invoices = await open_invoices_of_case(conn, case["case_id"], local_date(at) + timedelta(1))
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
        actions=[
            EscalationAction(kind=a.kind, channel=a.channel, template=a.template)
            for a in stage.actions
        ],
        room_label=case["room_label"],
        owner_staff_id=case["owner_staff_id"] or staff_id,
    )
    await conn.execute(
        "INSERT INTO escalations (case_id, stage, previous_stage, community_id, unit_id, "
        "payer_party_id, tier, outstanding_fen, oldest_due_date, invoice_ids, actions, reminder, "
        "staff_id, escalated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, "
        "$13, $14)",
        event.case_id, event.stage, event.previous_stage, event.community_id, event.unit_id,
        event.payer_party_id, event.tier, event.outstanding_fen, event.oldest_due_date,
        event.invoice_ids, [a.model_dump() for a in event.actions], stage.sends_messages,
        staff_id, at,
    )  # fmt: skip
    await add_event(conn, event, key=event.unit_id, subject=event.case_id, time=at)
    # From the policy's joint_liability_from_stage, the owner jointly liable with a tenant too.
    policy_id = await conn.fetchval(f"SELECT {EFFECTIVE_POLICY_ID}", case["community_id"], None)
    copies = await conn.fetch(j.CASE_COPIES, case["case_id"], policy_id, at)
    original = (event.case_id, event.stage, event.model_dump(mode="json"))
    for payload in owner_payloads([original], copies):
        copy = ArrearsEscalated.model_validate(payload)
        await add_event(conn, copy, key=copy.unit_id, subject=copy.case_id, time=at)
