"""What the benchmarks share: finding the peer tools, timing a command (wall, CPU, peak
memory of the whole process tree), medians, and interleaved rounds.

The machine is shared and noisy, so tools that are compared run in the same rounds,
one after the other (``interleaved``), and the median of the rounds is kept.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


def peer(name: str) -> str | None:
    base = os.environ.get("PEERS_BIN")
    path = os.path.join(base, name) if base else shutil.which(name)
    return path if path and os.path.exists(path) else None


@dataclass(frozen=True)
class Run:
    """One run of a command: wall seconds, CPU seconds (user + sys, children included) and
    peak resident memory in MiB; a median keeps the rounds it was taken over."""

    wall: float
    cpu: float
    rss: float
    rounds: tuple[Run, ...] = ()


def paired_ratio(a: Run, b: Run, of: Callable[[Run], float]) -> float:
    """``a`` ÷ ``b`` as the median of the ratios of their rounds, where both were run in the
    same rounds: each round runs the two back to back, so a machine that speeds up or slows
    down between rounds moves both sides of a ratio, not one median against the other."""
    if a.rounds and len(a.rounds) == len(b.rounds):
        return statistics.median(of(x) / of(y) for x, y in zip(a.rounds, b.rounds, strict=True))
    return of(a) / of(b)


def timed(cmd: list[str], env: dict[str, str] | None = None) -> Run:
    """Run ``cmd`` once; exits on failure."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=dict(os.environ, SYFT_CHECK_FOR_APP_UPDATE="false", NO_COLOR="1", **(env or {})),
    )
    assert proc.stderr is not None
    err = proc.stderr.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{err[-2000:]}")
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def median(runs: list[Run]) -> Run:
    return Run(
        statistics.median(r.wall for r in runs),
        statistics.median(r.cpu for r in runs),
        statistics.median(r.rss for r in runs),
        tuple(runs),
    )


def median_run(cmd: list[str], runs: int, fresh: Path | None = None) -> tuple[float, float]:
    """(median wall seconds, median peak MiB) of ``runs`` runs; ``fresh`` is a cache
    directory emptied before each."""
    done = []
    for _ in range(runs):
        if fresh is not None:
            shutil.rmtree(fresh, ignore_errors=True)
        done.append(timed(cmd))
    m = median(done)
    return m.wall, m.rss


@dataclass
class Step:
    """One command of a round; ``before`` runs first, untimed (emptying or warming a cache)."""

    cmd: list[str]
    before: Callable[[], None] | None = None
    env: dict[str, str] | None = None


def interleaved(steps: dict[str, Step], rounds: int) -> dict[str, Run]:
    """Run every step once per round, in order, for ``rounds`` rounds; the median per step.

    A step whose name starts with another's and " cached" runs right after it and keeps its
    cache: that is how a rescan is timed."""
    done: dict[str, list[Run]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            if step.before is not None:
                step.before()
            done[name].append(timed(step.cmd, step.env))
    return {name: median(runs) for name, runs in done.items()}


def emptied(*dirs: Path) -> Callable[[], None]:
    """A ``before`` hook that empties cache directories."""

    def run() -> None:
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)

    return run
