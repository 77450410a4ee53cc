"""The finance screen (财务) in a real browser against the real billing and payments processes.

A housekeeper asks on the room page for part of a household's late fee to be waived; a
finance user signs in, finds the request among the waivers to approve, approves it in the
browser, and billing's API then shows the invoice's late fee waived by that amount. The
reconciliation view of the day shows the figures payments' daily-close report gives for a
cash payment taken that day. Two refunds above the second-approval threshold wait in the
refunds queue (paged one at a time here, "load more" fetching the next with the API's cursor):
one asked by another finance person, approved in the browser (payments then shows it
approved by the signed-in person and refunded), one asked by the signed-in person, offered
no approve button (and refused by the API). A payment exception (Alipay paid another amount
than the order) is resolved as refunded in the browser, and payments lists it resolved. Every
state is checked with axe-core and photographed at 1280×800, on a tablet and once in English.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import Browser, expect

from propfee.auth import Role
from propfee.auth.dev import DevIssuer
from sandbox import alipay
from sandbox.keys import new_key, public_base64, write
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
WAIVED_FEN = 1000
#: Above payments' second-approval threshold (PAYMENTS_REFUND_SECOND_APPROVAL_OVER_FEN, 50,000).
REFUND_FEN = 60_000
OWN_REFUND_FEN = 55_000


async def test_finance_approves_a_waiver_and_reads_the_day(
    create_database,
    services,
    staff_auth,
    console,
    dev_issuer: DevIssuer,
    tmp_path,
    browser: Browser,  # type: ignore[no-untyped-def]
) -> None:
    dbs = {name: await create_database(name) for name in ("billing", "payments")}
    # Payments trusts the sandbox's Alipay key (a paid notification for an exception).
    alipay_key = new_key()
    gateway = {
        "payments": {
            "alipay_app_id": alipay.APP_ID,
            "alipay_company_id": "co-1",
            "alipay_seller_id": alipay.SELLER_ID,
            "alipay_public_key_file": write(tmp_path / "alipay.txt", public_base64(alipay_key)),
        }
    }
    procs = {name: services(name, dbs[name], **gateway.get(name, {})) for name in dbs}
    for proc in procs.values():
        proc.start(wait=False)
    for proc in procs.values():
        proc.wait_ready(timeout=180)
    billing, payments = procs["billing"].url, procs["payments"].url
    app = console({"billing": billing, "payments": payments})
    community = f"c-{uuid.uuid4().hex[:6]}"
    keeper = BearerAuth(
        staff_token(dev_issuer, [Role.housekeeper], communities=[community], subject="hk-wang")
    )

    async with httpx.AsyncClient(timeout=30, auth=staff_auth) as http:
        await setup_community(http, billing, community)
        r = await http.post(
            f"{billing}/communities/{community}/ledger-imports",
            content=LEDGER.encode(),
            params={"filename": "ledger.csv", "opening_as_of": "2025-01-01"},
        )
        assert r.status_code == 200, r.text
        (unit,) = (await http.get(f"{billing}/communities/{community}/units")).json()["items"]
        statement = (await http.get(f"{billing}/units/{unit['unit_id']}/statement")).json()
        with_fee = next(i for i in statement["invoices"] if i["late_fee_outstanding_fen"] > 0)
        assert with_fee["late_fee_outstanding_fen"] >= WAIVED_FEN
        invoice_id = with_fee["invoice_id"]
        before = (await http.get(f"{billing}/invoices/{invoice_id}")).json()

        # The housekeeper asks on the room page (propose a waiver, in the browser).
        asking = await browser.new_context(viewport=DESKTOP, locale="zh-CN")
        keeper_page = await asking.new_page()
        await dev_sign_in(
            keeper_page,
            app.url,
            role="管家",
            subject="hk-wang",
            communities=community,
            path=f"/rooms/{unit['unit_id']}",
        )
        await keeper_page.locator("[data-test=action-waiver]").click()
        # The oldest invoice with a late fee is offered first (the statement's order).
        await keeper_page.locator("[data-test=waiver-amount]").fill(yuan(WAIVED_FEN))
        await keeper_page.locator("[data-test=waiver-reason]").fill("业主生病住院,申请减免")
        await keeper_page.wait_for_timeout(600)  # the dialog's fade-in (axe reads its colours)
        await screenshot(keeper_page, "finance-00-room-waiver-request")
        await assert_accessible(keeper_page, "room page (waiver request)")
        await keeper_page.locator("[data-test=waiver-save]").click()
        await expect(keeper_page.get_by_text("已提交减免申请")).to_be_visible()
        await asking.close()
        r = await http.get(
            f"{billing}/communities/{community}/late-fee-waiver-requests",
            params={"status": "pending"},
            auth=keeper,
        )
        (asked,) = r.json()["items"]
        assert (asked["invoice_id"], asked["amount_fen"], asked["requested_by"]) == (
            invoice_id,
            WAIVED_FEN,
            "hk-wang",
        )
        request_id = asked["request_id"]

        # A cash payment today, for the reconciliation view.
        async def payments_knows_community() -> bool:
            r = await http.get(f"{payments}/reports/totals", params={"community_id": community})
            return r.status_code == 200

        await wait_until(payments_knows_community, timeout=60)
        r = await http.post(
            f"{payments}/payments/counter",
            headers={"Idempotency-Key": f"counter-{uuid.uuid4()}"},
            json={"community_id": community, "unit_id": unit["unit_id"],
                  "payer_party_id": unit["payer_party_id"], "amount_fen": 12345,
                  "channel": "cash"},
        )  # fmt: skip
        assert r.status_code == 201, r.text

        context = await browser.new_context(viewport=DESKTOP, locale="zh-CN")
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))

        # Finance signs in (development issuer) for this community.
        await dev_sign_in(
            page,
            app.url,
            role="财务",
            subject="fin-zhao",
            communities=community,
            path=f"/finance?tab=waivers&community={community}",
        )
        await expect(page.locator("[data-test=menu-finance]")).to_be_visible()

        # The waiver is among those to approve.
        approve = page.locator(f"[data-test=approve-waiver][data-id='{request_id}']")
        await expect(approve).to_be_visible()
        await expect(
            page.locator(f"[data-test=waiver-amount][data-id='{request_id}']")
        ).to_have_text(yuan(WAIVED_FEN))
        await expect(page.locator("[data-test=waiver-list]")).to_contain_text("hk-wang")
        await screenshot(page, "finance-01-waivers")
        await assert_accessible(page, "finance (waivers)")

        await approve.click()
        await expect(page.locator("[data-test=note]")).to_be_visible()
        await page.locator("[data-test=note]").fill("情况属实,同意")
        await page.wait_for_timeout(600)  # the dialog's fade-in (axe reads its colours)
        await screenshot(page, "finance-02-approve")
        await assert_accessible(page, "finance (approve dialog)")
        await page.locator("[data-test=confirm]").click()
        await expect(page.locator("[data-test=notice]")).to_be_visible()
        await expect(approve).to_have_count(0)

        # Billing: the invoice's late fee is waived by that amount, the decider its approver.
        after = (await http.get(f"{billing}/invoices/{invoice_id}")).json()
        assert after["late_fee_waived_fen"] - before["late_fee_waived_fen"] == WAIVED_FEN
        listed = (
            await http.get(
                f"{billing}/communities/{community}/late-fee-waiver-requests",
                params={"status": "approved"},
            )
        ).json()["items"]
        assert [(x["request_id"], x["decided_by"]) for x in listed] == [(request_id, "fin-zhao")]

        # (After the waiver: this payment settles the late fee.) Two refunds above the threshold on a larger cash payment: one asked by another
        # finance person (fin-qian), one by the person who signs in below (fin-zhao).
        def finance(subject: str) -> BearerAuth:
            return BearerAuth(
                staff_token(dev_issuer, [Role.finance], communities=[community], subject=subject)
            )

        r = await http.post(
            f"{payments}/payments/counter",
            headers={"Idempotency-Key": f"counter-{uuid.uuid4()}"},
            json={"community_id": community, "unit_id": unit["unit_id"],
                  "payer_party_id": unit["payer_party_id"], "amount_fen": 120_000,
                  "channel": "cash"},
        )  # fmt: skip
        assert r.status_code == 201, r.text
        paid = r.json()["payment_id"]
        refund_ids = []
        for subject, amount in (("fin-qian", REFUND_FEN), ("fin-zhao", OWN_REFUND_FEN)):
            r = await http.post(
                f"{payments}/payments/{paid}/refunds",
                json={"amount_fen": amount, "reason": "重复缴费,退还业主"},
                auth=finance(subject),
            )
            assert r.status_code == 201 and r.json()["status"] == "pending_approval", r.text
            refund_ids.append(r.json()["refund_id"])
        asked_refund, own_refund = refund_ids

        # Alipay paid 49.00 for an order of 50.00: an exception for finance to resolve.
        r = await http.post(
            f"{payments}/orders",
            json={"unit_id": unit["unit_id"], "channel": "alipay", "community_id": community,
                  "payer_party_id": unit["payer_party_id"], "amount_fen": 5000},
        )  # fmt: skip
        assert r.status_code == 201, r.text
        r = await http.post(
            f"{payments}/webhooks/alipay",
            content=alipay.signed_form(
                alipay.notification(r.json()["out_trade_no"], "49.00"), alipay_key
            ),
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        )
        assert r.text == "success"
        (held,) = (await http.get(f"{payments}/exceptions", params={"status": "open"})).json()[
            "items"
        ]
        assert held["community_id"] == community, held
        today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
        close = (await http.get(f"{payments}/reports/daily-close", params={"day": today})).json()
        line = next(
            x
            for x in close["by_community_and_channel"]
            if x["community_id"] == community and x["channel"] == "cash"
        )
        totals = (
            await http.get(f"{payments}/reports/totals", params={"community_id": community})
        ).json()

        # Reconciliation of the day: the figures the daily-close report gives.
        await page.locator("[data-test=tab-reconciliation]").click()
        await expect(page).to_have_url(
            f"{app.url}/finance?tab=reconciliation&day={today}&community={community}"
        )
        received = page.locator(f"[data-test=received-{community}-cash]")
        await expect(received).to_have_text(yuan(line["received_fen"]))
        await expect(page.locator(f"[data-test=net-{community}-cash]")).to_have_text(
            yuan(line["net_fen"])
        )
        await expect(page.locator("[data-test=totals-payments]")).to_have_text(
            f"¥{yuan(totals['payments']['amount_fen'])}"
        )
        await expect(page.locator("[data-test=totals-net]")).to_have_text(
            f"¥{yuan(totals['net_fen'])}"
        )
        await screenshot(page, "finance-03-reconciliation")
        await assert_accessible(page, "finance (reconciliation)")

        # Refunds waiting for a second approver, one per page (the size in the URL).
        await page.goto(f"{app.url}/finance?tab=refunds&day={today}&community={community}&size=1")
        approve_refund = page.locator(f"[data-test=approve-refund][data-id='{asked_refund}']")
        await expect(approve_refund).to_be_visible()
        await expect(page.locator("[data-test=refund-list] tbody tr")).to_have_count(1)
        await page.locator("[data-test=more-refunds]").click()
        await expect(page.locator("[data-test=refund-list] tbody tr")).to_have_count(2)
        await expect(page.locator("[data-test=more-refunds]")).to_have_count(0)
        # The signed-in person's own request: no approve button, the reason said instead.
        await expect(
            page.locator(f"[data-test=own-refund][data-id='{own_refund}']")
        ).to_contain_text("本人申请")
        await expect(
            page.locator(f"[data-test=approve-refund][data-id='{own_refund}']")
        ).to_have_count(0)
        await expect(page).to_have_url(
            f"{app.url}/finance?tab=refunds&day={today}&community={community}&size=1"
        )
        await screenshot(page, "finance-03b-refunds")
        await assert_accessible(page, "finance (refunds)")
        await approve_refund.click()
        await page.locator("[data-test=note]").fill("核实无误,同意退款")
        await page.wait_for_timeout(600)  # the dialog's fade-in (axe reads its colours)
        await screenshot(page, "finance-03c-approve-refund")
        await assert_accessible(page, "finance (approve refund dialog)")
        await page.locator("[data-test=confirm]").click()
        await expect(page.locator("[data-test=notice]")).to_contain_text(yuan(REFUND_FEN))
        await expect(approve_refund).to_have_count(0)
        # Payments: approved by the signed-in person and refunded (cash: at once); the own
        # request still waits, and the API refuses its requester too.
        refunds = {
            x["refund_id"]: x
            for x in (await http.get(f"{payments}/payments/{paid}/refunds")).json()["items"]
        }
        approved = refunds[asked_refund]
        assert (approved["status"], approved["decided_by"], approved["requested_by"]) == (
            "succeeded",
            "fin-zhao",
            "fin-qian",
        ), approved
        assert refunds[own_refund]["status"] == "pending_approval"
        r = await http.post(
            f"{payments}/refunds/{own_refund}/approval",
            json={"decision": "approve"},
            auth=finance("fin-zhao"),
        )
        assert r.status_code == 403 and r.json()["refused"] == "same_person", r.text

        # The payment exception, resolved in the browser as refunded to the payer.
        await page.locator("[data-test=tab-exceptions]").click()
        await expect(page).to_have_url(
            f"{app.url}/finance?tab=exceptions&day={today}&community={community}&size=1"
        )
        resolve = page.locator(f"[data-test=resolve-exception][data-id='{held['exception_id']}']")
        await expect(resolve).to_be_visible()
        await expect(page.locator("[data-test=exception-list]")).to_contain_text(
            held["transaction_id"]
        )
        await screenshot(page, "finance-03d-exceptions")
        await assert_accessible(page, "finance (exceptions)")
        await resolve.click()
        await page.locator("[data-test=resolution-refunded]").click()
        await page.locator("[data-test=note]").fill("金额不符,已原路退回业主")
        await page.wait_for_timeout(600)  # the dialog's fade-in (axe reads its colours)
        await screenshot(page, "finance-03e-resolve-exception")
        await assert_accessible(page, "finance (resolve exception dialog)")
        await page.locator("[data-test=confirm]").click()
        await expect(page.locator("[data-test=notice]")).to_contain_text(held["transaction_id"])
        await expect(resolve).to_have_count(0)
        resolved = (await http.get(f"{payments}/exceptions", params={"status": "resolved"})).json()[
            "items"
        ]
        assert [(x["exception_id"], x["resolution"], x["resolved_by"]) for x in resolved] == [
            (held["exception_id"], "refunded", "fin-zhao")
        ]

        # A tablet, from the URL alone.
        await page.set_viewport_size(TABLET)
        await page.goto(f"{app.url}/finance?tab=reconciliation&day={today}&community={community}")
        await expect(received).to_have_text(yuan(line["received_fen"]))
        overflow = await page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0
        await screenshot(page, "finance-04-reconciliation-tablet")
        await assert_accessible(page, "finance (reconciliation, tablet)")
        await page.goto(f"{app.url}/finance?tab=waivers&community={community}")
        await expect(page.locator("[data-test=waiver-list]")).to_be_visible()
        await screenshot(page, "finance-05-waivers-tablet")
        await assert_accessible(page, "finance (waivers, tablet)")
        await page.goto(f"{app.url}/finance?tab=refunds&community={community}&size=1")
        await expect(
            page.locator(f"[data-test=own-refund][data-id='{own_refund}']")
        ).to_be_visible()
        overflow = await page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0
        await screenshot(page, "finance-05b-refunds-tablet")
        await assert_accessible(page, "finance (refunds, tablet)")

        # English.
        await page.set_viewport_size(DESKTOP)
        await to_english(page)
        await expect(page.locator("h1")).to_have_text("Finance")
        await expect(page.locator("[data-test=tab-waivers]")).to_have_text("Late-fee waivers")
        await screenshot(page, "finance-06-en")
        await assert_accessible(page, "finance (English)")
        assert not errors, errors
        await context.close()


def yuan(fen: int) -> str:
    return f"{fen // 100:,}.{fen % 100:02d}"
