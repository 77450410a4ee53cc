"""The CronJobs' script (deploy/kubernetes/propfee/files/schedule.py) over real HTTP: each
operation POSTs what the service's documented operation takes, with the service-role token,
and every path it calls is an operation of the service's OpenAPI document (as the app makes
it; tests/contracts holds the committed copies to it) that the service role may call."""

from __future__ import annotations

import functools
import importlib.util
import json
import threading
from collections.abc import Iterator
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from propfee.openapi import document

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "kubernetes" / "propfee" / "files" / "schedule.py"


@functools.cache
def documents(service: str) -> dict[str, Any]:
    return document(service)


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("propfee_schedule", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def answers() -> dict[str, bytes]:
    """What the fake service answers, by path (default ``{}``)."""
    return {}


@pytest.fixture()
def server(answers: dict[str, bytes]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            seen.append(
                {
                    "path": self.path,
                    "auth": self.headers.get("Authorization"),
                    "body": json.loads(self.rfile.read(length)),
                }
            )
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(answers.get(self.path, b"{}"))

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", seen
    finally:
        httpd.shutdown()


def test_late_fees_and_order_expiry_are_posted_as_of_now(
    server: tuple[str, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, seen = server
    monkeypatch.setenv("PROPFEE_SERVICE_TOKEN", "service-token\n")
    monkeypatch.setenv("TZ_NAME", "Asia/Shanghai")
    script = _script()
    assert script.main(["late-fees", "--base-url", url, "--community", "c-0001"]) == 0
    assert script.main(["expire-orders", "--base-url", url + "/"]) == 0
    late, expire = seen
    assert late["path"] == "/communities/c-0001/late-fee-assessments"
    assert late["auth"] == expire["auth"] == "Bearer service-token"
    today = script.now().date()
    assert date.fromisoformat(late["body"]["as_of"]) == today
    assert expire["path"] == "/orders/expire"
    instant = datetime.fromisoformat(expire["body"]["as_of"])
    assert instant.utcoffset() is not None and instant.date() == today


def test_billing_runs_due_and_late_fees_for_every_community_in_one_call(
    server: tuple[str, list[dict[str, Any]]],
    answers: dict[str, bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, seen = server
    monkeypatch.setenv("PROPFEE_SERVICE_TOKEN", "service-token")
    script = _script()
    answers["/billing-runs/due"] = json.dumps({"checked": 2, "started": [], "failed": []}).encode()
    assert script.main(["billing-runs-due", "--base-url", url]) == 0
    assert script.main(["late-fees", "--base-url", url]) == 0
    due, late = seen
    today = script.now().date()
    assert due["path"] == "/billing-runs/due" and late["path"] == "/late-fee-assessments"
    assert due["auth"] == late["auth"] == "Bearer service-token"
    assert due["body"] == late["body"] == {"as_of": today.isoformat()}
    # A run billing refused: the Job fails (exit 1), so it is seen.
    refused = {"community_id": "c-1", "reason": "no fee schedule in force"}
    answers["/billing-runs/due"] = json.dumps({"failed": [refused]}).encode()
    assert script.main(["billing-runs-due", "--base-url", url]) == 1


@pytest.mark.parametrize(
    ("service", "path"),
    [
        ("billing", "/billing-runs/due"),
        ("billing", "/late-fee-assessments"),
        ("billing", "/communities/{community_id}/billing-runs"),
        ("billing", "/communities/{community_id}/late-fee-assessments"),
        ("dunning", "/sweeps"),
        ("payments", "/orders/expire"),
        ("payments", "/reconciliation/{gateway}/{bill_date}"),
    ],
)
def test_every_scheduled_call_is_a_documented_operation_for_the_service_role(
    service: str, path: str
) -> None:
    document = documents(service)
    operation = document["paths"][path]["post"]
    assert "service" in operation["x-propfee-roles"]
