"""Squash speed and memory: hullscan squash on the corpus images, against squashing by hand.

For each image (default: multi-layer-big, 11 layers, ~900 MB uncompressed) prints wall
time and peak memory (maximum resident set size, children included) of

- ``hullscan squash`` with an empty cache (three passes: headers, collect, write) and
  again with the layers' headers cached (two passes);
- by hand, where umoci is installed: ``umoci raw unpack`` to a root filesystem, then
  ``tar --sort=name | gzip -6`` of it (what a user without a squash tool does; no
  config, no digests) — hullscan's ratio to it is printed.

    python bench/bench_squash.py --corpus ~/.cache/hullscan-corpus [--images multi-layer-big]
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
from bench_inventory import median_run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=Path.home() / ".cache" / "hullscan-corpus")
    ap.add_argument("--images", nargs="*", default=["multi-layer-big"])
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    hullscan = [sys.executable, "-m", "hullscan.cli"]
    umoci = shutil.which("umoci")
    work = Path(tempfile.mkdtemp(prefix="hullscan-bench-"))
    print(
        f"{'image':24} {'in MB':>7} {'out MB':>7} {'how':26} {'wall s':>7} {'peak MB':>8} "
        f"{'vs hand':>8}"
    )
    try:
        for image in args.images:
            layout = args.corpus / image / "oci"
            if not layout.is_dir():
                print(f"skip {image}: {layout} missing (build the corpus)", file=sys.stderr)
                continue
            size_in = sum(p.stat().st_size for p in (layout / "blobs").rglob("*") if p.is_file())
            cache, out = work / "cache", work / f"{image}.tar"
            cmd = [*hullscan, "squash", f"oci:{layout}:latest", str(out), "--cache-dir", str(cache)]
            results = {
                "hullscan squash (cold)": median_run(cmd, args.runs, fresh=cache),
                "hullscan squash (cached)": median_run(cmd, args.runs),
            }
            if umoci:
                script = (
                    f"rm -rf {work}/rootfs && umoci raw unpack --image {layout}:latest "
                    f"{work}/rootfs && tar --sort=name -C {work}/rootfs -c . "
                    f"| gzip -6 > {work}/by-hand.tar.gz"
                )
                results["umoci unpack + tar|gzip"] = median_run(["sh", "-c", script], args.runs)
                shutil.rmtree(work / "rootfs", ignore_errors=True)
            manifest = json.loads(
                subprocess.run(
                    ["tar", "-xOf", str(out), "manifest.json"], capture_output=True, check=True
                ).stdout
            )
            layer = manifest[0]["Layers"][-1]
            size_out = int(
                subprocess.run(
                    ["tar", "-tvf", str(out), layer], capture_output=True, text=True, check=True
                ).stdout.split()[2]
            )
            hand = results.get("umoci unpack + tar|gzip")
            for how, (wall, rss) in results.items():
                ratio = f"{wall / hand[0]:.2f}" if hand and how.startswith("hullscan") else ""
                print(
                    f"{image:24} {size_in / 2**20:7.0f} {size_out / 2**20:7.0f} {how:26} "
                    f"{wall:7.2f} {rss:8.0f} {ratio:>8}",
                    flush=True,
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
