"""Measure the sandbox: seeding time and HTTP serving throughput of the PSA's time entries.

    python -m sandbox.measure --time-entries 100000 [--db-url URL] [--per-page 200]

Seeds a throwaway sandbox (its own databases, dropped afterwards), starts it as a real process,
then pages through every time entry over HTTP the way a connector does (bearer auth,
``per_page`` = the API maximum) and prints the seeding time, pages/s and records/s.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid

import httpx

from sandbox.testing import start_sandbox


def page_through(base_url: str, token: str, per_page: int) -> tuple[int, int, float]:
    """Read every time entry page by page; return (records, pages, seconds)."""
    records = pages = 0
    started = time.perf_counter()
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=60) as client:
        page = 1
        while True:
            body = client.get(
                "/api/v1/time_entries.json", params={"page": page, "per_page": per_page}
            ).json()
            records += len(body["results"])
            pages += 1
            if page >= body["meta"]["page_count"]:
                break
            page += 1
    return records, pages, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    """Seed, serve, page through, report."""
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.measure", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--time-entries", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--per-page", type=int, default=200)
    parser.add_argument("--db-url", default=os.environ.get("PS_SYNC_DB_URL"))
    args = parser.parse_args(argv)
    if not args.db_url:
        parser.error("pass --db-url or set PS_SYNC_DB_URL")
    prefix = f"sandbox_measure_{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    proc = start_sandbox(
        args.db_url,
        prefix,
        seed={"seed": args.seed, "time_entries": args.time_entries},
        timeout=3600,
    )
    try:
        info = proc.admin("GET", "/seed-info")
        startup = time.perf_counter() - started
        psa = proc.vendors()["psa"]
        records, pages, seconds = page_through(
            psa["base_url"], psa["credentials"]["token"], args.per_page
        )
        result = {
            "time_entries_requested": args.time_entries,
            "time_entries_served": records,
            "seed_seconds": info["seconds"],
            "startup_seconds_incl_seed": round(startup, 1),
            "pages": pages,
            "per_page": args.per_page,
            "serve_seconds": round(seconds, 2),
            "pages_per_second": round(pages / seconds, 1),
            "records_per_second": round(records / seconds),
        }
        print(json.dumps(result, indent=2))
    finally:
        proc.stop()
        proc.drop_databases(args.db_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
