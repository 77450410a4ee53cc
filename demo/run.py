"""Run the demo: the year, then the figures, read back from the services' own APIs."""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from demo import owner_messages
from demo.api import Api
from demo.simulate import TZ, Simulation, add_months, gather_limited, notifications
from demo.world import Household, build

_IDS = re.compile(r"\b(pay|ntf|case|ord)-[0-9a-f-]{36}\b")


@dataclass
class DemoConfig:
    seed: int = 7
    households: int = 1236
    months: int = 12
    start: date = date(2026, 1, 1)
    company_id: str = "co-demo"
    community_id: str = ""
    bootstrap: str = "127.0.0.1:9092"
    prefix: str = ""
    concurrency: int = 32
    urls: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.community_id:
            self.community_id = f"demo-{self.seed}-{self.households}-{self.months}"


async def run_year(
    config: DemoConfig, api: Api, sandbox: Any, progress: Any = None
) -> tuple[Simulation, dict[str, Any]]:
    ledger, households = build(config.seed, config.households)
    sim = Simulation(
        api,
        sandbox,
        households,
        ledger,
        seed=config.seed,
        start=config.start,
        months=config.months,
        community_id=config.community_id,
        company_id=config.company_id,
        bootstrap=config.bootstrap,
        prefix=config.prefix,
        progress=progress,
    )
    t = time.monotonic()
    setup = await sim.setup()
    sim.timings["setup (ledger import, contacts)"] = time.monotonic() - t
    await sim.run()
    return sim, setup


async def collect(config: DemoConfig, sim: Simulation, setup: dict[str, Any]) -> dict[str, Any]:
    """The report, from the services' own figures (and the sandbox for what reached phones)."""
    api, cid = sim.api, config.community_id
    start, end = config.start, add_months(config.start, config.months)
    # The property fee and the utilities collected on behalf of suppliers (水电暖代收) apart:
    # the supplier's money is not the company's collection rate.
    collection = await api.get_all(
        "billing", f"/communities/{cid}/reports/collection", actor="admin",
        params={"start": str(start), "end": str(end), "as_of": str(end), "by": "month",
                "collection": "property"},
    )  # fmt: skip
    utilities = await api.get_all(
        "billing", f"/communities/{cid}/reports/collection", actor="admin",
        params={"start": str(start), "end": str(end), "as_of": str(end), "by": "month",
                "collection": "utilities"},
    )  # fmt: skip
    by_item = await api.get_all(
        "billing", f"/communities/{cid}/reports/collection", actor="admin",
        params={"start": str(start), "end": str(end), "as_of": str(end), "by": "fee_item"},
    )  # fmt: skip
    on_time = await api.get_all(
        "billing", f"/communities/{cid}/reports/on-time", actor="admin",
        params={"start": str(start), "end": str(end), "by": "month"},
    )  # fmt: skip
    recovery = await api.get(
        "billing", f"/communities/{cid}/reports/recovery", actor="admin",
        params={"as_of": str(end)},
    )  # fmt: skip
    recovery["by_month"] = []
    for m in range(1, config.months + 1):
        month_end = add_months(config.start, m)
        row = await api.get(
            "billing", f"/communities/{cid}/reports/recovery", actor="admin",
            params={"as_of": str(month_end)},
        )  # fmt: skip
        so_far = int(row.get("recovered_fen", 0) or 0)  # cumulative as of the month's end
        before = sum(r["recovered_fen"] for r in recovery["by_month"])
        recovery["by_month"].append(
            {"month": add_months(config.start, m - 1).strftime("%Y-%m"),
             "recovered_fen": so_far - before}
        )  # fmt: skip
    money = await api.get("billing", f"/communities/{cid}/reports/money", actor="admin")
    paid_side = await api.get(
        "payments", "/reports/totals", actor="admin", params={"community_id": cid}
    )
    tiers = await api.get_all(
        "dunning", "/kpis/tiers", actor="admin",
        params={"start": str(start), "end": str(end), "community_id": cid},
    )  # fmt: skip

    # Every message each household got, with the exact text and when it was sent.
    notes: dict[str, list[dict[str, Any]]] = {}

    async def of_unit(h: Household) -> None:
        # 404: notifier never queued a message for the unit (it knows units by their messages)
        notes[h.unit_id] = await notifications(api, {"unit_id": h.unit_id}, ok=(200, 404))

    await gather_limited(of_unit(h) for h in sim.households)

    by_channel: Counter[str] = Counter()
    by_stage: Counter[str] = Counter()
    by_month_reminders: Counter[str] = Counter()
    to_payers: list[dict[str, Any]] = []
    statuses: Counter[str] = Counter()
    for unit_id, items in notes.items():
        h = sim.by_unit[unit_id]
        for n in items:
            reason = _IDS.sub("…", str(n.get("status_reason")))  # a payment's id differs per run
            statuses[f"{n['message_type']}/{n['channel']}/{n['status']}/{reason}"] += 1
            if n["message_type"] != "reminder" or n["status"] not in {
                "sent",
                "delivered",
                "printing",
                "posted",
            }:
                continue
            sent = _instant(n.get("sent_at") or n.get("created_at"))
            by_channel[n["channel"]] += 1
            by_stage[n.get("stage") or "-"] += 1
            by_month_reminders[sent.astimezone(UTC).strftime("%Y-%m")] += 1
            # A notice before the due date is about the bill just issued; later stages are
            # about what is overdue.
            upcoming = n.get("stage") == "notice_before_due"
            if sim.had_paid(h, sent, not_yet_due=upcoming):
                to_payers.append(
                    {"notification_id": n["notification_id"], "unit_id": unit_id,
                     "stage": n.get("stage"), "sent_at": sent.isoformat()}
                )  # fmt: skip

    months = []
    coll = {str(r["key"])[:7]: r for r in collection}
    ontime = {str(r["key"])[:7]: r for r in on_time}
    tier_rows: dict[str, dict[str, int]] = defaultdict(dict)
    for r in tiers:
        label = str(r["as_of_date"])[:7]
        tier_rows[label][r["tier"]] = int(r["cases"])  # the last snapshot of the month wins
    for m in range(config.months):
        label = add_months(config.start, m).strftime("%Y-%m")
        c, o, t = coll.get(label, {}), ontime.get(label, {}), sim.totals.by_month[label]
        months.append(
            {
                "month": label,
                "billed_fen": int(c.get("billed_fen", t["billed_fen"])),
                "collected_fen": int(c.get("collected_fen", 0)),
                "collection_rate": float(c.get("collection_rate") or 0),
                "on_time_rate": float(o.get("on_time_rate") or 0),
                "tiers": {k: tier_rows[label].get(k, 0) for k in ("red", "yellow", "green")},
                "reminders": by_month_reminders[label],
                "escalations": t["escalations"],
                "payments": t["payments"],
                "duplicate_notifications": t["duplicate_notifications"],
                "open_cases": sim.totals.open_cases.get(label, 0),
            }
        )

    # payments' own totals; a missing figure is an error, never a silent zero
    payments_fen = int(paid_side["payments"]["amount_fen"])
    refunds_fen = int(paid_side["refunds"]["amount_fen"])
    exceptions_fen = int(paid_side["exceptions_open"]["amount_fen"])
    exceptions_open = int(paid_side["exceptions_open"]["count"])
    allocated, credit = int(money["allocated_fen"]), int(money["credit_fen"])
    simulated_fen = sum(p.amount_fen for ps in sim.paid.values() for p in ps)
    invariants = [
        {
            "name": "money: payments − refunds = allocated + credit",
            "ok": payments_fen - refunds_fen == allocated + credit,
            "detail": f"{payments_fen - refunds_fen} = {allocated} + {credit} (fen)",
        },
        {
            "name": "every fen the owners paid was recorded once (payments = what the world paid)",
            "ok": payments_fen == simulated_fen and money["payments_fen"] == simulated_fen,
            "detail": f"payments {payments_fen}, billing saw {money['payments_fen']}, "
            f"owners paid {simulated_fen}; {sim.totals.duplicates} notifications sent twice",
        },
        {
            "name": "reminders sent to households that had already paid",
            "ok": not to_payers,
            "detail": str(len(to_payers)),
        },
        {
            "name": "no payment held as an exception",
            "ok": exceptions_open == 0,
            "detail": f"{exceptions_open} open exceptions, {exceptions_fen} fen",
        },
    ]
    legal = await _legal_track(api, sim)
    invariants += [
        {
            "name": "no legal-stage escalation of a household whose overdue debt is under an "
            "honoured installment plan",
            "ok": not legal["under_plan"],
            "detail": f"{len(legal['under_plan'])} of {legal['escalations']} legal-stage "
            "escalations",
        },
        {
            "name": "no legal-stage escalation over a late fee alone (no overdue principal)",
            "ok": not legal["late_fee_only"],
            "detail": f"{len(legal['late_fee_only'])} of {legal['escalations']} legal-stage "
            "escalations",
        },
    ]
    # What owners read: every sent message judged by the notifier's own rules (issue 19).
    owner = owner_messages.judge(n for items in notes.values() for n in items)
    invariants += owner_messages.invariants(owner)
    personas = Counter(h.persona for h in sim.households)
    kinds = Counter(h.kind for h in sim.households)
    opening = [h for h in sim.households if h.opening_arrears_fen]
    report: dict[str, Any] = {
        "meta": {
            "seed": config.seed,
            "households": len(sim.households),
            "months": config.months,
            "start_month": config.start.strftime("%Y-%m"),
            "community_id": cid,
            "community_name": "阳光花园",
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "services": dict(api.urls),
            "requests": api.requests,
            "import": {
                k: setup["import"].get(k)
                for k in ("units_created", "arrears_fen", "arrears_invoices")
            },
        },
        "households": {
            "lived_in": kinds["lived_in"],
            "vacant": kinds["vacant"],
            "shops": kinds["shop"],
            "with_opening_arrears": len(opening),
        },
        "personas": dict(personas.most_common()),
        "months": months,
        # What the year billed and collected per fee item (area fee, parking, water, ...).
        "fee_items": [
            {
                "item": str(r["key"]),
                "collection": str(r.get("collection") or "property"),
                "households": int(r.get("households") or 0),
                "billed_fen": int(r["billed_fen"]),
                "collected_fen": int(r["collected_fen"]),
                "collection_rate": float(r.get("collection_rate") or 0),
            }
            for r in sorted(by_item, key=lambda r: -int(r["billed_fen"]))
        ],
        # Utilities collected on behalf of suppliers, month by month, apart from the fee.
        "utilities": _utilities(utilities, config),
        "reminders_by_channel": dict(by_channel.most_common()),
        "reminders_by_stage": dict(by_stage.most_common()),
        "escalations_by_stage": dict(sim.totals.escalations_by_stage.most_common()),
        "payments_by_channel": dict(sim.totals.payments.most_common()),
        "opening_arrears": _recovery(
            recovery, sum(h.opening_arrears_fen for h in opening), len(opening)
        ),
        "staff": {
            "tasks_done": sim.totals.staff["tasks_done"],
            "outcomes": dict(sim.totals.outcomes.most_common()),
            **{
                k: sim.totals.staff[k]
                for k in (
                    "promises_kept",
                    "promises_broken",
                    "pauses",
                    "resumed",
                    "installment_plans",
                    "legal_cases",
                    "letters_posted",
                    "letters_delivered",
                    "door_notices_posted",
                )
            },
        },
        "money": {
            "payments_fen": payments_fen,
            "refunds_fen": refunds_fen,
            "allocated_fen": allocated,
            "credit_fen": credit,
            "exceptions_fen": exceptions_fen,
        },
        "invariants": invariants,
        "reminders_to_payers": to_payers[:20],
        "legal_escalations_wrong": (legal["under_plan"] + legal["late_fee_only"])[:20],
        # Demands (letters) posted with a tracking number vs delivered (carrier signed or a
        # signed receipt): only delivered ones open the legal track or restart the clock.
        "demands": _demands(notes),
        "owner_messages": owner,
        "timings_s": {k: round(v, 1) for k, v in sim.timings.items()},
        "timings_by_day_s": sim.days,
        # The waiting above, by whose consumers were still behind (or "outboxes": an event
        # not yet published); several can be behind at once.
        "waiting_behind_s": {k: round(v, 1) for k, v in sim.settle.behind_s.items()},
        "notification_statuses": dict(statuses.most_common()),
    }
    return report


def _utilities(rows: Any, config: DemoConfig) -> dict[str, Any]:
    """Billing's collection report for utilities → the utilities panel."""
    found = {str(r["key"])[:7]: r for r in rows} if isinstance(rows, list) else {}
    by_month = []
    for m in range(config.months):
        label = add_months(config.start, m).strftime("%Y-%m")
        r = found.get(label, {})
        by_month.append(
            {
                "month": label,
                "billed_fen": int(r.get("billed_fen", 0) or 0),
                "collected_fen": int(r.get("collected_fen", 0) or 0),
                "collection_rate": r.get("collection_rate"),
            }
        )
    billed = sum(r["billed_fen"] for r in by_month)
    collected = sum(r["collected_fen"] for r in by_month)
    return {
        "billed_fen": billed,
        "collected_fen": collected,
        "collection_rate": collected / billed if billed else None,
        "by_month": by_month,
    }


def _recovery(rows: Any, opening_fen: int, households: int) -> dict[str, Any]:
    """Billing's recovery report → the opening-arrears panel."""
    data = rows if isinstance(rows, dict) else {}
    recovered = int(data.get("recovered_fen", 0) or 0)
    by_month = data.get("by_month") or []
    return {
        "households": households,
        "opening_fen": int(data.get("opening_fen", opening_fen) or opening_fen),
        "recovered_fen": recovered,
        "by_month": [
            {"month": str(r.get("month"))[:7], "recovered_fen": int(r.get("recovered_fen", 0))}
            for r in by_month
        ],
    }


#: Stages whose messages are demands on paper (what a tracking number is recorded for).
LETTER_STATUSES = ("delivered", "posted", "printing", "sent")


def _demands(notes: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, int]]:
    """Per letter stage: how many letters were delivered, posted (tracking number only),
    still printing, or otherwise — from the notifier's own records."""
    out: dict[str, Counter[str]] = defaultdict(Counter)
    for items in notes.values():
        for n in items:
            if n.get("channel") != "letter" or n.get("message_type") != "reminder":
                continue
            status = n["status"] if n["status"] in LETTER_STATUSES else "other"
            out[n.get("stage") or "-"][status] += 1
    return {stage: dict(c) for stage, c in sorted(out.items())}


async def _legal_track(api: Api, sim: Simulation) -> dict[str, Any]:
    """Every legal-stage escalation of the year (those at or after the case entered the
    legal track, dunning's ``legal_since``), judged against billing's own records: the
    household's plans as they stood that day, and its overdue principal the evening before
    (what the morning's sweep could know)."""
    found: list[tuple[Household, dict[str, Any]]] = []

    async def of_unit(h: Household) -> None:
        cases = await api.get_all("dunning", "/cases", actor="admin", params={"unit_id": h.unit_id})
        for case in cases:
            if not case.get("legal_since"):
                continue
            since = _instant(case["legal_since"])
            rows = await api.get_all(
                "dunning", f"/cases/{case['case_id']}/escalations", actor="admin"
            )
            found.extend((h, e) for e in rows if _instant(e["escalated_at"]) >= since)

    await gather_limited(of_unit(h) for h in sim.households)
    under_plan: list[dict[str, Any]] = []
    late_fee_only: list[dict[str, Any]] = []

    async def judge(h: Household, e: dict[str, Any]) -> None:
        at = _instant(e["escalated_at"])
        day = at.astimezone(TZ).date()
        listed = set(e.get("invoice_ids") or ())
        what = {"unit_id": h.unit_id, "stage": e["stage"], "escalated_at": at.isoformat()}
        plans = await api.get(
            "billing", f"/units/{h.unit_id}/installment-plans", actor="admin",
            params={"as_of": str(day)}, ok=(200, 404),
        )  # fmt: skip
        for plan in plans["items"] if isinstance(plans, dict) else []:  # a unit has a few
            started = _instant(plan["created_at"])
            if started <= at and not plan.get("missed") and listed & set(plan["invoice_ids"]):
                under_plan.append({**what, "plan_id": plan["plan_id"]})
                break
        statement = await api.get(
            "billing", f"/units/{h.unit_id}/statement", actor="admin",
            params={"as_of": str(day - timedelta(days=1))},
        )  # fmt: skip
        principal = sum(
            int(i["principal_outstanding_fen"])
            for i in statement["invoices"]
            if i["invoice_id"] in listed and not i.get("time_barred")
            and date.fromisoformat(str(i["due_date"])) < day
        )  # fmt: skip
        if principal <= 0:
            late_fee_only.append(what)

    await gather_limited(judge(h, e) for h, e in found)
    return {"escalations": len(found), "under_plan": under_plan, "late_fee_only": late_fee_only}


def _instant(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


async def wait_ready(api: Api, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    for service in api.urls:
        while True:
            try:
                await api.call("GET", service, "/readyz", actor=None)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)
