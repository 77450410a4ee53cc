"""dunning as a case of the security tests: a world of three communities (their companies
learnt from billing.community-updated, a case on an overdue invoice moved to the legal demand
(the legal role reads the legal track only), a task from notifier, a pause) and one valid
request per operation (staff's business times left to default: now)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from fastapi import FastAPI
from fastapi.testclient import TestClient

from dunning.app import create_app
from dunning.domain.default_policy import DEFAULT_POLICY
from dunning.entrypoints.events import HANDLERS
from dunning.settings import DunningSettings
from propfee.auth import Role
from propfee.auth.dev import DevIssuer
from propfee.cloudevents import CloudEvent
from propfee.consumer import EventContext
from propfee.events import (
    CommunityUpdated,
    Event,
    InvoiceIssued,
    InvoiceLine,
    StaffTaskRequested,
)
from propfee.settings import ServiceSettings
from tests.security.cases import Example, Ids, SecuredService, World
from tests.support.auth import bearer

AT = datetime(2025, 3, 1, 2, tzinfo=UTC)


def _settings(**values: object) -> ServiceSettings:
    return DunningSettings(**{"sweep_interval_s": 0, **values})  # type: ignore[arg-type]


def _app(settings: ServiceSettings) -> FastAPI:
    return create_app(settings)


def _ok(r: object) -> None:
    status = r.status_code  # type: ignore[attr-defined]
    assert status < 300, r.text  # type: ignore[attr-defined]


def _feed(http: TestClient, *events: Event) -> None:
    """Events through dunning's real handlers, in the app's loop, as its consumer runs them."""
    runtime = http.app.state.runtime  # type: ignore[attr-defined]

    async def handle() -> None:
        for event in events:
            envelope = CloudEvent.new(
                type=event.ce_type(), source=event.ce_source(), subject="s",
                data=event.to_json(), time=AT,
            )  # fmt: skip
            context = EventContext(envelope=envelope, topic=event.topic(), partition=0, offset=0)
            async with runtime.pool.acquire() as conn, conn.transaction():
                await HANDLERS[type(event)](conn, event, context)  # type: ignore[arg-type]

    http.portal.call(handle)  # type: ignore[union-attr]


def _seed_community(
    http: TestClient, issuer: DevIssuer, company: str, community: str, tag: str
) -> Ids:
    unit = f"{community}-u1"
    _feed(
        http,
        CommunityUpdated(
            community_id=community, company_id=company, company_name=f"物业{company}",
            name=f"小区{tag}", city="杭州", updated_at=AT,
        ),
        InvoiceIssued(
            invoice_id=f"inv-{community}", community_id=community, building_id="b-1",
            unit_id=unit, payer_party_id=f"p-{unit}", period_start=date(2025, 1, 1),
            period_end=date(2025, 1, 31), due_date=date(2025, 1, 31),
            lines=[InvoiceLine(fee_item="property", description="物业费", quantity="1",
                               unit_price_fen=27_580, amount_fen=27_580)],
            total_fen=27_580, issued_at=AT, room_label=f"{tag}-3-201",
        ),
        StaffTaskRequested(
            task_id=f"task-{community}", kind="fix_contact", community_id=community,
            unit_id=unit, party_id=f"p-{unit}", subject_id=f"inv-{community}",
            reason="没有可用的联系方式", requested_at=AT,
        ),
    )  # fmt: skip
    admin = bearer(issuer.mint("seed", [Role.company_admin], company, "*"))
    r = http.get("/cases", headers=admin, params={"unit_id": unit})
    _ok(r)
    (case,) = r.json()["items"]
    # On the legal track (a legal demand): the legal role reads such cases only (advanced
    # before the pause: a manual advance is refused while the case is paused, issue 18 rule 9).
    r = http.post(
        f"/cases/{case['case_id']}/advance", headers=admin, json={"stage": "legal_demand"}
    )
    _ok(r)
    r = http.post(
        f"/cases/{case['case_id']}/pauses",
        headers=admin,
        json={"reason": "service_complaint", "owner": "hk-1", "ends_at": "2030-01-31T00:00:00Z",
              "note": "业主投诉漏水，电话13812345678"},
    )  # fmt: skip
    _ok(r)
    pause_id = r.json()["pause_id"]
    # A posted letter (its delivery is recorded by the examples).
    r = http.post(
        f"/cases/{case['case_id']}/letters", headers=admin,
        json={"stage": "legal_demand", "tracking_no": f"EMS-{community}"},
    )  # fmt: skip
    _ok(r)
    letter_id = r.json()["letter_id"]
    # A sweep of this community alone (its manager's: GET /sweeps/{sweep_id} shows it to
    # callers whose communities include it).
    manager = bearer(issuer.mint("seed-pm", [Role.community_manager], company, [community]))
    r = http.post("/sweeps", headers=manager, json={})
    _ok(r)
    sweep_id = str(r.json()["sweep_id"])
    # A bulk assignment job over this community's case (the workbench's).
    r = http.post(
        "/jobs/case-assignments", headers=manager,
        json={"case_ids": [case["case_id"]], "staff_id": "hk-7"},
    )  # fmt: skip
    _ok(r)
    return {
        "job_id": r.json()["job_id"],
        "sweep_id": sweep_id,
        "letter_id": letter_id,
        "community_id": community,
        "unit_id": unit,
        "case_id": case["case_id"],
        "task_id": f"task-{community}",
        "pause_id": pause_id,
        "staff_id": "me",
    }


def seed(http: TestClient, issuer: DevIssuer, run: str) -> World:
    return World(
        company_id="co-1",
        mine=_seed_community(http, issuer, "co-1", f"{run}-a", "A"),
        other=_seed_community(http, issuer, "co-1", f"{run}-b", "B"),
        foreign_company_id="co-2",
        foreign=_seed_community(http, issuer, "co-2", f"{run}-x", "X"),
    )


POLICY = DEFAULT_POLICY.model_dump(mode="json", exclude={"policy_id"})
PERIOD = {"start": "2025-01-01", "end": "2027-01-01"}
EXAMPLES = {
    "GET /cases": lambda ids: Example(params={"community_id": ids["community_id"]}),
    "GET /cases/totals": lambda ids: Example(params={"community_id": ids["community_id"]}),
    "GET /cases.xlsx": lambda ids: Example(params={"community_id": ids["community_id"]}),
    "GET /cases/{case_id}": lambda ids: Example(),
    "GET /cases/{case_id}/escalations": lambda ids: Example(),
    "POST /sweeps": lambda ids: Example(json={}),
    "GET /sweeps/{sweep_id}": lambda ids: Example(),
    "GET /policies/{community_id}": lambda ids: Example(),
    "PUT /policies/{community_id}": lambda ids: Example(json=POLICY),
    "GET /communities/{community_id}/settings": lambda ids: Example(),
    "PUT /communities/{community_id}/settings": lambda ids: Example(
        json={"late_fee_de_minimis_fen": 6000}),
    "POST /cases/{case_id}/outcomes": lambda ids: Example(
        json={"kind": "call", "reason_code": "forgot", "note": "说下周交"}),
    "POST /cases/{case_id}/promises": lambda ids: Example(
        json={"amount_fen": 27580, "promised_date": "2026-12-31"}),
    "POST /cases/{case_id}/notes": lambda ids: Example(json={"body": "再次联系"}),
    "POST /cases/{case_id}/pauses": lambda ids: Example(json={
        "reason": "other", "owner": "hk-1", "ends_at": "2030-01-31T00:00:00Z"}),
    "GET /cases/{case_id}/pauses": lambda ids: Example(),
    "POST /pauses/{pause_id}/resolve": lambda ids: Example(json={"resolution": "已维修"}),
    "POST /cases/{case_id}/assignment": lambda ids: Example(json={"staff_id": "hk-7"}),
    "POST /cases/{case_id}/letters": lambda ids: Example(json={
        "stage": "legal_demand", "tracking_no": "EMS1234567"}),
    "POST /cases/{case_id}/letters/{letter_id}/delivery": lambda ids: Example(json={
        "carrier_status": "妥投", "signed_by": "本人"}),
    "POST /cases/{case_id}/advance": lambda ids: Example(json={"stage": "lawsuit"}),
    "GET /tasks": lambda ids: Example(),
    "POST /jobs/case-assignments": lambda ids: Example(
        json={"case_ids": [ids["case_id"]], "staff_id": "hk-7"}),
    "GET /jobs/{job_id}": lambda ids: Example(),
    "POST /jobs/case-exports": lambda ids: Example(json={"case_ids": [ids["case_id"]]}),
    # The seeded job is an assignment: no file (409) for whoever may read it, 404 otherwise.
    "GET /jobs/{job_id}/file": lambda ids: Example(),
    "GET /promises": lambda ids: Example(params={"community_id": ids["community_id"]}),
    "POST /tasks/{task_id}/done": lambda ids: Example(),
    "GET /staff/{staff_id}/queue": lambda ids: Example(),
    "GET /cases/{case_id}/evidence": lambda ids: Example(),
    "GET /cases/{case_id}/evidence.pdf": lambda ids: Example(),
    "GET /cases/{case_id}/evidence.zip": lambda ids: Example(),
    "GET /reports/kpis": lambda ids: Example(params=PERIOD),
    "GET /reports/kpis.csv": lambda ids: Example(params=PERIOD),
    "GET /reports/kpis.xlsx": lambda ids: Example(params=PERIOD),
    "GET /reports/kpis/tiers": lambda ids: Example(params=PERIOD),
    "GET /reports/limitation": lambda ids: Example(params={"as_of": "2027-12-01"}),
    "GET /kpis": lambda ids: Example(params=PERIOD),
    "GET /kpis.csv": lambda ids: Example(params=PERIOD),
    "GET /kpis.xlsx": lambda ids: Example(params=PERIOD),
    "GET /kpis/tiers": lambda ids: Example(params=PERIOD),
    "GET /limitation": lambda ids: Example(params={"as_of": "2027-12-01"}),
    "GET /audit": lambda ids: Example(params={"community_id": ids["community_id"]}),
}  # fmt: skip

DUNNING = SecuredService(
    name="dunning",
    settings=_settings,
    create_app=_app,
    seed=seed,
    examples=EXAMPLES,
    unscoped=frozenset(
        {
            "GET /cases",
            "POST /sweeps",
            "GET /tasks",
            "GET /staff/{staff_id}/queue",
            "GET /reports/kpis",
            "GET /reports/kpis.csv",
            "GET /reports/kpis.xlsx",
            "GET /reports/kpis/tiers",
            "GET /reports/limitation",
            "GET /kpis",
            "GET /kpis.csv",
            "GET /kpis.xlsx",
            "GET /kpis/tiers",
            "GET /limitation",
            "GET /audit",
        }
    ),
)
