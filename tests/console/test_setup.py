"""The set-up screen (设置) in a real browser against the real billing, dunning and notifier.

A company admin signs in; uploads a ledger with one bad row and sees that row's error beside
its cells (nothing imported); uploads a good one and sees the count imported (billing's
listUnits agrees); publishes a fee schedule too soon and sees the 30 days' rule with the
earliest date billing names; drafts an SMS template, previews it (the dispatcher's rendering,
signed) and, as a second admin, approves it (notifier's listTemplates agrees); edits the
dunning policy (a refused value shown under its field, then a good one saved: dunning's
getPolicy agrees). axe-core on each state, desktop and tablet, and English.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import openpyxl
import pytest
from playwright.async_api import Browser, Page, expect

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

# Four processes and a browser on a shared machine: longer than the default 300 s when busy.
pytestmark = [pytest.mark.integration, pytest.mark.long, pytest.mark.timeout(600)]

HEADER = "楼栋,单元,房号,房屋类型,建筑面积,房屋状态,交房日期,业主姓名,业主电话,缴费责任人\n"
GOOD = [
    "1栋,1单元,101,住宅,143.00,已入住,2019-06-30,梁娟,15034773197,业主\n",
    "1栋,1单元,102,住宅,89.00,空置,2019-06-30,姚欣杰,17771750349,业主\n",
    "1栋,1单元,201,住宅,126.00,已入住,2019-06-30,侯勇涛,15019645277,业主\n",
]
BAD = "1栋,1单元,202,住宅,一百平,已入住,2019-06-30,段秀,13945373806,业主\n"
SMS = "{{ room }}欠{{ amount }}元{{ deadline }}前缴 {{ pay_link }} 询{{ contact }}示例物业"


async def sign_in(page: Page, url: str, subject: str) -> None:
    await dev_sign_in(page, url, role="公司管理员", subject=subject)


async def test_a_company_admin_sets_a_community_up(
    create_database,
    services,
    staff_auth,
    console,
    browser: Browser,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    names = ("billing", "dunning", "notifier")
    dbs = {name: await create_database(name) for name in names}
    procs = {name: services(name, dbs[name]) for name in names}
    for proc in procs.values():
        proc.start(wait=False)
    for proc in procs.values():
        proc.wait_ready(timeout=180)
    billing, dunning, notifier = (procs[n].url for n in names)
    app = console({"billing": billing, "dunning": dunning, "notifier": notifier})
    community = f"c-{uuid.uuid4().hex[:6]}"
    # The bad one as a workbook (XLSX: the cells come back from billing, not the browser).
    bad_file, good_file = tmp_path / "bad-ledger.xlsx", tmp_path / "ledger.csv"
    workbook = openpyxl.Workbook()
    for line in (HEADER, GOOD[0], BAD, GOOD[1]):
        workbook.active.append(line.strip().split(","))  # type: ignore[union-attr]
    workbook.save(bad_file)
    good_file.write_text(HEADER + "".join(GOOD), encoding="utf-8")

    async with httpx.AsyncClient(timeout=30, auth=staff_auth) as http:
        await setup_community(http, billing, community)

        async def known() -> bool:
            policy = await http.get(f"{dunning}/policies/{community}")
            return policy.status_code == 200

        await wait_until(known, timeout=90)

        context = await browser.new_context(viewport=DESKTOP, locale="zh-CN")
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await sign_in(page, app.url, "admin-1")
        await page.goto(f"{app.url}/setup?community={community}&tab=ledger")
        await expect(page.locator("h1")).to_have_text("设置")

        # A ledger with one bad row: nothing imported; the row's cells beside the reason.
        await page.locator("[data-test=ledger-file]").set_input_files(str(bad_file))
        await page.locator("[data-test=upload]").click()
        await expect(page.locator("[data-test=ledger-refused]")).to_contain_text("1 行有错误")
        bad_row = page.locator("[data-test=ledger-row-3]")
        await expect(bad_row).to_contain_text("一百平")
        await expect(bad_row).to_contain_text("202")
        await expect(bad_row).to_contain_text("段*")  # names masked, as billing gives them
        await expect(bad_row.locator("[data-test=reason]")).to_have_count(1)
        await expect(page.locator("[data-test^=ledger-row-]")).to_have_count(1)
        await screenshot(page, "setup-01-ledger-errors")
        await assert_accessible(page, "setup: ledger errors")
        units = (await http.get(f"{billing}/communities/{community}/units")).json()["items"]
        assert units == []

        # The fixed file: three units imported, as billing lists them.
        await page.locator("[data-test=ledger-file]").set_input_files(str(good_file))
        await page.locator("[data-test=upload]").click()
        await expect(page.locator("[data-test=units-created]")).to_have_text("3")
        await expect(page.locator("[data-test^=ledger-row-]")).to_have_count(0)
        units = (await http.get(f"{billing}/communities/{community}/units")).json()["items"]
        assert sorted(u["room"] for u in units) == ["101", "102", "201"]
        await screenshot(page, "setup-02-ledger-imported")

        # A schedule effective next week: refused, the 30 days' rule and the earliest day.
        await page.get_by_role("tab", name="收费标准").click()
        await expect(page).to_have_url(f"{app.url}/setup?community={community}&tab=schedules")
        await expect(page.locator("[data-test=schedules] tbody tr")).to_have_count(1)
        await expect(page.locator("[data-test=notice-rule]")).to_contain_text("30 天")
        history = (await http.get(f"{billing}/communities/{community}/fee-schedules")).json()
        soon = await page.evaluate(
            "() => new Date(Date.now() + 7 * 864e5).toISOString().slice(0, 10)"
        )
        await page.locator("[data-test=effective-from]").fill(soon)
        await page.locator("[data-test=approval-ref]").fill("业委会〔2026〕3号")
        await page.locator("[data-test=publish]").click()
        refused = page.locator("[data-test=schedule-refused]")
        await expect(refused).to_contain_text("less than 30 days")
        await expect(page.locator("[data-test=earliest]")).to_contain_text("最早可生效日")
        await screenshot(page, "setup-03-schedule-refused")
        await assert_accessible(page, "setup: schedule refused")
        after = (await http.get(f"{billing}/communities/{community}/fee-schedules")).json()
        assert after["items"] == history["items"]
        # The earliest day offered is accepted.
        await page.locator("[data-test=use-earliest]").click()
        await page.locator("[data-test=publish]").click()
        await expect(page.locator("[data-test=published]")).to_contain_text("第 2 版")
        await expect(page.locator("[data-test=schedules] tbody tr")).to_have_count(2)

        # A template: drafted, previewed as an SMS (signed, sample values), saved.
        await page.get_by_role("tab", name="通知模板").click()
        await page.locator("[data-test=body]").fill(SMS)
        await page.locator("[data-test=preview]").click()
        body = page.locator("[data-test=preview-body]")
        await expect(body).to_contain_text("【")
        await expect(body).to_contain_text("12栋3单元2801")
        await expect(page.locator("[data-test=preview-segments]")).to_be_visible()
        await page.locator("[data-test=save]").click()
        await expect(page.locator("[data-test=template-notice]")).to_contain_text("第 1 版")
        # The author may not approve it: the screen says a second person is needed.
        await expect(page.locator("[data-test=approve]")).to_have_count(0)
        await screenshot(page, "setup-04-template")
        await assert_accessible(page, "setup: templates")

        # A second company admin approves it.
        await page.locator("[data-test=sign-out]").click()
        await sign_in(page, app.url, "admin-2")
        await page.goto(f"{app.url}/setup?community={community}&tab=templates")
        await page.locator("[data-test=approve]").first.click()
        await expect(page.locator("[data-test=template-notice]")).to_contain_text("已审核通过")
        listed = (await http.get(f"{notifier}/templates", params={"company_id": "co-1"})).json()
        [version] = [v for v in listed["items"] if v["body"] == SMS]
        assert (version["status"], version["author"], version["approved_by"]) == (
            "approved",
            "admin-1",
            "admin-2",
        )

        # The dunning policy: a refused value under its field, then a good one saved.
        await page.get_by_role("tab", name="催缴策略").click()
        cap = page.locator("[data-test=policy-reminder_cap]")
        await cap.fill("999")
        await page.locator("[data-test=save-policy]").click()
        await expect(page.locator("[data-test=policy-refused]")).to_be_visible()
        await expect(
            page.locator("[data-test=field-reminder_cap] .el-form-item__error")
        ).to_be_visible()
        await screenshot(page, "setup-05-policy-refused")
        await assert_accessible(page, "setup: policy refused")
        await cap.fill("3")
        await page.locator("[data-test=policy-promise_grace_days]").fill("2")
        await page.locator("[data-test=save-policy]").click()
        await expect(page.locator("[data-test=policy-saved]")).to_be_visible()
        policy = (await http.get(f"{dunning}/policies/{community}")).json()
        assert (policy["reminder_cap"], policy["promise_grace_days"]) == (3, 2)

        # A tablet, from the URL alone; then English.
        await page.set_viewport_size(TABLET)
        await page.goto(f"{app.url}/setup?community={community}&tab=schedules")
        await expect(page.locator("[data-test=schedules] tbody tr")).to_have_count(2)
        overflow = await page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0
        await screenshot(page, "setup-06-tablet")
        await assert_accessible(page, "setup (tablet)")
        await page.set_viewport_size(DESKTOP)
        await to_english(page)
        await expect(page.locator("h1")).to_have_text("Set-up")
        await screenshot(page, "setup-07-en")
        await assert_accessible(page, "setup (English)")
        assert not errors, errors
        await context.close()
