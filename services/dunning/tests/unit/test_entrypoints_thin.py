"""Entrypoints parse, call the service layer and translate: no asyncpg, no SQL (issue 20)."""

from __future__ import annotations

import ast
from pathlib import Path

import dunning.entrypoints

ENTRYPOINTS = Path(dunning.entrypoints.__file__).parent
SQL = ("SELECT ", "INSERT INTO", "UPDATE ", "DELETE FROM")


def _problems(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [f"imports {a.name}" for a in node.names if a.name.split(".")[0] == "asyncpg"]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "asyncpg":
            found.append(f"imports from {node.module}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value  # SQL keywords as written (upper case), not prose
            found += [f"SQL {kw.strip()!r} at line {node.lineno}" for kw in SQL if kw in text]
    return found


def test_entrypoints_hold_no_sql_and_no_asyncpg() -> None:
    files = sorted(ENTRYPOINTS.glob("*.py"))
    assert files
    problems = {p.name: _problems(p) for p in files}
    assert not {name: found for name, found in problems.items() if found}


def test_the_check_catches_sql(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text('import asyncpg\nQ = f"SELECT {1} FROM x"\nU = "UPDATE t SET a = 1"\n')
    assert len(_problems(bad)) == 3
