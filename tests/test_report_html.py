"""The HTML report and the server's page functions, without a browser: self-contained
(every inline block admitted by the Content-Security-Policy by hash, nothing fetched),
escaped, masked, and showing what the report document holds. tests/test_html_browser.py
opens the same pages in Chromium."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
import string
from dataclasses import replace
from datetime import UTC, datetime
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from hullscan.cli import main
from hullscan.model import Finding, ScanReport, Severity
from hullscan.report.html import (
    PAGE_ROWS,
    fleet_page,
    image_page,
    message_page,
    render_html,
    render_html_report,
    scans_page,
    worst_severity,
)
from hullscan.report.json_report import report_dict
from test_report_findings import L1, MASKED, REPORT, SECRET, SSL_VULN

import imagebuilder as ib

#: elements and attributes through which a page could fetch something
FETCHING = {
    ("script", "src"),
    ("img", "src"),
    ("link", "href"),
    ("iframe", "src"),
    ("object", "data"),
    ("embed", "src"),
    ("audio", "src"),
    ("video", "src"),
    ("source", "src"),
    ("image", "href"),
    ("use", "href"),
    ("form", "action"),
}


class _Page(HTMLParser):
    """Tags, attributes, inline blocks and table rows of a page."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.blocks: dict[str, list[str]] = {"style": [], "script": []}
        self._in: str | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in self.blocks:
            self._in = tag
            self.blocks[tag].append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == self._in:
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in:
            self.blocks[self._in][-1] += data

    def find(self, tag: str, **attrs: str) -> list[dict[str, str | None]]:
        return [
            a
            for t, a in self.tags
            if t == tag and all(a.get(k.replace("_", "-")) == v for k, v in attrs.items())
        ]

    def rows(self, table: str) -> list[dict[str, str | None]]:
        """The data-* attributes of the body rows of the table with this id."""
        out, inside = [], False
        for t, a in self.tags:
            if t == "table":
                inside = a.get("id") == table
            elif inside and t == "tr" and any(k.startswith("data-") for k in a):
                out.append(a)
        return out


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def _doc(report: ScanReport = REPORT) -> dict[str, Any]:
    return json.loads(json.dumps(report_dict(report)))


def assert_self_contained(text: str) -> _Page:
    page = _Page(text)
    (meta,) = page.find("meta", http_equiv="Content-Security-Policy")
    csp = dict(d.strip().split(" ", 1) for d in (meta["content"] or "").split(";"))
    assert csp["default-src"] == "'none'" and csp["base-uri"] == "'none'"
    assert "unsafe-inline" not in meta["content"] and "http" not in meta["content"]
    (style,), (script,) = page.blocks["style"], page.blocks["script"]
    assert csp["style-src"] == _hash(style) and csp["script-src"] == _hash(script)
    for tag, attrs in page.tags:
        for name, _value in attrs.items():
            assert (tag, name) not in FETCHING, f"<{tag} {name}> would fetch"
            assert name != "style" and not name.startswith("on"), f"inline {name} on <{tag}>"
    assert "url(" not in style and "@import" not in style
    assert not re.search(r"\bfetch\(|XMLHttpRequest|WebSocket|import\(", script)
    return page


def test_scan_page_is_self_contained_and_masks_secrets() -> None:
    text = render_html_report(REPORT)
    page = assert_self_contained(text)
    assert SECRET not in text  # the package metadata and the image config held it
    assert MASKED in text
    assert len(page.rows("findings")) == len(REPORT.findings)
    assert {r["data-kind"] for r in page.rows("findings")} == {
        "vulnerability",
        "secret",
        "misconfiguration",
    }
    # the secret sits in layer 1 and names its file and line
    (secret,) = [r for r in page.rows("findings") if r["data-kind"] == "secret"]
    assert secret["data-layer"] == "1" and secret["data-severity"] == "CRITICAL"
    assert "root/.aws/credentials:2" in text
    # the misconfiguration has no layer: it came from the image config
    (mis,) = [r for r in page.rows("findings") if r["data-kind"] == "misconfiguration"]
    assert mis["data-layer"] == "none"
    assert len(page.rows("packages")) == len(REPORT.inventory.packages)


def test_rows_are_worst_first_and_counted_by_severity_and_kind() -> None:
    doc = _doc()
    page = _Page(render_html(doc))
    ranks = [Severity[r["data-severity"] or ""] for r in page.rows("findings")]
    assert ranks == sorted(ranks, reverse=True)
    # the charts are labelled for screen readers with the counts they draw
    assert len(page.find("svg", role="img")) == 2
    text = render_html(doc)
    by_sev = re.search(r'<title id="chart-sev-t">([^<]*)</title>', text)
    by_kind = re.search(r'<title id="chart-kind-t">([^<]*)</title>', text)
    assert by_sev is not None and by_kind is not None
    assert by_sev.group(1) == (
        "Findings by severity: CRITICAL 2, HIGH 3, MEDIUM 1, LOW 2, UNKNOWN 1"
    )
    assert by_kind.group(1) == "Findings by kind: vulnerability 7, secret 1, misconfiguration 1"


def test_values_are_escaped_and_only_web_references_become_links() -> None:
    evil = Finding(
        kind="misconfiguration",
        id="HS-X",
        severity=Severity.LOW,
        title="<script>alert(1)</script>",
        evidence='"><img src=x onerror=alert(1)>',
        references=("javascript:alert(1)", "file:///etc/passwd", "https://example.org/HS-X"),
    )
    report = ScanReport(REPORT.inventory, findings=(evil,), scanners=("config",))
    text = render_html_report(report)
    page = assert_self_contained(text)
    assert "<script>alert" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert not page.find("img")
    hrefs = [a["href"] for a in page.find("a")]
    assert "https://example.org/HS-X" in hrefs
    assert not [h for h in hrefs if h and h.startswith(("javascript:", "file:"))]


def test_ids_link_only_to_a_reference_that_names_them() -> None:
    page = _Page(render_html_report(REPORT))
    hrefs = {a["href"] for a in page.find("a", rel="noopener noreferrer")}
    # CVE-2024-0727 has an NVD reference naming it; the Go finding has no references
    assert "https://nvd.nist.gov/vuln/detail/CVE-2024-0727" in hrefs
    assert not [h for h in hrefs if h and "CVE-2024-24790" in h]
    assert "not a url" not in hrefs


def test_kev_and_epss_are_highlighted_when_findings_carry_them() -> None:
    doc = _doc()
    for f in doc["findings"]:  # none carries them, then one does
        f.pop("kev", None)
        f.pop("epss", None)
    plain = render_html(doc)
    assert "Known exploited" not in plain and "EPSS" not in plain
    ssl = next(f for f in doc["findings"] if f["id"] == SSL_VULN.id)
    ssl["kev"] = {"date_added": "2024-02-01", "due_date": "2024-02-22", "ransomware": "Known"}
    ssl["epss"] = {"score": 0.9731, "percentile": 0.998, "date": "2024-05-01"}
    ssl["cvss"] = {
        "version": "3.1",
        "score": 5.5,
        "vector": "CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:N/I:N/A:H",
    }
    ssl["severity_source"] = "debian"
    text = render_html(doc)
    assert "<dt>CVSS</dt><dd>5.5 (v3.1) <code>CVSS:3.1/AV:L" in text
    assert "<dt>Severity from</dt><dd>debian</dd>" in text
    assert "Known exploited (CISA KEV)" in text and "2024-02-22" in text
    assert "97.3%" in text and "Most likely to be exploited (EPSS)" in text
    assert text.count('class="badge kev"') == 1


def test_verdict_against_fail_on() -> None:
    assert "Fails</strong> --fail-on HIGH: 5 findings" in render_html_report(REPORT, Severity.HIGH)
    only_low = ScanReport(REPORT.inventory, findings=(REPORT.findings[0],), scanners=("vuln",))
    assert "Passes</strong> --fail-on HIGH" in render_html_report(only_low, Severity.HIGH)
    assert "No --fail-on threshold was given" in render_html_report(REPORT)


def test_verdict_against_fail_on_kev() -> None:
    """The page's verdict is the exit code's: --fail-on-kev fails on a known-exploited
    finding of any severity."""
    import dataclasses

    from hullscan.model import Kev

    low = REPORT.findings[0]
    exploited = dataclasses.replace(low, kev=Kev("2024-02-01", "2024-02-22", "Known"))
    kev_report = ScanReport(REPORT.inventory, findings=(exploited,), scanners=("vuln",))
    plain = ScanReport(REPORT.inventory, findings=(low,), scanners=("vuln",))
    text = render_html_report(kev_report, Severity.HIGH, fail_on_kev=True)
    assert kev_report.exceeds(Severity.HIGH, kev=True)
    assert "Fails</strong> --fail-on HIGH --fail-on-kev: 1 known exploited" in text
    assert (
        "Passes</strong> --fail-on HIGH --fail-on-kev: nothing at or above HIGH, "
        "nothing known exploited" in render_html_report(plain, Severity.HIGH, fail_on_kev=True)
    )
    assert "Fails</strong> --fail-on-kev: 1 known exploited" in render_html_report(
        kev_report, None, fail_on_kev=True
    )
    assert "Passes</strong> --fail-on HIGH: nothing" in render_html_report(
        kev_report, Severity.HIGH
    )


def test_layers_show_bytes_added_wasted_and_findings() -> None:
    doc = _doc()
    doc["summary"]["image"] = {
        "layers": {
            "layers": 2,
            "layer_bytes": [4096, 3 * 1024**2],
            "layer_wasted_bytes": [2048, 0],
            "total_bytes": 3 * 1024**2 + 4096,
            "final_bytes": 3 * 1024**2 + 2048,
            "wasted_bytes": 2048,
            "removed_bytes": 0,
            "wasted_ratio": 0.0007,
            "efficiency": 0.9993,
        }
    }
    text = render_html(doc)
    layers = text[text.index('id="layers"') : text.index('id="packages-h"')]
    rows = layers.split("<tr>")[2:]
    assert "4.0 KiB" in rows[0] and "2.0 KiB" in rows[0] and "num warn" in rows[0]
    assert "3.0 MiB" in rows[1]
    findings_in_1 = sum(1 for f in doc["findings"] if f["layer"] == L1)
    assert f'data-layer-filter="1" aria-label="Show the {findings_in_1} findings' in rows[1]
    assert "efficiency 99.9%" in text


def test_sbom_page_has_no_findings_section() -> None:
    text = render_html_report(ScanReport(REPORT.inventory))
    assert_self_contained(text)
    assert "software bill of materials" in text and 'id="findings-h"' not in text
    assert 'id="packages"' in text and ">Findings</th>" not in text


def test_cli_writes_html_for_scan_and_sbom(tmp_path: Path) -> None:
    rng = random.Random(14)
    token = "ghp_" + "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(36))
    img = ib.build([ib.debian_base(), [ib.file("app/settings.py", f'GITHUB_TOKEN = "{token}"\n')]])
    archive = ib.write_docker_archive([(img, ["example/app:1.0"])], tmp_path / "app.tar")
    out = tmp_path / "scan.html"
    assert main(
        [
            "scan",
            str(archive),
            "--scanners",
            "secret,config",
            "--format",
            "html",
            "-o",
            str(out),
            "--cache-dir",
            str(tmp_path / "c"),
            "--fail-on",
            "critical",
        ]
    ) in (0, 1)
    text = out.read_text(encoding="utf-8")
    page = assert_self_contained(text)
    assert token not in text
    kinds = {r["data-kind"] for r in page.rows("findings")}
    assert kinds == {"secret", "misconfiguration"}
    (secret,) = [r for r in page.rows("findings") if r["data-kind"] == "secret"]
    assert secret["data-layer"] == "1" and "app/settings.py:1" in text
    assert "--fail-on CRITICAL" in text
    # the config scanner measured the layers: bytes added are shown for both
    assert "Bytes added and wasted per layer are measured" not in text
    sbom = tmp_path / "sbom.html"
    assert (
        main(
            [
                "sbom",
                str(archive),
                "--format",
                "html",
                "-o",
                str(sbom),
                "--cache-dir",
                str(tmp_path / "c"),
            ]
        )
        == 0
    )
    sbom_page = assert_self_contained(sbom.read_text(encoding="utf-8"))
    assert {r["data-type"] for r in sbom_page.rows("packages")} == {"deb", "pypi"}


# -- the server's pages ------------------------------------------------------------------


def test_scans_page_lists_scans_and_links_finished_ones() -> None:
    now = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)
    scans = [
        {
            "id": "a1",
            "status": "done",
            "image": "registry.example/app:<1>",
            "digest": "sha256:" + "e" * 64,
            "worst_severity": "HIGH",
            "created": "2026-01-02T09:30:00Z",
        },
        {
            "id": "b2",
            "status": "failed",
            "image": "registry.example/gone:1",
            "digest": None,
            "worst_severity": None,
            "created": "2026-01-01T12:00:00+00:00",
            "error": "manifest unknown",
        },
        {"id": "c3", "status": "queued", "image": "x:1", "created": "2026-01-02T11:59:30Z"},
    ]
    text = scans_page(scans, base="/ui", now=now)
    page = assert_self_contained(text)
    assert [r["data-status"] for r in page.rows("scans")] == ["done", "failed", "queued"]
    assert [a["href"] for a in page.find("a")][-1] == "/ui/images/sha256%3A" + "e" * 64
    assert "registry.example/app:&lt;1&gt;" in text and "manifest unknown" in text
    assert "2 h" in text and "1 d" in text and "30 s" in text
    assert [a["href"] for a in page.find("a")][:3] == ["#main", "/ui/scans", "/ui/fleet"]


def test_image_page_is_the_report_view_with_navigation() -> None:
    text = image_page(_doc(), base="/ui")
    page = assert_self_contained(text)
    assert len(page.rows("findings")) == len(REPORT.findings)
    assert [a["href"] for a in page.find("a")][:3] == ["#main", "/ui/scans", "/ui/fleet"]


#: ``hullscan fleet report --format json``'s document (hullscan.fleet-report/v1)
FLEET = {
    "schema": "hullscan.fleet-report/v1",
    "images": 3,
    "by_worst_severity": {"CRITICAL": 1, "HIGH": 0, "MEDIUM": 1, "LOW": 0, "UNKNOWN": 0, "NONE": 1},
    "top_vulnerabilities": [
        {
            "id": "CVE-2024-0727",
            "severity": "MEDIUM",
            "title": "PKCS12 <NULL> dereference",
            "images": 2,
            "examples": ["app:1", "api:2"],
        }
    ],
    "kev": [{"id": "CVE-2024-0727", "images": ["app:1"]}],
    "end_of_life": [
        {"image": "old:1", "digest": "sha256:" + "f" * 64, "os": "debian 10", "eol": "2024-06-30"}
    ],
    "worst_images": [
        {
            "digest": "sha256:" + "a" * 64,
            "image": "app:1",
            "worst": "CRITICAL",
            "findings": 12,
            "os": "debian 12",
            "scanned_at": "2026-01-02T09:00:00+00:00",
        },
        {
            "digest": "sha256:" + "b" * 64,
            "image": "api:2",
            "worst": "MEDIUM",
            "findings": 3,
            "os": "alpine 3.19",
            "scanned_at": "2026-01-02T10:00:00+00:00",
        },
        {
            "digest": "sha256:" + "f" * 64,
            "image": "old:1",
            "worst": "NONE",
            "findings": 0,
            "os": "debian 10",
            "scanned_at": None,
        },
    ],
}


def test_fleet_page_shows_the_fleet_report_document() -> None:
    text = fleet_page(FLEET, base="/ui")
    page = assert_self_contained(text)
    assert [r["data-worst"] for r in page.rows("images")] == ["CRITICAL", "MEDIUM", "NONE"]
    assert (
        "3 images; 1 known-exploited vulnerability; 1 image on an end-of-life distribution release"
    ) in text
    assert "PKCS12 &lt;NULL&gt; dereference" in text and "app:1, api:2" in text
    by_worst = re.search(r'<title id="chart-worst-t">([^<]*)</title>', text)
    assert by_worst is not None and by_worst.group(1).endswith("UNKNOWN 0, NONE 1")
    hrefs = [a["href"] for a in page.find("a")]
    assert "/ui/images/sha256%3A" + "a" * 64 in hrefs
    assert hrefs.count("/ui/images/sha256%3A" + "f" * 64) == 2  # end of life, and its row


def test_fleet_page_takes_any_subset_of_the_document() -> None:
    text = fleet_page(
        {"worst_images": [{"image": "bare:1"}], "top_vulnerabilities": [{"id": "CVE-2099-1"}]}
    )
    page = assert_self_contained(text)
    assert [r["data-worst"] for r in page.rows("images")] == [""]
    assert "1 image;" in text and "CVE-2099-1" in text
    assert "No images scanned yet" in fleet_page({})


def test_worst_severity_of_a_report() -> None:
    assert worst_severity(_doc()) == "CRITICAL"
    assert worst_severity(_doc(ScanReport(REPORT.inventory, findings=(SSL_VULN,)))) == "MEDIUM"
    assert worst_severity(_doc(ScanReport(REPORT.inventory))) is None


def test_unknown_fail_on_is_one_clear_error() -> None:
    from hullscan.model import HullscanError

    with pytest.raises(HullscanError, match="unknown severity"):
        render_html(_doc(), fail_on="SEVERE")


def test_long_tables_show_a_page_of_rows_and_a_button_for_more() -> None:
    many = tuple(replace(SSL_VULN, id=f"CVE-2099-{i:05d}") for i in range(PAGE_ROWS + 7))
    text = render_html_report(ScanReport(REPORT.inventory, findings=many, scanners=("vuln",)))
    page = _Page(text)
    rows = page.rows("findings")
    assert len(rows) == PAGE_ROWS + 7
    assert sum(1 for r in rows if "hidden" in r) == 7
    (more,) = page.find("button", data_more="findings")
    assert "hidden" not in more
    assert f"{PAGE_ROWS + 7} of {PAGE_ROWS + 7} findings; the first {PAGE_ROWS} shown" in text
    (few,) = _Page(render_html_report(REPORT)).find("button", data_more="findings")
    assert "hidden" in few


def _luminance(hex_color: str) -> float:
    def channel(c: int) -> float:
        v = c / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def _contrast(a: str, b: str) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_colours_meet_wcag_aa_contrast() -> None:
    """Text colours on the page background, and white badge text on each severity."""
    css = (resources.files("hullscan.report") / "templates" / "report.css").read_text()
    var = dict(re.findall(r"--([a-z]+): (#[0-9a-f]{6})", css))
    for text in ("fg", "muted", "link", "critical", "high", "medium", "low", "unknown", "none"):
        for background in ("bg", "panel"):
            assert _contrast(var[text], var[background]) >= 4.5, (text, background)
    for badge in ("critical", "high", "medium", "low", "unknown"):
        assert _contrast("#ffffff", var[badge]) >= 4.5, badge
    assert _contrast("#ffffff", "#24292f") >= 4.5  # the header bar


def test_message_page_escapes_and_links_back() -> None:
    text = message_page("No report", "no report for sha256:<x>", base="/ui")
    page = assert_self_contained(text)
    assert "sha256:&lt;x&gt;" in text and page.find("a", href="/ui/scans")


def test_fleet_report_as_html(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``hullscan fleet report --format html``: the stored reports' summary as a page of
    its own (no server navigation, no links to server pages)."""
    from hullscan.jobs.store import JobSpec, Store

    url = f"sqlite:///{tmp_path / 'results.sqlite'}"
    store = Store(url)
    store.record_scan(JobSpec("app:1", ("vuln",), "sha256:" + "a" * 64, "v1"), _doc(), {})
    store.record_scan(
        JobSpec("clean:1", ("vuln",), "sha256:" + "b" * 64, "v1"),
        _doc(ScanReport(REPORT.inventory)),
        {},
    )
    store.close()
    assert main(["fleet", "report", "--store", url, "--format", "html"]) == 0
    text = capsys.readouterr().out
    page = assert_self_contained(text)
    assert [r["data-worst"] for r in page.rows("images")] == ["CRITICAL", "NONE"]
    assert [a["href"] for a in page.find("a")] == ["#main"]
    assert "2 images;" in text and "CVE-2024-24790" in text
