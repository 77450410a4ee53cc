"""The workbench (工作台) in a real browser against the real billing and dunning processes.

Seven households owe January's bill; dunning's sweeps (the service role's simulation clock)
take their cases to the phone-call stage, whose tasks carry the lawful call window the sweep
computed. A housekeeper signs in and sees today's calls: only the one of the case assigned
to them. The housekeeper also sees the open promise of their case that fell due yesterday (not the one
due next week, not another's). A community manager sees every call due today, selects cases
across two pages (the selection lives in the URL), assigns them to a housekeeper as a
background job, watches its progress reach done, and dunning's API shows exactly the selected
cases assigned; then exports the same selection as a background job and downloads the XLSX,
which holds exactly the selected cases; then prints the selection's letters (two of the
selected cases and one other case reached the friendly-letter stage) as notifier's print job,
a background job whose progress is shown until done (another company's token gets 404 for
it), then its PDF is downloaded: it holds the two selected cases' letters and not the
other's. axe-core and screenshots on each state, desktop and tablet, and once in English.
"""

from __future__ import annotations

import io
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from openpyxl import load_workbook
from playwright.async_api import Browser, Page, expect
from pypdf import PdfReader

from propfee.auth import Role
from tests.support.auth import BearerAuth, staff_token
from tests.support.billing_api import invoice_body, setup_community
from tests.support.console import (
    DESKTOP,
    TABLET,
    assert_accessible,
    dev_sign_in,
    screenshot,
    to_english,
)
from tests.support.fixtures import wait_until

pytestmark = pytest.mark.integration

ROOMS = [f"{1200 + k}" for k in range(1, 8)]
#: The sweeps that take a bill due 2026-01-31 to the phone-call stage (default policy:
#: reminder at +7 days, final reminder at +15, a phone call at +22, 7 days apart at least).
SWEEPS = ("2026-02-08T10:00:00+08:00", "2026-02-16T10:00:00+08:00", "2026-02-24T10:00:00+08:00")


async def sign_in(page: Page, url: str, subject: str, role_label: str, community: str) -> None:
    await dev_sign_in(
        page, url, role=role_label, subject=subject, communities=community, path="/workbench"
    )
    await expect(page.locator("[data-test=menu-workbench]")).to_be_visible()
    await expect(page).to_have_url(f"{url}/workbench")


async def test_workbench_due_today_and_bulk_assignment(
    create_database,
    services,
    staff_auth,
    dev_issuer,
    console,
    browser: Browser,  # type: ignore[no-untyped-def]
) -> None:
    dbs = {name: await create_database(name) for name in ("billing", "dunning", "notifier")}
    extra = {
        "dunning": {"sweep_interval_s": "0"},
        # One letter per print-job chunk: the job's progress moves letter by letter.
        "notifier": {"dispatcher_enabled": "false", "print_chunk": "1"},
    }
    procs = {name: services(name, dbs[name], **extra.get(name, {})) for name in dbs}
    billing, dunning, notifier = (procs[n].url for n in ("billing", "dunning", "notifier"))
    app = console({"billing": billing, "dunning": dunning, "notifier": notifier})
    for proc in procs.values():
        proc.start(wait=False)
    for proc in procs.values():
        proc.wait_ready(timeout=180)
    community = f"c-{uuid.uuid4().hex[:6]}"
    cron = BearerAuth(staff_token(dev_issuer, [Role.service], company_id="*", subject="cron"))

    async with httpx.AsyncClient(timeout=30, auth=staff_auth) as http:
        await setup_community(http, billing, community)
        units = {}
        for room in ROOMS:
            r = await http.post(
                f"{billing}/units",
                json={
                    "community_id": community, "building": "3栋", "entrance": "2单元",
                    "room": room, "floor_area_m2": "98.50",
                    "owner": {"name": "张三", "phone": "13812345678",
                              "postal_address": f"杭州市西湖区幸福路{room}号"},
                },
            )  # fmt: skip
            assert r.status_code == 201, r.text
            unit_id = r.json()["unit_id"]
            r = await http.post(f"{billing}/invoices", json=invoice_body(unit_id))
            assert r.status_code == 201, r.text
            units[unit_id] = room

        async def cases_open() -> bool:
            r = await http.get(f"{dunning}/cases", params={"community_id": community})
            return r.status_code == 200 and len(r.json()["items"]) == len(ROOMS)

        await wait_until(cases_open, timeout=90)
        for as_of in SWEEPS:
            r = await http.post(f"{dunning}/sweeps", json={"as_of": as_of}, auth=cron)
            assert r.status_code == 200, r.text
        r = await http.get(
            f"{dunning}/tasks", params={"kind": "phone_call", "status": "open", "limit": 100}
        )
        calls = [t for t in r.json()["items"] if t["community_id"] == community]
        assert len(calls) == len(ROOMS), r.text
        assert all(t["window_start"] and t["window_end"] for t in calls)
        cases: list[dict[str, Any]] = (
            await http.get(f"{dunning}/cases", params={"community_id": community, "limit": 100})
        ).json()["items"]
        # One case is the housekeeper hk-1's (its open call becomes theirs).
        first = cases[0]
        r = await http.post(
            f"{dunning}/cases/{first['case_id']}/assignment", json={"staff_id": "hk-1"}
        )
        assert r.status_code == 200, r.text
        # Promises: hk-1's case promised for yesterday (falling due: overdue, still open) and
        # for next week (not yet); another case's, due yesterday, is not hk-1's.
        today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
        promised = {}
        for case, day in ((first, -1), (first, 7), (cases[1], -1)):
            r = await http.post(
                f"{dunning}/cases/{case['case_id']}/promises",
                json={"amount_fen": 50000, "promised_date": str(today + timedelta(days=day))},
            )
            assert r.status_code == 201, r.text
            promised[(case["case_id"], day)] = r.json()["promise_id"]

        errors: list[str] = []

        # The housekeeper: today's calls, their own only, with the lawful window.
        context = await browser.new_context(
            viewport=DESKTOP, locale="zh-CN", timezone_id="Asia/Shanghai"
        )
        page = await context.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        await sign_in(page, app.url, "hk-1", "管家", community)
        rows = page.locator("[data-test=tasks] tbody tr")
        await expect(rows).to_have_count(1)
        await expect(rows.first).to_contain_text(str(first["room_label"]))
        await expect(page.locator("[data-test=window]").first).not_to_be_empty()
        await expect(page.locator("[data-test=kind-phone_call]")).to_contain_text("(1)")
        due = page.locator("[data-test=promises] tbody tr")
        await expect(due).to_have_count(1)
        await expect(due.first).to_contain_text(str(first["room_label"]))
        await expect(due.first).to_contain_text("500.00")
        mine_due = promised[(first["case_id"], -1)]
        await expect(page.locator(f"[data-test=promise-date-{mine_due}]")).to_have_text(
            str(today - timedelta(days=1))
        )
        await screenshot(page, "workbench-01-housekeeper")
        await assert_accessible(page, "workbench (housekeeper)")
        await context.close()

        # The community manager: every call due today; cases three to a page.
        context = await browser.new_context(
            viewport=DESKTOP, locale="zh-CN", timezone_id="Asia/Shanghai", accept_downloads=True
        )
        page = await context.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        await sign_in(page, app.url, "cm-1", "项目经理", community)
        rows = page.locator("[data-test=tasks] tbody tr")
        await expect(rows).to_have_count(len(ROOMS))
        # Every promise falling due in the community (two), not the one due next week.
        await expect(page.locator("[data-test=promises] tbody tr")).to_have_count(2)
        await page.goto(f"{app.url}/workbench?community={community}&size=3")
        case_rows = page.locator("[data-test=cases] tbody tr")
        await expect(case_rows).to_have_count(3)
        page1 = [c["case_id"] for c in cases[:3]]
        page2 = [c["case_id"] for c in cases[3:6]]
        chosen = [page1[1], page1[2], page2[0]]
        for case_id in chosen[:2]:
            await page.locator(f"[data-test=pick-{case_id}]").click()
        await expect(page.locator("[data-test=selected]")).to_contain_text("已选 2 件")
        await page.locator("[data-test=next-page]").click()
        await expect(page.locator(f"[data-test=pick-{page2[0]}]")).to_be_visible()
        await page.locator(f"[data-test=pick-{chosen[2]}]").click()
        await expect(page.locator("[data-test=selected]")).to_contain_text("已选 3 件")
        assert f"sel={'%2C'.join(chosen)}" in page.url or f"sel={','.join(chosen)}" in page.url
        await screenshot(page, "workbench-02-manager-selection")
        await assert_accessible(page, "workbench (manager, selection)")

        # The selection survives a reload (it lives in the URL); then the bulk assignment.
        await page.reload()
        await expect(page.locator("[data-test=selected]")).to_contain_text("已选 3 件")
        await page.locator("[data-test=assign-to]").fill("hk-2")
        await page.locator("[data-test=assign]").click()
        await expect(page.locator("[data-test=job]")).to_be_visible()
        status = page.locator("[data-test=job-status]")
        await expect(status).to_have_attribute("data-finished", "yes", timeout=60_000)
        await expect(status).to_contain_text("成功 3")
        await screenshot(page, "workbench-03-job-done")
        await assert_accessible(page, "workbench (job done)")

        # Through dunning's API: exactly the selected cases are hk-2's.
        after = (
            await http.get(f"{dunning}/cases", params={"community_id": community, "limit": 100})
        ).json()["items"]
        assert sorted(c["case_id"] for c in after if c["assigned_to"] == "hk-2") == sorted(chosen)
        assert {c["case_id"] for c in after if c["assigned_to"] == "hk-1"} == {first["case_id"]}
        job_id = page.url.split("job=")[1].split("&")[0]
        r = await http.get(f"{dunning}/jobs/{job_id}")
        assert r.status_code == 200 and r.json()["done"] == 3, r.text
        other = BearerAuth(staff_token(dev_issuer, company_id="co-other"))
        assert (await http.get(f"{dunning}/jobs/{job_id}", auth=other)).status_code == 404

        # The same selection exported as a background job, then its XLSX downloaded.
        await page.locator("[data-test=export]").click()
        await expect(page).not_to_have_url(re.compile(job_id))
        await expect(status).to_have_attribute("data-finished", "yes", timeout=60_000)
        await expect(status).to_contain_text("成功 3")
        download_button = page.locator("[data-test=job-download]")
        await expect(download_button).to_be_visible()
        await page.wait_for_timeout(600)
        await screenshot(page, "workbench-03b-export-done")
        await assert_accessible(page, "workbench (export done)")
        async with page.expect_download() as download_info:
            await download_button.click()
        download = await download_info.value
        assert download.suggested_filename.startswith("arrears-")
        assert download.suggested_filename.endswith(".xlsx")
        sheet = load_workbook(io.BytesIO((await download.path()).read_bytes())).active
        exported = list(sheet.iter_rows(values_only=True))
        assert exported[0][0] == "case_id"
        assert [row[0] for row in exported[1:]] == chosen, "exactly the selected cases"
        assert {row[8] for row in exported[1:]} == {"hk-2"}, "as assigned by the first job"
        export_id = page.url.split("job=")[1].split("&")[0]
        assert export_id != job_id
        r = await http.get(f"{dunning}/jobs/{export_id}/file", auth=other)
        assert r.status_code == 404, r.text

        # Letters: two selected cases and another reach the friendly letter; notifier renders
        # them (the post's print queue). The selection's letters are printed, the other not.
        ops = BearerAuth(staff_token(dev_issuer, [Role.company_admin, Role.service]))
        lettered = [chosen[0], chosen[1], cases[6]["case_id"]]
        assert cases[6]["case_id"] not in chosen
        for case_id in lettered:
            r = await http.post(
                f"{dunning}/cases/{case_id}/advance", json={"stage": "friendly_letter"}, auth=ops
            )
            assert r.status_code == 200, r.text

        async def letters_printing() -> bool:
            await http.post(
                f"{notifier}/dispatch", params={"as_of": datetime.now(UTC).isoformat()}, auth=cron
            )
            r = await http.get(
                f"{notifier}/notifications", params={"status": "printing", "limit": 200}
            )
            subjects = (
                {n["subject_id"] for n in r.json()["items"]} if r.status_code == 200 else set()
            )
            return set(lettered) <= subjects

        await wait_until(letters_printing, timeout=90)
        await page.locator("[data-test=print-letters]").click()
        # A background job: its progress, then its PDF.
        await expect(page.locator("[data-test=letters-progress]")).to_be_visible()
        letters_status = page.locator("[data-test=letters-status]")
        await expect(letters_status).to_have_attribute("data-done", "yes", timeout=60_000)
        await expect(letters_status).to_contain_text("2 封")
        await expect(page.locator("[data-test=letters-progress]")).to_have_attribute(
            "aria-valuenow", "100"
        )
        assert "print=" in page.url
        print_id = page.url.split("print=")[1].split("&")[0]
        r = await http.get(f"{notifier}/letters/print-jobs/{print_id}")
        assert (r.json()["status"], r.json()["done"], r.json()["total"]) == ("done", 2, 2), r.text
        r = await http.get(f"{notifier}/letters/print-jobs/{print_id}", auth=other)
        assert r.status_code == 404, r.text
        letters_button = page.locator("[data-test=letters-download]")
        await expect(letters_button).to_be_visible()
        await page.wait_for_timeout(600)
        await screenshot(page, "workbench-03c-letters")
        await assert_accessible(page, "workbench (letters)")
        async with page.expect_download() as download_info:
            await letters_button.click()
        download = await download_info.value
        assert download.suggested_filename.endswith(".pdf")
        reader = PdfReader(io.BytesIO((await download.path()).read_bytes()))
        text = "".join("".join((p.extract_text() or "").split()) for p in reader.pages)
        room_of = {c["case_id"]: str(c["room_label"]) for c in cases}
        for case_id in lettered[:2]:
            assert room_of[case_id] in text, (room_of[case_id], text[:500])
        assert room_of[lettered[2]] not in text
        due_tasks = (
            await http.get(
                f"{dunning}/tasks",
                params={"status": "open", "due_by": str(today), "limit": 100},
            )
        ).json()["items"]
        tasks_due = len([t for t in due_tasks if t["community_id"] == community])

        # A tablet, from the URL alone.
        await page.set_viewport_size(TABLET)
        await page.goto(page.url)
        await expect(status).to_have_attribute("data-finished", "yes")
        await expect(case_rows).to_have_count(3)
        await expect(rows).to_have_count(tasks_due)
        await expect(page.locator(".el-loading-mask:visible")).to_have_count(0)
        overflow = await page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0
        await screenshot(page, "workbench-04-tablet")
        await assert_accessible(page, "workbench (tablet)")

        # English.
        await page.set_viewport_size(DESKTOP)
        await to_english(page)
        await expect(page.locator("h1")).to_have_text("Workbench")
        await expect(page.locator("[data-test=job-status]")).to_contain_text("3 done")
        await screenshot(page, "workbench-05-en")
        await assert_accessible(page, "workbench (English)")
        assert not errors, errors
        await context.close()
