from payments.app import create_app
from payments.settings import PaymentsSettings
from propfee.cli import run_service


def main() -> None:
    # PAYMENTS_HTTP_WORKERS > 1: several uvicorn processes on one port (propfee.cli).
    run_service(package="payments", settings_factory=PaymentsSettings, app_factory=create_app)


if __name__ == "__main__":
    main()
