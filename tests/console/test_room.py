"""The room page (房屋页) in a real browser against the real billing, dunning and notifier
processes (and payments, for a receipt).

Room 1201 comes from the old system with three months unpaid; dunning opens its case from
billing's events and a sweep moves it on. A housekeeper finds the room (房屋), opens its
page, sees the statement's amounts as billing gives them and the case's tier and stage, and
records a promise: dunning's evidence bundle then holds it with the amount and date typed.
The housekeeper has no installment-plan action; a fee clerk has, proposes a plan (billing
then lists it) and opens a complaint pause (dunning lists it). An auditor reads the audit
trail (the promise is in it) and has no action at all. Every state is checked with axe-core
and photographed at 1280×800, on a tablet and once in English.
"""

from __future__ import annotations

import io
import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect
from pypdf import PdfReader

from propfee.auth import Role
from tests.support.auth import BearerAuth, staff_token
from tests.support.billing_api import setup_community
from tests.support.console import (
    DESKTOP,
    TABLET,
    assert_accessible,
    screenshot,
    signed_in_page,
    to_english,
)
from tests.support.fixtures import wait_until

pytestmark = pytest.mark.integration
SHANGHAI = ZoneInfo("Asia/Shanghai")

LEDGER = (
    "楼栋,单元,房号,房屋类型,建筑面积,房屋状态,交房日期,业主姓名,业主电话,缴费责任人,"
    "期初欠费金额,欠费起始月,期初违约金\n"
    "3栋,2单元,1201,住宅,98.50,已入住,2019-06-30,张三,13812345678,业主,1200.00,2024-10,50.00\n"
)


async def sign_in(
    browser: Browser, url: str, path: str, subject: str, role: str, community: str
) -> tuple[BrowserContext, Page, list[str]]:
    """A new browser context signed in through the development sign-in as ``role`` (its
    Chinese label), landing on ``path``."""
    return await signed_in_page(
        browser, url, role=role, subject=subject, communities=community, path=path
    )


async def test_a_housekeeper_records_a_promise_on_the_room_page(
    create_database,
    services,
    staff_auth,
    dev_issuer,
    console,
    browser: Browser,  # type: ignore[no-untyped-def]
) -> None:
    names = ("billing", "dunning", "notifier", "payments")
    dbs = {name: await create_database(name) for name in names}
    extra = {"dunning": {"sweep_interval_s": "0"}, "notifier": {"dispatcher_enabled": "false"}}
    procs = {n: services(n, dbs[n], **extra.get(n, {})) for n in names}
    for proc in procs.values():
        proc.start(wait=False)
    for proc in procs.values():
        proc.wait_ready(timeout=180)
    billing, dunning, notifier, payments = (procs[n].url for n in names)
    app = console(
        {"billing": billing, "dunning": dunning, "notifier": notifier, "payments": payments}
    )
    community = f"c-{uuid.uuid4().hex[:6]}"

    async with httpx.AsyncClient(timeout=30, auth=staff_auth) as http:
        await setup_community(http, billing, community)
        r = await http.post(
            f"{billing}/communities/{community}/ledger-imports",
            content=LEDGER.encode(),
            params={"filename": "ledger.csv", "opening_as_of": "2025-01-01"},
        )
        assert r.status_code == 200, r.text
        (unit,) = (await http.get(f"{billing}/communities/{community}/units")).json()["items"]
        unit_id = unit["unit_id"]

        async def case_opened() -> bool:
            r = await http.get(f"{dunning}/cases", params={"unit_id": unit_id})
            # 404 until dunning has learnt the unit (its invoices) from Kafka.
            return r.status_code == 200 and [c["status"] for c in r.json()["items"]] == ["open"]

        await wait_until(case_opened, timeout=90)
        # A sweep moves the case on its ladder (the service role's, as of this morning in the
        # community: outside the quiet hours whenever the test runs).
        cron = BearerAuth(staff_token(dev_issuer, [Role.service], company_id="*", subject="cron"))
        morning = datetime.now(SHANGHAI).replace(hour=10, minute=0, second=0, microsecond=0)
        r = await http.post(f"{dunning}/sweeps", json={"as_of": morning.isoformat()}, auth=cron)
        assert r.status_code == 200, r.text
        assert r.json()["escalated"] == 1, r.text
        (case,) = (await http.get(f"{dunning}/cases", params={"unit_id": unit_id})).json()["items"]
        case_id = case["case_id"]
        escalations = (await http.get(f"{dunning}/cases/{case_id}/escalations")).json()["items"]
        assert escalations

        # A cash payment at the counter (its receipt is downloaded from the room page).
        async def payments_knows_community() -> bool:
            r = await http.get(f"{payments}/reports/totals", params={"community_id": community})
            return r.status_code == 200

        await wait_until(payments_knows_community, timeout=60)
        statement = (await http.get(f"{billing}/units/{unit_id}/statement")).json()
        oldest = min(
            (i for i in statement["invoices"] if i["status"] in ("issued", "partially_paid")),
            key=lambda i: (i["due_date"], i["period_start"]),
        )
        r = await http.post(
            f"{payments}/payments/counter",
            headers={"Idempotency-Key": f"room-{uuid.uuid4().hex}"},
            json={
                "community_id": community, "unit_id": unit_id,
                "payer_party_id": unit["payer_party_id"], "invoice_ids": [oldest["invoice_id"]],
                "amount_fen": 10_000, "channel": "cash",
            },
        )  # fmt: skip
        assert r.status_code == 201, r.text
        payment = r.json()

        async def receipt_ready() -> bool:
            s = (await http.get(f"{billing}/units/{unit_id}/statement")).json()
            return any(p["receipt_no"] for p in s["payments"])

        await wait_until(receipt_ready, timeout=60)
        statement = (await http.get(f"{billing}/units/{unit_id}/statement")).json()
        assert statement["principal_outstanding_fen"] > 0

        # A housekeeper finds the room (房屋) and opens its page.
        context, page, errors = await sign_in(browser, app.url, "/rooms", "hk-3", "管家", community)
        await expect(page).to_have_url(f"{app.url}/rooms?community={community}")
        await expect(page.locator("[data-test=menu-roomsearch]")).to_be_visible()
        await expect(page.locator("[data-test=room]")).to_be_focused()
        await page.keyboard.type("1201")
        await page.keyboard.press("Enter")
        await expect(page).to_have_url(f"{app.url}/rooms?community={community}&room=1201")
        await screenshot(page, "room-01-search")
        await assert_accessible(page, "room search")
        await page.locator("[data-test=open-1201]").click()
        await expect(page).to_have_url(f"{app.url}/rooms/{unit_id}")
        await expect(page.locator("[data-test=room-title]")).to_contain_text("3栋/2单元/1201")

        # The statement's figures as billing gives them; the case as dunning gives it.
        await expect(page.locator("[data-test=principal-outstanding]")).to_have_text(
            f"¥{yuan(statement['principal_outstanding_fen'])}"
        )
        await expect(page.locator("[data-test=late-fee-outstanding]")).to_have_text(
            f"¥{yuan(statement['late_fee_outstanding_fen'])}"
        )
        await expect(page.locator("[data-test=invoices] tbody tr")).to_have_count(
            len(statement["invoices"])
        )
        await expect(page.locator("[data-test=case-open]")).to_be_visible()
        await expect(page.locator("[data-test=escalations] tbody tr")).to_have_count(
            len(escalations)
        )
        await expect(page.locator("[data-test=parties]")).to_contain_text("业主")
        # The housekeeper may record a promise and pause a case, not propose a plan; no
        # audit trail either (not the housekeeper's to read).
        await expect(page.locator("[data-test=action-promise]")).to_be_enabled()
        await expect(page.locator("[data-test=action-pause]")).to_be_visible()
        await expect(page.locator("[data-test=action-plan]")).to_have_count(0)
        await expect(page.locator("[data-test=audit]")).to_have_count(0)
        # The household's aging, walking the estate: billing's aging of this one unit, read
        # with the housekeeper's own token; the community's reports stay closed to it.
        keeper = BearerAuth(await page.evaluate("sessionStorage.getItem('propfee.console.token')"))
        r = await http.get(f"{billing}/units/{unit_id}/aging", auth=keeper)
        assert r.status_code == 200, r.text
        household = r.json()["buckets"]
        assert (
            sum(b["outstanding_fen"] for b in household) == statement["principal_outstanding_fen"]
        )
        await expect(page.locator("[data-test=aging]")).to_be_visible()
        for bucket in household:
            await expect(page.locator(f'[data-test="aging-{bucket["bucket"]}"]')).to_have_text(
                f"¥{yuan(bucket['outstanding_fen'])}"
            )
        for report in ("aging", "recovery"):
            r = await http.get(f"{billing}/communities/{community}/reports/{report}", auth=keeper)
            assert r.status_code == 403, r.text
        r = await http.get(
            f"{billing}/communities/{community}/reports/aging",
            params={"unit_id": unit_id},
            auth=keeper,
        )
        assert r.status_code == 403, r.text

        # The receipt of the counter payment.
        async with page.expect_download() as download_info:
            await page.locator(f"[data-test=receipt-{payment['payment_id']}]").click()
        pdf = (await (await download_info.value).path()).read_bytes()
        assert pdf.startswith(b"%PDF")
        assert "1201" in "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
        await screenshot(page, "room-02-page")
        await assert_accessible(page, "room page")

        # A promise: 500 yuan in ten days, signed.
        promised = (date.today() + timedelta(days=10)).isoformat()
        await page.locator("[data-test=action-promise]").click()
        await expect(page.locator("[data-test=promise-amount]")).to_be_visible()
        await page.locator("[data-test=promise-amount]").fill("500")
        await page.locator("[data-test=promise-date]").fill(promised)
        await page.locator("[data-test=promise-signed]").click()
        await screenshot(page, "room-03-promise")
        await assert_accessible(page, "room page (promise)")
        await page.locator("[data-test=promise-save]").click()
        await expect(page.locator("[data-test=notice]")).to_be_visible()
        promise_rows = page.locator("[data-test=promises] tbody tr")
        await expect(promise_rows).to_have_count(1)
        await expect(promise_rows.first).to_contain_text(promised)
        await expect(promise_rows.first).to_contain_text("500.00")

        evidence = (await http.get(f"{dunning}/cases/{case_id}/evidence")).json()
        assert [
            (p["amount_fen"], p["promised_date"], p["signed"], p["staff_id"], p["status"])
            for p in evidence["promises"]
        ] == [(50_000, promised, True, "hk-3", "open")]

        # A tablet, from the URL alone.
        await page.set_viewport_size(TABLET)
        await page.goto(f"{app.url}/rooms/{unit_id}")
        await expect(promise_rows).to_have_count(1)
        overflow = await page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0
        await screenshot(page, "room-04-tablet")
        await assert_accessible(page, "room page (tablet)")

        # English.
        await page.set_viewport_size(DESKTOP)
        await to_english(page)
        await expect(page.locator("h1")).to_contain_text("Room")
        await expect(page.locator("[data-test=action-promise]")).to_have_text("Record a promise")
        await screenshot(page, "room-05-en")
        await assert_accessible(page, "room page (English)")
        assert not errors, errors
        await context.close()

        # A fee clerk may also propose an installment plan, and pauses the case for a complaint.
        context, page, errors = await sign_in(
            browser, app.url, f"/rooms/{unit_id}", "clerk-4", "收费员", community
        )
        await expect(page).to_have_url(f"{app.url}/rooms/{unit_id}")
        # A fee clerk sees the same aging: the community report's buckets for this unit.
        aging = (
            await http.get(
                f"{billing}/communities/{community}/reports/aging", params={"unit_id": unit_id}
            )
        ).json()["items"]
        assert sum(b["outstanding_fen"] for b in aging) == statement["principal_outstanding_fen"]
        for bucket in aging:
            await expect(page.locator(f'[data-test="aging-{bucket["bucket"]}"]')).to_have_text(
                f"¥{yuan(bucket['outstanding_fen'])}"
            )
        await page.locator("[data-test=action-pause]").click()
        await page.locator("[data-test=pause-note]").fill("业主投诉电梯故障")
        await page.locator("[data-test=pause-save]").click()
        await expect(page.locator("[data-test=pauses] tbody tr")).to_have_count(1)
        await expect(page.locator("[data-test=pauses]")).to_contain_text("业主投诉电梯故障")
        pauses = (await http.get(f"{dunning}/cases/{case_id}/pauses")).json()["items"]
        assert [(p["reason"], p["owner"], p["note"]) for p in pauses] == [
            ("service_complaint", "clerk-4", "业主投诉电梯故障")
        ]

        await expect(page.locator("[data-test=action-plan]")).to_be_enabled()
        await page.locator("[data-test=action-plan]").click()
        first_due = (date.today() + timedelta(days=30)).isoformat()
        await page.locator("[data-test=plan-first-due]").fill(first_due)
        await page.locator("[data-test=plan-reason]").fill("家庭困难,分期缴纳")
        await screenshot(page, "room-06-plan")
        await assert_accessible(page, "room page (plan)")
        await page.locator("[data-test=plan-save]").click()
        await expect(page.locator("[data-test=plan]")).to_have_count(1)
        plans = (await http.get(f"{billing}/units/{unit_id}/installment-plans")).json()["items"]
        assert [(len(p["parts"]), p["parts"][0]["due_date"], p["reason"]) for p in plans] == [
            (3, first_due, "家庭困难,分期缴纳")
        ]
        assert not errors, errors
        await context.close()

        # An auditor reads the audit trail (the promise is in it) and has no action.
        context, page, errors = await sign_in(
            browser, app.url, f"/rooms/{unit_id}", "audit-1", "审计", community
        )
        await expect(page.locator("[data-test=audit]")).to_contain_text("promise.recorded")
        await expect(page.locator("[data-test=action-promise]")).to_have_count(0)
        await expect(page.locator("[data-test=action-plan]")).to_have_count(0)
        await screenshot(page, "room-07-auditor")
        await assert_accessible(page, "room page (auditor)")
        assert not errors, errors
        await context.close()

    for proc in procs.values():
        assert proc.stop_gracefully(), proc.log_tail()


def yuan(fen: int) -> str:
    return f"{fen // 100:,}.{fen % 100:02d}"
