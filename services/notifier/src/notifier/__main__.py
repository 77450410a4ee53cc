from notifier.app import create_app
from notifier.settings import NotifierSettings
from propfee.cli import run_service


def main() -> None:
    run_service(package="notifier", settings_factory=NotifierSettings, app_factory=create_app)


if __name__ == "__main__":
    main()
