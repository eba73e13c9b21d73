"""Secret scanning: hullscan against trivy and gitleaks on the corpus images.

    PEERS_BIN=~/.cache/hullscan-peers/bin python bench/bench_secrets.py \
        --corpus ~/.cache/hullscan-corpus [--images multi-layer-big] [--runs 3]

hullscan scans every layer (the default); trivy scans the image's layers with
``--scanners secret`` and a fresh cache each run; gitleaks scans the final
root filesystem unpacked beforehand with umoci (unpacking is not timed, which
favours gitleaks). Prints wall time and peak memory with hullscan's ratios,
then, for each image, what each tool reported (rule and path).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_inventory import IMAGES
from benchlib import median_run, peer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=Path.home() / ".cache" / "hullscan-corpus")
    ap.add_argument("--images", nargs="*", default=IMAGES)
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    trivy, gitleaks = peer("trivy"), peer("gitleaks")
    work = Path(tempfile.mkdtemp(prefix="hullscan-bench-secrets-"))
    rows = []
    try:
        for image in args.images:
            tar = args.corpus / image / "docker-archive.tar"
            if not tar.exists():
                print(f"skip {image}: {tar} missing", file=sys.stderr)
                continue
            out = work / image
            out.mkdir()
            results: dict[str, tuple[float, float]] = {}
            found: dict[str, set[str]] = {}
            cache = work / "hullscan-cache"
            cmd = [
                sys.executable,
                "-m",
                "hullscan.cli",
                "scan",
                str(tar),
                "--scanners",
                "secret",
                "-q",
                "--format",
                "json",
                "--cache-dir",
                str(cache),
                "-o",
                str(out / "hullscan.json"),
            ]
            results["hullscan"] = median_run(cmd, args.runs, fresh=cache)
            doc = json.loads((out / "hullscan.json").read_text())
            found["hullscan"] = {
                f"{f['id']} {f.get('path') or f['details'].get('where')}" for f in doc["findings"]
            }
            if trivy:
                tcache = work / "trivy-cache"
                results["trivy"] = median_run(
                    [
                        trivy,
                        "image",
                        "--input",
                        str(tar),
                        "--scanners",
                        "secret",
                        "--offline-scan",
                        "--skip-db-update",
                        "--skip-java-db-update",
                        "--skip-version-check",
                        "--cache-dir",
                        str(tcache),
                        "--quiet",
                        "--format",
                        "json",
                        "--output",
                        str(out / "trivy.json"),
                    ],
                    args.runs,
                    fresh=tcache,
                )
                tdoc = json.loads((out / "trivy.json").read_text())
                found["trivy"] = {
                    f"{s['RuleID']} {r['Target'].lstrip('/')}"
                    for r in tdoc.get("Results", [])
                    for s in r.get("Secrets", [])
                }
            if gitleaks:
                rootfs = out / "bundle"
                subprocess.run(
                    [
                        "umoci",
                        "unpack",
                        "--image",
                        f"{args.corpus / image / 'oci'}:latest",
                        str(rootfs),
                    ],
                    check=True,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                results["gitleaks"] = median_run(
                    [
                        gitleaks,
                        "dir",
                        str(rootfs / "rootfs"),
                        "--no-banner",
                        "--exit-code",
                        "0",
                        "--report-format",
                        "json",
                        "--report-path",
                        str(out / "gitleaks.json"),
                        "--log-level",
                        "error",
                    ],
                    args.runs,
                )
                gdoc = json.loads((out / "gitleaks.json").read_text() or "[]")
                prefix = str(rootfs / "rootfs") + "/"
                found["gitleaks"] = {
                    f"{g['RuleID']} {g['File'].removeprefix(prefix)}" for g in gdoc
                }
                shutil.rmtree(rootfs, ignore_errors=True)
            rows.append((image, results, found))
            print(f"done {image}", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{'image':24} {'tool':10} {'wall s':>7} {'peak MB':>8} {'findings':>8} {'hs/tool':>8}")
    for image, results, found in rows:
        for tool, (wall, rss) in results.items():
            ratio = results["hullscan"][0] / wall if tool != "hullscan" else 1.0
            print(f"{image:24} {tool:10} {wall:7.2f} {rss:8.0f} {len(found[tool]):8} {ratio:8.2f}")
    for image, _, found in rows:
        if not any(found.values()):
            continue
        print(f"\n{image}:")
        for tool, items in found.items():
            for item in sorted(items):
                others = [
                    t
                    for t, s in found.items()
                    if t != tool and _path(item) in {_path(x) for x in s}
                ]
                print(f"  {tool:9} {item}{'' if others else '   <- only ' + tool}")


def _path(item: str) -> str:
    return item.split(" ", 1)[1]


if __name__ == "__main__":
    main()
