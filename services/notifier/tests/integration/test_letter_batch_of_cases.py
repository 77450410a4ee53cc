"""The workbench's bulk "print letters" (issue 23) in the notifier process (Kafka,
PostgreSQL): three cases' letters are rendered; a batch of two of them (``case_ids``) holds
exactly their letters, read back with pypdf; another company's token, or one of another
community, gathers none of them (nothing leaks, nothing is taken); the third letter is
still there for the next batch."""

from __future__ import annotations

import httpx
import pytest

from propfee.auth import Role
from propfee.auth.dev import DevIssuer
from tests.support.auth import BearerAuth, staff_token

from .conftest import community, community_known, party, party_known, wait_for
from .letters import MORNING, letter_escalation, pdf_text

pytestmark = pytest.mark.integration
ROOMS = {"case-a": "7-1-101", "case-b": "7-1-102", "case-c": "7-1-103"}


async def test_a_batch_of_the_selected_cases_letters(
    staff_auth,
    clock_auth,
    create_database,
    services,
    providers,
    bus,
    dev_issuer: DevIssuer,  # type: ignore[no-untyped-def]
) -> None:
    db = await create_database("notifier")
    notifier = services("notifier", db, **providers.env).start()
    await bus.send(community(), key="c-1")
    for n in range(len(ROOMS)):
        await bus.send(party(f"p-{n}", postal_address=f"杭州市西湖区幸福路{n}号"), key=f"p-{n}")
    async with httpx.AsyncClient(base_url=notifier.url, timeout=30, auth=staff_auth) as http:
        await community_known(http, "c-1")
        for n in range(len(ROOMS)):
            await party_known(http, f"p-{n}")
        for n, case_id in enumerate(ROOMS):
            await bus.send(letter_escalation(case_id, f"p-{n}", ROOMS[case_id]), key=f"u-{case_id}")
        await wait_for(http, "/notifications", {"status": "queued"}, lambda r: len(r) == 3)
        r = await http.post("/dispatch", auth=clock_auth, params={"as_of": MORNING.isoformat()})
        assert r.json().get("printing") == 3, r.text

        # Another company's clerk, or one of another community: none of these letters.
        clerk = [Role.fee_clerk]
        other = BearerAuth(staff_token(dev_issuer, clerk, company_id="co-other"))
        elsewhere = BearerAuth(staff_token(dev_issuer, clerk, communities=["c-2"]))
        for auth in (other, elsewhere):
            r = await http.post("/letters/batches", json={"case_ids": list(ROOMS)}, auth=auth)
            assert r.status_code == 201, r.text
            assert (r.json()["batch_id"], r.json()["letters"]) == (None, 0)

        r = await http.post("/letters/batches", json={"case_ids": ["case-a", "case-c", "nope"]})
        assert r.status_code == 201, r.text
        batch = r.json()
        assert batch["letters"] == 2, batch
        r = await http.get(f"/letters/batches/{batch['batch_id']}.pdf")
        assert r.status_code == 200, r.text
        text = pdf_text(r.content)
        assert ROOMS["case-a"] in text and ROOMS["case-c"] in text
        assert ROOMS["case-b"] not in text
        for auth in (other, elsewhere):
            r = await http.get(f"/letters/batches/{batch['batch_id']}.pdf", auth=auth)
            assert r.status_code == 404, r.text

        # The same selection again: nothing left; the rest goes to the next batch.
        r = await http.post("/letters/batches", json={"case_ids": ["case-a", "case-c"]})
        assert r.json()["letters"] == 0, r.text
        r = await http.post("/letters/batches", json={"case_ids": []})
        assert r.status_code == 422, r.text
        r = await http.post("/letters/batches")
        assert r.json()["letters"] == 1, r.text
