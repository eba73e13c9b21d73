"""rpm databases in their three formats, read from real files made by rpm and Berkeley DB.

The fixtures under fixtures/rpm/ come from make_fixtures.sh (rpmbuild, rpm's sqlite
and ndb backends, db5.3_load); these tests only read them.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import sqlite3
import struct
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hullscan.analyzer import AnalyzerInputError, AnalyzerResult
from hullscan.inventory.rpm import (
    DATABASES,
    RpmAnalyzer,
    package_from_header,
    purl_namespace,
    split_source_rpm,
)
from hullscan.inventory.rpmdb import (
    RpmDbError,
    RpmHeader,
    iter_header_blobs_bdb,
    iter_header_blobs_ndb,
    iter_header_blobs_sqlite,
    parse_header,
)
from hullscan.model import FileInfo, FileType

FIXTURES = Path(__file__).parent / "fixtures" / "rpm"
# fixture file -> reader kind
KINDS = {
    "rpmdb.sqlite": "sqlite",
    "Packages": "bdb",  # little-endian, 512-byte pages: headers in overflow chains
    "Packages-be": "bdb",  # big-endian
    "Packages-8k": "bdb",  # 8 KiB pages with checksums: some headers inline
    "Packages.db": "ndb",
}

EXPECTED = {
    "hello-tools": RpmHeader(
        name="hello-tools",
        version="1.2.3",
        release="4.fc39",
        epoch=2,
        arch="noarch",
        source_rpm="hello-tools-1.2.3-4.fc39.src.rpm",
        license="MIT",
        vendor="Fedora Project",
        size=22,
        modularity_label="hello:1:20240101:abcdef",
        files=("/etc/hello-tools.conf", "/usr/bin/hello-tool", "/usr/share/doc/hello-tools/README"),
    ),
    "demo": RpmHeader(
        name="demo",
        version="0.9",
        release="1.el9",
        epoch=None,
        arch="noarch",
        source_rpm="demo-0.9-1.el9.src.rpm",
        license="BSD-3-Clause AND MIT",
        vendor="Red Hat, Inc.",
        size=5,
        files=("/usr/bin/demo",),
    ),
    "libdemo": RpmHeader(
        name="libdemo",
        version="0.9",
        release="1.el9",
        epoch=None,
        arch="noarch",
        source_rpm="demo-0.9-1.el9.src.rpm",
        license="BSD-3-Clause",
        vendor="Red Hat, Inc.",
        size=9,
        files=("/usr/lib/demo/libdemo.so.0", "/usr/share/demo", "/usr/share/demo/data.txt"),
    ),
}


def blobs_of(kind: str, data: bytes) -> list[bytes]:
    """Every header blob of a database given as bytes (sqlite goes through a real file)."""
    if kind == "bdb":
        return list(iter_header_blobs_bdb(io.BytesIO(data)))
    if kind == "ndb":
        return list(iter_header_blobs_ndb(io.BytesIO(data)))
    with tempfile.NamedTemporaryFile(suffix=".sqlite") as tmp:
        tmp.write(data)
        tmp.flush()
        return list(iter_header_blobs_sqlite(tmp.name))


def headers_of(kind: str, data: bytes) -> list[RpmHeader]:
    return [parse_header(b) for b in blobs_of(kind, data)]


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_fixtures_are_small() -> None:
    assert sum(p.stat().st_size for p in FIXTURES.iterdir()) < 300 * 1024


# ---------------------------------------------------------------- what each format holds


@pytest.mark.parametrize("name", list(KINDS))
def test_each_format_yields_the_installed_packages(name: str) -> None:
    headers = headers_of(KINDS[name], fixture(name))
    by_name = {h.name: h for h in headers}
    assert len(by_name) == len(headers) == 4
    pubkey = by_name.pop("gpg-pubkey")
    assert pubkey.files == () and pubkey.arch == ""
    assert by_name == EXPECTED
    assert by_name["hello-tools"].evr == "2:1.2.3-4.fc39"
    assert by_name["libdemo"].evr == "0.9-1.el9"


def test_the_formats_agree() -> None:
    found = {
        name: sorted(headers_of(kind, fixture(name)), key=lambda h: h.name)
        for name, kind in KINDS.items()
    }
    first = found.pop("rpmdb.sqlite")
    for name, headers in found.items():
        assert headers == first, name


def test_sqlite_fixture_is_in_wal_mode_as_rpm_leaves_it() -> None:
    # file format bytes 18/19 == 2: WAL; immutable=1 must still read it without a -wal file
    assert fixture("rpmdb.sqlite")[18:20] == b"\x02\x02"
    assert not list(FIXTURES.glob("*-wal")) and not list(FIXTURES.glob("*-shm"))


def test_sqlite_path_with_uri_characters(tmp_path: Path) -> None:
    d = tmp_path / "a b?c#d%"
    d.mkdir()
    shutil.copy(FIXTURES / "rpmdb.sqlite", d / "rpmdb.sqlite")
    assert len(list(iter_header_blobs_sqlite(d / "rpmdb.sqlite"))) == 4


# ------------------------------------------------------------------- the header parser


def a_blob() -> bytes:
    return blobs_of("ndb", fixture("Packages.db"))[1]


def test_header_with_its_magic_in_front() -> None:
    blob = a_blob()
    assert parse_header(b"\x8e\xad\xe8\x01\x00\x00\x00\x00" + blob) == parse_header(blob)


def test_header_cut_anywhere_is_an_rpmdb_error() -> None:
    blob = a_blob()
    for cut in range(len(blob)):
        with pytest.raises(RpmDbError):
            parse_header(blob[:cut])


@pytest.mark.parametrize(
    ("il", "dl"), [(0, 10), (0x10000, 10), (1, 0x7FFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF)]
)
def test_header_absurd_sizes(il: int, dl: int) -> None:
    with pytest.raises(RpmDbError):
        parse_header(struct.pack(">II", il, dl) + bytes(64))


def _one_entry_header(tag: int, typ: int, offset: int, count: int, data: bytes) -> bytes:
    return struct.pack(">IIiiiI", 1, len(data), tag, typ, offset, count) + data


@pytest.mark.parametrize(
    ("typ", "offset", "count", "data"),
    [
        (6, 0, 1, b"demo"),  # unterminated string
        (6, 4, 1, b"dem\x00"),  # offset past the data
        (6, -1, 1, b"demo\x00"),  # negative offset
        (6, 0, 2, b"a\x00b\x00"),  # a STRING with count 2
        (8, 0, 0xFFFFFFFF, b"a\x00"),  # more strings than bytes
        (4, 0, 1, b"\x00\x00\x00\x01"),  # NAME as an integer
    ],
)
def test_header_bad_entries(typ: int, offset: int, count: int, data: bytes) -> None:
    with pytest.raises(RpmDbError):
        parse_header(_one_entry_header(1000, typ, offset, count, data))


def test_header_file_list_must_be_consistent() -> None:
    data = b"n\x00" + b"\x00\x00" + struct.pack(">i", 5) + b"/d/\x00" + b"f\x00"
    index = [(1000, 6, 0, 1), (1116, 4, 4, 1), (1118, 8, 8, 1), (1117, 8, 12, 1)]
    blob = struct.pack(">II", len(index), len(data))
    blob += b"".join(struct.pack(">iIiI", *e) for e in index) + data
    with pytest.raises(RpmDbError, match="directory index 5"):
        parse_header(blob)


@settings(max_examples=300, deadline=1000)
@given(st.binary(max_size=600))
def test_header_random_bytes(data: bytes) -> None:
    with contextlib.suppress(RpmDbError):
        parse_header(data)


@settings(max_examples=300, deadline=1000)
@given(st.lists(st.tuples(st.integers(0, 4000), st.integers(0, 255)), min_size=1, max_size=8))
def test_header_random_corruption(edits: list[tuple[int, int]]) -> None:
    blob = bytearray(a_blob())
    for off, value in edits:
        blob[off % len(blob)] = value
    with contextlib.suppress(RpmDbError):
        parse_header(bytes(blob))


# ------------------------------------------------------------ malformed container files


def outcome(kind: str, data: bytes) -> str:
    """ "ok" or "error"; anything but RpmDbError propagates and fails the test. Must be quick."""
    start = time.monotonic()
    try:
        headers_of(kind, data)
        result = "ok"
    except RpmDbError:
        result = "error"
    assert time.monotonic() - start < 2
    return result


@pytest.mark.parametrize("name", list(KINDS))
def test_truncated_databases(name: str) -> None:
    data = fixture(name)
    cuts = sorted(
        {
            0,
            1,
            15,
            16,
            100,
            511,
            512,
            4095,
            4096,
            4097,
            *range(0, len(data), max(1, len(data) // 40)),
            len(data) - 1,
        }
    )
    for cut in cuts:
        if cut >= len(data):
            continue
        result = outcome(KINDS[name], data[:cut])
        if KINDS[name] != "sqlite":  # sqlite may read a cut file up to where it needs no more
            assert result == "error", cut


@pytest.mark.parametrize("kind", ["bdb", "ndb", "sqlite"])
@pytest.mark.parametrize(
    "data", [b"", b"\x00" * 8192, b"garbage" * 2000, b"SQLite format 3\x00" + bytes(84)]
)
def test_garbage_files(kind: str, data: bytes) -> None:
    assert outcome(kind, data) == "error"


@pytest.mark.parametrize("name", list(KINDS))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    edits=st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), min_size=1, max_size=6)
)
def test_randomly_corrupted_databases(name: str, edits: list[tuple[int, int]]) -> None:
    data = bytearray(fixture(name))
    for off, value in edits:
        data[off % len(data)] = value
    outcome(KINDS[name], bytes(data))


@pytest.mark.parametrize("kind", ["bdb", "ndb"])
@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=0, max_size=9000))
def test_random_files_with_a_valid_magic(kind: str, tail: bytes) -> None:
    if kind == "ndb":
        # magic, version 0, generation, one slot page: random slots follow
        data = b"RpmP" + struct.pack("<III", 0, 1, 1) + bytes(16) + tail
    else:
        # a hash metadata page for 512-byte pages, random pages follow
        meta = bytearray(512)
        struct.pack_into("<IIII", meta, 12, 0x061561, 9, 512, 0)
        meta[25] = 8
        struct.pack_into("<I", meta, 32, len(tail) // 512)
        data = bytes(meta) + tail
    assert outcome(kind, data) in ("ok", "error")


# Berkeley DB structures, to aim corruptions at the overflow chains


def bdb_pages(data: bytes) -> tuple[int, list[tuple[int, int]]]:
    """Page size and (page number, page type) of a little-endian fixture."""
    pagesize, last = struct.unpack_from("<I", data, 20)[0], struct.unpack_from("<I", data, 32)[0]
    return pagesize, [(p, data[p * pagesize + 25]) for p in range(last + 1)]


def edit_bdb(mutate: Callable[[bytearray, int, list[tuple[int, int]]], None]) -> bytes:
    data = bytearray(fixture("Packages"))
    pagesize, pages = bdb_pages(bytes(data))
    mutate(data, pagesize, pages)
    return bytes(data)


def offpage_items(
    data: bytes | bytearray, pagesize: int, pages: list[tuple[int, int]]
) -> list[int]:
    """File offsets of the H_OFFPAGE items on the hash pages."""
    out = []
    for pgno, ptype in pages:
        if ptype != 13:
            continue
        base = pgno * pagesize
        (n,) = struct.unpack_from("<H", data, base + 20)
        for i in struct.unpack_from(f"<{n}H", data, base + 26):
            if data[base + i] == 3:
                out.append(base + i)
    return out


def test_bdb_cyclic_overflow_chain() -> None:
    def cycle(data: bytearray, pagesize: int, pages: list[tuple[int, int]]) -> None:
        for pgno, ptype in pages:
            nxt = struct.unpack_from("<I", data, pgno * pagesize + 16)[0]
            if ptype == 7 and nxt:
                struct.pack_into("<I", data, pgno * pagesize + 16, pgno)  # points to itself
                return
        raise AssertionError("no multi-page overflow chain in the fixture")

    with pytest.raises(RpmDbError, match="reached twice"):
        headers_of("bdb", edit_bdb(cycle))


def test_bdb_two_items_sharing_one_chain() -> None:
    def share(data: bytearray, pagesize: int, pages: list[tuple[int, int]]) -> None:
        first, second = offpage_items(data, pagesize, pages)[:2]
        data[second : second + 12] = data[first : first + 12]

    with pytest.raises(RpmDbError, match="reached twice"):
        headers_of("bdb", edit_bdb(share))


@pytest.mark.parametrize(
    ("pgno", "length", "message"),
    [
        (0, None, "invalid page 0"),  # the metadata page
        (0xFFFFFFFF, None, "invalid page"),  # past the file
        (None, 0xFFFFFFFF, "larger than the database"),
        (None, 1 << 20, "larger than the database"),
    ],
)
def test_bdb_bad_offpage_items(pgno: int | None, length: int | None, message: str) -> None:
    def bad(data: bytearray, pagesize: int, pages: list[tuple[int, int]]) -> None:
        item = offpage_items(data, pagesize, pages)[0]
        if pgno is not None:
            struct.pack_into("<I", data, item + 4, pgno)
        if length is not None:
            struct.pack_into("<I", data, item + 8, length)

    with pytest.raises(RpmDbError, match=message):
        headers_of("bdb", edit_bdb(bad))


@pytest.mark.parametrize(
    ("offset", "value", "message"),
    [
        (12, struct.pack("<I", 0x053162), "btree"),
        (16, struct.pack("<I", 5), "version"),
        (20, struct.pack("<I", 1000), "page size"),
        (24, b"\x01", "encrypted"),
        (32, struct.pack("<I", 0xFFFFFFFF), "truncated"),
    ],
)
def test_bdb_bad_metadata(offset: int, value: bytes, message: str) -> None:
    data = bytearray(fixture("Packages"))
    data[offset : offset + len(value)] = value
    with pytest.raises(RpmDbError, match=message):
        headers_of("bdb", bytes(data))


# ndb structures


def ndb_slots(data: bytes) -> list[int]:
    """File offsets of the used slots."""
    return [
        o
        for o in range(32, 4096, 16)
        if data[o : o + 4] == b"Slot" and struct.unpack_from("<I", data, o + 8)[0]
    ]


def test_ndb_checksum_is_verified() -> None:
    data = bytearray(fixture("Packages.db"))
    blkoff = struct.unpack_from("<I", data, ndb_slots(bytes(data))[0] + 8)[0]
    data[blkoff * 16 + 40] ^= 0xFF
    with pytest.raises(RpmDbError, match="checksum"):
        headers_of("ndb", bytes(data))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (8, 1, "outside"),  # blkoff inside the slot pages
        (8, 0x7FFFFFFF, "outside"),  # blkoff past the file
        (12, 0xFFFFFFFF, "outside"),  # blkcnt past the file
        (12, 3, "does not match"),  # blkcnt shorter than the blob
        (12, 1, "too short"),  # blkcnt shorter than head and tail
        (4, 99, "bad ndb blob header"),  # pkgidx not the blob's
    ],
)
def test_ndb_bad_slots(field: int, value: int, message: str) -> None:
    data = bytearray(fixture("Packages.db"))
    struct.pack_into("<I", data, ndb_slots(bytes(data))[0] + field, value)
    with pytest.raises(RpmDbError, match=message):
        headers_of("ndb", bytes(data))


def test_ndb_slots_may_not_overlap_without_bound() -> None:
    data = bytearray(fixture("Packages.db"))
    used = ndb_slots(bytes(data))
    # every free slot points at the first blob: more blocks than the file holds
    for o in range(32 + 16 * len(used) + 16, 4096, 16):
        data[o + 4 : o + 16] = data[used[0] + 4 : used[0] + 16]
    with pytest.raises(RpmDbError, match="overlap"):
        headers_of("ndb", bytes(data))


@pytest.mark.parametrize(
    ("offset", "value", "message"),
    [
        (0, b"RpmX", "not an rpm ndb"),
        (4, struct.pack("<I", 1), "version"),
        (12, struct.pack("<I", 0), "slot pages"),
        (12, struct.pack("<I", 1000), "slot pages"),
        (32, b"Slox", "slot magic"),
    ],
)
def test_ndb_bad_header(offset: int, value: bytes, message: str) -> None:
    data = bytearray(fixture("Packages.db"))
    data[offset : offset + len(value)] = value
    with pytest.raises(RpmDbError, match=message):
        headers_of("ndb", bytes(data))


# sqlite structures (files made with sqlite itself)


def make_sqlite(path: Path, ddl: str, rows: list[tuple[object, object]] | None = None) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(ddl)
    if rows:
        conn.executemany("INSERT INTO Packages VALUES (?, ?)", rows)
    conn.commit()
    conn.close()


@pytest.mark.parametrize(
    ("ddl", "rows", "message"),
    [
        ("CREATE TABLE Other (hnum INTEGER, blob BLOB);", [], "no Packages table"),
        (
            "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, blob BLOB);",
            [(1, "text")],
            "not a blob",
        ),
        ("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, nope BLOB);", [], "unreadable"),
    ],
)
def test_sqlite_bad_schema(
    tmp_path: Path, ddl: str, rows: list[tuple[object, object]], message: str
) -> None:
    db = tmp_path / "rpmdb.sqlite"
    make_sqlite(db, ddl, rows)
    with pytest.raises(RpmDbError, match=message):
        list(iter_header_blobs_sqlite(db))


def test_sqlite_packages_as_an_endless_view(tmp_path: Path) -> None:
    db = tmp_path / "rpmdb.sqlite"
    make_sqlite(
        db,
        "CREATE VIEW Packages AS WITH RECURSIVE c(hnum, blob) AS "
        "(SELECT 1, x'00' UNION ALL SELECT hnum + 1, blob FROM c) SELECT * FROM c;",
    )
    with pytest.raises(RpmDbError, match="no Packages table"):
        list(iter_header_blobs_sqlite(db))


def test_sqlite_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RpmDbError):
        list(iter_header_blobs_sqlite(tmp_path / "nope.sqlite"))


# ------------------------------------------------------------------------- the analyzer

REG = FileInfo("x", FileType.REG, 100)


@pytest.mark.parametrize(
    "path",
    [
        "var/lib/rpm/Packages",
        "var/lib/rpm/Packages.db",
        "var/lib/rpm/rpmdb.sqlite",
        "usr/lib/sysimage/rpm/Packages",
        "usr/lib/sysimage/rpm/Packages.db",
        "usr/lib/sysimage/rpm/rpmdb.sqlite",
    ],
)
def test_required_paths(path: str) -> None:
    assert RpmAnalyzer().required(path, REG)
    assert not RpmAnalyzer().required(path, FileInfo(path, FileType.SYMLINK, linkname="x"))


@pytest.mark.parametrize(
    "path",
    [
        "/var/lib/rpm/Packages",
        "var/lib/rpm/Name",
        "var/lib/rpm/Packages.bak",
        "var/lib/rpm/rpmdb.sqlite-wal",
        "var/lib/rpm/Index.db",
        "usr/share/rpm/Packages",
        "opt/var/lib/rpm/Packages",
        "var/lib/rpm",
        "var/lib/dpkg/status",
    ],
)
def test_not_required_paths(path: str) -> None:
    assert not RpmAnalyzer().required(path, REG)


ANALYZER_PATHS = {
    "rpmdb.sqlite": "usr/lib/sysimage/rpm/rpmdb.sqlite",
    "Packages": "var/lib/rpm/Packages",
    "Packages-be": "var/lib/rpm/Packages",
    "Packages-8k": "var/lib/rpm/Packages",
    "Packages.db": "usr/lib/sysimage/rpm/Packages.db",
}


def analyze(path: str, data: bytes) -> AnalyzerResult | None:
    info = FileInfo(path, FileType.REG, len(data))
    return RpmAnalyzer().analyze(path, info, io.BytesIO(data))


@pytest.mark.parametrize("name", list(ANALYZER_PATHS))
def test_analyzer_packages(name: str) -> None:
    assert ANALYZER_PATHS[name] in DATABASES
    result = analyze(ANALYZER_PATHS[name], fixture(name))
    assert result is not None and not result.warnings
    pkgs = {p.name: p for p in result.packages}
    assert set(pkgs) == {"hello-tools", "demo", "libdemo"}  # no gpg-pubkey

    hello = pkgs["hello-tools"]
    assert (hello.type, hello.version, hello.arch) == ("rpm", "2:1.2.3-4.fc39", "noarch")
    assert hello.purl == "pkg:rpm/fedora/hello-tools@1.2.3-4.fc39?arch=noarch&epoch=2"
    assert (hello.source_name, hello.source_version) == ("hello-tools", "2:1.2.3-4.fc39")
    assert tuple(x.value for x in hello.licenses) == ("MIT",)
    assert hello.metadata == {
        "epoch": 2,
        "release": "4.fc39",
        "vendor": "Fedora Project",
        "modularitylabel": "hello:1:20240101:abcdef",
    }
    assert hello.found_by == "rpm" and hello.locations == ()

    lib = pkgs["libdemo"]
    assert lib.version == "0.9-1.el9"
    assert lib.purl == "pkg:rpm/redhat/libdemo@0.9-1.el9?arch=noarch"
    assert (lib.source_name, lib.source_version) == ("demo", "0.9-1.el9")
    assert tuple(x.value for x in lib.licenses) == ("BSD-3-Clause",)
    assert lib.metadata == {"release": "1.el9", "vendor": "Red Hat, Inc."}

    assert result.owned_files == {
        "hello-tools": [
            "etc/hello-tools.conf",
            "usr/bin/hello-tool",
            "usr/share/doc/hello-tools/README",
        ],
        "demo": ["usr/bin/demo"],
        "libdemo": ["usr/lib/demo/libdemo.so.0", "usr/share/demo", "usr/share/demo/data.txt"],
    }


@pytest.mark.parametrize("path", sorted(DATABASES))
def test_analyzer_empty_file(path: str) -> None:
    assert analyze(path, b"") is None


@pytest.mark.parametrize("path", sorted(DATABASES))
def test_analyzer_garbage(path: str) -> None:
    with pytest.raises(AnalyzerInputError, match="malformed rpm database"):
        analyze(path, b"\x07garbage" * 700)


@pytest.mark.parametrize("name", list(ANALYZER_PATHS))
def test_analyzer_truncated(name: str) -> None:
    data = fixture(name)
    with pytest.raises(AnalyzerInputError):
        analyze(ANALYZER_PATHS[name], data[: len(data) // 3])


def test_analyzer_keeps_the_readable_headers(tmp_path: Path) -> None:
    db = tmp_path / "rpmdb.sqlite"
    shutil.copy(FIXTURES / "rpmdb.sqlite", db)
    conn = sqlite3.connect(db)
    conn.execute(
        "UPDATE Packages SET blob = x'0000000100000000' WHERE hnum = "
        "(SELECT MAX(hnum) FROM Packages)"
    )
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    result = analyze("var/lib/rpm/rpmdb.sqlite", db.read_bytes())
    assert result is not None
    assert len(result.packages) == 2
    assert result.warnings == [
        "skipped 1 malformed rpm header(s): rpm header: 1 entries and "
        "0 data bytes do not fit in 8 bytes"
    ]


def test_analyzer_all_headers_broken(tmp_path: Path) -> None:
    db = tmp_path / "rpmdb.sqlite"
    make_sqlite(
        db,
        "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, blob BLOB);",
        [(1, b"\x00"), (2, b"\x01\x02")],
    )
    with pytest.raises(AnalyzerInputError, match="no readable header"):
        analyze("var/lib/rpm/rpmdb.sqlite", db.read_bytes())


# -------------------------------------------------------------- version and purl helpers


@pytest.mark.parametrize(
    ("srpm", "expected"),
    [
        ("openssl-3.0.7-27.el9.src.rpm", ("openssl", "3.0.7-27.el9")),
        ("python3.11-3.11.5-1.el9_3.src.rpm", ("python3.11", "3.11.5-1.el9_3")),
        (
            "kernel-rt-5.14.0-362.8.1.rt14.293.el9_3.nosrc.rpm",
            ("kernel-rt", "5.14.0-362.8.1.rt14.293.el9_3"),
        ),
        ("", None),
        ("openssl.src.rpm", None),
        ("openssl-3.0.7-27.el9.x86_64.rpm", None),
    ],
)
def test_split_source_rpm(srpm: str, expected: tuple[str, str] | None) -> None:
    assert split_source_rpm(srpm) == expected


@pytest.mark.parametrize(
    ("vendor", "namespace"),
    [
        ("Red Hat, Inc.", "redhat"),
        ("CentOS", "centos"),
        ("Fedora Project", "fedora"),
        ("openSUSE", "opensuse"),
        ("SUSE LLC <https://www.suse.com/>", "suse"),
        ("Amazon Linux", "amazon"),
        ("Rocky Enterprise Software Foundation", "rocky"),
        ("AlmaLinux", "almalinux"),
        ("Oracle America", "oracle"),
        ("", "rpm"),
        ("Acme", "rpm"),
    ],
)
def test_purl_namespace(vendor: str, namespace: str) -> None:
    assert purl_namespace(vendor) == namespace


def test_package_without_source_rpm_or_release() -> None:
    h = RpmHeader(
        name="odd",
        version="1.0",
        release="",
        epoch=0,
        arch="x86_64",
        source_rpm="",
        license="",
        vendor="",
    )
    p = package_from_header(h)
    assert p.version == "0:1.0"
    assert (p.source_name, p.source_version) == ("odd", "0:1.0")
    assert p.purl == "pkg:rpm/rpm/odd@1.0?arch=x86_64&epoch=0"
    assert tuple(x.value for x in p.licenses) == () and p.metadata == {"epoch": 0}
