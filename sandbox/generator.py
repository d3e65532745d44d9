"""The seeded-firm generator: a realistic professional-services firm in every vendor's store.

:func:`seed_all` builds the firm deterministically from a seed and a size (see
:mod:`sandbox.firm`), truncates the vendor stores it is given and bulk-loads each with COPY,
streaming: time entries are generated worker by worker while COPY consumes them. The firm is
the same whichever stores are loaded. It returns the counts and the manifest of every planted
defect (:mod:`sandbox.firm.defects`).

Measure seeding time against a throwaway set of databases::

    python -m sandbox.generator --db-url postgresql://postgres@127.0.0.1:5432/postgres \\
        --time-entries 1000000 --seed 42
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sandbox.firm.billing import build_invoices
from sandbox.firm.defects import DEFECT_CLASSES, Manifest, crm_manifest, plan_defects
from sandbox.firm.kantata import kantata_records
from sandbox.firm.model import DEAL_MANDATORY_FIELDS, FirmParams, build_firm
from sandbox.firm.netsuite import netsuite_records
from sandbox.firm.reference import ENTITIES, RECEIPT_THRESHOLD_CENTS
from sandbox.firm.salesforce import salesforce_records
from sandbox.firm.timesheets import TimesheetStream
from sandbox.firm.workday import workday_records
from sandbox.store import RecordRow, VendorStore

VENDOR_NAMES = ("psa", "erp", "crm", "hcm")


@dataclass
class SeedSummary:
    """What :func:`seed_all` generated.

    Attributes:
        params: the parameters and the dates derived from them (JSON-serialisable).
        counts: vendor → record type → rows loaded (loaded vendors only).
        manifest: one entry per planted defect.
        seconds: vendor → seconds spent generating and loading it.
    """

    params: dict[str, Any]
    counts: dict[str, dict[str, int]]
    manifest: list[dict[str, Any]]
    seconds: dict[str, float] = field(default_factory=dict)


def _counted(rows: Iterable[RecordRow], counts: collections.Counter[str]) -> Iterator[RecordRow]:
    for row in rows:
        counts[row.type] += 1
        yield row


def seed_all(
    stores: dict[str, VendorStore],
    *,
    seed: int = 42,
    time_entries: int = 5000,
    period: str = "2026-10",
    defects_per_class: int = 3,
) -> SeedSummary:
    """Generate the firm and load it into the given vendor stores (truncating them first).

    Args:
        stores: vendor name (``psa``, ``erp``, ``crm``, ``hcm``) → store; any subset.
        seed: the seed; the same seed and size give byte-identical data.
        time_entries: about how many PSA time entries to generate (the firm scales with it).
        period: the month of time entries (``YYYY-MM``); the month before is the closed one.
        defects_per_class: how many defects of each class to plant.

    Returns:
        The parameters, the counts loaded and the manifest of planted defects.

    Raises:
        TypeError: a parameter of the wrong type (or an unknown keyword argument).
        ValueError: a parameter out of range, or an unknown vendor in ``stores``.
    """
    unknown = sorted(set(stores) - set(VENDOR_NAMES))
    if unknown:
        raise ValueError(f"unknown vendor stores {unknown}; expected some of {list(VENDOR_NAMES)}")
    params = FirmParams.parse(
        seed=seed, time_entries=time_entries, period=period, defects_per_class=defects_per_class
    )
    firm = build_firm(params)
    manifest = Manifest()
    crm_manifest(firm, manifest)
    invoices = build_invoices(firm)
    stream = TimesheetStream(firm, plan_defects(firm), manifest)
    records = {
        "psa": lambda: kantata_records(firm, invoices, stream),
        "erp": lambda: netsuite_records(firm, invoices),
        "crm": lambda: salesforce_records(firm),
        "hcm": lambda: workday_records(firm),
    }
    counts: dict[str, dict[str, int]] = {}
    seconds: dict[str, float] = {}
    for vendor in VENDOR_NAMES:
        started = time.perf_counter()
        if vendor in stores:
            store = stores[vendor]
            store.truncate()
            per_type: collections.Counter[str] = collections.Counter()
            store.copy_records(_counted(records[vendor](), per_type))
            counts[vendor] = dict(sorted(per_type.items()))
        elif vendor == "psa":
            # The PSA's planted records get their ids while streaming: the manifest needs them.
            collections.deque(records[vendor](), maxlen=0)
        seconds[vendor] = round(time.perf_counter() - started, 3)
    return SeedSummary(
        params={
            "seed": seed,
            "time_entries": time_entries,
            "period": period,
            "defects_per_class": defects_per_class,
            "as_of": params.as_of.isoformat(),
            "closed_period": params.closed_start.strftime("%Y-%m"),
            "receipt_threshold": f"{RECEIPT_THRESHOLD_CENTS / 100:.2f}",
            "deal_mandatory_fields": list(DEAL_MANDATORY_FIELDS),
            "defect_classes": [d.name for d in DEFECT_CLASSES],
            "legal_entities": [
                {"code": e.code, "currency": e.currency, "time_zone": e.time_zone} for e in ENTITIES
            ],
        },
        counts=counts,
        manifest=manifest.entries(),
        seconds=seconds,
    )


def _vendor_ddl(name: str) -> str:
    """The vendor service's own indexes, so seeding is timed as the sandbox runs it."""
    from sandbox.vendor import load_vendor  # noqa: PLC0415 - imports FastAPI apps

    try:
        return load_vendor(name).ddl
    except ImportError:
        print(f"note: sandbox service {name!r} is not importable; timing without its indexes")
        return ""


def main(argv: list[str] | None = None) -> int:
    """Seed a throwaway set of vendor databases and print counts and timings."""
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.generator", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--db-url",
        default=os.environ.get("PS_SYNC_SANDBOX_DB_URL") or os.environ.get("PS_SYNC_DB_URL"),
        help="PostgreSQL server (any database on it)",
    )
    parser.add_argument("--time-entries", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--period", default="2026-10")
    parser.add_argument("--defects-per-class", type=int, default=3)
    parser.add_argument("--vendors", default=",".join(VENDOR_NAMES), help="e.g. psa,hcm")
    parser.add_argument("--prefix", help="database name prefix (default: a unique one)")
    parser.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    args = parser.parse_args(argv)
    if not args.db_url:
        parser.error("pass --db-url or set PS_SYNC_SANDBOX_DB_URL")
    prefix = args.prefix or f"sandbox_gen_{uuid.uuid4().hex[:8]}"
    names = [v for v in args.vendors.split(",") if v]
    stores = {n: VendorStore(args.db_url, prefix, n, _vendor_ddl(n)) for n in names}
    try:
        for store in stores.values():
            store.ensure()
        started = time.perf_counter()
        summary = seed_all(
            stores,
            seed=args.seed,
            time_entries=args.time_entries,
            period=args.period,
            defects_per_class=args.defects_per_class,
        )
        seeded = time.perf_counter() - started
        snap_started = time.perf_counter()
        for store in stores.values():
            store.snapshot_seed()
        snapshot = time.perf_counter() - snap_started
        for vendor, per_type in summary.counts.items():
            total = sum(per_type.values())
            print(f"{vendor}: {total:,} rows in {summary.seconds[vendor]:.1f} s")
            for rtype, n in per_type.items():
                print(f"    {rtype:<28} {n:>10,}")
        rows = sum(sum(c.values()) for c in summary.counts.values())
        print(f"defects planted: {len(summary.manifest)}")
        print(
            f"seed_all: {seeded:.1f} s ({rows / seeded:,.0f} rows/s); "
            f"snapshot: {snapshot:.1f} s; total {seeded + snapshot:.1f} s"
        )
    finally:
        if not args.keep:
            for store in stores.values():
                store.drop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
