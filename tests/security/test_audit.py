"""The audit trail: manual changes are recorded in their transaction, with who, what,
before, after and why; the table refuses UPDATE and DELETE, and the service's own database role
cannot switch that off; GET /audit lists per unit and per person, filtered by the caller's
scope, contact data masked for roles that don't see it."""

from __future__ import annotations

import re

import asyncpg
import pytest

from propfee.audit import AUDIT_LOG_DDL
from propfee.auth import Role
from propfee.auth.dev import DevIssuer
from tests.security.cases import SERVICE_FACTORIES
from tests.security.conftest import Running
from tests.support.auth import bearer
from tests.support.fixtures import Infra

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
    rows = http.get("/audit", headers=auditor, params={"unit_id": a["unit_id"]}).json()["items"]
    actions = {e["action"] for e in rows}
    assert {"unit.created", "invoice.issued"} <= actions, actions
    assert all(e["unit_id"] == a["unit_id"] for e in rows)
    if r.status_code == 201:
        waiver = next(e for e in rows if e["action"] == "late_fee.waived")
        assert waiver["actor"] == "fiona" and waiver["reason"] == "疫情期间减免"
        assert waiver["before"]["invoice_id"] == a["invoice_id"]
    created = next(e for e in rows if e["action"] == "unit.created")
    assert "13812345678" not in str(created), "contact data is masked in the trail"
    by_person = http.get("/audit", headers=auditor, params={"actor": "seed"}).json()["items"]
    assert by_person and {e["community_id"] for e in by_person} == {a["community_id"]}, (
        "a scoped auditor sees their community's rows only"
    )
    admin = bearer(dev_issuer.mint("root", [Role.company_admin], "co-1", "*"))
    everything = http.get("/audit", headers=admin, params={"actor": "seed"}).json()["items"]
    communities = {e["community_id"] for e in everything}
    assert {a["community_id"], world.other["community_id"]} <= communities
    assert world.foreign["community_id"] not in communities, "never another company's rows"
    assert {"community.created", "fee_schedule.imported"} <= {e["action"] for e in everything}


@pytest.mark.parametrize("running", ["billing"], indirect=True)
async def test_audit_log_is_append_only(running: Running) -> None:
    """The trigger refuses even the owner role (the runtime role lacks the privileges too)."""
    dsn = running.client.app.state.runtime.settings.migration_url  # type: ignore[attr-defined]
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


#: What a runtime role that owned the audit log could do to rewrite history, and its reason
#: for being refused (the owner role runs migrations; the runtime role owns nothing).
TAMPERING = (
    "ALTER TABLE audit_log DISABLE TRIGGER ALL",
    "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only",
    "DROP TRIGGER audit_log_append_only ON audit_log",
    "DROP TRIGGER audit_log_no_truncate ON audit_log",
    "CREATE TRIGGER audit_log_spy AFTER INSERT ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
    "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger "
    "LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$",
    "DROP FUNCTION audit_log_append_only() CASCADE",
    "ALTER TABLE audit_log RENAME TO audit_log_old",
    "DROP TABLE audit_log",
    "DROP SCHEMA public CASCADE",
    "SET session_replication_role = replica",  # replica mode skips ordinary triggers
    "TRUNCATE audit_log",
    "UPDATE audit_log SET reason = 'rewritten'",
    "DELETE FROM audit_log",
)


@pytest.mark.parametrize("running", sorted(SERVICE_FACTORIES), indirect=True)
async def test_the_service_role_cannot_disable_or_drop_the_audit_log(
    running: Running, infra: Infra, dev_issuer: DevIssuer
) -> None:
    if not infra.split_roles:
        pytest.skip("PROPFEE_TEST_DATABASE_URL: one role owns and uses the test databases")
    settings = running.client.app.state.runtime.settings  # type: ignore[attr-defined]
    conn = await asyncpg.connect(settings.database_url)  # the pool's role, as the service
    try:
        me, owner = await conn.fetchrow(
            "SELECT current_user::text, pg_get_userbyid(relowner)::text FROM pg_class "
            "WHERE oid = 'audit_log'::regclass"
        )
        assert me != owner
        rows = await conn.fetchval("SELECT count(*) FROM audit_log")
        assert rows > 0, "seeding the world through the app appended audit rows"
        for statement in (*TAMPERING, f'SET ROLE "{owner}"'):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(statement)
                pytest.fail(f"the runtime role may: {statement}")
        tr = conn.transaction()
        await tr.start()
        appended = await conn.fetchval(
            "INSERT INTO audit_log (actor, actor_roles, company_id, action, subject_type, "
            "subject_id) VALUES ('t', '{}', 'co-1', 'test.appended', 'test', 't') "
            "RETURNING audit_id"
        )
        assert appended > 0
        await tr.rollback()
        assert await conn.fetchval("SELECT count(*) FROM audit_log") == rows
        triggers = await conn.fetchval(
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'audit_log'::regclass "
            "AND tgenabled = 'O'"
        )
        assert triggers == 2, "both append-only triggers still fire"
    finally:
        await conn.close()
    # The service still works: it serves the trail its requests appended.
    admin = bearer(dev_issuer.mint("root", [Role.company_admin], "co-1", "*"))
    community = running.world.mine["community_id"]
    r = running.client.get("/audit", headers=admin, params={"community_id": community})
    assert r.status_code == 200, r.text


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
    rows = r.json()["items"]
    # Other tests of the session may change the seeded parties (their phones, who owns the
    # unit): whatever the community's phones are now, the export shows them whole (masked
    # would be "138****5678").
    phones = {row["phone"] for row in rows if row["phone"]}
    assert phones and all(re.fullmatch(r"1\d{10}", p) for p in phones), "the export is unmasked"
    csv_text = http.get(path, headers=clerk, params={"reason": "年终寄送账单"}).text
    assert csv_text.lstrip("\ufeff").startswith("unit_key,role,pays,party_id,name,phone")
    for role in (Role.auditor, Role.finance, Role.service, Role.owners_committee):
        other = bearer(dev_issuer.mint("x", [role], "co-1", [community]))
        assert http.get(path, headers=other, params={"reason": "看看"}).status_code == 403
    assert http.get(path, headers=clerk).status_code == 422, "a reason is required"
    auditor = bearer(dev_issuer.mint("audrey", [Role.auditor], "co-1", [community]))
    trail = http.get("/audit", headers=auditor, params={"actor": "clara"}).json()["items"]
    exports = [e for e in trail if e["action"] == "contacts.exported"]
    assert len(exports) == 2 and exports[0]["reason"] == "年终寄送账单"
    assert {e["after"]["format"] for e in exports} == {"csv", "json"}
    assert all(e["after"]["rows"] == len(rows) for e in exports)
