"""Binary classifiers against real binaries of this machine (compared with the system's own
answer), look-alikes, streaming edge cases, the corpus image, and the runtime EOL table."""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from hullscan.binaries import classify
from hullscan.binaries.classify import BinaryClassifierAnalyzer, default_classifiers
from hullscan.binaries.eol import eol_findings, runtime_eol, runtime_eol_table
from hullscan.model import FileInfo, FileType, Location, Package, Severity

from conftest import corpus_image

LIB = "/usr/lib/x86_64-linux-gnu"
ANALYZER = BinaryClassifierAnalyzer()


def _info(path: str, size: int, mode: int = 0o755) -> FileInfo:
    return FileInfo(path, FileType.REG, size, mode)


def classify_bytes(path: str, data: bytes) -> dict[str, Package]:
    info = _info(path, len(data))
    if not ANALYZER.required(path, info):
        return {}
    result = ANALYZER.analyze(path, info, io.BytesIO(data))
    return {p.metadata["classifier"]: p for p in (result.packages if result else [])}


def classify_file(real: str, as_path: str | None = None) -> dict[str, Package]:
    p = Path(real)
    if not p.is_file():
        pytest.skip(f"{real} not present")
    path = as_path or str(p.resolve()).lstrip("/")
    info = _info(path, p.stat().st_size)
    if not ANALYZER.required(path, info):
        return {}
    with p.open("rb") as f:
        result = ANALYZER.analyze(path, info, f)
    return {pkg.metadata["classifier"]: pkg for pkg in (result.packages if result else [])}


def _run(*cmd: str) -> str:
    if not shutil.which(cmd[0]):
        pytest.skip(f"{cmd[0]} not installed")
    r = subprocess.run(cmd, capture_output=True, text=True, check=False)
    return r.stdout + r.stderr


def _dpkg_upstream(pkg: str) -> str:
    out = _run("dpkg-query", "-W", "-f", "${Version}", pkg).strip()
    if not out or "no packages found" in out:
        pytest.skip(f"{pkg} not installed")
    upstream = out.split(":", 1)[-1].rsplit("-", 1)[0]
    return re.split(r"[+~]|\.dfsg|\.ds", upstream)[0]


def _first(pattern: str, text: str) -> str:
    m = re.search(pattern, text)
    if not m:
        pytest.skip(f"no version in {text[:80]!r}")
    return m.group(1)


# (file, classifier id, how the system itself says the version)
REAL_CASES = [
    (f"{LIB}/libcrypto.so.3", "openssl", lambda: _dpkg_upstream("libssl3")),
    (f"{LIB}/libz.so.1", "zlib", lambda: _dpkg_upstream("zlib1g")),
    (f"{LIB}/libsqlite3.so.0", "sqlite", lambda: _dpkg_upstream("libsqlite3-0")),
    (f"{LIB}/libc.so.6", "glibc", lambda: _dpkg_upstream("libc6")),
    ("/bin/bash", "bash", lambda: _first(r"version (\d+\.\d+\.\d+)", _run("bash", "--version"))),
    ("/usr/bin/perl", "perl", lambda: _run("perl", "-e", "print $^V").lstrip("v")),
    (f"{LIB}/libperl.so.5.36", "perl", lambda: _run("perl", "-e", "print $^V").lstrip("v")),
    (
        "/usr/bin/python3",
        "python",
        lambda: _first(r"Python (\S+)", _run("/usr/bin/python3", "--version")),
    ),
    ("/usr/bin/node", "node", lambda: _run("node", "--version").strip().lstrip("v")),
    ("/usr/bin/curl", "curl", lambda: _first(r"^curl (\S+)", _run("curl", "--version"))),
    (
        f"{LIB}/libcurl.so.4",
        "libcurl",
        lambda: _first(r"libcurl/(\d+\.\d+\.\d+)", _run("curl", "--version")),
    ),
    ("/usr/bin/ssh", "openssh", lambda: _first(r"OpenSSH_([0-9.p]+)", _run("ssh", "-V"))),
    ("/usr/sbin/sshd", "openssh", lambda: _first(r"OpenSSH_([0-9.p]+)", _run("ssh", "-V"))),
    ("/usr/bin/xz", "xz", lambda: _first(r"XZ Utils\) (\S+)", _run("xz", "--version"))),
    (
        f"{LIB}/libruby-3.1.so.3.1",
        "ruby",
        lambda: _first(r"ruby (\d+\.\d+\.\d+)", _run("ruby", "--version")),
    ),
    ("/usr/bin/php", "php", lambda: _first(r"PHP (\d+\.\d+\.\d+)", _run("php", "--version"))),
    (
        "/usr/local/bin/postgres",
        "postgresql",
        lambda: _first(r"\(PostgreSQL\) (\S+)", _run("/usr/local/bin/postgres", "--version")),
    ),
    ("/usr/bin/go", "go", lambda: _first(r"go version go(\S+)", _run("go", "version"))),
    (
        "/usr/bin/java",
        "openjdk-launcher",
        lambda: _first(r'version "([0-9.]+)', _run("java", "-version")),
    ),
    (
        "/usr/bin/kubectl",
        "kubectl",
        lambda: _first(r"Client Version: v(\d+\.\d+\.\d+)", _run("kubectl", "version", "--client")),
    ),
]


@pytest.mark.parametrize(
    ("real", "classifier", "expected"),
    REAL_CASES,
    ids=[f"{c}:{os.path.basename(f)}" for f, c, _ in REAL_CASES],
)
def test_real_binary_version_matches_system(real: str, classifier: str, expected: object) -> None:
    found = classify_file(real)
    assert callable(expected)
    want = expected()
    assert classifier in found, f"{real}: nothing found (want {want})"
    pkg = found[classifier]
    assert pkg.version == want
    assert pkg.found_by == "binary-classifier" and pkg.type == "generic"
    assert pkg.purl == f"pkg:generic/{pkg.name}@{want}"
    assert want in pkg.metadata["cpe"]
    if classifier != "perl":  # perl's banner spells "version 36, subversion 0"
        assert want in pkg.metadata["evidence"]
    assert len(pkg.metadata["evidence"]) <= 120


def test_openjdk_release_file() -> None:
    javas = sorted(Path("/usr/lib/jvm").glob("*/release")) if Path("/usr/lib/jvm").is_dir() else []
    if not javas:
        pytest.skip("no JDK release file")
    text = javas[0].read_text()
    want = _first(r'JAVA_VERSION="([^"]+)"', text)
    found = classify_file(str(javas[0]))
    assert found["openjdk-release"].version == want


def test_libssl3_has_no_version_banner_and_is_not_reported() -> None:
    # OpenSSL 3 keeps its version text in libcrypto only
    assert classify_file(f"{LIB}/libssl.so.3") == {}


@pytest.mark.parametrize("real", ["/usr/bin/curl", "/usr/bin/ssh", f"{LIB}/libcurl.so.4"])
def test_programs_linking_openssl_are_not_openssl(real: str) -> None:
    # their own name: only their own classifier applies
    found = classify_file(real)
    assert found and "openssl" not in found
    # even presented under libcrypto's name, "OpenSSL %s" / "OpenSSL/3.0.x" is no banner
    assert "openssl" not in classify_file(real, as_path="usr/lib/libcrypto.so.3")


def test_look_alike_text_files_do_not_match() -> None:
    readme = b"This product includes OpenSSL 3.0.0 (see https://www.openssl.org/).\n"
    assert classify_bytes("usr/lib/libssl.so.3", readme) == {}
    assert classify_bytes("usr/lib/libcrypto.so.3", readme) == {}
    # decision: the exact banner shape (NUL, version, release date, NUL) does match, in a
    # file named like the library: a vendored libcrypto is exactly that
    banner = b"junk\x00OpenSSL 1.1.1w  11 Sep 2023\x00more"
    assert classify_bytes("usr/lib/libcrypto.so.1.1", banner)["openssl"].version == "1.1.1w"
    # a file whose name no classifier claims is never read
    assert classify_bytes("usr/share/doc/openssl.txt", banner) == {}
    assert not ANALYZER.required("usr/bin/hello", _info("usr/bin/hello", 10_000))


def test_boringssl_and_aws_lc_are_not_openssl() -> None:
    boring = b"\x00OpenSSL 1.1.1 (compatible; BoringSSL)\x00"
    found = classify_bytes("usr/lib/libcrypto.so", boring)
    assert set(found) == {"boringssl"} and found["boringssl"].version == ""
    aws = b"\x00OpenSSL 1.1.1 (compatible; AWS-LC 1.69.0)\x00"
    assert classify_bytes("usr/lib/libcrypto.so", aws)["aws-lc"].version == "1.69.0"


def test_python_version_must_fit_the_file_name() -> None:
    data = b"\x003.9.1\x00junk\x003.12.4\x00"
    assert classify_bytes("usr/local/bin/python3.12", data)["python"].version == "3.12.4"
    assert classify_bytes("usr/local/lib/libpython3.12.so.1.0", data)["python"].version == "3.12.4"
    assert classify_bytes("usr/local/bin/python3.10", data) == {}


def test_only_regular_files_are_required() -> None:
    link = FileInfo("usr/bin/node", FileType.SYMLINK, 0, 0o777, linkname="nodejs")
    assert not ANALYZER.required("usr/bin/node", link)
    assert ANALYZER.required("opt/node/bin/node", _info("opt/node/bin/node", 100))


def test_classifier_table_size_and_shape() -> None:
    table = default_classifiers()
    assert len(table.classifiers) >= 30
    ids = [c.id for c in table.classifiers]
    assert len(ids) == len(set(ids))
    for c in table.classifiers:
        assert c.purl.startswith("pkg:generic/")
        assert c.cpe == "" or c.cpe.startswith("cpe:2.3:a:")


@pytest.mark.parametrize("offset", [0, 1, 100, 200, 500, 1000, 1020])
def test_banner_across_chunk_boundaries(monkeypatch: pytest.MonkeyPatch, offset: int) -> None:
    monkeypatch.setattr(classify, "CHUNK", 1024)
    banner = b"\x00OpenSSL 3.0.11 19 Sep 2023\x00"
    for start in (1024 - offset, 2048 - offset, 5000):
        data = b"A" * start + banner + b"B" * 3000
        found = classify_bytes("usr/lib/libcrypto.so.3", data)
        assert found["openssl"].version == "3.0.11", start
    # a version cut at the chunk end is not reported short ("3.0.1" of "3.0.11")
    data = b"A" * (1024 - 20) + b"\x00libcurl/7.88.11\x00" + b"B" * 3000
    assert classify_bytes("usr/lib/libcurl.so.4", data)["libcurl"].version == "7.88.11"


def test_reading_stops_at_first_match(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(classify, "CHUNK", 1024)
    data = b"\x00BusyBox v1.36.1 (x) \x00" + b"x" * 100_000
    stream = io.BytesIO(data)
    info = _info("bin/busybox", len(data))
    result = ANALYZER.analyze("bin/busybox", info, stream)
    assert result is not None and result.packages[0].version == "1.36.1"
    assert stream.tell() <= 1024


# --- corpus -------------------------------------------------------------------------


@pytest.mark.corpus
def test_corpus_binaries_image() -> None:
    archive = corpus_image("binaries") / "docker-archive.tar"
    found: dict[str, list[Package]] = {}
    claimed: list[str] = []
    with tarfile.open(archive) as outer:
        for member in outer.getmembers():
            if not (member.isfile() and member.name.endswith(".tar")):
                continue
            fobj = outer.extractfile(member)
            assert fobj is not None
            with tarfile.open(fileobj=fobj) as layer:
                for entry in layer:
                    if not entry.isfile():
                        continue
                    info = FileInfo(entry.name, FileType.REG, entry.size, entry.mode)
                    if not ANALYZER.required(entry.name, info):
                        continue
                    claimed.append(entry.name)
                    stream = layer.extractfile(entry)
                    assert stream is not None
                    result = ANALYZER.analyze(entry.name, info, stream)
                    if result:
                        found[entry.name] = result.packages
    busybox = found["usr/local/bin/busybox"]
    assert [(p.name, p.version) for p in busybox] == [("busybox", "1.35.0")]
    assert busybox[0].purl == "pkg:generic/busybox@1.35.0"
    # the Go programs belong to the go-binary analyzer: no classifier claims them
    assert not any("hello-go" in path for path in claimed)
    assert "usr/local/bin/suid-helper" not in claimed


# --- end of life ---------------------------------------------------------------------


def _pkg(
    name: str,
    version: str,
    found_by: str = "binary-classifier",
    ptype: str = "generic",
    owner: str = "",
) -> Package:
    return Package(
        name=name,
        version=version,
        type=ptype,
        purl=f"pkg:{ptype}/{name}@{version}",
        found_by=found_by,
        owner=owner,
        locations=(Location(f"usr/local/bin/{name}", "sha256:abc"),),
    )


def test_runtime_eol_lookup() -> None:
    today = dt.date(2026, 11, 26)
    assert runtime_eol("openssl", "1.1.1w", today) == (dt.date(2023, 9, 11), "1.1.1")
    assert runtime_eol("openssl", "3.0.11", today) == (dt.date(2026, 9, 7), "3.0")
    assert runtime_eol("python", "3.11.2", today) == (dt.date(2027, 10, 31), "3.11")
    assert runtime_eol("python", "3.1.5", today) is None
    assert runtime_eol("node", "20.20.2", today) == (dt.date(2026, 4, 30), "20")
    assert runtime_eol("openjdk", "1.8.0_392", today)[1] == "8"  # type: ignore[index]
    assert runtime_eol("openjdk", "17.0.15", today)[1] == "17"  # type: ignore[index]
    assert runtime_eol("go", "1.19.8", today) == (dt.date(2023, 8, 8), "1.19")
    assert runtime_eol("go", "go1.21rc2", today)[1] == "1.21"  # type: ignore[index]
    assert runtime_eol("postgresql", "9.6.24", today)[1] == "9.6"  # type: ignore[index]
    assert runtime_eol("postgresql", "15.18", today)[1] == "15"  # type: ignore[index]
    assert runtime_eol("busybox", "1.35.0", today) is None
    assert runtime_eol_table().written == dt.date(2026, 11, 26)


def test_eol_findings_past_and_future() -> None:
    pkgs = [
        _pkg("python", "3.8.18"),
        _pkg("node", "22.1.0"),
        _pkg("openssl", "1.1.1w"),
        _pkg("busybox", "1.35.0"),
    ]
    findings = eol_findings(pkgs, dt.date(2025, 1, 1))
    by = {f.package.name: f for f in findings if f.package}
    assert set(by) == {"python", "openssl"}
    f = by["python"]
    assert (f.kind, f.id, f.severity) == ("binary", "HS-BIN-010", Severity.HIGH)
    assert f.title == "End-of-life runtime or library"
    assert "2024-10-07" in f.evidence and "3.8" in f.evidence
    assert f.details["cycle"] == "3.8" and f.details["eol"] == "2024-10-07"
    assert f.path == "usr/local/bin/python" and f.layer == "sha256:abc"
    assert "CIS-Docker-4.4" in f.standards
    # the day of the end is still supported; the day after is not
    assert eol_findings([_pkg("node", "20.1.0")], dt.date(2026, 4, 30)) == []
    assert len(eol_findings([_pkg("node", "20.1.0")], dt.date(2026, 5, 1))) == 1


def test_eol_applies_to_go_stdlib_but_not_os_packages() -> None:
    today = dt.date(2026, 11, 26)
    stdlib = _pkg("stdlib", "1.19.8", found_by="go-binary", ptype="golang")
    deb_python = _pkg("python3.8", "3.8.10-0ubuntu1", found_by="dpkg", ptype="deb")
    deb_node = _pkg("nodejs", "12.22.9", found_by="dpkg", ptype="deb")
    # a classifier hit on a file an OS package owns: the distribution patches it
    owned = _pkg("python", "3.8.10", owner="python3.8")
    findings = eol_findings([stdlib, deb_python, deb_node, owned], today)
    assert [(f.details["component"], f.details["cycle"]) for f in findings] == [("go", "1.19")]
