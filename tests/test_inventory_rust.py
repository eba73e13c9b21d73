from __future__ import annotations

import io
import json
import shutil
import struct
import subprocess
import zlib
from pathlib import Path
from typing import Any

import pytest
from elftools.elf.elffile import ELFFile

from hullscan.analyzer import AnalyzerInputError, AnalyzerResult
from hullscan.inventory import rust
from hullscan.inventory.rust import CargoAuditableAnalyzer
from hullscan.model import FileInfo, FileType
from hullscan.tempfiles import spool

# what cargo-auditable embeds for a small binary crate (auditable-serde's format:
# "kind" is omitted for runtime dependencies, "root" for non-root packages)
DEP_INFO: dict[str, Any] = {
    "packages": [
        {"name": "adler", "version": "1.0.2", "source": "crates.io"},
        {"name": "cc", "version": "1.0.83", "source": "crates.io", "kind": "build"},
        {"name": "miniz_oxide", "version": "0.7.1", "source": "crates.io", "dependencies": [0]},
        {
            "name": "hello-auditable",
            "version": "0.1.0",
            "source": "local",
            "dependencies": [1, 2],
            "root": True,
        },
    ]
}

C_PROGRAM = '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n'
C_LIBRARY = "int answer(void) { return 42; }\n"


@pytest.fixture(scope="module")
def toolchain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with ``plain`` (an executable) and ``libplain.so``, built by gcc."""
    if not shutil.which("gcc") or not shutil.which("objcopy"):
        pytest.skip("gcc and objcopy are needed to build ELF fixtures")
    d = tmp_path_factory.mktemp("elf")
    (d / "main.c").write_text(C_PROGRAM)
    (d / "lib.c").write_text(C_LIBRARY)
    subprocess.run(["gcc", "-O0", "-o", str(d / "plain"), str(d / "main.c")], check=True)
    subprocess.run(
        ["gcc", "-shared", "-fPIC", "-o", str(d / "libplain.so"), str(d / "lib.c")], check=True
    )
    return d


def with_section(
    toolchain: Path, section: bytes, base: str = "plain", name: str = ".dep-v0"
) -> bytes:
    """``base`` with an extra section holding ``section``, the way cargo-auditable's is."""
    payload = toolchain / "section.bin"
    payload.write_bytes(section)
    out = toolchain / f"{base}.with-section"
    subprocess.run(
        ["objcopy", "--add-section", f"{name}={payload}", str(toolchain / base), str(out)],
        check=True,
    )
    return out.read_bytes()


def compressed(doc: Any) -> bytes:
    return zlib.compress(json.dumps(doc).encode())


def run(
    data: bytes, path: str = "usr/local/bin/hello", mode: int = 0o755, shared: bool = False
) -> AnalyzerResult | None:
    """``shared``: the file comes as the spooled copy several analyzers share."""
    a = CargoAuditableAnalyzer()
    info = FileInfo(path, FileType.REG, size=len(data), mode=mode)
    assert a.required(path, info)
    if not shared:
        return a.analyze(path, info, io.BytesIO(data))
    with spool(io.BytesIO(data), len(data)) as f:
        result = a.analyze(path, info, f)
        f.seek(0)
        assert f.read() == data  # the next analyzer still reads it whole
    return result


def test_a_shared_spooled_copy_is_searched_not_copied(
    toolchain: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_second_copy(*_args: Any, **_kw: Any) -> Any:
        raise AssertionError("spooled again")

    monkeypatch.setattr(rust, "spool", no_second_copy)
    result = run(with_section(toolchain, compressed(DEP_INFO)), shared=True)
    assert result is not None and [p.name for p in result.packages] == [
        "adler",
        "miniz_oxide",
        "hello-auditable",
    ]
    assert run((toolchain / "plain").read_bytes(), shared=True) is None
    marker_only = with_section(toolchain, b"mentions .dep-v0\0 in passing", name=".comment2")
    assert run(marker_only, shared=True) is None
    with pytest.raises(AnalyzerInputError, match="invalid ELF"):
        run(b"\x7fELF\x09\x01\x01" + b".dep-v0\0" + b"\0" * 100, shared=True)


def test_required() -> None:
    a = CargoAuditableAnalyzer()
    exe = FileInfo("x", FileType.REG, size=10_000, mode=0o755)
    plain = FileInfo("x", FileType.REG, size=10_000, mode=0o644)
    assert a.required("usr/bin/rg", exe)
    assert a.required("usr/lib/x86_64-linux-gnu/libfoo.so", plain)
    assert a.required("usr/lib/libfoo.so.1.2.3", plain)
    assert not a.required("usr/lib/libfoo.so.conf", plain)
    assert not a.required("etc/hosts", plain)
    assert not a.required("usr/bin/tiny", FileInfo("x", FileType.REG, size=10, mode=0o755))
    assert not a.required(
        "usr/bin/huge",
        FileInfo("x", FileType.REG, mode=0o755, size=CargoAuditableAnalyzer.max_size + 1),
    )
    assert not a.required(
        "usr/bin/link", FileInfo("x", FileType.SYMLINK, mode=0o777, linkname="rg")
    )


def test_cargo_auditable_executable(toolchain: Path) -> None:
    result = run(with_section(toolchain, compressed(DEP_INFO)))
    assert result is not None
    assert [(p.name, p.version, p.purl) for p in result.packages] == [
        ("adler", "1.0.2", "pkg:cargo/adler@1.0.2"),
        ("miniz_oxide", "0.7.1", "pkg:cargo/miniz_oxide@0.7.1"),
        ("hello-auditable", "0.1.0", "pkg:cargo/hello-auditable@0.1.0"),
    ]
    assert [p.metadata for p in result.packages] == [
        {"source": "crates.io"},
        {"source": "crates.io"},
        {"source": "local", "root": True},
    ]
    assert all(
        p.type == "cargo" and p.found_by == "rust-cargo-auditable" and p.locations == ()
        for p in result.packages
    )
    assert result.warnings == []


def test_cargo_auditable_shared_object(toolchain: Path) -> None:
    data = with_section(toolchain, compressed(DEP_INFO), base="libplain.so")
    result = run(data, path="usr/lib/libhello.so.1", mode=0o644)
    assert result is not None and len(result.packages) == 3


def test_plain_elf_has_no_packages(toolchain: Path) -> None:
    assert run((toolchain / "plain").read_bytes()) is None
    assert run((toolchain / "libplain.so").read_bytes(), path="usr/lib/libplain.so") is None


def test_other_sections_are_not_taken_for_it(toolchain: Path) -> None:
    data = with_section(toolchain, compressed(DEP_INFO), name=".dep-v1")
    assert run(data) is None


def test_section_name_in_data_but_no_section(toolchain: Path) -> None:
    # the marker passes the cheap scan, then pyelftools finds no such section
    data = with_section(toolchain, b"mentions .dep-v0\0 in passing", name=".comment2")
    assert run(data) is None


def test_not_elf() -> None:
    assert run(b"#!/bin/sh\necho hello, this is a shell script, not an ELF file\n") is None
    assert run(b"\x7fEL" + b"\0" * 100) is None


def test_wrongly_typed_entries_are_skipped(toolchain: Path) -> None:
    doc = {
        "packages": [
            {"name": "adler", "version": 1.0},
            {"name": "memchr", "version": "2.6.4", "source": "crates.io", "root": "yes"},
            "serde",
            {"name": "serde", "version": "1.0.190", "source": "crates.io"},
        ]
    }
    result = run(with_section(toolchain, compressed(doc)))
    assert result is not None
    assert [p.name for p in result.packages] == ["serde"]
    assert len(result.warnings) == 3


def test_only_build_dependencies(toolchain: Path) -> None:
    doc = {
        "packages": [{"name": "cc", "version": "1.0.83", "source": "crates.io", "kind": "build"}]
    }
    assert run(with_section(toolchain, compressed(doc))) is None


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (b"not zlib at all", "invalid zlib"),
        (zlib.compress(b'{"packages": [')[:-6], "truncated zlib"),
        (zlib.compress(b"{not json"), "invalid JSON"),
        (zlib.compress(b"\xff\xfe\x00"), "invalid JSON"),
        (zlib.compress(b"[" * 100_000), "invalid JSON"),
        (compressed({"packages": {"adler": "1.0.2"}}), "no packages list"),
        (compressed(["adler"]), "no packages list"),
        (compressed({}), "no packages list"),
        # a decompression bomb: 9 MiB of spaces around an empty object
        (zlib.compress(b" " * (9 * 1024 * 1024) + b"{}", 9), "larger than"),
    ],
)
def test_malformed_section(toolchain: Path, section: bytes, message: str) -> None:
    with pytest.raises(AnalyzerInputError, match=message):
        run(with_section(toolchain, section))


def test_truncated_file(toolchain: Path) -> None:
    data = with_section(toolchain, compressed(DEP_INFO))
    marker = data.index(b".dep-v0\0")
    # keep the section-header string table, lose the section header table after it
    with pytest.raises(AnalyzerInputError):
        run(data[: marker + 200])


def test_section_past_end_of_file(toolchain: Path) -> None:
    data = bytearray(with_section(toolchain, compressed(DEP_INFO)))
    elf = ELFFile(io.BytesIO(bytes(data)))
    index = elf.get_section_index(".dep-v0")
    assert index is not None and elf.elfclass == 64 and elf.little_endian
    # point the section's sh_offset (at byte 24 of an Elf64_Shdr) past the end of the file
    header = elf["e_shoff"] + index * elf["e_shentsize"]
    struct.pack_into("<Q", data, header + 24, len(data) - 10)
    with pytest.raises(AnalyzerInputError, match="past the end"):
        run(bytes(data))


def test_oversized_section(toolchain: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rust, "MAX_JSON", 16)
    with pytest.raises(AnalyzerInputError, match="too large"):
        run(with_section(toolchain, compressed(DEP_INFO)))


def test_garbage_after_magic() -> None:
    data = b"\x7fELF" + b"\x02\x01\x01" + b".dep-v0\0" + b"\xff" * 200
    with pytest.raises(AnalyzerInputError, match="section header table"):
        run(data)
    with pytest.raises(AnalyzerInputError, match="invalid ELF"):
        run(b"\x7fELF\x09\x01\x01" + b".dep-v0\0" + b"\0" * 100)


def test_marker_search_across_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole-file search (for files whose headers do not hold together) finds the
    name wherever chunks split it."""
    payload = b"\x7fELF" + b"x" * 10 + b".dep-v0\0" + b"y" * 10
    for chunk in range(1, len(payload) + 1):
        monkeypatch.setattr(rust, "COPY_CHUNK", chunk)
        assert rust._contains(io.BytesIO(payload), b".dep-v0\0"), chunk
        assert not rust._contains(io.BytesIO(payload.replace(b"\0", b"!")), b".dep-v0\0")


def test_well_formed_files_are_decided_by_their_headers(
    toolchain: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the section-name table is read: no file is searched whole."""

    def no_search(*_args: Any) -> bool:
        raise AssertionError("searched whole")

    monkeypatch.setattr(rust, "_contains", no_search)
    for shared in (False, True):
        found = run(with_section(toolchain, compressed(DEP_INFO)), shared=shared)
        assert found is not None and len(found.packages) == 3
        found = run(
            with_section(toolchain, compressed(DEP_INFO), base="libplain.so"),
            path="usr/lib/libhello.so",
            mode=0o644,
            shared=shared,
        )
        assert found is not None and len(found.packages) == 3
        assert run((toolchain / "plain").read_bytes(), shared=shared) is None
        assert (
            run(
                with_section(toolchain, b"mentions .dep-v0\0 in passing", name=".comment2"),
                shared=shared,
            )
            is None
        )


def _elf32_big_endian(section: bytes) -> bytes:
    """A minimal 32-bit big-endian ELF file (as for MIPS or PowerPC) with one ``.dep-v0``
    section: header, section data, the name table, then the section header table."""
    names = b"\0.dep-v0\0.shstrtab\0"
    data_at = 52
    names_at = data_at + len(section)
    shoff = names_at + len(names)
    ident = b"\x7fELF\x01\x02\x01" + b"\0" * 9
    header = ident + struct.pack(">HHIIIIIHHHHHH", 2, 8, 1, 0, 0, shoff, 0, 52, 0, 0, 40, 3, 2)
    null = struct.pack(">IIIIIIIIII", *[0] * 10)
    dep = struct.pack(">IIIIIIIIII", 1, 1, 0, 0, data_at, len(section), 0, 0, 1, 0)
    shstrtab = struct.pack(">IIIIIIIIII", 9, 3, 0, 0, names_at, len(names), 0, 0, 1, 0)
    return header + section + names + null + dep + shstrtab


def test_a_32_bit_big_endian_file(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _elf32_big_endian(compressed(DEP_INFO))
    monkeypatch.setattr(rust, "_contains", lambda *_a: pytest.fail("searched whole"))
    found = run(data)
    assert found is not None and [p.name for p in found.packages] == [
        "adler",
        "miniz_oxide",
        "hello-auditable",
    ]


def test_headers_that_do_not_hold_together_fall_back_to_a_search() -> None:
    data = bytearray(_elf32_big_endian(compressed(DEP_INFO)))
    struct.pack_into(">H", data, 0x32, 7)  # e_shstrndx past the 3 sections
    # the name is found by the search, and pyelftools tells what is wrong
    with pytest.raises(AnalyzerInputError, match="invalid ELF"):
        run(bytes(data))
