"""Run every fuzz harness (or some) for a time budget each; print executions, libFuzzer's
coverage counters and, with ``--coverage``, the line coverage coverage.py measures on the
harness' own parser modules when the corpus it reached is replayed.

    python fuzz/run.py [--budget SECONDS] [--coverage] [--jobs N] [HARNESS...]

New inputs go to ``build/fuzz/corpus/<harness>`` (the committed seeds in
``fuzz/seeds/<harness>`` are read, never written); a crash is written to
``build/fuzz/crashes/`` and makes the exit code 1. A crash becomes a regression: copy
the input into ``fuzz/regressions/<harness>/``, which the test suite replays.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

FUZZ = Path(__file__).resolve().parent
ROOT = FUZZ.parent
SRC = ROOT / "src" / "hullscan"
#: harnesses import ``contract`` from fuzz/, and hullscan as the caller's path has it
PYTHONPATH = os.pathsep.join(filter(None, [str(FUZZ), os.environ.get("PYTHONPATH")]))

#: the modules each harness is for (coverage is reported on these)
TARGETS: dict[str, list[str]] = {
    "admission": ["admission/review.py", "admission/webhook.py", "admission/evaluate.py"],
    "apk": ["inventory/apk.py"],
    "dockerfile": [
        "checks/dockerfile/parser.py",
        "checks/dockerfile/shell.py",
        "checks/dockerfile/rules.py",
    ],
    "dpkg": ["inventory/dpkg.py"],
    "elf": ["binaries/hardening.py", "binaries/classify.py"],
    "epss": ["vulndb/exploits.py"],
    "golang": ["inventory/golang.py"],
    "harbor": ["server/harbor.py"],
    "image_json": ["sources/oci.py", "sources/interface.py", "sources/store.py"],
    "java": ["inventory/java.py"],
    "kev": ["vulndb/exploits.py"],
    "layer": ["layers.py", "streams.py", "paths.py"],
    "node": ["inventory/node.py"],
    "osv": ["vulndb/osv.py", "vuln/ranges.py"],
    "pe": ["binaries/pe_version.py", "binaries/hardening.py"],
    "python": ["inventory/python.py"],
    "registry": ["sources/registry.py", "sources/registry_client.py"],
    "rpm": ["inventory/rpm.py", "inventory/rpmdb.py"],
    "rust": ["inventory/rust.py"],
    "signature": [
        "supplychain/signatures.py",
        "supplychain/bundle.py",
        "supplychain/payload.py",
        "supplychain/store.py",
    ],
}


@dataclass
class Outcome:
    harness: str
    executions: int
    edges: int
    features: int
    crashed: bool
    crash_file: str
    seconds: float = 0.0
    coverage: str = ""


def harnesses() -> list[str]:
    return sorted(p.stem.removeprefix("fuzz_") for p in FUZZ.glob("fuzz_*.py"))


def fuzz_one(
    name: str, budget: int, work: Path, rss_mb: int, seed: int = 0, runs: int = 0
) -> Outcome:
    corpus = work / "corpus" / name
    crashes = work / "crashes"
    corpus.mkdir(parents=True, exist_ok=True)
    crashes.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        str(FUZZ / f"fuzz_{name}.py"),
        str(corpus),
        str(FUZZ / "seeds" / name),
        f"-max_total_time={budget}",
        f"-rss_limit_mb={rss_mb}",
        "-timeout=30",
        "-print_final_stats=1",
        f"-artifact_prefix={crashes}/{name}-",
    ]
    if seed:  # the same mutations every run: a smoke run in CI that is reproducible
        cmd.append(f"-seed={seed}")
    if runs:  # a number of inputs, not of seconds: the same inputs on a slow machine too
        cmd.append(f"-runs={runs}")
    regressions = FUZZ / "regressions" / name
    if regressions.is_dir():
        cmd.insert(3, str(regressions))
    env = {**os.environ, "PYTHONPATH": PYTHONPATH}
    if seed:  # the target's set and dict orders too: coverage, and so mutations, repeat
        env.setdefault("PYTHONHASHSEED", "0")
    started = time.monotonic()
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=budget + 300
    )
    seconds = time.monotonic() - started
    log = proc.stdout + proc.stderr
    (work / f"{name}.log").write_text(log)
    execs = re.search(r"stat::number_of_executed_units:\s*(\d+)", log)
    cov = re.findall(r"cov: (\d+) ft: (\d+)", log)
    crash = re.search(r"Test unit written to (\S+)", log)
    return Outcome(
        name,
        int(execs.group(1)) if execs else 0,
        int(cov[-1][0]) if cov else 0,
        int(cov[-1][1]) if cov else 0,
        proc.returncode != 0,
        crash.group(1) if crash else "",
        seconds,
    )


def line_coverage(name: str, work: Path) -> str:
    """Replay the seeds and what the fuzzer found under coverage.py; the target modules'
    line coverage."""
    data = work / f".coverage.{name}"
    include = ",".join(str(SRC / t) for t in TARGETS.get(name, []))
    env = {**os.environ, "PYTHONPATH": PYTHONPATH, "COVERAGE_FILE": str(data)}
    dirs = [
        str(d)
        for d in (FUZZ / "seeds" / name, work / "corpus" / name, FUZZ / "regressions" / name)
        if d.is_dir()
    ]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "coverage",
            "run",
            "--branch",
            f"--include={include}",
            str(FUZZ / f"fuzz_{name}.py"),
            "--replay",
            *dirs,
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    report = subprocess.run(
        [sys.executable, "-m", "coverage", "report", "--format=total"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return f"{report.stdout.strip()}%" if report.returncode == 0 else "n/a"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("harness", nargs="*", help=f"default: all ({', '.join(harnesses())})")
    ap.add_argument(
        "--budget",
        type=int,
        default=int(os.environ.get("FUZZ_BUDGET", "60")),
        help="seconds per harness (default 60, or $FUZZ_BUDGET)",
    )
    ap.add_argument("--jobs", type=int, default=1, help="harnesses run at once (default 1)")
    ap.add_argument("--coverage", action="store_true", help="also measure line coverage")
    ap.add_argument("--rss-mb", type=int, default=2048, help="memory limit per harness")
    ap.add_argument("--work", type=Path, default=ROOT / "build" / "fuzz")
    ap.add_argument(
        "--seed",
        type=int,
        default=0,
        help="libFuzzer's random seed (default 0: a new one each run)",
    )
    ap.add_argument(
        "--runs",
        type=int,
        default=0,
        help="stop each harness after this many inputs (with --seed: the same "
        "inputs every time, whatever the machine's speed; --budget still "
        "caps the time)",
    )
    args = ap.parse_args()
    names = args.harness or harnesses()
    unknown = set(names) - set(harnesses())
    if unknown:
        ap.error(f"no such harness: {', '.join(sorted(unknown))}")
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        outcomes = list(
            pool.map(
                lambda n: fuzz_one(n, args.budget, args.work, args.rss_mb, args.seed, args.runs),
                names,
            )
        )
    if args.coverage:
        for o in outcomes:
            o.coverage = line_coverage(o.harness, args.work)
    print(
        f"{'harness':<12} {'execs':>9} {'exec/s':>7} {'edges':>6} {'features':>8} "
        f"{'lines+branches':>14}  result"
    )
    for o in outcomes:
        result = f"CRASH {o.crash_file}" if o.crashed else "ok"
        print(
            f"{o.harness:<12} {o.executions:>9} {int(o.executions / max(o.seconds, 1e-3)):>7} "
            f"{o.edges:>6} {o.features:>8} {o.coverage or '-':>14}  {result}"
        )
    return 1 if any(o.crashed for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
