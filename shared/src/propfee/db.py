"""asyncpg pool and a plain-SQL migration runner.

Migrations are ``NNNN_name.sql`` files in a package's ``migrations`` folder, applied in order
inside one transaction each, under an advisory lock so replicas starting together are safe.
The shared library's own migrations (outbox, inbox) run first under the namespace
``propfee``; a service's run under its own name.
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

log = get_logger(__name__)

_MIGRATION_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_MIGRATION_LOCK = 7_301_001  # pg_advisory_lock key for migrations


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


async def migrate(conn: asyncpg.Connection, migrations: list[Migration]) -> list[str]:
    """Apply what is not applied yet; return the names applied. Safe to run concurrently."""
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
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
    return applied_now


def service_migrations(service_package: str) -> list[Migration]:
    """The shared library's migrations followed by the service's own."""
    return load_migrations("propfee", "propfee") + load_migrations(service_package, service_package)


async def migrate_database(dsn: str, service_package: str) -> list[str]:
    conn: Any = await asyncpg.connect(dsn)
    try:
        return await migrate(conn, service_migrations(service_package))
    finally:
        await conn.close()
