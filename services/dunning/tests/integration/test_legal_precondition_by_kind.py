"""Issue 18 rule 1 through dunning's HTTP API over PostgreSQL: the legal precondition (a
delivered individual demand whose deadline has passed) belongs to the action kind, not to the
stage's name. A policy stage ``court_filing`` with a ``lawsuit`` task and no precondition is
refused (422) naming stage and action; a manual advance into such a stage of a policy stored
before the rule is refused without the demand, and the sweep's stage flag requires it too."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from dunning.adapters.policies import community_policy_id, resync_stage_guards, save_policy
from dunning.domain.default_policy import DEFAULT_POLICY
from dunning.domain.policy import Policy
from services.dunning.tests.integration.support import COMPANY, at, case_of, feed, invoice

pytestmark = pytest.mark.integration

COURT_FILING: dict[str, Any] = {
    "code": "court_filing",
    "automatic": False,
    "actions": [{"kind": "task", "channel": "lawsuit"}],
}


async def test_a_renamed_lawsuit_stage_without_the_precondition_is_refused(api, pool) -> None:  # type: ignore[no-untyped-def]
    document = DEFAULT_POLICY.model_dump(mode="json")
    document["stages"].append(COURT_FILING)
    r = await api.put("/policies/c-1", json=document)
    assert r.status_code == 422, r.text
    refused = r.json()["refused"]
    assert any(
        "stage 'court_filing'" in x
        and "task 'lawsuit'" in x
        and "delivered_demand_deadline_passed" in x
        for x in refused
    ), refused
    assert (
        await pool.fetchval("SELECT count(*) FROM policies WHERE policy_id = $1", "community:c-1")
        == 0
    )
    # A Chinese template on an ordinary task is a lawyer's letter too.
    document["stages"][-1] = {
        "code": "step_nine",
        "automatic": False,
        "actions": [{"kind": "task", "channel": "phone_call", "template": "律师函"}],
    }
    r = await api.put("/policies/c-1", json=document)
    assert r.status_code == 422 and any("step_nine" in x for x in r.json()["refused"])
    # Declared, the same stage is lawful and the sweep's flag requires the demand.
    document["stages"][-1] = {**COURT_FILING, "preconditions": ["delivered_demand_deadline_passed"]}
    r = await api.put("/policies/c-1", json=document)
    assert r.status_code == 200, r.text


async def test_advance_into_a_lawsuit_like_stage_needs_a_delivered_expired_demand(
    api, pool
) -> None:  # type: ignore[no-untyped-def]
    # A policy stored before the rule: an ordinary call stage, then court_filing + lawsuit
    # with no declared precondition.
    document = DEFAULT_POLICY.model_dump(mode="json")
    document["stages"] = [
        document["stages"][0],
        {
            "code": "extra_call",
            "automatic": False,
            "actions": [{"kind": "task", "channel": "phone_call"}],
        },
        COURT_FILING,
    ]
    document["policy_id"] = community_policy_id("c-1")
    legacy = Policy.model_validate(document, context={"stored": True})
    async with pool.acquire() as conn, conn.transaction():
        await save_policy(conn, legacy, COMPANY)
        await conn.execute(
            "INSERT INTO community_policies (community_id, policy_id) VALUES ('c-1', $1)",
            legacy.policy_id,
        )
    flag = "SELECT requires_demand FROM policy_stages WHERE policy_id = $1 AND code = $2"
    assert await pool.fetchval(flag, legacy.policy_id, "court_filing") is True
    assert await pool.fetchval(flag, legacy.policy_id, "extra_call") is False
    # Rows written by older code (flag keyed on the code) are re-derived from the actions.
    await pool.execute(
        "UPDATE policy_stages SET requires_demand = false WHERE policy_id = $1", legacy.policy_id
    )
    async with pool.acquire() as conn:
        assert await resync_stage_guards(conn) == 1
    assert await pool.fetchval(flag, legacy.policy_id, "court_filing") is True
    assert await pool.fetchval(flag, legacy.policy_id, "extra_call") is False

    await feed(pool, invoice("3001", date(2025, 1, 31), total_fen=800_000))
    case = await case_of(pool, "3001")
    when = at("2026-03-02 10:00").isoformat()
    body = {"stage": "court_filing", "staff_id": "legal-1", "at": when}
    refused = await api.post(f"/cases/{case['case_id']}/advance", json=body)
    assert refused.status_code == 409, refused.text
    assert refused.json()["refused"] == "no_delivered_demand"
    assert (await case_of(pool, "3001"))["stage"] == case["stage"]
    assert await pool.fetchval("SELECT count(*) FROM tasks WHERE kind = 'lawsuit'") == 0
    # The ordinary stage of the same policy is entered without a demand.
    ok = await api.post(f"/cases/{case['case_id']}/advance", json={**body, "stage": "extra_call"})
    assert ok.status_code == 200, ok.text
    assert (await case_of(pool, "3001"))["stage"] == "extra_call"
    again = await api.post(f"/cases/{case['case_id']}/advance", json=body)
    assert again.status_code == 409 and again.json()["refused"] == "no_delivered_demand"


async def test_the_sweep_refuses_a_renamed_lawsuit_stage_without_the_demand(api, pool) -> None:  # type: ignore[no-untyped-def]
    document = DEFAULT_POLICY.model_dump(mode="json")
    document["stages"] = [
        document["stages"][1],  # reminder
        {**COURT_FILING, "automatic": True, "offset_days": 30},
    ]
    document["policy_id"] = community_policy_id("c-1")
    legacy = Policy.model_validate(document, context={"stored": True})
    async with pool.acquire() as conn, conn.transaction():
        await save_policy(conn, legacy, COMPANY)
        await conn.execute(
            "INSERT INTO community_policies (community_id, policy_id) VALUES ('c-1', $1)",
            legacy.policy_id,
        )
    await feed(pool, invoice("3002", date(2025, 1, 31), total_fen=800_000))
    first = await api.post("/sweeps", json={"as_of": at("2026-03-02 10:00").isoformat()})
    assert first.status_code == 200 and first.json()["by_stage"] == {"reminder": 1}, first.text
    second = await api.post("/sweeps", json={"as_of": at("2026-03-10 10:00").isoformat()})
    assert second.status_code == 200, second.text
    assert second.json()["refused"] == {"no_delivered_demand": 1}
    assert second.json()["by_stage"] == {}
    assert (await case_of(pool, "3002"))["stage"] == "reminder"
