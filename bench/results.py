"""Judging and writing a ``make bench`` run: pure functions, no I/O but ``write``.

A benchmark's figures (its ``BENCH`` line) are set beside the same-run ceilings: each
:class:`Compare` names a figure and how its ceiling follows from the ceilings' figures (and the
benchmark's own, e.g. the number of units); the ratio is always ``figure / ceiling`` (for a
time: how many times the ceiling it took; for a rate: the fraction of the ceiling reached).
Each :class:`Goal` is one line of the issue's table (``figure op value``; the figure may be a
ratio, ``<figure>/ceiling``). A benchmark meets its goals when every one is met; a goal whose
figure is missing is unknown, which is not met.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Figures = Mapping[str, float]
#: (ceilings' figures, the benchmark's figures) -> the ceiling, or None when it cannot be had.
CeilingOf = Callable[[Figures, Figures], float | None]

OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    "<": operator.lt,
    ">=": operator.ge,
    ">": operator.gt,
    "==": operator.eq,
}
SHOWN = {"<=": "≤", "<": "<", ">=": "≥", ">": ">", "==": "="}


def pick(figures: Figures, keys: Sequence[str]) -> float | None:
    """The first of ``keys`` (a figure's name and its accepted aliases) present in figures."""
    for key in keys:
        value = figures.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


@dataclass(frozen=True)
class Compare:
    """``figure`` (its name first, then aliases) beside a ceiling derived by ``ceiling``."""

    figure: tuple[str, ...]
    ceiling: CeilingOf
    how: str  # how the ceiling is derived, for the report
    unit: str = ""

    @property
    def key(self) -> str:
        return self.figure[0]


@dataclass(frozen=True)
class Goal:
    """``figure op value``; ``figure`` may be ``"<name>/ceiling"``: the ratio of a Compare."""

    figure: tuple[str, ...]
    op: str
    value: float
    unit: str = ""

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise ValueError(f"unknown operator {self.op!r}")

    @property
    def key(self) -> str:
        return self.figure[0]

    def label(self) -> str:
        value = f"{self.value:,.10g}"
        return f"{self.key} {SHOWN[self.op]} {value}{(' ' + self.unit) if self.unit else ''}"


@dataclass
class Compared:
    key: str
    value: float | None
    ceiling: float | None
    ratio: float | None
    how: str
    unit: str = ""


@dataclass
class Judged:
    goal: str
    value: float | None
    met: bool | None  # None: the figure is missing


def compare(specs: Sequence[Compare], figures: Figures, ceilings: Figures) -> list[Compared]:
    out = []
    for spec in specs:
        value = pick(figures, spec.figure)
        try:
            ceiling = spec.ceiling(ceilings, figures)
        except (KeyError, TypeError, ZeroDivisionError):
            ceiling = None
        ratio = value / ceiling if value is not None and ceiling else None
        out.append(Compared(spec.key, value, ceiling, ratio, spec.how, spec.unit))
    return out


def judge(goals: Sequence[Goal], figures: Figures, compared: Sequence[Compared]) -> list[Judged]:
    ratios = {f"{c.key}/ceiling": c.ratio for c in compared if c.ratio is not None}
    out = []
    for goal in goals:
        value = pick({**figures, **ratios}, goal.figure)
        met = None if value is None else OPS[goal.op](value, goal.value)
        out.append(Judged(goal.label(), value, met))
    return out


def verdict(judged: Sequence[Judged]) -> str:
    """``met``, ``not met`` (one goal missed, or a figure missing) or ``no goal``."""
    if not judged:
        return "no goal"
    return "met" if all(j.met for j in judged) else "not met"


# -- writing ----------------------------------------------------------------------------------


def number(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "—"
    if float(value).is_integer() and abs(value) >= 1:
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def ratio_text(ratio: float | None) -> str:
    return "—" if ratio is None else f"{ratio:.2f}×"


def markdown(run: Mapping[str, Any]) -> str:
    """``bench/results.md`` from the run (the same dict as ``results.json``)."""
    machine = run["machine"]
    out = [
        "# Benchmark results",
        "",
        f"Written by `{run['command']}` on {run['started']} ({run['mode']} sizes), "
        f"{run['wall_s']:.0f} s in all. Status: **{run['status']}**.",
        "",
        "## Machine",
        "",
        "| | |",
        "| --- | --- |",
    ]
    for label, key in (
        ("CPU", "cpu"),
        ("cores", "cores"),
        ("memory", "memory"),
        ("OS", "os"),
        ("Python", "python"),
        ("PostgreSQL", "postgresql"),
        ("Kafka", "kafka"),
        ("load average before (1/5/15 min)", "load_before"),
        ("load average after (1/5/15 min)", "load_after"),
    ):
        out.append(f"| {label} | {machine.get(key, '—')} |")
    if run.get("note"):
        out += ["", run["note"]]
    out += [
        "",
        "## Summary",
        "",
        "| benchmark | status | goal | verdict |",
        "| --- | --- | --- | --- |",
    ]
    for b in run["benchmarks"]:
        goals = "; ".join(b.get("goals_wanted") or [j["goal"] for j in b["goals"]]) or "—"
        shown = b["verdict"] if b["status"] == "ok" else "—"
        shown = f"**{shown}**" if shown == "not met" else shown
        out.append(f"| {b['name']} ({b['title']}) | {b['status']} | {goals} | {shown} |")
    out += [
        "",
        "Each figure is set beside a ceiling measured in the same run (below); the ratio is "
        "figure / ceiling: for a time, how many times the ceiling it took; for a rate, the "
        "fraction of the ceiling reached. A goal whose figure is missing is not met.",
        "",
        "## Ceilings",
        "",
    ]
    ceilings = run["ceilings"]
    out.append(f"Command: `{ceilings['command']}`; status {ceilings['status']}.")
    out += ["", "| figure | value |", "| --- | --- |"]
    out += [f"| {k} | {number(v)} |" for k, v in ceilings["figures"].items()]
    for b in run["benchmarks"]:
        out += ["", f"## {b['name']}: {b['title']}", "", f"Command: `{b['command']}`", ""]
        out.append(
            f"Status: **{b['status']}**"
            + (f" (exit {b['returncode']})" if b.get("returncode") not in (None, 0) else "")
            + (f", {b['wall_s']:.1f} s wall" if b.get("wall_s") is not None else "")
            + (f"; {b['reason']}" if b.get("reason") else "")
            + (f"; log `{b['log']}`" if b.get("log") else "")
            + "."
        )
        if b["compared"]:
            out += ["", "| figure | value | ceiling | ratio | ceiling from |", "| --- | --- | --- | --- | --- |"]  # fmt: skip
            for c in b["compared"]:
                unit = f" {c['unit']}" if c["unit"] else ""
                out.append(
                    f"| {c['key']} | {number(c['value'])}{unit} | {number(c['ceiling'])}{unit} "
                    f"| {ratio_text(c['ratio'])} | {c['how']} |"
                )
        if b["goals"]:
            out += ["", "| goal | value | met |", "| --- | --- | --- |"]
            for j in b["goals"]:
                met = {True: "met", False: "**not met**", None: "figure missing"}[j["met"]]
                out.append(f"| {j['goal']} | {number(j['value'])} | {met} |")
        if b["figures"]:
            shown = ", ".join(f"{k} {number(v)}" for k, v in b["figures"].items())
            out += ["", f"All figures: {shown}."]
    return "\n".join(out) + "\n"


def write(run: Mapping[str, Any], directory: Path, stem: str = "results") -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    md, js = directory / f"{stem}.md", directory / f"{stem}.json"
    md.write_text(markdown(run), encoding="utf-8")
    js.write_text(json.dumps(run, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return md, js


def parse_bench_line(stdout: str) -> dict[str, Any] | None:
    """The ``BENCH {json}`` of the last non-empty stdout line, or None (absent, not JSON, or
    not ``{"name": str, "figures": {str: number}}``)."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    if not lines or not lines[-1].startswith("BENCH "):
        return None
    try:
        body = json.loads(lines[-1][len("BENCH ") :])
    except json.JSONDecodeError:
        return None
    if not isinstance(body, dict) or not isinstance(body.get("name"), str):
        return None
    figures = body.get("figures")
    if not isinstance(figures, dict) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in figures.values()
    ):
        return None
    return body
