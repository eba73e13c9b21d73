"""The HTML reports of real corpus images, and the server's pages, in headless Chromium:
no console error, no request beyond the page itself, the filter and sort controls leave
the right rows, no planted secret anywhere in the page, screenshots that show something.

``HULLSCAN_SCREENSHOTS=docs/img`` keeps the screenshots there (the README's pictures)."""

from __future__ import annotations

import base64
import json
import os
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from hullscan.cli import main
from hullscan.report.html import (
    PAGE_ROWS,
    fleet_page,
    human_bytes,
    render_html,
    scans_page,
    worst_severity,
)

from browser import Browser, assert_not_blank, chromium_browser  # noqa: F401  (the fixture "browser")
from conftest import corpus_image, truth

pytestmark = pytest.mark.corpus
MiB = 1024**2


@dataclass
class Report:
    html: Path
    doc: dict[str, Any]

    @property
    def url(self) -> str:
        return self.html.as_uri()

    def layer_of(self, finding: dict[str, Any]) -> str:
        index = {la["diff_id"]: str(la["index"]) for la in self.doc["image"]["layers"]}
        return index.get(finding.get("layer") or "", "none")


def _scan(image: str, out: Path, scanners: str, *extra: str) -> Report:
    archive = corpus_image(image) / "docker-archive.tar"
    args = [
        "scan",
        str(archive),
        "--scanners",
        scanners,
        "--cache-dir",
        str(out / "cache"),
        "-q",
        *extra,
    ]
    assert main([*args, "--format", "json", "-o", str(out / "report.json")]) in (0, 1)
    assert main(
        [*args, "--format", "html", "-o", str(out / "report.html"), "--fail-on", "HIGH"]
    ) in (0, 1)
    return Report(out / "report.html", json.loads((out / "report.json").read_text()))


@pytest.fixture(scope="module")
def secrets_report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    return _scan("secrets-and-misconfig", tmp_path_factory.mktemp("secrets"), "secret,config")


@pytest.fixture(scope="module")
def big_report(tmp_path_factory: pytest.TempPathFactory, full_vulndb: Path) -> Report:
    return _scan(
        "multi-layer-big",
        tmp_path_factory.mktemp("big"),
        "vuln,secret,config",
        "--db",
        str(full_vulndb),
    )


def _shots(tmp_path: Path) -> Path:
    return Path(os.environ.get("HULLSCAN_SCREENSHOTS") or tmp_path)


def _planted(image: str) -> list[str]:
    """Every secret value truth.json plants (long enough to be one), and encodings of it."""
    values = [
        s["match"]
        for s in truth(image)["secrets"]
        if len(s.get("match", "")) > 12 and "BEGIN" not in s["match"]
    ]
    return values + [base64.b64encode(v.encode()).decode() for v in values]


def _assert_quiet(browser: Browser, url: str) -> None:
    visit = browser.visit()
    assert visit.console_errors == []
    assert set(visit.requests) <= {url}, visit.requests


def test_secrets_report_filters_sorts_and_leaks_nothing(
    browser: Browser, secrets_report: Report, tmp_path: Path
) -> None:
    report = secrets_report
    visit = browser.open(report.url)
    assert visit.console_errors == []
    assert visit.requests == [report.url]  # the file itself, nothing else
    findings = report.doc["findings"]
    assert len(browser.rows("findings")) == len(findings)
    browser.screenshot(_shots(tmp_path) / "report.png", width=900)
    # the skip link is the first stop of the Tab key and leads to the content
    ActionChains(browser.driver).send_keys(Keys.TAB).perform()
    focused = browser.driver.switch_to.active_element
    assert str(focused.get_attribute("href")).endswith("#main") and focused.is_displayed()

    # no planted secret in the source or in any text, expanded or not
    source = browser.driver.page_source
    text = browser.driver.execute_script("return document.documentElement.textContent")
    for value in _planted("secrets-and-misconfig"):
        assert value not in source and value not in text

    # kind: only the secrets remain, and the live count says how many
    browser.select("findings", "kind", "secret")
    rows = browser.rows("findings")
    secrets = [f for f in findings if f["kind"] == "secret"]
    assert {r["kind"] for r in rows} == {"secret"} and len(rows) == len(secrets)
    assert browser.count_text("findings") == f"{len(secrets)} of {len(findings)} findings"

    # layer: the build step of layer 3 (deleted later: the git credentials, the deploy key)
    browser.select("findings", "layer", "3")
    rows = browser.rows("findings")
    expected = [f for f in secrets if report.layer_of(f) == "3"]
    assert rows and len(rows) == len(expected)
    assert {r["layer"] for r in rows} == {"3"}
    gone = {
        s["path"].lstrip("/"): s["deleted_in_layer"]
        for s in truth("secrets-and-misconfig")["secrets"]
        if s.get("deleted_in_layer")
    }
    for r in rows:
        path = r["cells"][7].split(":")[0].split(" ")[0]
        if path in gone:
            assert f"deleted in #{gone[path]}, still ships" in r["cells"][7]

    # free text narrows further; clearing brings every row back
    browser.type("findings", "text", "git-credentials")
    rows = browser.rows("findings")
    assert rows and all("git-credentials" in r["cells"][7] for r in rows)
    browser.reset("findings")
    assert len(browser.rows("findings")) == len(findings)

    # sort: severity ascending, then by location
    assert browser.sort("findings", "Severity") == "ascending"
    ranks = [r["cells"][0] for r in browser.rows("findings")]
    order = ["UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
    assert [order.index(s) for s in ranks] == sorted(order.index(s) for s in ranks)
    assert browser.sort("findings", "Location") == "ascending"
    where = [r["cells"][7].lower() for r in browser.rows("findings")]
    assert where == sorted(where)

    # evidence expands, masked
    aws = browser.driver.find_element(
        By.XPATH,
        "//table[@id='findings']//tr[@data-kind='secret']"
        "[td[contains(., 'root/.aws/credentials:2')]]//summary",
    )
    aws.click()
    panel = aws.find_element(By.XPATH, "..").text
    assert "Match (masked)" in panel and "****" in panel

    # the keyboard alone sorts and expands: Enter on a column's button, on a title
    kind = browser.driver.find_element(
        By.XPATH, "//table[@id='findings']//th[button[normalize-space()='Kind']]"
    )
    kind.find_element(By.TAG_NAME, "button").send_keys(Keys.ENTER)
    assert kind.get_attribute("aria-sort") == "ascending"
    kinds = [r["cells"][1] for r in browser.rows("findings")]
    assert kinds == sorted(kinds)
    summary = browser.driver.find_elements(By.CSS_SELECTOR, "#findings summary")[0]
    summary.send_keys(Keys.ENTER)
    assert summary.find_element(By.XPATH, "..").get_attribute("open") is not None

    # every control is labelled for a screen reader
    unlabelled = browser.driver.execute_script(
        "return Array.from(document.querySelectorAll('select, input'))"
        ".filter(e => e.labels.length === 0).length"
    )
    assert unlabelled == 0
    _assert_quiet(browser, report.url)


def test_big_report_layers_and_packages(
    browser: Browser, big_report: Report, tmp_path: Path
) -> None:
    report = big_report
    visit = browser.open(report.url)
    assert visit.console_errors == [] and visit.requests == [report.url]

    layers = browser.rows("layers")
    assert len(layers) == len(truth("multi-layer-big")["layers"]) == 11
    cells = {int(r["cells"][0]): r["cells"] for r in layers}
    # layer 7: 64 MiB of random bytes that no later layer touches
    assert "blob.bin" in cells[7][1] and cells[7][3] == human_bytes(64 * MiB)
    assert cells[7][4] == "0 B"
    # the last layer deletes /usr/share/{doc,man,locale}/*: files the apt layers added, so
    # those layers hold wasted bytes, and the deleting layer adds none
    assert cells[10][3] == "0 B" and "rm -rf" in cells[10][1]
    for i in range(7):
        assert cells[i][4] != "0 B", cells[i]

    # a layer's findings button filters the findings table to that layer
    button = browser.driver.find_element(By.CSS_SELECTOR, "button[data-layer-filter]")
    layer = button.get_attribute("data-layer-filter")
    button.click()
    rows = browser.rows("findings")
    assert rows and {r["layer"] for r in rows} == {layer}
    assert (
        len(rows)
        == int(button.text)
        == sum(1 for f in report.doc["findings"] if report.layer_of(f) == layer)
    )

    # vulnerabilities of one package
    browser.reset("findings")
    browser.select("findings", "kind", "vulnerability")
    browser.type("findings", "package", "openssl")
    rows = browser.rows("findings")
    expected = [
        f
        for f in report.doc["findings"]
        if f["kind"] == "vulnerability" and "openssl" in f["package"]["name"]
    ]
    assert len(rows) == len(expected)
    assert all("openssl" in r["package"] for r in rows)

    # the SBOM: search, type filter, sort by version
    browser.type("packages", "text", "openjdk")
    rows = browser.rows("packages")
    assert rows and all("openjdk" in " ".join(r["cells"]) for r in rows)
    # the search reads every column: name, version, source, path and purl
    assert len(rows) == sum(
        1
        for p in report.doc["packages"]
        if "openjdk"
        in json.dumps(
            [
                p["name"],
                p["version"],
                p["purl"],
                p.get("source_name", ""),
                p["locations"][0]["path"] if p["locations"] else "",
            ]
        )
    )
    browser.reset("packages")
    browser.select("packages", "type", "deb")
    rows = browser.rows("packages")
    assert len(rows) == sum(1 for p in report.doc["packages"] if p["type"] == "deb")
    assert browser.sort("packages", "Name") == "descending"
    names = [r["cells"][1].lower() for r in browser.rows("packages")]
    assert names == sorted(names, reverse=True)
    _assert_quiet(browser, report.url)
    browser.driver.execute_script("document.getElementById('layers-h').scrollIntoView()")
    browser.screenshot(_shots(tmp_path) / "layers.png", width=900)


def _name(doc: dict[str, Any]) -> str:
    return str(doc["image"]["repo_tags"][0])


def _fleet_report(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """These reports as ``hullscan fleet report --format json`` sums them up."""
    images = [
        {
            "image": _name(d),
            "digest": d["image"]["config_digest"],
            "worst": worst_severity(d) or "NONE",
            "findings": len(d["findings"]),
            "os": f"{d['image']['os']['id']} {d['image']['os']['version_id']}",
            "scanned_at": None,
        }
        for d in docs
    ]
    vulns = Counter(
        f["id"]
        for d in docs
        for f in {f["id"]: f for f in d["findings"] if f["kind"] == "vulnerability"}.values()
    )
    first = {f["id"]: (f, _name(d)) for d in reversed(docs) for f in d["findings"]}
    return {
        "schema": "hullscan.fleet-report/v1",
        "images": len(images),
        "by_worst_severity": dict(Counter(i["worst"] for i in images)),
        "top_vulnerabilities": [
            {
                "id": v,
                "severity": first[v][0]["severity"],
                "title": first[v][0]["title"],
                "images": n,
                "examples": [first[v][1]],
            }
            for v, n in vulns.most_common(5)
        ],
        "kev": [],
        "end_of_life": [],
        "worst_images": images,
    }


def test_server_pages(
    browser: Browser, secrets_report: Report, big_report: Report, tmp_path: Path
) -> None:
    """The /ui pages as the server renders them, from the same two real reports."""
    docs = [secrets_report.doc, big_report.doc]
    now = datetime.now(UTC)
    scans = [
        {
            "id": f"s{i}",
            "status": "done",
            "image": _name(d),
            "digest": d["image"]["config_digest"],
            "worst_severity": worst_severity(d),
            "created": (now - timedelta(hours=i + 1)).isoformat(),
        }
        for i, d in enumerate(docs)
    ]
    scans.append(
        {
            "id": "s9",
            "status": "failed",
            "image": "registry.example/app:1",
            "digest": None,
            "created": (now - timedelta(days=2)).isoformat(),
            "error": "manifest unknown",
        }
    )
    page = tmp_path / "scans.html"
    page.write_text(scans_page(scans), encoding="utf-8")
    visit = browser.open(page.as_uri())
    assert visit.console_errors == [] and visit.requests == [page.as_uri()]
    browser.select("scans", "status", "done")
    rows = browser.rows("scans")
    assert [r["cells"][1] for r in rows] == [s["image"] for s in scans[:2]]
    links = [
        a.get_attribute("href") for a in browser.driver.find_elements(By.CSS_SELECTOR, "#scans a")
    ]
    assert links[0].endswith("/ui/images/" + str(scans[0]["digest"]).replace(":", "%3A"))
    browser.reset("scans")
    _assert_quiet(browser, page.as_uri())
    browser.screenshot(_shots(tmp_path) / "scans.png", width=900)

    fleet = tmp_path / "fleet.html"
    fleet.write_text(fleet_page(_fleet_report(docs)), encoding="utf-8")
    visit = browser.open(fleet.as_uri())
    assert visit.console_errors == [] and visit.requests == [fleet.as_uri()]
    worst = worst_severity(secrets_report.doc)
    browser.select("images", "worst", str(worst))
    rows = browser.rows("images")
    assert [r["cells"][0] for r in rows] == [_name(d) for d in docs if worst_severity(d) == worst]
    browser.reset("images")
    _assert_quiet(browser, fleet.as_uri())
    browser.screenshot(_shots(tmp_path) / "fleet.png", width=900)


def test_many_findings_page_through(browser: Browser, big_report: Report, tmp_path: Path) -> None:
    """1,200 findings (the image's real ones, repeated with numbered ids): the browser shows
    PAGE_ROWS at a time, and filtering and sorting work on all of them."""
    real = big_report.doc["findings"]
    findings = [
        {**real[i % len(real)], "id": f"{real[i % len(real)]['id']}-{i}"} for i in range(1200)
    ]
    page = tmp_path / "many.html"
    page.write_text(render_html({**big_report.doc, "findings": findings}), encoding="utf-8")
    visit = browser.open(page.as_uri())
    assert visit.console_errors == [] and visit.requests == [page.as_uri()]
    assert len(browser.rows("findings")) == PAGE_ROWS
    assert browser.count_text("findings") == f"1200 of 1200 findings; the first {PAGE_ROWS} shown"
    more = browser.driver.find_element(By.CSS_SELECTOR, 'button[data-more="findings"]')
    more.click()
    assert len(browser.rows("findings")) == min(1200, 2 * PAGE_ROWS)
    while more.is_displayed():
        more.click()
    assert len(browser.rows("findings")) == 1200

    # sorting ranks all 1,200, and the first page holds the lowest severities
    assert browser.sort("findings", "Severity") == "ascending"
    order = ["UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
    lowest = sorted(order.index(f["severity"]) for f in findings)[:PAGE_ROWS]
    assert [order.index(r["cells"][0]) for r in browser.rows("findings")] == lowest

    browser.select("findings", "kind", "misconfiguration")
    rows = browser.rows("findings")
    assert len(rows) == sum(1 for f in findings if f["kind"] == "misconfiguration")
    assert {r["kind"] for r in rows} == {"misconfiguration"} and not more.is_displayed()
    _assert_quiet(browser, page.as_uri())


def test_blank_screenshots_are_caught() -> None:
    blank = Image.new("RGB", (900, 600), "white")
    with pytest.raises(AssertionError, match="blank"):
        assert_not_blank(blank)
    ImageDraw.Draw(blank).rectangle((10, 10, 40, 20), fill="black")  # a speck
    with pytest.raises(AssertionError):
        assert_not_blank(blank)
