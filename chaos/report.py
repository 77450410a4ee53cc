"""The report: JSON (everything) and markdown (a table per fault, the checks)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# Fault suite: plan `{report['plan']}`",
        "",
        f"Started {report['started_at']}, {report['duration_s']:.0f} s in all "
        f"(infrastructure and start-up {report.get('startup_s', '?')} s); "
        f"{report['cluster']}; {report['households']} households, "
        f"{report.get('days', '?')} simulated days.",
        "",
        f"**Lost: {report['lost']}. Duplicated: {report['duplicated']}. "
        f"Errors: {report['errors']}.**",
        "",
        "| fault | kind | struck | down s | healed s | recovered s | converged s | days "
        "| payments | lost (new) | duplicated (new) |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for f in report["faults"]:
        lines.append(
            f"| {f['fault']} | {f['kind']} | {f['trigger']} {f['injected']} | {f['down_s']} "
            f"| {_n(f.get('healed_s'))} | {_n(f['recovered_s'])} | {_n(f['converged_s'])} "
            f"| {f['days']} | {f['payments']} | {f['lost']} ({f.get('new_lost', 0)}) "
            f"| {f['duplicated']} ({f.get('new_duplicated', 0)}) |"
        )
    lines += [
        "",
        "healed: from the fault's injection until the repair is done (the process restarted, "
        "the node started, the link up); "
        "recovered: from the fault's injection until every service answers ready and the "
        "load's next look finds every outbox empty and every consumer group at the end; "
        "converged: from the end of the load until the same look is clean. "
        "lost and duplicated: the checks' counts over everything since the start (new: what "
        "this fault added).",
        "",
        "## Checks after each fault",
    ]
    for f in report["faults"]:
        lines += ["", f"### {f['fault']}", ""]
        if f.get("error"):
            lines += [f"**Error:** `{f['error']}`", ""]
        lines += ["| check | counted | lost | duplicated | detail |", "|---|---:|---:|---:|---|"]
        for c in f["checks"]:
            detail = c["detail"].replace("|", "/")
            if c["examples"]:
                detail += " — e.g. " + "; ".join(str(e) for e in c["examples"][:3]).replace(
                    "|", "/"
                )
            lines.append(
                f"| {c['name']} | {c['counted']} | {c['lost']} | {c['duplicated']} | {detail} |"
            )
    lines += ["", "Command: `make chaos` (full plan) — run directory " + report["run_dir"], ""]
    return "\n".join(lines)


def _n(value: Any) -> str:
    return "—" if value is None else f"{value}"


def write(report: dict[str, Any], directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "report.json").write_text(
        json.dumps(report, ensure_ascii=False, indent=2, default=str)
    )
    path = directory / "report.md"
    path.write_text(markdown(report))
    return path
