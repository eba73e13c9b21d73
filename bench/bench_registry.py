"""Pull-and-inventory speed from a registry: hullscan sbom against syft and trivy, all three
pulling the same corpus images from a local registry (Debian's docker-registry on
127.0.0.1, images pushed with skopeo):

    PEERS_BIN=~/.cache/hullscan-peers/bin python bench/bench_registry.py \
        --corpus ~/.cache/hullscan-corpus [--images app-python] [--runs 3]

hullscan runs cold (empty cache: every blob downloaded and verified), then again with
its blob and layer caches (a re-pull downloads nothing); syft has no cache, trivy gets a
fresh cache each run. The package counts show that the pulled images are read in full.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_inventory import print_results, purl_types
from benchlib import median_run, peer

from localregistry import SKOPEO, skopeo_copy, start_registry, stop_registry

IMAGES = ["debian-bookworm", "app-python", "app-node", "multi-layer-big"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=Path.home() / ".cache" / "hullscan-corpus")
    ap.add_argument("--images", nargs="*", default=IMAGES)
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    if SKOPEO is None:
        sys.exit("needs skopeo and docker-registry (bash scripts/registry.sh)")
    hullscan = [sys.executable, "-m", "hullscan.cli"]
    syft, trivy = peer("syft"), peer("trivy")
    work = Path(tempfile.mkdtemp(prefix="hullscan-bench-registry-"))
    reg = start_registry(work / "registry")
    rows = []
    counts: dict[str, dict[str, Counter[str]]] = {}
    try:
        for image in args.images:
            tar = args.corpus / image / "docker-archive.tar"
            if not tar.exists():
                print(f"skip {image}: {tar} missing (build the corpus)", file=sys.stderr)
                continue
            ref = f"{reg.host}/corpus/{image}:1"
            skopeo_copy(f"docker-archive:{tar}", ref, timeout=600)
            out = work / image
            out.mkdir()
            cache, tcache = work / f"{image}-cache", work / f"{image}-trivy"
            results = {}
            cmd = [
                *hullscan,
                "sbom",
                f"registry:{ref}",
                "-q",
                "--format",
                "cyclonedx",
                "--cache-dir",
                str(cache),
                "-o",
                str(out / "hullscan.cdx.json"),
            ]
            results["hullscan cold"] = median_run(cmd, args.runs, fresh=cache)
            results["hullscan cached"] = median_run(cmd, args.runs)
            counts[image] = {"hullscan": purl_types(out / "hullscan.cdx.json")}
            if syft:
                results["syft"] = median_run(
                    [
                        syft,
                        "scan",
                        f"registry:{ref}",
                        "-q",
                        "-o",
                        f"cyclonedx-json={out / 'syft.cdx.json'}",
                    ],
                    args.runs,
                )
                counts[image]["syft"] = purl_types(out / "syft.cdx.json")
            if trivy:
                results["trivy"] = median_run(
                    [
                        trivy,
                        "image",
                        "--image-src",
                        "remote",
                        "--insecure",
                        ref,
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
                        "--skip-files",
                        "**/*.jar",
                        "--output",
                        str(out / "trivy.cdx.json"),
                    ],
                    args.runs,
                    fresh=tcache,
                )
                counts[image]["trivy"] = purl_types(out / "trivy.cdx.json")
            rows.append((image, tar.stat().st_size, results))
            print(f"done {image}", file=sys.stderr, flush=True)
    finally:
        stop_registry(reg)

    print_results(rows, counts)
    print(f"(work files in {work})", file=sys.stderr)


if __name__ == "__main__":
    main()
