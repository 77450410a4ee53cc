"""Entrypoints stay thin: no asyncpg import and no SQL text in ``payments/entrypoints/``
(the SQL lives in the service layer and the adapters)."""

from __future__ import annotations

import ast
from pathlib import Path

import payments.entrypoints

ENTRYPOINTS = Path(payments.entrypoints.__file__).parent
SQL = ("SELECT ", "INSERT INTO", "UPDATE ", "DELETE FROM")


def _offences(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import) and any(
            a.name.split(".")[0] == "asyncpg" for a in node.names
        ):
            found.append(f"{path.name}:{node.lineno}: imports asyncpg")
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "asyncpg":
            found.append(f"{path.name}:{node.lineno}: imports from asyncpg")
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            for keyword in SQL:  # as this codebase writes SQL: keywords in capitals
                if keyword in node.value:
                    found.append(f"{path.name}:{node.lineno}: SQL ({keyword.strip()})")
    return found


def test_entrypoints_hold_no_sql_and_no_asyncpg() -> None:
    files = sorted(ENTRYPOINTS.glob("*.py"))
    assert len(files) > 5
    offences = [o for f in files for o in _offences(f)]
    assert offences == []


def test_the_check_sees_sql(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text('import asyncpg\nQ = "SELECT 1 FROM t"\nD = "DELETE FROM t"\n')
    assert len(_offences(sample)) == 3


def test_entrypoint_modules_are_named_for_their_resource() -> None:
    names = {f.stem for f in ENTRYPOINTS.glob("*.py")} - {"__init__"}
    others = {n for n in names if not n.startswith("http_")}
    assert others <= {"events", "models", "security"}, others
