"""Admission reviews over HTTPS against ``hullscan server``: latency and throughput of
``POST /v1/admission`` as the Kubernetes API server calls it, decided from a result
store holding many images' verdicts:

    python bench/bench_admission.py [--images 1000] [--clients 8] [--reviews 200]
                                    [--store postgresql://postgres@127.0.0.1:5432]

A test CA signs the server's certificate; the store (SQLite, or a PostgreSQL database
made for the run) holds ``--images`` finished scans, a tenth of them with a CRITICAL
finding; each review is a Deployment of three images. No trust policy: the registry is
not involved, so this is the server's own cost (TLS, parse, three verdict look-ups,
answer). Printed: p50/p95/p99 latency, reviews per second, and how many were refused.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import ssl
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from hullscan.jobs.store import JobSpec, Store

from localregistry import make_ca
from serverkit import start_server
from services import create_database, drop_database


def _report(ref: str, critical: bool) -> dict[str, Any]:
    findings = (
        [
            {
                "kind": "vulnerability",
                "id": "CVE-2024-0001",
                "severity": "CRITICAL",
                "package": {"name": "openssl", "purl": "pkg:deb/debian/openssl@1"},
            }
        ]
        if critical
        else []
    )
    return {
        "image": {"ref": ref, "os": {"id": "debian", "version_id": "12"}},
        "packages": [],
        "findings": findings,
    }


def _review(i: int, digests: list[str]) -> bytes:
    images = [digests[(i * 3 + j) % len(digests)] for j in range(3)]
    containers = [
        {"name": f"c{j}", "image": f"registry.example.com/app@{d}"} for j, d in enumerate(images)
    ]
    return json.dumps(
        {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": str(uuid.uuid4()),
                "operation": "CREATE",
                "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
                "namespace": "shop",
                "name": "web",
                "object": {
                    "kind": "Deployment",
                    "metadata": {"name": "web"},
                    "spec": {"template": {"spec": {"containers": containers}}},
                },
            },
        }
    ).encode()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--reviews", type=int, default=200, help="reviews per client")
    ap.add_argument("--store", help="PostgreSQL server URL (a database is made for the run)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="hullscan-bench-") as tmp:
        root = Path(tmp)
        pg = create_database(args.store) if args.store else None
        url = pg.url if pg else f"sqlite:///{root / 'results.sqlite'}"
        try:
            store = Store(url)
            digests = []
            for i in range(args.images):
                digest = "sha256:" + hashlib.sha256(str(i).encode()).hexdigest()
                ref = f"registry:registry.example.com/app@{digest}"
                store.record_scan(
                    JobSpec(ref, ("vuln",), digest, "v1"), _report(ref, i % 10 == 0), {}
                )
                digests.append(digest)
            store.close()
            ca = make_ca(root / "tls")
            (root / "hullscan.yaml").write_text(
                yaml.safe_dump({"admission": {"deny_severity": "CRITICAL", "budget_seconds": 5}})
            )
            verify = ssl.create_default_context(cafile=str(ca.ca))
            server = start_server(
                [
                    "--tls-cert",
                    str(ca.cert),
                    "--tls-key",
                    str(ca.key),
                    "--store",
                    url,
                    "--cache-dir",
                    str(root / "cache"),
                    "--config",
                    str(root / "hullscan.yaml"),
                ],
                root / "server.log",
                scheme="https",
                verify=verify,
            )
            try:
                latencies, refused = _load(server.url, verify, digests, args)
            finally:
                server.stop()
        finally:
            if pg is not None and args.store:
                drop_database(args.store, pg)
    q = statistics.quantiles(latencies, n=100)
    total = len(latencies)
    print(
        f"{total} reviews (Deployments of 3 images) from {args.clients} clients over "
        f"HTTPS, {args.images} stored images ({'PostgreSQL' if args.store else 'SQLite'})"
    )
    print(
        f"latency p50 {q[49] * 1000:.1f} ms, p95 {q[94] * 1000:.1f} ms, "
        f"p99 {q[98] * 1000:.1f} ms; {refused} refused (a CRITICAL image among the three)"
    )


def _load(
    url: str, verify: ssl.SSLContext, digests: list[str], args: argparse.Namespace
) -> tuple[list[float], int]:
    latencies: list[float] = []
    refused = 0
    lock = threading.Lock()

    def client(n: int) -> None:
        nonlocal refused
        with httpx.Client(
            verify=verify, timeout=30, headers={"Content-Type": "application/json"}
        ) as http:
            for i in range(args.reviews):
                body = _review(n * args.reviews + i, digests)
                start = time.perf_counter()
                r = http.post(url + "/v1/admission", content=body)
                took = time.perf_counter() - start
                assert r.status_code == 200, r.text
                with lock:
                    latencies.append(took)
                    refused += not r.json()["response"]["allowed"]

    threads = [threading.Thread(target=client, args=(n,)) for n in range(args.clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    print(f"throughput: {len(latencies) / wall:.0f} reviews/s over {wall:.1f} s")
    return latencies, refused


if __name__ == "__main__":
    main()
