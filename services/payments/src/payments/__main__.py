import sys

import uvicorn
from fastapi import FastAPI

from payments.app import create_app
from payments.settings import PaymentsSettings
from propfee.cli import run_service
from propfee.logging import configure_logging


def worker_app() -> FastAPI:
    """The app of one uvicorn worker process (``PAYMENTS_HTTP_WORKERS`` > 1)."""
    settings = PaymentsSettings()
    configure_logging(settings.service_name, level=settings.log_level, json=settings.log_json)
    return create_app(settings)


def main() -> None:
    settings = PaymentsSettings()
    if settings.http_workers > 1 and sys.argv[1:] in ([], ["serve"]):
        # uvicorn starts N processes on one socket; each builds its app from the environment.
        configure_logging(settings.service_name, level=settings.log_level, json=settings.log_json)
        uvicorn.run(
            "payments.__main__:worker_app",
            factory=True,
            workers=settings.http_workers,
            host=settings.http_host,
            port=settings.http_port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=int(settings.shutdown_timeout_s),
        )
        return
    run_service(package="payments", settings_factory=PaymentsSettings, app_factory=create_app)


if __name__ == "__main__":
    main()
