from billing.app import create_app
from billing.settings import BillingSettings
from propfee.cli import run_service


def main() -> None:
    run_service(package="billing", settings_factory=BillingSettings, app_factory=create_app)


if __name__ == "__main__":
    main()
