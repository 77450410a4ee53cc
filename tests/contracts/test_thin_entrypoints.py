"""The four services' entrypoints are thin: HTTP (or a Kafka record) in, a service-layer call,
HTTP out. No asyncpg import and no SQL text in any ``<service>/entrypoints/*.py`` (checked
with ``ast`` over every string constant, docstrings included); the SQL lives in the
service layer and the adapters. One shape: each service has the same top-level modules."""

from __future__ import annotations

import ast
from importlib import import_module
from pathlib import Path

import pytest

SERVICES = ("billing", "dunning", "notifier", "payments")
SQL = ("SELECT ", "INSERT INTO", "UPDATE ", "DELETE FROM")
#: The modules every service has (issue 20's "one shape").
SHAPE = ("settings.py", "app.py", "runtime.py", "errors.py", "entrypoints/events.py")


def _package(service: str) -> Path:
    return Path(import_module(service).__file__ or "").parent


def offences(source: str, name: str = "<source>") -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import) and any(
            a.name.split(".")[0] == "asyncpg" for a in node.names
        ):
            found.append(f"{name}:{node.lineno}: imports asyncpg")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "asyncpg":
            found.append(f"{name}:{node.lineno}: imports from asyncpg")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found += [f"{name}:{node.lineno}: SQL ({k.strip()})" for k in SQL if k in node.value]
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_no_sql_and_no_asyncpg_in_entrypoints(service: str) -> None:
    entrypoints = _package(service) / "entrypoints"
    files = sorted(entrypoints.glob("*.py"))
    assert files
    found = [o for f in files for o in offences(f.read_text(encoding="utf-8"), f.name)]
    assert found == []


@pytest.mark.parametrize("service", SERVICES)
def test_one_shape(service: str) -> None:
    package = _package(service)
    assert [m for m in SHAPE if not (package / m).is_file()] == []
    routes = [p.name for p in (package / "entrypoints").glob("http*.py")]
    assert routes and all(name.startswith("http_") for name in routes), routes


def test_the_check_finds_sql_and_asyncpg() -> None:
    assert offences('import asyncpg\nQ = "SELECT 1"\n') == [
        "<source>:1: imports asyncpg",
        "<source>:2: SQL (SELECT)",
    ]
    assert offences("from asyncpg import Pool\n") == ["<source>:1: imports from asyncpg"]
    assert offences('def f() -> str:\n    return "no sql here"\n') == []
