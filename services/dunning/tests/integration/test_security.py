"""Dunning's own security rules (the generic ones are in tests/security): the audit trail of
manual changes of a case, scope by the community's company as learnt from billing (closed
while unknown), the owners' committee's aggregates, work queues, staff sweeps, the built-in
default policy, masking of contact data. Issue 16's rules are in test_tenancy.py."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import asyncpg
import httpx
import pytest

from dunning.domain.default_policy import DEFAULT_POLICY
from propfee.auth import Role
from propfee.auth.dev import DevIssuer
from services.dunning.tests.integration.conftest import in_process
from services.dunning.tests.integration.support import case_of, community, feed, invoice
from tests.support.auth import bearer

pytestmark = pytest.mark.integration

PHONE = "13812345678"


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
    """The app without a default token: each request says who calls."""
    return httpx.AsyncClient(transport=in_process(pool, dev_issuer), base_url="http://dunning")


async def test_manual_changes_of_a_case_are_audited(client, pool, dev_issuer) -> None:  # type: ignore[no-untyped-def]
    await feed(pool, invoice("3001", date(2025, 1, 31)))
    case_id = (await case_of(pool, "3001"))["case_id"]
    hk = as_(dev_issuer, [Role.housekeeper], "hk-1", communities=["c-1"])
    legal = as_(dev_issuer, [Role.legal], "lw-1", communities=["c-1"])
    manager = as_(dev_issuer, [Role.community_manager], "pm-1", communities=["c-1"])
    async with client as http:
        calls = [
            (hk, f"/cases/{case_id}/outcomes", {"kind": "call", "reason_code": "hardship",
                                                "note": f"业主电话{PHONE}"}),
            (hk, f"/cases/{case_id}/promises", {"amount_fen": 100, "promised_date": "2027-01-31"}),
            (hk, f"/cases/{case_id}/pauses", {"reason": "other", "owner": "hk-1",
                                              "ends_at": "2030-01-01T00:00:00Z"}),
            (manager, f"/cases/{case_id}/assignment", {"staff_id": "hk-1", "owner": True}),
            (manager, f"/cases/{case_id}/advance", {"stage": "legal_demand", "reason": "业主失联"}),
            (legal, f"/cases/{case_id}/letters", {"stage": "legal_demand", "tracking_no": "EMS9"}),
        ]  # fmt: skip
        for headers, path, body in calls:
            r = await http.post(path, headers=headers, json=body)
            assert r.status_code in (200, 201), f"{path}: {r.text}"
            if path.endswith("/pauses"):  # resolved before the advance (refused while paused)
                pause_id = r.json()["pause_id"]
                r = await http.post(
                    f"/pauses/{pause_id}/resolve", headers=hk, json={"resolution": "已谈妥"}
                )
                assert r.json() == {"resolved": True}
                again = await http.post(
                    f"/pauses/{pause_id}/resolve", headers=hk, json={"resolution": "已谈妥"}
                )
                assert again.json() == {"resolved": True, "already_resolved": True}
        r = await http.put("/policies/c-1", headers=manager, json=DEFAULT_POLICY.model_dump(
            mode="json", exclude={"policy_id"}))  # fmt: skip
        assert r.status_code == 200, r.text
        auditor = as_(dev_issuer, [Role.auditor], "au-1", communities=["c-1"])
        rows = (await http.get("/audit", headers=auditor, params={"unit_id": "3001"})).json()[
            "items"
        ]
        policy = (await http.get("/audit", headers=auditor, params={"actor": "pm-1"})).json()[
            "items"
        ]
    actions = [e["action"] for e in reversed(rows)]
    assert actions == [
        "outcome.recorded", "promise.recorded", "case.paused", "pause.resolved",
        "case.assigned", "case.stage_overridden", "letter.recorded",
    ]  # fmt: skip
    assert {e["company_id"] for e in rows} == {"co-1"}
    override = next(e for e in rows if e["action"] == "case.stage_overridden")
    assert override["actor"] == "pm-1" and override["reason"] == "业主失联"
    assert override["before"]["stage"] is None and override["after"]["stage"] == "legal_demand"
    letter = next(e for e in rows if e["action"] == "letter.recorded")
    assert letter["actor"] == "lw-1" and letter["after"]["sent_at"] is not None
    outcome = next(e for e in rows if e["action"] == "outcome.recorded")
    assert PHONE not in str(outcome), "an auditor reads the trail masked"
    assert outcome["after"]["staff_id"] == "hk-1", "staff_id defaults to the caller"
    assert "policy.replaced" in {e["action"] for e in policy}
    assert await pool.fetchval("SELECT count(*) FROM audit_log") == 8


async def test_a_community_of_an_unknown_company_is_visible_to_no_company_token(
    client, pool, dev_issuer
) -> None:  # type: ignore[no-untyped-def]
    await feed(pool, invoice("4001", date(2025, 1, 31), community="c-new"))
    case_id = (await case_of(pool, "4001"))["case_id"]
    admin = as_(dev_issuer, [Role.company_admin])
    other_company = as_(dev_issuer, [Role.company_admin], company="co-2")
    cron = as_(dev_issuer, [Role.service], "cron", company="*")
    async with client as http:
        for headers in (admin, other_company):
            assert (await http.get(f"/cases/{case_id}", headers=headers)).status_code == 404
            assert (await http.get("/cases", headers=headers)).json()["items"] == []
        assert (await http.get(f"/cases/{case_id}", headers=cron)).status_code == 200
        await feed(pool, community("c-new", "co-1"))
        assert (await http.get(f"/cases/{case_id}", headers=admin)).status_code == 200
        assert (await http.get(f"/cases/{case_id}", headers=other_company)).status_code == 404
        assert [
            c["case_id"] for c in (await http.get("/cases", headers=admin)).json()["items"]
        ] == [case_id]
        assert (await http.get("/cases", headers=other_company)).json()["items"] == []


async def test_owners_committee_reads_aggregates_only(client, pool, dev_issuer) -> None:  # type: ignore[no-untyped-def]
    await feed(pool, invoice("5001", date(2025, 1, 31)))
    committee = as_(dev_issuer, [Role.owners_committee], communities=["c-1"])
    period = {"start": "2025-01-01", "end": "2027-01-01"}
    async with client as http:
        r = await http.get("/reports/kpis", headers=committee, params=period)
        assert r.status_code == 200, r.text
        assert (await http.get("/reports/limitation", headers=committee,
                               params={"as_of": "2028-03-01"})).json()["items"][0]["invoices"] == 1  # fmt: skip
        staff = await http.get("/reports/kpis", headers=committee, params={**period, "by": "staff"})
        assert staff.status_code == 403
        for path, params in (("/limitation", {"as_of": "2028-03-01"}), ("/cases", {}),
                             ("/kpis", period)):  # fmt: skip
            assert (await http.get(path, headers=committee, params=params)).status_code == 403


async def test_work_queues_are_their_owners_and_the_managers(client, pool, dev_issuer) -> None:  # type: ignore[no-untyped-def]
    await feed(pool, invoice("6001", date(2025, 1, 31)))
    case_id = (await case_of(pool, "6001"))["case_id"]
    manager = as_(dev_issuer, [Role.community_manager], "pm-1", communities=["c-1"])
    hk7 = as_(dev_issuer, [Role.housekeeper], "hk-7", communities=["c-1"])
    hk8 = as_(dev_issuer, [Role.housekeeper], "hk-8", communities=["c-1"])
    elsewhere = as_(dev_issuer, [Role.community_manager], "pm-2", communities=["c-9"])
    async with client as http:
        r = await http.post(f"/cases/{case_id}/assignment", headers=manager,
                            json={"staff_id": "hk-7"})  # fmt: skip
        assert r.status_code == 200, r.text
        for headers, path in ((hk7, "/staff/me/queue"), (hk7, "/staff/hk-7/queue"),
                              (manager, "/staff/hk-7/queue")):  # fmt: skip
            queue = (await http.get(path, headers=headers)).json()["items"]
            assert [c["case_id"] for c in queue] == [case_id], path
        assert (await http.get("/staff/hk-7/queue", headers=hk8)).status_code == 403
        assert (await http.get("/staff/me/queue", headers=hk8)).json()["items"] == []
        assert (await http.get("/staff/hk-7/queue", headers=elsewhere)).json()["items"] == []


async def test_staff_sweep_now_only_the_service_role_as_of_another_instant(
    client, dev_issuer
) -> None:  # type: ignore[no-untyped-def]
    manager = as_(dev_issuer, [Role.community_manager], communities=["c-1"])
    cron = as_(dev_issuer, [Role.service], "cron", company="*")
    future = {"as_of": "2099-01-01T10:00:00+08:00"}
    past = {"as_of": "2026-01-01T10:00:00+08:00"}
    async with client as http:
        for chosen in (future, past):
            assert (await http.post("/sweeps", headers=manager, json=chosen)).status_code == 403
        assert (await http.post("/sweeps", headers=manager, json={})).status_code == 200
        for chosen in (future, past):
            assert (await http.post("/sweeps", headers=cron, json=chosen)).status_code == 200


async def test_the_built_in_default_policy_is_read_only(client, pool, dev_issuer) -> None:  # type: ignore[no-untyped-def]
    body = DEFAULT_POLICY.model_dump(mode="json", exclude={"policy_id"})
    manager = as_(dev_issuer, [Role.community_manager])
    admin = as_(dev_issuer, [Role.company_admin], "root")
    async with client as http:
        assert (await http.put("/policies/default", headers=manager, json=body)).status_code == 403
        r = await http.put("/policies/default", headers=admin, json=body)
        assert r.status_code == 200, r.text
        await feed(pool, community("c-x", "co-2"))
        r = await http.put("/policies/default", headers=admin, json=body)
        assert r.status_code == 200, "the company's own default, whoever else is known"
        assert (await http.get("/policies/default", headers=manager)).status_code == 200
        foreign = await http.put("/policies/c-x", headers=admin, json=body)
        assert foreign.status_code == 404
    entry = await pool.fetchrow("SELECT * FROM audit_log WHERE action = 'policy.replaced'")
    assert entry["subject_id"] == "company:co-1" and entry["actor"] == "root"


async def test_contact_data_masked_for_roles_that_do_not_need_it(client, pool, dev_issuer) -> None:  # type: ignore[no-untyped-def]
    await feed(pool, invoice("7001", date(2025, 1, 31)))
    case_id = (await case_of(pool, "7001"))["case_id"]
    hk = as_(dev_issuer, [Role.housekeeper], "hk-1")
    async with client as http:
        r = await http.post(f"/cases/{case_id}/pauses", headers=hk, json={
            "reason": "service_complaint", "owner": "hk-1", "ends_at": "2030-01-01T00:00:00Z",
            "note": f"业主来电 {PHONE} 投诉漏水"})  # fmt: skip
        assert r.status_code == 201, r.text
        for role, masked in (
            (Role.auditor, True), (Role.service, True), (Role.customer_service, False),
        ):  # fmt: skip
            headers = as_(dev_issuer, [role])
            pauses = (await http.get(f"/cases/{case_id}/pauses", headers=headers)).json()["items"]
            bundle = (await http.get(f"/cases/{case_id}/evidence", headers=headers)).json()
            assert (PHONE in f"{pauses} {bundle}") is not masked, role
            pdf = await http.get(f"/cases/{case_id}/evidence.pdf", headers=headers)
            assert pdf.status_code == (403 if masked else 200), role
        exports = await pool.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'evidence.exported'"
        )
        assert exports == 1, "the export of contact data is audited"
