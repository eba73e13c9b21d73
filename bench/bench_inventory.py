"""Inventory speed and memory: hullscan sbom against syft and trivy on the corpus images.

Runs each tool on each image's docker archive and prints wall time and peak
memory (maximum resident set size, children included), with hullscan's ratios
to the peers, plus the number of packages each reports by purl type:

    PEERS_BIN=~/.cache/hullscan-peers/bin python bench/bench_inventory.py \
        --corpus ~/.cache/hullscan-corpus [--images multi-layer-big] [--runs 3]

hullscan runs twice per image: cold (empty cache) and a cached rescan.
trivy runs offline with a fresh cache each time (its cache would hide the work).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

from packageurl import PackageURL

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import median_run, peer

IMAGES = [
    "debian-bookworm",
    "debian-bullseye",
    "app-python",
    "app-node",
    "secrets-and-misconfig",
    "binaries",
    "multi-layer-big",
]


def purl_types(cyclonedx_file: Path) -> Counter[str]:
    doc = json.loads(cyclonedx_file.read_text())
    out: Counter[str] = Counter()
    for c in doc.get("components", []):
        if c.get("purl"):
            out[PackageURL.from_string(c["purl"]).type] += 1
    return out


def corpus_arguments(doc: str) -> argparse.Namespace:
    """--corpus, --images and --runs, the options every corpus benchmark takes."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=Path.home() / ".cache" / "hullscan-corpus")
    ap.add_argument("--images", nargs="*", default=IMAGES)
    ap.add_argument("--runs", type=int, default=1)
    return ap.parse_args()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=Path.home() / ".cache" / "hullscan-corpus")
    ap.add_argument("--images", nargs="*", default=IMAGES)
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    hullscan = [sys.executable, "-m", "hullscan.cli"]
    syft, trivy = peer("syft"), peer("trivy")
    work = Path(tempfile.mkdtemp(prefix="hullscan-bench-"))
    cache, tcache = work / "hullscan-cache", work / "trivy-cache"
    rows = []
    counts: dict[str, dict[str, Counter[str]]] = {}
    try:
        for image in args.images:
            tar = args.corpus / image / "docker-archive.tar"
            if not tar.exists():
                print(f"skip {image}: {tar} missing (build the corpus)", file=sys.stderr)
                continue
            out = work / image
            out.mkdir()
            results: dict[str, tuple[float, float]] = {}
            cmd = [
                *hullscan,
                "sbom",
                str(tar),
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
                        f"docker-archive:{tar}",
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
                        "--input",
                        str(tar),
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
        shutil.rmtree(work, ignore_errors=True)

    print_results(rows, counts)


def print_results(
    rows: list[tuple[str, int, dict[str, tuple[float, float]]]],
    counts: dict[str, dict[str, Counter[str]]],
) -> None:
    """Wall time, peak memory and hullscan's ratios to the peers; packages by purl type."""
    print(
        f"{'image':24} {'size MB':>8} {'tool':16} {'wall s':>7} {'peak MB':>8} "
        f"{'vs syft':>8} {'vs trivy':>8}"
    )
    for image, size, results in rows:
        for tool, (wall, rss) in results.items():
            ratios = []
            for ref in ("syft", "trivy"):
                if tool.startswith("hullscan") and ref in results:
                    ratios.append(f"{wall / results[ref][0]:.2f}")
                else:
                    ratios.append("")
            print(
                f"{image:24} {size / 2**20:8.0f} {tool:16} {wall:7.2f} {rss:8.0f} "
                f"{ratios[0]:>8} {ratios[1]:>8}"
            )
        cold, cached = results["hullscan cold"][0], results["hullscan cached"][0]
        print(f"{image:24} {'':8} cached/cold = {cached / cold:.2f}")
    print("\npackages by purl type (hullscan / syft / trivy):")
    for image, by_tool in counts.items():
        types = sorted(set().union(*by_tool.values()))
        cells = [f"{t} {'/'.join(str(by_tool[k].get(t, 0)) for k in by_tool)}" for t in types]
        print(f"  {image:24} " + ", ".join(cells))


if __name__ == "__main__":
    main()
