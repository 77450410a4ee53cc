"""Notifier's collections come in pages (``propfee.paging``): ``limit`` and ``cursor`` in,
``items`` and ``next`` out, the next page's URL in the ``Link`` header; a cursor that is not
one the API gave out (or another collection's) is 422. Real notifier process, Kafka,
PostgreSQL."""

from __future__ import annotations

import httpx
import pytest

from .test_dispatch_concurrency import _queue_pairs

pytestmark = pytest.mark.integration


async def test_messages_are_walked_page_by_page_and_a_bad_cursor_is_422(
    staff_auth,
    create_database,
    services,
    providers,
    bus,  # type: ignore[no-untyped-def]
) -> None:
    notifier = services("notifier", await create_database("notifier"), **providers.env).start()
    async with httpx.AsyncClient(base_url=notifier.url, timeout=60, auth=staff_auth) as http:
        await _queue_pairs(http, bus, ["pg1", "pg2"])  # four messages

        seen: list[str] = []
        pages = 0
        params: dict[str, str] = {"limit": "2"}
        while True:
            r = await http.get("/notifications", params=params)
            assert r.status_code == 200, r.text
            page = r.json()
            pages += 1
            assert len(page["items"]) <= 2
            seen += [n["notification_id"] for n in page["items"]]
            if page["next"] is None:
                assert "Link" not in r.headers
                break
            link = r.headers["Link"]
            assert link.endswith('>; rel="next"') and f"cursor={page['next']}" in link
            params = {"limit": "2", "cursor": page["next"]}
        assert pages >= 2 and len(seen) == 4 and len(set(seen)) == 4
        everything = (await http.get("/notifications")).json()
        assert [n["notification_id"] for n in everything["items"]] == seen
        assert everything["next"] is None

        # Filters hold across pages.
        first = (
            await http.get("/notifications", params={"limit": "1", "subject_id": "pg1"})
        ).json()
        rest = await http.get(
            "/notifications", params={"limit": "5", "subject_id": "pg1", "cursor": first["next"]}
        )
        assert {n["subject_id"] for n in first["items"] + rest.json()["items"]} == {"pg1"}
        assert len(first["items"] + rest.json()["items"]) == 2

        for path, cursor in [
            ("/notifications", "not-a-cursor!"),
            ("/notifications", "WyJ4Il0"),  # ["x"]: not this collection's key
            ("/templates", first["next"]),  # a messages cursor given to templates
        ]:
            bad = await http.get(path, params={"cursor": cursor})
            assert bad.status_code == 422, (path, bad.text)
            assert bad.headers["content-type"].startswith("application/problem+json")
            assert [e["field"] for e in bad.json()["errors"]] == ["query.cursor"]
