"""Observability of a real service process over real HTTP: RED metrics per route template,
the access log with its request id and no personal data, and one /metrics for several
uvicorn workers (Prometheus multiprocess mode)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from tests.support.fixtures import wait_until
from tests.support.processes import free_port

pytestmark = [pytest.mark.integration, pytest.mark.long]

UNIT_ROUTE = 'route="/units/{unit_id}"'


def series(text: str, name: str, *fragments: str) -> float:
    """The sum of the samples of ``name`` whose labels contain every fragment."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f in line for f in fragments):
            total += float(line.rsplit(" ", 1)[1])
    return total


def log_lines(path: Path) -> list[dict[str, object]]:
    lines = []
    for raw in path.read_text(errors="replace").splitlines():
        try:
            lines.append(json.loads(raw))
        except ValueError:
            continue
    return lines


async def test_requests_are_counted_per_route_template_and_logged_with_a_request_id(
    create_database,
    services,
    staff_auth,  # type: ignore[no-untyped-def]
) -> None:
    billing = services("billing", await create_database("billing")).start()
    async with httpx.AsyncClient(base_url=billing.url, timeout=10, auth=staff_auth) as http:
        for unit_id in ("u-does-not-exist", "u-nor-this-one"):
            assert (await http.get(f"/units/{unit_id}")).status_code == 404
        # A phone number and a name in the path and the query: never in a log line or a label.
        tagged = await http.get(
            "/units/13812345678",
            params={"owner_name": "张三丰", "phone": "13912345678"},
            headers={"X-Request-ID": "req-7f3a.9:b_c"},
        )
        assert tagged.status_code == 404
        assert tagged.headers["x-request-id"] == "req-7f3a.9:b_c"
        # An id that is not safe to log is replaced by a new one.
        unsafe = await http.get("/healthz", headers={"X-Request-ID": "a b<script>" + "x" * 80})
        assert re.fullmatch(r"[0-9a-f]{32}", unsafe.headers["x-request-id"])
        assert (await http.get("/no/such/path")).status_code == 404
        text = (await http.get("/metrics")).text

    assert series(text, "propfee_http_requests_total", UNIT_ROUTE, 'status="404"') == 3
    assert series(text, "propfee_http_requests_total", 'route="<unmatched>"') == 1
    assert series(text, "propfee_http_request_duration_seconds_count", UNIT_ROUTE) == 3
    assert series(text, "propfee_http_requests_total", 'route="/healthz"', 'status="200"') >= 1
    for raw in ("u-does-not-exist", "13812345678", "no/such"):
        assert raw not in text

    billing.stop()
    log = billing.log_path.read_text()
    for personal in ("13812345678", "13912345678", "张三丰", "owner_name"):
        assert personal not in log
    [line] = [
        x
        for x in log_lines(billing.log_path)
        if x.get("event") == "http request" and x.get("request_id") == "req-7f3a.9:b_c"
    ]
    assert line["method"] == "GET" and line["route"] == "/units/{unit_id}"
    assert line["status"] == 404 and isinstance(line["duration_ms"], float)
    assert line["service"] == "billing" and line["level"] == "info"


async def test_two_workers_answer_the_same_totals_whichever_answers_the_scrape(
    create_database,
    services,
    staff_auth,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    # Left by an earlier run: unreadable, so a scrape would fail unless the dir is emptied.
    (metrics_dir / "counter_424242.db").write_bytes(b"not a metrics file")
    billing = services("billing", await create_database("billing"), HTTP_WORKERS="2")
    billing.env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    billing.start(timeout=180)  # two interpreters start on a busy machine
    n = 30

    async def one(i: int) -> None:
        # A connection per request: the kernel hands them to either worker.
        async with httpx.AsyncClient(base_url=billing.url, timeout=10, auth=staff_auth) as http:
            assert (await http.get(f"/units/u-{i}")).status_code == 404

    await asyncio.gather(*(one(i) for i in range(n)))
    # Scrape (a new connection each time) until each worker has answered at least two
    # scrapes: every answer says n.
    totals = set()
    for _ in range(60):
        async with httpx.AsyncClient(base_url=billing.url, timeout=10) as http:
            r = await http.get("/metrics")
        assert r.status_code == 200
        totals.add(series(r.text, "propfee_http_requests_total", UNIT_ROUTE, 'status="404"'))
        assert re.search(r"^propfee_ready 1\.0$", r.text, re.M), r.text
        scrapes = [routes.get("/metrics", 0) for routes in per_process(metrics_dir).values()]
        if len(scrapes) == 2 and min(scrapes) >= 2:
            break
    else:
        raise AssertionError(f"one worker answered every scrape: {per_process(metrics_dir)}")
    assert totals == {n}

    # One worker runs the consumers; its lag reaches /metrics whichever worker answers.
    async def lag_reported() -> bool:
        async with httpx.AsyncClient(base_url=billing.url, timeout=10) as http:
            text = (await http.get("/metrics")).text
        return 'propfee_consumer_lag{group="billing"' in text

    await wait_until(lag_reported, timeout=60, interval=1)

    async with httpx.AsyncClient(base_url=billing.url, timeout=10) as http:
        one = await http.get("/metrics", params={"name[]": "propfee_outbox_pending"})
    assert [x for x in one.text.splitlines() if not x.startswith("#")] == [
        "propfee_outbox_pending 0.0"
    ]

    workers = [x for x in log_lines(billing.log_path) if x.get("event") == "HTTP worker"]
    assert len({w["pid"] for w in workers}) == 2
    assert sorted(bool(w["background_work"]) for w in workers) == [False, True]

    # SIGKILL the worker running the consumers: uvicorn starts another, which takes the lock;
    # what the dead one counted still counts.
    [background] = [int(str(w["pid"])) for w in workers if w["background_work"]]
    os.kill(background, signal.SIGKILL)

    async def replaced() -> bool:
        lines = [x for x in log_lines(billing.log_path) if x.get("event") == "HTTP worker"]
        return any(x["background_work"] and x["pid"] != background for x in lines[2:])

    await wait_until(replaced, timeout=120, interval=1)

    async def all_ready() -> bool:  # propfee_ready: the live workers' min (a booting one is 0)
        async with httpx.AsyncClient(base_url=billing.url, timeout=10) as http:
            text = (await http.get("/metrics")).text
        return bool(re.search(r"^propfee_ready 1\.0$", text, re.M))

    await wait_until(all_ready, timeout=120, interval=1)
    for _ in range(4):
        async with httpx.AsyncClient(base_url=billing.url, timeout=10) as http:
            text = (await http.get("/metrics")).text
        assert series(text, "propfee_http_requests_total", UNIT_ROUTE, 'status="404"') == n
    assert billing.stop_gracefully()


def per_process(directory: Path) -> dict[str, dict[str, float]]:
    """Each worker's own requests by route, from its file in the metrics directory."""
    found: dict[str, dict[str, float]] = {}
    for file in directory.glob("counter_*.db"):
        routes: dict[str, float] = {}
        for metric in MultiProcessCollector.merge([str(file)], accumulate=False):
            for sample in metric.samples:
                if sample.name == "propfee_http_requests_total":
                    route = sample.labels["route"]
                    routes[route] = routes.get(route, 0) + sample.value
        found[file.stem.rsplit("_", 1)[1]] = routes
    return found


async def test_metrics_answer_at_once_while_the_database_and_kafka_do_not(
    services,  # type: ignore[no-untyped-def]
) -> None:
    """Two workers, no PROMETHEUS_MULTIPROC_DIR (a temporary one is made and removed), and
    nothing to connect to: the probes and /metrics still answer, promptly, not ready."""
    nowhere = free_port()
    billing = services(
        "billing", f"postgresql://propfee:propfee@127.0.0.1:{nowhere}/none", HTTP_WORKERS="2"
    )
    billing.env["KAFKA_BOOTSTRAP_SERVERS"] = f"127.0.0.1:{nowhere}"
    billing.env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    billing.start(wait=False)

    async def alive() -> bool:
        try:
            async with httpx.AsyncClient(base_url=billing.url, timeout=2) as http:
                return (await http.get("/healthz")).status_code == 200
        except httpx.HTTPError:
            return False

    await wait_until(alive, timeout=180, interval=0.5)
    for _ in range(4):
        async with httpx.AsyncClient(base_url=billing.url, timeout=10) as http:
            started = time.monotonic()
            r = await http.get("/metrics")
            assert r.status_code == 200 and time.monotonic() - started < 5
            assert re.search(r"^propfee_ready 0\.0$", r.text, re.M), r.text
            assert (await http.get("/readyz")).status_code == 503
    [line] = [x for x in log_lines(billing.log_path) if x.get("event") == "starting HTTP workers"]
    directory = str(line["metrics_dir"])
    assert exists(directory)
    billing.stop()
    assert not exists(directory)


def exists(path: str) -> bool:
    return Path(path).exists()
