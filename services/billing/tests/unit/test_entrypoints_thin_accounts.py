"""The routes of accounts, invoices, schedules, runs, receipts and reports are thin: parse,
call the service layer, translate. No asyncpg and no SQL text in them (checked with ``ast``,
so a docstring mentioning SQL is fine, a query string is not)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ENTRYPOINTS = Path(__file__).parents[2] / "src" / "billing" / "entrypoints"
#: This branch's files (the registry's, lists' and scoping's are checked with them once
#: they are moved too: test_entrypoints_thin.py).
FILES = [
    "common.py",
    "tabular.py",
    "http_accounts.py",
    "http_billing_runs.py",
    "http_charges.py",
    "http_e_invoices.py",
    "http_fee_schedules.py",
    "http_invoices.py",
    "http_readings.py",
    "http_receipts.py",
    "http_reports.py",
    "models_accounts.py",
    "models_billing_runs.py",
    "models_fee_schedules.py",
    "models_invoices.py",
    "models_reports.py",
]
SQL = ("SELECT ", "INSERT INTO", "UPDATE ", "DELETE FROM")


def _docstrings(tree: ast.Module) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


@pytest.mark.parametrize("name", FILES)
def test_no_sql_and_no_asyncpg_in_the_routes(name: str) -> None:
    tree = ast.parse((ENTRYPOINTS / name).read_text(encoding="utf-8"))
    docs = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            assert not any(a.name.split(".")[0] == "asyncpg" for a in node.names), name
        if isinstance(node, ast.ImportFrom):
            assert (node.module or "").split(".")[0] != "asyncpg", name
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            text = node.value
            assert not any(k in text for k in SQL), f"{name}:{node.lineno}: SQL in a route"


def test_every_file_of_this_branch_exists() -> None:
    assert not (ENTRYPOINTS / "http_billing.py").exists(), "split by resource"
    for name in FILES:
        assert (ENTRYPOINTS / name).exists(), name
