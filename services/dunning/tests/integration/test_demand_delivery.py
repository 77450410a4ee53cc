"""Issue 18 rules 2, 3 and 10 in dunning over PostgreSQL and its HTTP API.

Rule 2: a demand counts only when delivered, in time, and its deadline - counted from
delivery - has passed now. The one home is ``dunning_demand_refusal`` (migration 0010): the
example table below runs against it in PostgreSQL, and the sweep and the manual advance both
call it. Staff are judged at the server's clock (only the service role acts as of another
instant). Rule 3: a letter with a tracking number is posted, not delivered; only its delivery
with proof (carrier status or a signed receipt) is evidence and restarts the clock. Rule 10:
notifier's review task for a demand a payment cancelled is a task and a note on the case."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from propfee.auth import Role
from propfee.events import StaffTaskRequested
from services.dunning.tests.integration.support import SH, at, case_of, delivered, feed, invoice
from tests.support.auth import BearerAuth, staff_token

pytestmark = pytest.mark.integration

#: (issued_at, delivered_at, stated deadline, deadline_days, today) -> refusal (None: ripe).
EXAMPLES: list[tuple[str, str | None, date, int, date, str | None]] = [
    ("2026-05-01 10:00", None, date(2026, 5, 16), 15, date(2026, 6, 30), "no_delivered_demand"),
    # Delivered the next day: the deadline runs from delivery (05-17), passed on 05-18.
    ("2026-05-01 10:00", "2026-05-02 09:00", date(2026, 5, 16), 15, date(2026, 5, 17),
     "demand_deadline_not_passed"),
    ("2026-05-01 10:00", "2026-05-02 09:00", date(2026, 5, 16), 15, date(2026, 5, 18), None),
    # Delivered on the stated deadline: in time; its own 15 days then run.
    ("2026-05-01 10:00", "2026-05-16 18:00", date(2026, 5, 16), 15, date(2026, 5, 20),
     "demand_deadline_not_passed"),
    ("2026-05-01 10:00", "2026-05-16 18:00", date(2026, 5, 16), 15, date(2026, 6, 1), None),
    # Delivered after the deadline it states: never ripe.
    ("2026-05-01 10:00", "2026-05-17 09:00", date(2026, 5, 16), 15, date(2027, 1, 1),
     "delivered_after_deadline"),
    # A delivery dated before the demand was issued proves nothing.
    ("2026-05-01 10:00", "2026-05-01 09:59", date(2026, 5, 16), 15, date(2027, 1, 1),
     "delivered_before_issue"),
    # Local dates (Asia/Shanghai): 23:30 on 05-02 local is 15:30 UTC the same day.
    ("2026-05-01 10:00", "2026-05-02 23:30", date(2026, 5, 16), 15, date(2026, 5, 17),
     "demand_deadline_not_passed"),
]  # fmt: skip


@pytest.mark.parametrize(("issued", "got", "deadline", "days", "today", "expected"), EXAMPLES)
async def test_the_demand_rule_example_table_in_postgresql(
    pool: asyncpg.Pool,
    issued: str,
    got: str | None,
    deadline: date,
    days: int,
    today: date,
    expected: str | None,
) -> None:
    refusal = await pool.fetchval(
        "SELECT dunning_demand_refusal($1, $2, $3, $4, $5, 'Asia/Shanghai')",
        at(issued), at(got) if got else None, deadline, days, today,
    )  # fmt: skip
    assert refusal == expected


async def legal_demand_at(
    api: httpx.AsyncClient, pool: asyncpg.Pool, unit: str, when: datetime
) -> str:
    """A case moved (by the service role) to the legal demand at ``when``: its demand is
    issued then, with the default policy's 15 days."""
    await feed(pool, invoice(unit, date(2025, 1, 31), total_fen=800_000))
    case_id: str = (await case_of(pool, unit))["case_id"]
    r = await api.post(
        f"/cases/{case_id}/advance", json={"stage": "legal_demand", "at": when.isoformat()}
    )
    assert r.status_code == 200, r.text
    demand = await pool.fetchrow("SELECT * FROM demands WHERE case_id = $1", case_id)
    assert demand["issued_at"] == when and demand["deadline_days"] == 15
    assert demand["deadline"] == when.astimezone(SH).date() + timedelta(days=15)
    return case_id


async def advance(api: httpx.AsyncClient, case_id: str, when: str, **kw: Any) -> httpx.Response:
    body = {"stage": "lawsuit", "at": at(when).isoformat()}
    return await api.post(f"/cases/{case_id}/advance", json=body, **kw)


async def sweep(api: httpx.AsyncClient, when: str) -> dict[str, Any]:
    r = await api.post("/sweeps", json={"as_of": at(when).isoformat()})
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_a_demand_delivered_after_its_deadline_is_not_ripe(api, pool) -> None:  # type: ignore[no-untyped-def]
    case_id = await legal_demand_at(api, pool, "r2-1", at("2026-03-02 10:00"))
    await feed(pool, delivered(case_id, "r2-1", "legal_demand", at("2026-03-20 10:00")))
    assert (await sweep(api, "2026-05-01 10:00"))["refused"] == {"no_delivered_demand": 1}
    r = await advance(api, case_id, "2026-05-01 11:00")
    assert r.status_code == 409 and r.json()["refused"] == "delivered_after_deadline"


async def test_a_delivery_dated_before_the_issue_is_not_ripe(api, pool) -> None:  # type: ignore[no-untyped-def]
    case_id = await legal_demand_at(api, pool, "r2-2", at("2026-03-02 10:00"))
    await feed(pool, delivered(case_id, "r2-2", "legal_demand", at("2026-03-01 10:00")))
    assert (await sweep(api, "2026-05-01 10:00"))["refused"] == {"no_delivered_demand": 1}
    r = await advance(api, case_id, "2026-05-01 11:00")
    assert r.status_code == 409 and r.json()["refused"] == "delivered_before_issue"


async def test_the_deadline_runs_from_delivery_in_the_sweep_and_the_advance(api, pool) -> None:  # type: ignore[no-untyped-def]
    case_id = await legal_demand_at(api, pool, "r2-3", at("2026-03-02 10:00"))
    # Stated deadline 03-17; delivered 03-15: the 15 days run to 03-30.
    await feed(pool, delivered(case_id, "r2-3", "legal_demand", at("2026-03-15 10:00")))
    assert (await sweep(api, "2026-03-25 10:00"))["refused"] == {"no_delivered_demand": 1}
    r = await advance(api, case_id, "2026-03-30 11:00")
    assert r.status_code == 409 and r.json()["refused"] == "demand_deadline_not_passed"
    assert (await sweep(api, "2026-03-31 10:00"))["by_stage"] == {"lawyer_letter": 1}
    r = await advance(api, case_id, "2026-03-31 11:00")
    assert r.status_code == 200, r.text


async def test_staff_are_judged_at_the_servers_clock_not_a_back_dated_time(
    api: httpx.AsyncClient, pool: asyncpg.Pool, dev_issuer: Any
) -> None:
    now = datetime.now(UTC)
    case_id = await legal_demand_at(api, pool, "r2-4", now - timedelta(days=20))
    await feed(pool, delivered(case_id, "r2-4", "legal_demand", now - timedelta(days=19)))
    # Ripe since 3 days (19 - 15 - 1); a lawyer back-dates the referral 6 days: judged at the
    # server's clock, it is allowed, and entered now (not before its precondition held).
    legal = BearerAuth(staff_token(dev_issuer, [Role.legal], subject="lw-1", communities=["c-1"]))
    back = {"stage": "lawsuit", "at": (now - timedelta(days=6)).isoformat()}
    r = await api.post(f"/cases/{case_id}/advance", json=back, auth=legal)
    assert r.status_code == 200, r.text
    entered = (await case_of(pool, "r2-4"))["stage_entered_at"]
    assert abs(entered - datetime.now(UTC)) < timedelta(minutes=1)


async def test_a_posted_letter_proves_nothing_until_its_delivery_is_recorded(api, pool) -> None:  # type: ignore[no-untyped-def]
    case_id = await legal_demand_at(api, pool, "r3-1", at("2026-03-02 10:00"))
    letter = {
        "stage": "legal_demand", "tracking_no": "EA123456789CN",
        "sent_at": at("2026-03-03 09:00").isoformat(),
        "delivered_at": at("2026-03-05 10:00").isoformat(),  # staff's say-so, no proof
    }  # fmt: skip
    r = await api.post(f"/cases/{case_id}/letters", json=letter)
    assert r.status_code == 201 and r.json()["status"] == "posted", r.text
    letter_id = r.json()["letter_id"]
    assert await pool.fetchval("SELECT count(*) FROM contact_evidence") == 0
    assert await pool.fetchval("SELECT count(*) FROM limitation_restarts") == 0
    r = await advance(api, case_id, "2026-04-10 10:00")
    assert r.status_code == 409 and r.json()["refused"] == "no_delivered_demand"
    path = f"/cases/{case_id}/letters/{letter_id}/delivery"
    when = at("2026-03-05 10:00").isoformat()
    r = await api.post(path, json={"delivered_at": when})
    assert r.status_code == 422, "a delivery needs its proof"
    early = {"delivered_at": at("2026-03-02 10:00").isoformat(), "carrier_status": "妥投"}
    assert (await api.post(path, json=early)).status_code == 422, "before it was posted"
    proof = {"delivered_at": when, "carrier_status": "妥投", "signed_by": "本人签收"}
    r = await api.post(path, json=proof)
    assert r.status_code == 200 and r.json()["status"] == "delivered", r.text
    evidence = await pool.fetchrow(
        "SELECT * FROM contact_evidence WHERE notification_id = $1", letter_id
    )
    assert evidence["outcome"] == "delivered" and evidence["detail"]["carrier_status"] == "妥投"
    assert evidence["detail"]["tracking_no"] == "EA123456789CN"
    restarts = await pool.fetch("SELECT * FROM limitation_restarts WHERE source_id = $1", letter_id)
    assert [(r["kind"], r["on_date"]) for r in restarts] == [("delivered_demand", date(2026, 3, 5))]
    assert (await api.post(path, json=proof)).status_code == 200  # idempotent
    r = await advance(api, case_id, "2026-04-10 10:00")
    assert r.status_code == 200, r.text


async def test_a_letter_recorded_with_a_signed_receipt_is_delivered(api, pool) -> None:  # type: ignore[no-untyped-def]
    case_id = await legal_demand_at(api, pool, "r3-2", at("2026-03-02 10:00"))
    letter = {
        "stage": "legal_demand", "tracking_no": "hand-1", "carrier": "hand",
        "sent_at": at("2026-03-03 09:00").isoformat(),
        "delivered_at": at("2026-03-03 15:00").isoformat(),
        "receipt_reference": "scan/receipt-0042.pdf", "signed_by": "业主本人",
    }  # fmt: skip
    r = await api.post(f"/cases/{case_id}/letters", json=letter)
    assert r.status_code == 201 and r.json()["status"] == "delivered", r.text
    assert await pool.fetchval("SELECT count(*) FROM limitation_restarts") > 0
    assert (await advance(api, case_id, "2026-03-20 10:00")).status_code == 200


async def test_a_demand_cancelled_by_a_payment_becomes_a_task_and_a_note(api, pool) -> None:  # type: ignore[no-untyped-def]
    case_id = await legal_demand_at(api, pool, "r10-1", at("2026-03-02 10:00"))
    reason = (
        "the legal_demand demand (letter, deadline 2026-03-17) was not issued: cancelled: the "
        "household paid (payment pay-1); decide whether to issue it again"
    )
    task = StaffTaskRequested(
        task_id="task-n-1", kind="review_legal_demand", community_id="c-1", unit_id="r10-1",
        party_id="p-r10-1", subject_id=case_id, stage="legal_demand", reason=reason,
        notification_id="n-1", requested_at=at("2026-03-02 12:00"),
    )  # fmt: skip
    await feed(pool, task)
    await feed(pool, task)  # a redelivery changes nothing
    tasks = (
        await api.get("/tasks", params={"case_id": case_id, "kind": "review_legal_demand"})
    ).json()["items"]
    assert len(tasks) == 1 and tasks[0]["reason"] == reason and tasks[0]["stage"] == "legal_demand"
    notes = await pool.fetch("SELECT body FROM case_notes WHERE case_id = $1", case_id)
    assert [n["body"] for n in notes] == [reason]


async def test_a_letter_delivered_on_a_tracking_number_alone_counts_for_nothing(api, pool) -> None:  # type: ignore[no-untyped-def]
    """An event from a notifier of before the rule (a tracking number as 'delivery')."""
    case_id = await legal_demand_at(api, pool, "r3-3", at("2026-03-02 10:00"))
    posted = delivered(case_id, "r3-3", "legal_demand", at("2026-03-04 10:00"))
    await feed(pool, posted.model_copy(update={"proof": {"tracking_number": "EA1CN"}}))
    assert await pool.fetchval("SELECT count(*) FROM contact_evidence") == 0
    assert await pool.fetchval("SELECT count(*) FROM limitation_restarts") == 0
    r = await advance(api, case_id, "2026-04-10 10:00")
    assert r.status_code == 409 and r.json()["refused"] == "no_delivered_demand"


async def test_a_refused_advance_names_every_unmet_precondition(api, pool) -> None:  # type: ignore[no-untyped-def]
    """The 409 keeps ``refused`` (the first reason) and lists every unmet precondition in
    ``unmet`` (``{code, detail}``), so the console can show them all at once."""
    case_id = await legal_demand_at(api, pool, "unmet-1", at("2026-03-02 10:00"))
    r = await advance(api, case_id, "2026-04-10 10:00")
    assert r.status_code == 409 and r.json()["refused"] == "no_delivered_demand"
    assert [u["code"] for u in r.json()["unmet"]] == ["no_delivered_demand"]
    assert r.json()["unmet"][0]["detail"] == r.json()["detail"]
    pause = {
        "reason": "service_complaint", "owner": "cs-1",
        "starts_at": at("2026-04-01 10:00").isoformat(),
        "ends_at": at("2026-05-01 10:00").isoformat(),
    }  # fmt: skip
    assert (await api.post(f"/cases/{case_id}/pauses", json=pause)).status_code == 201
    r = await advance(api, case_id, "2026-04-10 10:00")
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["refused"] == "case_paused"
    assert [u["code"] for u in body["unmet"]] == ["case_paused", "no_delivered_demand"]
    assert all(u["detail"] for u in body["unmet"])
    # Back to a stage it has passed (after the pause): that alone.
    r = await api.post(
        f"/cases/{case_id}/advance",
        json={"stage": "final_letter", "at": at("2026-05-02 10:00").isoformat()},
    )
    assert r.status_code == 409 and [u["code"] for u in r.json()["unmet"]] == ["not_later"]
