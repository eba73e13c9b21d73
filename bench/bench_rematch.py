"""``fleet rematch`` speed: 1,000 stored inventories of the corpus images matched again.

    python bench/bench_rematch.py --vulndata ../shared/vulndata --corpus ~/.cache/hullscan-corpus

The inventories of the corpus images are stored (as a worker stores them) under
1,000 distinct digests, round robin, first matched against a database without the PyPI
advisories; then that set is imported, as ``db update`` would bring it, and ``rematch``
runs over every stored inventory. Printed:
the rematch time, per inventory, the images that gained findings, and the time a warm
re-scan of each image takes, for the ratio (a re-scan is what a tool without stored
inventories must do; no peer tool rematches from its own store).
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from hullscan.fleet.rematch import rematch
from hullscan.jobs.store import JobSpec, Store
from hullscan.pipeline import ScanOptions, inventory
from hullscan.report.json_report import image_dict
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
]
LATER_SET = "PyPI"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vulndata", type=Path, default=Path("../shared/vulndata"))
    ap.add_argument("--corpus", type=Path, default=Path.home() / ".cache" / "hullscan-corpus")
    ap.add_argument("--images", nargs="*", default=IMAGES)
    ap.add_argument("--count", type=int, default=1000, help="stored inventories")
    ap.add_argument("--store", help="result store URL (default: SQLite in a temporary dir)")
    args = ap.parse_args()
    images = [i for i in args.images if (args.corpus / i / "oci").is_dir()]
    with tempfile.TemporaryDirectory(prefix="hullscan-bench-") as tmp:
        root = Path(tmp)
        db_path = root / "osv.sqlite"
        sets = [p for p in sorted(args.vulndata.iterdir()) if p.is_dir()]
        import_paths([p for p in sets if p.name != LATER_SET], db_path)
        options = ScanOptions(cache_dir=root / "cache")
        docs: list[tuple[str, dict[str, Any]]] = []
        rescan: dict[str, float] = {}
        with open_db(db_path) as db:
            version = db.meta().built_at
            for name in images:
                ref = f"oci:{args.corpus / name / 'oci'}"
                inventory(ref, options)  # warm the layer cache
                start = time.perf_counter()
                inv = inventory(ref, options)
                matched = match_inventory(inv, db)
                rescan[name] = time.perf_counter() - start
                docs.append(
                    (
                        name,
                        {
                            "image": image_dict(inv.image, inv.os),
                            "packages": [p.to_dict() for p in inv.packages],
                            "findings": [f.to_dict() for f in matched.findings],
                        },
                    )
                )
        store = Store(args.store or f"sqlite:///{root / 'results.sqlite'}")
        start = time.perf_counter()
        digests = []
        for i in range(args.count):
            name, doc = docs[i % len(docs)]
            digests.append("sha256:" + hashlib.sha256(f"{name}-{i}".encode()).hexdigest())
            image = f"bench/{name}:{i}"
            report = {**doc, "image": {**doc["image"], "ref": image}}
            store.record_scan(
                JobSpec(image, ("vuln",), digests[-1], version),
                report,
                {"image": doc["image"], "packages": doc["packages"]},
            )
        stored = time.perf_counter() - start
        import_paths([args.vulndata / LATER_SET], db_path)
        with open_db(db_path) as db:
            result = rematch(store, db, db.meta().built_at)
        with open_db(db_path) as db:
            again = rematch(store, db, db.meta().built_at)
            forced = rematch(store, db, db.meta().built_at, everything=True)
        latencies = admission_latencies(store, digests)
        store.close()
    packages = statistics.mean(len(d["packages"]) for _, d in docs)
    distinct = len({p["purl"] for _, d in docs for p in d["packages"]})
    print(
        f"{args.count} inventories of {len(images)} corpus images "
        f"({packages:.0f} packages on average, {distinct} distinct), stored in "
        f"{stored:.1f} s"
    )
    print(
        f"rematch after importing {LATER_SET}: {result.seconds:.2f} s "
        f"({result.seconds / args.count * 1000:.2f} ms per inventory), "
        f"{len(result.changed)} images changed"
    )
    print(
        f"rematch again (nothing new): {again.seconds:.2f} s, {again.up_to_date} up to "
        f"date; with --all (every inventory matched again): {forced.seconds:.2f} s, "
        f"{len(forced.changed)} changed"
    )
    warm = statistics.mean(rescan.values())
    print(
        f"a warm re-scan (inventory from the layer cache + match) takes {warm:.2f} s per "
        f"image: {args.count} re-scans ~ {warm * args.count:.0f} s, "
        f"{warm * args.count / result.seconds:.0f}x the rematch"
    )
    for name, took in rescan.items():
        print(f"  {name:24} re-scan {took:.2f} s")
    q = statistics.quantiles(latencies, n=100)
    print(
        f"admission reviews (a Deployment of 3 images, decided from the store): "
        f"p50 {q[49] * 1000:.1f} ms, p99 {q[98] * 1000:.1f} ms over {len(latencies)}"
    )


def admission_latencies(store: Store, digests: list[str]) -> list[float]:
    """Time ``POST /v1/admission``'s work (parse, judge from stored verdicts, answer) for
    reviews of stored digests; the registry is not involved (no trust policy)."""
    import json

    from hullscan.admission.evaluate import Evaluator
    from hullscan.admission.policy import AdmissionPolicy
    from hullscan.admission.webhook import AdmissionWebhook

    hook = AdmissionWebhook(Evaluator(AdmissionPolicy(deny_severity=None), store))
    out = []
    for i in range(300):
        images = [f"reg.example/app@{digests[(i * 3 + j) % len(digests)]}" for j in range(3)]
        spec = {"containers": [{"name": f"c{j}", "image": image} for j, image in enumerate(images)]}
        body = json.dumps(
            {
                "apiVersion": "admission.k8s.io/v1",
                "kind": "AdmissionReview",
                "request": {
                    "uid": str(i),
                    "kind": {"kind": "Deployment"},
                    "operation": "CREATE",
                    "namespace": "shop",
                    "object": {"metadata": {"name": "web"}, "spec": {"template": {"spec": spec}}},
                },
            }
        ).encode()
        start = time.perf_counter()
        status, doc = hook.validate(body)
        out.append(time.perf_counter() - start)
        assert status == 200 and doc["response"]["allowed"], doc  # every digest is stored
    hook.close()
    return out


if __name__ == "__main__":
    main()
