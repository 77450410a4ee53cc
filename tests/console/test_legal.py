"""The legal file (法务档案) in a real browser against the real billing, dunning and notifier
processes.

A household comes from the old system with months unpaid (billing's ledger import); dunning
opens its case; operations (the service role, the simulation clock) move it to the legal
demand 40 days ago and record the demand letter as posted (a tracking number, no proof of
delivery). A legal staff member signs in, finds the case on the legal track, opens its file:
the demand with no delivery proof, the posted letter, notifier's letter message, the
limitation dates per invoice exactly as dunning's API gives them; downloads the evidence PDF
and ZIP (real files naming the room); tries to refer the case to a lawsuit and sees every
unmet precondition dunning names (paused, no delivered demand), in Chinese and English. The
legal staff member then follows up notifier's demand letter (printed by operations) in the
file: records its EMS tracking number (posted, not delivered), then its delivery with the
carrier's status and the signer, both back-dated within the company's window; notifier shows
the letter delivered with that proof, and dunning (reading notifier's NotificationDelivered)
counts it as the delivered demand. Once operations resolve the pause, the referral goes
through and dunning's API shows the case in the lawsuit stage. Every state is checked with
axe-core and photographed at 1280×800 and on a tablet.
"""

from __future__ import annotations

import io
import uuid
import zipfile
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import Browser, expect
from pypdf import PdfReader

from propfee.auth import Role
from tests.support.auth import BearerAuth, staff_token
from tests.support.billing_api import setup_community
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

LEDGER = (
    "楼栋,单元,房号,房屋类型,建筑面积,房屋状态,交房日期,业主姓名,业主电话,缴费责任人,"
    "期初欠费金额,欠费起始月,期初违约金\n"
    "3栋,2单元,1201,住宅,98.50,已入住,2019-06-30,张三,13812345678,业主,1200.00,2024-10,50.00\n"
)
TRACKING = "EA123456789CN"
NOTIFIER_TRACKING = "EA987654321CN"
SHANGHAI = ZoneInfo("Asia/Shanghai")


def typed(instant: datetime) -> str:
    """An instant as a person types it in a datetime-local field (Beijing time)."""
    return instant.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")


async def test_legal_staff_read_the_file_and_refer_a_case_once_its_demand_is_delivered(
    create_database,
    services,
    staff_auth,
    dev_issuer,
    console,
    browser: Browser,  # type: ignore[no-untyped-def]
) -> None:
    names = ("billing", "dunning", "notifier")
    dbs = {name: await create_database(name) for name in names}
    extra = {"dunning": {"sweep_interval_s": "0"}, "notifier": {"dispatcher_enabled": "false"}}
    procs = {n: services(n, dbs[n], **extra.get(n, {})) for n in names}
    billing, dunning, notifier = (procs[n].url for n in names)
    # The console first (its upstreams' ports are known): it starts faster on a busy machine
    # than beside three services starting.
    app = console({"billing": billing, "dunning": dunning, "notifier": notifier})
    for proc in procs.values():
        proc.start(wait=False)
    for proc in procs.values():
        proc.wait_ready(timeout=180)
    community = f"c-{uuid.uuid4().hex[:6]}"
    # Operations: a company admin on the simulation clock (the service role acts as of any
    # instant; staff may back-date only within the company's window).
    ops = BearerAuth(staff_token(dev_issuer, [Role.company_admin, Role.service], subject="ops-1"))
    now = datetime.now(UTC)

    async with httpx.AsyncClient(timeout=30, auth=staff_auth) as http:
        await setup_community(http, billing, community)
        # The company lets its staff back-date a record by up to 31 days (a delivery recorded
        # late from the carrier's tracking page).
        r = await http.put(f"{billing}/companies/co-1", json={"backdate_days": 31})
        assert r.status_code == 200, r.text
        r = await http.post(
            f"{billing}/communities/{community}/ledger-imports",
            content=LEDGER.encode(),
            params={"filename": "ledger.csv", "opening_as_of": "2025-01-01"},
        )
        assert r.status_code == 200, r.text
        (unit,) = (await http.get(f"{billing}/communities/{community}/units")).json()["items"]
        unit_id = unit["unit_id"]
        # The owner's postal address (the demand letter goes by post).
        r = await http.patch(
            f"{billing}/parties/{unit['payer_party_id']}",
            json={"postal_address": "杭州市西湖区阳光花园3栋2单元1201"},
        )
        assert r.status_code == 200, r.text

        cases: list[dict[str, Any]] = []

        async def case_opened() -> bool:
            r = await http.get(f"{dunning}/cases", params={"unit_id": unit_id})
            cases[:] = r.json()["items"] if r.status_code == 200 else []
            return bool(cases) and cases[0]["outstanding_fen"] > 0

        await wait_until(case_opened, timeout=90)
        case_id = cases[0]["case_id"]

        # The legal demand, 40 days ago (its deadline: 15 days), and its letter posted the
        # next day: a tracking number proves posting, not delivery.
        r = await http.post(
            f"{dunning}/cases/{case_id}/advance",
            json={"stage": "legal_demand", "at": (now - timedelta(days=40)).isoformat()},
            auth=ops,
        )
        assert r.status_code == 200, r.text
        r = await http.post(
            f"{dunning}/cases/{case_id}/letters",
            json={"stage": "legal_demand", "tracking_no": TRACKING,
                  "sent_at": (now - timedelta(days=39)).isoformat()},
            auth=ops,
        )  # fmt: skip
        assert r.status_code == 201 and r.json()["status"] == "posted", r.text

        async def letter_message() -> bool:
            r = await http.get(f"{notifier}/notifications", params={"subject_id": case_id})
            return r.status_code == 200 and any(
                n["stage"] == "legal_demand" for n in r.json()["items"]
            )

        await wait_until(letter_message, timeout=90)
        # Operations print notifier's demand letter (the dispatcher as of the day after the
        # demand, then a print batch): it waits for its tracking number.
        # (At 10:00 Beijing time: no letter is printed in the quiet hours.)
        day_after = (now - timedelta(days=39)).astimezone(SHANGHAI).date()
        morning = datetime.combine(day_after, time(10), tzinfo=SHANGHAI)
        r = await http.post(
            f"{notifier}/dispatch",
            params={"as_of": morning.isoformat()},
            auth=ops,
        )
        assert r.status_code == 200, r.text
        r = await http.post(f"{notifier}/letters/batches", auth=ops)
        assert r.status_code == 201, r.text
        r = await http.get(f"{notifier}/notifications", params={"subject_id": case_id})
        (printed,) = [
            n
            for n in r.json()["items"]
            if n["stage"] == "legal_demand" and n["channel"] == "letter"
        ]
        assert printed["status"] == "printing", (printed["status"], printed["status_reason"])
        notification_id = printed["notification_id"]
        # A complaint pauses the case once the letter is printed (the referral waits for it).
        r = await http.post(
            f"{dunning}/cases/{case_id}/pauses",
            json={"reason": "service_complaint", "owner": "cs-1",
                  "starts_at": (now - timedelta(hours=1)).isoformat(),
                  "ends_at": (now + timedelta(days=30)).isoformat()},
            auth=ops,
        )  # fmt: skip
        assert r.status_code == 201, r.text
        pause_id = r.json()["pause_id"]

        # The limitation dates dunning gives for the household's open invoices.
        r = await http.get(
            f"{dunning}/limitation",
            params={"as_of": now.date().isoformat(), "within_days": 36500, "limit": 1000},
        )
        assert r.status_code == 200, r.text
        clocks = [c for c in r.json()["items"] if c["unit_id"] == unit_id]
        assert clocks and all(c["limitation_expires_on"] for c in clocks)

        context = await browser.new_context(viewport=DESKTOP, locale="zh-CN", accept_downloads=True)
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))

        # A legal staff member of this community signs in.
        await dev_sign_in(
            page, app.url, role="法务", subject="lw-1", communities=community, path="/legal"
        )
        await expect(page.locator("[data-test=menu-legal]")).to_be_visible()
        await expect(page).to_have_url(f"{app.url}/legal")

        # The list: the case on the legal track.
        link = page.locator(f"[data-test=open-{case_id}]")
        await expect(link).to_be_visible()
        await expect(page.locator("[data-test=cases] tbody tr").first).to_contain_text("法务催告函")
        await screenshot(page, "legal-01-list")
        await assert_accessible(page, "legal list")
        await page.locator("[data-test=status-all]").click()
        await expect(page).to_have_url(f"{app.url}/legal?status=all")
        await expect(link).to_be_visible()
        await link.click()
        await expect(page).to_have_url(f"{app.url}/legal/{case_id}")

        # The file: the demand without delivery proof, the posted letter, notifier's message.
        await expect(page.locator("[data-test=stage]")).to_have_text("法务催告函")
        demands = page.locator("[data-test=demands] tbody tr")
        await expect(demands).to_have_count(1)
        await expect(demands.first).to_contain_text("法务催告函")
        await expect(demands.first.locator("[data-test=demand-proof]")).to_have_text(
            "未送达(仅寄出)"
        )
        letters = page.locator("[data-test=letters] tbody tr")
        await expect(letters).to_have_count(1)
        await expect(letters.first).to_contain_text(TRACKING)
        await expect(letters.first.locator("[data-test=letter-proof]")).to_have_text(
            "未送达(仅寄出)"
        )
        await expect(page.locator("[data-test=messages] tbody tr").first).to_contain_text("信函")
        # Limitation per invoice: the dates dunning's API gives.
        shown = await page.locator("[data-test=expires-on]").all_inner_texts()
        assert sorted(c["limitation_expires_on"] for c in clocks) == sorted(
            s for s in shown if s
        ), shown
        await expect(page.locator("[data-test=limitation-state]").first).to_have_text("进行中")
        await screenshot(page, "legal-02-file")
        await assert_accessible(page, "legal file")

        # The evidence bundle: a real PDF and a ZIP naming the room.
        async with page.expect_download() as pdf_info:
            await page.locator("[data-test=evidence-pdf]").click()
        pdf_download = await pdf_info.value
        assert pdf_download.suggested_filename.endswith(".pdf")
        pdf = (await pdf_download.path()).read_bytes()
        assert pdf.startswith(b"%PDF")
        text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
        assert "1201" in text and TRACKING in text
        async with page.expect_download() as zip_info:
            await page.locator("[data-test=evidence-zip]").click()
        archive = zipfile.ZipFile(io.BytesIO((await (await zip_info.value).path()).read_bytes()))
        assert archive.testzip() is None
        pdfs = [n for n in archive.namelist() if n.endswith(".pdf")]
        assert pdfs, archive.namelist()
        inner = PdfReader(io.BytesIO(archive.read(pdfs[0])))
        assert "1201" in "".join(p.extract_text() for p in inner.pages)

        # A referral to a lawsuit: refused, with every unmet precondition.
        await page.locator("[data-test=to-stage]").click()
        await page.locator("[data-test=stage-lawsuit]").click()
        await page.locator("[data-test=reason]").fill("拒不缴费,准备起诉")
        await page.locator("[data-test=advance]").click()
        unmet = page.locator("[data-test=unmet] li")
        await expect(unmet).to_have_count(2)
        assert await unmet.evaluate_all("els => els.map(e => e.dataset.code)") == [
            "case_paused",
            "no_delivered_demand",
        ]
        await expect(page.locator("[data-test=unmet-case_paused]")).to_contain_text("暂停")
        await expect(page.locator("[data-test=unmet-no_delivered_demand]")).to_contain_text(
            "没有已送达的书面催告"
        )
        await screenshot(page, "legal-03-refused")
        await assert_accessible(page, "legal file (refused)")
        r = await http.get(f"{dunning}/cases/{case_id}")
        assert r.json()["stage"] == "legal_demand"

        # English: the same reasons, translated by their codes.
        await to_english(page)
        await expect(page.locator("[data-test=case-title]")).to_contain_text("Legal file")
        await expect(page.locator("[data-test=unmet-no_delivered_demand]")).to_contain_text(
            "No individually delivered demand"
        )
        await expect(page.locator("[data-test=unmet-case_paused]")).to_contain_text("paused")
        await screenshot(page, "legal-04-refused-en")
        await assert_accessible(page, "legal file (English)")

        # Legal follows up notifier's demand letter in the file: its tracking number (posted
        # 29 days ago), then its delivery with the carrier's status 27 days ago (before the
        # demand's deadline; the 15 days from delivery have passed).
        track = page.locator(f"[data-test=record-tracking][data-id='{notification_id}']")
        await expect(track).to_be_visible()
        await expect(
            page.locator(f"[data-test=record-delivery][data-id='{notification_id}']")
        ).to_be_visible()
        await track.click()
        await page.locator("[data-test=tracking-number]").fill(NOTIFIER_TRACKING)
        await page.locator("[data-test=posted-at]").fill(typed(now - timedelta(days=29)))
        await page.locator("[data-test=proof-save]").click()
        await expect(page.locator("[data-test=recorded]")).to_contain_text("Posting recorded")
        message = page.locator("[data-test=messages] tbody tr").filter(has_text=NOTIFIER_TRACKING)
        await expect(message.locator("[data-test=message-status]")).to_have_text("Posted")
        await expect(page.locator("[data-test=demands] tbody tr").first.locator(
            "[data-test=demand-proof]"
        )).to_have_text("Not delivered (posted only)")  # fmt: skip
        await page.locator(f"[data-test=record-delivery][data-id='{notification_id}']").click()
        await page.locator("[data-test=proof-by-carrier]").click()
        await page.locator("[data-test=carrier-status]").fill("妥投")
        await page.locator("[data-test=signed-by]").fill("本人签收")
        await page.locator("[data-test=delivered-at]").fill(typed(now - timedelta(days=27)))
        await page.wait_for_timeout(600)  # the dialog's fade-in (axe reads its colours)
        await screenshot(page, "legal-04b-record-delivery-en")
        await assert_accessible(page, "legal file (record delivery)")
        await page.locator("[data-test=proof-save]").click()
        await expect(page.locator("[data-test=recorded]")).to_contain_text("Delivery recorded")
        await expect(message.locator("[data-test=message-status]")).to_have_text("Delivered")
        await expect(message.locator("[data-test=message-proof]")).to_contain_text("妥投")
        # Notifier: delivered with that proof, recorded by the legal staff member's hand.
        r = await http.get(f"{notifier}/notifications", params={"subject_id": case_id})
        (done,) = [n for n in r.json()["items"] if n["notification_id"] == notification_id]
        assert done["status"] == "delivered", done
        assert done["tracking_number"] == NOTIFIER_TRACKING
        assert (done["proof"]["carrier_status"], done["proof"]["signed_by"]) == ("妥投", "本人签收")

        # Dunning counts it (notifier's NotificationDelivered): the delivered demand.
        async def demand_delivered() -> bool:
            r = await http.get(f"{dunning}/cases/{case_id}/evidence")
            return r.status_code == 200 and any(
                p.get("notification_id") == notification_id for p in r.json()["delivery_proof"]
            )

        await wait_until(demand_delivered, timeout=90)

        # Operations resolve the complaint.
        r = await http.post(
            f"{dunning}/pauses/{pause_id}/resolve", json={"resolution": "维修完成"}, auth=ops
        )
        assert r.status_code == 200, r.text

        # On a tablet: the file now shows the delivery; the referral goes through.
        await page.set_viewport_size(TABLET)
        await page.reload()
        await expect(demands.first.locator("[data-test=demand-proof]")).to_contain_text("Letter")
        await expect(demands.first.locator("[data-test=demand-proof]")).to_contain_text("妥投")
        await expect(demands.first.locator("[data-test=demand-proof]")).to_contain_text(
            NOTIFIER_TRACKING
        )
        await expect(demands.first.locator("[data-test=demand-proof]")).not_to_contain_text(
            "Not delivered"
        )
        await expect(page.locator("[data-test=delivery-proof] tbody tr").first).to_be_visible()
        # The delivery restarted the limitation clocks: the dates dunning now gives.
        r = await http.get(
            f"{dunning}/limitation",
            params={"as_of": now.date().isoformat(), "within_days": 36500, "limit": 1000},
        )
        restarted = sorted(
            c["limitation_expires_on"] for c in r.json()["items"] if c["unit_id"] == unit_id
        )
        assert restarted != sorted(c["limitation_expires_on"] for c in clocks)
        await expect(page.locator("[data-test=expires-on]").first).to_have_text(restarted[0])
        shown = await page.locator("[data-test=expires-on]").all_inner_texts()
        assert restarted == sorted(s for s in shown if s), shown
        overflow = await page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0
        await page.locator("[data-test=to-stage]").click()
        await page.locator("[data-test=stage-lawsuit]").click()
        await page.locator("[data-test=advance]").click()
        await expect(page.locator("[data-test=advanced]")).to_contain_text("Lawsuit")
        await expect(page.locator("[data-test=stage]")).to_have_text("Lawsuit")
        await expect(page.locator("[data-test=unmet]")).to_have_count(0)
        await screenshot(page, "legal-05-advanced-tablet")
        await assert_accessible(page, "legal file (advanced, tablet)")

        r = await http.get(f"{dunning}/cases/{case_id}")
        assert r.status_code == 200 and r.json()["stage"] == "lawsuit", r.text
        assert errors == [], errors
        await context.close()
    for proc in procs.values():
        assert proc.stop_gracefully(), proc.log_tail()
