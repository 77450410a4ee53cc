"""Each service's README tells the truth about its tree: the "## Layout" table has one row
per module, and every module has its row.

The one format (the four READMEs write it alike)::

    ## Layout
    | path | what |
    | --- | --- |
    | `settings.py` | `BillingSettings` (`BILLING_*`) |
    | `entrypoints/http_units.py` | thin routes of units |
    | `migrations/` | SQL migrations |

The first cell is one path in backticks, relative to ``services/<s>/src/<s>/``: a module
(``.py``) or a folder that holds no module (``/``, e.g. migrations, templates). The modules
are the ``.py`` files at the top level and in ``entrypoints/``, ``service_layer/``,
``domain/`` and ``adapters/``, ``__init__.py`` apart (a package marker).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("billing", "dunning", "notifier", "payments")
LAYERS = ("entrypoints", "service_layer", "domain", "adapters")
_ROW = re.compile(r"^\|\s*`([^`|]+)`\s*\|(.+)\|\s*$")


def layout_rows(readme: str) -> list[str]:
    """The paths of the "## Layout" table, in order; ValueError on a row not in the format."""
    lines = readme.splitlines()
    try:
        start = lines.index("## Layout") + 1
    except ValueError as exc:
        raise ValueError('no "## Layout" section') from exc
    table = []
    for line in lines[start:]:
        if line.startswith("## "):
            break
        if line.startswith("|"):
            table.append(line)
        elif table and line.strip():
            break  # the table ended
    if table[:2] != ["| path | what |", "| --- | --- |"]:
        raise ValueError(f"the table must start with '| path | what |': {table[:2]}")
    paths = []
    for line in table[2:]:
        match = _ROW.match(line)
        if match is None or not match.group(2).strip():
            raise ValueError(f"not '| `one/path.py` | what it is |': {line}")
        paths.append(match.group(1))
    return paths


def modules(package: Path) -> set[str]:
    found = {p.name for p in package.glob("*.py")}
    for layer in LAYERS:
        found |= {f"{layer}/{p.name}" for p in (package / layer).glob("*.py")}
    return {m for m in found if not m.endswith("__init__.py")}


@pytest.mark.parametrize("service", SERVICES)
def test_the_readme_layout_names_every_module_and_only_those(service: str) -> None:
    package = ROOT / "services" / service / "src" / service
    rows = layout_rows((ROOT / "services" / service / "README.md").read_text(encoding="utf-8"))
    assert len(rows) == len(set(rows)), (
        f"a path twice: {sorted(p for p in rows if rows.count(p) > 1)}"
    )
    named = {p for p in rows if p.endswith(".py")}
    on_disk = modules(package)
    assert sorted(on_disk - named) == [], f"{service}/README.md: modules without a row"
    assert sorted(named - on_disk) == [], f"{service}/README.md: rows naming no module"
    for folder in (p for p in rows if not p.endswith(".py")):
        assert folder.endswith("/"), f"{folder}: a module ends in .py, a folder in /"
        assert (package / folder).is_dir(), f"{service}/README.md: no folder {folder}"
        assert not list((package / folder).glob("*.py")), f"{folder}: name its modules"


def test_the_parser_refuses_what_it_cannot_check() -> None:
    head = "## Layout\n| path | what |\n| --- | --- |\n"
    assert layout_rows(head + "| `app.py` | the app |\n\n## Next\n") == ["app.py"]
    for bad in ("| `a.py`, `b.py` | two |", "| app.py | no backticks |", "| `app.py` |  |"):
        with pytest.raises(ValueError):
            layout_rows(head + bad + "\n")
    with pytest.raises(ValueError):
        layout_rows("## Layout\n| module | what |\n| --- | --- |\n")
