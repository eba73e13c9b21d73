"""Binary hardening (hullscan.binaries.hardening) on real binaries, checked against checksec.

ELF binaries are compiled here with gcc (tests skip without it); the Debian system's own
binaries are compared property by property with Debian's ``checksec`` (installed by
``scripts/checksec.sh``; the comparison skips without it).
"""

from __future__ import annotations

import glob
import io
import json
import os
import shutil
import struct
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from hullscan.analyzer import AnalyzerInputError
from hullscan.binaries.hardening import (
    HARDENING_CHECKS,
    BinaryInfo,
    HardeningAnalyzer,
    findings_for,
    inspect_binary,
    unsafe_search_paths,
)
from hullscan.model import FileInfo, FileType, Severity

GCC = shutil.which("gcc")
CHECKSEC = shutil.which("checksec")
needs_gcc = pytest.mark.skipif(GCC is None, reason="gcc is not installed")

PROGRAM = r"""
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv) {
    char buf[64];
    strcpy(buf, argc > 1 ? argv[1] : "x");
    printf("%s %d\n", buf, argc);
    return 0;
}
"""
LIBRARY = r"""
#include <stdio.h>
#include <string.h>
int greet(const char *s) { char buf[64]; strcpy(buf, s); return printf("%s\n", buf); }
"""
HARDENED = ["-fstack-protector-strong", "-D_FORTIFY_SOURCE=2", "-O2"]
#: name -> (source, gcc flags); compiled once per session, missing when gcc refuses
VARIANTS: dict[str, tuple[str, list[str]]] = {
    "full": (PROGRAM, [*HARDENED, "-pie", "-fPIE", "-Wl,-z,relro,-z,now"]),
    "none": (
        PROGRAM,
        [
            "-O0",
            "-fno-stack-protector",
            "-U_FORTIFY_SOURCE",
            "-no-pie",
            "-Wl,-z,norelro",
            "-z",
            "execstack",
        ],
    ),
    "partial": (PROGRAM, [*HARDENED, "-pie", "-fPIE", "-Wl,-z,relro,-z,lazy"]),
    "rpath": (PROGRAM, [*HARDENED, "-Wl,-z,now", "-Wl,--disable-new-dtags", "-Wl,-rpath,."]),
    "runpath": (
        PROGRAM,
        [
            *HARDENED,
            "-Wl,-z,now",
            "-Wl,--enable-new-dtags",
            "-Wl,-rpath,/tmp/plugins:$ORIGIN/../lib",
        ],
    ),
    "libgreet.so": (LIBRARY, [*HARDENED, "-shared", "-fPIC", "-Wl,-z,relro,-z,now"]),
    "static": (PROGRAM, [*HARDENED, "-static"]),
    "stripped": (PROGRAM, [*HARDENED, "-pie", "-fPIE", "-Wl,-z,relro,-z,now", "-s"]),
}

#: (file name, checksec property) -> why hullscan deliberately differs
KNOWN_DIFFERENCES: dict[tuple[str, str], str] = {
    (
        "static",
        "fortify_source",
    ): "checksec looks for *_chk functions in .dynsym only, which a static binary lacks; "
    "hullscan also reads .symtab, where the statically linked __printf_chk shows",
}
#: cap on system files compared with checksec (one checksec run each, run in parallel)
MAX_SYSTEM_FILES = 300


def _info(path: str | Path, mode: int | None = None, uid: int | None = None) -> FileInfo:
    st = os.stat(path)
    return FileInfo(
        str(path).lstrip("/"),
        FileType.REG,
        st.st_size,
        st.st_mode if mode is None else mode,
        st.st_uid if uid is None else uid,
    )


class _Sequential:
    """A read-only, non-seekable stream, like the one analyzers get from a layer."""

    def __init__(self, data: bytes) -> None:
        self._buf = io.BytesIO(data)

    def read(self, n: int = -1) -> bytes:
        return self._buf.read(n)


def inspect_path(path: str | Path, mode: int | None = None) -> BinaryInfo | None:
    data = Path(path).read_bytes()
    return inspect_binary(_Sequential(data), _info(path, mode))  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    if GCC is None:
        pytest.skip("gcc is not installed")
    d = tmp_path_factory.mktemp("hardening")
    out: dict[str, Path] = {}
    for name, (source, flags) in VARIANTS.items():
        src = d / ("lib.c" if source is LIBRARY else "prog.c")
        src.write_text(source)
        target = d / name
        done = subprocess.run([GCC, *flags, str(src), "-o", str(target)], capture_output=True)
        if done.returncode == 0:
            out[name] = target
    return out


def _need(built: dict[str, Path], name: str) -> Path:
    if name not in built:
        pytest.skip(f"gcc could not build the {name!r} variant (static libc missing?)")
    return built[name]


# --- properties of compiled binaries -----------------------------------------------------

EXPECTED: dict[str, dict[str, object]] = {
    "full": dict(
        type="pie",
        pie=True,
        nx=True,
        relro="full",
        canary=True,
        fortify=True,
        stripped=False,
        static=False,
        rpath="",
        runpath="",
    ),
    "none": dict(
        type="exec",
        pie=False,
        nx=False,
        relro="none",
        canary=False,
        fortify=False,
        stripped=False,
        static=False,
    ),
    "partial": dict(type="pie", pie=True, nx=True, relro="partial", canary=True, fortify=True),
    "rpath": dict(rpath=".", runpath="", unsafe_paths=(".",)),
    "runpath": dict(
        rpath="", runpath="/tmp/plugins:$ORIGIN/../lib", unsafe_paths=("/tmp/plugins",)
    ),
    "libgreet.so": dict(
        type="dso", pie=False, nx=True, relro="full", canary=True, fortify=True, static=False
    ),
    "static": dict(type="exec", pie=False, nx=True, static=True, canary=True, fortify=True),
    "stripped": dict(type="pie", stripped=True, canary=True, fortify=True, relro="full"),
}


@needs_gcc
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_compiled_binary_properties(built: dict[str, Path], name: str) -> None:
    info = inspect_path(_need(built, name))
    assert info is not None and info.format == "ELF"
    for key, want in EXPECTED[name].items():
        assert getattr(info, key) == want, key


@needs_gcc
def test_findings_for_compiled_binaries(built: dict[str, Path]) -> None:
    analyzer = HardeningAnalyzer()

    def run(name: str, mode: int = 0o755) -> list[tuple[str, Severity]]:
        path = _need(built, name)
        info = _info(path, mode=mode | 0o100000)
        assert analyzer.required(info.path, info)
        result = analyzer.analyze(info.path, info, _Sequential(path.read_bytes()))  # type: ignore[arg-type]
        return [(f.id, f.severity) for f in result.findings] if result else []

    assert run("full") == []
    assert run("libgreet.so") == []
    assert run("partial") == []  # partial RELRO is RELRO
    # an executable stack in an executable: MEDIUM; setuid makes it HIGH
    assert run("none") == [("HS-BIN-001", Severity.MEDIUM)]
    assert run("none", 0o4755) == [("HS-BIN-001", Severity.HIGH)]
    assert run("none", 0o2755) == [("HS-BIN-001", Severity.HIGH)]
    assert run("rpath") == [("HS-BIN-002", Severity.MEDIUM)]  # PIE by default on Debian
    assert run("runpath") == [("HS-BIN-002", Severity.MEDIUM)]
    if "static" in built:
        assert run("static") == [("HS-BIN-001", Severity.LOW)]  # no PIE


@needs_gcc
def test_finding_shape(built: dict[str, Path]) -> None:
    path = _need(built, "none")
    info = inspect_path(path, mode=0o104755)
    assert info is not None
    (finding,) = findings_for(info, "usr/bin/none")
    assert finding.kind == "binary"
    assert finding.title == "Binary lacks hardening"
    assert finding.path == "usr/bin/none"
    assert finding.details["missing"] == ["PIE", "NX", "RELRO", "Canary", "FORTIFY"]
    assert finding.details["setuid"] is True and finding.details["format"] == "ELF"
    assert "setuid" in finding.evidence
    json.dumps(finding.to_dict())  # cacheable as JSON
    assert finding.remediation == HARDENING_CHECKS["HS-BIN-001"].remediation


def test_debian_binaries() -> None:
    ls = inspect_path("/bin/ls")
    assert ls is not None and ls.type == "pie" and ls.nx and ls.relro != "none"
    assert ls.canary and ls.fortify and ls.stripped and not ls.static
    passwd = Path("/usr/bin/passwd")
    if not passwd.exists():
        pytest.skip("/usr/bin/passwd is not installed")
    info = inspect_path(passwd)
    assert info is not None and info.pie and info.nx
    assert info.setuid == bool(passwd.stat().st_mode & 0o4000)
    assert [f for f in findings_for(info) if f.severity >= Severity.MEDIUM] == []


# --- recognising binaries ----------------------------------------------------------------


def test_required() -> None:
    a = HardeningAnalyzer()

    def req(path: str, mode: int, size: int = 4096) -> bool:
        return a.required(path, FileInfo(path, FileType.REG, size, mode))

    assert req("usr/bin/tool", 0o755)
    assert req("usr/lib/libz.so.1", 0o644) and req("usr/lib/libz.so.1.2.13", 0o644)
    assert req("usr/lib/libz.so", 0o644)
    assert req("app/Tool.EXE", 0o644) and req("app/x.dll", 0o644) and req("drv/x.sys", 0o644)
    assert not req("usr/share/doc/README", 0o644)
    assert not req("usr/lib/libz.so.1.txt", 0o644)
    assert not req("usr/bin/tiny", 0o755, size=64)
    assert not a.required("usr/bin/dir", FileInfo("usr/bin/dir", FileType.DIR, 4096, 0o755))


def test_non_binaries_are_ignored() -> None:
    a = HardeningAnalyzer()
    script = b"#!/bin/sh\necho hello\n" * 10
    info = FileInfo("usr/bin/hello", FileType.REG, len(script), 0o100755)
    result = a.analyze(info.path, info, io.BytesIO(script))
    # no findings: only counted in the image's census of executables
    assert result is not None and not result.findings
    assert result.facts == {"kind": "script:sh"}
    macho = b"\xcf\xfa\xed\xfe" + b"\0" * 200
    result = a.analyze(info.path, info, io.BytesIO(macho))
    assert result is not None and result.facts == {"kind": "macho"}
    # MZ without a PE header (a DOS program, or text that starts with MZ)
    dos = b"MZ" + b"\0" * 200
    assert inspect_binary(io.BytesIO(dos), FileInfo("x.exe", FileType.REG, len(dos))) is None


def test_malformed_elf_is_an_input_error() -> None:
    data = b"\x7fELF" + b"\x02\x01\x01" + b"\xff" * 200
    with pytest.raises(AnalyzerInputError):
        inspect_binary(io.BytesIO(data), FileInfo("usr/bin/bad", FileType.REG, len(data), 0o755))


def test_unsafe_search_paths() -> None:
    assert unsafe_search_paths("") == []
    assert unsafe_search_paths("/usr/lib/foo:$ORIGIN/../lib:${ORIGIN}") == []
    assert unsafe_search_paths(".:lib::/tmp/x:/var/tmp:/dev/shm/y:/tmpfoo") == [
        ".",
        "lib",
        "(empty)",
        "/tmp/x",
        "/var/tmp",
        "/dev/shm/y",
    ]


# --- checksec ----------------------------------------------------------------------------


def _checksec(path: str) -> dict[str, str]:
    done = subprocess.run(
        [str(CHECKSEC), f"--file={path}", "--output=json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    doc = json.loads(done.stdout)
    return dict(doc[path])


def _as_checksec(b: BinaryInfo) -> dict[str, str]:
    def yn(v: object) -> str:
        return "yes" if v else "no"

    return {
        "relro": "no" if b.relro == "none" else b.relro,
        "canary": yn(b.canary),
        "nx": yn(b.nx),
        "pie": {"pie": "yes", "exec": "no"}.get(b.type, b.type),
        "rpath": yn(b.rpath),
        "runpath": yn(b.runpath),
        "symbols": yn(not b.stripped),
        "fortify_source": yn(b.fortify),
    }


def _system_elves(limit: int) -> list[str]:
    candidates = [
        p
        for p in sorted(glob.glob("/usr/bin/*"))
        + sorted(glob.glob("/usr/lib/x86_64-linux-gnu/*.so*"))
        if os.path.isfile(p) and not os.path.islink(p)
    ]
    elves = []
    for p in candidates:
        with open(p, "rb") as fh:
            if fh.read(4) == b"\x7fELF":
                elves.append(p)
    step = max(1, len(elves) // limit)  # an even sample across both directories
    return elves[::step][:limit]


@pytest.mark.skipif(CHECKSEC is None, reason="checksec is not installed (scripts/checksec.sh)")
def test_agrees_with_checksec(built: dict[str, Path]) -> None:
    files = [str(p) for p in built.values()] + ["/bin/ls", "/usr/bin/passwd"]
    files += _system_elves(MAX_SYSTEM_FILES)
    files = [f for f in dict.fromkeys(files) if os.path.exists(f)]
    with ThreadPoolExecutor(max_workers=min(16, (os.cpu_count() or 2) * 2)) as pool:
        references = list(pool.map(_checksec, files))
    disagreements = []
    for path, ref in zip(files, references, strict=True):
        info = inspect_path(path)
        assert info is not None, path
        for key, ours in _as_checksec(info).items():
            if ref.get(key) != ours and (Path(path).name, key) not in KNOWN_DIFFERENCES:
                disagreements.append(f"{path}: {key} hullscan={ours} checksec={ref.get(key)}")
    assert len(files) >= len(built) + 1
    assert disagreements == []


@needs_gcc
@pytest.mark.skipif(CHECKSEC is None, reason="checksec is not installed (scripts/checksec.sh)")
def test_known_differences_still_differ(built: dict[str, Path]) -> None:
    """Each KNOWN_DIFFERENCES entry still is one (drop it when checksec catches up)."""
    for name, key in KNOWN_DIFFERENCES:
        path = str(_need(built, name))
        info = inspect_path(path)
        assert info is not None
        assert _as_checksec(info)[key] != _checksec(path)[key], (name, key)


# --- PE ----------------------------------------------------------------------------------


def make_pe(dll_characteristics: int, *, signed: bool = False, dll: bool = False) -> bytes:
    """A minimal valid PE32+ image: one .text section holding ``ret``."""
    dos = bytearray(0x40)
    dos[0:2] = b"MZ"
    struct.pack_into("<I", dos, 0x3C, 0x40)
    coff = struct.pack("<HHIIIHH", 0x8664, 1, 0, 0, 0, 240, 0x0022 | (0x2000 if dll else 0))
    dirs = [(0, 0)] * 16
    file_size = 0x400
    if signed:
        dirs[4] = (file_size, 8)  # security directory: a file offset, past the sections
    optional = struct.pack(
        "<HBBIIIIIQIIHHHHHHIIIIHHQQQQII",
        0x20B,
        14,
        0,
        0x200,
        0,
        0,
        0x1000,
        0x1000,
        0x140000000,
        0x1000,
        0x200,
        6,
        0,
        0,
        0,
        6,
        0,
        0,
        0x2000,
        0x200,
        0,
        3,
        dll_characteristics,
        0x100000,
        0x1000,
        0x100000,
        0x1000,
        0,
        16,
    )
    optional += b"".join(struct.pack("<II", *d) for d in dirs)
    section = struct.pack("<8sIIIIIIHHI", b".text", 1, 0x1000, 0x200, 0x200, 0, 0, 0, 0, 0x60000020)
    headers = bytes(dos) + b"PE\0\0" + coff + optional + section
    image = headers.ljust(0x200, b"\0") + b"\xc3".ljust(0x200, b"\0")
    return image + (b"\0" * 8 if signed else b"")


def _pe(data: bytes, name: str = "app/tool.exe") -> BinaryInfo | None:
    return inspect_binary(
        _Sequential(data),  # type: ignore[arg-type]
        FileInfo(name, FileType.REG, len(data), 0o644),
    )


def test_minimal_pe_is_valid_for_pefile() -> None:
    import pefile  # type: ignore[import-untyped]

    pe = pefile.PE(data=make_pe(0x0160))
    assert pe.OPTIONAL_HEADER.DllCharacteristics == 0x0160
    assert pe.sections[0].Name.rstrip(b"\0") == b".text"


def test_pe_hardened() -> None:
    info = _pe(make_pe(0x0040 | 0x0020 | 0x0100 | 0x4000, signed=True))
    assert info is not None and info.format == "PE" and info.type == "exe"
    assert (info.aslr, info.high_entropy_va, info.dep, info.cfg) == (True, True, True, True)
    assert info.signed and info.safeseh is None and info.machine == "AMD64"
    assert findings_for(info) == []


@pytest.mark.parametrize(
    ("chars", "missing", "severity"),
    [
        (0x0100, ["ASLR"], Severity.LOW),
        (0x0040, ["DEP"], Severity.MEDIUM),
        (0x0000, ["ASLR", "DEP"], Severity.MEDIUM),
    ],
)
def test_pe_lacking_aslr_or_dep(chars: int, missing: list[str], severity: Severity) -> None:
    info = _pe(make_pe(chars, dll=True), "app/lib.dll")
    assert info is not None and info.type == "dll" and not info.signed
    (finding,) = findings_for(info, "app/lib.dll")
    assert (finding.id, finding.severity, finding.kind) == ("HS-BIN-003", severity, "binary")
    assert finding.details["missing"] == missing


def _pip_launchers() -> list[Path]:
    import pip

    return sorted((Path(pip.__file__).parent / "_vendor" / "distlib").glob("*.exe"))


@pytest.mark.parametrize("launcher", _pip_launchers(), ids=lambda p: p.name)
def test_real_pe_version_info(launcher: Path) -> None:
    """pip's vendored distlib launchers: real MSVC images with a VERSIONINFO resource."""
    info = inspect_path(launcher)
    assert info is not None and info.format == "PE"
    assert info.aslr and info.dep
    assert info.version_info.get("ProductName")
    assert info.version_info.get("FileVersion")
    if info.machine == "I386":
        assert info.safeseh is not None and info.high_entropy_va is None


def test_dynamic_string_table_nowhere_is_invalid_elf() -> None:
    """Found by fuzzing: a dynamic segment whose DT_STRTAB lies in no segment, in a file
    with no ``.dynstr`` section, trips an assertion inside pyelftools."""
    base = 0x400000
    dyn_at = 64 + 2 * 56
    dynamic = struct.pack("<qQqQ", 5, 0xDEAD0000, 0, 0)  # DT_STRTAB (unmapped), DT_NULL
    size = dyn_at + len(dynamic)
    header = (
        b"\x7fELF\x02\x01\x01"
        + bytes(9)
        + struct.pack("<HHIQQQIHHHHHH", 3, 62, 1, base, 64, 0, 0, 64, 56, 2, 64, 0, 0)
    )
    load = struct.pack("<IIQQQQQQ", 1, 5, 0, base, base, size, size, 0x1000)
    dyn = struct.pack(
        "<IIQQQQQQ", 2, 6, dyn_at, base + dyn_at, base + dyn_at, len(dynamic), len(dynamic), 8
    )
    data = header + load + dyn + dynamic
    info = FileInfo("usr/lib/libx.so.1", FileType.REG, len(data), 0o644)
    with pytest.raises(AnalyzerInputError, match="invalid ELF file"):
        HardeningAnalyzer().analyze(info.path, info, io.BytesIO(data))
