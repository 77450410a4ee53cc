"""The demo's closing report: plain text for the terminal and one self-contained HTML page.

Both renderers take the dict the simulator builds (money in integer fen, rates as fractions)
and tolerate any part missing or empty: a missing figure shows as "–", a chart without data
is left out. The HTML page needs no network and no JavaScript; its charts are inline SVG.
"""

from __future__ import annotations

import json
import math
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from jinja2 import Environment, StrictUndefined
from markupsafe import Markup, escape

WIDTH = 100  # terminal columns
DASH = "–"
TIER_COLOURS = {"red": "#d64545", "yellow": "#e0a526", "green": "#2f9e44"}
PALETTE = ("#2563eb", "#f59e0b", "#7c3aed", "#0891b2", "#db2777", "#65a30d")

# ── numbers ──────────────────────────────────────────────────────────────────────────────


def _dict(value: Any) -> dict[str, Any]:
    return {str(k): v for k, v in value.items()} if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _int(value: Any) -> int | None:
    n = _num(value)
    return None if n is None else round(n)


def yuan(fen: Any) -> str:
    """123456 → "¥1,234.56"; anything not a number → "–"."""
    n = _int(fen)
    if n is None:
        return DASH
    whole, cents = divmod(abs(n), 100)
    return f"{'-' if n < 0 else ''}¥{whole:,}.{cents:02d}"


def pct(rate: Any) -> str:
    """0.934 → "93.4%"."""
    r = _num(rate)
    return DASH if r is None else f"{r * 100:.1f}%"


def count(value: Any) -> str:
    n = _int(value)
    return DASH if n is None else f"{n:,}"


def _short_yuan(fen: float) -> str:
    y = fen / 100
    for size, unit in ((1e6, "M"), (1e3, "k")):
        if abs(y) >= size:
            return f"¥{y / size:.3g}{unit}"
    return f"¥{y:.0f}"


def _tick(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"


def _duration(seconds: Any) -> str:
    s = _num(seconds)
    if s is None:
        return DASH
    return f"{s:.1f} s" if s < 60 else f"{int(s // 60)} min {s % 60:.0f} s"


def _reproduce(meta: Mapping[str, Any]) -> str:
    if isinstance(meta.get("command"), str):
        return str(meta["command"])
    opts = [f"--{k} {meta[k]}" for k in ("seed", "households", "months") if k in meta]
    return f'make demo ARGS="{" ".join(opts)}"' if opts else "make demo"


def _label(key: str) -> str:
    return key.removesuffix("_fen").replace("_", " ")


def _invariants(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = [_dict(i) for i in _list(report.get("invariants"))]
    return [
        {"name": str(i.get("name", "?")), "ok": i.get("ok") is True, "detail": i.get("detail")}
        for i in rows
    ]


def _counts(value: Any) -> list[tuple[str, float]]:
    pairs = [(k, _num(v)) for k, v in _dict(value).items()]
    return [(k, v) for k, v in pairs if v is not None]


def _staff_rows(staff: Mapping[str, Any]) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for key, value in staff.items():
        if isinstance(value, Mapping):
            rows += [(f"{_label(key)}: {k}", count(v)) for k, v in _dict(value).items()]
        else:
            rows.append((_label(key), count(value)))
    return rows


def _month_totals(months: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    def total(key: str) -> int:
        return sum(_int(m.get(key)) or 0 for m in months)

    billed, collected = total("billed_fen"), total("collected_fen")
    on_time = [r for m in months if (r := _num(m.get("on_time_rate"))) is not None]
    return {
        "billed_fen": billed,
        "collected_fen": collected,
        "collection_rate": collected / billed if billed else None,
        "on_time_rate": sum(on_time) / len(on_time) if on_time else None,
        **{k: total(k) for k in ("reminders", "escalations", "payments")},
        "duplicate_notifications": total("duplicate_notifications"),
    }


def _tier_keys(months: Sequence[Mapping[str, Any]]) -> list[str]:
    seen = {k: None for m in months for k in _dict(m.get("tiers"))}
    return [k for k in TIER_COLOURS if k in seen] + [k for k in seen if k not in TIER_COLOURS]


# ── terminal ─────────────────────────────────────────────────────────────────────────────


def _cols(text: str) -> int:
    """Terminal columns: wide East Asian characters take two."""
    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1
        for c in text
    )


def _clip(text: str, width: int) -> str:
    if _cols(text) <= width:
        return text
    while text and _cols(text) > width - 1:
        text = text[:-1]
    return text + "…"


def _wrap(text: str, first: str = "  ", rest: str = "    ") -> list[str]:
    """Word-wraps to WIDTH columns; words longer than a line are cut."""
    lines, line = [], first
    for word in text.split(" "):
        candidate = word if line in (first, rest) else " " + word
        if _cols(line + candidate) > WIDTH and line not in (first, rest):
            lines.append(line)
            line, candidate = rest, word
        while _cols(line + candidate) > WIDTH:
            room = WIDTH - _cols(line)
            cut = next((i for i in range(len(candidate), 0, -1) if _cols(candidate[:i]) <= room), 1)
            lines.append(line + candidate[:cut])
            line, candidate = rest, candidate[cut:]
        line += candidate
    return [*lines, line.rstrip()]


def _table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    numeric: Sequence[bool],
    footer: Sequence[str] | None = None,
) -> list[str]:
    every = [list(headers), *map(list, rows), *([list(footer)] if footer else [])]
    widths = [max(_cols(r[i]) for r in every) for i in range(len(headers))]
    while sum(widths) + 3 * len(widths) + 1 > WIDTH and max(widths) > 4:
        widths[widths.index(max(widths))] -= 1

    def rule(left: str, mid: str, right: str) -> str:
        return left + mid.join("─" * (w + 2) for w in widths) + right

    def row(cells: Sequence[str]) -> str:
        out = []
        for cell, w, right in zip(cells, widths, numeric, strict=True):
            text = _clip(cell, w)
            gap = " " * (w - _cols(text))
            out.append(f" {gap + text if right else text + gap} ")
        return "│" + "│".join(out) + "│"

    lines = [rule("┌", "┬", "┐"), row(headers), rule("├", "┼", "┤"), *map(row, rows)]
    if footer:
        lines += [rule("├", "┼", "┤"), row(footer)]
    return [*lines, rule("└", "┴", "┘")]


def _count_table(title: str, items: list[tuple[str, float]]) -> list[str]:
    head = title.split(" by ")[-1]
    if not items:
        return [title, f"  {DASH}"]
    return [title, *_table([head, "count", "share"], _share_rows(items), [False, True, True])]


def _beside(left: list[str], right: list[str], gap: int = 3) -> list[str]:
    width = max(map(_cols, left), default=0)
    if width + gap + max(map(_cols, right), default=0) > WIDTH:
        return [*left, "", *right]
    pad = [*left, *[""] * (len(right) - len(left))]
    return [
        (a + " " * (width + gap - _cols(a)) + b).rstrip()
        for a, b in zip(pad, [*right, *[""] * (len(pad) - len(right))], strict=True)
    ]


def render_terminal(report: dict[str, Any]) -> str:
    """The report as plain text no wider than 100 columns."""
    meta, hh = _dict(report.get("meta")), _dict(report.get("households"))
    months = [_dict(m) for m in _list(report.get("months"))]
    title = f"Propfee demo · {meta.get('community_name') or 'community'}"
    out = [title, "═" * min(WIDTH, _cols(title))]
    out += [
        f"seed {meta.get('seed', DASH)} · {count(meta.get('households'))} households · "
        f"{count(meta.get('months'))} months from {meta.get('start_month', DASH)} · "
        f"took {_duration(meta.get('duration_s'))}",
        f"reproduce: {_reproduce(meta)}",
    ]
    invariants = _invariants(report)
    failed = sum(not i["ok"] for i in invariants)
    verdict = f"{failed} of {len(invariants)} FAILED" if failed else f"all {len(invariants)} passed"
    out += ["", f"Invariants: {verdict if invariants else DASH}"]
    for inv in invariants:
        detail = f" — {inv['detail']}" if inv["detail"] not in (None, "") else ""
        out += _wrap(f"{'✔' if inv['ok'] else '✘'} {inv['name']}{detail}")
    out += ["", "Month by month · property fee (utilities apart, below)"]
    tiers = _tier_keys(months)
    rows = [
        [
            str(m.get("month", DASH)),
            yuan(m.get("billed_fen")),
            yuan(m.get("collected_fen")),
            pct(m.get("collection_rate")),
            pct(m.get("on_time_rate")),
            "/".join(count(_dict(m.get("tiers")).get(t)) for t in tiers) or DASH,
            count(m.get("reminders")),
            count(m.get("escalations")),
        ]
        for m in months
    ]
    t = _month_totals(months)
    footer = ["Total", yuan(t["billed_fen"]), yuan(t["collected_fen"])]
    footer += [pct(t["collection_rate"]), pct(t["on_time_rate"]), ""]
    footer += [count(t["reminders"]), count(t["escalations"])]
    tier_head = "/".join(k[0].upper() for k in tiers) or "Tiers"
    head = ["Month", "Billed", "Collected", "Coll.", "On time", tier_head, "Reminders", "Escal."]
    if months:
        out += _table(head, rows, [False, *[True] * 7], footer)
        out += _wrap(
            f"{count(t['payments'])} payments · {count(t['duplicate_notifications'])} duplicate "
            f"gateway notifications · {count(months[-1].get('open_cases'))} open cases at the end"
        )
    else:
        out.append(f"  {DASH}")
    utilities = _utility_rows(report)
    if utilities:
        out += ["", "Utilities collected on behalf of suppliers (水电暖代收), apart from the fee"]
        out += _table(["Month", "Billed", "Collected", "Coll."], utilities[:-1],
                      [False, True, True, True], utilities[-1])  # fmt: skip
    items = _fee_item_rows(report)
    if items:
        out += ["", "Fee items (the whole period)"]
        out += _table(["item", "households", "billed", "collected", "coll.", "collection"],
                      items, [False, True, True, True, True, False])  # fmt: skip
    out += ["", "Households"]
    out += _wrap(" · ".join(f"{count(v)} {_label(k)}" for k, v in hh.items()) or DASH)
    personas = report.get("personas")
    out += _wrap("personas: " + (" · ".join(f"{k} {count(v)}" for k, v in _counts(personas))))
    for a, b in (
        ("reminders_by_channel", "payments_by_channel"),
        ("reminders_by_stage", "escalations_by_stage"),
    ):
        out += [
            "",
            *_beside(
                _count_table(_label(a).capitalize(), _counts(report.get(a))),
                _count_table(_label(b).capitalize(), _counts(report.get(b))),
            ),
        ]
    demands = _demand_rows(report)
    if demands:
        out += ["", "Demands delivered vs posted (letters; only delivered ones count in law)"]
        out += _table(["stage", *DEMAND_STATUSES], demands, [False] + [True] * 5)
    arrears = _dict(report.get("opening_arrears"))
    opening, recovered = _int(arrears.get("opening_fen")), _int(arrears.get("recovered_fen"))
    share = pct(recovered / opening) if opening and recovered is not None else DASH
    out += ["", "Opening arrears"]
    out += _wrap(
        f"{count(arrears.get('households'))} households owed {yuan(opening)} at the start; "
        f"{yuan(recovered)} recovered ({share})"
    )
    cumulative, arrear_rows = 0, []
    for r in (_dict(r) for r in _list(arrears.get("by_month"))):
        cumulative += _int(r.get("recovered_fen")) or 0
        arrear_rows.append(
            [str(r.get("month", DASH)), yuan(r.get("recovered_fen")), yuan(cumulative)]
        )
    staff = _staff_rows(_dict(report.get("staff")))
    money = [(_label(k), yuan(v)) for k, v in _dict(report.get("money")).items()]
    left = [
        "Recovery",
        *_table(["Month", "Recovered", "Cumulative"], arrear_rows, [False, True, True]),
    ]
    right = ["Staff work", *_table(["work", "count"], staff, [False, True])] if staff else []
    if money:
        right += ["Money", *_table(["account", "yuan"], money, [False, True])]
    out += _beside(left if arrear_rows else [], right)
    out += _owner_lines(report)
    urls = _dict(report.get("urls"))
    if urls:
        out += ["", "Explore", *(f"  {k}: {v}" for k, v in urls.items())]
    steps = [str(s) for s in _list(report.get("next_steps"))]
    if steps:
        out += ["", "Next steps", *(f"  {s}" for s in steps)]
    fitted = []
    for line in out:
        indent = " " * (len(line) - len(line.lstrip(" ")))
        fitted += _wrap(line.lstrip(" "), indent, indent + "  ") if _cols(line) > WIDTH else [line]
    return "\n".join(fitted) + "\n"


# ── SVG charts ───────────────────────────────────────────────────────────────────────────

W, H = 640, 280
L, R, T, B = 64, W - 16, 40, H - 32  # the plot area


def _text(x: float, y: float, text: str, anchor: str = "start", cls: str = "") -> str:
    c = f' class="{cls}"' if cls else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{c}>{escape(text)}</text>'


def _svg(key: str, title: str, desc: str, body: Sequence[str], height: int = H) -> Markup:
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {height}" role="img" '
        f'aria-labelledby="{key}-t {key}-d" class="chart"><title id="{key}-t">{escape(title)}'
        f'</title><desc id="{key}-d">{escape(desc)}</desc>{"".join(body)}</svg>'
    )


def _nice(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10.0 ** math.floor(math.log10(value))
    return next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= value)


def _legend(items: Sequence[tuple[str, str]]) -> list[str]:
    out, x = [], float(L)
    for name, colour in items:
        out += [
            f'<rect x="{x:.1f}" y="14" width="12" height="12" rx="2" fill="{colour}"/>',
            _text(x + 17, 24, name),
        ]
        x += 30 + 7 * len(name)
    return out


def _axes(
    labels: Sequence[str], top: float, fmt: Callable[[float], str]
) -> tuple[list[str], Callable[[int], float], Callable[[float], float]]:
    """Grid, y ticks and x labels; returns them with the x (band centre) and y scales."""
    band = (R - L) / max(len(labels), 1)

    def x(i: int) -> float:
        return L + band * (i + 0.5)

    def y(v: float) -> float:
        return B - (min(max(v, 0.0), top) / top) * (B - T)

    out = []
    for k in range(5):
        v = top * k / 4
        out += [f'<line x1="{L}" x2="{R}" y1="{y(v):.1f}" y2="{y(v):.1f}" class="grid"/>']
        out.append(_text(L - 6, y(v) + 4, fmt(v), "end", "tick"))
    step = math.ceil(len(labels) / 12)
    out += [_text(x(i), B + 18, s, "middle", "tick") for i, s in enumerate(labels) if i % step == 0]
    return out, x, y


def _rates_chart(months: Sequence[Mapping[str, Any]]) -> Markup | None:
    labels = [str(m.get("month", "")) for m in months]
    series = [
        (name, PALETTE[n], [_num(m.get(key)) for m in months])
        for n, (name, key) in enumerate(
            (("Collection rate", "collection_rate"), ("On-time rate", "on_time_rate"))
        )
    ]
    values = [v for _, _, vs in series for v in vs if v is not None]
    if not values:
        return None
    body, x, y = _axes(labels, math.ceil(max(1.0, *values) * 4) / 4, lambda v: f"{v:.0%}")
    body += _legend([(name, colour) for name, colour, _ in series])
    for name, colour, vs in series:
        path, dots, pen = [], [], "M"
        for i, v in enumerate(vs):
            if v is None:
                pen = "M"
                continue
            path.append(f"{pen}{x(i):.1f},{y(v):.1f}")
            pen = "L"
            dots.append(
                f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3.5" fill="{colour}"><title>'
                f"{escape(f'{name} {labels[i]}: {pct(v)}')}</title></circle>"
            )
        line = f'<path d="{" ".join(path)}" fill="none" stroke="{colour}" stroke-width="2.5"/>'
        body += [line, *dots]
    desc = "; ".join(
        f"{s}: collection {pct(c)}, on time {pct(o)}"
        for s, c, o in zip(labels, series[0][2], series[1][2], strict=True)
    )
    return _svg("rates", "Collection rate and on-time rate by month", desc, body)


def _tiers_chart(months: Sequence[Mapping[str, Any]]) -> Markup | None:
    keys, labels = _tier_keys(months), [str(m.get("month", "")) for m in months]
    stacks = [[(k, _int(_dict(m.get("tiers")).get(k)) or 0) for k in keys] for m in months]
    if not keys:
        return None
    colours = {k: TIER_COLOURS.get(k, PALETTE[i % 6]) for i, k in enumerate(keys)}
    top = _nice(max(sum(v for _, v in s) for s in stacks))
    body, x, y = _axes(labels, top, _tick)
    body += _legend([(k, colours[k]) for k in keys])
    band = (R - L) / len(labels)
    for i, stack in enumerate(stacks):
        base = 0
        for k, v in stack:
            if v:
                body.append(
                    f'<rect x="{x(i) - band * 0.3:.1f}" y="{y(base + v):.1f}" '
                    f'width="{band * 0.6:.1f}" '
                    f'height="{y(base) - y(base + v):.1f}" fill="{colours[k]}"><title>'
                    f"{escape(f'{labels[i]} {k}: {v:,}')}</title></rect>"
                )
            base += v
    desc = "; ".join(
        f"{s}: " + ", ".join(f"{k} {v}" for k, v in st)
        for s, st in zip(labels, stacks, strict=True)
    )
    return _svg("tiers", "Cases by tier (red / yellow / green) by month", desc, body)


def _bars_chart(key: str, title: str, items: list[tuple[str, float]], colour: str) -> Markup | None:
    if not items:
        return None
    row, label_w, top = 26, 170, max(v for _, v in items) or 1.0
    body = []
    for i, (label, v) in enumerate(items):
        y0, width = 8 + i * row, (W - label_w - 80) * v / top
        body += [
            _text(label_w - 8, y0 + 14, _clip(label, 24), "end"),
            f'<rect x="{label_w}" y="{y0}" width="{width:.1f}" height="{row - 8}" rx="2" '
            f'fill="{colour}"><title>{escape(f"{label}: {count(v)}")}</title></rect>',
            _text(label_w + width + 6, y0 + 14, count(v), cls="tick"),
        ]
    desc = ", ".join(f"{k} {count(v)}" for k, v in items)
    return _svg(key, title, desc, body, height=16 + row * len(items))


def _recovery_chart(arrears: Mapping[str, Any]) -> Markup | None:
    rows = [_dict(r) for r in _list(arrears.get("by_month"))]
    if not rows:
        return None
    labels, cumulative, total = [str(r.get("month", "")) for r in rows], [], 0
    for r in rows:
        total += _int(r.get("recovered_fen")) or 0
        cumulative.append(total)
    opening = _int(arrears.get("opening_fen")) or 0
    body, x, y = _axes(labels, _nice(max(*cumulative, opening)), _short_yuan)
    body += _legend([("Recovered (cumulative)", PALETTE[3]), ("Opening arrears", "#6b7280")])
    points = " ".join(f"L{x(i):.1f},{y(v):.1f}" for i, v in enumerate(cumulative))
    end = x(len(cumulative) - 1)
    body += [
        f'<path d="M{x(0):.1f},{B} {points} L{end:.1f},{B} Z" fill="{PALETTE[3]}" '
        'fill-opacity="0.18"/>',
        f'<path d="M{points[1:]}" fill="none" stroke="{PALETTE[3]}" stroke-width="2.5"/>',
    ]
    if opening:
        body += [
            f'<line x1="{L}" x2="{R}" y1="{y(opening):.1f}" y2="{y(opening):.1f}" '
            'stroke="#6b7280" stroke-dasharray="6 4"/>',
            _text(R, y(opening) - 6, f"opening {yuan(opening)}", "end", "tick"),
        ]
    desc = f"Opening arrears {yuan(opening)}; recovered by month end: " + ", ".join(
        f"{s} {yuan(v)}" for s, v in zip(labels, cumulative, strict=True)
    )
    return _svg("recovery", "Recovery of opening arrears (cumulative)", desc, body)


# ── HTML ─────────────────────────────────────────────────────────────────────────────────

TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
:root { --ink: #1f2937; --muted: #6b7280; --line: #e5e7eb; --pass: #2f9e44; --fail: #d64545; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1180px; padding: 24px; color: var(--ink); background: #f8fafc;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  "PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", sans-serif; }
h1 { margin: 0 0 4px; font-size: 26px; } h2 { font-size: 17px; margin: 0 0 10px; }
.sub, .muted { color: var(--muted); }
section, .card { background: #fff; border: 1px solid var(--line); border-radius: 10px;
  padding: 16px 20px; margin: 16px 0; }
.panel { border-left: 8px solid var(--muted); }
.panel.pass { border-left-color: var(--pass); background: #ebf8ee; }
.panel.fail { border-left-color: var(--fail); background: #fdecec; }
.panel h2 { font-size: 20px; }
.panel ul { list-style: none; padding: 0; margin: 0; }
.inv { padding: 6px 0; border-top: 1px solid rgba(0, 0, 0, .06); }
.badge { display: inline-block; min-width: 58px; text-align: center; font-weight: 700;
  border-radius: 4px; color: #fff; margin-right: 10px; font-size: 13px; }
.inv.pass .badge { background: var(--pass); } .inv.fail .badge { background: var(--fail); }
.inv .detail { display: block; margin-left: 68px; color: var(--muted); font-size: 13px; }
.grid2 { display: grid; grid-template-columns: repeat(auto-fit, minmax(460px, 1fr)); gap: 16px; }
.grid2 > .card { margin: 0; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0; }
dt { color: var(--muted); } dd { margin: 0; }
code { background: #f1f5f9; padding: 2px 6px; border-radius: 4px; font-size: 13px; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { padding: 5px 8px; border-bottom: 1px solid var(--line); text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f1f5f9; font-weight: 600; } tfoot td { font-weight: 700; }
.scroll { overflow-x: auto; }
svg.chart { width: 100%; height: auto; display: block; }
svg .grid { stroke: var(--line); } svg text { font-size: 12px; fill: var(--ink); }
svg .tick { fill: var(--muted); font-size: 11px; }
</style>
</head>
<body>
<header>
<h1>{{ title }}</h1>
<p class="sub">{{ subtitle }}</p>
</header>
<section class="panel {{ verdict_class }}" aria-labelledby="inv-h">
<h2 id="inv-h">{{ verdict }}</h2>
<ul>
{% for inv in invariants %}
<li class="inv {{ 'pass' if inv.ok else 'fail' }}"><span class="badge">{{ 'PASS' if inv.ok
  else 'FAIL' }}</span><strong>{{ inv.name }}</strong>{% if inv.detail is not none
  %}<span class="detail">{{ inv.detail }}</span>{% endif %}</li>
{% endfor %}
</ul>
</section>
<section aria-labelledby="meta-h">
<h2 id="meta-h">Run</h2>
<dl>
{% for k, v in facts %}<dt>{{ k }}</dt><dd>{{ v }}</dd>
{% endfor %}<dt>reproduce</dt><dd><code>{{ reproduce }}</code></dd>
</dl>
</section>
<div class="grid2">
{% for c in charts %}
<div class="card"><h2>{{ c.title }}</h2>{% if c.svg %}{{ c.svg }}{% else
  %}<p class="muted">No data.</p>{% endif %}</div>
{% endfor %}
</div>
<section aria-labelledby="months-h">
<h2 id="months-h">Month by month · property fee</h2>
<div class="scroll"><table>
<thead><tr>{% for h in month_head %}<th scope="col">{{ h }}</th>{% endfor %}</tr></thead>
<tbody>
{% for row in month_rows %}<tr>{% for cell in row %}{% if loop.first %}<th scope="row">{{ cell
  }}</th>{% else %}<td>{{ cell }}</td>{% endif %}{% endfor %}</tr>
{% else %}<tr><td colspan="{{ month_head | length }}">–</td></tr>
{% endfor %}
</tbody>
{% if month_rows %}<tfoot><tr>{% for cell in month_foot %}{% if loop.first %}<th scope="row">{{ cell
  }}</th>{% else %}<td>{{ cell }}</td>{% endif %}{% endfor
  %}</tr></tfoot>{% endif %}
</table></div>
</section>
{% if utilities %}<section aria-labelledby="utilities-h">
<h2 id="utilities-h">Utilities collected on behalf of suppliers (水电暖代收)</h2>
<p class="muted">The suppliers' money, billed on its own invoices at their tariffs: apart from
the property fee and its collection rate.</p>
<div class="scroll"><table>
<thead><tr>{% for h in ["Month", "Billed", "Collected", "Collection"] %}<th scope="col">{{ h
  }}</th>{% endfor %}</tr></thead>
<tbody>{% for row in utilities[:-1] %}<tr><th scope="row">{{ row[0] }}</th>{% for cell in row[1:]
  %}<td>{{ cell }}</td>{% endfor %}</tr>
{% endfor %}</tbody>
<tfoot><tr><th scope="row">{{ utilities[-1][0] }}</th>{% for cell in utilities[-1][1:]
  %}<td>{{ cell }}</td>{% endfor %}</tr></tfoot>
</table></div>
</section>{% endif %}
<div class="grid2">
{% for t in tables %}
<div class="card"><h2>{{ t.title }}</h2>
<table><thead><tr>{% for h in t.head %}<th scope="col">{{ h }}</th>{% endfor %}</tr></thead>
<tbody>{% for row in t.rows %}<tr><th scope="row">{{ row[0] }}</th>{% for cell in row[1:]
  %}<td>{{ cell }}</td>{% endfor %}</tr>{% else %}<tr><td colspan="{{ t.head | length }}">–</td>
</tr>{% endfor %}</tbody></table></div>
{% endfor %}
</div>
<section aria-labelledby="next-h">
<h2 id="next-h">Explore</h2>
<ul>{% for name, url in urls %}<li>{{ name }}: {% if url.startswith(('http://', 'https://'))
  %}<a href="{{ url }}">{{ url }}</a>{% else %}{{ url }}{% endif %}</li>{% else %}<li>–</li>
{% endfor %}</ul>
<h2>Next steps</h2>
<ul>{% for step in next_steps %}<li><code>{{ step }}</code></li>{% else %}<li>–</li>
{% endfor %}</ul>
</section>
<footer class="muted">Generated {{ generated_at }} · all money in yuan (¥) · propfee demo</footer>
</body>
</html>
"""


def _fee_item_rows(report: Mapping[str, Any]) -> list[list[str]]:
    return [
        [str(r.get("item", DASH)), count(r.get("households")), yuan(r.get("billed_fen")),
         yuan(r.get("collected_fen")), pct(r.get("collection_rate")),
         str(r.get("collection") or DASH)]
        for r in (_dict(r) for r in _list(report.get("fee_items")))
    ]  # fmt: skip


def _utility_rows(report: Mapping[str, Any]) -> list[list[str]]:
    """Utilities collected on behalf of suppliers by month, then the total row; [] if none."""
    data = _dict(report.get("utilities"))
    months = [_dict(r) for r in _list(data.get("by_month"))]
    if not months and _int(data.get("billed_fen")) is None:
        return []
    rows = [
        [str(m.get("month", DASH)), yuan(m.get("billed_fen")), yuan(m.get("collected_fen")),
         pct(m.get("collection_rate"))]
        for m in months
    ]  # fmt: skip
    total = ["Total", yuan(data.get("billed_fen")), yuan(data.get("collected_fen"))]
    return [*rows, [*total, pct(data.get("collection_rate"))]]


#: The letter statuses shown, in order (what only a tracking number proves is "posted").
DEMAND_STATUSES = ("delivered", "posted", "printing", "sent", "other")


def _demand_rows(report: Mapping[str, Any]) -> list[list[str]]:
    """Demands on paper per stage: delivered (carrier signed, signed receipt) vs posted."""
    return [
        [str(stage), *(count(_dict(by).get(k, 0)) for k in DEMAND_STATUSES)]
        for stage, by in _dict(report.get("demands")).items()
    ]


def _owner_summary(report: Mapping[str, Any]) -> tuple[str, list[tuple[str, str, str]]]:
    """What owners read: the SMS bill in segments, and each channel's samples as sent."""
    owner = _dict(report.get("owner_messages"))
    sms = _dict(owner.get("sms"))
    segments_by = ", ".join(
        f"{count(n)} in {k} segment{'s' if str(k) != '1' else ''}"
        for k, n in sorted(_dict(sms.get("by_segments")).items(), key=lambda kv: int(kv[0]))
    )
    summary = (
        f"{count(sms.get('messages'))} SMS in {count(sms.get('segments'))} segments "
        f"({segments_by or DASH}) · "
        f"{count(owner.get('with_problems'))} messages with a problem"
    )
    samples = [
        (str(channel), str(_dict(s).get("kind", "")), str(_dict(s).get("body", "")))
        for channel, items in _dict(owner.get("samples")).items()
        for s in _list(items)
    ]
    return summary, samples


def _owner_lines(report: Mapping[str, Any]) -> list[str]:
    if not report.get("owner_messages"):
        return []
    summary, samples = _owner_summary(report)
    out = ["", "What owners read (three samples per channel, as sent)"]
    out += _wrap(summary)
    for channel, kind, body in samples:
        text = " ⏎ ".join(line.strip() for line in body.splitlines() if line.strip())
        out += _wrap(f"[{channel} · {kind}] {text}")
    return out


def _share_rows(items: list[tuple[str, float]]) -> list[list[str]]:
    total = sum(v for _, v in items)
    return [[k, count(v), pct(v / total) if total else DASH] for k, v in items]


def _context(report: Mapping[str, Any]) -> dict[str, Any]:
    meta, hh = _dict(report.get("meta")), _dict(report.get("households"))
    months = [_dict(m) for m in _list(report.get("months"))]
    arrears = _dict(report.get("opening_arrears"))
    invariants = _invariants(report)
    failed = sum(not i["ok"] for i in invariants)
    tiers, totals = _tier_keys(months), _month_totals(months)
    counts = {
        k: _counts(report.get(k))
        for k in (
            "reminders_by_channel",
            "reminders_by_stage",
            "escalations_by_stage",
            "payments_by_channel",
            "personas",
        )
    }
    charts = [
        ("Collection and on-time rate", _rates_chart(months)),
        ("Cases by tier", _tiers_chart(months)),
        *(
            (
                _label(k).capitalize(),
                _bars_chart(k.replace("_", "-"), _label(k).capitalize(), counts[k], c),
            )
            for k, c in zip(list(counts)[:4], PALETTE, strict=False)
        ),
        ("Opening arrears recovered", _recovery_chart(arrears)),
    ]
    money = [[_label(k), yuan(v)] for k, v in _dict(report.get("money")).items()]
    opening, recovered = _int(arrears.get("opening_fen")), _int(arrears.get("recovered_fen"))
    return {
        "title": f"Propfee demo · {meta.get('community_name') or 'community'}",
        "subtitle": f"{count(meta.get('households'))} households · {count(meta.get('months'))} "
        f"months from {meta.get('start_month', DASH)} · seed {meta.get('seed', DASH)}",
        "verdict": (
            f"{failed} of {len(invariants)} invariants FAILED"
            if failed
            else f"All {len(invariants)} invariants passed"
            if invariants
            else "No invariants were checked"
        ),
        "verdict_class": "fail" if failed else "pass" if invariants else "",
        "invariants": invariants,
        "facts": [
            ("community", f"{meta.get('community_name', DASH)} ({meta.get('community_id', DASH)})"),
            ("seed", str(meta.get("seed", DASH))),
            (
                "households",
                " · ".join(f"{count(v)} {_label(k)}" for k, v in hh.items())
                or count(meta.get("households")),
            ),
            ("months", f"{count(meta.get('months'))} from {meta.get('start_month', DASH)}"),
            ("personas", " · ".join(f"{k} {count(v)}" for k, v in counts["personas"]) or DASH),
            ("duration", _duration(meta.get("duration_s"))),
        ],
        "reproduce": _reproduce(meta),
        "charts": [{"title": t, "svg": svg} for t, svg in charts],
        "utilities": _utility_rows(report),
        "month_head": [
            "Month",
            "Billed",
            "Collected",
            "Collection",
            "On time",
            *tiers,
            "Reminders",
            "Escalations",
            "Payments",
            "Duplicates",
            "Open cases",
        ],
        "month_rows": [
            [
                str(m.get("month", DASH)),
                yuan(m.get("billed_fen")),
                yuan(m.get("collected_fen")),
                pct(m.get("collection_rate")),
                pct(m.get("on_time_rate")),
                *(count(_dict(m.get("tiers")).get(t)) for t in tiers),
                *(
                    count(m.get(k))
                    for k in (
                        "reminders",
                        "escalations",
                        "payments",
                        "duplicate_notifications",
                        "open_cases",
                    )
                ),
            ]
            for m in months
        ],
        "month_foot": [
            "Total",
            yuan(totals["billed_fen"]),
            yuan(totals["collected_fen"]),
            pct(totals["collection_rate"]),
            pct(totals["on_time_rate"]),
            *([""] * len(tiers)),
            *(
                count(totals[k])
                for k in ("reminders", "escalations", "payments", "duplicate_notifications")
            ),
            "",
        ],
        "tables": [
            {
                "title": "Fee items",
                "head": ["item", "households", "billed", "collected", "rate", "collection"],
                "rows": _fee_item_rows(report),
            },
            {
                "title": "Reminders by channel",
                "head": ["channel", "count", "share"],
                "rows": _share_rows(counts["reminders_by_channel"]),
            },
            {
                "title": "Payments by channel",
                "head": ["channel", "count", "share"],
                "rows": _share_rows(counts["payments_by_channel"]),
            },
            {
                "title": "Demands delivered vs posted",
                "head": ["stage", *DEMAND_STATUSES],
                "rows": _demand_rows(report),
            },
            {
                "title": "What owners read: " + _owner_summary(report)[0],
                "head": ["channel", "message", "as sent"],
                "rows": [list(r) for r in _owner_summary(report)[1]],
            },
            {
                "title": "Opening arrears",
                "head": ["figure", "value"],
                "rows": [
                    ["households", count(arrears.get("households"))],
                    ["owed at the start", yuan(opening)],
                    ["recovered", yuan(recovered)],
                    [
                        "share recovered",
                        pct(recovered / opening) if opening and recovered else DASH,
                    ],
                ],
            },
            {
                "title": "Staff work",
                "head": ["work", "count"],
                "rows": [list(r) for r in _staff_rows(_dict(report.get("staff")))],
            },
            {"title": "Money", "head": ["account", "yuan"], "rows": money},
        ],
        "urls": [(k, str(v)) for k, v in _dict(report.get("urls")).items()],
        "next_steps": [str(s) for s in _list(report.get("next_steps"))],
        "generated_at": str(meta.get("generated_at", DASH)),
    }


def render_html(report: dict[str, Any]) -> str:
    env = Environment(autoescape=True, undefined=StrictUndefined, keep_trailing_newline=True)
    return env.from_string(TEMPLATE).render(_context(report))


def write_html(report: dict[str, Any], directory: Path) -> Path:
    """Writes directory/index.html and directory/report.json; returns the HTML's path."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "report.json").write_text(
        json.dumps(report, ensure_ascii=False, indent=2, default=str), encoding="utf-8"
    )
    path = directory / "index.html"
    path.write_text(render_html(report), encoding="utf-8")
    return path
