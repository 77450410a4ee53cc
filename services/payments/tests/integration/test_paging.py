"""Collections come in cursor pages on a real process and database: a payment's refunds
walked two at a time (``next`` and the ``Link`` header), every one once, in order; a
malformed cursor answers 422 (problem details naming ``query.cursor``)."""

from __future__ import annotations

import uuid

import httpx
import pytest
from payments_testkit.service import know_communities

pytestmark = pytest.mark.integration


async def test_refunds_walked_across_pages(services, create_database, staff_auth) -> None:  # type: ignore[no-untyped-def]
    db = await create_database("payments")
    proc = services("payments", db).start()
    await know_communities(db)
    async with httpx.AsyncClient(base_url=proc.url, timeout=30, auth=staff_auth) as http:
        r = await http.post(
            "/payments/counter",
            json={
                "community_id": "c-t1",
                "unit_id": "u-c-t1",
                "payer_party_id": "owner-c-t1",
                "amount_fen": 10_000,
                "channel": "cash",
            },
            headers={"Idempotency-Key": f"counter-{uuid.uuid4()}"},
        )
        assert r.status_code == 201, r.text
        payment_id = r.json()["payment_id"]
        asked = []
        for amount in (100, 200, 300, 400, 500):
            r = await http.post(
                f"/payments/{payment_id}/refunds",
                json={"amount_fen": amount, "reason": "多收"},
            )
            assert r.status_code == 201, r.text
            assert r.json()["status"] == "succeeded"  # a counter refund: at once
            asked.append(r.json()["refund_id"])

        seen: list[str] = []
        pages = 0
        url: str | None = f"/payments/{payment_id}/refunds?limit=2"
        while url is not None:
            r = await http.get(url)
            assert r.status_code == 200, r.text
            page = r.json()
            pages += 1
            assert len(page["items"]) <= 2
            seen += [x["refund_id"] for x in page["items"]]
            if page["next"] is None:
                assert "link" not in r.headers
                url = None
            else:
                link = r.headers["link"]
                assert link.endswith('>; rel="next"') and f"cursor={page['next']}" in link
                url = link[1 : link.index(">")]
        assert pages == 3
        assert seen == asked  # in the order they were asked, each once

        r = await http.get(f"/payments/{payment_id}/refunds", params={"cursor": "not-a-cursor"})
        assert r.status_code == 422, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in r.json()["errors"]] == ["query.cursor"]
        # A cursor of another collection (one key where two are needed) is refused too.
        r = await http.get(
            f"/payments/{payment_id}/refunds", params={"cursor": "WyJ1bml0LTAwMTIiXQ"}
        )
        assert r.status_code == 422, r.text
