"""The cashier (收银台) in a real browser against the real billing and payments processes.

A fee clerk signs in (the development sign-in), types a room, finds its open invoices with
the oldest pre-selected and its late fee shown, takes cash with change, double-clicks the
submit button (one payment: an Idempotency-Key per payment), and downloads the receipt as an
80 mm ticket. Then the next invoice is paid with the owner's payment code (付款码), typed by
the scanner gun (digits + Enter), against payments' fake WeChat Pay over real HTTP (the
sandbox's gateway, as payments' own adapter test uses it): a payer who does not confirm in
time and a refused code are explained and record nothing, the third scan records one payment.
The unit's static QR code is drawn as an image of its link. Every payment is read back
through the services' APIs. Every screen is checked with axe-core and photographed at
1280×800 and on a tablet.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
import urllib.parse
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import Browser, expect
from pypdf import PdfReader

from sandbox.keys import new_key
from sandbox.server import ThreadServer
from sandbox.wechatpay import FakeWechatPay, WechatSide
from tests.support.billing_api import setup_community
from tests.support.console import (
    DESKTOP,
    ROOT,
    TABLET,
    assert_accessible,
    dev_sign_in,
    screenshot,
    to_english,
)
from tests.support.fixtures import wait_until

# WeChat Pay's side (signing, keys) is payments' test kit; it lives with payments' tests.
sys.path.insert(0, str(ROOT / "services" / "payments" / "tests"))
from payments_testkit.service import merchant_key_env, wechat_env

pytestmark = pytest.mark.integration

LEDGER = (
    "楼栋,单元,房号,房屋类型,建筑面积,房屋状态,交房日期,业主姓名,业主电话,缴费责任人,"
    "期初欠费金额,欠费起始月,期初违约金\n"
    "3栋,2单元,1201,住宅,98.50,已入住,2019-06-30,张三,13812345678,业主,1200.00,2024-10,50.00\n"
)


async def test_fee_clerk_takes_cash_at_the_cashier(
    create_database,
    services,
    staff_auth,
    console,
    tmp_path: Path,
    browser: Browser,  # type: ignore[no-untyped-def]
) -> None:
    # payments talks to a fake WeChat Pay over real HTTP (requests signed and checked, answers
    # signed), scripted per payment code; its queries come quickly and give up after three.
    side, merchant = WechatSide(), new_key()
    fake = FakeWechatPay(side, merchant.public_key())
    gateway = ThreadServer(fake.app).start()
    wechat = {
        **wechat_env(side, tmp_path),
        **merchant_key_env(merchant, tmp_path),
        "wechatpay_api_base_url": gateway.url,
        "codepay_query_interval_s": "0.05",
        "codepay_query_attempts": "3",
    }
    try:
        await _the_cashier_day(
            create_database, services, staff_auth, console, browser, fake, wechat
        )
    finally:
        gateway.stop()


async def _the_cashier_day(  # type: ignore[no-untyped-def]
    create_database,
    services,
    staff_auth,
    console,
    browser: Browser,
    fake: FakeWechatPay,
    wechat: dict[str, str],
) -> None:
    dbs = {name: await create_database(name) for name in ("billing", "payments")}
    procs = {
        name: services(name, dbs[name], **(wechat if name == "payments" else {})) for name in dbs
    }
    for proc in procs.values():
        proc.start(wait=False)
    for proc in procs.values():
        proc.wait_ready(timeout=120)
    billing, payments = procs["billing"].url, procs["payments"].url
    app = console({"billing": billing, "payments": payments})
    community = f"c-{uuid.uuid4().hex[:6]}"

    async with httpx.AsyncClient(timeout=30, auth=staff_auth) as http:
        await setup_community(http, billing, community)
        # Room 1201 comes from the old system with three months unpaid and its late fee.
        r = await http.post(
            f"{billing}/communities/{community}/ledger-imports",
            content=LEDGER.encode(),
            params={"filename": "ledger.csv", "opening_as_of": "2025-01-01"},
        )
        assert r.status_code == 200, r.text
        (unit,) = (await http.get(f"{billing}/communities/{community}/units")).json()["items"]
        unit_id, payer, unit_key = unit["unit_id"], unit["payer_party_id"], unit["unit_key"]
        statement = (await http.get(f"{billing}/units/{unit_id}/statement")).json()
        open_invoices = sorted(
            (i for i in statement["invoices"] if i["status"] in ("issued", "partially_paid")),
            key=lambda i: (i["due_date"], i["period_start"]),
        )
        assert len(open_invoices) == 4
        oldest = open_invoices[0]
        assert oldest["late_fee_outstanding_fen"] > 0
        # Paid today, the late fee stops today: the counter collects what is payable today.
        assert 0 < oldest["late_fee_payable_fen"] < oldest["late_fee_outstanding_fen"]
        due = oldest["principal_outstanding_fen"] + oldest["late_fee_payable_fen"]

        async def payments_knows_community() -> bool:
            r = await http.get(f"{payments}/reports/totals", params={"community_id": community})
            return r.status_code == 200

        await wait_until(payments_knows_community, timeout=60)

        context = await browser.new_context(viewport=DESKTOP, locale="zh-CN", accept_downloads=True)
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))

        # Sign in (development issuer) as a fee clerk of this community.
        await page.goto(f"{app.url}/cashier")
        await expect(page.locator("[data-test=sign-in]")).to_be_visible()
        await screenshot(page, "01-sign-in")
        await assert_accessible(page, "sign-in")
        await page.locator("[data-test=subject]").fill("clerk-7")
        await page.locator("[data-test=communities]").fill(community)
        await page.locator("[data-test=sign-in]").click()
        await expect(page).to_have_url(f"{app.url}/cashier?community={community}")
        await expect(page.locator("[data-test=menu-cashier]")).to_be_visible()

        # Keyboard first: the room field has the focus; Enter finds the room.
        await expect(page.locator("[data-test=room]")).to_be_focused()
        await page.keyboard.type("1201")
        await page.keyboard.press("Enter")
        rows = page.locator("[data-test=invoices] tbody tr")
        await expect(rows).to_have_count(4)
        await expect(page).to_have_url(
            f"{app.url}/cashier?community={community}&room=1201&unit={unit_id}"
        )
        # The oldest invoice is pre-selected, with its late fee and how it accrues.
        await expect(page.locator("[data-test=selected-total]")).to_have_text(f"¥{yuan(due)}")
        await expect(page.locator("[data-test=late-fee]").first).to_have_text(
            yuan(oldest["late_fee_payable_fen"])
        )
        await expect(rows.first).to_contain_text("起按日")
        # Cash: the received field has the focus; change is computed as it is typed.
        await expect(page.locator("[data-test=received]")).to_be_focused()
        received = (due // 10000 + 1) * 10000
        await page.keyboard.type(str(received // 100))
        await expect(page.locator("[data-test=change]")).to_have_text(f"¥{yuan(received - due)}")
        await screenshot(page, "02-cashier")
        await assert_accessible(page, "cashier")

        # A double click records one payment.
        await page.locator("[data-test=submit]").dblclick()
        await expect(page.locator("[data-test=paid]")).to_be_visible()
        payment_id = (await page.locator("[data-test=payment-id]").inner_text()).strip()
        receipt_no = (await page.locator("[data-test=receipt-no]").inner_text()).strip()

        r = await http.get(f"{payments}/payments/{payment_id}")
        assert r.status_code == 200, r.text
        payment: dict[str, Any] = r.json()
        assert (payment["amount_fen"], payment["channel"], payment["invoice_ids"]) == (
            due,
            "cash",
            [oldest["invoice_id"]],
        )
        assert (payment["unit_id"], payment["payer_party_id"]) == (unit_id, payer)
        assert payment["receipt_no"] == receipt_no

        # The receipt as the counter's thermal printer takes it: an 80 mm ticket (billing
        # renders it once it has learnt the payment), the choice remembered on this computer.
        await expect(page.locator("[data-test=receipt]")).to_be_focused()
        await page.locator("[data-test=layout-ticket80]").click()
        async with page.expect_download() as download_info:
            await page.locator("[data-test=receipt]").click()
        download = await download_info.value
        pdf = (await download.path()).read_bytes()
        assert pdf.startswith(b"%PDF")
        reader = PdfReader(io.BytesIO(pdf))
        assert round(float(reader.pages[0].mediabox.width) / 72 * 25.4) == 80
        text = "".join(p.extract_text() for p in reader.pages)
        assert "1201" in text and yuan(due) in text
        stored = "localStorage.getItem('propfee.cashier.receiptLayout')"
        assert await page.evaluate(stored) == "ticket80"
        await screenshot(page, "03-cashier-paid")
        await assert_accessible(page, "cashier (paid)")

        # One payment, allocated to the oldest invoice (billing's statement).
        async def settled() -> bool:
            s = (await http.get(f"{billing}/units/{unit_id}/statement")).json()
            paid = next(i for i in s["invoices"] if i["invoice_id"] == oldest["invoice_id"])
            return bool(paid["status"] == "paid")

        await wait_until(settled, timeout=60)
        s = (await http.get(f"{billing}/units/{unit_id}/statement")).json()
        assert [p["payment_id"] for p in s["payments"]] == [payment_id]
        # Exactly what it owed: no fen of it went to another invoice or to credit.
        paid = next(i for i in s["invoices"] if i["invoice_id"] == oldest["invoice_id"])
        assert paid["late_fee_outstanding_fen"] == paid["principal_outstanding_fen"] == 0
        others = {i["invoice_id"]: i for i in statement["invoices"]}
        for i in s["invoices"]:
            if i["invoice_id"] != oldest["invoice_id"]:
                assert i["principal_paid_fen"] == others[i["invoice_id"]]["principal_paid_fen"]
        assert s["credit_fen"] == 0

        # The owner asks for an e-invoice of this payment (billing's request, recorded).
        await page.locator("[data-test=einvoice-title]").fill("张三")
        await page.locator("[data-test=einvoice-email]").fill("owner@example.cn")
        await page.locator("[data-test=einvoice-submit]").click()
        done = page.locator("[data-test=einvoice-done]")
        await expect(done).to_be_visible()
        match = re.search(r"[((]([^()()]+)[))]", await done.inner_text())
        assert match, await done.inner_text()
        r = await http.get(f"{billing}/e-invoice-requests/{match.group(1)}")
        assert r.status_code == 200, r.text
        assert (r.json()["payment_id"], r.json()["title"]) == (payment_id, "张三")

        # 日清日结: the clerk's day holds this payment, as payments counts it.
        await page.locator("[data-test=day-toggle]").click()
        await expect(page.locator("[data-test=day-total]")).to_have_text(f"¥{yuan(due)}")
        today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
        r = await http.get(
            f"{payments}/reports/cashier-day", params={"day": today, "cashier": "clerk-7"}
        )
        assert r.status_code == 200, r.text
        assert [p["payment_id"] for p in r.json()["payments"]] == [payment_id]
        assert r.json()["total_received_fen"] == due
        await screenshot(page, "03b-cashier-einvoice-and-day")
        await assert_accessible(page, "cashier (e-invoice and daily close)")

        # Esc: the next payment; the room field has the focus again.
        await page.keyboard.press("Escape")
        await expect(page.locator("[data-test=room]")).to_be_focused()

        # 付款码: the next invoice, paid with the owner's WeChat Pay code. Alt+4 puts the focus
        # in the code's field, where the scanner gun types the digits and Enter.
        await page.keyboard.type("1201")
        await page.keyboard.press("Enter")
        await expect(rows).to_have_count(3)
        now = (await http.get(f"{billing}/units/{unit_id}/statement")).json()
        second = next(
            i for i in now["invoices"] if i["invoice_id"] == open_invoices[1]["invoice_id"]
        )
        due2 = second["principal_outstanding_fen"] + second["late_fee_payable_fen"]
        await expect(page.locator("[data-test=selected-total]")).to_have_text(f"¥{yuan(due2)}")
        await page.keyboard.press("Alt+4")
        code_field = page.locator("[data-test=auth-code]")
        await expect(code_field).to_be_focused()
        error = page.locator("[data-test=error]")
        # The owner does not enter the password in time: payments queries, then reverses.
        fake.codepay_script["134567890123450001"] = ["USERPAYING"] * 6
        await page.keyboard.type("134567890123450001")
        await page.keyboard.press("Enter")
        await expect(error).to_contain_text("已撤销")
        await expect(error).to_contain_text("未扣款")
        assert len(fake.reversed) == 1
        # The field is emptied and focused for the owner's refreshed code, which is refused.
        await expect(code_field).to_have_value("")
        await expect(code_field).to_be_focused()
        fake.codepay_script["134567890123450002"] = ["USERPAYING", "PAYERROR"]
        await page.keyboard.type("134567890123450002")
        await page.keyboard.press("Enter")
        await expect(error).to_contain_text("PAYERROR")
        await expect(error).to_contain_text("未扣款")
        await expect(page.locator("[data-test=paid]")).to_have_count(0)
        await screenshot(page, "03c-cashier-code-refused")
        await assert_accessible(page, "cashier (payment code refused)")
        # Nothing was recorded for either.
        s = (await http.get(f"{billing}/units/{unit_id}/statement")).json()
        assert [p["payment_id"] for p in s["payments"]] == [payment_id]
        # The third code: the owner confirms; Enter twice records one payment.
        fake.codepay_script["134567890123450003"] = ["USERPAYING", "SUCCESS"]
        await page.keyboard.type("134567890123450003")
        await page.keyboard.press("Enter")
        await page.keyboard.press("Enter")
        await expect(page.locator("[data-test=paid]")).to_be_visible()
        await expect(error).to_have_count(0)
        # The layout chosen for the first payment is still chosen.
        await expect(page.locator("[data-test=layout-ticket80] input")).to_be_checked()
        scanned = (await page.locator("[data-test=payment-id]").inner_text()).strip()
        r = await http.get(f"{payments}/payments/{scanned}")
        assert r.status_code == 200, r.text
        assert (r.json()["amount_fen"], r.json()["channel"], r.json()["invoice_ids"]) == (
            due2,
            "wechat_pay",
            [second["invoice_id"]],
        )

        async def second_settled() -> bool:
            s = (await http.get(f"{billing}/units/{unit_id}/statement")).json()
            paid = next(i for i in s["invoices"] if i["invoice_id"] == second["invoice_id"])
            return bool(paid["status"] == "paid")

        await wait_until(second_settled, timeout=60)
        s = (await http.get(f"{billing}/units/{unit_id}/statement")).json()
        assert sorted(p["payment_id"] for p in s["payments"]) == sorted([payment_id, scanned])
        assert s["credit_fen"] == 0
        await screenshot(page, "03d-cashier-code-paid")
        await page.keyboard.press("Escape")

        # A tablet, from the URL alone (the selection lives in it): two invoices are left.
        await page.set_viewport_size(TABLET)
        await page.goto(f"{app.url}/cashier?community={community}&room=1201&unit={unit_id}")
        await expect(rows).to_have_count(2)
        overflow = await page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0
        # Alt+3: POS (no cash, no change); Alt+1: cash again.
        await page.keyboard.press("Alt+3")
        await expect(page.locator("[data-test=method-pos] input")).to_be_checked()
        await expect(page.locator("[data-test=received]")).to_have_count(0)
        # Alt+5: the unit's static QR code (the owner pays by phone; nothing recorded here),
        # drawn as the image of its link (node-qrcode's SVG of the link, as node draws it),
        # the link printed beside it.
        await page.keyboard.press("Alt+5")
        link = page.locator("[data-test=qr-url]")
        await expect(link).to_contain_text("/qr/")
        await expect(page.locator("[data-test=submit]")).to_be_disabled()
        image = page.locator("[data-test=qr-image]")
        await expect(image).to_have_attribute("alt", f"{unit_key} 的缴费二维码")
        url = (await link.inner_text()).strip()
        r = await http.get(f"{payments}/units/{unit_id}/qr")
        assert r.json()["url"] == url
        src = await image.get_attribute("src") or ""
        prefix = "data:image/svg+xml;charset=utf-8,"
        assert src.startswith(prefix)
        assert urllib.parse.unquote(src[len(prefix) :]) == qr_svg(url)
        overflow = await page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0  # the long link wraps on the tablet
        await screenshot(page, "04a-cashier-qr")
        await assert_accessible(page, "cashier (static QR)")
        # Printed alone: the page's print style hides everything but the sheet.
        await page.evaluate(
            "window.print = () => { window.printed = document.body.dataset.cashierPrint }"
        )
        await page.locator("[data-test=qr-print]").click()
        assert await page.evaluate("window.printed") == "qr"
        await page.emulate_media(media="print")
        await expect(image).to_be_visible()
        await expect(link).to_be_visible()
        await expect(page.locator("[data-test=submit]")).to_be_hidden()
        await screenshot(page, "04b-cashier-qr-print")
        await page.emulate_media(media="screen")
        await page.evaluate("window.dispatchEvent(new Event('afterprint'))")
        await expect(page.locator("[data-test=submit]")).to_be_visible()
        await page.keyboard.press("Alt+1")
        await expect(page.locator("[data-test=received]")).to_be_visible()
        # axe reads the chosen method's colours after their transition, not mid-way.
        await page.wait_for_timeout(600)
        await screenshot(page, "04-cashier-tablet")
        await assert_accessible(page, "cashier (tablet)")

        # English.
        await to_english(page)
        await expect(page.locator("h1")).to_have_text("Cashier")
        await screenshot(page, "05-cashier-en")
        assert not errors, errors
        await context.close()


async def test_the_menu_shows_only_what_the_role_may_do(
    console,
    browser: Browser,  # type: ignore[no-untyped-def]
) -> None:
    """A housekeeper takes no money: no cashier in the menu, and its URL leads elsewhere."""
    app = console({})
    context = await browser.new_context(viewport=DESKTOP, locale="zh-CN")
    page = await context.new_page()
    await dev_sign_in(page, app.url, role="管家", path="/cashier")
    await expect(page.locator("[data-test=menu-cashier]")).to_have_count(0)
    # Home, which leads to the first screen the role may use (if any), never the cashier.
    await page.wait_for_url(lambda url: "/sign-in" not in url)
    await page.wait_for_load_state("networkidle")
    assert "/cashier" not in page.url, page.url
    await screenshot(page, "06-home-housekeeper")
    await assert_accessible(page, "home")
    await context.close()


def yuan(fen: int) -> str:
    return f"{fen // 100:,}.{fen % 100:02d}"


def qr_svg(text: str) -> str:
    """node-qrcode's SVG of ``text`` with the cashier screen's options, drawn by node."""
    script = (
        "import QRCode from 'qrcode';"
        "process.stdout.write(await QRCode.toString(process.argv[1],"
        " {type: 'svg', errorCorrectionLevel: 'M', margin: 4}));"
    )
    done = subprocess.run(
        ["node", "--input-type=module", "-e", script, text],
        cwd=ROOT / "web" / "console",
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout
