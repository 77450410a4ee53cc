"""One home per rule (issue 18): the rules the sweep runs set-based live in named SQL
functions (dunning migration 0012), and the example tables of tests/examples.py run against
them in PostgreSQL; the months table also against the shared Python helper, so both agree."""

from __future__ import annotations

import asyncpg
import pytest

from propfee.dates import months_overdue
from services.dunning.tests.examples import CAP, LIMITATION, MONTHS, TIERS

pytestmark = pytest.mark.integration


async def test_months_overdue_in_sql_and_python_follow_the_same_table(pool: asyncpg.Pool) -> None:
    for due, as_of, months in MONTHS:
        sql = await pool.fetchval("SELECT dunning_months_overdue($1, $2)", due, as_of)
        assert (sql, months_overdue(due, as_of)) == (months, months), (due, as_of)


async def test_tiers_in_sql_follow_the_examples(pool: asyncpg.Pool) -> None:
    for oldest, as_of, principal, chased, (red_m, red_fen, yellow_m, green_m), tier in TIERS:
        got = await pool.fetchval(
            "SELECT dunning_tier(CASE WHEN $1::date IS NOT NULL "
            "THEN dunning_months_overdue($1, $2) END, $3, $4, $5, $6, $7, $8)",
            oldest, as_of, principal, chased, red_m, red_fen, yellow_m, green_m,
        )  # fmt: skip
        assert got == tier, (oldest, principal, chased, red_m)


async def test_the_reminder_cap_in_sql_follows_the_examples(pool: asyncpg.Pool) -> None:
    for sent, cap, window_days, now, free_at in CAP:
        got = await pool.fetchval(
            "SELECT dunning_cap_free_at($1::timestamptz[], $2, $3, $4)", sent, cap, window_days, now
        )
        assert got == free_at, (len(sent), cap, now)


async def test_the_limitation_state_in_sql_follows_the_examples(pool: asyncpg.Pool) -> None:
    for expires_on, as_of, state in LIMITATION:
        got = await pool.fetchval("SELECT dunning_limitation_state($1, $2)", expires_on, as_of)
        assert got == state, (expires_on, as_of)


async def test_the_sweep_calls_the_named_functions() -> None:
    """The production statements use the functions, not a copy of their rule."""
    from dunning.adapters import sweep_housekeeping_sql, sweep_sql

    assert "dunning_tier(" in sweep_sql.CASES and "dunning_months_overdue(" in sweep_sql.CASES
    assert "THEN 'red'" not in sweep_sql.CASES
    assert "dunning_cap_free_at(" in sweep_sql.NEXT_STAGES
    assert "dunning_limitation_state(" in sweep_housekeeping_sql.LIMITATION_ALERTS
    assert "6 months" not in sweep_housekeeping_sql.LIMITATION_ALERTS
