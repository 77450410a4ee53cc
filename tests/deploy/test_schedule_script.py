"""The CronJobs' script (deploy/kubernetes/propfee/files/schedule.py) over real HTTP: each
operation POSTs what the service's documented operation takes, with the service-role token,
and every path it calls is an operation of the committed OpenAPI documents that the service
role may call."""

from __future__ import annotations

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

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "kubernetes" / "propfee" / "files" / "schedule.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("propfee_schedule", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def server() -> Iterator[tuple[str, list[dict[str, Any]]]]:
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
            self.wfile.write(b"{}")

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


@pytest.mark.parametrize(
    ("service", "path"),
    [
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
    document = json.loads((ROOT / "docs" / "openapi" / f"{service}.json").read_text("utf-8"))
    operation = document["paths"][path]["post"]
    assert "service" in operation["x-propfee-roles"]
