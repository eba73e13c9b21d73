"""Vulnerability database import and matching speed.

    python bench/bench_vuln.py --vulndata ../shared/vulndata --corpus ~/.cache/hullscan-corpus

Prints the import time and size of the whole advisory set, then, per corpus
image, how long matching its inventory takes (inventory from a warm cache, so
only matching is timed) and the findings by severity.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from pathlib import Path

from hullscan.pipeline import ScanOptions, inventory
from hullscan.vuln.matcher import match_inventory
from hullscan.vulndb import open_db
from hullscan.vulndb.build import import_paths

IMAGES = ["debian-bookworm", "debian-bullseye", "app-python", "app-node",
          "secrets-and-misconfig", "binaries", "multi-layer-big"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vulndata", type=Path, default=Path("../shared/vulndata"))
    ap.add_argument("--corpus", type=Path, default=Path.home() / ".cache" / "hullscan-corpus")
    ap.add_argument("--images", nargs="*", default=IMAGES)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="hullscan-bench-") as tmp:
        db_path = Path(tmp) / "osv.sqlite"
        start = time.perf_counter()
        stats = import_paths([args.vulndata], db_path)
        took = time.perf_counter() - start
        print(f"import: {stats.records} records in {took:.1f} s, "
              f"database {db_path.stat().st_size / 2**20:.1f} MiB")
        options = ScanOptions(cache_dir=Path(tmp) / "cache")
        print(f"{'image':24} {'packages':>8} {'match s':>8}  findings by severity")
        for image in args.images:
            ref = f"oci:{args.corpus / image / 'oci'}"
            inv = inventory(ref, options)
            with open_db(db_path) as db:
                start = time.perf_counter()
                result = match_inventory(inv, db)
                took = time.perf_counter() - start
            sev = Counter(f.severity.name for f in result.findings)
            print(f"{image:24} {len(inv.packages):8} {took:8.3f}  "
                  f"{len(result.findings)}: {dict(sorted(sev.items()))}")


if __name__ == "__main__":
    main()
