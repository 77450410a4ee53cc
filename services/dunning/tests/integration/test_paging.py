"""Every collection answers a page at a time (issue 20): ``limit`` and ``cursor`` in, ``items``
and ``next`` out, the next page's URL in the ``Link`` header; keyset on the sort key, so rows
with the same instant are neither skipped nor repeated; a cursor the API did not give out is
422."""

from __future__ import annotations

from datetime import date
from typing import Any

import asyncpg
import httpx
import pytest

from services.dunning.tests.integration.support import feed, invoice

pytestmark = pytest.mark.integration

UNITS = [f"pg-{n}" for n in range(5)]


async def walk(api: httpx.AsyncClient, path: str, **params: Any) -> list[list[dict[str, Any]]]:
    pages: list[list[dict[str, Any]]] = []
    query: dict[str, Any] = {**params, "limit": 2}
    while True:
        r = await api.get(path, params=query)
        assert r.status_code == 200, r.text
        body = r.json()
        pages.append(body["items"])
        if body["next"] is None:
            assert "Link" not in r.headers
            return pages
        assert 'rel="next"' in r.headers["Link"] and body["next"] in r.headers["Link"]
        query["cursor"] = body["next"]


async def test_cases_and_limitation_clocks_walk_across_pages(
    pool: asyncpg.Pool, api: httpx.AsyncClient
) -> None:
    for unit in UNITS:  # issued at the same instant: the cases open at the same instant
        await feed(pool, invoice(unit, date(2023, 3, 31)))
    pages = await walk(api, "/cases")
    assert [len(p) for p in pages] == [2, 2, 1]
    units = [c["unit_id"] for page in pages for c in page]
    assert sorted(units) == UNITS  # none skipped, none twice
    ids = [c["case_id"] for page in pages for c in page]
    assert ids == sorted(ids)  # ties on opened_at broken by the id

    clocks = await walk(api, "/limitation", as_of="2026-03-01")
    assert [len(p) for p in clocks] == [2, 2, 1]
    assert sorted(c["unit_id"] for page in clocks for c in page) == UNITS


async def test_a_cursor_not_given_out_is_422(pool: asyncpg.Pool, api: httpx.AsyncClient) -> None:
    for unit in UNITS[:3]:
        await feed(pool, invoice(unit, date(2023, 3, 31)))
    for path in ("/cases", "/tasks", "/staff/me/queue"):
        r = await api.get(path, params={"cursor": "not a cursor!"})
        assert r.status_code == 422, (path, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["errors"][0]["field"] == "query.cursor"
    # A cursor of another collection does not fit this one's key.
    cases_cursor = (await api.get("/cases", params={"limit": 1})).json()["next"]
    assert cases_cursor
    r = await api.get("/limitation", params={"as_of": "2026-03-01", "cursor": cases_cursor})
    assert r.status_code == 422, r.text
