"""The audit trail: manual changes are recorded in their transaction, with who, what,
before, after and why; the table refuses UPDATE and DELETE; GET /audit lists per unit and per
person, filtered by the caller's scope, contact data masked for roles that don't see it."""

from __future__ import annotations

import asyncpg
import pytest

from propfee.audit import AUDIT_LOG_DDL
from propfee.auth import Role
from propfee.auth.dev import DevIssuer
from tests.security.cases import SERVICE_FACTORIES
from tests.security.conftest import Running
from tests.support.auth import bearer

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("name", sorted(SERVICE_FACTORIES))
def test_service_migration_creates_the_audit_log_verbatim(name: str) -> None:
    from importlib import resources

    sql = "".join(
        f.read_text("utf-8")
        for f in resources.files(name).joinpath("migrations").iterdir()
        if f.name.endswith(".sql")
    )
    assert AUDIT_LOG_DDL.strip() in sql


@pytest.mark.parametrize("running", ["billing"], indirect=True)
def test_billing_changes_are_audited(running: Running, dev_issuer: DevIssuer) -> None:
    http, world = running.client, running.world
    a = world.mine
    finance = bearer(dev_issuer.mint("fiona", [Role.finance], "co-1", [a["community_id"]]))
    r = http.post(
        f"/invoices/{a['invoice_id']}/late-fee-waivers",
        headers=finance,
        json={"amount_fen": 1, "reason": "疫情期间减免", "approved_by": "经理"},
    )
    assert r.status_code in (201, 409), r.text
    auditor = bearer(dev_issuer.mint("audrey", [Role.auditor], "co-1", [a["community_id"]]))
    rows = http.get("/audit", headers=auditor, params={"unit_id": a["unit_id"]}).json()
    actions = {e["action"] for e in rows}
    assert {"unit.created", "invoice.issued"} <= actions, actions
    assert all(e["unit_id"] == a["unit_id"] for e in rows)
    if r.status_code == 201:
        waiver = next(e for e in rows if e["action"] == "late_fee.waived")
        assert waiver["actor"] == "fiona" and waiver["reason"] == "疫情期间减免"
        assert waiver["before"]["invoice_id"] == a["invoice_id"]
    created = next(e for e in rows if e["action"] == "unit.created")
    assert "13812345678" not in str(created), "contact data is masked in the trail"
    by_person = http.get("/audit", headers=auditor, params={"actor": "seed"}).json()
    assert by_person and {e["community_id"] for e in by_person} == {a["community_id"]}, (
        "a scoped auditor sees their community's rows only"
    )
    admin = bearer(dev_issuer.mint("root", [Role.company_admin], "co-1", "*"))
    everything = http.get("/audit", headers=admin, params={"actor": "seed"}).json()
    communities = {e["community_id"] for e in everything}
    assert {a["community_id"], world.other["community_id"]} <= communities
    assert world.foreign["community_id"] not in communities, "never another company's rows"
    assert {"community.created", "fee_schedule.published"} <= {e["action"] for e in everything}


@pytest.mark.parametrize("running", ["billing"], indirect=True)
async def test_audit_log_is_append_only(running: Running) -> None:
    dsn = running.client.app.state.runtime.settings.database_url  # type: ignore[attr-defined]
    conn = await asyncpg.connect(dsn)
    try:
        assert await conn.fetchval("SELECT count(*) FROM audit_log") > 0
        for statement in (
            "UPDATE audit_log SET reason = 'rewritten'",
            "DELETE FROM audit_log",
            "TRUNCATE audit_log",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
                await conn.execute(statement)
    finally:
        await conn.close()


@pytest.mark.parametrize("running", ["billing"], indirect=True)
def test_contact_data_masked_for_roles_that_do_not_need_it(
    running: Running, dev_issuer: DevIssuer
) -> None:
    http, a = running.client, running.world.mine
    for role, masked in ((Role.auditor, True), (Role.service, True), (Role.housekeeper, False)):
        token = bearer(dev_issuer.mint("x", [role], "co-1", [a["community_id"]]))
        party = http.get(f"/parties/{a['party_id']}", headers=token).json()
        unit = http.get(f"/units/{a['unit_id']}", headers=token).json()
        request = http.get(f"/e-invoice-requests/{a['request_id']}", headers=token).json()
        text = f"{party} {unit} {request}"
        assert ("13812345678" in text) is not masked, role
        assert ("张三" in text) is not masked, role


@pytest.mark.parametrize("running", ["billing"], indirect=True)
def test_contact_export_is_for_contact_roles_and_audited(
    running: Running, dev_issuer: DevIssuer
) -> None:
    http, a = running.client, running.world.mine
    community = a["community_id"]
    path = f"/communities/{community}/contacts"
    clerk = bearer(dev_issuer.mint("clara", [Role.fee_clerk], "co-1", [community]))
    r = http.get(path, headers=clerk, params={"reason": "年终寄送账单", "format": "json"})
    assert r.status_code == 200, r.text
    rows = r.json()
    assert rows and "13812345678" in {row["phone"] for row in rows}, "the export is unmasked"
    csv_text = http.get(path, headers=clerk, params={"reason": "年终寄送账单"}).text
    assert csv_text.lstrip("\ufeff").startswith("unit_key,role,pays,party_id,name,phone")
    for role in (Role.auditor, Role.finance, Role.service, Role.owners_committee):
        other = bearer(dev_issuer.mint("x", [role], "co-1", [community]))
        assert http.get(path, headers=other, params={"reason": "看看"}).status_code == 403
    assert http.get(path, headers=clerk).status_code == 422, "a reason is required"
    auditor = bearer(dev_issuer.mint("audrey", [Role.auditor], "co-1", [community]))
    trail = http.get("/audit", headers=auditor, params={"actor": "clara"}).json()
    exports = [e for e in trail if e["action"] == "contacts.exported"]
    assert len(exports) == 2 and exports[0]["reason"] == "年终寄送账单"
    assert {e["after"]["format"] for e in exports} == {"csv", "json"}
    assert all(e["after"]["rows"] == len(rows) for e in exports)
