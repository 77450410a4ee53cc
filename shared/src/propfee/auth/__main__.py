"""``python -m propfee.auth keygen|mint``: the local development issuer's command line.

python -m propfee.auth keygen [--dir .local/auth]
python -m propfee.auth mint --sub alice --role finance --company co1 --community c1 [--ttl 3600]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from propfee.auth.dev import DevIssuer
from propfee.auth.principal import ALL
from propfee.auth.roles import Role
from propfee.auth.settings import DEFAULT_DEV_DIR


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m propfee.auth")
    sub = parser.add_subparsers(dest="command", required=True)
    keygen = sub.add_parser("keygen", help="create the dev key pair and jwks.json (idempotent)")
    keygen.add_argument("--dir", type=Path, default=DEFAULT_DEV_DIR)
    keygen.add_argument("--alg", choices=["RS256", "ES256"], default="RS256")
    mint = sub.add_parser("mint", help="print a token signed by the dev issuer")
    mint.add_argument("--dir", type=Path, default=DEFAULT_DEV_DIR)
    mint.add_argument("--sub", required=True, help="the subject (a staff id or a job name)")
    mint.add_argument(
        "--role", action="append", required=True, choices=[r.value for r in Role], dest="roles"
    )
    mint.add_argument("--company", required=True)
    mint.add_argument(
        "--community",
        action="append",
        dest="communities",
        help='a community the token may see (repeatable); omitted: all ("*")',
    )
    mint.add_argument("--ttl", type=int, default=3600, help="seconds until it expires")
    args = parser.parse_args(argv)
    if args.command == "keygen":
        issuer = DevIssuer.load_or_create(args.dir, algorithm=args.alg)
        print(
            f"dev issuer {issuer.issuer!r} ({issuer.algorithm}, kid {issuer.kid}): "
            f"{issuer.jwks_path}"
        )
        return 0
    issuer = DevIssuer.load_or_create(args.dir)
    communities = ALL if not args.communities or ALL in args.communities else args.communities
    print(issuer.mint(args.sub, args.roles, args.company, communities, args.ttl))
    return 0


if __name__ == "__main__":
    sys.exit(main())
