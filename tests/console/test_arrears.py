"""The arrears list (欠费) in a real browser against the real billing and dunning processes.

Rooms in two buildings come from the old system's ledger with arrears of different ages
(billing's ledger import); dunning learns them over Kafka and opens a case per household; a
sweep as of now gives each its tier. A community manager signs in, filters by building, then
tier, then aging bucket; the URL holds the filters (a reload shows the same list), the totals
row is dunning's sum over everything filtered (checked against the list read from the API),
and the XLSX export holds exactly the filtered cases (opened with openpyxl). A selection lives
in the URL too; each room links to its room page. axe-core and screenshots at 1280×800, on a
tablet and in English.
"""

from __future__ import annotations

import io
import uuid
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

import httpx
import pytest
from openpyxl import load_workbook
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

pytestmark = pytest.mark.integration

HEADER = (
    "楼栋,单元,房号,房屋类型,建筑面积,房屋状态,交房日期,业主姓名,业主电话,缴费责任人,"
    "期初欠费金额,欠费起始月,期初违约金\n"
)
#: (building, room, arrears in yuan, months before this one the arrears start)
ROOMS = [
    ("3栋", "1201", "12000.00", 18),  # red: over a year, above the red amount
    ("3栋", "1202", "1200.00", 7),
    ("5栋", "0801", "1500.00", 15),  # over a year but a small amount: yellow
    ("5栋", "0802", "600.00", 3),
    ("5栋", "0803", "300.00", 1),
    ("5栋", "0804", "900.00", 8),
]


def _month(today: datetime, back: int) -> str:
    n = today.year * 12 + today.month - 1 - back
    return f"{n // 12:04d}-{n % 12 + 1:02d}"


def ledger(today: datetime) -> str:
    rows = [
        f"{b},1单元,{r},住宅,88.00,已入住,2019-06-30,业主{r},1381234{r},业主,{fen},"
        f"{_month(today, back)},0.00\n"
        for b, r, fen, back in ROOMS
    ]
    return HEADER + "".join(rows)


async def api_cases(http: httpx.AsyncClient, dunning: str, **params: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    query: dict[str, Any] = {**params, "status": "open", "limit": 1000}
    while True:
        r = await http.get(f"{dunning}/cases", params=query)
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        if not r.json()["next"]:
            return items
        query["cursor"] = r.json()["next"]


def yuan(fen: int) -> str:
    return f"{fen // 100:,}.{fen % 100:02d}"


def rooms_of(cases: list[dict[str, Any]]) -> list[str]:
    return sorted(c["room_label"] for c in cases)


async def pick(page: Page, select: str, option: str) -> None:
    await page.locator(f"[data-test={select}]").click()
    await page.get_by_role("option", name=option, exact=True).click()


async def shown_rooms(page: Page) -> list[str]:
    return sorted(await page.locator("[data-test=cases] [data-test=room-link]").all_inner_texts())


async def test_manager_filters_and_exports_the_arrears_list(
    create_database,
    services,
    staff_auth,
    console,
    browser: Browser,  # type: ignore[no-untyped-def]
) -> None:
    dbs = {name: await create_database(name) for name in ("billing", "dunning")}
    extra = {"dunning": {"sweep_interval_s": "0"}}
    procs = {name: services(name, dbs[name], **extra.get(name, {})) for name in dbs}
    for proc in procs.values():
        proc.start(wait=False)
    for proc in procs.values():
        proc.wait_ready(timeout=180)
    billing, dunning = procs["billing"].url, procs["dunning"].url
    app = console({"billing": billing, "dunning": dunning})
    community = f"c-{uuid.uuid4().hex[:6]}"
    today = datetime.now(ZoneInfo("Asia/Shanghai"))

    async with httpx.AsyncClient(timeout=30, auth=staff_auth) as http:
        await setup_community(http, billing, community)
        r = await http.post(
            f"{billing}/communities/{community}/ledger-imports",
            content=ledger(today).encode(),
            params={"filename": "ledger.csv", "opening_as_of": f"{_month(today, 0)}-01"},
        )
        assert r.status_code == 200, r.text
        units = (await http.get(f"{billing}/communities/{community}/units")).json()["items"]
        assert len(units) == len(ROOMS)
        building_ids = {u["unit_key"].split("/")[0]: u["building_id"] for u in units}

        # Dunning learns the invoices over Kafka and opens a case per household.
        async def every_case_open() -> bool:
            r = await http.get(f"{dunning}/cases", params={"community_id": community})
            return r.status_code == 200 and len(r.json()["items"]) == len(ROOMS)

        await wait_until(every_case_open, timeout=120)
        sweep = await http.post(f"{dunning}/sweeps", json={})  # as of now: the tiers
        assert sweep.status_code == 200, sweep.text
        every = await api_cases(http, dunning, community_id=community)
        assert all(c["tier"] for c in every), every
        b5 = building_ids["5栋"]
        in_b5 = await api_cases(http, dunning, community_id=community, building_id=b5)
        assert rooms_of(in_b5) == ["5栋1单元0801", "5栋1单元0802", "5栋1单元0803", "5栋1单元0804"]
        yellow_b5 = [c for c in in_b5 if c["tier"] == "yellow"]
        assert 0 < len(yellow_b5) < len(in_b5), in_b5
        assert yellow_b5 == await api_cases(
            http, dunning, community_id=community, building_id=b5, tier="yellow"
        )

        context = await browser.new_context(viewport=DESKTOP, locale="zh-CN", accept_downloads=True)
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))

        # A community manager of this community signs in (the development issuer).
        await dev_sign_in(
            page, app.url, role="项目经理", subject="mgr-1", communities=community, path="/arrears"
        )
        await expect(page.locator("[data-test=menu-arrears]")).to_be_visible()
        await expect(page).to_have_url(f"{app.url}/arrears?community={community}")
        rows = page.locator("[data-test=cases] tbody tr")
        await expect(rows).to_have_count(len(ROOMS))
        await expect(page.locator("[data-test=totals-outstanding]")).to_have_text(
            yuan(sum(c["outstanding_fen"] for c in every))
        )
        # Each room links to its room page.
        first = every[0]
        link = page.locator("[data-test=room-link]", has_text=first["room_label"])
        await expect(link).to_have_attribute("href", f"/rooms/{first['unit_id']}")
        await screenshot(page, "arrears-01-all")
        await assert_accessible(page, "arrears")

        # Building 5, then yellow: the URL holds both.
        await pick(page, "filter-building", "5栋")
        await expect(rows).to_have_count(len(in_b5))
        assert await shown_rooms(page) == rooms_of(in_b5)
        await pick(page, "filter-tier", "黄色")
        await expect(rows).to_have_count(len(yellow_b5))
        query = parse_qs(urlparse(page.url).query)
        assert (query["building"], query["tier"], query["community"]) == (
            [b5],
            ["yellow"],
            [community],
        )
        totals_fen = sum(c["outstanding_fen"] for c in yellow_b5)
        totals = page.locator("[data-test=totals-outstanding]")
        await expect(totals).to_have_text(yuan(totals_fen))
        await expect(page.locator("[data-test=totals-cases]")).to_contain_text(
            f"{len(yellow_b5)} 个案件"
        )
        # A selection lives in the URL as well.
        await rows.first.locator("[data-test=select]").click()
        await expect(page.locator("[data-test=selected-count]")).to_have_text("已选 1 户")
        selected_url = page.url
        assert "selected=" in selected_url

        # A reload (or the link shared) shows the same list, totals and selection.
        await page.reload()
        await expect(rows).to_have_count(len(yellow_b5))
        assert await shown_rooms(page) == rooms_of(yellow_b5)
        await expect(totals).to_have_text(yuan(totals_fen))
        await expect(page.locator("[data-test=selected-count]")).to_have_text("已选 1 户")
        await expect(rows.first.locator("[data-test=select] input")).to_be_checked()
        await screenshot(page, "arrears-02-filtered")
        await assert_accessible(page, "arrears (filtered)")

        # The export: exactly the filtered cases, and none of the others.
        async with page.expect_download() as download_info:
            await page.locator("[data-test=export]").click()
        download = await download_info.value
        assert download.suggested_filename.startswith("arrears-")
        assert download.suggested_filename.endswith(".xlsx")
        xlsx = (await download.path()).read_bytes()
        sheet = load_workbook(io.BytesIO(xlsx), read_only=True).active
        assert sheet is not None
        header, *data = list(sheet.iter_rows(values_only=True))
        column = {name: i for i, name in enumerate(header)}
        assert sorted(row[column["case_id"]] for row in data) == sorted(
            c["case_id"] for c in yellow_b5
        )
        assert sorted(row[column["room_label"]] for row in data) == rooms_of(yellow_b5)
        assert sum(row[column["outstanding_fen"]] for row in data) == totals_fen
        others = {c["case_id"] for c in every} - {c["case_id"] for c in yellow_b5}
        assert others and not others & {row[column["case_id"]] for row in data}

        # Aging instead of tier: the bucket is dunning's (billing's buckets).
        await page.locator("[data-test=filter-tier] .el-select__wrapper").hover()
        await page.locator("[data-test=filter-tier] .el-select__clear").click()
        await expect(rows).to_have_count(len(in_b5))
        bucket = next(c["aging_bucket"] for c in in_b5 if c["room_label"].endswith("0804"))
        labels = {"0-30": "30 天内", "31-90": "31–90 天", "91-180": "91–180 天",
                  "181-365": "181–365 天", "365+": "一年以上"}  # fmt: skip
        await pick(page, "filter-aging", labels[bucket])
        aged = [c for c in in_b5 if c["aging_bucket"] == bucket]
        await expect(rows).to_have_count(len(aged))
        assert await shown_rooms(page) == rooms_of(aged)
        assert parse_qs(urlparse(page.url).query)["aging"] == [bucket]
        await expect(totals).to_have_text(yuan(sum(c["outstanding_fen"] for c in aged)))
        r = await http.get(
            f"{dunning}/cases/totals",
            params={
                "community_id": community,
                "building_id": b5,
                "aging": bucket,
                "status": "open",
            },
        )
        assert r.json()["outstanding_fen"] == sum(c["outstanding_fen"] for c in aged)

        # A tablet, from the URL alone: no horizontal overflow.
        await page.set_viewport_size(TABLET)
        await page.goto(selected_url)
        await expect(rows).to_have_count(len(yellow_b5))
        overflow = await page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0
        await screenshot(page, "arrears-03-tablet")
        await assert_accessible(page, "arrears (tablet)")

        # English.
        await page.set_viewport_size(DESKTOP)
        await to_english(page)
        await expect(page.locator("h1")).to_have_text("Arrears")
        await expect(page.locator("[data-test=selected-count]")).to_have_text("1 selected")
        await screenshot(page, "arrears-04-en")
        await assert_accessible(page, "arrears (English)")
        assert not errors, errors
        await context.close()

        # A housekeeper: the cases assigned to them ("mine"), the assignee in the URL.
        mine = yellow_b5[0]
        r = await http.post(
            f"{dunning}/cases/{mine['case_id']}/assignment", json={"staff_id": "hk-1"}
        )
        assert r.status_code in (200, 201), r.text
        context = await browser.new_context(viewport=TABLET, locale="zh-CN")
        page = await context.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        await dev_sign_in(
            page, app.url, role="管家", subject="hk-1", communities=community, path="/arrears"
        )
        await page.locator("[data-test=mine]").click()
        rows = page.locator("[data-test=cases] tbody tr")
        await expect(rows).to_have_count(1)
        assert parse_qs(urlparse(page.url).query)["assignee"] == ["hk-1"]
        assert await shown_rooms(page) == [mine["room_label"]]
        await expect(page.locator("[data-test=totals-outstanding]")).to_have_text(
            yuan(mine["outstanding_fen"])
        )
        await screenshot(page, "arrears-05-housekeeper-tablet")
        await assert_accessible(page, "arrears (housekeeper)")
        assert not errors, errors
        await context.close()
