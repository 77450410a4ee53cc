"""Two roles per database: migrations run as the owner, which grants the runtime role rows
only (propfee.db.grant_runtime); what the services need at run time keeps working for it."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
from structlog.testing import capture_logs

from propfee.db import create_pool, migrate_database
from propfee.settings import migration_url_for
from tests.support.fixtures import DatabaseFactory, Infra

pytestmark = pytest.mark.integration

ROWS = ("SELECT", "INSERT", "UPDATE", "DELETE")
NEVER = ("TRUNCATE", "REFERENCES", "TRIGGER")


@pytest.fixture
def split(infra: Infra) -> None:
    if not infra.split_roles:
        pytest.skip("PROPFEE_TEST_DATABASE_URL: one role owns and uses the test databases")


async def _privileges(conn: asyncpg.Connection, role: str, table: str) -> set[str]:
    every = (*ROWS, *NEVER)
    granted = await conn.fetch(
        "SELECT p FROM unnest($3::text[]) AS p WHERE has_table_privilege($1, $2, p)",
        role,
        table,
        list(every),
    )
    return {r["p"] for r in granted}


async def test_the_owner_owns_everything_and_grants_the_runtime_role_rows_only(
    split: None, create_database: DatabaseFactory
) -> None:
    url = await create_database("roles")
    applied = await migrate_database(url, "billing")
    assert applied, "migrations ran (as the owner)"
    assert await migrate_database(url, "billing") == [], "a second run changes nothing"
    owner = await asyncpg.connect(migration_url_for(url))
    runtime = await asyncpg.connect(url)
    try:
        runtime_role = await runtime.fetchval("SELECT current_user")
        owner_role = await owner.fetchval("SELECT current_user")
        assert runtime_role != owner_role
        owners = await owner.fetch(
            "SELECT DISTINCT pg_get_userbyid(relowner) AS o FROM pg_class "
            "WHERE relnamespace = 'public'::regnamespace"
        )
        assert {r["o"] for r in owners} == {owner_role}, "the runtime role owns nothing"
        assert await _privileges(owner, runtime_role, "audit_log") == {"SELECT", "INSERT"}
        assert await _privileges(owner, runtime_role, "invoices") == set(ROWS)
        assert await _privileges(owner, runtime_role, "outbox") == set(ROWS)
        assert await _privileges(owner, runtime_role, "schema_migrations") == {"SELECT"}
        sequences = await owner.fetch(
            "SELECT c.oid::regclass::text AS s, has_sequence_privilege($1, c.oid, 'USAGE') AS u "
            "FROM pg_class c WHERE c.relkind = 'S' AND c.relnamespace = 'public'::regnamespace",
            runtime_role,
        )
        assert sequences and all(r["u"] for r in sequences), sequences
        assert not await owner.fetchval(
            "SELECT has_schema_privilege($1, 'public', 'CREATE')", runtime_role
        )
        assert not await owner.fetchval(
            "SELECT pg_has_role($1, $2, 'MEMBER')", runtime_role, owner_role
        )

        # A table a later migration creates (here by hand, as the owner) is granted by the
        # default privileges, before any grant step runs.
        await owner.execute("CREATE TABLE later_table (id bigserial PRIMARY KEY, note text)")
        await runtime.execute("INSERT INTO later_table (note) VALUES ('x')")
        assert await runtime.fetchval("UPDATE later_table SET note = 'y' RETURNING id") == 1
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await runtime.execute("DROP TABLE later_table")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await runtime.execute("CREATE TABLE mine (id int)")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await runtime.execute("INSERT INTO schema_migrations VALUES ('x', 1, 'x', 'x')")
    finally:
        await owner.close()
        await runtime.close()


async def test_what_the_services_do_at_run_time_works_for_the_runtime_role(
    split: None, create_database: DatabaseFactory
) -> None:
    """LISTEN/NOTIFY (outbox relay), advisory locks, temporary tables (dunning's sweep, which
    also ANALYZEs them), COPY into a table (bulk imports), statistics views."""
    url = await create_database("roles_runtime")
    await migrate_database(url, "dunning")
    pool = await create_pool(url, max_size=2)
    try:
        async with pool.acquire() as listener, pool.acquire() as sender:
            heard: asyncio.Queue[str] = asyncio.Queue()

            def hear(*args: object) -> None:
                heard.put_nowait(str(args[3]))

            await listener.add_listener("roles_test", hear)
            await sender.execute("SELECT pg_notify('roles_test', 'hello')")
            assert await asyncio.wait_for(heard.get(), timeout=5) == "hello"
            await listener.remove_listener("roles_test", hear)
            async with sender.transaction():
                await sender.execute("SELECT pg_advisory_xact_lock(42)")
                assert await sender.fetchval("SELECT pg_try_advisory_xact_lock(43)")
                await sender.execute("CREATE TEMP TABLE scratch ON COMMIT DROP AS SELECT 1 AS n")
                await sender.execute("ANALYZE scratch")
            await sender.copy_records_to_table(
                "outbox",
                records=[(uuid.uuid4(), "t", "k", {}, b"{}")],
                columns=["event_id", "topic", "message_key", "headers", "payload"],
            )
            assert await sender.fetchval("SELECT count(*) FROM outbox") == 1
            assert (
                await sender.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE usename = current_user"
                )
                >= 2
            )
    finally:
        await pool.close()


async def test_one_role_for_both_is_warned_about(
    split: None, create_database: DatabaseFactory
) -> None:
    owner_url = migration_url_for(await create_database("roles_one"))
    with capture_logs() as logs:
        await migrate_database(owner_url, "billing", migration_url=owner_url)
    assert any("runtime role itself" in e["event"] for e in logs), logs
