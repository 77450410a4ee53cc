"""Every request naming a record runs its kind's owner lookup (``propfee.auth.scope``) before
anything else, so each lookup over a column must find its ids through an index that is not
partial: a partial one (open receivables only) cannot answer for every row, and the lookup
then scans the table. Dunning's units were found that way until migration 0020 (issue 22:
179 ms a request after make demo's year). Checked on each service's migrated database."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable

import asyncpg
import pytest

from propfee.auth.scope import ColumnResolver, Kind
from propfee.db import migrate_database

pytestmark = pytest.mark.integration

#: Where each service keeps the kinds of record its requests name.
SCOPING = {
    "billing": "billing.entrypoints.scoping",
    "payments": "payments.adapters.scoping",
    "dunning": "dunning.entrypoints.scoping",
    "notifier": "notifier.entrypoints.scoping",
}

#: The columns that lead an index with no WHERE clause, per table.
INDEXED = """
SELECT t.relname AS table_name, a.attname AS column_name
FROM pg_index x
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = current_schema()
JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = x.indkey[0]
WHERE x.indpred IS NULL AND x.indisvalid
"""


def lookups(service: str) -> set[tuple[str, str]]:
    module = importlib.import_module(SCOPING[service])
    return {
        (kind.resolve.table, kind.resolve.column)
        for kind in vars(module).values()
        if isinstance(kind, Kind) and isinstance(kind.resolve, ColumnResolver)
    }


def test_every_service_names_its_column_lookups() -> None:
    """The check below looks at something: each service has lookups over columns."""
    for service in SCOPING:
        assert lookups(service), service
    assert ("receivables", "unit_id") in lookups("dunning")


@pytest.mark.parametrize("service", sorted(SCOPING))
async def test_each_owner_lookup_is_led_by_a_whole_index(
    service: str, create_database: Callable[[str], Awaitable[str]]
) -> None:
    url = await create_database(f"lookups_{service}")
    await migrate_database(url, service)
    conn = await asyncpg.connect(url)
    try:
        indexed = {(r["table_name"], r["column_name"]) for r in await conn.fetch(INDEXED)}
    finally:
        await conn.close()
    assert lookups(service) - indexed == set()
