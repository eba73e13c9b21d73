"""Finding reporters: SARIF 2.1.0 (checked against the official OASIS schema and the
properties GitHub code scanning requires), JUnit XML (parsed as CI servers do), and
CycloneDX 1.6 with vulnerabilities (strict schema validation)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL

from hullscan import __version__
from hullscan.model import (
    FINDING_KINDS,
    Cvss,
    Epss,
    Finding,
    ImageMeta,
    Inventory,
    Kev,
    LayerInfo,
    Location,
    OSInfo,
    Package,
    ScanReport,
    Severity,
    Suppressed,
)
from hullscan.report.cyclonedx import render_cyclonedx, render_cyclonedx_report
from hullscan.report.junit import render_junit
from hullscan.report.sarif import render_sarif

SARIF_SCHEMA = Path(__file__).parent / "schemas" / "sarif-2.1.0.schema.json"
NOW = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
L0 = "sha256:" + "a" * 64
L1 = "sha256:" + "b" * 64
#: a credential planted in the image config and package metadata: no report may carry it
SECRET = "AKIAIOSFODNN7EXAMPLE"
MASKED = "AKIA************MPLE"
DPKG = Location("var/lib/dpkg/status", L0)


def _deb(name: str, version: str, source: str) -> Package:
    purl = str(
        PackageURL(
            type="deb",
            namespace="debian",
            name=name,
            version=version,
            qualifiers={"arch": "amd64", "distro": "debian-12"},
        )
    )
    return Package(
        name=name,
        version=version,
        type="deb",
        purl=purl,
        source_name=source,
        source_version=version,
        arch="amd64",
        locations=(DPKG,),
        found_by="dpkg",
    )


LIBSSL = _deb("libssl3", "3.0.11-1~deb12u2", "openssl")
ZLIB = _deb("zlib1g", "1:1.2.13.dfsg-1", "zlib")
REQUESTS = Package(
    name="requests",
    version="2.30.0",
    type="pypi",
    purl="pkg:pypi/requests@2.30.0",
    locations=(Location("usr/lib/python3/dist-packages/requests-2.30.0.dist-info/METADATA", L1),),
    found_by="python-dist",
    metadata={"note": f"token={SECRET}"},
)
SIX_A, SIX_B = (
    Package(
        name="six",
        version="1.16.0",
        type="pypi",
        purl="pkg:pypi/six@1.16.0",
        locations=(Location(p, L1),),
        found_by="python-dist",
    )
    for p in (
        "usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA",
        "opt/venv/lib/python3.11/site-packages/six-1.16.0.dist-info/METADATA",
    )
)
STDLIB = Package(
    name="stdlib",
    version="1.21.6",
    type="golang",
    purl="pkg:golang/stdlib@1.21.6",
    locations=(Location("usr/local/bin/app", L1),),
    found_by="go-binary",
)
#: a package the inventory does not list (e.g. from a stale cache): affects the image
STRAY = Package(name="ghost", version="1.0", type="npm", purl="pkg:npm/ghost@1.0")

IMAGE = ImageMeta(
    ref="docker-archive:/tmp/debian-app.tar",
    transport="docker-archive",
    digest="sha256:" + "c" * 64,
    config_digest="sha256:" + "d" * 64,
    repo_tags=("registry.example.com:5000/team/debian-app:1.2",),
    platform="linux/amd64",
    layers=(
        LayerInfo(0, L0, None, "application/vnd.oci.image.layer.v1.tar", 10),
        LayerInfo(1, L1, None, "application/vnd.oci.image.layer.v1.tar", 20),
    ),
    config={"config": {"Env": [f"AWS_ACCESS_KEY_ID={SECRET}"]}},
)
INV = Inventory(
    image=IMAGE,
    os=OSInfo(id="debian", version_id="12"),
    packages=(LIBSSL, ZLIB, REQUESTS, SIX_A, SIX_B, STDLIB),
)


def _vuln(vid: str, pkg: Package, sev: Severity, fixed: str = "", **kw: Any) -> Finding:
    return Finding(
        kind="vulnerability",
        id=vid,
        severity=sev,
        package=pkg,
        installed_version=pkg.version,
        fixed_version=fixed,
        status="fixed" if fixed else "affected",
        path=pkg.locations[0].path if pkg.locations else None,
        layer=pkg.locations[0].layer if pkg.locations else None,
        **kw,
    )


SSL_VULN = _vuln(
    "CVE-2024-0727",
    LIBSSL,
    Severity.MEDIUM,
    "3.0.13-1~deb12u1",
    aliases=("DSA-5678-1",),
    title="PKCS12 NULL dereference",
    description="Processing a maliciously formatted PKCS12 file may lead OpenSSL to crash.",
    references=(
        "not a url",
        "https://nvd.nist.gov/vuln/detail/CVE-2024-0727",
        "https://www.openssl.org/news/secadv/20240125.txt",
    ),
    severity_source="CVSS_V3",
    cvss=Cvss("3.1", "CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:N/I:N/A:H", 5.5),
)
REQ_VULN = _vuln(
    "GHSA-j8r2-6x86-q33q",
    REQUESTS,
    Severity.HIGH,
    "2.31.0",
    aliases=("CVE-2023-32681", "PYSEC-2023-74"),
    title="Unintended leak of Proxy-Authorization header",
    references=("https://github.com/advisories/GHSA-j8r2-6x86-q33q",),
)
GO_VULN = _vuln(
    "CVE-2024-24790",
    STDLIB,
    Severity.CRITICAL,
    title="net/netip IPv4-mapped",
    severity_source="CVSS_V3",
    cvss=Cvss("3.1", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
    kev=Kev("2024-07-01", "2024-07-22", "Known"),
    epss=Epss(0.9412, 0.9991, "2024-08-01"),
)
SIX_VULNS = tuple(
    _vuln("CVE-2099-0001", p, Severity.LOW, title="made-up six bug") for p in (SIX_A, SIX_B)
)
ZLIB_VULN = _vuln(
    "CVE-2023-45853",
    ZLIB,
    Severity.UNKNOWN,
    title="MiniZip overflow",
    severity_source="debian",  # a distribution's word: its CVSS is not the score
    cvss=Cvss("3.1", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
)
STRAY_VULN = _vuln("CVE-2099-0002", STRAY, Severity.HIGH, "1.1", title="stray")
SECRET_FINDING = Finding(
    kind="secret",
    id="aws-access-key-id",
    severity=Severity.CRITICAL,
    title="AWS access key ID",
    path="root/.aws/credentials",
    layer=L1,
    line=2,
    evidence=f"aws_access_key_id = {MASKED}",
    remediation="Remove it and rotate the key.",
)
MISCONFIG = Finding(
    kind="misconfiguration",
    id="HS-IMG-001",
    severity=Severity.HIGH,
    title="Image runs as root",
    evidence="config.User is empty",
    remediation="Add a USER instruction",
    standards=("CIS-Docker-4.1", "DL3002", "DS002"),
)
VEX_SUPPRESSED = Suppressed(
    _vuln("CVE-2023-5678", LIBSSL, Severity.MEDIUM, title="DH check slow"),
    "vulnerable_code_not_in_execute_path: we never call DH_check",
    "vex",
)
IGNORED = Suppressed(
    _vuln("CVE-2023-1111", ZLIB, Severity.LOW, title="zlib thing"),
    "false positive: fixed by the distro backport (until 2030-01-01)",
    ".hullscanignore",
)

REPORT = ScanReport(
    inventory=INV,
    findings=(
        SSL_VULN,
        REQ_VULN,
        GO_VULN,
        *SIX_VULNS,
        ZLIB_VULN,
        STRAY_VULN,
        SECRET_FINDING,
        MISCONFIG,
    ),
    suppressed=(VEX_SUPPRESSED, IGNORED),
    scanners=("vuln", "secret", "config", "supplychain"),
    warnings=("advisory database is 9 days old",),
)
EMPTY = ScanReport(
    inventory=Inventory(
        image=ImageMeta(ref="dir:/srv/rootfs", transport="dir", digest=None, config_digest=None),
        os=None,
        packages=(),
    )
)


# --- SARIF -----------------------------------------------------------------------------


@cache
def _sarif_validator() -> Any:
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    # the official schema's run.language pattern "^(?i)…" is not a valid Python regex, so
    # check_schema() would refuse it; hullscan never writes "language", so it never runs
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def _sarif(report: ScanReport = REPORT) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(render_sarif(report))
    return out


def _results(doc: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = doc["runs"][0]["results"]
    return out


def _result_for(doc: dict[str, Any], rule_id: str) -> list[dict[str, Any]]:
    return [r for r in _results(doc) if r["ruleId"] == rule_id]


def _rules(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in doc["runs"][0]["tool"]["driver"]["rules"]}


def test_official_schema_copy_is_the_sarif_2_1_0_schema() -> None:
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    assert schema["title"] == "Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema"
    assert schema["properties"]["version"]["enum"] == ["2.1.0"]


@pytest.mark.parametrize("report", [REPORT, EMPTY], ids=["findings", "empty"])
def test_sarif_validates_against_official_schema(report: ScanReport) -> None:
    errors = sorted(_sarif_validator().iter_errors(_sarif(report)), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])


def test_schema_validation_is_not_vacuous() -> None:
    doc = _sarif()
    doc["runs"][0]["results"][0]["level"] = "fatal"
    doc["runs"][0]["results"][1]["locations"][0]["physicalLocation"]["region"]["startLine"] = 0
    doc["runs"][0]["tool"]["driver"]["informationUri"] = "not a uri"
    messages = {e.message for e in _sarif_validator().iter_errors(doc)}
    assert any("fatal" in m for m in messages)
    assert any("less than the minimum" in m for m in messages)
    assert any("not a 'uri'" in m for m in messages)


def test_sarif_meets_github_code_scanning_requirements() -> None:
    doc = _sarif()
    assert doc["version"] == "2.1.0" and len(doc["runs"]) == 1
    driver = doc["runs"][0]["tool"]["driver"]
    assert driver["name"] == "hullscan" and driver["version"] == __version__
    rules = driver["rules"]
    assert len({r["id"] for r in rules}) == len(rules)  # one rule per id
    for rule in rules:
        assert rule["shortDescription"]["text"] and rule["fullDescription"]["text"]
        assert rule["help"]["text"]
        assert 0.0 <= float(rule["properties"]["security-severity"]) <= 10.0
        assert rule["properties"]["tags"][0] == "security"
    for result in _results(doc):
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["message"]["text"]
        assert 1 <= len(result["locations"]) <= 10
        physical = result["locations"][0]["physicalLocation"]
        assert not physical["artifactLocation"]["uri"].startswith("/")
        assert physical["region"]["startLine"] >= 1
        assert result["partialFingerprints"]


def test_sarif_levels_and_security_severity() -> None:
    doc = _sarif()
    rules = _rules(doc)
    expected = {  # id: (level, security-severity, severity tag, kind)
        "CVE-2024-24790": ("error", "9.8", "CRITICAL", "vulnerability"),  # CVSS score
        "GHSA-j8r2-6x86-q33q": ("error", "8.0", "HIGH", "vulnerability"),  # band default
        "CVE-2024-0727": ("warning", "5.5", "MEDIUM", "vulnerability"),
        "CVE-2099-0001": ("note", "2.0", "LOW", "vulnerability"),
        "CVE-2023-45853": ("note", "0.0", "UNKNOWN", "vulnerability"),  # debian's rating
        "aws-access-key-id": ("error", "9.5", "CRITICAL", "secret"),
        "HS-IMG-001": ("error", "8.0", "HIGH", "misconfiguration"),
    }
    for rule_id, (level, score, sev, kind) in expected.items():
        assert {r["level"] for r in _result_for(doc, rule_id)} == {level}, rule_id
        assert rules[rule_id]["properties"]["security-severity"] == score, rule_id
        assert rules[rule_id]["properties"]["tags"] == ["security", kind, sev], rule_id
        assert rules[rule_id]["defaultConfiguration"]["level"] == level


def test_sarif_rules_describe_the_finding() -> None:
    rules = _rules(_sarif())
    ssl = rules["CVE-2024-0727"]
    assert ssl["shortDescription"]["text"] == "PKCS12 NULL dereference"
    assert ssl["fullDescription"]["text"].startswith("Processing a maliciously")
    assert ssl["helpUri"] == "https://nvd.nist.gov/vuln/detail/CVE-2024-0727"  # first URL
    assert "helpUri" not in rules["HS-IMG-001"]
    assert "DL3002" in rules["HS-IMG-001"]["help"]["text"]
    assert len(_result_for(_sarif(), "CVE-2099-0001")) == 2  # one rule, two results


def test_sarif_messages_and_locations() -> None:
    doc = _sarif()
    (ssl,) = _result_for(doc, "CVE-2024-0727")
    assert ssl["message"]["text"].startswith(
        "libssl3@3.0.11-1~deb12u2: CVE-2024-0727 (fixed in 3.0.13-1~deb12u1)"
    )
    (go,) = _result_for(doc, "CVE-2024-24790")
    assert go["message"]["text"].startswith("stdlib@1.21.6: CVE-2024-24790 (no fix available)")

    def where(r: dict[str, Any]) -> tuple[str, int]:
        physical = r["locations"][0]["physicalLocation"]
        return physical["artifactLocation"]["uri"], physical["region"]["startLine"]

    assert where(ssl) == ("var/lib/dpkg/status", 1)
    (secret,) = _result_for(doc, "aws-access-key-id")
    assert where(secret) == ("root/.aws/credentials", 2)
    (misconfig,) = _result_for(doc, "HS-IMG-001")  # no path, no package: the image
    assert where(misconfig) == ("registry.example.com%3A5000/team/debian-app%3A1.2", 1)
    (stray,) = _result_for(doc, "CVE-2099-0002")  # a package without locations
    assert where(stray)[0] == "registry.example.com%3A5000/team/debian-app%3A1.2"
    # a finding without its own path falls back to its package's first location
    no_path = replace(REQ_VULN, path=None)
    (r,) = _result_for(_sarif(replace(REPORT, findings=(no_path,), suppressed=())), REQ_VULN.id)
    assert where(r)[0] == REQUESTS.locations[0].path
    # a leading slash is dropped
    slashed = replace(SECRET_FINDING, path="/etc/shadow", line=None)
    (r,) = _result_for(
        _sarif(replace(REPORT, findings=(slashed,), suppressed=())), SECRET_FINDING.id
    )
    assert where(r) == ("etc/shadow", 1)


def test_sarif_fingerprints_are_stable_and_distinct() -> None:
    def key(r: dict[str, Any]) -> tuple[str, str]:
        return r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]

    first = {key(r): r["partialFingerprints"] for r in _results(_sarif())}
    # another scan: findings in another order, another warning, a rebuilt image digest
    again = replace(
        REPORT,
        findings=tuple(reversed(REPORT.findings)),
        warnings=(),
        inventory=replace(INV, image=replace(IMAGE, digest="sha256:" + "e" * 64)),
    )
    second = {key(r): r["partialFingerprints"] for r in _results(_sarif(again))}
    assert first == second and len(first) == len(_results(_sarif()))
    values = [next(iter(fp.values())) for fp in first.values()]
    assert len(set(values)) == len(values)  # the two copies of six differ by path
    assert render_sarif(REPORT) == render_sarif(REPORT)


def test_sarif_suppressed_findings_carry_suppressions() -> None:
    doc = _sarif()
    (vex,) = _result_for(doc, "CVE-2023-5678")
    assert vex["suppressions"] == [
        {
            "kind": "external",
            "status": "accepted",
            "justification": "vulnerable_code_not_in_execute_path: we never call DH_check",
            "properties": {"source": "vex"},
        }
    ]
    (ignored,) = _result_for(doc, "CVE-2023-1111")
    assert ignored["suppressions"][0]["justification"].startswith("false positive")
    assert all("suppressions" not in r for r in _result_for(doc, "CVE-2024-0727"))


def test_sarif_carries_warnings_as_notifications() -> None:
    run = _sarif()["runs"][0]
    notes = run["invocations"][0]["toolExecutionNotifications"]
    assert [n["message"]["text"] for n in notes] == ["advisory database is 9 days old"]
    assert "invocations" not in _sarif(EMPTY)["runs"][0]


# --- JUnit -----------------------------------------------------------------------------


def _junit(report: ScanReport = REPORT) -> ET.Element:
    return ET.fromstring(render_junit(report).encode("utf-8"))


def _suites(root: ET.Element) -> dict[str, ET.Element]:
    return {s.get("name", ""): s for s in root.iter("testsuite")}


def test_junit_structure_and_counts() -> None:
    root = _junit()
    assert root.tag == "testsuites"
    suites = _suites(root)
    assert list(suites) == [
        "hullscan vulnerability",
        "hullscan secret",
        "hullscan misconfiguration",
        "hullscan supplychain",
    ]
    vulns = suites["hullscan vulnerability"]
    failures = [c for c in vulns.iter("testcase") if c.find("failure") is not None]
    skipped = [c for c in vulns.iter("testcase") if c.find("skipped") is not None]
    assert len(failures) == 7 and len(skipped) == 2
    assert vulns.get("tests") == "9" and vulns.get("failures") == "7"
    assert vulns.get("skipped") == "2" and vulns.get("errors") == "0"
    assert root.get("tests") == str(sum(int(s.get("tests", "0")) for s in suites.values()))
    assert root.get("failures") == "9"  # 7 vulnerabilities, a secret, a misconfiguration
    # a scanned kind without findings passes, so CI shows green
    (clean,) = suites["hullscan supplychain"].iter("testcase")
    assert clean.get("name") == "no supplychain findings"
    assert list(clean) == [] and suites["hullscan supplychain"].get("failures") == "0"


def test_junit_failures_say_what_and_how_bad() -> None:
    suites = _suites(_junit())
    cases = {c.get("name"): c for c in suites["hullscan vulnerability"].iter("testcase")}
    case = cases["CVE-2024-0727 libssl3@3.0.11-1~deb12u2"]
    assert case.get("classname") == "hullscan.vulnerability"
    failure = case.find("failure")
    assert failure is not None
    assert failure.get("type") == "MEDIUM" and failure.get("message") == SSL_VULN.title
    assert "Fixed: 3.0.13-1~deb12u1" in (failure.text or "")
    (secret,) = suites["hullscan secret"].iter("testcase")
    assert secret.get("name") == "aws-access-key-id root/.aws/credentials:2"
    skipped = cases["CVE-2023-5678 libssl3@3.0.11-1~deb12u2"].find("skipped")
    assert skipped is not None
    assert skipped.get("message", "").startswith("suppressed by vex: vulnerable_code_not_in")


def test_junit_escapes_markup_and_control_characters() -> None:
    nasty = replace(
        MISCONFIG,
        title="<b>\"x\" & 'y'</b> ]]> \x1b[31mred\x00",
        evidence="</failure><testcase name='injected'/>",
    )
    root = _junit(replace(REPORT, findings=(nasty,), suppressed=()))
    (case,) = _suites(root)["hullscan misconfiguration"].iter("testcase")
    failure = case.find("failure")
    assert failure is not None
    assert failure.get("message") == "<b>\"x\" & 'y'</b> ]]> \ufffd[31mred\ufffd"
    assert "</failure><testcase name='injected'/>" in (failure.text or "")
    assert not [c for c in root.iter("testcase") if c.get("name") == "injected"]


def test_junit_is_accepted_by_junitparser(tmp_path: Path) -> None:
    junitparser = pytest.importorskip("junitparser")
    path = tmp_path / "hullscan.xml"
    path.write_text(render_junit(REPORT), encoding="utf-8")
    xml = junitparser.JUnitXml.fromfile(str(path))
    suites = list(xml)
    assert next(s.name for s in suites) == "hullscan vulnerability"
    assert sum(s.failures for s in suites) == 9
    cases = [c for s in suites for c in s]
    assert any(
        r.type == "CRITICAL" for c in cases for r in c.result if isinstance(r, junitparser.Failure)
    )


def test_junit_empty_report_is_all_green() -> None:
    root = _junit(EMPTY)  # no scanners listed: every kind, one passing case each
    assert root.get("failures") == "0"
    assert len(list(root.iter("testcase"))) == len(_suites(root)) == len(FINDING_KINDS)


# --- CycloneDX with vulnerabilities ----------------------------------------------------


def _cdx(report: ScanReport = REPORT) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(render_cyclonedx_report(report, now=NOW))
    return out


def _vulns(doc: dict[str, Any], vid: str) -> list[dict[str, Any]]:
    return [v for v in doc.get("vulnerabilities", []) if v["id"] == vid]


def _component_ref(doc: dict[str, Any], pkg: Package) -> str:
    (ref,) = [
        c["bom-ref"]
        for c in doc["components"]
        if c.get("purl") == pkg.purl
        and any(
            p["name"] == "hullscan:location:0:path" and p["value"] == pkg.locations[0].path
            for p in c.get("properties", [])
        )
    ]
    return str(ref)


@pytest.mark.parametrize("report", [REPORT, EMPTY], ids=["findings", "empty"])
def test_cyclonedx_report_is_valid_1_6(report: ScanReport) -> None:
    text = render_cyclonedx_report(report, now=NOW)
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None


def test_cyclonedx_report_is_the_sbom_plus_vulnerabilities() -> None:
    doc = _cdx()
    sbom = json.loads(render_cyclonedx(INV, now=NOW))
    assert {k: v for k, v in doc.items() if k != "vulnerabilities"} == sbom
    vuln_findings = [f for f in REPORT.findings if f.kind == "vulnerability"]
    assert len(doc["vulnerabilities"]) == len(vuln_findings) + len(REPORT.suppressed)
    assert not _vulns(doc, "aws-access-key-id") and not _vulns(doc, "HS-IMG-001")
    refs = [v["bom-ref"] for v in doc["vulnerabilities"]]
    assert len(set(refs)) == len(refs)
    assert render_cyclonedx_report(REPORT, now=NOW) == render_cyclonedx_report(REPORT, now=NOW)


def test_cyclonedx_vulnerability_content() -> None:
    doc = _cdx()
    (ssl,) = _vulns(doc, "CVE-2024-0727")
    assert ssl["source"] == {"name": "NVD", "url": "https://nvd.nist.gov/vuln/detail/CVE-2024-0727"}
    assert ssl["references"] == [
        {
            "id": "DSA-5678-1",
            "source": {
                "name": "Debian Security Tracker",
                "url": "https://security-tracker.debian.org/tracker/DSA-5678-1",
            },
        }
    ]
    (rating,) = ssl["ratings"]
    assert rating["severity"] == "medium" and rating["score"] == 5.5
    assert rating["method"] == "CVSSv31"
    assert rating["vector"].endswith("AV:L/AC:L/PR:N/UI:R/S:U/C:N/I:N/A:H")
    assert ssl["description"] == "PKCS12 NULL dereference"
    assert ssl["detail"].startswith("Processing a maliciously")
    assert ssl["recommendation"] == "Upgrade libssl3 to 3.0.13-1~deb12u1"
    assert [a["url"] for a in ssl["advisories"]] == [
        "https://nvd.nist.gov/vuln/detail/CVE-2024-0727",
        "https://www.openssl.org/news/secadv/20240125.txt",
    ]
    assert ssl["affects"] == [
        {
            "ref": _component_ref(doc, LIBSSL),
            "versions": [{"version": "3.0.11-1~deb12u2", "status": "affected"}],
        }
    ]
    assert "analysis" not in ssl
    (req,) = _vulns(doc, "GHSA-j8r2-6x86-q33q")
    assert req["source"]["name"] == "GitHub Advisory Database"
    assert req["ratings"] == [{"severity": "high"}]  # no score: severity only
    assert {r["id"] for r in req["references"]} == {"CVE-2023-32681", "PYSEC-2023-74"}
    (go,) = _vulns(doc, "CVE-2024-24790")
    assert "recommendation" not in go and go["ratings"][0]["score"] == 9.8


def test_cyclonedx_affects_point_at_the_right_component() -> None:
    doc = _cdx()
    six = _vulns(doc, "CVE-2099-0001")
    assert sorted(v["affects"][0]["ref"] for v in six) == sorted(
        _component_ref(doc, p) for p in (SIX_A, SIX_B)
    )
    (stray,) = _vulns(doc, "CVE-2099-0002")  # not in the inventory: the image itself
    assert stray["affects"][0]["ref"] == doc["metadata"]["component"]["bom-ref"]
    known = {c["bom-ref"] for c in doc["components"]} | {doc["metadata"]["component"]["bom-ref"]}
    assert all(a["ref"] in known for v in doc["vulnerabilities"] for a in v["affects"])


def test_cyclonedx_suppressed_findings_carry_analysis() -> None:
    doc = _cdx()
    (vex,) = _vulns(doc, "CVE-2023-5678")
    assert vex["analysis"]["state"] == "not_affected"
    assert vex["analysis"]["justification"] == "code_not_reachable"
    assert "we never call DH_check" in vex["analysis"]["detail"]
    assert vex["affects"][0]["versions"][0]["status"] == "unaffected"
    (ignored,) = _vulns(doc, "CVE-2023-1111")
    assert ignored["analysis"]["state"] == "false_positive"
    assert "justification" not in ignored["analysis"]
    assert ".hullscanignore" in ignored["analysis"]["detail"]


# --- secrets ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["sarif", "junit", "cyclonedx"])
def test_no_report_leaks_the_secret(fmt: str) -> None:
    renderers: dict[str, Callable[[ScanReport], str]] = {
        "sarif": render_sarif,
        "junit": render_junit,
        "cyclonedx": lambda r: render_cyclonedx_report(r, now=NOW),
    }
    text = renderers[fmt](REPORT)
    assert SECRET not in text
    if fmt != "cyclonedx":  # (CycloneDX lists vulnerabilities only)
        assert MASKED in text  # the masked match is evidence the user can check


def test_kev_and_epss_in_sarif_and_cyclonedx() -> None:
    go = _result_for(_sarif(), "CVE-2024-24790")[0]["properties"]
    assert go["kev"] == {
        "date_added": "2024-07-01",
        "due_date": "2024-07-22",
        "ransomware": "Known",
    }
    assert go["epss"] == {"score": 0.9412, "percentile": 0.9991, "date": "2024-08-01"}
    assert go["severity_source"] == "CVSS_V3"
    assert "kev" not in _result_for(_sarif(), "CVE-2024-0727")[0]["properties"]
    vuln = next(v for v in _cdx()["vulnerabilities"] if v["id"] == "CVE-2024-24790")
    props = {p["name"]: p["value"] for p in vuln["properties"]}
    assert props["hullscan:kev:date_added"] == "2024-07-01"
    assert props["hullscan:kev:ransomware"] == "Known"
    assert props["hullscan:epss:score"] == "0.94120"
    assert vuln["ratings"][0]["justification"] == "severity from CVSS_V3"
