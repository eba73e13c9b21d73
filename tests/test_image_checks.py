"""Image checks (``--scanners config``) on images built in code, each check seen firing
and not firing, plus the corpus images' expectations."""

from __future__ import annotations

import io
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from hullscan.checks.accounts import AccountsAnalyzer
from hullscan.checks.catalogue import CheckSettings
from hullscan.checks.eol import eol_for, eol_table
from hullscan.checks.image import IMAGE_CHECKS, check_image
from hullscan.model import FileInfo, FileType, Finding, OSInfo, Severity
from hullscan.pipeline import ScanOptions, analyze_image
from hullscan.references import parse_name

from conftest import corpus_image
from imagebuilder import (
    DEBIAN_OS_RELEASE,
    DPKG_STATUS,
    Node,
    build,
    debian_base,
    file,
    symlink,
    whiteout,
    write_oci,
)

TODAY = date(2025, 1, 1)  # Debian 12 in regular support, Debian 11 in LTS
DIGEST = "sha256:" + "a" * 64
PINNED = f"registry.example.com/team/app:1.0@{DIGEST}"


def shell_base() -> list[Node]:
    """A Debian-like base with a shell and dpkg, as most images start."""
    return [
        *debian_base(),
        file("bin/bash", b"\x7fELF", 0o755),
        symlink("bin/sh", "bash"),
        file("usr/bin/dpkg", b"\x7fELF", 0o755),
    ]


def scan(
    tmp_path: Path,
    layers: list[list[Node]],
    *,
    config: dict[str, Any] | None = None,
    history: list[dict[str, Any]] | None = None,
    ref: str | None = PINNED,
    settings: CheckSettings | None = None,
    today: date = TODAY,
    annotations: dict[str, str] | None = None,
) -> tuple[list[Finding], dict[str, Any]]:
    """Build the image, analyze it like ``--scanners config`` does and run the checks;
    ``ref`` None judges the local layout's own reference."""
    cfg = {"User": "1000", "Healthcheck": {"Test": ["CMD", "true"]}} if config is None else config
    img = build(layers, config_extra={"config": cfg}, history=history)
    root = write_oci([(img, {"annotations": annotations} if annotations else {})], tmp_path / "oci")
    local = f"oci:{root}"
    analyzed = analyze_image(
        local,
        ScanOptions(cache_dir=tmp_path / "cache", workers=1),
        extra_analyzers=[AccountsAnalyzer()],
    )
    return check_image(analyzed, settings or CheckSettings(), ref or local, today)


def ids(findings: list[Finding]) -> list[str]:
    return [f.id for f in findings]


def only(findings: list[Finding], check_id: str) -> list[Finding]:
    return [f for f in findings if f.id == check_id]


# -- config ------------------------------------------------------------------------------


@pytest.mark.parametrize("user", [None, "", "0", "root", "0:0", "root:root"])
def test_root_user_fires(tmp_path: Path, user: str | None) -> None:
    found, _ = scan(tmp_path, [shell_base()], config={"User": user} if user is not None else {})
    (f,) = only(found, "HS-IMG-001")
    assert f.severity is Severity.HIGH
    assert "CIS-Docker-4.1" in f.standards and "DL3002" in f.standards
    assert "CIS-DI-0001" in f.standards and "DS002" in f.standards
    assert "root" in f.evidence


@pytest.mark.parametrize("user", ["1000", "1000:1000", "app", "nobody:nogroup"])
def test_non_root_user_does_not_fire(tmp_path: Path, user: str) -> None:
    found, _ = scan(tmp_path, [shell_base()], config={"User": user})
    assert "HS-IMG-001" not in ids(found)


@pytest.mark.parametrize(
    ("healthcheck", "fires"),
    [
        ({"Test": ["CMD", "curl", "-f", "http://localhost/"]}, False),
        ({"Test": ["NONE"]}, True),
        (None, True),
    ],
)
def test_healthcheck(tmp_path: Path, healthcheck: dict[str, Any] | None, fires: bool) -> None:
    cfg: dict[str, Any] = {"User": "1000"}
    if healthcheck is not None:
        cfg["Healthcheck"] = healthcheck
    found, _ = scan(tmp_path, [shell_base()], config=cfg)
    assert ("HS-IMG-002" in ids(found)) is fires


def test_sensitive_volumes(tmp_path: Path) -> None:
    cfg = {
        "User": "1000",
        "Volumes": {
            "/etc": {},
            "/data": {},
            "/var/run/docker.sock": {},
            "/app/cache": {},
            "/proc/sys/": {},
        },
    }
    found, _ = scan(tmp_path, [shell_base()], config=cfg)
    vols = only(found, "HS-IMG-006")
    assert sorted(f.details["volume"] for f in vols) == [
        "/etc",
        "/proc/sys/",
        "/var/run/docker.sock",
    ]
    assert all(f.severity is Severity.HIGH and "DKL-DI-0002" in f.standards for f in vols)


def test_ports(tmp_path: Path) -> None:
    cfg = {
        "User": "1000",
        "ExposedPorts": {"22/tcp": {}, "8080/tcp": {}, "70000/tcp": {}, "53/udp": {}},
    }
    found, _ = scan(tmp_path, [shell_base()], config=cfg)
    (ssh,) = only(found, "HS-IMG-008")
    assert ssh.severity is Severity.HIGH and "22/tcp" in ssh.evidence and "DS004" in ssh.standards
    (bad,) = only(found, "HS-IMG-009")
    assert bad.severity is Severity.MEDIUM and "70000" in bad.evidence
    assert "DL3011" in bad.standards
    clean, _ = scan(
        tmp_path / "2", [shell_base()], config={"User": "1000", "ExposedPorts": {"8080/tcp": {}}}
    )
    assert not {"HS-IMG-008", "HS-IMG-009"} & set(ids(clean))


# -- history -----------------------------------------------------------------------------


def test_history_update_alone_and_add(tmp_path: Path) -> None:
    token = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    history: list[dict[str, Any]] = [
        {"created_by": "/bin/sh -c #(nop) ADD file:0123abcd in / "},
        {"created_by": "/bin/sh -c apt-get update"},
        {"created_by": "/bin/sh -c apt-get update && apt-get install -y curl"},
        {"created_by": "ADD app.tar.gz /app # buildkit"},
        {"created_by": f"|1 TOKEN={token} /bin/sh -c #(nop) ADD https://example.com/x.tgz /x"},
        {"created_by": '/bin/sh -c #(nop)  CMD ["sh"]', "empty_layer": True},
    ]
    layers = [shell_base(), [file("a", "1")], [file("b", "2")], [file("c", "3")], [file("d", "4")]]
    found, _ = scan(tmp_path, layers, history=history)
    (update,) = only(found, "HS-IMG-003")
    assert update.details["history_index"] == 1 and update.layer is not None
    assert {"CIS-Docker-4.7", "CIS-DI-0007", "DS017"} <= set(update.standards)
    adds = only(found, "HS-IMG-004")
    assert [f.details["history_index"] for f in adds] == [3, 4]  # not the base's ADD
    assert adds[1].details["url"] is True
    assert {"CIS-Docker-4.9", "CIS-DI-0009", "DL3020"} <= set(adds[0].standards)
    text = " ".join(f.evidence + str(f.details) for f in found)
    assert token not in text, "history lines are redacted"


def test_apk_update_alone(tmp_path: Path) -> None:
    history = [
        {"created_by": "ADD file:x in /"},
        {"created_by": "/bin/sh -c apk update"},
        {"created_by": "/bin/sh -c apk add --no-cache curl"},
    ]
    found, _ = scan(tmp_path, [shell_base(), [file("a", "1")], [file("b", "2")]], history=history)
    assert [f.details["history_index"] for f in only(found, "HS-IMG-003")] == [1]


# -- filesystem --------------------------------------------------------------------------


def test_setuid_owned_vs_not_owned(tmp_path: Path) -> None:
    layers = [
        [
            *shell_base(),
            file("var/lib/dpkg/info/passwd.list", "/.\n/usr\n/usr/bin/passwd\n"),
            file("usr/bin/passwd", b"\x7fELF", 0o4755),
            file("usr/bin/plain", b"x", 0o755),
        ],
        [file("usr/local/bin/helper", b"\x7fELF", 0o4755), file("opt/tool", b"\x7fELF", 0o2755)],
    ]
    found, _ = scan(tmp_path, layers)
    foreign = only(found, "HS-IMG-010")
    assert sorted(f.path or "" for f in foreign) == ["opt/tool", "usr/local/bin/helper"]
    assert all(
        f.severity is Severity.HIGH
        and "CIS-Docker-4.8" in f.standards
        and "CIS-DI-0008" in f.standards
        for f in foreign
    )
    assert foreign[0].layer is not None
    (owned,) = only(found, "HS-IMG-011")
    assert owned.severity is Severity.LOW
    assert [x["path"] for x in owned.details["files"]] == ["usr/bin/passwd"]


def test_setuid_owned_through_usrmerge_symlink(tmp_path: Path) -> None:
    """dpkg lists /bin/su while the file lives at usr/bin/su behind the bin -> usr/bin link."""
    layers = [
        [
            *debian_base(),
            symlink("bin", "usr/bin"),
            file("usr/bin/bash", b"x", 0o755),
            file("var/lib/dpkg/info/login.list", "/.\n/bin\n/bin/su\n"),
            file("usr/bin/su", b"\x7fELF", 0o4755),
        ]
    ]
    found, _ = scan(tmp_path, layers)
    assert "HS-IMG-010" not in ids(found)
    assert [x["path"] for x in only(found, "HS-IMG-011")[0].details["files"]] == ["usr/bin/su"]


def test_caches_left_behind(tmp_path: Path) -> None:
    layers = [
        shell_base(),
        [
            file("var/cache/apt/archives/curl_8.0_amd64.deb", b"d" * 1000),
            file("var/cache/apt/archives/lock", b""),
            file("var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease", b"l" * 300),
            file("var/lib/apt/lists/lock", b"x"),
            file("var/lib/apt/lists/partial/half", b"p" * 10),
            file("root/.cache/pip/http/ab/cd", b"w" * 50),
            file("home/app/.npm/_cacache/index-v5/x", b"n" * 20),
            file("var/cache/apk/APKINDEX.tar.gz", b"a" * 7),
        ],
    ]
    found, _ = scan(tmp_path, layers)
    caches = {f.path: f for f in only(found, "HS-IMG-007")}
    assert {p: f.details["bytes"] for p, f in caches.items()} == {
        "var/cache/apt/archives": 1000,
        "var/lib/apt/lists": 300,
        "root/.cache/pip": 50,
        "home/app/.npm/_cacache": 20,
        "var/cache/apk": 7,
    }
    assert all("DKL-DI-0005" in f.standards for f in caches.values())
    clean, _ = scan(tmp_path / "2", [[*shell_base(), file("var/lib/apt/lists/lock", b"x")]])
    assert "HS-IMG-007" not in ids(clean)


def test_unnecessary_files(tmp_path: Path) -> None:
    layers = [
        shell_base(),
        [
            file("app/.git/config", "[core]\n"),
            file("app/.git/HEAD", "ref: x\n"),
            file("app/.env", "X=1\n"),
            file("app/.env.example", "X=\n"),
            file("app/.main.py.swp", b"s"),
            file("app/main.py~", b"b"),
            file("app/.DS_Store", b"d"),
            file("app/node_modules/.cache/babel/x", b"c"),
            file("root/.m2/repository/x.jar", b"j"),
            file("app/__pycache__/m.cpython-311.pyc", b"p"),
            file("app/main.py", "print()\n"),
        ],
    ]
    found, _ = scan(tmp_path, layers)
    by_kind = {f.details["category"]: f.details["paths"] for f in only(found, "HS-IMG-012")}
    assert by_kind == {
        "version control (.git)": ["app/.git"],
        "environment files (.env)": ["app/.env"],
        "editor swap and backup files": ["app/.main.py.swp", "app/main.py~"],
        "macOS metadata (.DS_Store)": ["app/.DS_Store"],
        "build caches": ["app/node_modules/.cache", "root/.m2/repository"],
    }
    assert all("DKL-LI-0003" in f.standards for f in only(found, "HS-IMG-012"))
    clean, _ = scan(tmp_path / "2", [shell_base()])
    assert "HS-IMG-012" not in ids(clean)


def test_sudo(tmp_path: Path) -> None:
    status = DPKG_STATUS + (
        "\nPackage: sudo\nStatus: install ok installed\n"
        "Architecture: amd64\nVersion: 1.9.13p3-1+deb12u1\n"
        "Description: privileges\n"
    )
    base = [n for n in shell_base() if n.path != "var/lib/dpkg/status"]
    found, _ = scan(tmp_path, [[*base, file("var/lib/dpkg/status", status)]])
    (f,) = only(found, "HS-IMG-005")
    assert "1.9.13p3" in f.evidence and "DKL-DI-0001" in f.standards
    found, _ = scan(tmp_path / "2", [[*shell_base(), file("usr/bin/sudo", b"x", 0o4755)]])
    assert only(found, "HS-IMG-005")[0].path == "usr/bin/sudo"
    clean, _ = scan(tmp_path / "3", [shell_base()])
    assert "HS-IMG-005" not in ids(clean)


def test_build_tools_and_minimality(tmp_path: Path) -> None:
    status = DPKG_STATUS + (
        "\nPackage: build-essential\nStatus: install ok installed\n"
        "Architecture: amd64\nVersion: 12.9\nDescription: x\n\n"
        "Package: libssl-dev\nStatus: install ok installed\n"
        "Architecture: amd64\nVersion: 3.0.11-1\nDescription: x\n"
    )
    base = [n for n in shell_base() if n.path != "var/lib/dpkg/status"]
    found, summary = scan(
        tmp_path,
        [
            [
                *base,
                file("var/lib/dpkg/status", status),
                file("usr/bin/x86_64-linux-gnu-gcc-12", b"x", 0o755),
                symlink("usr/bin/gcc", "x86_64-linux-gnu-gcc-12"),
                file("usr/bin/make", b"x", 0o755),
            ]
        ],
    )
    (tools,) = only(found, "HS-IMG-018")
    assert tools.severity is Severity.MEDIUM
    assert tools.details["compilers"] == [
        "usr/bin/gcc",
        "usr/bin/make",
        "usr/bin/x86_64-linux-gnu-gcc-12",
    ]
    assert tools.details["dev_packages"] == ["build-essential", "libssl-dev"]
    assert "multi-stage" in tools.remediation
    assert summary["base"]["classification"] == "full"
    # bin/sh is a link to bash: one name per real file
    assert only(found, "HS-IMG-016")[0].details["shells"] == ["bin/sh"]
    assert only(found, "HS-IMG-017")[0].details["package_managers"] == ["usr/bin/dpkg"]


def test_distroless_image_has_no_high_finding(tmp_path: Path) -> None:
    """A clean minimal image: non-root, no shell, no package manager, pinned by digest."""
    layers = [
        [
            Node("etc", kind="dir"),
            file("etc/os-release", DEBIAN_OS_RELEASE),
            file(
                "var/lib/dpkg/status.d/base-files",
                "Package: base-files\nVersion: 12.4+deb12u5\nArchitecture: amd64\n",
            ),
            file(
                "etc/passwd",
                "root:x:0:0:root:/root:/sbin/nologin\n"
                "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n",
            ),
            file("etc/group", "root:x:0:\nnonroot:x:65532:\n"),
            file("app/server", b"\x7fELF" + b"\0" * 100, 0o755),
        ]
    ]
    found, summary = scan(
        tmp_path, layers, config={"User": "65532:65532", "Entrypoint": ["/app/server"]}
    )
    assert [f for f in found if f.severity >= Severity.HIGH] == []
    assert summary["base"]["classification"] == "distroless"
    assert not {"HS-IMG-016", "HS-IMG-017", "HS-IMG-018"} & set(ids(found))
    assert ids(found) == ["HS-IMG-002"]  # only: no HEALTHCHECK (LOW)


def test_scratch_image(tmp_path: Path) -> None:
    found, summary = scan(
        tmp_path,
        [[file("server", b"\x7fELF", 0o755)]],
        config={"User": "10001", "Healthcheck": {"Test": ["CMD", "/server"]}},
    )
    assert summary["base"]["classification"] == "scratch"
    assert summary["eol"] is None
    assert ids(found) == []


def test_alpine_is_minimal(tmp_path: Path) -> None:
    layers = [
        [
            file("etc/os-release", 'ID=alpine\nVERSION_ID=3.19.1\nNAME="Alpine Linux"\n'),
            file("bin/busybox", b"x", 0o755),
            symlink("bin/sh", "/bin/busybox"),
            file("sbin/apk", b"x", 0o755),
        ]
    ]
    found, summary = scan(tmp_path, layers, today=date(2026, 1, 1))
    assert summary["base"]["classification"] == "minimal"
    (eol,) = only(found, "HS-IMG-019")  # Alpine 3.19 ended 2025-11-01
    assert "3.19" in eol.evidence and "2025-11-01" in eol.evidence


# -- waste -------------------------------------------------------------------------------


def test_wasted_bytes_and_efficiency(tmp_path: Path) -> None:
    big = b"x" * (11 * 1024 * 1024)
    layers = [
        [
            *shell_base(),
            file("data/blob", big),
            file("data/keep", b"k" * 1000),
            file("tmp/secret.pem", b"s" * 500),
        ],
        [file("data/blob", b"small")],
        [whiteout("tmp/secret.pem")],
    ]
    found, summary = scan(tmp_path, layers)
    (f,) = only(found, "HS-IMG-021")
    assert f.severity is Severity.MEDIUM  # ≥ 10 MiB
    stats = summary["layers"]
    assert stats["layers"] == 3
    assert stats["wasted_bytes"] == len(big) + 500
    assert stats["removed_bytes"] == 500
    # per layer: what it wrote that a later layer overwrote or deleted (the blob and the key)
    assert stats["layer_wasted_bytes"] == [len(big) + 500, 0, 0]
    assert sum(stats["layer_wasted_bytes"]) == stats["wasted_bytes"]
    total = stats["total_bytes"]
    # dive's score: Σ smallest version per path / Σ all versions (a deletion is a 0 version)
    assert stats["efficiency"] == round((total - len(big) - 500) / total, 4)
    top = f.details["top_wasted"]
    assert [t["path"] for t in top[:2]] == ["data/blob", "tmp/secret.pem"]
    assert top[1]["deleted"] is True and top[1]["layers"] == [0, 2]
    assert "still ship" in f.remediation and "secret" in f.remediation


def test_small_deletion_is_low_and_no_waste_no_finding(tmp_path: Path) -> None:
    layers = [[*shell_base(), file("tmp/x", b"x" * 100)], [whiteout("tmp/x")]]
    found, _ = scan(tmp_path, layers)
    assert only(found, "HS-IMG-021")[0].severity is Severity.LOW
    clean, summary = scan(tmp_path / "2", [shell_base(), [file("app/a", "1")]])
    assert "HS-IMG-021" not in ids(clean)
    assert summary["layers"]["wasted_bytes"] == 0 and summary["layers"]["efficiency"] == 1.0


# -- end of life -------------------------------------------------------------------------


def bullseye() -> list[Node]:
    return [
        n for n in debian_base() if n.path not in ("usr/lib/os-release", "etc/debian_version")
    ] + [
        file("usr/lib/os-release", 'ID=debian\nVERSION_ID="11"\nVERSION_CODENAME=bullseye\n'),
        file("etc/debian_version", "11.9\n"),
    ]


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (date(2024, 1, 1), None),  # regular support
        (date(2025, 1, 1), "HS-IMG-020"),  # LTS only
        (date(2026, 9, 1), "HS-IMG-019"),  # past the LTS end (2026-08-31)
    ],
)
def test_eol_by_injected_today(tmp_path: Path, today: date, expected: str | None) -> None:
    found, summary = scan(tmp_path, [bullseye()], today=today)
    got = [i for i in ids(found) if i in ("HS-IMG-019", "HS-IMG-020")]
    assert got == ([expected] if expected else [])
    if expected == "HS-IMG-019":
        f = only(found, expected)[0]
        assert f.severity is Severity.HIGH and "2026-08-31" in f.evidence
        assert f.details["table_written"] == eol_table().written.isoformat()
        assert f.details["source"]
    assert summary["eol"]["release"] == "debian 11 (bullseye)"


def test_eol_table() -> None:
    table = eol_table()
    assert table.source and table.written
    for distro, versions in {
        "debian": range(8, 14),
        "alpine": [f"3.{m}" for m in range(10, 22)],
    }.items():
        for v in versions:
            assert (distro, str(v)) in table.releases
    for v in ("14.04", "16.04", "18.04", "20.04", "22.04", "24.04"):
        assert table.releases[("ubuntu", v)].extended is not None  # ESM
    for key in [
        ("rhel", "7"),
        ("almalinux", "9"),
        ("rocky", "8"),
        ("centos", "7"),
        ("centos", "8"),
        ("amzn", "2"),
        ("amzn", "2023"),
        ("fedora", "40"),
    ]:
        assert key in table.releases
    hit = eol_for(OSInfo("ubuntu", "20.04"))
    assert hit is not None and hit[0] == date(2025, 5, 29) and "extended" in hit[1]
    assert eol_for(OSInfo("alpine", "3.18.4")) == (
        date(2025, 5, 9),
        eol_for(OSInfo("alpine", "3.18"))[1],
    )  # type: ignore[index]
    assert eol_for(OSInfo("rhel", "8.9"))[0] == date(2029, 5, 31)  # type: ignore[index]
    stream = eol_for(OSInfo("centos", "8", name="CentOS Stream"))
    assert stream is not None and stream[0] == date(2024, 5, 31)
    assert eol_for(OSInfo("debian", "")) is None  # testing/sid
    assert eol_for(OSInfo("plan9", "4")) is None
    assert eol_for(None) is None


# -- reference ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("nginx", {"HS-IMG-013", "HS-IMG-014"}),
        ("nginx:latest", {"HS-IMG-013", "HS-IMG-014"}),
        ("docker.io/library/nginx:1.25", {"HS-IMG-014"}),
        (f"nginx:1.25@{DIGEST}", set()),
        (f"nginx@{DIGEST}", set()),
        (f"localhost:5000/app:latest@{DIGEST}", {"HS-IMG-013"}),
    ],
)
def test_reference_tag_and_digest(tmp_path: Path, ref: str, expected: set[str]) -> None:
    found, _ = scan(tmp_path, [shell_base()], ref=ref)
    assert {i for i in ids(found) if i in ("HS-IMG-013", "HS-IMG-014")} == expected


def test_local_layout_is_judged_by_its_tag_not_digest(tmp_path: Path) -> None:
    found, summary = scan(
        tmp_path,
        [shell_base()],
        ref=None,
        annotations={"org.opencontainers.image.ref.name": "latest"},
    )
    assert "HS-IMG-013" in ids(found) and "HS-IMG-014" not in ids(found)
    assert summary["reference"]["image"]["tag"] == "latest"
    untagged, _ = scan(tmp_path / "2", [shell_base()], ref=None)
    assert not {"HS-IMG-013", "HS-IMG-014", "HS-IMG-015"} & set(ids(untagged))


@pytest.mark.parametrize(
    ("trusted", "ref", "fires"),
    [
        ((), "evil.example.org/app:1", False),  # no list: not checked
        (("registry.example.com",), PINNED, False),
        (("registry.example.com/team",), PINNED, False),
        (("registry.example.com/other",), PINNED, True),
        (("docker.io/library",), f"nginx:1.25@{DIGEST}", False),
        (("docker.io/library",), f"bitnami/nginx:1.25@{DIGEST}", True),
        (("index.docker.io",), f"bitnami/nginx:1.25@{DIGEST}", False),
    ],
)
def test_trusted_registries(
    tmp_path: Path, trusted: tuple[str, ...], ref: str, fires: bool
) -> None:
    found, _ = scan(
        tmp_path, [shell_base()], ref=ref, settings=CheckSettings(trusted_registries=trusted)
    )
    assert ("HS-IMG-015" in ids(found)) is fires


def test_base_image_labels(tmp_path: Path) -> None:
    cfg = {
        "User": "1000",
        "Healthcheck": {"Test": ["CMD", "true"]},
        "Labels": {"org.opencontainers.image.base.name": "docker.io/library/ubuntu:latest"},
    }
    found, _ = scan(
        tmp_path,
        [shell_base()],
        config=cfg,
        settings=CheckSettings(trusted_registries=("registry.example.com",)),
    )
    base = [f for f in found if f.details.get("subject") == "base image"]
    assert sorted(ids(base)) == ["HS-IMG-013", "HS-IMG-014", "HS-IMG-015"]
    cfg["Labels"] = {
        "org.opencontainers.image.base.name": "registry.example.com/base:12",
        "org.opencontainers.image.base.digest": DIGEST,
    }
    found, _ = scan(
        tmp_path / "2",
        [shell_base()],
        config=cfg,
        settings=CheckSettings(trusted_registries=("registry.example.com",)),
    )
    assert [f for f in found if f.details.get("subject") == "base image"] == []


def test_reference_parsing() -> None:
    nginx = parse_name("nginx")
    assert nginx is not None
    assert (nginx.registry, nginx.repository, nginx.tag, nginx.digest) == (
        "docker.io",
        "library/nginx",
        None,
        None,
    )
    assert nginx.canonical == "docker.io/library/nginx"
    local = parse_name("localhost:5000/a/b:1@" + DIGEST)
    assert local is not None
    assert (local.registry, local.repository, local.tag, local.digest) == (
        "localhost:5000",
        "a/b",
        "1",
        DIGEST,
    )
    hub = parse_name("docker://index.docker.io/x/y:2")
    assert hub is not None and hub.canonical == "docker.io/x/y"
    assert parse_name("Not A Name") is None


# -- accounts ----------------------------------------------------------------------------


def run_accounts(path: str, text: str) -> tuple[list[Finding], list[str]]:
    data = text.encode()
    result = AccountsAnalyzer().analyze(
        path, FileInfo(path, FileType.REG, len(data)), io.BytesIO(data)
    )
    return (result.findings, result.warnings) if result else ([], [])


def test_accounts_analyzer_unit() -> None:
    findings, warnings = run_accounts(
        "etc/shadow",
        "root:*:19000:0:99999:7:::\nguest::19000:0:99999:7:::\nlocked:!:19000::::::\nbroken\n",
    )
    (empty,) = findings
    assert empty.id == "HS-IMG-022" and empty.line == 2 and "guest" in empty.evidence
    assert "DKL-LI-0001" in empty.standards
    assert warnings == ["line 4: malformed entry skipped"]
    findings, warnings = run_accounts(
        "etc/passwd",
        "root:x:0:0:root:/root:/bin/bash\n"
        "toor:x:0:0::/root:/bin/sh\n"
        "a:x:1000:1000::/home/a:/bin/sh\n"
        "b:x:1000:1000::/home/b:/bin/sh\n"
        "c:x:abc:1::/:/bin/sh\n"
        "nopw::1001:1001::/:/bin/sh\n"
        "+::::::\n",
    )
    assert sorted((f.id, f.line) for f in findings) == [
        ("HS-IMG-022", 6),
        ("HS-IMG-023", 4),
        ("HS-IMG-024", 2),
    ]
    assert warnings == ["line 5: malformed entry skipped"]
    findings, _ = run_accounts("etc/group", "root:x:0:\nstaff:x:50:\nother:x:50:a,b\n")
    assert [(f.id, f.line, f.severity) for f in findings] == [("HS-IMG-023", 3, Severity.MEDIUM)]
    assert run_accounts("etc/passwd", "root:x:0:0:root:/root:/bin/bash\n") == ([], [])


def test_account_findings_in_image(tmp_path: Path) -> None:
    layers = [
        [
            *shell_base(),
            file("etc/passwd", "root:x:0:0:root:/root:/bin/bash\nsvc:x:0:0::/:/bin/sh\n"),
            file("etc/shadow", "root:*:1::::::\nsvc::1::::::\n"),
        ],
        [file("etc/group", "a:x:5:\nb:x:5:\n")],
    ]
    found, _ = scan(tmp_path, layers)
    accounts = {
        (f.id, f.path, f.line) for f in found if f.id in ("HS-IMG-022", "HS-IMG-023", "HS-IMG-024")
    }
    assert accounts == {
        ("HS-IMG-024", "etc/passwd", 2),
        ("HS-IMG-022", "etc/shadow", 2),
        ("HS-IMG-023", "etc/group", 2),
    }
    assert all(f.layer for f in found if f.id == "HS-IMG-023")
    # a fixed file in a later layer replaces the finding
    layers.append([file("etc/shadow", "root:*:1::::::\nsvc:!:1::::::\n")])
    found, _ = scan(tmp_path / "2", layers)
    assert "HS-IMG-022" not in ids(found)


# -- settings and catalogue --------------------------------------------------------------


def test_settings_disable_enable_and_override(tmp_path: Path) -> None:
    settings = CheckSettings(
        disabled=frozenset({"HS-IMG-002"}), severity={"HS-IMG-001": Severity.CRITICAL}
    )
    found, _ = scan(tmp_path, [shell_base()], config={}, settings=settings)
    assert "HS-IMG-002" not in ids(found)
    assert only(found, "HS-IMG-001")[0].severity is Severity.CRITICAL


def test_catalogue() -> None:
    assert len(IMAGE_CHECKS.checks) == 24
    for check_id, check in IMAGE_CHECKS.checks.items():
        assert re.fullmatch(r"HS-IMG-\d{3}", check_id)
        assert check.title and check.remediation
        if check_id != "HS-IMG-021":
            assert check.standards, check_id
    assert IMAGE_CHECKS["HS-IMG-001"].severity is Severity.HIGH


def test_findings_are_complete(tmp_path: Path) -> None:
    found, _ = scan(
        tmp_path,
        [[*shell_base(), file("usr/local/bin/h", b"x", 0o4755)]],
        config={"ExposedPorts": {"22/tcp": {}}},
        ref="nginx",
    )
    assert found
    for f in found:
        assert f.kind == "misconfiguration" and f.evidence and f.remediation
        f.to_dict()  # serializable


# -- corpus ------------------------------------------------------------------------------


def corpus_scan(image: str, tmp_path: Path) -> tuple[list[Finding], dict[str, Any]]:
    root = corpus_image(image) / "oci"
    ref = f"oci:{root}"
    analyzed = analyze_image(
        ref, ScanOptions(cache_dir=tmp_path / "c"), extra_analyzers=[AccountsAnalyzer()]
    )
    return check_image(analyzed, CheckSettings(), ref, TODAY)


@pytest.mark.corpus
def test_corpus_secrets_and_misconfig(tmp_path: Path) -> None:
    found, summary = corpus_scan("secrets-and-misconfig", tmp_path)
    got = set(ids(found))
    assert {"HS-IMG-001", "HS-IMG-002", "HS-IMG-008", "HS-IMG-013", "HS-IMG-021"} <= got
    assert only(found, "HS-IMG-008")[0].details["port"] == "22/tcp"
    assert "HS-IMG-009" not in got  # 8000/tcp is fine
    stats = summary["layers"]
    assert stats["layers"] == 6 and stats["wasted_bytes"] > 0 and stats["removed_bytes"] > 0
    waste = only(found, "HS-IMG-021")[0]
    deleted = {t["path"] for t in waste.details["top_wasted"] if t["deleted"]}
    assert {"tmp/build/deploy_key.pem", "root/.git-credentials"} & deleted
    env = only(found, "HS-IMG-012")
    assert any("app/.env" in f.details["paths"] for f in env)


@pytest.mark.corpus
def test_corpus_binaries_setuid_helper(tmp_path: Path) -> None:
    found, _ = corpus_scan("binaries", tmp_path)
    foreign = only(found, "HS-IMG-010")
    assert [f.path for f in foreign] == ["usr/local/bin/suid-helper"]
    assert foreign[0].severity is Severity.HIGH and foreign[0].details["uid"] == 0
    assert foreign[0].layer  # the diff-id of layer 2
    # dpkg's own setuid programs are listed, not flagged HIGH
    owned = only(found, "HS-IMG-011")[0].details["files"]
    assert "usr/bin/passwd" in {x["path"] for x in owned}


@pytest.mark.corpus
def test_corpus_app_node_runs_as_1000(tmp_path: Path) -> None:
    found, summary = corpus_scan("app-node", tmp_path)
    assert "HS-IMG-001" not in ids(found)
    assert summary["user"] == "1000:1000"
    assert not {"HS-IMG-008", "HS-IMG-009"} & set(ids(found))  # EXPOSE 3000


@pytest.mark.corpus
def test_corpus_debian_bookworm(tmp_path: Path) -> None:
    """Its only HIGH finding is the true one: no User in the config (runs as root)."""
    found, summary = corpus_scan("debian-bookworm", tmp_path)
    assert [f.id for f in found if f.severity >= Severity.HIGH] == ["HS-IMG-001"]
    assert summary["base"]["classification"] == "minimal"
    assert summary["layers"]["wasted_bytes"] == 0
    assert not {"HS-IMG-007", "HS-IMG-010", "HS-IMG-012"} & set(ids(found))


@pytest.mark.corpus
def test_cli_config_scan_without_vuln_still_knows_os_owned_setuid_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--scanners config (or config,secret) must still read the package databases: they
    decide which setuid files the OS owns."""
    import json

    from hullscan.cli import main

    ref = f"oci:{corpus_image('binaries') / 'oci'}"
    assert (
        main(
            [
                "scan",
                ref,
                "--scanners",
                "config,secret",
                "-f",
                "json",
                "-q",
                "--cache-dir",
                str(tmp_path / "c"),
            ]
        )
        == 0
    )
    doc = json.loads(capsys.readouterr().out)
    unowned = {f["path"] for f in doc["findings"] if f["id"] == "HS-IMG-010"}
    assert unowned == {"usr/local/bin/suid-helper"}


@pytest.mark.parametrize("scanners", ["config", "secret,config", "config,secret,binary"])
def test_account_checks_run_with_every_scanner_combination(tmp_path: Path, scanners: str) -> None:
    """Each scanner's layer analyzers are kept when several scanners run together."""
    import json

    from hullscan.cli import main

    img = build(
        [
            [
                *shell_base(),
                file("etc/passwd", "root:x:0:0:root:/root:/bin/bash\nsvc:x:1:1::/:/bin/sh\n"),
                file("etc/shadow", "root:*:1::::::\nsvc::1::::::\n"),
            ]
        ]
    )
    root = write_oci([(img, {})], tmp_path / "oci")
    out = tmp_path / "r.json"
    assert (
        main(
            [
                "scan",
                f"oci:{root}",
                "--scanners",
                scanners,
                "-q",
                "--format",
                "json",
                "-o",
                str(out),
                "--cache-dir",
                str(tmp_path / "c"),
            ]
        )
        == 0
    )
    found = {(f["id"], f.get("path")) for f in json.loads(out.read_text())["findings"]}
    assert ("HS-IMG-022", "etc/shadow") in found
