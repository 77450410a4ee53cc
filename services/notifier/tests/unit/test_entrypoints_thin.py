"""Entrypoints parse, call and translate: no asyncpg import and no SQL text in
``notifier/entrypoints/*.py`` (SQL lives in ``service_layer/`` and ``adapters/``)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import notifier.entrypoints

ENTRYPOINTS = Path(notifier.entrypoints.__file__).parent
SQL = ("SELECT ", "INSERT INTO", "UPDATE ", "DELETE FROM")
FILES = sorted(ENTRYPOINTS.glob("*.py"))


def offences(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if a.name.split(".")[0] == "asyncpg"]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "asyncpg":
            found.append(f"from {node.module} import ...")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            # Upper case, as SQL is written here: prose ("select a channel") is not SQL.
            found += [
                f"SQL {kw.strip()!r} in {node.value[:40]!r}" for kw in SQL if kw in node.value
            ]
    return found


def test_the_check_finds_what_it_forbids() -> None:
    assert offences("import asyncpg")
    assert offences("from asyncpg import Record")
    assert offences('q = "SELECT 1 FROM notifications"')
    assert offences('q = "DELETE FROM x"')
    assert not offences('"""Select a channel; update the party."""')


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_no_sql_and_no_asyncpg_in_entrypoints(path: Path) -> None:
    assert FILES, "no entrypoints found"
    assert offences(path.read_text(encoding="utf-8")) == []
