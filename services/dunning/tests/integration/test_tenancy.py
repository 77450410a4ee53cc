"""Issue 16 in dunning: a staff sweep touches only the caller's communities and runs as of
now; staff's business times (back-dated within the company's window, never forward-dated,
the demand's deadline checked on the server's clock); the legal role reads the legal track
only; a company's default policy never reaches another company."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from dunning.domain.default_policy import DEFAULT_POLICY
from propfee.auth import Role
from propfee.auth.dev import DevIssuer
from services.dunning.tests.integration.conftest import in_process
from services.dunning.tests.integration.support import (
    SH,
    case_of,
    community,
    delivered,
    feed,
    invoice,
    settled,
)
from tests.support.auth import bearer

pytestmark = pytest.mark.integration


def as_(
    issuer: DevIssuer,
    roles: Iterable[Role],
    subject: str = "someone",
    company: str = "co-1",
    communities: list[str] | str = "*",
) -> dict[str, str]:
    return bearer(issuer.mint(subject, list(roles), company, communities))


@pytest.fixture
def client(pool: asyncpg.Pool, dev_issuer: DevIssuer) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=in_process(pool, dev_issuer), base_url="http://dunning")


def iso(value: datetime) -> str:
    return value.isoformat()


# --- sweeps --------------------------------------------------------------------------------


async def test_a_staff_sweep_touches_only_the_callers_communities_and_runs_as_of_now(
    client: httpx.AsyncClient, pool: asyncpg.Pool, dev_issuer: DevIssuer
) -> None:
    await feed(pool, community("c-b", "co-2"))
    for unit, where in (("a-1", "c-1"), ("a-9", "c-9"), ("b-1", "c-b")):
        await feed(pool, invoice(unit, date(2025, 1, 31), community=where))
    manager_a = as_(dev_issuer, [Role.community_manager], "pm-a", "co-1", ["c-1"])
    admin_a = as_(dev_issuer, [Role.company_admin], "admin-a", "co-1")
    cron = as_(dev_issuer, [Role.service], "cron", "*")
    async with client as http:
        for when in ("2099-01-01T10:00:00+08:00", "2026-03-01T10:00:00+08:00"):
            r = await http.post("/sweeps", headers=manager_a, json={"as_of": when})
            assert r.status_code == 403, r.text
            assert "as_of" in r.json()["detail"]
        assert await pool.fetchval("SELECT count(*) FROM sweeps") == 0
        r = await http.post("/sweeps", headers=manager_a, json={})
        assert r.status_code == 200, r.text
        assert r.json()["cases"] == 1, "one community's cases: c-1's"
        # The sweep refreshed (and escalated, outside quiet hours) c-1's case only.
        assert (await case_of(pool, "a-1"))["tier"] is not None
        for untouched in ("a-9", "b-1"):
            case = await case_of(pool, untouched)
            assert case["tier"] is None and case["stage"] is None, untouched
        assert await pool.fetchval(
            "SELECT count(*) FROM escalations WHERE community_id <> 'c-1'"
        ) == 0  # fmt: skip
        assert await pool.fetchval(
            "SELECT array_agg(DISTINCT community_id) FROM tier_snapshots"
        ) == ["c-1"]  # fmt: skip
        r = await http.post("/sweeps", headers=admin_a, json={})
        assert r.json()["cases"] == 2, "company A's communities: c-1 and c-9"
        assert (await case_of(pool, "b-1"))["tier"] is None, "company B's case untouched"
        sweep = await pool.fetchrow("SELECT * FROM sweeps ORDER BY sweep_id DESC LIMIT 1")
        assert sweep["requested_by"] == "admin-a" and sweep["company_id"] == "co-1"
        assert abs(sweep["as_of"] - datetime.now(UTC)) < timedelta(minutes=1)
        # The service role: the whole deployment, as of the simulation clock.
        r = await http.post("/sweeps", headers=cron, json={"as_of": "2025-03-01T10:00:00+08:00"})
        assert r.status_code == 200 and r.json()["cases"] == 3
        assert (await case_of(pool, "b-1"))["tier"] is not None


# --- business times ------------------------------------------------------------------------


async def test_staff_back_date_within_the_companys_window_and_never_forward(
    client: httpx.AsyncClient, pool: asyncpg.Pool, dev_issuer: DevIssuer
) -> None:
    window = community("c-1")
    await feed(
        pool, window.model_copy(update={"backdate_days": 2, "updated_at": datetime.now(UTC)})
    )
    await feed(pool, invoice("t-1", date(2025, 1, 31)))
    case_id = (await case_of(pool, "t-1"))["case_id"]
    hk = as_(dev_issuer, [Role.housekeeper], "hk-1", communities=["c-1"])
    legal = as_(dev_issuer, [Role.legal, Role.community_manager], "lw-1", communities=["c-1"])
    now = datetime.now(UTC)
    future, too_old, yesterday = (
        now + timedelta(hours=2),
        now - timedelta(days=3),
        now - timedelta(days=1),
    )
    refused: list[tuple[dict[str, str], str, dict[str, Any]]] = []
    for when in (future, too_old):
        refused += [
            (hk, f"/cases/{case_id}/outcomes",
             {"kind": "call", "reason_code": "forgot", "at": iso(when)}),
            (hk, f"/cases/{case_id}/promises",
             {"amount_fen": 100, "promised_date": "2027-06-30", "at": iso(when)}),
            (hk, f"/cases/{case_id}/notes", {"body": "再次联系", "at": iso(when)}),
            (hk, f"/cases/{case_id}/pauses", {"reason": "other", "owner": "hk-1",
                                              "ends_at": "2030-01-01T00:00:00Z",
                                              "starts_at": iso(when)}),
            (legal, f"/cases/{case_id}/letters",
             {"stage": "final_letter", "tracking_no": "EMS1", "sent_at": iso(when)}),
            (legal, f"/cases/{case_id}/letters",
             {"stage": "final_letter", "tracking_no": "EMS2", "sent_at": iso(yesterday),
              "delivered_at": iso(when)}),
            (legal, f"/cases/{case_id}/advance", {"stage": "final_letter", "at": iso(when)}),
        ]  # fmt: skip
    async with client as http:
        for headers, path, body in refused:
            r = await http.post(path, headers=headers, json=body)
            assert r.status_code == 403, f"{path} {body}: {r.status_code} {r.text}"
        tables = ("contact_outcomes", "promises", "case_notes", "pauses", "letters", "audit_log")
        for table in tables:
            assert await pool.fetchval(f"SELECT count(*) FROM {table}") == 0, table
        assert (await case_of(pool, "t-1"))["stage"] is None
        # Within the window: the business time as sent, the real time beside it.
        r = await http.post(f"/cases/{case_id}/outcomes", headers=hk, json={
            "kind": "visit", "reason_code": "forgot", "at": iso(yesterday)})  # fmt: skip
        assert r.status_code == 201, r.text
        row = await pool.fetchrow("SELECT at, recorded_at FROM contact_outcomes")
        assert row["at"] == yesterday
        assert abs(row["recorded_at"] - datetime.now(UTC)) < timedelta(minutes=1)
        r = await http.post(f"/cases/{case_id}/letters", headers=legal, json={
            "stage": "final_letter", "tracking_no": "EMS3", "sent_at": iso(yesterday),
            "delivered_at": iso(now - timedelta(hours=1))})  # fmt: skip
        assert r.status_code == 201, r.text
        r = await http.post(f"/cases/{case_id}/promises", headers=hk, json={
            "amount_fen": 100, "promised_date": "2027-06-30"})  # fmt: skip
        assert r.status_code == 201, r.text
        promise = await pool.fetchrow("SELECT made_at, recorded_at FROM promises")
        assert abs(promise["made_at"] - promise["recorded_at"]) < timedelta(seconds=5)
        r = await http.post(f"/cases/{case_id}/pauses", headers=hk, json={
            "reason": "other", "owner": "hk-1", "ends_at": "2030-01-01T00:00:00Z"})  # fmt: skip
        pause_id = r.json()["pause_id"]
        r = await http.post(f"/pauses/{pause_id}/resolve", headers=hk,
                            json={"resolution": "ok", "at": iso(future)})  # fmt: skip
        assert r.status_code == 403, r.text
        r = await http.post(f"/pauses/{pause_id}/resolve", headers=hk,
                            json={"resolution": "ok", "at": iso(yesterday)})  # fmt: skip
        assert r.status_code == 200, r.text


async def test_a_forward_dated_advance_cannot_pass_the_demands_deadline(
    client: httpx.AsyncClient, pool: asyncpg.Pool, dev_issuer: DevIssuer
) -> None:
    await feed(pool, invoice("d-1", date(2025, 1, 31), total_fen=800_000))
    case_id = (await case_of(pool, "d-1"))["case_id"]
    # Staff on the simulation clock (as the demo's actors): the service role beside theirs.
    cron = as_(dev_issuer, [Role.company_admin, Role.service], "sim", "co-1")
    legal = as_(dev_issuer, [Role.legal], "lw-1", communities=["c-1"])
    now = datetime.now(UTC)
    today = now.astimezone(SH).date()
    deadline = today + timedelta(days=10)
    async with client as http:
        r = await http.post(f"/cases/{case_id}/advance", headers=cron, json={
            "stage": "legal_demand", "at": iso(now - timedelta(days=5))})  # fmt: skip
        assert r.status_code == 200, r.text
        # The demand issued by hand, with its deadline (15 days).
        demand = await pool.fetchrow("SELECT deadline, deadline_days FROM demands")
        assert tuple(demand) == (deadline, 15)
        await feed(pool, delivered(case_id, "d-1", "legal_demand", now - timedelta(days=4)))
        # The deadline runs from delivery (a day after issue): it passes a day later.
        after_deadline = datetime.combine(deadline + timedelta(days=2), datetime.min.time(), SH)
        forward = {"stage": "lawsuit", "at": iso(after_deadline + timedelta(hours=10))}
        r = await http.post(f"/cases/{case_id}/advance", headers=legal, json=forward)
        assert r.status_code == 403, r.text
        r = await http.post(f"/cases/{case_id}/advance", headers=legal, json={"stage": "lawsuit"})
        assert r.status_code == 409, r.text
        assert r.json()["refused"] == "demand_deadline_not_passed"
        assert (await case_of(pool, "d-1"))["stage"] == "legal_demand"
        # The simulation clock may act as of that day.
        r = await http.post(f"/cases/{case_id}/advance", headers=cron, json=forward)
        assert r.status_code == 200, r.text


# --- the legal role ------------------------------------------------------------------------


async def test_the_legal_role_reads_the_legal_track_only(
    client: httpx.AsyncClient, pool: asyncpg.Pool, dev_issuer: DevIssuer
) -> None:
    await feed(pool, invoice("l-1", date(2025, 1, 31)))
    on_track = invoice("l-2", date(2025, 1, 31))
    await feed(pool, on_track)
    ordinary, legal_case = (
        (await case_of(pool, "l-1"))["case_id"],
        (await case_of(pool, "l-2"))["case_id"],
    )
    manager = as_(dev_issuer, [Role.community_manager], "pm-1")
    legal = as_(dev_issuer, [Role.legal], "lw-1")
    async with client as http:
        for case_id in (ordinary, legal_case):
            r = await http.post(f"/cases/{case_id}/assignment", headers=manager,
                                json={"staff_id": "lw-1", "role": "legal"})  # fmt: skip
            assert r.status_code == 200, r.text
            r = await http.post(f"/cases/{case_id}/advance", headers=manager,
                                json={"stage": "home_visit"})  # fmt: skip
            assert r.status_code == 200, r.text
        r = await http.post(f"/cases/{legal_case}/advance", headers=manager,
                            json={"stage": "legal_demand"})  # fmt: skip
        assert r.status_code == 200, r.text
        listed = (await http.get("/cases", headers=legal)).json()["items"]
        assert [c["case_id"] for c in listed] == [legal_case]
        # Opened at the same instant: the page orders them by id.
        listed = (await http.get("/cases", headers=manager)).json()["items"]
        assert [c["case_id"] for c in listed] == sorted([ordinary, legal_case])
        queue = (await http.get("/staff/me/queue", headers=legal)).json()["items"]
        assert [c["case_id"] for c in queue] == [legal_case]
        tasks = (await http.get("/tasks", headers=legal)).json()["items"]
        assert tasks and {t["case_id"] for t in tasks} == {legal_case}
        visit = next(
            t for t in (await http.get("/tasks", headers=manager)).json()["items"]
            if t["case_id"] == ordinary
        )  # fmt: skip
        for path in (
            f"/cases/{ordinary}", f"/cases/{ordinary}/escalations", f"/cases/{ordinary}/pauses",
            f"/cases/{ordinary}/evidence", f"/cases/{ordinary}/evidence.pdf",
            f"/cases/{ordinary}/evidence.zip",
        ):  # fmt: skip
            r = await http.get(path, headers=legal)
            assert r.status_code == 404, path
            assert (
                await http.get(path.replace(ordinary, legal_case), headers=legal)
            ).status_code == 200
        r = await http.post(f"/tasks/{visit['task_id']}/done", headers=legal)
        assert r.status_code == 404
        # A case that entered the legal track stays on it, closed too.
        await feed(pool, settled(on_track, datetime.now(UTC)))
        assert (await case_of(pool, "l-2"))["status"] == "closed"
        assert (await http.get(f"/cases/{legal_case}", headers=legal)).status_code == 200
        listed = (await http.get("/cases", headers=legal, params={"status": "closed"})).json()[
            "items"
        ]
        assert [c["case_id"] for c in listed] == [legal_case]


async def test_the_sweep_puts_a_case_on_the_legal_track_at_the_legal_demand(api, pool) -> None:  # type: ignore[no-untyped-def]
    await feed(pool, invoice("s-1", date(2025, 1, 31), total_fen=800_000))
    day = date(2026, 1, 10)
    while (case := await case_of(pool, "s-1"))["stage"] != "legal_demand":
        assert case["legal_since"] is None, case["stage"]
        r = await api.post("/sweeps", json={"as_of": f"{day}T10:00:00+08:00"})
        assert r.status_code == 200, r.text
        day += timedelta(days=31)
        assert day < date(2028, 1, 1)
    assert case["legal_since"] == case["stage_entered_at"]
    stages = await pool.fetch(
        "SELECT code FROM policy_stages WHERE policy_id = 'default' AND legal ORDER BY idx"
    )
    assert [s["code"] for s in stages] == [
        "legal_demand", "lawyer_letter", "mediation", "lawsuit", "enforcement",
    ]  # fmt: skip


# --- policies ------------------------------------------------------------------------------


async def test_a_companys_default_policy_is_its_own(
    client: httpx.AsyncClient, pool: asyncpg.Pool, dev_issuer: DevIssuer
) -> None:
    """Company A's admin replaces "the default" while dunning knows no other company; company
    B's communities, learnt later, still follow the built-in default, and A's sweep uses A's."""
    admin_a = as_(dev_issuer, [Role.company_admin], "root-a", "co-1")
    admin_b = as_(dev_issuer, [Role.company_admin], "root-b", "co-2")
    manager_a = as_(dev_issuer, [Role.community_manager], "pm-a", "co-1")
    cron = as_(dev_issuer, [Role.service], "cron", "*")
    built_in = DEFAULT_POLICY.model_dump(mode="json", exclude={"policy_id"})
    mine = {**built_in, "monthly_reminder_day": None, "red_case_owner": "boss-a"}
    async with client as http:
        assert (
            await http.put("/policies/default", headers=manager_a, json=mine)
        ).status_code == 403
        r = await http.put("/policies/default", headers=admin_a, json=mine)
        assert r.status_code == 200, r.text
        await feed(pool, community("c-b", "co-2"))
        for headers, path in ((admin_b, "/policies/default"), (admin_b, "/policies/c-b"),
                              (cron, "/policies/default")):  # fmt: skip
            policy = (await http.get(path, headers=headers)).json()
            assert policy["red_case_owner"] is None and policy["monthly_reminder_day"] == 10, path
        for path in ("/policies/default", "/policies/c-1", "/policies/c-9"):
            policy = (await http.get(path, headers=admin_a)).json()
            assert policy["red_case_owner"] == "boss-a", path
        # B's admin sets B's default: A's stays as it is.
        theirs = {**built_in, "red_case_owner": "boss-b"}
        assert (
            await http.put("/policies/default", headers=admin_b, json=theirs)
        ).status_code == 200
        assert (await http.get("/policies/c-1", headers=admin_a)).json()[
            "red_case_owner"
        ] == "boss-a"
        assert (await http.get("/policies/c-b", headers=admin_b)).json()[
            "red_case_owner"
        ] == "boss-b"
        # The built-in default is read-only.
        builtin = await pool.fetchval("SELECT document FROM policies WHERE policy_id = 'default'")
        assert builtin is None or builtin["red_case_owner"] is None
        # The sweep follows each company's default: red cases get their company's owner.
        for unit, where in (("pa-1", "c-1"), ("pb-1", "c-b")):
            await feed(pool, invoice(unit, date(2025, 1, 31), 800_000, community=where))
        r = await http.post("/sweeps", headers=cron, json={"as_of": "2026-03-01T10:00:00+08:00"})
        assert r.status_code == 200, r.text
        assert (await case_of(pool, "pa-1"))["owner_staff_id"] == "boss-a"
        assert (await case_of(pool, "pb-1"))["owner_staff_id"] == "boss-b"
    owners = await pool.fetch(
        "SELECT policy_id, company_id FROM policies WHERE policy_id <> 'default' ORDER BY 1"
    )
    assert [tuple(r) for r in owners] == [("company:co-1", "co-1"), ("company:co-2", "co-2")]
    audit = await pool.fetch(
        "SELECT subject_id, company_id FROM audit_log WHERE action = 'policy.replaced' "
        "ORDER BY audit_id"
    )
    assert [tuple(r) for r in audit] == [("company:co-1", "co-1"), ("company:co-2", "co-2")]
