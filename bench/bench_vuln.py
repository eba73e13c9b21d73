"""Vulnerability database import and matching speed.

    python bench/bench_vuln.py --vulndata ../shared/vulndata --corpus ~/.cache/hullscan-corpus
    python bench/bench_vuln.py --synthetic 300000 --images

Prints the import time, peak memory and size of the whole advisory set with CISA's
KEV catalog and an EPSS file of the real size (one row per CVE known to the data,
padded to 300,000 rows like FIRST's daily file); then, per corpus image, how long
matching its inventory takes with KEV and EPSS loaded (inventory from a warm cache,
so only matching is timed) and the findings by severity. ``--synthetic N`` also
imports an N-record export in the shape of OSV's Debian export (DEBIAN-CVE records
naming the CVE in ``upstream``, three releases each, urgency, open issues).
"""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing
import random
import re
import resource
import tempfile
import time
import zipfile
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from hullscan.pipeline import ScanOptions, inventory
from hullscan.vuln.matcher import match_inventory
from hullscan.vulndb import open_db
from hullscan.vulndb.build import import_paths

IMAGES = [
    "debian-bookworm",
    "debian-bullseye",
    "app-python",
    "app-node",
    "secrets-and-misconfig",
    "binaries",
    "multi-layer-big",
]
EPSS_ROWS = 300_000
URGENCIES = ["unimportant", "low", "medium", "high", "not yet assigned"]


def synthetic_debian_export(path: Path, n: int) -> None:
    """``n`` records shaped like OSV's DEBIAN-CVE export (about 1.5 KB of JSON each)."""
    rnd = random.Random(n)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for i in range(n):
            cve = f"CVE-{2000 + i % 26}-{100000 + i}"
            src = f"pkg{i % 4000}"
            affected: list[dict[str, Any]] = []
            for release, codename in ((11, "bullseye"), (12, "bookworm"), (13, "trixie")):
                entry: dict[str, Any] = {
                    "package": {
                        "name": src,
                        "ecosystem": f"Debian:{release}",
                        "purl": f"pkg:deb/debian/{src}?arch=source&distro={codename}",
                    },
                    "ecosystem_specific": {"urgency": rnd.choice(URGENCIES)},
                    "database_specific": {
                        "source": "https://storage.googleapis.com/debian-osv/"
                        f"debian-cve-osv/DEBIAN-{cve}.json"
                    },
                }
                if rnd.random() < 0.2:  # open: introduced 0 and the versions
                    entry["ranges"] = [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]
                    entry["versions"] = [f"1.{j}-{release}" for j in range(3)]
                else:
                    entry["ranges"] = [
                        {
                            "type": "ECOSYSTEM",
                            "events": [
                                {"introduced": "0"},
                                {"fixed": f"1.{i % 9}-{release}+deb{release}u1"},
                            ],
                        }
                    ]
                affected.append(entry)
            record = {
                "schema_version": "1.9.0",
                "id": f"DEBIAN-{cve}",
                "upstream": [cve],
                "modified": "2026-09-12T11:00:05.986201214Z",
                "published": "2026-09-09T14:17:10.327Z",
                "details": f"A flaw in {src} allows a remote attacker to cause a denial "
                "of service or possibly execute arbitrary code.",
                "affected": affected,
                "references": [
                    {
                        "type": "ADVISORY",
                        "url": f"https://security-tracker.debian.org/tracker/{cve}",
                    }
                ],
            }
            z.writestr(f"DEBIAN-{cve}.json", json.dumps(record))


def epss_file(path: Path, cves: list[str]) -> Path:
    """An EPSS file of FIRST's format and size: the given CVEs, padded to EPSS_ROWS."""
    rnd = random.Random(0)
    rows = list(dict.fromkeys(cves))[:EPSS_ROWS]
    rows += [f"CVE-1999-{i:07d}" for i in range(EPSS_ROWS - len(rows))]
    lines = ["#model_version:v2025.03.14,score_date:2025-09-03T12:55:00Z", "cve,epss,percentile"]
    lines += [f"{c},{rnd.random() ** 8:.5f},{rnd.random():.5f}" for c in rows]
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    return path


def _import(paths: list[Path], db: Path) -> tuple[float, int, int]:
    start = time.perf_counter()
    stats = import_paths(paths, db)
    return (
        time.perf_counter() - start,
        stats.records,
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    )


def timed_import(label: str, paths: list[Path], db: Path) -> None:
    """Import in a fresh child process, so its peak memory is the import's alone."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        took, records, rss_kb = pool.submit(_import, paths, db).result()
    print(
        f"import {label}: {records} records in {took:.1f} s, peak RSS {rss_kb / 1024:.0f} MiB, "
        f"database {db.stat().st_size / 2**20:.1f} MiB"
    )


def all_cves(db_path: Path) -> list[str]:
    import sqlite3

    with sqlite3.connect(db_path) as conn:
        rows = conn.execute(
            "SELECT alias FROM aliases WHERE alias LIKE 'CVE-%' UNION "
            "SELECT id FROM advisories WHERE id LIKE 'CVE-%'"
        ).fetchall()
    return sorted(r[0] for r in rows if re.fullmatch(r"CVE-\d{4}-\d{4,}", r[0]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vulndata", type=Path, default=Path("../shared/vulndata"))
    ap.add_argument(
        "--kev", type=Path, default=Path("../shared/kev/known_exploited_vulnerabilities.json")
    )
    ap.add_argument("--corpus", type=Path, default=Path.home() / ".cache" / "hullscan-corpus")
    ap.add_argument("--images", nargs="*", default=IMAGES)
    ap.add_argument(
        "--synthetic",
        type=int,
        default=0,
        metavar="N",
        help="also import an N-record export shaped like OSV's Debian one",
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="hullscan-bench-") as tmp_name:
        tmp = Path(tmp_name)
        if args.synthetic:
            export = tmp / "Debian" / "all.zip"
            export.parent.mkdir()
            synthetic_debian_export(export, args.synthetic)
            print(
                f"synthetic export: {args.synthetic} records, "
                f"{export.stat().st_size / 2**20:.0f} MiB zip"
            )
            timed_import("synthetic", [export], tmp / "synthetic.sqlite")
        db_path = tmp / "osv.sqlite"
        timed_import("vulndata", [args.vulndata], db_path)
        epss = epss_file(tmp / "epss_scores-current.csv.gz", all_cves(db_path))
        timed_import("KEV + EPSS", [args.kev, epss], db_path)
        options = ScanOptions(cache_dir=tmp / "cache")
        print(f"{'image':24} {'packages':>8} {'match s':>8}  {'KEV':>3}  findings by severity")
        for image in args.images:
            ref = f"oci:{args.corpus / image / 'oci'}"
            inv = inventory(ref, options)
            with open_db(db_path) as db:
                start = time.perf_counter()
                result = match_inventory(inv, db)
                took = time.perf_counter() - start
            sev = Counter(f.severity.name for f in result.findings)
            kev = sum(1 for f in result.findings if f.kev)
            print(
                f"{image:24} {len(inv.packages):8} {took:8.3f}  {kev:3}  "
                f"{len(result.findings)}: {dict(sorted(sev.items()))}"
            )


if __name__ == "__main__":
    main()
