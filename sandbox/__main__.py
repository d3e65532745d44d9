"""Command line: ``python -m sandbox serve | drop``.

``serve`` starts every vendor service and the admin API on loopback ports, seeding the firm
first when the sandbox databases are empty, and writes the URLs to ``--state-file``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ps_sync.localpg import repo_root


def _server_url(arg: str | None) -> str:
    url = arg or os.environ.get("PS_SYNC_SANDBOX_DB_URL") or os.environ.get("PS_SYNC_DB_URL")
    if not url:
        raise SystemExit(
            "error: no PostgreSQL server for the sandbox; pass --db-url or set "
            "PS_SYNC_SANDBOX_DB_URL (or PS_SYNC_DB_URL, whose server is then shared)"
        )
    return url


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run the command."""
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the vendor APIs and the admin API")
    serve.add_argument("--db-url", help="PostgreSQL server for the vendor databases")
    serve.add_argument("--prefix", default="sandbox", help="database name prefix (default sandbox)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument(
        "--port",
        action="append",
        default=[],
        metavar="NAME=PORT",
        help="fixed port for a vendor or admin, e.g. psa=8101 (default: free ports)",
    )
    serve.add_argument(
        "--state-file", type=Path, default=repo_root() / ".local" / "sandbox" / "state.json"
    )
    serve.add_argument(
        "--seed",
        default="{}",
        metavar="JSON",
        help="generator parameters used when the databases are empty, e.g. '{\"seed\": 42}'",
    )
    serve.add_argument("--no-seed", action="store_true", help="start empty")
    serve.add_argument(
        "--vendors", help="comma-separated subset to serve, e.g. psa,erp (default all)"
    )
    drop = sub.add_parser("drop", help="drop the sandbox databases")
    drop.add_argument("--db-url")
    drop.add_argument("--prefix", default="sandbox")
    args = parser.parse_args(argv)

    if args.command == "serve":
        from sandbox.server import serve as run  # noqa: PLC0415

        ports = {k: int(v) for k, v in (p.split("=", 1) for p in args.port)}
        run(
            _server_url(args.db_url),
            prefix=args.prefix,
            host=args.host,
            ports=ports,
            state_file=args.state_file,
            seed=None if args.no_seed else json.loads(args.seed),
            vendors=args.vendors.split(",") if args.vendors else None,
        )
    else:
        from sandbox.store import VendorStore  # noqa: PLC0415
        from sandbox.vendor import VENDORS  # noqa: PLC0415

        for name in [*VENDORS, "admin"]:
            VendorStore(_server_url(args.db_url), args.prefix, name).drop()
        print(f"dropped the {args.prefix}_* databases")
    return 0


if __name__ == "__main__":
    sys.exit(main())
