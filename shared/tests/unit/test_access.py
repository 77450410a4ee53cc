"""The access middleware in process: the request id reaches every log line of the request,
probes log at DEBUG, an exception is a 500 in the metrics and the log."""

from __future__ import annotations

import json

import httpx
import pytest
import structlog
from fastapi import APIRouter
from prometheus_client import REGISTRY

from propfee.access import request_id_from
from propfee.http import create_service_app
from propfee.logging import configure_logging, get_logger
from propfee.runtime import ServiceRuntime
from propfee.settings import ServiceSettings

router = APIRouter()
log = get_logger("handler")


@router.get("/parties/{party_id}/notes")
async def list_notes(party_id: str) -> dict[str, str]:
    log.info("reading notes", owner_phone="13812345678")
    return {"party": "seen"}


@router.post("/parties/{party_id}/notes")
async def add_note(party_id: str, body: dict[str, str]) -> dict[str, str]:
    return body


@router.get("/boom")
async def boom() -> None:
    raise RuntimeError("broken")


def _client() -> httpx.AsyncClient:
    settings = ServiceSettings(service_name="access-test", max_upload_bytes=100)
    runtime = ServiceRuntime(settings, package="propfee")
    app = create_service_app(runtime, title="t", description="", routers=[router])
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://test",
    )


def _count(route: str, status: str, method: str = "GET") -> float:
    value = REGISTRY.get_sample_value(
        "propfee_http_requests_total", {"method": method, "route": route, "status": status}
    )
    return value or 0.0


async def test_an_answer_given_before_routing_has_the_route_template() -> None:
    before = _count("/parties/{party_id}/notes", "413", "POST")
    async with _client() as client:
        r = await client.post("/parties/p-1/notes", json={"text": "x" * 500})
        assert r.status_code == 413 and r.headers["x-request-id"]
        assert (await client.get("/parties/p-1/nothing")).status_code == 404
    assert _count("/parties/{party_id}/notes", "413", "POST") == before + 1
    assert _count("<unmatched>", "404") >= 1


@pytest.mark.parametrize(
    ("header", "kept"),
    [
        (b"abc-123", True),
        (b"trace:1.2_x", True),
        (b"x" * 64, True),
        (b"x" * 65, False),
        (b"has space", False),
        (b"13812345678\n", False),
        ("张三".encode(), False),
        (b"", False),
    ],
)
def test_request_id_is_the_callers_only_when_safe(header: bytes, kept: bool) -> None:
    request_id = request_id_from({"headers": [(b"x-request-id", header)]})
    assert (request_id == header.decode("utf-8", "replace")) is kept
    assert 1 <= len(request_id) <= 64


async def test_the_request_id_is_on_every_log_line_of_the_request(capsys) -> None:  # type: ignore[no-untyped-def]
    configure_logging("access-test", level="DEBUG", json=True)
    try:
        before = _count("/parties/{party_id}/notes", "200")
        async with _client() as client:
            r = await client.get(
                "/parties/13900001111/notes?name=王小明", headers={"X-Request-ID": "rid-1"}
            )
            assert r.status_code == 200 and r.headers["x-request-id"] == "rid-1"
            await client.get("/healthz")
            failed = await client.get("/boom")
        out = capsys.readouterr().out
    finally:
        structlog.reset_defaults()
    assert failed.status_code == 500 and "x-request-id" in failed.headers
    assert failed.headers["content-type"] == "application/problem+json"
    assert _count("/parties/{party_id}/notes", "200") == before + 1
    assert _count("/boom", "500") >= 1
    lines = [json.loads(x) for x in out.splitlines() if x.startswith("{")]
    mine = [x for x in lines if x.get("request_id") == "rid-1"]
    assert [x["event"] for x in mine] == ["reading notes", "http request"]
    assert mine[1]["route"] == "/parties/{party_id}/notes" and mine[1]["level"] == "info"
    assert "13900001111" not in out and "王小明" not in out and "13812345678" not in out
    [probe] = [x for x in lines if x.get("route") == "/healthz"]
    assert probe["level"] == "debug"
    [boom_line] = [x for x in lines if x.get("route") == "/boom" and x["event"] == "http request"]
    assert boom_line["status"] == 500 and boom_line["level"] == "warning"
    assert boom_line["error"] == "RuntimeError"
