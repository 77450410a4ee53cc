"""Issue 18 rule 13 through dunning's HTTP API over PostgreSQL: a policy with nonsense quiet
hours, cap or thresholds is refused (422) with every reason and nothing is saved; a sane one
is saved; a policy stored before these bounds still reads and sweeps."""

from __future__ import annotations

import pytest

from dunning.domain.default_policy import DEFAULT_POLICY
from services.dunning.tests.integration.support import at

pytestmark = pytest.mark.integration


async def test_nonsense_policies_are_refused_with_their_reasons(api, pool) -> None:  # type: ignore[no-untyped-def]
    bad = DEFAULT_POLICY.model_dump(mode="json")
    bad.update(quiet_start="23:30", quiet_end="06:00", reminder_cap=8, reminder_cap_window_days=3)
    bad["thresholds"].update(red_amount_fen=0, yellow_months=-2)
    r = await api.put("/policies/c-9", json=bad)
    assert r.status_code == 422, r.text
    refused = r.json()["refused"]
    for reason in (
        "quiet hours 23:30–06:00 must cover at least 22:00–07:00 local time",
        "reminder_cap: 8 is outside 1–4",
        "reminder_cap_window_days: 3 is outside 7–365",
        "thresholds.red_amount_fen: 0 must be greater than 0",
        "thresholds.yellow_months: -2 must be greater than 0",
    ):
        assert any(reason in x for x in refused), (reason, refused)
    assert (
        await pool.fetchval("SELECT count(*) FROM policies WHERE policy_id = 'community:c-9'") == 0
    )
    for changes in (
        {"quiet_start": "08:00", "quiet_end": "08:00"},
        {"quiet_start": "17:00", "quiet_end": "10:00"},
        {"time_zone": "Nowhere"},
    ):
        document = {**DEFAULT_POLICY.model_dump(mode="json"), **changes}
        r = await api.put("/policies/c-9", json=document)
        assert r.status_code == 422, (changes, r.text)

    sane = DEFAULT_POLICY.model_dump(mode="json")
    sane.update(quiet_start="20:30", quiet_end="08:30", reminder_cap=2, reminder_cap_window_days=14)
    r = await api.put("/policies/c-9", json=sane)
    assert r.status_code == 200, r.text
    got = (await api.get("/policies/c-9")).json()
    assert (got["quiet_start"], got["reminder_cap"]) == ("20:30", 2)


async def test_a_policy_stored_under_older_bounds_still_reads_and_sweeps(api, pool) -> None:  # type: ignore[no-untyped-def]
    sane = DEFAULT_POLICY.model_dump(mode="json")
    assert (await api.put("/policies/c-9", json=sane)).status_code == 200
    old = {**sane, "policy_id": "community:c-9", "reminder_cap": 6}
    await pool.execute(
        "UPDATE policies SET document = $1, reminder_cap = 6 WHERE policy_id = 'community:c-9'",
        old,
    )
    got = await api.get("/policies/c-9")
    assert got.status_code == 200 and got.json()["reminder_cap"] == 6
    r = await api.post("/sweeps", json={"as_of": at("2026-03-05 10:00").isoformat()})
    assert r.status_code == 200, r.text
    # Its next save is held to the bounds.
    assert (await api.put("/policies/c-9", json=old)).status_code == 422
