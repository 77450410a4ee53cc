from dunning.app import create_app
from dunning.settings import DunningSettings
from propfee.cli import run_service


def main() -> None:
    run_service(package="dunning", settings_factory=DunningSettings, app_factory=create_app)


if __name__ == "__main__":
    main()
