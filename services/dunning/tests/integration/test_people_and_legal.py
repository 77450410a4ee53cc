"""Staff records, pauses, promises, assignment, the legal track and its refusal, policies."""

from __future__ import annotations

from datetime import date

import pytest

from dunning.domain.default_policy import DEFAULT_POLICY
from services.dunning.tests.integration.support import at, case_of, delivered, feed, invoice

pytestmark = pytest.mark.integration


async def sweep(api, when: str) -> dict:  # type: ignore[no-untyped-def]
    r = await api.post("/sweeps", json={"as_of": at(when).isoformat()})
    assert r.status_code == 200, r.text
    return r.json()


async def test_legal_referral_refused_until_a_delivered_demand_deadline_passed(api, pool) -> None:  # type: ignore[no-untyped-def]
    await feed(pool, invoice("2001", date(2025, 1, 31), total_fen=800_000))
    case = await case_of(pool, "2001")
    # Walk the ladder, a sweep every 31 days, up to the legal demand.
    day, stages = date(2026, 1, 10), []
    while (await case_of(pool, "2001"))["stage"] != "legal_demand":
        result = await sweep(api, f"{day} 10:00")
        stages += list(result["by_stage"])
        day = date.fromordinal(day.toordinal() + 31)
        assert day < date(2028, 1, 1)
    assert stages[0] == "reminder" and "final_letter" in stages
    demand = await pool.fetchrow("SELECT * FROM demands WHERE case_id = $1", case["case_id"])
    body = {"stage": "lawsuit", "staff_id": "legal-1", "at": at(f"{day} 10:00").isoformat()}
    refused = await api.post(f"/cases/{case['case_id']}/advance", json=body)
    assert refused.status_code == 409
    assert refused.json()["refused"] == "no_delivered_demand"
    # The sweep refuses the lawyer's letter for the same reason.
    later = await sweep(
        api,
        f"{demand['deadline'].toordinal() and date.fromordinal(demand['deadline'].toordinal() + 30)} 10:00",
    )
    assert later["refused"] == {"no_delivered_demand": 1}
    await feed(
        pool,
        delivered(
            case["case_id"], "2001", "legal_demand", at(f"{demand['issued_at'].date()} 15:00")
        ),
    )
    too_soon = {**body, "at": at(f"{demand['deadline']} 10:00").isoformat()}
    early = await api.post(f"/cases/{case['case_id']}/advance", json=too_soon)
    assert early.status_code == 409
    assert early.json()["refused"] == "demand_deadline_not_passed"
    after = date.fromordinal(demand["deadline"].toordinal() + 40)
    assert (await sweep(api, f"{after} 10:00"))["by_stage"] == {"lawyer_letter": 1}
    ok = await api.post(
        f"/cases/{case['case_id']}/advance", json={**body, "at": at(f"{after} 11:00").isoformat()}
    )
    assert ok.status_code == 200, ok.text
    assert (await case_of(pool, "2001"))["stage"] == "lawsuit"
    tasks = (
        await api.get("/tasks", params={"case_id": case["case_id"], "kind": "lawsuit"})
    ).json()["items"]
    assert len(tasks) == 1 and tasks[0]["assignee"] == "legal-1"
    # A red case got a named owner task; assigning the owner closes it.
    assert (await case_of(pool, "2001"))["tier"] == "red"
    owner_tasks = (await api.get("/tasks", params={"kind": "assign_owner"})).json()["items"]
    assert len(owner_tasks) == 1
    r = await api.post(
        f"/cases/{case['case_id']}/assignment",
        json={"staff_id": "hk-7", "role": "collector", "owner": True},
    )
    assert r.status_code == 200
    assert (await api.get("/tasks", params={"kind": "assign_owner"})).json()["items"] == []
    queue = (await api.get("/staff/hk-7/queue")).json()["items"]
    assert [q["case_id"] for q in queue] == [case["case_id"]] and queue[0]["owner"]


async def test_complaint_pauses_promise_defers_and_a_broken_promise_follows_up(api, pool) -> None:  # type: ignore[no-untyped-def]
    await feed(pool, invoice("2002", date(2026, 1, 31)))
    case_id = (await case_of(pool, "2002"))["case_id"]
    outcome = {
        "kind": "call",
        "reason_code": "unhappy_with_service",
        "staff_id": "hk-1",
        "note": "漏水未修",
        "at": at("2026-02-05 18:30").isoformat(),
    }
    assert (await api.post(f"/cases/{case_id}/outcomes", json=outcome)).status_code == 201
    assert (await sweep(api, "2026-02-08 10:00"))["escalated"] == 0, "paused by the complaint"
    pause_id = await pool.fetchval("SELECT pause_id FROM pauses WHERE case_id = $1", case_id)
    r = await api.post(
        f"/pauses/{pause_id}/resolve",
        json={"resolution": "leak fixed", "at": at("2026-02-09 09:00").isoformat()},
    )
    assert r.status_code == 200
    promise = {
        "amount_fen": 27_580,
        "promised_date": "2026-02-20",
        "signed": True,
        "staff_id": "hk-1",
        "at": at("2026-02-09 10:00").isoformat(),
    }
    assert (await api.post(f"/cases/{case_id}/promises", json=promise)).status_code == 201
    assert (await sweep(api, "2026-02-10 10:00"))["escalated"] == 0, "deferred until the promise"
    result = await sweep(api, "2026-02-23 10:00")
    assert result["by_stage"] == {"reminder": 1}
    follow = (await api.get("/tasks", params={"kind": "promise_follow_up"})).json()["items"]
    assert len(follow) == 1 and follow[0]["assignee"] == "hk-1"
    # The signed promise acknowledged the debt: the clock restarted on 2026-02-09.
    expires = await pool.fetchval(
        "SELECT limitation_expires_on FROM receivables WHERE unit_id = '2002'"
    )
    assert expires == date(2029, 2, 9)
    assert (
        await api.post(f"/cases/{case_id}/notes", json={"staff_id": "hk-1", "body": "再次联系"})
    ).status_code == 201


async def test_disputed_invoice_is_left_out_while_paused(api, pool) -> None:  # type: ignore[no-untyped-def]
    disputed = invoice("2003", date(2026, 1, 31), total_fen=10_000)
    await feed(pool, disputed)
    await feed(pool, invoice("2003", date(2026, 2, 28)))
    case_id = (await case_of(pool, "2003"))["case_id"]
    body = {
        "reason": "service_complaint",
        "owner": "cs-1",
        "invoice_id": disputed.invoice_id,
        "starts_at": at("2026-02-01 09:00").isoformat(),
        "ends_at": at("2026-04-01 09:00").isoformat(),
    }
    assert (await api.post(f"/cases/{case_id}/pauses", json=body)).status_code == 201
    assert (await sweep(api, "2026-03-08 10:00"))["escalated"] == 1
    escalations = (await api.get(f"/cases/{case_id}/escalations")).json()["items"]
    assert escalations[0]["outstanding_fen"] == 27_580
    assert disputed.invoice_id not in escalations[0]["invoice_ids"]


async def test_policy_refuses_coercion_and_community_policy_applies(api, pool) -> None:  # type: ignore[no-untyped-def]
    bad = DEFAULT_POLICY.model_dump(mode="json")
    bad["stages"].append(
        {"code": "stop_lift", "actions": [{"kind": "task", "channel": "disable_lift"}]}
    )
    r = await api.put("/policies/c-9", json=bad)
    assert r.status_code == 422
    assert any("lift" in reason for reason in r.json()["refused"])
    unsealed = DEFAULT_POLICY.model_dump(mode="json")
    unsealed["stages"][5]["actions"][0]["sealed"] = False
    assert (await api.put("/policies/c-9", json=unsealed)).status_code == 422
    fast = DEFAULT_POLICY.model_dump(mode="json")
    fast["stages"][1]["offset_days"] = 3
    fast["thresholds"]["red_amount_fen"] = 100
    assert (await api.put("/policies/c-9", json=fast)).status_code == 200
    assert (await api.get("/policies/c-9")).json()["stages"][1]["offset_days"] == 3
    await feed(pool, invoice("2004", date(2026, 1, 31), community="c-9"))
    await feed(pool, invoice("2005", date(2026, 1, 31)))
    result = await sweep(api, "2026-02-04 10:00")
    assert result["escalated"] == 1
    assert (await case_of(pool, "2004"))["stage"] == "reminder"
