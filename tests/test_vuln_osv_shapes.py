"""OSV records in the shapes the 2026 exports publish (schema 1.9), matched against tiny
images of each distribution built in code: one finding per (package, CVE) with every
id, the right fix (none for an open issue), and the severity the rules give."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hullscan.model import Finding, Inventory, Severity
from hullscan.pipeline import ScanOptions, inventory
from hullscan.policy import IgnoreRule, Policy, apply
from hullscan.vuln.matcher import MatchResult, match_inventory
from hullscan.vulndb import open_db
from hullscan.vulndb.build import import_paths

import imagebuilder as ib

FIXTURES = Path(__file__).parent / "fixtures"
CVSS3_LOW = "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N"  # 1.8
CVSS3_HIGH = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"  # 7.5
CVSS4_HIGH = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:H/SC:N/SI:N/SA:N"  # 8.7


def ecosystem_range(*events: tuple[str, str]) -> list[dict[str, Any]]:
    return [{"type": "ECOSYSTEM", "events": [{k: v} for k, v in events]}]


def entry(
    ecosystem: str,
    name: str,
    fixed: str | None = None,
    *,
    versions: list[str] | None = None,
    purl: str = "",
    **extra: Any,
) -> dict[str, Any]:
    """One affected[] entry as the exports write it; no ``fixed`` is an open issue
    (introduced "0" plus the affected versions)."""
    events = [("introduced", "0")] + ([("fixed", fixed)] if fixed else [])
    e: dict[str, Any] = {
        "package": {"ecosystem": ecosystem, "name": name},
        **extra,
        "ranges": ecosystem_range(*events),
    }
    if purl:
        e["package"]["purl"] = purl
    if versions is not None:
        e["versions"] = versions
    return e


def record(adv_id: str, affected: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    return {
        "schema_version": "1.9.0",
        "id": adv_id,
        "modified": "2026-09-12T11:00:05.98Z",
        "published": "2026-09-09T14:17:10.327Z",
        **fields,
        "affected": affected,
    }


def match(
    tmp_path: Path, layer: list[ib.Node], records: list[dict[str, Any]]
) -> tuple[MatchResult, Inventory]:
    """Build the image and a database of ``records``; match the one against the other."""
    archive = ib.write_docker_archive([(ib.build([layer]), ["t:1"])], tmp_path / "img.tar")
    inv = inventory(str(archive), ScanOptions(cache_dir=tmp_path / "cache"))
    src = tmp_path / "records"
    src.mkdir(exist_ok=True)
    for r in records:
        (src / f"{r['id'].replace(':', '_')}.json").write_text(json.dumps(r))
    db = tmp_path / "osv.sqlite"
    import_paths([src], db, replace=True)
    with open_db(db) as vdb:
        return match_inventory(inv, vdb), inv


def by_id(result: MatchResult, package: str | None = None) -> dict[str, Finding]:
    return {
        f.id: f
        for f in result.findings
        if package is None or (f.package and f.package.name == package)
    }


def os_release(osid: str, version: str, name: str) -> ib.Node:
    return ib.file("etc/os-release", f'NAME="{name}"\nID="{osid}"\nVERSION_ID="{version}"\n')


def dpkg(*pkgs: tuple[str, str, str]) -> ib.Node:
    paras = [
        f"Package: {name}\nStatus: install ok installed\nVersion: {version}\n"
        f"Architecture: amd64\n" + (f"Source: {source}\n" if source != name else "")
        for name, version, source in pkgs
    ]
    return ib.file("var/lib/dpkg/status", "\n".join(paras))


def apk(*pkgs: tuple[str, str, str]) -> ib.Node:
    return ib.file(
        "lib/apk/db/installed",
        "".join(
            f"C:Q1abc=\nP:{name}\nV:{version}\nA:x86_64\no:{origin}\nL:MIT\n\n"
            for name, version, origin in pkgs
        ),
    )


def rpm_layer(osid: str, version: str, name: str) -> list[ib.Node]:
    """A real rpm database (libdemo 0.9-1.el9 from source demo, demo 0.9-1.el9,
    hello-tools 2:1.2.3-4.fc39) under the given os-release."""
    return [
        os_release(osid, version, name),
        ib.file("var/lib/rpm/rpmdb.sqlite", (FIXTURES / "rpm" / "rpmdb.sqlite").read_bytes()),
    ]


# -- Debian ---------------------------------------------------------------------------------

DEBIAN_PACKAGES = dpkg(
    ("libssl3", "3.0.11-1~deb12u2", "openssl"),
    ("php-league-commonmark", "2.3.9-1+deb12u1", "php-league-commonmark"),
    ("libxml2", "2.9.14+dfsg-1.3~deb12u1", "libxml2"),
    ("libc6", "2.36-9+deb12u1", "glibc"),
)
DEBIAN_RECORDS = [
    # one record for three releases; Debian's urgency on the bookworm entry
    record(
        "DEBIAN-CVE-2024-0727",
        [
            entry(
                "Debian:11", "openssl", "1.1.1w-0+deb11u2", ecosystem_specific={"urgency": "low"}
            ),
            entry(
                "Debian:12",
                "openssl",
                "3.0.13-1~deb12u1",
                ecosystem_specific={"urgency": "low"},
                purl="pkg:deb/debian/openssl?arch=source&distro=bookworm",
            ),
            entry("Debian:13", "openssl", "3.1.5-1"),
        ],
        upstream=["CVE-2024-0727"],
        severity=[{"type": "CVSS_V3", "score": CVSS3_HIGH}],
        references=[
            {"type": "ADVISORY", "url": "https://security-tracker.debian.org/tracker/CVE-2024-0727"}
        ],
    ),
    record(
        "DEBIAN-CVE-2024-2511",
        [
            entry(
                "Debian:12",
                "openssl",
                "3.0.14-1~deb12u1",
                ecosystem_specific={"urgency": "unimportant"},
            )
        ],
        upstream=["CVE-2024-2511"],
        severity=[{"type": "CVSS_V3", "score": CVSS3_HIGH}],
    ),
    # a DSA naming two CVEs in upstream: it joins each CVE's finding, never merges them
    record(
        "DSA-5678-1",
        [entry("Debian:12", "openssl", "3.0.13-1~deb12u1")],
        upstream=["CVE-2024-0727", "CVE-2024-2511"],
        summary="openssl security update",
    ),
    # an open issue: introduced "0" and the versions; Go's zero time as "no date"
    record(
        "DEBIAN-CVE-2024-58382",
        [
            entry(
                "Debian:12",
                "php-league-commonmark",
                versions=["2.3.9-1", "2.3.9-1+deb12u1"],
                ecosystem_specific={"urgency": "not yet assigned"},
            ),
            entry("Debian:13", "php-league-commonmark", "2.6.0-1"),
        ],
        upstream=["CVE-2024-58382"],
        withdrawn="0001-01-01T00:00:00Z",
        severity=[{"type": "CVSS_V4", "score": CVSS4_HIGH}],
    ),
    # a DLA for bullseye only: never on bookworm
    record(
        "DLA-3999-1",
        [entry("Debian:11", "libxml2", "2.9.10+dfsg-6.7+deb11u5")],
        upstream=["CVE-2024-25062"],
    ),
    record(
        "DEBIAN-CVE-2024-25062",
        [
            entry(
                "Debian:12",
                "libxml2",
                "2.9.14+dfsg-1.3~deb12u2",
                ecosystem_specific={"urgency": "medium"},
            )
        ],
        upstream=["CVE-2024-25062"],
    ),
    record(
        "DEBIAN-CVE-2023-4911",
        [entry("Debian:12", "glibc", "2.36-9+deb12u3", ecosystem_specific={"urgency": "high"})],
        upstream=["CVE-2023-4911"],
    ),
]


def test_debian_records_one_finding_per_cve_with_debian_ratings(tmp_path: Path) -> None:
    result, _ = match(
        tmp_path, [os_release("debian", "12", "Debian GNU/Linux"), DEBIAN_PACKAGES], DEBIAN_RECORDS
    )
    got = {
        f.id: (
            f.package.name if f.package else "",
            set(f.aliases),
            f.fixed_version,
            f.status,
            f.severity.name,
            f.severity_source,
        )
        for f in result.findings
    }
    assert got == {
        "CVE-2024-0727": (
            "libssl3",
            {"DEBIAN-CVE-2024-0727", "DSA-5678-1"},
            "3.0.13-1~deb12u1",
            "fixed",
            "LOW",
            "debian",
        ),  # urgency over CVSS
        "CVE-2024-2511": (
            "libssl3",
            {"DEBIAN-CVE-2024-2511", "DSA-5678-1"},
            "3.0.13-1~deb12u1",
            "fixed",
            "LOW",
            "debian",
        ),  # unimportant
        "CVE-2024-58382": (
            "php-league-commonmark",
            {"DEBIAN-CVE-2024-58382"},
            "",
            "affected",
            "HIGH",
            "CVSS_V4",
        ),  # not yet assigned: the vector
        "CVE-2024-25062": (
            "libxml2",
            {"DEBIAN-CVE-2024-25062"},
            "2.9.14+dfsg-1.3~deb12u2",
            "fixed",
            "MEDIUM",
            "debian",
        ),  # the DLA is bullseye's
        "CVE-2023-4911": (
            "libc6",
            {"DEBIAN-CVE-2023-4911"},
            "2.36-9+deb12u3",
            "fixed",
            "HIGH",
            "debian",
        ),
    }
    open_issue = by_id(result)["CVE-2024-58382"]
    assert open_issue.cvss is not None and open_issue.cvss.version == "4.0"
    assert open_issue.cvss.score == 8.7
    # --ignore-unfixed drops the open issue; an ignore rule by CVE id works on DSA data
    kept = apply(
        Policy(
            ignore_unfixed=True, ignore_rules=[IgnoreRule("CVE-2024-2511", "no TLS server here")]
        ),
        result.findings,
    )
    assert {f.id for f in kept.findings} == {"CVE-2024-0727", "CVE-2024-25062", "CVE-2023-4911"}
    assert [s.finding.id for s in kept.suppressed] == ["CVE-2024-2511"]


def test_debian_report_json_carries_severity_source_and_cvss(tmp_path: Path) -> None:
    result, _ = match(
        tmp_path, [os_release("debian", "12", "Debian GNU/Linux"), DEBIAN_PACKAGES], DEBIAN_RECORDS
    )
    d = by_id(result)["CVE-2024-58382"].to_dict()
    assert d["severity_source"] == "CVSS_V4"
    assert d["cvss"] == {"version": "4.0", "vector": CVSS4_HIGH, "score": 8.7}
    assert d["kev"] is None and d["epss"] is None
    assert by_id(result)["CVE-2024-0727"].to_dict()["severity_source"] == "debian"


# -- Ubuntu ---------------------------------------------------------------------------------


def test_ubuntu_priority_first_and_pro_pockets_never_match(tmp_path: Path) -> None:
    records = [
        record(
            "UBUNTU-CVE-2025-29769",
            [
                entry(
                    "Ubuntu:22.04:LTS",
                    "vips",
                    versions=["8.12.1-1"],
                    purl="pkg:deb/ubuntu/vips?arch=source&distro=jammy",
                    ecosystem_specific={
                        "binaries": [{"binary_name": "libvips42", "binary_version": "8.12.1-1"}]
                    },
                ),
                entry("Ubuntu:Pro:22.04:LTS", "vips", "8.12.1-1ubuntu0.1~esm1"),
                entry("Ubuntu:25.10", "vips", versions=["8.16.1-1"]),
            ],
            upstream=["CVE-2025-29769"],
            severity=[
                {"type": "CVSS_V4", "score": CVSS4_HIGH},
                {"type": "CVSS_V3", "score": CVSS3_HIGH, "source": "NVD"},
                {"type": "Ubuntu", "score": "medium"},
            ],
        ),
        record(
            "UBUNTU-CVE-2024-0727",
            [entry("Ubuntu:22.04:LTS", "openssl", "3.0.2-0ubuntu1.14")],
            upstream=["CVE-2024-0727"],
            severity=[{"type": "Ubuntu", "score": "low"}],
        ),
        record(
            "USN-6622-1",
            [entry("Ubuntu:22.04:LTS", "openssl", "3.0.2-0ubuntu1.14")],
            upstream=["CVE-2024-0727", "CVE-2023-6129"],
        ),
        # only in Ubuntu Pro: a host without Pro cannot install the fix, nor is it told to
        record(
            "UBUNTU-CVE-2024-9999",
            [entry("Ubuntu:Pro:22.04:LTS", "vips", "8.12.1-1ubuntu0.2")],
            upstream=["CVE-2024-9999"],
        ),
    ]
    layer = [
        os_release("ubuntu", "22.04", "Ubuntu"),
        dpkg(("libvips42", "8.12.1-1", "vips"), ("libssl3", "3.0.2-0ubuntu1.10", "openssl")),
    ]
    result, _ = match(tmp_path, layer, records)
    got = {
        f.id: (
            f.package.name if f.package else "",
            set(f.aliases),
            f.fixed_version,
            f.severity.name,
            f.severity_source,
        )
        for f in result.findings
    }
    assert got == {
        "CVE-2025-29769": ("libvips42", {"UBUNTU-CVE-2025-29769"}, "", "MEDIUM", "ubuntu"),
        "CVE-2024-0727": (
            "libssl3",
            {"UBUNTU-CVE-2024-0727", "USN-6622-1"},
            "3.0.2-0ubuntu1.14",
            "LOW",
            "ubuntu",
        ),
        "CVE-2023-6129": ("libssl3", {"USN-6622-1"}, "3.0.2-0ubuntu1.14", "UNKNOWN", ""),
    }


# -- Alpine, Wolfi, Chainguard (apk) --------------------------------------------------------


@pytest.mark.parametrize(
    ("osid", "version", "ecosystem", "adv_id"),
    [
        ("alpine", "3.20.3", "Alpine:v3.20", "ALPINE-CVE-2024-5535"),
        ("wolfi", "20230201", "Wolfi", "CGA-2p7x-9q4v-8m3c"),
        ("chainguard", "20230214", "Chainguard", "CGA-6c5f-hq2w-x8vr"),
    ],
)
def test_apk_distributions(
    tmp_path: Path, osid: str, version: str, ecosystem: str, adv_id: str
) -> None:
    records = [  # by origin (source) package, like Alpine's
        record(
            adv_id,
            [
                entry(ecosystem, "openssl", "3.3.1-r1", purl=f"pkg:apk/{osid}/openssl?arch=source"),
                entry("Alpine:v3.19", "openssl", "3.1.6-r0"),
            ],
            **(
                {"upstream": ["CVE-2024-5535"]}
                if osid == "alpine"
                else {"aliases": ["CVE-2024-5535", "GHSA-4vjv-7gmq-r9mp"]}
            ),
            severity=[{"type": "CVSS_V3", "score": CVSS3_HIGH}],
        ),
    ]
    layer = [
        os_release(osid, version, osid.capitalize()),
        apk(("libcrypto3", "3.3.0-r2", "openssl"), ("musl", "1.2.5-r0", "musl")),
    ]
    result, _ = match(tmp_path, layer, records)
    f = by_id(result)["CVE-2024-5535"]
    assert (
        f.package.name if f.package else "",
        adv_id in f.aliases,
        f.fixed_version,
        f.severity.name,
        f.severity_source,
    ) == ("libcrypto3", True, "3.3.1-r1", "HIGH", "CVSS_V3")
    assert len(result.findings) == 1  # the v3.19 entry is another release's


# -- rpm distributions ----------------------------------------------------------------------

RPM_DISTROS = [  # os-release ID, VERSION_ID, ecosystem, another release's, id, word, rating
    (
        "rhel",
        "9.4",
        "Red Hat:enterprise_linux:9::appstream",
        "Red Hat:enterprise_linux:8::appstream",
        "RHSA-2024:1234",
        "Important",
        ("HIGH", "redhat"),
    ),
    (
        "almalinux",
        "9.4",
        "AlmaLinux:9",
        "AlmaLinux:8",
        "ALSA-2024:1234",
        "Moderate",
        ("MEDIUM", "almalinux"),
    ),
    ("rocky", "9.4", "Rocky Linux:9", "Rocky Linux:8", "RLSA-2024:1234", "Low", ("LOW", "rocky")),
    (
        "sles",
        "15.5",
        "SUSE:Linux Enterprise Server 15 SP5",
        "SUSE:Linux Enterprise Server 15 SP4",
        "SUSE-SU-2024:1234-1",
        "",
        ("LOW", "CVSS_V3"),
    ),
    (
        "opensuse-leap",
        "15.5",
        "openSUSE:Leap 15.5",
        "openSUSE:Leap 15.4",
        "openSUSE-SU-2024:1234-1",
        "",
        ("LOW", "CVSS_V3"),
    ),
]


@pytest.mark.parametrize(
    ("osid", "version", "ecosystem", "other", "adv_id", "word", "expected"), RPM_DISTROS
)
def test_rpm_distributions_by_binary_package(
    tmp_path: Path,
    osid: str,
    version: str,
    ecosystem: str,
    other: str,
    adv_id: str,
    word: str,
    expected: tuple[str, str],
) -> None:
    summary = f"{word}: demo security update" if word else "Security update for demo"
    records = [
        # advisories list the binary rpms, epoch written out
        record(
            adv_id,
            [
                entry(ecosystem, "libdemo", "0:0.9-2.el9"),
                entry(ecosystem, "hello-tools", "1:9.9-1"),
            ],  # epoch 2 installed
            summary=summary,
            upstream=["CVE-2024-3333"],
            severity=[{"type": "CVSS_V3", "score": CVSS3_LOW}],
        ),
        record(
            adv_id + "-8",
            [entry(other, "libdemo", "0:0.9-9.el8"), entry(other, "demo", "0:0.9-9.el8")],
            upstream=["CVE-2024-4444"],
        ),
    ]
    result, _ = match(tmp_path, rpm_layer(osid, version, osid), records)
    got = {
        (
            f.package.name if f.package else "",
            f.id,
            f.fixed_version,
            (f.severity.name, f.severity_source),
        )
        for f in result.findings
    }
    # libdemo's source package is demo: an entry for the binary demo is not about it
    assert got == {("libdemo", "CVE-2024-3333", "0:0.9-2.el9", expected)}
    assert all(adv_id in f.aliases for f in result.findings)


def test_azure_linux_by_source_package(tmp_path: Path) -> None:
    records = [
        record(
            "AZL-2024-1234",
            [entry("Azure Linux:3", "demo", "0.9-2.azl3")],
            upstream=["CVE-2024-3333"],
            severity=[{"type": "CVSS_V3", "score": CVSS3_HIGH}],
        )
    ]
    result, _ = match(tmp_path, rpm_layer("azurelinux", "3.0", "Microsoft Azure Linux"), records)
    got = {
        (f.package.name if f.package else "", f.id, f.severity.name, f.severity_source)
        for f in result.findings
    }
    assert got == {
        ("libdemo", "CVE-2024-3333", "HIGH", "CVSS_V3"),
        ("demo", "CVE-2024-3333", "HIGH", "CVSS_V3"),
    }


def test_alma_related_ids_are_listed_never_merged(tmp_path: Path) -> None:
    records = [
        record(
            "ALSA-2026:66392",
            [
                entry("AlmaLinux:9", "demo", "0.9-2.el9"),
                entry("AlmaLinux:9", "libdemo", "0.9-2.el9"),
            ],
            summary="Moderate: demo security update",
            related=["CVE-2026-34501", "CVE-2025-49506"],
        ),
        # another advisory related to one of the same CVEs stays its own finding
        record(
            "ALSA-2026:70000",
            [entry("AlmaLinux:9", "demo", "0.9-3.el9")],
            summary="Important: demo bug fix and security update",
            related=["CVE-2026-34501"],
        ),
    ]
    result, _ = match(tmp_path, rpm_layer("almalinux", "9.4", "AlmaLinux"), records)
    demo = by_id(result, "demo")
    assert set(demo) == {"ALSA-2026:66392", "ALSA-2026:70000"}
    assert demo["ALSA-2026:66392"].aliases == ()
    assert demo["ALSA-2026:66392"].details["related"] == ["CVE-2025-49506", "CVE-2026-34501"]
    assert (demo["ALSA-2026:66392"].severity, demo["ALSA-2026:70000"].severity) == (
        Severity.MEDIUM,
        Severity.HIGH,
    )
    assert set(by_id(result, "libdemo")) == {"ALSA-2026:66392"}  # not 70000's demo


# -- language packages: GHSA, PYSEC ---------------------------------------------------------


def test_ghsa_cvss_then_word_and_pysec_aliases(tmp_path: Path) -> None:
    site = "usr/lib/python3/site-packages"
    records = [
        record(
            "GHSA-j8r2-6x86-q33q",
            [entry("PyPI", "requests", "2.31.0")],
            aliases=["CVE-2023-32681", "PYSEC-2023-74"],
            severity=[{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:H/I:N/A:N"}],
            database_specific={
                "severity": "MODERATE",
                "github_reviewed": True,
                "cwe_ids": ["CWE-200"],
            },
        ),
        record(
            "PYSEC-2023-74",
            [entry("PyPI", "requests", "2.31.0")],
            aliases=["CVE-2023-32681", "GHSA-j8r2-6x86-q33q"],
        ),
        record(
            "GHSA-34jh-p97f-mpxf",
            [entry("PyPI", "urllib3", "1.26.19")],
            aliases=["CVE-2024-37891"],
            severity=[
                {"type": "CVSS_V3", "score": CVSS3_LOW},
                {"type": "CVSS_V4", "score": CVSS4_HIGH},
            ],
            database_specific={"severity": "MODERATE"},
        ),
        record(
            "GHSA-v845-jxx5-vc9f",
            [entry("PyPI", "urllib3", "1.26.17")],
            aliases=["CVE-2023-43804"],
            database_specific={"severity": "MODERATE"},
        ),
    ]
    layer = [ib.python_dist("requests", "2.20.0", site), ib.python_dist("urllib3", "1.24.1", site)]
    result, _ = match(tmp_path, layer, records)
    got = {
        f.id: (set(f.aliases), f.severity.name, f.severity_source, f.cvss.score if f.cvss else None)
        for f in result.findings
    }
    assert got == {
        "CVE-2023-32681": ({"GHSA-j8r2-6x86-q33q", "PYSEC-2023-74"}, "MEDIUM", "CVSS_V3", 5.3),
        "CVE-2024-37891": ({"GHSA-34jh-p97f-mpxf"}, "HIGH", "CVSS_V4", 8.7),  # v4 over v3
        "CVE-2023-43804": ({"GHSA-v845-jxx5-vc9f"}, "MEDIUM", "ghsa", None),  # MODERATE
    }
