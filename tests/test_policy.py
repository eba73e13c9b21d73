"""Severity filter, ignore rules (reason required, expiry), and the exit code."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from hullscan.errors import HullscanError
from hullscan.model import Finding, Package, Severity
from hullscan.policy import Policy, apply, load_ignore_file, parse_severities

OPENSSL = Package(
    "libssl3",
    "3.0.11-1~deb12u2",
    "deb",
    "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12",
    source_name="openssl",
)
DJANGO = Package("Django", "3.2", "pypi", "pkg:pypi/django@3.2")


def vuln(
    id_: str,
    sev: Severity,
    pkg: Package,
    fixed: str = "",
    aliases: tuple[str, ...] = (),
    path: str = "var/lib/dpkg/status",
) -> Finding:
    return Finding(
        "vulnerability",
        id_,
        sev,
        f"{id_} title",
        aliases=aliases,
        package=pkg,
        installed_version=pkg.version,
        fixed_version=fixed,
        status="fixed" if fixed else "affected",
        path=path,
    )


FINDINGS = [
    vuln("CVE-2024-0727", Severity.MEDIUM, OPENSSL, "3.0.13-1~deb12u1", ("DSA-5621-1",)),
    vuln("CVE-2023-0001", Severity.UNKNOWN, OPENSSL),
    vuln(
        "CVE-2021-33203",
        Severity.HIGH,
        DJANGO,
        "3.2.4",
        ("PYSEC-2021-99",),
        path="app/venv/Django-3.2.dist-info/METADATA",
    ),
]


def ignore_file(tmp_path: Path, text: str) -> Path:
    p = tmp_path / ".hullscanignore"
    p.write_text(text)
    return p


def test_threshold_and_exit_code() -> None:
    result = apply(Policy(), FINDINGS)
    assert len(result.findings) == 3
    assert result.exit_code(Severity.HIGH) == 1
    assert result.exit_code(Severity.CRITICAL) == 0
    assert result.exit_code(None) == 0
    only_high = apply(Policy(severities=parse_severities("HIGH,CRITICAL")), FINDINGS)
    assert [f.id for f in only_high.findings] == ["CVE-2021-33203"]


def test_ignore_unfixed() -> None:
    result = apply(Policy(ignore_unfixed=True), FINDINGS)
    assert "CVE-2023-0001" not in {f.id for f in result.findings}


def test_ignore_rules_by_alias_package_purl_and_path(tmp_path: Path) -> None:
    rules = load_ignore_file(
        ignore_file(
            tmp_path,
            """
ignore:
  - id: PYSEC-2021-99            # an alias of the finding's id works too
    reason: the affected view is not routed
  - id: CVE-2024-0727
    package: openssl             # source or binary package name
    reason: no TLS in this image
    expires: 2099-01-01
  - id: CVE-2023-0001
    purl: pkg:pypi/django        # wrong package: does not apply
    reason: irrelevant
""",
        )
    )
    result = apply(Policy(ignore_rules=rules), FINDINGS)
    assert [f.id for f in result.findings] == ["CVE-2023-0001"]
    assert {s.finding.id: s.reason for s in result.suppressed} == {
        "CVE-2021-33203": "the affected view is not routed",
        "CVE-2024-0727": "no TLS in this image (until 2099-01-01)",
    }
    assert result.exit_code(Severity.HIGH) == 0  # the HIGH one is ignored


def test_expired_rule_stops_applying_and_says_so(tmp_path: Path) -> None:
    rules = load_ignore_file(
        ignore_file(
            tmp_path,
            """
- id: CVE-2021-33203
  reason: waiting for the upgrade
  expires: 2024-06-30
""",
        )
    )
    result = apply(Policy(ignore_rules=rules, today=dt.date(2024, 7, 1)), FINDINGS)
    assert "CVE-2021-33203" in {f.id for f in result.findings}
    assert result.warnings == [
        "ignore rule for CVE-2021-33203 expired on 2024-06-30; it no longer applies"
    ]
    still = apply(Policy(ignore_rules=rules, today=dt.date(2024, 6, 30)), FINDINGS)
    assert "CVE-2021-33203" not in {f.id for f in still.findings}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- id: CVE-1\n", "a 'reason' is required"),
        ("- CVE-1\n", "has no reason"),
        ("- reason: x\n", "needs an 'id'"),
        ("- {id: CVE-1, reason: x, expires: tomorrow}\n", "is not a date"),
        ("ignore: {id: CVE-1}\n", "expected a list"),
        ("[unclosed\n", "not valid YAML"),
    ],
)
def test_bad_ignore_files(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(HullscanError, match=message):
        load_ignore_file(ignore_file(tmp_path, text))


def test_unknown_severity() -> None:
    with pytest.raises(HullscanError, match="unknown severity"):
        parse_severities("HIGH,URGENT")
