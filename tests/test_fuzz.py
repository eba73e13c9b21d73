"""The fuzz harnesses (fuzz/), each run with atheris for a short budget
(``FUZZ_SMOKE_SECONDS``, default 3). libFuzzer first runs every committed seed and every
input that once broke a parser (``fuzz/regressions/``) against the harness' contract, then
mutates from a fixed random seed (the same run every time): a harness that rots, a
regression that returns, or a parser change that breaks the contract on nearby inputs
fails here and not in a long campaign."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

FUZZ = Path(__file__).resolve().parent.parent / "fuzz"
HARNESSES = sorted(p.stem.removeprefix("fuzz_") for p in FUZZ.glob("fuzz_*.py"))
#: inputs per harness, from a fixed seed: the same inputs on every machine, so that a smoke
#: run fails only where the code changed (deep, random runs: ``make fuzz``)
SMOKE_RUNS = int(os.environ.get("FUZZ_SMOKE_RUNS", "1500"))
SMOKE_SECONDS = 120  # a cap, not the measure
ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join(filter(None, [str(FUZZ), os.environ.get("PYTHONPATH")])),
}


def test_every_harness_has_seeds() -> None:
    assert len(HARNESSES) >= 20
    for name in HARNESSES:
        seeds = list((FUZZ / "seeds" / name).iterdir())
        assert seeds, name
        assert sum(p.stat().st_size for p in seeds) <= 256 * 1024, f"{name}: seeds too large"


@pytest.mark.parametrize("name", HARNESSES)
def test_smoke_fuzz(name: str, tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(FUZZ / "run.py"),
            "--budget",
            str(SMOKE_SECONDS),
            "--runs",
            str(SMOKE_RUNS),
            "--rss-mb",
            "1024",
            "--work",
            str(tmp_path),
            "--seed",
            "1",
            name,
        ],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=SMOKE_SECONDS + 300,
    )
    log = (tmp_path / f"{name}.log").read_text() if (tmp_path / f"{name}.log").exists() else ""
    assert proc.returncode == 0, proc.stdout + log[-6000:]
    executions = int(proc.stdout.splitlines()[-1].split()[1])
    assert executions >= SMOKE_RUNS, proc.stdout  # all of them, not a time's worth
