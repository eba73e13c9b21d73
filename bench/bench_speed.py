"""hullscan against trivy (and syft, gitleaks) on one large corpus image and one large
synthetic image, in one run: cold inventory, secrets, cached rescan, registry pull +
inventory, peak memory, and CLI start-up, with hullscan's ratios to trivy.

    PEERS_BIN=~/.cache/hullscan-peers/bin python bench/bench_speed.py \\
        [--corpus ~/.cache/hullscan-corpus] [--image multi-layer-big] [--synthetic-gb 4] \\
        [--rounds 3] [--baseline-src /path/to/other/checkout/src] [--only inventory,secrets]

Every target runs its tools interleaved, round after round, and keeps the median of the
rounds: on a shared machine, tools measured minutes apart are not comparable. Times are
of the whole process (start-up included); CPU is user + sys of the process tree. The
ratios to trivy are the medians of each round's ratio (the two ran back to back), which
a machine speeding up or slowing down between rounds does not move.

- inventory: ``hullscan sbom --format cyclonedx`` (empty cache) against ``trivy image
  --input --format cyclonedx`` (fresh cache; ``--skip-files **/*.jar``, because trivy
  cannot read jars offline, while hullscan reads them) and syft (cyclonedx-json);
- cached: the same two commands again with the cache each one left;
- secrets: ``hullscan scan --scanners secret`` (every layer) against ``trivy image
  --scanners secret`` (fresh cache) and gitleaks on the final root filesystem, unpacked
  beforehand and not timed (which favours gitleaks; corpus image only);
- registry: both pull the image from a local registry (Debian's docker-registry on
  127.0.0.1) into an empty cache and inventory it (syft too); hullscan also with
  ``registries.verify_diff_ids: false`` ("trusting diff-ids"), which checks what Trivy
  checks (each blob's digest, not the inflated layer's diff-id);
- startup: ``hullscan --help`` and a cached ``hullscan scan --scanners secret`` of a small
  corpus image, against trivy's.

The synthetic image (``synthetic_image.py``: uncompressed layers of random data) is made
once and kept under ``~/.cache/hullscan-bench``; its throughput (image MB/s) is printed
next to this machine's single-core SHA-256 speed. It gets the inventory, cached and
secrets targets against trivy only (syft takes minutes on it); ``--synthetic-registry``
adds its registry target too (pushed once, ~1 minute; then pulled by hullscan and trivy
each round, without syft).

``--baseline-src`` adds another checkout's hullscan (run from that ``src`` directory) to
every target, for before/after.

Each hullscan's modules are byte-compiled before anything is timed, as a wheel install
leaves them: an editable checkout run with ``PYTHONDONTWRITEBYTECODE=1`` (or from a
read-only tree) would otherwise recompile every module on every run, which once made a
rescan from the cache look 0.31x of a cold scan when it was 0.11x.
"""

from __future__ import annotations

import argparse
import compileall
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import Run, Step, emptied, interleaved, paired_ratio, peer, timed
from synthetic_image import generate

TARGETS = ("inventory", "cached", "secrets", "registry", "startup")
TRIVY_OFFLINE = [
    "--offline-scan",
    "--skip-db-update",
    "--skip-java-db-update",
    "--skip-check-update",
    "--skip-version-check",
    "--quiet",
]


def byte_compile(src: str | None) -> None:
    """Write the ``.pyc`` files of the hullscan that ``src`` (or the installed one) runs."""
    if src is not None:
        package = Path(src).resolve() / "hullscan"
    else:
        import hullscan

        package = Path(hullscan.__file__).parent
    if not compileall.compile_dir(package, quiet=1):
        print(f"warning: could not byte-compile {package}", file=sys.stderr)


def sha256_speed() -> float:
    """MB/s of one core's SHA-256 over 1 MiB buffers."""
    buf = os.urandom(1 << 20)
    h = hashlib.sha256()
    start = time.perf_counter()
    for _ in range(512):
        h.update(buf)
    return 512 / (time.perf_counter() - start)


class Bench:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.trivy, self.syft, self.gitleaks = peer("trivy"), peer("syft"), peer("gitleaks")
        self.hullscans: dict[str, tuple[list[str], dict[str, str] | None]] = {
            "hullscan": (
                [sys.executable, "-m", "hullscan.cli"],
                {"PYTHONPATH": str(Path(args.src).resolve())} if args.src else None,
            )
        }
        if args.baseline_src:
            self.hullscans["hullscan@base"] = (
                [sys.executable, "-m", "hullscan.cli"],
                {"PYTHONPATH": str(Path(args.baseline_src).resolve())},
            )
        #: (target, image label, image MB, {tool: Run})
        self.rows: list[tuple[str, str, float, dict[str, Run]]] = []

    def out(self, *parts: str) -> Path:
        path = self.work.joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def trivy_cmd(self, source: list[str], cache: Path, *extra: str) -> list[str]:
        assert self.trivy is not None
        return [self.trivy, "image", *source, *TRIVY_OFFLINE, "--cache-dir", str(cache), *extra]

    def record(
        self, target: str, label: str, mb: float, steps: dict[str, Step], rounds: int | None = None
    ) -> None:
        print(f"  {target} on {label}: {', '.join(steps)}", file=sys.stderr, flush=True)
        self.rows.append((target, label, mb, interleaved(steps, rounds or self.args.rounds)))

    def image(self, label: str, tar: Path, rootfs: Path | None, synthetic: bool = False) -> None:
        want = set(self.args.only)
        if synthetic and not self.args.synthetic_registry:  # gigabytes through a registry
            want -= {"registry"}
        mb = tar.stat().st_size / 1e6
        caches = {name: self.out(label, f"{name}-cache") for name in self.hullscans}
        tcache = self.out(label, "trivy-cache")
        if "inventory" in want or "cached" in want:
            cold: dict[str, Step] = {}
            for name, (cmd, env) in self.hullscans.items():
                cold[name] = Step(
                    [
                        *cmd,
                        "sbom",
                        str(tar),
                        "-q",
                        "--format",
                        "cyclonedx",
                        "--cache-dir",
                        str(caches[name]),
                        "-o",
                        str(self.out(label, f"{name}.cdx.json")),
                    ],
                    emptied(caches[name]),
                    env,
                )
            if self.trivy:
                cold["trivy"] = Step(
                    self.trivy_cmd(
                        ["--input", str(tar)],
                        tcache,
                        "--format",
                        "cyclonedx",
                        "--skip-files",
                        "**/*.jar",
                        "--output",
                        str(self.out(label, "t.cdx.json")),
                    ),
                    emptied(tcache),
                )
            if self.syft and not synthetic:
                cold["syft"] = Step(
                    [
                        self.syft,
                        "scan",
                        f"docker-archive:{tar}",
                        "-q",
                        "-o",
                        f"cyclonedx-json={self.out(label, 'syft.cdx.json')}",
                    ]
                )
            if "inventory" in want:
                self.record("inventory", label, mb, cold)
            if "cached" in want:
                # the caches the cold runs left are warm; a rescan keeps them
                warm = {
                    f"{n} cached": Step(s.cmd, None, s.env) for n, s in cold.items() if n != "syft"
                }
                for step in cold.values():
                    if step.before is not None:
                        step.before()
                    timed(step.cmd, step.env)
                self.record("cached", label, mb, warm)
        if "secrets" in want:
            steps: dict[str, Step] = {}
            for name, (cmd, env) in self.hullscans.items():
                steps[name] = Step(
                    [
                        *cmd,
                        "scan",
                        str(tar),
                        "--scanners",
                        "secret",
                        "-q",
                        "--format",
                        "json",
                        "--cache-dir",
                        str(caches[name]),
                        "-o",
                        str(self.out(label, f"{name}.secrets.json")),
                    ],
                    emptied(caches[name]),
                    env,
                )
            if self.trivy:
                steps["trivy"] = Step(
                    self.trivy_cmd(
                        ["--input", str(tar)],
                        tcache,
                        "--scanners",
                        "secret",
                        "--format",
                        "json",
                        "--output",
                        str(self.out(label, "trivy.secrets.json")),
                    ),
                    emptied(tcache),
                )
            if self.gitleaks and rootfs is not None:
                steps["gitleaks"] = Step(
                    [
                        self.gitleaks,
                        "dir",
                        str(rootfs),
                        "--no-banner",
                        "--exit-code",
                        "0",
                        "--report-format",
                        "json",
                        "--log-level",
                        "error",
                        "--report-path",
                        str(self.out(label, "gitleaks.json")),
                    ]
                )
            self.record("secrets", label, mb, steps)
        if "registry" in want:
            self.registry(label, tar, mb, synthetic)

    def registry(self, label: str, tar: Path, mb: float, synthetic: bool = False) -> None:
        from localregistry import SKOPEO, skopeo_copy, start_registry, stop_registry

        if SKOPEO is None:
            print(
                "  registry: skipped (needs skopeo and docker-registry: bash scripts/registry.sh)",
                file=sys.stderr,
            )
            return
        reg = start_registry(self.out(label, "registry", "x").parent)
        try:
            ref = f"{reg.host}/bench/{label}:1"
            skopeo_copy(f"docker-archive:{tar}", ref, timeout=1800)
            steps: dict[str, Step] = {}
            trusting = self.out(label, "trusting.yaml")
            trusting.write_text("registries:\n  verify_diff_ids: false\n")
            variants: list[tuple[str, list[str], dict[str, str] | None, list[str]]] = [
                (name, cmd, env, []) for name, (cmd, env) in self.hullscans.items()
            ]
            # what Trivy checks: each blob's digest, not its layer's diff-id
            cmd, env = self.hullscans["hullscan"]
            variants.append(("hullscan trusting diff-ids", cmd, env, ["--config", str(trusting)]))
            for name, cmd, env, extra in variants:
                cache = self.out(label, f"{name}-pull-cache".replace(" ", "-"))
                out = self.out(label, f"{name}.pull.cdx.json".replace(" ", "-"))
                steps[name] = Step(
                    [
                        *cmd,
                        "sbom",
                        f"registry:{ref}",
                        "-q",
                        "--format",
                        "cyclonedx",
                        "--cache-dir",
                        str(cache),
                        "-o",
                        str(out),
                        *extra,
                    ],
                    emptied(cache),
                    env,
                )
            if self.trivy:
                tcache = self.out(label, "trivy-pull-cache")
                steps["trivy"] = Step(
                    self.trivy_cmd(
                        ["--image-src", "remote", "--insecure", ref],
                        tcache,
                        "--format",
                        "cyclonedx",
                        "--skip-files",
                        "**/*.jar",
                        "--output",
                        str(self.out(label, "trivy.pull.cdx.json")),
                    ),
                    emptied(tcache),
                )
            if self.syft and not synthetic:  # minutes on gigabytes of random data
                steps["syft"] = Step(
                    [
                        self.syft,
                        "scan",
                        f"registry:{ref}",
                        "-q",
                        "-o",
                        f"cyclonedx-json={self.out(label, 'syft.pull.json')}",
                    ],
                    env={"SYFT_REGISTRY_INSECURE_USE_HTTP": "true"},
                )
            self.record("registry", label, mb, steps)
        finally:
            stop_registry(reg)

    def startup(self, small: Path) -> None:
        steps: dict[str, Step] = {}
        for name, (cmd, env) in self.hullscans.items():
            steps[f"{name} --help"] = Step([*cmd, "--help"], env=env)
        if self.trivy:
            steps["trivy --help"] = Step([self.trivy, "--help"])
        self.record("startup", "--help", 0, steps, rounds=max(5, self.args.rounds))
        steps = {}
        for name, (cmd, env) in self.hullscans.items():
            cache = self.out("startup", f"{name}-cache")
            scan = [
                *cmd,
                "scan",
                str(small),
                "--scanners",
                "secret",
                "-q",
                "--format",
                "json",
                "--cache-dir",
                str(cache),
                "-o",
                os.devnull,
            ]
            timed(scan, env)  # warm the cache
            steps[f"{name} cached"] = Step(scan, env=env)
        if self.trivy:
            tcache = self.out("startup", "trivy-cache")
            scan = self.trivy_cmd(
                ["--input", str(small)],
                tcache,
                "--scanners",
                "secret",
                "--format",
                "json",
                "--output",
                os.devnull,
            )
            timed(scan)
            steps["trivy cached"] = Step(scan)
        self.record(
            "startup",
            f"cached scan {small.parent.name}",
            small.stat().st_size / 1e6,
            steps,
            rounds=max(5, self.args.rounds),
        )


def unpack_rootfs(oci_dir: Path, dest: Path) -> Path | None:
    """The image's final root filesystem (umoci), for gitleaks; None without umoci."""
    if not shutil.which("umoci") or not oci_dir.is_dir():
        return None
    subprocess.run(
        ["umoci", "unpack", "--image", f"{oci_dir}:latest", str(dest)],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return dest / "rootfs"


def synthetic(gb: float) -> Path:
    path = Path.home() / ".cache" / "hullscan-bench" / f"synthetic-{gb:g}g.tar"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        print(f"writing {path} ...", file=sys.stderr, flush=True)
        partial = path.with_suffix(".partial")
        generate(partial, gb, 8, 8, 1)
        partial.rename(path)
    with tarfile.open(path) as tf:  # a truncated leftover would measure nothing
        tf.getmember("manifest.json")
    return path


def print_table(rows: list[tuple[str, str, float, dict[str, Run]]], sha_mbs: float) -> None:
    print(
        f"\n{'target':10} {'image':28} {'tool':24} {'wall s':>7} {'cpu s':>7} {'peak MB':>8} "
        f"{'MB/s':>6} {'wall/trivy':>10} {'cpu/trivy':>9}"
    )
    for target, label, mb, runs in rows:
        ref = next((r for n, r in runs.items() if n.startswith("trivy")), None)
        for tool, run in runs.items():
            rate = f"{mb / run.wall:6.0f}" if mb and target != "startup" else ""
            ratios = ("", "")
            if ref is not None and tool.startswith("hullscan"):
                ratios = (
                    f"{paired_ratio(run, ref, lambda r: r.wall):.2f}",
                    f"{paired_ratio(run, ref, lambda r: r.cpu):.2f}",
                )
            print(
                f"{target:10} {label:28} {tool:24} {run.wall:7.2f} {run.cpu:7.2f} "
                f"{run.rss:8.0f} {rate:>6} {ratios[0]:>10} {ratios[1]:>9}"
            )
    cold = {
        (label, t): r
        for target, label, _, runs in rows
        if target == "inventory"
        for t, r in runs.items()
    }
    for target, label, _, runs in rows:
        if target != "cached":
            continue
        for tool, run in runs.items():
            base = cold.get((label, tool.removesuffix(" cached")))
            if base and tool.startswith("hullscan"):
                print(f"{label}: {tool} / its cold inventory = {run.wall / base.wall:.2f}")
    print(f"SHA-256 on one core: {sha_mbs:.0f} MB/s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=Path.home() / ".cache" / "hullscan-corpus")
    ap.add_argument("--image", default="multi-layer-big")
    ap.add_argument("--small", default="debian-bookworm", help="corpus image for start-up")
    ap.add_argument("--synthetic-gb", type=float, default=4.0, help="0: no synthetic image")
    ap.add_argument(
        "--synthetic-registry",
        action="store_true",
        help="run the registry target on the synthetic image too",
    )
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--src", help="run hullscan from this src/ (default: the installed one)")
    ap.add_argument("--baseline-src", help="another checkout's src/, run as hullscan@base")
    ap.add_argument(
        "--only",
        type=lambda s: s.split(","),
        default=list(TARGETS),
        help=f"comma-separated subset of {','.join(TARGETS)}",
    )
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hullscan-bench-speed-"))
    byte_compile(args.src)
    if args.baseline_src:
        byte_compile(args.baseline_src)
    bench = Bench(args, work)
    try:
        big = args.corpus / args.image / "docker-archive.tar"
        if big.exists():
            rootfs = None
            if "secrets" in args.only and bench.gitleaks:
                rootfs = unpack_rootfs(args.corpus / args.image / "oci", work / "bundle")
            bench.image(args.image, big, rootfs)
        else:
            print(f"skip {args.image}: {big} missing (build the corpus)", file=sys.stderr)
        if args.synthetic_gb:
            bench.image(
                f"synthetic-{args.synthetic_gb:g}g",
                synthetic(args.synthetic_gb),
                None,
                synthetic=True,
            )
        small = args.corpus / args.small / "docker-archive.tar"
        if "startup" in args.only and small.exists():
            bench.startup(small)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_table(bench.rows, sha256_speed())


if __name__ == "__main__":
    main()
