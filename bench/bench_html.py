"""HTML report: render time and page weight at 5,000 findings, and how the page copes in
headless Chromium (load, sort, filter).

    python bench/bench_html.py --corpus ~/.cache/hullscan-corpus \\
        [--image multi-layer-big] [--db osv.sqlite] [--findings 5000] [--runs 5]

The findings are the real ones of a corpus image's scan (``--db`` adds vulnerabilities
to the secret and config findings), repeated with numbered ids up to ``--findings``, so
every row has the shape and the evidence of a real finding. The Chromium figures need
Debian's chromium and chromium-driver (``bash scripts/chromium.sh``). No peer makes a
comparable page offline (Trivy's HTML template lives outside its binary), so no ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from hullscan.report.html import render_html


def scan(tar: Path, work: Path, db: Path | None) -> dict[str, Any]:
    out = work / "report.json"
    scanners = "vuln,secret,config" if db else "secret,config"
    cmd = [
        sys.executable,
        "-m",
        "hullscan.cli",
        "scan",
        str(tar),
        "--scanners",
        scanners,
        "-q",
        "--format",
        "json",
        "-o",
        str(out),
        "--cache-dir",
        str(work / "cache"),
    ]
    subprocess.run(cmd + (["--db", str(db)] if db else []), check=False)
    doc: dict[str, Any] = json.loads(out.read_text())
    return doc


def grow(doc: dict[str, Any], n: int) -> dict[str, Any]:
    """The document with its findings repeated, ids numbered, up to ``n``."""
    real = doc["findings"]
    findings = [
        {**real[i % len(real)], "id": f"{real[i % len(real)]['id']}-{i // len(real)}"}
        for i in range(n)
    ]
    return {**doc, "findings": findings}


def render_times(doc: dict[str, Any], runs: int) -> tuple[float, float, str]:
    """Median wall and CPU seconds of rendering (CPU time is steadier on a busy machine)."""
    wall, cpu, html = [], [], ""
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        html = render_html(doc, fail_on="HIGH")
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu), html


#: page actions, each on one element (found by CSS), timed inside the page until the next
#: layout is done: the Location column's sort, a kind, a text filter
ACTIONS = {
    "sort": ("#findings thead th:nth-child(8) button", "el.click()"),
    "filter kind": (
        'form[data-table="findings"] select[data-key="kind"]',
        "el.value = el.options[1].value; el.dispatchEvent(new Event('change', {bubbles: true}))",
    ),
    "filter text": (
        'form[data-table="findings"] input[data-key="text"]',
        "el.value = 'usr/'; el.dispatchEvent(new Event('input', {bubbles: true}))",
    ),
}


def browser_times(page: Path, runs: int) -> dict[str, float] | None:
    from browser import missing_chromium, start_chromium

    if missing_chromium():
        print(f"chromium: {missing_chromium()}", file=sys.stderr)
        return None
    from selenium.webdriver.common.by import By

    driver = start_chromium()
    measured: dict[str, list[float]] = {"load": [], **{k: [] for k in ACTIONS}}
    try:
        for _ in range(runs):
            start = time.perf_counter()
            driver.get(page.as_uri())  # returns after the load event
            measured["load"].append(time.perf_counter() - start)
            for what, (selector, action) in ACTIONS.items():
                element = driver.find_element(By.CSS_SELECTOR, selector)
                ms = driver.execute_script(
                    f"const el = arguments[0], t = performance.now(); {action}; "
                    "document.body.offsetHeight; return performance.now() - t;",
                    element,
                )
                measured[what].append(ms / 1000)
    finally:
        driver.quit()
    return {k: statistics.median(v) for k, v in measured.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=Path.home() / ".cache" / "hullscan-corpus")
    ap.add_argument("--image", default="multi-layer-big")
    ap.add_argument("--db", type=Path, help="advisory database: vulnerabilities too")
    ap.add_argument("--findings", type=int, default=5000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    tar = args.corpus / args.image / "docker-archive.tar"
    if not tar.exists():
        sys.exit(f"{tar} missing (../shared/corpus/build.sh builds it)")
    with tempfile.TemporaryDirectory(prefix="hullscan-bench-html-") as tmp:
        work = Path(tmp)
        doc = scan(tar, work, args.db)
        real = len(doc["findings"])
        if not real:
            sys.exit("the scan found nothing to repeat")
        big = grow(doc, args.findings)
        seconds, cpu, html = render_times(big, args.runs)
        page = work / "report.html"
        page.write_text(html, encoding="utf-8")
        print(
            f"{args.image}: {real} real findings repeated to {len(big['findings'])}, "
            f"{len(doc['packages'])} packages, {len(doc['image']['layers'])} layers"
        )
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        print(
            f"{'render (Python, Jinja2)':28s} {seconds * 1000:8.0f} ms   "
            f"({cpu * 1000:.0f} ms CPU)   page {len(html.encode()) / 1e6:.1f} MB"
        )
        shown = browser_times(page, args.runs)
        for what, value in (shown or {}).items():
            print(f"{'chromium ' + what:28s} {value * 1000:8.0f} ms")


if __name__ == "__main__":
    main()
