"""asyncpg pool and a plain-SQL migration runner.

Migrations are ``NNNN_name.sql`` files in a package's ``migrations`` folder, applied in order
inside one transaction each, under an advisory lock so replicas starting together are safe.
The shared library's own migrations (outbox, inbox) run first under the namespace
``propfee``; a service's run under its own name.

Two roles per database (docs/security.md, "Database roles"): the *owner* runs the migrations
and so owns every table, index, trigger and function; the *runtime* role, the services' pool,
owns nothing. After each migration run the owner grants the runtime role what it needs and
no more (:func:`grant_runtime`): rows of ordinary tables, sequences, and only SELECT and
INSERT on the append-only tables. Only an owner (or a superuser) can ALTER, DROP or disable
a trigger, so the runtime role cannot switch the audit log's protection off.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import asyncpg
import orjson

from propfee.logging import get_logger
from propfee.settings import migration_url_for, role_of, url_for_logs

log = get_logger(__name__)

_MIGRATION_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_MIGRATION_LOCK = 7_301_001  # pg_advisory_lock key for migrations
#: Tables the runtime role may only read and append to (their triggers refuse the rest too).
APPEND_ONLY_TABLES = ("audit_log",)


def _jsonb_encode(value: Any) -> bytes:
    return b"\x01" + orjson.dumps(value)


def _jsonb_decode(data: bytes) -> Any:
    return orjson.loads(data[1:])


async def _init_connection(conn: asyncpg.Connection) -> None:
    """JSON columns in and out as Python values; binary jsonb so COPY works too."""
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec(
        "jsonb",
        encoder=_jsonb_encode,
        decoder=_jsonb_decode,
        schema="pg_catalog",
        format="binary",
    )


async def _no_session_state(conn: asyncpg.Connection) -> None:
    """What a connection needs before it goes back to the pool: nothing more than asyncpg
    always does (roll back a transaction left open, drop listeners).

    asyncpg's default reset sends ``pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *;
    RESET ALL`` on every release, a round trip per transaction. Propfee keeps no session
    state to reset: advisory locks are ``pg_advisory_xact_lock``, temporary tables are
    ``ON COMMIT DROP``, settings are ``set_config(..., true)`` (transaction-local), cursors
    live inside transactions, and the outbox relay UNLISTENs before it releases its
    connection. (Migrations take a session lock and release it in a `finally`.)
    """


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """A pool whose connections speak JSON for json/jsonb columns."""
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_no_session_state,
        command_timeout=60,
    )
    assert pool is not None
    return pool


@dataclass(frozen=True)
class Migration:
    namespace: str
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


class MigrationError(RuntimeError):
    pass


def load_migrations(namespace: str, package: str) -> list[Migration]:
    """Read ``<package>/migrations/*.sql``; refuse gaps and duplicate versions."""
    folder = resources.files(package).joinpath("migrations")
    found: list[Migration] = []
    for entry in folder.iterdir():
        match = _MIGRATION_FILE.match(entry.name)
        if not match:
            continue
        found.append(
            Migration(namespace, int(match.group(1)), match.group(2), entry.read_text("utf-8"))
        )
    found.sort(key=lambda m: m.version)
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise MigrationError(
                f"{package}: migration {migration.version:04d} found where {expected:04d} was "
                "expected (versions must be 0001, 0002, ... without gaps)"
            )
    return found


async def migrate(
    conn: asyncpg.Connection, migrations: list[Migration], *, runtime_role: str | None = None
) -> list[str]:
    """Apply what is not applied yet; return the names applied. Safe to run concurrently.

    ``conn`` is the owner role's connection. With ``runtime_role``, that role is then granted
    the runtime privileges (:func:`grant_runtime`), under the same lock."""
    applied_now: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
    try:
        await conn.execute(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                namespace  text        NOT NULL,
                version    integer     NOT NULL,
                name       text        NOT NULL,
                checksum   text        NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (namespace, version)
            )
            """
        )
        rows = await conn.fetch("SELECT namespace, version, checksum FROM schema_migrations")
        done: dict[tuple[str, int], str] = {(r[0], r[1]): r[2] for r in rows}
        for m in migrations:
            previous = done.get((m.namespace, m.version))
            if previous is not None:
                if previous != m.checksum:
                    raise MigrationError(
                        f"migration {m.namespace}/{m.version:04d}_{m.name} was changed after it "
                        "was applied; add a new migration instead"
                    )
                continue
            async with conn.transaction():
                await conn.execute(m.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (namespace, version, name, checksum) "
                    "VALUES ($1, $2, $3, $4)",
                    m.namespace,
                    m.version,
                    m.name,
                    m.checksum,
                )
            applied_now.append(f"{m.namespace}/{m.version:04d}_{m.name}")
            log.info("migration applied", migration=applied_now[-1])
        if runtime_role is not None:
            await grant_runtime(conn, runtime_role)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
    return applied_now


def service_migrations(service_package: str) -> list[Migration]:
    """The shared library's migrations followed by the service's own."""
    return load_migrations("propfee", "propfee") + load_migrations(service_package, service_package)


async def grant_runtime(conn: asyncpg.Connection, runtime_role: str) -> None:
    """As the owner (``conn``), give ``runtime_role`` what a service needs at run time and
    nothing that could change the schema: SELECT, INSERT, UPDATE, DELETE on every table in
    ``public``, USAGE and SELECT on its sequences, the same by default for what later
    migrations create (ALTER DEFAULT PRIVILEGES), only SELECT and INSERT on the append-only
    tables, only SELECT on ``schema_migrations``; never TRUNCATE, REFERENCES or TRIGGER.
    Idempotent (it runs after every migration run).

    When the runtime role is the owner itself, nothing can be withheld from it: logged as a
    warning (one role does everything, as in a single-role deployment)."""
    owner: str = await conn.fetchval("SELECT current_user")
    if runtime_role == owner:
        log.warning(
            "migrations run as the runtime role itself: it owns the schema and can ALTER, "
            "DROP or disable the audit log's trigger; configure *_MIGRATION_DATABASE_URL "
            "with a separate owner role",
            role=owner,
        )
        return
    exists = await conn.fetchval("SELECT true FROM pg_roles WHERE rolname = $1", runtime_role)
    if not exists:
        raise MigrationError(f"the runtime role {runtime_role!r} does not exist")
    owned = await conn.fetch(
        "SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace "
        "AND c.relkind IN ('r', 'p') AND pg_has_role($1, c.relowner, 'MEMBER') ORDER BY 1",
        runtime_role,
    )
    if owned:
        # Made before the split (by the runtime role itself): revoking would only take rows
        # from their owner. Hand them to the owner role first (deploy/local/infra.sh does it
        # for the local databases; docs/security.md says how elsewhere).
        log.warning(
            "the runtime role owns tables in this database; no privileges changed: ALTER "
            "their OWNER TO the owner role (or REASSIGN OWNED) to protect the audit log",
            runtime_role=runtime_role,
            tables=[r["relname"] for r in owned][:10],
        )
        return
    role: str = await conn.fetchval("SELECT quote_ident($1)", runtime_role)
    append_only = [
        name
        for name in APPEND_ONLY_TABLES
        if await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", f"public.{name}")
    ]
    async with conn.transaction():
        await conn.execute(
            f"""
            GRANT USAGE ON SCHEMA public TO {role};
            GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role};
            GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role};
            ALTER DEFAULT PRIVILEGES IN SCHEMA public
                GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role};
            ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {role};
            REVOKE ALL ON schema_migrations FROM {role};
            GRANT SELECT ON schema_migrations TO {role};
            """
        )
        for name in append_only:
            await conn.execute(f"REVOKE ALL ON {name} FROM {role}")
            await conn.execute(f"GRANT SELECT, INSERT ON {name} TO {role}")
    risky = await conn.fetchrow(
        """
        SELECT r.rolsuper AS superuser,
               pg_has_role($1, current_user, 'MEMBER') AS acts_as_owner,
               (SELECT pg_has_role($1, datdba, 'MEMBER') FROM pg_database
                 WHERE datname = current_database())
               OR (SELECT pg_has_role($1, nspowner, 'MEMBER') FROM pg_namespace
                    WHERE nspname = 'public') AS owns_schema,
               has_schema_privilege($1, 'public', 'CREATE') AS creates
        FROM pg_roles r WHERE r.rolname = $1
        """,
        runtime_role,
    )
    if risky["superuser"] or risky["acts_as_owner"]:
        log.warning(
            "the runtime role is a superuser or a member of the owner role: it can still "
            "ALTER or DROP the audit log",
            runtime_role=runtime_role,
            owner=owner,
        )
    elif risky["owns_schema"]:
        log.warning(
            "the runtime role owns the database or its schema public: it can DROP SCHEMA "
            "public CASCADE, the audit log with it; ALTER DATABASE ... OWNER TO the owner role",
            runtime_role=runtime_role,
            owner=owner,
        )
    elif risky["creates"]:
        log.warning(
            "the runtime role may CREATE in schema public (REVOKE CREATE ON SCHEMA public "
            "FROM PUBLIC)",
            runtime_role=runtime_role,
        )


async def migrate_database(
    database_url: str,
    migrations: str | list[Migration],
    *,
    migration_url: str | None = None,
) -> list[str]:
    """Migrate the database of ``database_url`` (the runtime role's URL) and grant that role
    its runtime privileges. The migrations run as ``migration_url``'s role, the owner
    (default: :func:`propfee.settings.migration_url_for`, the local owner role for the local
    runtime role). ``migrations``: a service package (the library's migrations, then the
    service's) or a list."""
    if isinstance(migrations, str):
        migrations = service_migrations(migrations)
    owner_url = migration_url or migration_url_for(database_url)
    log.info("migrating", database=url_for_logs(owner_url))
    conn: Any = await asyncpg.connect(owner_url)
    try:
        return await migrate(conn, migrations, runtime_role=role_of(database_url))
    finally:
        await conn.close()
