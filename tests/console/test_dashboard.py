"""The dashboard (报表) in a real browser against the real billing, payments and dunning.

A community comes in through the APIs (a ledger import of three rooms with opening arrears, a
billing run for this month); dunning opens the two indebted rooms' cases from billing's events
and a sweep chases both (escalations); then two counter payments: room 501 pays this month's
invoice, room 1202 everything it owes, so its case closes paid after the chase (dunning's
success rate: one of two). A community manager signs in; the dashboard shows, for the month, exactly the figures
billing's collection, on-time, aging and recovery reports and dunning's KPI report give; the
charts are drawn (SVG with marks, labelled for assistive technology, a table beside each);
the dunning-success chart's bars are the KPI report's rates (measured on the SVG) and its table
the KPI JSON; a report's XLSX is downloaded and its figures are the JSON report's. Period and
grouping (the aging report's by building too) live in the URL. axe-core and screenshots at 1280×800, on a tablet and in English.
"""

from __future__ import annotations

import io
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from openpyxl import load_workbook
from playwright.async_api import Browser, Locator, Page, expect

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
SHANGHAI = ZoneInfo("Asia/Shanghai")

LEDGER = (
    "楼栋,单元,房号,房屋类型,建筑面积,房屋状态,交房日期,业主姓名,业主电话,缴费责任人,"
    "期初欠费金额,欠费起始月,期初违约金\n"
    "3栋,2单元,1201,住宅,98.50,已入住,2019-06-30,张三,13812345678,业主,1200.00,2024-10,50.00\n"
    "3栋,2单元,1202,住宅,120.00,已入住,2019-06-30,李四,13812345679,业主,900.00,2024-11,0\n"
    "5栋,1单元,501,住宅,88.00,已入住,2019-06-30,王五,13812345670,业主,0,,0\n"
)


def yuan(fen: int) -> str:
    return f"{fen // 100:,}.{fen % 100:02d}"


def pct(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


async def texts(locator: Locator) -> list[str]:
    return [t.strip() for t in await locator.all_inner_texts()]


async def test_community_manager_reads_the_dashboard(
    create_database,
    services,
    staff_auth,
    dev_issuer,
    console,
    browser: Browser,  # type: ignore[no-untyped-def]
) -> None:
    names = ("billing", "payments", "dunning")
    dbs = {name: await create_database(name) for name in names}
    extra = {"dunning": {"sweep_interval_s": "0"}}  # the test sweeps, once
    procs = {name: services(name, dbs[name], **extra.get(name, {})) for name in names}
    for proc in procs.values():
        proc.start(wait=False)
    for proc in procs.values():
        proc.wait_ready(timeout=180)
    billing, payments, dunning = (procs[n].url for n in names)
    app = console({"billing": billing, "payments": payments, "dunning": dunning})
    community = f"c-{uuid.uuid4().hex[:6]}"
    today = date.today()
    month = f"{today:%Y-%m}"
    first = today.replace(day=1)

    async with httpx.AsyncClient(timeout=60, auth=staff_auth) as http:
        await setup_community(http, billing, community)
        r = await http.post(
            f"{billing}/communities/{community}/ledger-imports",
            content=LEDGER.encode(),
            params={"filename": "ledger.csv", "opening_as_of": "2025-01-01"},
        )
        assert r.status_code == 200, r.text
        r = await http.post(
            f"{billing}/communities/{community}/billing-runs", json={"period_start": str(first)}
        )
        assert r.status_code in (200, 201), r.text
        units = {
            u["room"]: u
            for u in (await http.get(f"{billing}/communities/{community}/units")).json()["items"]
        }

        async def open_invoices(room: str) -> list[dict[str, Any]]:
            s = (await http.get(f"{billing}/units/{units[room]['unit_id']}/statement")).json()
            return [i for i in s["invoices"] if i["status"] in ("issued", "partially_paid")]

        # Dunning opens the cases of the two rooms in arrears from billing's events; a sweep
        # (the service role's, as of the last 10:00 in the community: outside the quiet hours,
        # before the payments) chases both.
        async def cases_opened() -> bool:
            for room in ("1201", "1202"):
                r = await http.get(f"{dunning}/cases", params={"unit_id": units[room]["unit_id"]})
                if r.status_code != 200 or [c["status"] for c in r.json()["items"]] != ["open"]:
                    return False
            return True

        await wait_until(cases_opened, timeout=90)
        cron = BearerAuth(staff_token(dev_issuer, [Role.service], company_id="*", subject="cron"))
        now = datetime.now(SHANGHAI)
        morning = now.replace(hour=10, minute=0, second=0, microsecond=0)
        if morning > now:
            morning -= timedelta(days=1)
        # Within the month the dashboard shows (its first day starts at 00:00 UTC, 08:00 in
        # the community, the end of the default quiet hours): on a month's first morning
        # (08:30 there, or now when that is still to come: never a sweep in the future).
        month_start = datetime(first.year, first.month, first.day, tzinfo=UTC)
        if morning < month_start:
            morning = min(month_start + timedelta(minutes=30), now.replace(microsecond=0))
        r = await http.post(f"{dunning}/sweeps", json={"as_of": morning.isoformat()}, auth=cron)
        assert r.status_code == 200, r.text
        assert r.json()["escalated"] == 2, r.text

        async def payments_knows_community() -> bool:
            r = await http.get(f"{payments}/reports/totals", params={"community_id": community})
            return r.status_code == 200

        await wait_until(payments_knows_community, timeout=90)

        async def pay(room: str, invoices: list[dict[str, Any]]) -> None:
            # What a payment today settles (the cashier's amount): nothing left over to flow
            # on to another invoice after the figures are read.
            fen = sum(i["principal_outstanding_fen"] + i["late_fee_payable_fen"] for i in invoices)
            key = f"dash-{uuid.uuid4().hex}"
            answers: list[httpx.Response] = []

            async def recorded() -> bool:
                # 404 until payments has learnt the invoice from billing's event (nothing is
                # recorded then, so the same key is sent again).
                r = await http.post(
                    f"{payments}/payments/counter",
                    headers={"Idempotency-Key": key},
                    json={
                        "community_id": community,
                        "unit_id": units[room]["unit_id"],
                        "payer_party_id": units[room]["payer_party_id"],
                        "invoice_ids": [i["invoice_id"] for i in invoices],
                        "amount_fen": fen,
                        "channel": "cash",
                    },
                )
                answers.append(r)
                return r.status_code != 404

            await wait_until(recorded, timeout=60)
            assert answers[-1].status_code == 201, answers[-1].text

        # Room 501 pays this month's invoice (on time); room 1202 pays everything it owes
        # (its old debt among it): its case closes paid, after the chase.
        (current,) = [i for i in await open_invoices("501") if i["period_start"] == str(first)]
        await pay("501", [current])
        await pay("1202", await open_invoices("1202"))

        period = {"start": str(first), "end": _month_end(first), "by": "month"}

        async def billing_has_both() -> bool:
            r = await http.get(f"{billing}/communities/{community}/reports/recovery")
            rows = await _page(
                http, f"{billing}/communities/{community}/reports/collection", period
            )
            return r.json()["recovered_fen"] > 0 and any(x["collected_fen"] > 0 for x in rows)

        await wait_until(billing_has_both, timeout=90)
        dunning_period = {"start": str(first), "end": _next_month(first), "by": "community"}

        async def dunning_saw_the_payment() -> bool:
            r = await http.get(f"{dunning}/reports/kpis", params=dunning_period)
            mine = [x for x in r.json()["historical_recovery"] if x["community_id"] == community]
            return bool(mine) and mine[0]["recovered_fen"] > 0

        await wait_until(dunning_saw_the_payment, timeout=90)

        async def chase_paid() -> bool:
            r = await http.get(f"{dunning}/reports/kpis", params=dunning_period)
            return [(x["chased"], x["paid_after_chase"]) for x in r.json()["rows"]] == [(2, 1)]

        await wait_until(chase_paid, timeout=90)

        # What the APIs say (the dashboard must show exactly this).
        base = f"{billing}/communities/{community}/reports"
        collection = await _page(http, f"{base}/collection", period)
        on_time = await _page(http, f"{base}/on-time", period)
        aging = await _page(http, f"{base}/aging", {})
        recovery = (await http.get(f"{base}/recovery")).json()
        kpis = (await http.get(f"{dunning}/reports/kpis", params=dunning_period)).json()
        assert collection and on_time and recovery["recovered_fen"] > 0
        # Real chases: two households chased by the sweep, one paid after it.
        (chase,) = kpis["rows"]
        assert chase["community"] == community
        assert (chase["chased"], chase["paid_after_chase"], chase["success_rate"]) == (2, 1, 0.5)
        assert chase["cost_fen"] >= 0

        context = await browser.new_context(viewport=DESKTOP, locale="zh-CN", accept_downloads=True)
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))

        # Sign in as the community's manager (development issuer).
        await dev_sign_in(
            page,
            app.url,
            role="项目经理",
            subject="mgr-1",
            communities=community,
            path="/dashboard",
        )
        await expect(page.locator("[data-test=menu-dashboard]")).to_be_visible()
        await expect(page.locator("[data-test=report-collection]")).to_be_visible()
        await expect(page).to_have_url(
            f"{app.url}/dashboard?community={community}&from={month}&to={month}"
            "&by=month&dunning_by=community"
        )

        await _shows(page, collection, on_time, aging, recovery, kpis, community)
        await _charts_drawn(page)
        await screenshot(page, "dashboard-01")
        await assert_accessible(page, "dashboard")

        # The collection report's XLSX: the JSON report's figures.
        async with page.expect_download() as info:
            await page.locator("[data-test=download-collection]").click()
        download = await info.value
        assert download.suggested_filename == "collection-by-month.xlsx"
        sheet = load_workbook(io.BytesIO((await download.path()).read_bytes())).active
        assert sheet is not None
        header, *rows = sheet.iter_rows(values_only=True)
        assert [dict(zip(header, row, strict=True)) for row in rows] == collection
        # Dunning's KPI workbook: its kpis sheet holds the JSON rows.
        async with page.expect_download() as info:
            await page.locator("[data-test=download-dunning]").click()
        book = load_workbook(io.BytesIO((await (await info.value).path()).read_bytes()))
        header, *rows = book["kpis"].iter_rows(values_only=True)
        assert [dict(zip(header, row, strict=True)) for row in rows] == [
            {k: v for k, v in r.items() if k in header} for r in kpis["rows"]
        ]
        header, *rows = book["historical_recovery"].iter_rows(values_only=True)
        assert [dict(zip(header, row, strict=True)) for row in rows] == kpis["historical_recovery"]

        # Grouping by building, from the menus (the reports' and the aging's): the URL keeps
        # both; a reload shows the same.
        await page.locator("[data-test=by]").click()
        await page.locator("[data-test=by-building]").click()
        await expect(page).to_have_url(
            f"{app.url}/dashboard?community={community}&from={month}&to={month}"
            "&by=building&dunning_by=community"
        )
        await page.locator("[data-test=aging-by]").click()
        await page.locator("[data-test=aging-by-building]").click()
        await expect(page).to_have_url(
            f"{app.url}/dashboard?community={community}&from={month}&to={month}"
            "&by=building&dunning_by=community&aging_by=building"
        )
        by_building = {**period, "by": "building"}
        collection_b = await _page(http, f"{base}/collection", by_building)
        on_time_b = await _page(http, f"{base}/on-time", by_building)
        aging_b = await _page(http, f"{base}/aging", {"by": "building"})
        assert {r["key"] for r in collection_b} == {"3栋", "5栋"}
        # Building 3 owes (1201's debt); the groups add up to the community's buckets.
        assert "3栋" in {r["key"] for r in aging_b}
        for bucket in aging:
            assert bucket["outstanding_fen"] == sum(
                r["outstanding_fen"] for r in aging_b if r["bucket"] == bucket["bucket"]
            )
        await page.reload()
        await _shows(page, collection_b, on_time_b, aging_b, recovery, kpis, community)
        table = page.locator("[data-test=table-aging]")
        assert await texts(table.locator("[data-test=aging-key]")) == [r["key"] for r in aging_b]
        assert await texts(table.locator("[data-test=aging-bucket]")) == [
            r["bucket"] for r in aging_b
        ]
        await _charts_drawn(page)
        await screenshot(page, "dashboard-02-by-building")
        # The aging XLSX as grouped: the JSON rows, the building first.
        async with page.expect_download() as info:
            await page.locator("[data-test=download-aging]").click()
        download = await info.value
        assert download.suggested_filename == "aging-by-building.xlsx"
        sheet = load_workbook(io.BytesIO((await download.path()).read_bytes())).active
        assert sheet is not None
        header, *rows = sheet.iter_rows(values_only=True)
        assert [dict(zip(header, row, strict=True)) for row in rows] == aging_b

        # A tablet: no horizontal overflow; axe again.
        await page.set_viewport_size(TABLET)
        await _charts_drawn(page)
        overflow = await page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0
        await screenshot(page, "dashboard-03-tablet")
        await assert_accessible(page, "dashboard (tablet)")

        # English.
        await page.set_viewport_size(DESKTOP)
        await to_english(page)
        await expect(page.locator("h1")).to_have_text("Reports")
        await _charts_drawn(page)
        await screenshot(page, "dashboard-04-en")
        await assert_accessible(page, "dashboard (English)")
        assert not errors, errors
        await context.close()


async def _shows(
    page: Page,
    collection: list[dict[str, Any]],
    on_time: list[dict[str, Any]],
    aging: list[dict[str, Any]],
    recovery: dict[str, Any],
    kpis: dict[str, Any],
    community: str,
) -> None:
    """The tables beside the charts hold the APIs' figures, row for row."""
    table = page.locator("[data-test=table-collection]")
    await expect(table.locator("tbody tr")).to_have_count(len(collection))
    assert await texts(table.locator("[data-test=billed]")) == [
        yuan(r["billed_fen"]) for r in collection
    ]
    assert await texts(table.locator("[data-test=collected]")) == [
        yuan(r["collected_fen"]) for r in collection
    ]
    assert await texts(table.locator("[data-test=rate]")) == [
        pct(r["collection_rate"]) for r in collection
    ]
    table = page.locator("[data-test=table-on-time]")
    await expect(table.locator("tbody tr")).to_have_count(len(on_time))
    assert await texts(table.locator("[data-test=rate]")) == [
        pct(r["on_time_rate"]) for r in on_time
    ]
    table = page.locator("[data-test=table-aging]")
    await expect(table.locator("tbody tr")).to_have_count(len(aging))
    assert await texts(table.locator("[data-test=outstanding]")) == [
        yuan(r["outstanding_fen"]) for r in aging
    ]
    await expect(page.locator("[data-test=recovery-opening]")).to_have_text(
        yuan(recovery["opening_fen"])
    )
    await expect(page.locator("[data-test=recovery-recovered]")).to_have_text(
        yuan(recovery["recovered_fen"])
    )
    await expect(page.locator("[data-test=recovery-rate]")).to_have_text(
        pct(recovery["recovery_rate"])
    )
    table = page.locator("[data-test=table-dunning-recovery]")
    mine = [r for r in kpis["historical_recovery"] if r["community_id"] == community]
    await expect(table.locator("tbody tr")).to_have_count(len(kpis["historical_recovery"]))
    assert await texts(table.locator("[data-test=recovered]")) == [
        yuan(r["recovered_fen"]) for r in kpis["historical_recovery"]
    ]
    assert mine and mine[0]["recovered_fen"] > 0
    # Dunning's success: the table holds the KPI JSON row for row, and the chart's bars are
    # its rates (each bar's height over the 0..100 % axis, measured on the drawn SVG).
    table = page.locator("[data-test=table-dunning]")
    await expect(table.locator("tbody tr")).to_have_count(len(kpis["rows"]))
    assert await texts(table.locator("[data-test=dunning-key]")) == [
        r["community"] for r in kpis["rows"]
    ]
    assert await texts(table.locator("[data-test=chased]")) == [
        str(r["chased"]) for r in kpis["rows"]
    ]
    assert await texts(table.locator("[data-test=paid-after-chase]")) == [
        str(r["paid_after_chase"]) for r in kpis["rows"]
    ]
    assert await texts(table.locator("[data-test=success]")) == [
        pct(r["success_rate"]) for r in kpis["rows"]
    ]
    assert await texts(table.locator("[data-test=cost]")) == [
        yuan(r["cost_fen"]) for r in kpis["rows"]
    ]
    chart = page.locator("[data-test=report-dunning] [data-test=chart]")
    await expect(chart.locator("svg path").first).to_be_attached()
    drawn = await chart.evaluate(BARS)
    assert len(drawn["bars"]) == len(kpis["rows"]), drawn
    span = drawn["bottom"] - drawn["top"]
    assert span > 50, drawn
    for bar, row in zip(sorted(drawn["bars"], key=lambda b: b["x"]), kpis["rows"], strict=True):
        assert abs(bar["h"] / span - row["success_rate"]) < 0.02, (bar, span, row)
    for row in kpis["rows"]:
        assert row["community"] in drawn["labels"]


#: In the chart's figure: the bars of its first series (its first colour), the grid's top and
#: bottom (the horizontal split lines: 100 % and 0 %), and the axis labels.
BARS = r"""
(figure) => {
  const svg = figure.querySelector("svg");
  const norm = (c) => (c || "").replace(/\s/g, "").toLowerCase();
  const first = ["#1d5bb8", "rgb(29,91,184)"];
  const paths = [...svg.querySelectorAll("path")];
  const bars = paths
    .filter((p) => first.includes(norm(p.getAttribute("fill"))))
    .map((p) => p.getBBox())
    .filter((b) => b.height > 0)
    .map((b) => ({ x: b.x, y: b.y, h: b.height }));
  const lines = paths
    .filter((p) => p.getAttribute("stroke") && norm(p.getAttribute("fill")) in { "": 1, none: 1 })
    .map((p) => p.getBBox())
    .filter((b) => b.height === 0 && b.width > 0);
  const ys = lines.map((b) => b.y);
  return {
    bars,
    top: Math.min(...ys),
    bottom: Math.max(...ys),
    labels: [...svg.querySelectorAll("text")].map((t) => t.textContent),
  };
}
"""


async def _charts_drawn(page: Page) -> None:
    """Every chart is an SVG with marks (bars), labelled, with its table beside it."""
    charts = page.locator("[data-test=chart]")
    await expect(charts.first).to_be_visible()
    count = await charts.count()
    assert count >= 4
    for i in range(count):
        chart = charts.nth(i)
        assert (await chart.get_attribute("aria-label") or "").strip()
        await expect(chart.locator("svg path").first).to_be_attached()
        marks = await chart.locator("svg path").count()
        assert marks > 2


async def _page(http: httpx.AsyncClient, url: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    query = dict(params)
    while True:
        r = await http.get(url, params=query)
        assert r.status_code == 200, r.text
        body = r.json()
        items += body["items"]
        if not body["next"]:
            return items
        query["cursor"] = body["next"]


def _next_month(first: date) -> str:
    return str(date(first.year + first.month // 12, first.month % 12 + 1, 1))


def _month_end(first: date) -> str:
    return str(date.fromordinal(date.fromisoformat(_next_month(first)).toordinal() - 1))
