"""The command line every service shares: ``python -m <service> [serve|migrate|openapi]``.

``serve`` with ``<SVC>_HTTP_WORKERS`` > 1 runs that many uvicorn worker processes on the one
port (uvicorn restarts one that dies). Each builds its app from the environment
(:func:`worker_app`). They share ``/metrics`` through prometheus_client's multiprocess mode:
the directory is ``PROMETHEUS_MULTIPROC_DIR`` when set (an emptyDir in Kubernetes), else a new
temporary one, emptied before the workers start (``propfee.metrics``).

Background work (outbox relay, consumers, notifier's dispatcher, dunning's sweep timer) runs in
ONE of the workers, the one holding a file lock in that directory; the others serve HTTP only
(``ServiceSettings.BACKGROUND_OFF``). Replicas would be safe, but several in one pod would
multiply what is per process: the providers' token buckets (notifier), the consumer group's
members (rebalances), connections. When the lock holder dies, uvicorn's replacement worker
takes the lock (the kernel releases it with the process).
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import fcntl
import importlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from propfee import metrics
from propfee.db import migrate_database
from propfee.logging import configure_logging, get_logger
from propfee.settings import ServiceSettings

log = get_logger(__name__)

_WORKER_SETTINGS = "PROPFEE_WORKER_SETTINGS"
_WORKER_APP = "PROPFEE_WORKER_APP"
_BACKGROUND_LOCK = "background.lock"
#: The open lock file of the worker that runs background work (held until the process ends).
_background_lock: int | None = None


def run_service(
    *,
    package: str,
    settings_factory: Callable[[], ServiceSettings],
    app_factory: Callable[[ServiceSettings], FastAPI],
    argv: list[str] | None = None,
) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m {package}")
    parser.add_argument(
        "command",
        nargs="?",
        default="serve",
        choices=["serve", "migrate", "openapi"],
        help="serve (default): run the service; migrate: apply migrations and exit; "
        "openapi: print the OpenAPI document",
    )
    args = parser.parse_args(argv)
    settings = settings_factory()
    configure_logging(settings.service_name, level=settings.log_level, json=settings.log_json)
    if args.command == "migrate":
        applied = asyncio.run(
            migrate_database(settings.database_url, package, migration_url=settings.migration_url)
        )
        print(f"{package}: {len(applied)} migration(s) applied")
        return
    if args.command == "serve" and settings.http_workers > 1:
        serve_workers(settings, settings_factory=settings_factory, app_factory=app_factory)
        return
    app = app_factory(settings)
    if args.command == "openapi":
        print(json.dumps(app.openapi(), indent=2, ensure_ascii=False))
        return
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_timeout_s),
    )


def _import_path(obj: Callable[..., Any]) -> str:
    return f"{obj.__module__}:{obj.__qualname__}"


def _load(path: str) -> Any:
    module, _, name = path.partition(":")
    target: Any = importlib.import_module(module)
    for part in name.split("."):
        target = getattr(target, part)
    return target


def serve_workers(
    settings: ServiceSettings,
    *,
    settings_factory: Callable[[], ServiceSettings],
    app_factory: Callable[[ServiceSettings], FastAPI],
) -> None:
    """``settings.http_workers`` uvicorn processes on one port, sharing ``/metrics``."""
    directory = metrics.multiprocess_dir()
    if directory is None:  # this process is not in multiprocess mode; its workers will be
        directory = Path(tempfile.mkdtemp(prefix=f"propfee-{settings.service_name}-metrics-"))
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
    metrics.prepare_multiprocess_dir(directory)
    os.environ[_WORKER_SETTINGS] = _import_path(settings_factory)
    os.environ[_WORKER_APP] = _import_path(app_factory)
    log.info("starting HTTP workers", workers=settings.http_workers, metrics_dir=str(directory))
    uvicorn.run(
        "propfee.cli:worker_app",
        factory=True,
        workers=settings.http_workers,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_timeout_s),
    )


def holds_background_lock(directory: Path) -> bool:
    """Take the pod's background lock if free; True while this process holds it."""
    global _background_lock
    if _background_lock is not None:
        return True
    fd = os.open(directory / _BACKGROUND_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return False
    _background_lock = fd
    return True


def worker_app() -> FastAPI:
    """The app of one uvicorn worker (``serve`` with several workers), built from the
    environment; background work only in the worker holding the lock."""
    settings_factory: Callable[[], ServiceSettings] = _load(os.environ[_WORKER_SETTINGS])
    app_factory: Callable[[ServiceSettings], FastAPI] = _load(os.environ[_WORKER_APP])
    settings = settings_factory()
    configure_logging(settings.service_name, level=settings.log_level, json=settings.log_json)
    directory = metrics.multiprocess_dir()
    background = directory is not None and holds_background_lock(directory)
    if not background:
        settings = settings.model_copy(update=settings.BACKGROUND_OFF)
    log.info("HTTP worker", pid=os.getpid(), background_work=background)
    return app_factory(settings)
