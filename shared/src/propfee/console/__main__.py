"""``python -m propfee.console serve``: the console and its API proxy on one origin."""

from __future__ import annotations

import sys

import uvicorn

from propfee.console import ConsoleSettings, create_app


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] != ["serve"]:
        print("usage: python -m propfee.console serve", file=sys.stderr)
        return 2
    settings = ConsoleSettings()
    uvicorn.run(
        create_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_level="warning",
        access_log=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
