"""The scan server under load: ``hullscan server`` + ``hullscan worker`` processes
(Celery on the machine's Redis, results in a PostgreSQL database made for the run)
scanning corpus images pushed to a local registry, beside ``trivy image`` of the same
images (a Trivy adapter's cost per scan is Trivy's scan plus a process start):

    PEERS_BIN=~/.cache/hullscan-peers/bin python bench/bench_server.py \\
        --corpus ~/.cache/hullscan-corpus [--images app-python app-node] [--pollers 50]

Measured: scans per minute with 1 and 2 workers, cold (empty layer cache) and warm (the
same images again, new store: the layer cache does the work); peak memory per worker;
p50/p95 latency of POST /api/v1/scan and of report polls with 50 concurrent clients.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_inventory import median_run, peer

from localregistry import SKOPEO, start_registry, stop_registry
from serverkit import API_KEY, SHARED, Proc, server_config, spawn, start_server
from services import PG_URL, REDIS_URL, create_database, drop_database, redis_cleanup

IMAGES = ["debian-bookworm", "app-python", "app-node"]
HEADERS = {"X-ScannerAdapter-API-Key": API_KEY}
ACCEPT = {"Accept": "application/vnd.security.vulnerability.report; version=1.1"}


def peak_mib(pid: int) -> float:
    """VmHWM of a process and its children (the layer analysis runs in child processes)."""

    def hwm(p: int) -> float:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return 0.0

    children = Path(f"/proc/{pid}/task/{pid}/children")
    kids = [int(c) for c in children.read_text().split()] if children.exists() else []
    return hwm(pid) + sum(hwm(k) for k in kids)


class Run:
    def __init__(self, work: Path, db: Path, workers: int, cache: Path, label: str) -> None:
        self.label = label
        self.database = create_database(PG_URL)
        self.queue = f"hullscan-bench-{uuid.uuid4().hex[:8]}"
        common = [
            "--queue",
            REDIS_URL,
            "--queue-name",
            self.queue,
            "--store",
            self.database.url,
            "--cache-dir",
            str(cache),
            "--db",
            str(db),
            "--config",
            str(server_config(work / "etc", refresh_after=1)),
        ]
        self.server = start_server(common, work / f"{label}-server.log")
        self.workers: list[Proc] = [
            spawn(["worker", *common], work / f"{label}-w{i}.log") for i in range(workers)
        ]
        deadline = time.monotonic() + 120
        while not all("ready." in w.text() for w in self.workers):
            if time.monotonic() > deadline:
                sys.exit(f"workers did not start: {self.workers[0].text()[-2000:]}")
            time.sleep(0.2)
        self.http = httpx.Client(base_url=self.server.url, headers=HEADERS, timeout=30)
        self.peaks = [0.0] * workers

    def scan_all(self, registry: str, digests: dict[str, str]) -> tuple[float, dict[str, float]]:
        """Submit every image at once; wall seconds until all are done, and each scan's
        own duration."""
        start = time.perf_counter()
        ids = {}
        for image, digest in digests.items():
            r = self.http.post(
                "/api/v1/scan",
                json={
                    "registry": {"url": f"http://{registry}"},
                    "artifact": {"repository": f"corpus/{image}", "digest": digest},
                },
            )
            r.raise_for_status()
            ids[image] = r.json()["id"]
        pending = set(ids)
        while pending:
            for i, w in enumerate(self.workers):
                self.peaks[i] = max(self.peaks[i], peak_mib(w.proc.pid))
            for image in list(pending):
                r = self.http.get(f"/api/v1/scan/{ids[image]}/report", headers=ACCEPT)
                if r.status_code == 200:
                    pending.discard(image)
                elif r.status_code != 302:
                    sys.exit(f"{image}: {r.status_code} {r.text[:500]}")
            time.sleep(0.2)
        wall = time.perf_counter() - start
        return wall, {image: self._duration(i) for image, i in ids.items()}

    def _duration(self, scan_id: str) -> float:
        from hullscan.jobs.store import Store

        store = Store(self.database.url, migrate=False)
        try:
            scan = store.get_scan(scan_id)
            return (scan.job.duration or 0.0) if scan else 0.0
        finally:
            store.close()

    def stop(self) -> None:
        self.http.close()
        for w in self.workers:
            w.stop()
        self.server.stop()
        drop_database(PG_URL, self.database)
        redis_cleanup(REDIS_URL, f"{self.queue}:")


def latencies(
    url: str, registry: str, digests: dict[str, str], pollers: int, polls: int
) -> tuple[list[float], list[float]]:
    """``pollers`` clients, each posting a scan of an image already scanned, then polling
    its report ``polls`` times."""
    posts: list[float] = []
    gets: list[float] = []
    lock = threading.Lock()
    items = list(digests.items())

    def client(n: int) -> None:
        image, digest = items[n % len(items)]
        with httpx.Client(base_url=url, headers=HEADERS, timeout=30) as http:
            t = time.perf_counter()
            r = http.post(
                "/api/v1/scan",
                json={
                    "registry": {"url": f"http://{registry}"},
                    "artifact": {"repository": f"corpus/{image}", "digest": digest},
                },
            )
            post = time.perf_counter() - t
            mine = []
            for _ in range(polls):
                t = time.perf_counter()
                http.get(f"/api/v1/scan/{r.json()['id']}/report", headers=ACCEPT)
                mine.append(time.perf_counter() - t)
            with lock:
                posts.append(post)
                gets.extend(mine)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(pollers)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return posts, gets


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1000 if len(values) > 1 else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=Path.home() / ".cache" / "hullscan-corpus")
    ap.add_argument("--images", nargs="*", default=IMAGES)
    ap.add_argument("--pollers", type=int, default=50)
    ap.add_argument("--polls", type=int, default=10)
    args = ap.parse_args()
    if SKOPEO is None:
        sys.exit("needs skopeo and docker-registry (bash scripts/registry.sh)")
    work = Path(tempfile.mkdtemp(prefix="hullscan-bench-server-"))
    reg = start_registry(work / "registry")
    from hullscan.vulndb.build import import_paths

    db = work / "osv.sqlite"
    import_paths([SHARED / "vulndata" / e for e in ("Debian-12", "PyPI", "npm")], db)
    digests: dict[str, str] = {}
    trivy_times: dict[str, float] = {}
    trivy = peer("trivy")
    try:
        for image in args.images:
            layout = args.corpus / image / "oci"
            subprocess.run(
                [
                    SKOPEO,
                    "--insecure-policy",
                    "copy",
                    "--quiet",
                    "--dest-tls-verify=false",
                    f"oci:{layout}:latest",
                    f"docker://{reg.host}/corpus/{image}:1",
                ],
                check=True,
                timeout=600,
            )
            index = json.loads((layout / "index.json").read_text())
            digests[image] = index["manifests"][0]["digest"]
            if trivy:
                tcache = work / f"trivy-{image}"
                trivy_times[image] = median_run(
                    [
                        trivy,
                        "image",
                        "--image-src",
                        "remote",
                        "--insecure",
                        f"{reg.host}/corpus/{image}:1",
                        "--offline-scan",
                        "--skip-db-update",
                        "--skip-java-db-update",
                        "--skip-check-update",
                        "--skip-version-check",
                        "--cache-dir",
                        str(tcache),
                        "--quiet",
                        "--format",
                        "cyclonedx",
                        "--output",
                        str(work / f"{image}.cdx.json"),
                    ],
                    1,
                    fresh=tcache,
                )[0]
        print(
            f"{'phase':22} {'scans':>5} {'wall s':>7} {'scans/min':>9} "
            f"{'peak MiB/worker':>16}  per image (s)"
        )
        for workers in (1, 2):
            cache = work / f"cache-{workers}"
            for phase in ("cold", "warm"):
                run = Run(work, db, workers, cache, f"{workers}w-{phase}")
                wall, durations = run.scan_all(reg.host, digests)
                per = ", ".join(f"{k} {v:.1f}" for k, v in durations.items())
                print(
                    f"{workers} worker(s), {phase:5} {len(digests):>10} {wall:7.1f} "
                    f"{60 * len(digests) / wall:9.1f} "
                    f"{'/'.join(f'{p:.0f}' for p in run.peaks):>16}  {per}",
                    flush=True,
                )
                if (workers, phase) == (2, "warm"):
                    posts, gets = latencies(
                        run.server.url, reg.host, digests, args.pollers, args.polls
                    )
                run.stop()
        print(
            f"\n{args.pollers} concurrent clients: POST /api/v1/scan p50 "
            f"{pct(posts, 50):.0f} ms, p95 {pct(posts, 95):.0f} ms; report polls "
            f"({len(gets)}) p50 {pct(gets, 50):.0f} ms, p95 {pct(gets, 95):.0f} ms"
        )
        if trivy_times:
            print(
                "\ntrivy image (remote, cold cache, package listing) per image (s): "
                + ", ".join(f"{k} {v:.1f}" for k, v in trivy_times.items())
            )
    finally:
        stop_registry(reg)


if __name__ == "__main__":
    main()
