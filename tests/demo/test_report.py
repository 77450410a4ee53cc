"""The demo's report renderers, on a made-up year: no services needed."""

from __future__ import annotations

import json
import re
import unicodedata
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from demo.report import pct, render_terminal, write_html, yuan

VOID = {"meta", "link", "br", "hr", "img", "input", "col", "area", "base", "source", "wbr"}
CHARTS = 7  # rates, tiers, reminders by channel / stage, escalations, payments, recovery


def make_report() -> dict[str, Any]:
    months = []
    for i in range(12):
        billed = 37_081_250 + i * 1_234
        months.append(
            {
                "month": f"2027-{i + 1:02d}",
                "billed_fen": billed,
                "collected_fen": billed * (90 - i % 4) // 100,
                "collection_rate": (90 - i % 4) / 100,
                "on_time_rate": 0.78 + i / 100,
                "tiers": {"red": 3 + i, "yellow": 12 - i // 2, "green": 40 + 2 * i},
                "reminders": 120 + i,
                "escalations": 80 - i,
                "payments": 900 + i,
                "duplicate_notifications": 40,
                "open_cases": 55 - i,
            }
        )
    return {
        "meta": {
            "seed": 7,
            "households": 1236,
            "months": 12,
            "start_month": "2027-01",
            "community_id": "c0ffee00-0000-4000-8000-000000000001",
            "community_name": "阳光花园",
            "duration_s": 312.4,
            "generated_at": "2026-11-23T21:00:00+00:00",
            "services": {"billing": "http://127.0.0.1:8101"},
        },
        "households": {"lived_in": 982, "vacant": 187, "shops": 67, "with_opening_arrears": 140},
        "personas": {"on_time": 700, "prepays_yearly": 80, "forgets": 150, "refuses": 8},
        "months": months,
        "fee_items": [
            {
                "item": "property_fee",
                "collection": "property",
                "households": 1236,
                "billed_fen": 400_000_000,
                "collected_fen": 380_000_000,
                "collection_rate": 0.95,
            },
            {
                "item": "water",
                "collection": "utilities",
                "households": 1049,
                "billed_fen": 4_321_098,
                "collected_fen": 4_000_000,
                "collection_rate": 0.9257,
            },
        ],
        "utilities": {
            "billed_fen": 4_321_098,
            "collected_fen": 4_000_000,
            "collection_rate": 0.9257,
            "by_month": [
                {
                    "month": f"2027-{i + 1:02d}",
                    "billed_fen": 360_000 + i,
                    "collected_fen": 333_333,
                    "collection_rate": 0.9259,
                }
                for i in range(12)
            ],
        },
        "reminders_by_channel": {"sms": 500, "wechat": 120, "letter": 30, "door_notice": 4},
        "reminders_by_stage": {"pre_due_notice": 10, "reminder_7d": 300, "final_notice": 12},
        "escalations_by_stage": {"reminder_7d": 300, "phone_call": 40, "legal_review": 1},
        "payments_by_channel": {
            "wechat_pay": 8000,
            "alipay": 3000,
            "unionpay": 500,
            "counter": 400,
        },
        "opening_arrears": {
            "households": 140,
            "opening_fen": 98_765_432,
            "recovered_fen": 45_000_000,
            "by_month": [
                {"month": f"2027-{i + 1:02d}", "recovered_fen": 3_750_000} for i in range(12)
            ],
        },
        "staff": {
            "tasks_created": 310,
            "tasks_done": 300,
            "outcomes": {"forgot": 3, "hardship": 1},
            "promises_kept": 20,
            "promises_broken": 4,
            "pauses": 2,
            "resumed": 1,
            "installment_plans": 1,
            "legal_cases": 1,
        },
        "money": {
            "payments_fen": 400_000_000,
            "refunds_fen": 123456,
            "allocated_fen": 399_000_000,
            "credit_fen": 876_544,
            "exceptions_fen": 0,
        },
        "demands": {
            "final_letter": {"delivered": 7, "posted": 2},
            "legal_demand": {"delivered": 3, "posted": 1, "printing": 1},
        },
        "invariants": [
            {
                "name": "money: payments − refunds = allocated + credit",
                "ok": True,
                "detail": "¥3,998,765.44 = ¥3,990,000.00 + ¥8,765.44",
            },
            {
                "name": "reminders sent to households that had already paid",
                "ok": False,
                "detail": "3 " + "very long detail " * 12,
            },
        ],
        "urls": {
            "billing docs": "http://127.0.0.1:8101/docs",
            "dunning docs": "http://127.0.0.1:8103/docs?" + "x" * 120,
        },
        "next_steps": ["make down  # stop everything", "make test  # the tests"],
    }


class Checker(HTMLParser):
    """Records tag nesting errors, <svg> elements and the invariant list items."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.svgs: list[dict[str, str | None]] = []
        self.items: list[tuple[str, list[str]]] = []  # (class, text) of each <li class="inv">
        self.titles_in_svg = 0
        self.descs_in_svg = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "svg":
            self.svgs.append(a)
        if "svg" in self.stack and tag in {"title", "desc"} and self.stack[-1] == "svg":
            self.titles_in_svg += tag == "title"
            self.descs_in_svg += tag == "desc"
        if tag == "li" and "inv" in (a.get("class") or "").split():
            self.items.append((a.get("class") or "", []))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        if "li" in self.stack and self.items and self.items[-1][0] and data.strip():
            self.items[-1][1].append(data.strip())


def check(html: str) -> Checker:
    parser = Checker()
    parser.feed(html)
    parser.close()
    assert parser.errors == []
    assert parser.stack == [], f"unclosed: {parser.stack}"
    return parser


def columns(line: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line)


def test_money_and_rates_are_formatted() -> None:
    assert yuan(123456) == "¥1,234.56"
    assert yuan(0) == "¥0.00"
    assert yuan(5) == "¥0.05"
    assert yuan(-123456) == "-¥1,234.56"
    assert yuan(123_456_789_01) == "¥123,456,789.01"
    assert yuan(None) == "–"
    assert pct(0.934) == "93.4%"
    assert pct(None) == "–"


def test_html_page_is_written_with_charts(tmp_path: Path) -> None:
    report = make_report()
    path = write_html(report, tmp_path / "demo-report")
    assert path == tmp_path / "demo-report" / "index.html"
    assert path.is_file()
    assert json.loads((path.parent / "report.json").read_text(encoding="utf-8")) == report
    html = path.read_text(encoding="utf-8")
    parser = check(html)
    assert len(parser.svgs) == html.count("<svg") == CHARTS
    assert parser.titles_in_svg == parser.descs_in_svg == CHARTS
    assert all(s.get("role") == "img" and s.get("aria-labelledby") for s in parser.svgs)
    assert "¥1,234.56" in html  # the refunds
    assert "阳光花园" in html
    assert 'make demo ARGS="--seed 7 --households 1236 --months 12"' in unescape(html)
    assert "http://127.0.0.1:8101/docs" in html
    assert "make down" in html
    assert "<script" not in html and "//cdn" not in html and "https://" not in html
    for month in report["months"]:
        assert f'<th scope="row">{month["month"]}</th>' in html
    assert '<th scope="row">water</th><td>1,049</td><td>¥43,210.98</td>' in html
    assert "<td>92.6%</td><td>utilities</td>" in html


def test_utilities_are_shown_apart_from_the_property_fee(tmp_path: Path) -> None:
    """Rule 9: the suppliers' money has its own table, month by month, with its own total."""
    report = make_report()
    html = write_html(report, tmp_path).read_text(encoding="utf-8")
    check(html)
    section = html[html.index('id="utilities-h"') :]
    section = section[: section.index("</section>")]
    assert "水电暖代收" in section
    assert '<th scope="row">2027-01</th><td>¥3,600.00</td><td>¥3,333.33</td><td>92.6%</td>' in (
        section
    )
    assert '<th scope="row">Total</th><td>¥43,210.98</td><td>¥40,000.00</td>' in section
    assert "Month by month · property fee" in html

    text = render_terminal(report)
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Utilities collected"))
    table = lines[start : start + 20]
    assert any(line.startswith("│ 2027-12 ") and "¥3,600.11" in line for line in table)
    assert any(line.startswith("│ Total ") and "¥43,210.98" in line for line in table)
    assert max(map(columns, lines)) <= 100

    del report["utilities"]
    assert "utilities-h" not in write_html(report, tmp_path).read_text(encoding="utf-8")
    assert "Utilities collected" not in render_terminal(report)


def test_invariants_show_pass_and_fail(tmp_path: Path) -> None:
    parser = check(write_html(make_report(), tmp_path).read_text(encoding="utf-8"))
    by_name = {text[1]: (cls.split(), text[0]) for cls, text in parser.items}
    money = by_name["money: payments − refunds = allocated + credit"]
    assert "pass" in money[0] and money[1] == "PASS"
    payers = by_name["reminders sent to households that had already paid"]
    assert "fail" in payers[0] and payers[1] == "FAIL"

    html = write_html(make_report(), tmp_path).read_text(encoding="utf-8")
    assert re.search(r'<section class="panel fail"[^>]*>\s*<h2[^>]*>1 of 2 invariants FAILED', html)
    passing = make_report()
    passing["invariants"][1]["ok"] = True
    html = write_html(passing, tmp_path).read_text(encoding="utf-8")
    assert re.search(r'<section class="panel pass"[^>]*>\s*<h2[^>]*>All 2 invariants passed', html)
    assert "FAIL" not in html


def test_html_escapes_what_the_report_says(tmp_path: Path) -> None:
    report = make_report()
    report["meta"]["community_name"] = "<script>alert('x')</script> 花园"
    report["reminders_by_stage"]["<b>stage</b>"] = 3
    report["invariants"][0]["detail"] = "a < b & c"
    html = write_html(report, tmp_path).read_text(encoding="utf-8")
    check(html)
    assert "<script" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; 花园" in html
    assert "&lt;b&gt;stage&lt;/b&gt;" in html
    assert "a &lt; b &amp; c" in html


@pytest.mark.parametrize(
    "report",
    [
        {},
        {"meta": {}, "months": [], "invariants": [], "urls": {}, "next_steps": []},
        {"months": [{"month": "2027-01"}, {}], "opening_arrears": {"by_month": [{}]}},
        {
            "months": [{"month": "2027-01", "tiers": {}, "collection_rate": None}],
            "reminders_by_channel": {"sms": 0},
            "staff": {"outcomes": {}},
            "invariants": [{"name": "no detail"}],
            "money": {"payments_fen": None},
        },
    ],
)
def test_minimal_reports_render(tmp_path: Path, report: dict[str, Any]) -> None:
    html = write_html(report, tmp_path).read_text(encoding="utf-8")
    check(html)
    text = render_terminal(report)
    assert max(map(columns, text.splitlines())) <= 100
    if not report:
        assert "<svg" not in html
        assert "No invariants were checked" in html
        assert "–" in text


def test_terminal_report() -> None:
    report = make_report()
    text = render_terminal(report)
    lines = text.splitlines()
    assert "阳光花园" in lines[0]
    too_wide = [line for line in lines if columns(line) > 100]
    assert too_wide == []
    assert "\x1b[" not in text
    assert "✔ money: payments − refunds = allocated + credit" in text
    assert "✘ reminders sent to households that had already paid" in text
    assert text.index("Invariants") < text.index("Month by month")
    for month in report["months"]:
        row = next(line for line in lines if line.startswith(f"│ {month['month']} "))
        assert yuan(month["billed_fen"]) in row
        assert pct(month["collection_rate"]) in row
        tiers = month["tiers"]
        assert f"{tiers['red']}/{tiers['yellow']}/{tiers['green']}" in row
    assert any(line.startswith("│ Total ") for line in lines)
    assert "¥1,234.56" in text  # the refunds
    for needle in ("sms", "wechat_pay", "Opening arrears", "legal cases", "make down"):
        assert needle in text
    water = next(line for line in lines if line.startswith("│ water "))
    assert "¥43,210.98" in water and "1,049" in water and "92.6%" in water
    assert "http://127.0.0.1:8101/docs" in text


def test_demands_delivered_vs_posted_are_reported(tmp_path: Path) -> None:
    report = make_report()
    text = render_terminal(report)
    assert "Demands delivered vs posted" in text
    row = next(line for line in text.splitlines() if "legal_demand" in line)
    assert re.findall(r"\d+", row) == ["3", "1", "1", "0", "0"]
    html = write_html(report, tmp_path).read_text(encoding="utf-8")
    assert "Demands delivered vs posted" in html and "final_letter" in html
