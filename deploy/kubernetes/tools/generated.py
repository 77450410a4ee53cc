"""The command line every generator of a committed chart file shares: write the file, or with
``--check`` exit 1 when the committed one differs from what the generator renders now."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def write_or_check(
    output: Path, text: str, *, what: str, script: str, argv: list[str] | None = None
) -> int:
    parser = argparse.ArgumentParser(description=f"Generate {output.name} ({what}).")
    parser.add_argument("--check", action="store_true", help="exit 1 when the file is stale")
    args = parser.parse_args(argv)
    if args.check:
        if not output.exists() or output.read_text() != text:
            print(f"{output} is stale: run {Path(script).name}", file=sys.stderr)
            return 1
        return 0
    output.write_text(text)
    print(f"wrote {output} ({what})")
    return 0
