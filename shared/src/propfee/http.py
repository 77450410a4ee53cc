"""The FastAPI application every service is built on.

``create_service_app`` wires the :class:`ServiceRuntime` into the lifespan and adds
``GET /healthz`` (process alive), ``GET /readyz`` (database reachable; Kafka too for a worker) and
``GET /metrics`` (Prometheus; backlogs, ages and lags are measured at each scrape:
``propfee.measure``). Services add their own routers. Every request body is held to
``max_upload_bytes`` (413 above it, never read whole: ``propfee.uploads.BodySizeLimit``);
every request is counted, timed and logged once with its request id (``propfee.access``).
Requests are traced when the ``OTEL_*`` environment says so (``propfee.tracing``).
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ConfigDict

from propfee import measure, problems, tracing
from propfee import metrics as metric_values
from propfee.access import AccessLog
from propfee.openapi import complete, operation_id
from propfee.runtime import ServiceRuntime
from propfee.uploads import BodySizeLimit


class Health(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"status": "ok", "service": "billing"}]}
    )

    status: str
    service: str


class Readiness(BaseModel):
    """Each dependency's check: ``ok`` or what failed."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"status": "ready", "checks": {"database": "ok", "kafka": "ok"}}]
        }
    )

    status: str
    checks: dict[str, str]


#: Whether this process has frozen what its first app's startup made (``create_service_app``).
_startup_frozen = False


def get_runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


# Dependencies are ``async def``: FastAPI runs a plain ``def`` dependency in its thread pool,
# a hand-off to another thread and back on every request for a dictionary lookup.
async def get_pool(request: Request) -> asyncpg.Pool:
    """The database pool, or 503 while the service is still connecting."""
    runtime = get_runtime(request)
    if runtime.pool is None or not runtime.started.is_set():
        raise HTTPException(status_code=503, detail="service is starting; try again shortly")
    return runtime.pool


Pool = Annotated[asyncpg.Pool, Depends(get_pool)]


def create_service_app(
    runtime: ServiceRuntime,
    *,
    title: str,
    description: str,
    routers: Sequence[APIRouter] = (),
    version: str = "0.1.0",
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime.start()
        # What startup made (modules, the app, its routes and OpenAPI document, models: about
        # 100,000 objects for payments) lives as long as the process: frozen out of the cyclic
        # collector's way, a full collection no longer walks it. One took 40-180 ms on the
        # 2-core machine and stops every request in flight (issue 22: the webhooks' p99).
        # Once per process (a test run starts many apps: what they leave must stay freeable).
        global _startup_frozen
        if not _startup_frozen:
            _startup_frozen = True
            gc.collect()
            gc.freeze()
        # Several workers share /metrics: the one running the consumer refreshes its gauges.
        refresh = (
            asyncio.create_task(measure.refresh_kafka_gauges(runtime))
            if metric_values.multiprocess_dir() is not None
            else None
        )
        try:
            yield
        finally:
            if refresh is not None:
                refresh.cancel()
            await runtime.stop()
            metric_values.mark_this_process_dead()

    app = FastAPI(
        title=title,
        description=description,
        version=version,
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
        # FastAPI's own OpenTelemetry: requests are traced by propfee.tracing (it then stands
        # down by itself) and measured by propfee.access; off, it no longer looks up the
        # global providers on every request (~2% of a webhook worker's CPU).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.runtime = runtime
    tracing.instrument_app(app, runtime.name)  # OTEL_* environment; nothing when unset
    problems.install(app)
    app.add_middleware(BodySizeLimit, max_bytes=runtime.settings.max_upload_bytes)
    app.add_middleware(AccessLog)  # outermost of ours: counts the 413s too

    @app.get("/healthz", tags=["operations"], response_model=Health)
    async def healthz() -> Health:
        """The process is alive (no dependency is checked)."""
        return Health(status="ok", service=runtime.name)

    @app.get(
        "/readyz",
        tags=["operations"],
        response_model=Readiness,
        responses={503: {"description": "Not ready", "model": Readiness}},
    )
    async def readyz() -> JSONResponse:
        """The service started and its database answers: 200, else 503. A worker (outbox
        relay or consumers enabled) also needs Kafka; an API process reports Kafka's state
        but is ready without it (its events wait in the outbox)."""
        checks = await runtime.readiness()
        ready = runtime.is_ready(checks)
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks},
            status_code=200 if ready else 503,
        )

    @app.get("/metrics", tags=["operations"], include_in_schema=False)
    async def metrics(request: Request) -> Response:
        """Prometheus exposition (every worker's, in multiprocess mode);
        ``?name[]=propfee_outbox_pending`` (repeatable) answers only the named series,
        Prometheus' own convention for a cheap, frequent look."""
        names = request.query_params.getlist("name[]")
        await measure.measure_all(runtime, names)
        return Response(metric_values.exposition(names), media_type=CONTENT_TYPE_LATEST)

    for router in routers:
        app.include_router(router)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
