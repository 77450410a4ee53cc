from payments.app import create_app
from payments.settings import PaymentsSettings
from propfee.cli import run_service


def main() -> None:
    run_service(package="payments", settings_factory=PaymentsSettings, app_factory=create_app)


if __name__ == "__main__":
    main()
