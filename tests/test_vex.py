"""VEX input: OpenVEX and CycloneDX VEX documents shaped like those vexctl, Trivy and
the CycloneDX examples write; matching by id/alias and purl; statuses; malformed files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hullscan.errors import HullscanError
from hullscan.model import Finding, Location, Package, Severity
from hullscan.policy import Policy, apply
from hullscan.vex import VexStatement, load_vex, purl_matches, vex_suppresses

IMAGE_PURL = (
    "pkg:oci/debian-app@sha256%3A"
    + "c" * 64
    + "?repository_url=registry.example.com/team/debian-app"
)
SSL_PURL = "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12"
SSL = Package(
    name="libssl3",
    version="3.0.11-1~deb12u2",
    type="deb",
    purl=SSL_PURL,
    locations=(Location("var/lib/dpkg/status"),),
)
REQUESTS = Package(
    name="requests",
    version="2.30.0",
    type="pypi",
    purl="pkg:pypi/requests@2.30.0",
    locations=(Location("usr/lib/python3/dist-packages/requests.dist-info/METADATA"),),
)
EPOCH = Package(
    name="zlib1g",
    version="1:1.2.13.dfsg-1",
    type="deb",
    purl="pkg:deb/debian/zlib1g@1%3A1.2.13.dfsg-1?arch=amd64&distro=debian-12",
)


def _f(vid: str, pkg: Package | None, *aliases: str) -> Finding:
    return Finding(
        kind="vulnerability",
        id=vid,
        severity=Severity.HIGH,
        title=vid,
        aliases=aliases,
        package=pkg,
        installed_version=pkg.version if pkg else "",
    )


def _write(tmp_path: Path, doc: Any, name: str = "vex.json") -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc, indent=2), encoding="utf-8")
    return path


# an OpenVEX v0.2.0 document as `vexctl create` / `vexctl merge` write it
OPENVEX = {
    "@context": "https://openvex.dev/ns/v0.2.0",
    "@id": "https://openvex.dev/docs/public/vex-2e67563e128250cbcb3e98930df948dd053e4327",
    "author": "Debian App Team <security@example.com>",
    "role": "Document Creator",
    "timestamp": "2024-05-01T10:00:00.123456789-06:00",
    "version": 1,
    "tooling": "vexctl/0.2.6",
    "statements": [
        {  # an image product with a subcomponent: the package inside it
            "vulnerability": {
                "@id": "https://nvd.nist.gov/vuln/detail/CVE-2023-5678",
                "name": "CVE-2023-5678",
            },
            "timestamp": "2024-05-01T10:00:00Z",
            "products": [{"@id": IMAGE_PURL, "subcomponents": [{"@id": SSL_PURL}]}],
            "status": "not_affected",
            "justification": "vulnerable_code_not_in_execute_path",
            "impact_statement": "DH_check is never called",
        },
        {  # named by its GHSA id with a CVE alias, a version-less purl
            "vulnerability": {"name": "GHSA-j8r2-6x86-q33q", "aliases": ["CVE-2023-32681"]},
            "products": [{"@id": "pkg:pypi/requests"}],
            "status": "fixed",
        },
        {  # the whole image (no subcomponents): every package in it
            "vulnerability": {"name": "CVE-2024-2511"},
            "products": [{"@id": IMAGE_PURL}],
            "status": "not_affected",
            "justification": "vulnerable_code_not_present",
        },
        {
            "vulnerability": {"name": "CVE-2024-0727"},
            "products": [{"@id": SSL_PURL}],
            "status": "affected",
            "action_statement": "Upgrade to 3.0.13-1~deb12u1",
        },
        {
            "vulnerability": {"name": "CVE-2024-4603"},
            "products": [{"@id": "pkg:deb/debian/libssl3"}],
            "status": "under_investigation",
        },
        {  # another version: does not cover the installed one
            "vulnerability": {"name": "CVE-2023-6129"},
            "products": [{"@id": "pkg:deb/debian/libssl3@3.0.13-1~deb12u1"}],
            "status": "not_affected",
            "justification": "component_not_present",
        },
        {  # other qualifiers: does not cover an amd64 package
            "vulnerability": {"name": "CVE-2023-6237"},
            "products": [{"@id": "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=arm64"}],
            "status": "not_affected",
            "justification": "component_not_present",
        },
    ],
}

# a CycloneDX 1.6 VEX, like the CycloneDX examples: components by bom-ref, analysis
CDX_VEX = {
    "bomFormat": "CycloneDX",
    "specVersion": "1.6",
    "serialNumber": "urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79",
    "version": 1,
    "metadata": {
        "timestamp": "2024-05-02T00:00:00Z",
        "component": {
            "type": "container",
            "name": "debian-app",
            "bom-ref": "image",
            "purl": IMAGE_PURL,
        },
    },
    "components": [
        {
            "type": "library",
            "name": "libssl3",
            "version": "3.0.11-1~deb12u2",
            "bom-ref": "libssl3-ref",
            "purl": SSL_PURL,
        }
    ],
    "vulnerabilities": [
        {
            "id": "CVE-2023-5678",
            "source": {"name": "NVD", "url": "https://nvd.nist.gov/vuln/detail/CVE-2023-5678"},
            "analysis": {
                "state": "not_affected",
                "justification": "code_not_reachable",
                "response": ["will_not_fix"],
                "detail": "DH_check is never called",
            },
            "affects": [{"ref": "libssl3-ref"}],
        },
        {
            "id": "CVE-2023-32681",
            "references": [
                {
                    "id": "GHSA-j8r2-6x86-q33q",
                    "source": {
                        "name": "GitHub",
                        "url": "https://github.com/advisories/GHSA-j8r2-6x86-q33q",
                    },
                }
            ],
            "analysis": {"state": "resolved"},
            # a BOM-Link into hullscan's own SBOM: bom-ref = purl#path
            "affects": [
                {
                    "ref": "urn:cdx:0b7c-serial/1#pkg:pypi/requests@2.30.0"
                    "#usr/lib/python3/dist-packages/requests.dist-info/METADATA"
                }
            ],
        },
        {
            "id": "CVE-2024-2511",
            "analysis": {"state": "false_positive", "detail": "matched the wrong openssl"},
            "affects": [{"ref": "image"}],
        },
        {
            "id": "CVE-2024-0727",
            "analysis": {"state": "exploitable"},
            "affects": [{"ref": SSL_PURL}],
        },
        {
            "id": "CVE-2024-4603",
            "analysis": {"state": "in_triage"},
            "affects": [{"ref": "pkg:deb/debian/libssl3"}],
        },
        {
            "id": "CVE-2099-0000",
            "ratings": [{"severity": "high"}],
            "affects": [{"ref": "libssl3-ref"}],
        },  # no analysis: a report entry, not VEX
    ],
}


@pytest.fixture(params=["openvex", "cyclonedx"])
def statements(request: pytest.FixtureRequest, tmp_path: Path) -> list[VexStatement]:
    doc = OPENVEX if request.param == "openvex" else CDX_VEX
    return load_vex(_write(tmp_path, doc))


def test_load_openvex(tmp_path: Path) -> None:
    st = load_vex(_write(tmp_path, OPENVEX))
    assert len(st) == 7
    first = st[0]
    assert first.vulnerability_ids == {"CVE-2023-5678"}
    assert first.products == (SSL_PURL,)
    assert (first.status, first.justification, first.detail) == (
        "not_affected",
        "vulnerable_code_not_in_execute_path",
        "DH_check is never called",
    )
    assert st[1].vulnerability_ids == {"GHSA-j8r2-6x86-q33q", "CVE-2023-32681"}
    assert st[2].products == ()  # the image: all packages
    assert st[3].detail == "Upgrade to 3.0.13-1~deb12u1"
    assert st[1].timestamp is not None and st[1].timestamp.utcoffset() is not None
    assert st[0].source.endswith("vex.json")


def test_load_cyclonedx_vex(tmp_path: Path) -> None:
    st = load_vex(_write(tmp_path, CDX_VEX))
    assert [s.status for s in st] == [
        "not_affected",
        "fixed",
        "not_affected",
        "affected",
        "under_investigation",
    ]
    assert st[0].products == (SSL_PURL,)  # bom-ref resolved to the component's purl
    assert st[0].justification == "code_not_reachable"
    assert st[1].vulnerability_ids == {"CVE-2023-32681", "GHSA-j8r2-6x86-q33q"}
    assert st[2].products == () and st[2].justification == "false_positive"


def test_suppressed_by_purl_with_qualifiers(statements: list[VexStatement]) -> None:
    s = vex_suppresses(statements, _f("CVE-2023-5678", SSL))
    assert s is not None and s.status == "not_affected"
    assert vex_suppresses(statements, _f("CVE-2023-5678", REQUESTS)) is None  # other package


def test_suppressed_by_alias_and_version_less_purl(statements: list[VexStatement]) -> None:
    # the finding is named by its CVE, the statement by its GHSA (or the other way round)
    s = vex_suppresses(statements, _f("CVE-2023-32681", REQUESTS, "GHSA-j8r2-6x86-q33q"))
    assert s is not None and s.status == "fixed"
    s = vex_suppresses(statements, _f("GHSA-j8r2-6x86-q33q", REQUESTS, "CVE-2023-32681"))
    assert s is not None
    assert vex_suppresses(statements, _f("CVE-2023-32681", SSL)) is None


def test_statement_for_all_products(statements: list[VexStatement]) -> None:
    for pkg in (SSL, REQUESTS, None):
        assert vex_suppresses(statements, _f("CVE-2024-2511", pkg)) is not None


@pytest.mark.parametrize("vid", ["CVE-2024-0727", "CVE-2024-4603"])
def test_affected_and_under_investigation_do_not_suppress(
    statements: list[VexStatement], vid: str
) -> None:
    assert vex_suppresses(statements, _f(vid, SSL)) is None


def test_other_version_or_qualifiers_do_not_match(tmp_path: Path) -> None:
    st = load_vex(_write(tmp_path, OPENVEX))
    assert vex_suppresses(st, _f("CVE-2023-6129", SSL)) is None
    assert vex_suppresses(st, _f("CVE-2023-6237", SSL)) is None
    assert vex_suppresses(st, _f("CVE-1999-0001", SSL)) is None  # unknown id


@pytest.mark.parametrize(
    ("statement", "package", "expected"),
    [
        ("pkg:deb/debian/libssl3", SSL_PURL, True),
        ("pkg:deb/debian/libssl3@3.0.11-1~deb12u2", SSL_PURL, True),
        ("pkg:deb/debian/libssl3?arch=amd64", SSL_PURL, True),
        ("pkg:deb/debian/libssl3?arch=amd64&distro=debian-11", SSL_PURL, False),
        ("pkg:deb/debian/libssl3@3.0.11-1~deb12u3", SSL_PURL, False),
        ("pkg:deb/ubuntu/libssl3", SSL_PURL, False),
        ("pkg:rpm/debian/libssl3", SSL_PURL, False),
        ("pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1", EPOCH.purl, True),  # epoch, encoded or not
        ("pkg:pypi/Requests_Toolbelt", "pkg:pypi/requests-toolbelt@1.0.0", True),  # PEP 503
        (SSL_PURL + "#var/lib/dpkg/status", SSL_PURL, True),  # hullscan bom-ref form
        ("libssl3", SSL_PURL, False),
        ("pkg:not a purl", SSL_PURL, False),
    ],
)
def test_purl_matching(statement: str, package: str, expected: bool) -> None:
    assert purl_matches(statement, package) is expected


def test_latest_statement_wins(tmp_path: Path) -> None:
    doc = {
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": "x",
        "author": "a",
        "timestamp": "2024-01-01T00:00:00Z",
        "version": 2,
        "statements": [
            {
                "vulnerability": {"name": "CVE-2024-0001"},
                "products": [{"@id": SSL_PURL}],
                "status": "affected",
                "timestamp": "2024-03-01T00:00:00Z",
            },
            {
                "vulnerability": {"name": "CVE-2024-0001"},
                "products": [{"@id": SSL_PURL}],
                "status": "not_affected",
                "justification": "component_not_present",
            },
            {
                "vulnerability": {"name": "CVE-2024-0002"},
                "products": [{"@id": SSL_PURL}],
                "status": "under_investigation",
            },
            {
                "vulnerability": {"name": "CVE-2024-0002"},
                "products": [{"@id": SSL_PURL}],
                "status": "not_affected",
                "justification": "component_not_present",
                "timestamp": "2024-04-01T00:00:00Z",
            },
        ],
    }
    st = load_vex(_write(tmp_path, doc))
    assert vex_suppresses(st, _f("CVE-2024-0001", SSL)) is None  # newer "affected"
    assert vex_suppresses(st, _f("CVE-2024-0002", SSL)) is not None


def test_openvex_v0_0_1_strings(tmp_path: Path) -> None:
    doc = {
        "@context": "https://openvex.dev/ns",
        "@id": "x",
        "author": "a",
        "timestamp": "2023-01-01T00:00:00Z",
        "version": "1",
        "statements": [
            {
                "vulnerability": "CVE-2023-5678",
                "products": [SSL_PURL],
                "status": "not_affected",
                "justification": "component_not_present",
            }
        ],
    }
    (s,) = load_vex(_write(tmp_path, doc))
    assert s.products == (SSL_PURL,) and vex_suppresses([s], _f("CVE-2023-5678", SSL))


def test_policy_suppresses_with_the_statement_reason(tmp_path: Path) -> None:
    st = load_vex(_write(tmp_path, OPENVEX))
    result = apply(Policy(vex=st), [_f("CVE-2023-5678", SSL), _f("CVE-2024-0727", SSL)])
    assert [f.id for f in result.findings] == ["CVE-2024-0727"]
    (sup,) = result.suppressed
    assert sup.source == "vex"
    assert sup.reason == "vulnerable_code_not_in_execute_path: DH_check is never called"


def _openvex_with(statement: Any) -> dict[str, Any]:
    return {**OPENVEX, "statements": [statement]}


def _cdx_with(vuln: dict[str, Any]) -> dict[str, Any]:
    return {**CDX_VEX, "vulnerabilities": [vuln]}


GOOD = {"vulnerability": {"name": "CVE-1"}, "products": [{"@id": SSL_PURL}], "status": "fixed"}


@pytest.mark.parametrize(
    ("doc", "problem"),
    [
        ("{not json", "not valid JSON (line 1"),
        ('<?xml version="1.0"?><bom/>', "XML VEX is not supported"),
        ("[]", "expected a JSON object"),
        ({"hello": "world"}, "not an OpenVEX document"),
        ({"@context": "https://openvex.dev/ns/v0.2.0"}, "no 'statements' list"),
        (_openvex_with({**GOOD, "status": "maybe"}), "statement 1: status 'maybe' is not one of"),
        (_openvex_with({**GOOD, "status": None}), "statement 1: 'status' must be a non-empty"),
        (
            _openvex_with({**GOOD, "vulnerability": {"aliases": ["x"]}}),
            "'vulnerability.name' must be a non-empty string",
        ),
        (_openvex_with({**GOOD, "vulnerability": 7}), "'vulnerability' must be an object"),
        (
            _openvex_with({**GOOD, "status": "not_affected"}),
            "needs a 'justification' or an 'impact_statement'",
        ),
        (
            _openvex_with({**GOOD, "status": "not_affected", "justification": "trust me"}),
            "justification 'trust me' is not one of",
        ),
        (
            _openvex_with({**GOOD, "products": "pkg:deb/debian/libssl3"}),
            "'products' must be a list",
        ),
        (_openvex_with({**GOOD, "products": [42]}), "products[1] must be an object"),
        (_openvex_with({**GOOD, "products": [{"subcomponents": []}]}), "products[1] has no '@id'"),
        (_openvex_with({**GOOD, "timestamp": "yesterday"}), "timestamp 'yesterday' is not RFC"),
        (_openvex_with("CVE-1"), "statement 1: must be an object"),
        ({**CDX_VEX, "vulnerabilities": None}, "no 'vulnerabilities'"),
        ({**CDX_VEX, "vulnerabilities": {}}, "'vulnerabilities' must be a list"),
        (
            _cdx_with({"id": "CVE-1", "analysis": {"state": "fine"}}),
            "vulnerabilities[1]: analysis.state 'fine' is not one of",
        ),
        (_cdx_with({"analysis": {"state": "not_affected"}}), "'id' must be a non-empty string"),
        (
            _cdx_with({"id": "CVE-1", "analysis": {"state": "resolved"}, "affects": [{}]}),
            "affects[1].ref' must be a non-empty string",
        ),
        (_cdx_with({"id": "CVE-1", "analysis": "not_affected"}), "'analysis' must be an object"),
    ],
)
def test_malformed_vex_is_one_clear_line(tmp_path: Path, doc: Any, problem: str) -> None:
    path = _write(tmp_path, doc, "bad.vex.json")
    with pytest.raises(HullscanError) as err:
        load_vex(path)
    message = str(err.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    assert problem in message


def test_unreadable_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(HullscanError, match=r"missing\.json: cannot read VEX file"):
        load_vex(tmp_path / "missing.json")
    binary = tmp_path / "vex.bin"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(HullscanError, match=r"vex\.bin: VEX file is not UTF-8"):
        load_vex(binary)


def test_empty_statement_list_is_fine(tmp_path: Path) -> None:
    assert load_vex(_write(tmp_path, {**OPENVEX, "statements": []})) == []
