"""The command line every service shares: ``python -m <service> [serve|migrate|openapi]``."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Callable

import uvicorn
from fastapi import FastAPI

from propfee.db import migrate_database
from propfee.logging import configure_logging
from propfee.settings import ServiceSettings


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
