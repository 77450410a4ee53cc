"""The workbench's bulk "print letters" as a background job (issue 23), in the notifier
process (Kafka, PostgreSQL): four cases' letters are rendered; a print job of three of them is
answered at once (202), its PDF is 409 until the job is done; another company's token gets 404
for it (and its own job finds none of these letters). The worker is "restarted" mid-job: one
chunk is rendered and committed, another claimed by a worker that dies before committing; the
process started again renders the rest, and the PDF (pypdf) holds each selected letter once,
the fourth case's not at all."""

from __future__ import annotations

import asyncpg
import httpx
import pytest

from notifier.service_layer import print_jobs
from propfee.auth import Role
from propfee.auth.dev import DevIssuer
from tests.support.auth import BearerAuth, staff_token
from tests.support.fixtures import wait_until

from .conftest import community, community_known, party, party_known, wait_for
from .letters import MORNING, letter_escalation, pdf_text

pytestmark = pytest.mark.integration
ROOMS = {"case-a": "8-1-101", "case-b": "8-1-102", "case-c": "8-1-103", "case-d": "8-1-104"}
SELECTED = ["case-d", "case-a", "case-b", "nope"]


async def test_a_print_job_renders_the_selected_letters_in_chunks(
    staff_auth,
    clock_auth,
    create_database,
    services,
    providers,
    bus,
    dev_issuer: DevIssuer,  # type: ignore[no-untyped-def]
) -> None:
    db = await create_database("notifier")
    # No print worker in this process: the test does the first chunks itself.
    notifier = services("notifier", db, print_workers="0", **providers.env).start()
    await bus.send(community(), key="c-1")
    for n in range(len(ROOMS)):
        await bus.send(party(f"p-{n}", postal_address=f"杭州市西湖区幸福路{n}号"), key=f"p-{n}")
    async with httpx.AsyncClient(base_url=notifier.url, timeout=30, auth=staff_auth) as http:
        await community_known(http, "c-1")
        for n in range(len(ROOMS)):
            await party_known(http, f"p-{n}")
        for n, case_id in enumerate(ROOMS):
            await bus.send(letter_escalation(case_id, f"p-{n}", ROOMS[case_id]), key=f"u-{case_id}")
        await wait_for(http, "/notifications", {"status": "queued"}, lambda r: len(r) == 4)
        r = await http.post("/dispatch", auth=clock_auth, params={"as_of": MORNING.isoformat()})
        assert r.json().get("printing") == 4, r.text

        r = await http.post("/letters/print-jobs", json={"case_ids": SELECTED})
        assert r.status_code == 202, r.text
        job = r.json()
        assert (job["status"], job["total"], job["done"]) == ("queued", 3, 0), job
        assert job["batch_id"] is not None
        job_url = f"/letters/print-jobs/{job['job_id']}"
        r = await http.get(f"{job_url}.pdf")
        assert r.status_code == 409, r.text
        r = await http.get(f"/letters/batches/{job['batch_id']}.pdf")
        assert r.status_code == 409, r.text

        # Another company's clerk: 404 for this job; its own job finds none of these letters.
        other = BearerAuth(staff_token(dev_issuer, [Role.fee_clerk], company_id="co-other"))
        elsewhere = BearerAuth(staff_token(dev_issuer, [Role.fee_clerk], communities=["c-2"]))
        for auth in (other, elsewhere):
            for url in (job_url, f"{job_url}.pdf"):
                r = await http.get(url, auth=auth)
                assert r.status_code == 404, r.text
        r = await http.post("/letters/print-jobs", json={"case_ids": list(ROOMS)}, auth=other)
        assert r.status_code == 202, r.text
        assert (r.json()["status"], r.json()["total"], r.json()["batch_id"]) == ("done", 0, None)
        r = await http.get(f"/letters/print-jobs/{r.json()['job_id']}.pdf", auth=other)
        assert r.status_code == 409, r.text
        r = await http.post("/letters/print-jobs", json={"case_ids": []})
        assert r.status_code == 422, r.text

        # One chunk rendered and committed; another claimed by a worker that dies.
        conn = await asyncpg.connect(db)
        dying = await asyncpg.connect(db)
        try:
            assert await print_jobs.work_chunk(conn, worker="test-1", chunk=2) == 2
            tx = dying.transaction()
            await tx.start()
            assert await print_jobs.work_chunk(dying, worker="test-dies", chunk=2) == 1
        finally:
            await dying.close()  # never committed: the claim and its rendering are undone
            await conn.close()
        r = await http.get(job_url)
        assert (r.json()["status"], r.json()["done"]) == ("running", 2), r.text
        r = await http.get(f"{job_url}.pdf")
        assert r.status_code == 409, r.text

    # The process started again, with its print worker: it renders the rest.
    notifier.stop()
    notifier = services("notifier", db, print_chunk="2", **providers.env).start()
    async with httpx.AsyncClient(base_url=notifier.url, timeout=30, auth=staff_auth) as http:

        async def done() -> bool:
            return (await http.get(job_url)).json()["status"] == "done"

        await wait_until(done, timeout=60)
        r = await http.get(job_url)
        assert (r.json()["done"], r.json()["total"]) == (3, 3), r.text
        r = await http.get(f"{job_url}.pdf")
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/pdf"
        text = pdf_text(r.content)
        r = await http.get(f"/letters/batches/{job['batch_id']}.pdf")
        assert r.status_code == 200 and pdf_text(r.content) == text

        # The fourth case's letter is still there for the next batch: its room appears as
        # often in its one-letter PDF as each selected room does in the job's.
        r = await http.post("/letters/batches", json={"case_ids": ["case-c"]})
        assert r.json()["letters"] == 1, r.text
        r = await http.get(f"/letters/batches/{r.json()['batch_id']}.pdf")
        once = pdf_text(r.content).count(ROOMS["case-c"])
        assert once >= 1
        assert ROOMS["case-c"] not in text
        for case_id in ("case-a", "case-b", "case-d"):
            assert text.count(ROOMS[case_id]) == once, case_id
