"""Readers for rpm's package databases, and for the rpm header blobs they hold.

rpm has stored its installed-package headers in three containers over time:

* ``Packages``: a Berkeley DB hash (RHEL/CentOS <= 8, Amazon Linux 2, old SUSE);
* ``Packages.db``: rpm's own "ndb" format (SUSE since 15 SP3 / Tumbleweed);
* ``rpmdb.sqlite``: an SQLite database (Fedora 33+, RHEL 9, Amazon Linux 2023).

Each container yields opaque header blobs; ``parse_header`` decodes one. No
library reads these formats in Python, so this is hand-written after rpm's own
readers (lib/header.c, lib/backend/bdb_ro.c, lib/backend/ndb/rpmpkg.c).

Everything read from the file is untrusted: every count, offset, page number and
length is checked against the file and against the structure it claims to be
in, overflow chains may not revisit a page, and a malformed or truncated
database raises ``RpmDbError`` rather than an IndexError, a struct.error, a huge
allocation or an endless loop.
"""

from __future__ import annotations

import os
import sqlite3
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO
from urllib.parse import quote


class RpmDbError(ValueError):
    """The rpm database or one of its headers is malformed or truncated."""


# rpm refuses headers above 256 MiB (header.c, HEADER_DATA_MAX); so do we.
MAX_HEADER_SIZE = 256 * 1024 * 1024


def _file_size(f: IO[bytes]) -> int:
    try:
        size = f.seek(0, os.SEEK_END)
    except (OSError, ValueError) as e:
        raise RpmDbError(f"cannot seek in the database: {e}") from None
    return size


def _read_at(f: IO[bytes], offset: int, n: int, what: str) -> bytes:
    """Exactly ``n`` bytes at ``offset``, or RpmDbError naming ``what`` was cut short."""
    f.seek(offset)
    data = f.read(n)
    if len(data) != n:
        raise RpmDbError(f"truncated database: {what} at offset {offset} is cut short")
    return data


# --------------------------------------------------------------------------- sqlite

_SQLITE_MAGIC = b"SQLite format 3\x00"


def iter_header_blobs_sqlite(path: str | os.PathLike[str]) -> Iterator[bytes]:
    """The header blobs of an ``rpmdb.sqlite``, by package number.

    Only the main file is read: rpm checkpoints its write-ahead log on close, so a
    ``-wal`` file left beside it in an image is normally empty.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(100)
            size = fh.seek(0, os.SEEK_END)
    except OSError as e:
        raise RpmDbError(f"cannot read the sqlite database: {e}") from None
    if len(head) < 100 or not head.startswith(_SQLITE_MAGIC):
        raise RpmDbError("not an SQLite database")
    # immutable=1: read the file as it is in the image, without taking locks or
    # looking for (or creating) -wal/-shm files beside it.
    uri = f"file:{quote(os.path.abspath(path))}?mode=ro&immutable=1"
    try:
        conn = sqlite3.connect(uri, uri=True)
    except sqlite3.Error as e:
        raise RpmDbError(f"unreadable sqlite database: {e}") from None
    try:
        # A hostile schema could make "Packages" an expensive view; bound the work
        # (in units of 1000 SQLite VM steps) by the file size.
        budget = [1000 + size // 16]

        def _tick() -> int:
            budget[0] -= 1
            return 1 if budget[0] < 0 else 0

        conn.set_progress_handler(_tick, 1000)
        conn.text_factory = bytes  # a corrupted schema's text need not be UTF-8
        conn.execute("PRAGMA trusted_schema = OFF")
        row = conn.execute("SELECT type FROM sqlite_master WHERE name = 'Packages'").fetchone()
        if row is None or row[0] != b"table":
            raise RpmDbError("no Packages table in the sqlite database")
        query = "SELECT hnum, typeof(blob), blob FROM Packages ORDER BY hnum"
        for hnum, kind, blob in conn.execute(query):
            if kind != b"blob":
                raise RpmDbError(f"package {hnum!r}: header is not a blob")
            yield blob
    except (sqlite3.Error, UnicodeDecodeError) as e:
        # (sqlite's error messages quote the broken schema, not always valid UTF-8)
        if budget[0] < 0:
            raise RpmDbError("sqlite database: too much work for its size") from None
        raise RpmDbError(f"unreadable sqlite database: {e}") from None
    finally:
        conn.close()


# ------------------------------------------------------------------ Berkeley DB hash
# Layouts from Berkeley DB's dbinc/db_page.h.

_BDB_HASH_MAGIC = 0x061561
_BDB_OTHER_MAGICS = {0x053162: "btree", 0x042253: "queue", 0x074582: "heap"}
_PAGE_HEADER = 26  # SIZEOF_PAGE: lsn, pgno, prev, next, entries, hf_offset, level, type
_CHKSUM_BYTES = 6  # PG_CHKSUM (2 unused, 4 checksum bytes) after the page header
_DBMETA_CHKSUM = 0x01
_P_HASH_UNSORTED = 2  # hash pages before Berkeley DB 4.6 (e.g. CentOS 5)
_P_OVERFLOW = 7
_P_HASHMETA = 8
_P_HASH = 13
_H_KEYDATA = 1
_H_OFFPAGE = 3
_HOFFPAGE_SIZE = 12  # type, 3 unused bytes, pgno, total length


def iter_header_blobs_bdb(f: IO[bytes]) -> Iterator[bytes]:
    """The header blobs of a Berkeley DB hash ``Packages``, in page order.

    Both byte orders are read (the metadata magic tells which one wrote the file),
    with or without page checksums (not verified); encrypted databases are not.
    Keys are rpm's 4-byte package numbers; key 0 holds rpm's last-number counter
    and is skipped.
    """
    size = _file_size(f)
    meta = _read_at(f, 0, 512, "Berkeley DB metadata page")
    order = ""
    for candidate in ("<", ">"):
        magic = struct.unpack_from(candidate + "I", meta, 12)[0]
        if magic == _BDB_HASH_MAGIC:
            order = candidate
            break
        if magic in _BDB_OTHER_MAGICS:
            raise RpmDbError(f"Berkeley DB {_BDB_OTHER_MAGICS[magic]} database, not a hash")
    if not order:
        raise RpmDbError("not a Berkeley DB hash database")
    version, pagesize = struct.unpack_from(order + "II", meta, 16)
    encrypt_alg, page_type, metaflags = meta[24], meta[25], meta[26]
    (last_pgno,) = struct.unpack_from(order + "I", meta, 32)
    if not 8 <= version <= 10:  # db 4.x to 6.x; earlier layouts differ
        raise RpmDbError(f"unsupported Berkeley DB hash version {version}")
    if pagesize < 512 or pagesize > 65536 or pagesize & (pagesize - 1):
        raise RpmDbError(f"invalid Berkeley DB page size {pagesize}")
    if encrypt_alg:
        raise RpmDbError("encrypted Berkeley DB databases are not supported")
    if page_type != _P_HASHMETA:
        raise RpmDbError(f"unexpected Berkeley DB metadata page type {page_type}")
    npages = last_pgno + 1
    if npages * pagesize > size:
        raise RpmDbError(
            f"truncated database: {npages} pages of {pagesize} bytes do not fit in {size} bytes"
        )
    overhead = _PAGE_HEADER + (_CHKSUM_BYTES if metaflags & _DBMETA_CHKSUM else 0)
    db = _Bdb(f, order, pagesize, last_pgno, overhead)
    for pgno in range(1, npages):
        page = db.page(pgno)
        if page[25] in (_P_HASH, _P_HASH_UNSORTED):
            yield from db.hash_page_values(pgno, page)


class _Bdb:
    def __init__(
        self, f: IO[bytes], order: str, pagesize: int, last_pgno: int, overhead: int
    ) -> None:
        self.f = f
        self.order = order
        self.pagesize = pagesize
        self.last_pgno = last_pgno
        self.overhead = overhead
        # every overflow page belongs to exactly one item: a second visit is a cycle
        # or a shared chain, either of which would make the work unbounded
        self.visited: set[int] = set()

    def page(self, pgno: int) -> bytes:
        return _read_at(self.f, pgno * self.pagesize, self.pagesize, f"page {pgno}")

    def hash_page_values(self, pgno: int, page: bytes) -> Iterator[bytes]:
        (nent,) = struct.unpack_from(self.order + "H", page, 20)
        first_item = self.overhead + 2 * nent
        if first_item > self.pagesize:
            raise RpmDbError(f"page {pgno}: {nent} entries do not fit in a page")
        if nent % 2:
            raise RpmDbError(f"page {pgno}: odd number of hash entries ({nent})")
        inp = struct.unpack_from(f"{self.order}{nent}H", page, self.overhead)
        for i in inp:
            if not first_item <= i < self.pagesize:
                raise RpmDbError(f"page {pgno}: entry offset {i} outside the page")
        for k in range(0, nent, 2):
            # items are packed from the page end down, so each one ends where the
            # previous index entry's item starts (Berkeley DB's LEN_HITEM)
            key_end = self.pagesize if k == 0 else inp[k - 1]
            key_off, val_off = inp[k], inp[k + 1]
            if not val_off < key_off < key_end:
                raise RpmDbError(f"page {pgno}: overlapping hash entries")
            key = page[key_off:key_end]
            if key == b"\x01\x00\x00\x00\x00":
                continue  # H_KEYDATA key 0: rpm's package-number counter, not a header
            yield self._item(pgno, page, val_off, key_off)

    def _item(self, pgno: int, page: bytes, off: int, end: int) -> bytes:
        kind = page[off]
        if kind == _H_KEYDATA:
            return page[off + 1 : end]
        if kind != _H_OFFPAGE:
            raise RpmDbError(f"page {pgno}: unsupported hash item type {kind}")
        if end - off < _HOFFPAGE_SIZE:
            raise RpmDbError(f"page {pgno}: short off-page item")
        start, total = struct.unpack_from(self.order + "II", page, off + 4)
        return self._overflow(start, total)

    def _overflow(self, pgno: int, total: int) -> bytes:
        if total > MAX_HEADER_SIZE or total > (self.last_pgno + 1) * self.pagesize:
            raise RpmDbError(f"off-page item of {total} bytes is larger than the database")
        parts: list[bytes] = []
        got = 0
        while got < total:
            if not 0 < pgno <= self.last_pgno:
                raise RpmDbError(f"overflow chain leads to invalid page {pgno}")
            if pgno in self.visited:
                raise RpmDbError(f"overflow page {pgno} reached twice (cycle)")
            self.visited.add(pgno)
            page = self.page(pgno)
            if page[25] != _P_OVERFLOW:
                raise RpmDbError(f"page {pgno}: expected an overflow page, found type {page[25]}")
            nxt, _, length = struct.unpack_from(self.order + "IHH", page, 16)
            if length > self.pagesize - self.overhead or got + length > total:
                raise RpmDbError(f"page {pgno}: invalid overflow data length {length}")
            if length == 0:
                raise RpmDbError(f"page {pgno}: empty overflow page")
            parts.append(page[self.overhead : self.overhead + length])
            got += length
            pgno = nxt
        return b"".join(parts)


# ------------------------------------------------------------------------------ ndb
# Layout from rpm's lib/backend/ndb/rpmpkg.c; all integers little-endian.

_NDB_MAGIC = b"RpmP"
_NDB_SLOT_MAGIC = b"Slot"
_NDB_BLOB_MAGIC = b"BlbS"
_NDB_TAIL_MAGIC = b"BlbE"
_NDB_PAGE = 4096
_NDB_BLK = 16
_NDB_HEADER = 32  # the first two slot-sized entries of page 0
_NDB_BLOBHEAD = 16  # magic, pkgidx, generation, bloblen
_NDB_BLOBTAIL = 12  # adler32, bloblen, magic


def iter_header_blobs_ndb(f: IO[bytes]) -> Iterator[bytes]:
    """The header blobs of an ndb ``Packages.db`` (format version 0, the only one), by slot.

    Each blob's head, tail and Adler-32 checksum are verified as rpm does.
    """
    size = _file_size(f)
    hdr = _read_at(f, 0, _NDB_HEADER, "ndb header")
    if hdr[:4] != _NDB_MAGIC:
        raise RpmDbError("not an rpm ndb database")
    version, _generation, slotnpages = struct.unpack_from("<III", hdr, 4)
    if version != 0:
        raise RpmDbError(f"unsupported ndb version {version}")
    if slotnpages == 0 or slotnpages * _NDB_PAGE > size:
        raise RpmDbError(f"truncated database: {slotnpages} slot pages in {size} bytes")
    min_blk = slotnpages * _NDB_PAGE // _NDB_BLK
    file_blks = size // _NDB_BLK
    slots: list[tuple[int, int, int]] = []
    used_blks = 0
    for page in range(slotnpages):
        data = _read_at(f, page * _NDB_PAGE, _NDB_PAGE, f"slot page {page}")
        for off in range(_NDB_HEADER if page == 0 else 0, _NDB_PAGE, 16):
            magic = data[off : off + 4]
            if magic != _NDB_SLOT_MAGIC:
                raise RpmDbError(f"bad ndb slot magic {magic!r} in slot page {page}")
            pkgidx, blkoff, blkcnt = struct.unpack_from("<III", data, off + 4)
            if blkoff == 0:
                continue  # a free slot
            if not pkgidx or not blkcnt or blkoff < min_blk or blkoff + blkcnt > file_blks:
                raise RpmDbError(f"ndb slot for package {pkgidx} points outside the blob area")
            # valid blobs never overlap, so together they fit in the file; checking
            # that keeps the reading linear in the file size
            used_blks += blkcnt
            if used_blks > file_blks:
                raise RpmDbError("ndb slots overlap")
            slots.append((pkgidx, blkoff, blkcnt))
    for pkgidx, blkoff, blkcnt in slots:
        yield _ndb_blob(f, pkgidx, blkoff, blkcnt)


def _ndb_blob(f: IO[bytes], pkgidx: int, blkoff: int, blkcnt: int) -> bytes:
    raw = _read_at(f, blkoff * _NDB_BLK, blkcnt * _NDB_BLK, f"blob of package {pkgidx}")
    if len(raw) < _NDB_BLOBHEAD + _NDB_BLOBTAIL:
        raise RpmDbError(f"ndb blob of package {pkgidx} is too short")
    magic, idx, _gen, bloblen = struct.unpack_from("<4sIII", raw, 0)
    if magic != _NDB_BLOB_MAGIC or idx != pkgidx:
        raise RpmDbError(f"bad ndb blob header for package {pkgidx}")
    if blkcnt != (_NDB_BLOBHEAD + bloblen + _NDB_BLOBTAIL + _NDB_BLK - 1) // _NDB_BLK:
        raise RpmDbError(
            f"ndb blob length {bloblen} of package {pkgidx} does not match its {blkcnt} blocks"
        )
    adler, taillen, tailmagic = struct.unpack_from("<II4s", raw, len(raw) - _NDB_BLOBTAIL)
    if tailmagic != _NDB_TAIL_MAGIC or taillen != bloblen:
        raise RpmDbError(f"bad ndb blob trailer for package {pkgidx}")
    if zlib.adler32(raw[:-_NDB_BLOBTAIL]) != adler:
        raise RpmDbError(f"ndb blob checksum mismatch for package {pkgidx}")
    return raw[_NDB_BLOBHEAD : _NDB_BLOBHEAD + bloblen]


# ------------------------------------------------------------------------ the header

TAG_NAME = 1000
TAG_VERSION = 1001
TAG_RELEASE = 1002
TAG_EPOCH = 1003
TAG_SIZE = 1009
TAG_VENDOR = 1011
TAG_LICENSE = 1014
TAG_ARCH = 1022
TAG_FILENAMES = 1027
TAG_SOURCERPM = 1044
TAG_DIRINDEXES = 1116
TAG_BASENAMES = 1117
TAG_DIRNAMES = 1118
TAG_MODULARITYLABEL = 5096

_INT32 = 4
_STRING = 6
_STRING_ARRAY = 8
_I18NSTRING = 9
_STRING_TYPES = (_STRING, _STRING_ARRAY, _I18NSTRING)
# region tags (HEADERIMAGE, HEADERSIGNATURES, HEADERIMMUTABLE, HEADERREGIONS) mark
# the signed part of a header; they carry no package data
_REGION_TAGS = frozenset({61, 62, 63, 64})
_HEADER_MAGIC = b"\x8e\xad\xe8\x01"
_MAX_INDEX = 0xFFFF  # rpm's hdrchkTags
# tags whose value rpm prints as "(none)" when a packager wrote nothing
_NONE_IS_EMPTY = frozenset({TAG_SOURCERPM, TAG_LICENSE, TAG_VENDOR})

_TAG_NAMES = {
    TAG_NAME: "NAME",
    TAG_VERSION: "VERSION",
    TAG_RELEASE: "RELEASE",
    TAG_EPOCH: "EPOCH",
    TAG_SIZE: "SIZE",
    TAG_VENDOR: "VENDOR",
    TAG_LICENSE: "LICENSE",
    TAG_ARCH: "ARCH",
    TAG_FILENAMES: "FILENAMES",
    TAG_SOURCERPM: "SOURCERPM",
    TAG_DIRINDEXES: "DIRINDEXES",
    TAG_BASENAMES: "BASENAMES",
    TAG_DIRNAMES: "DIRNAMES",
    TAG_MODULARITYLABEL: "MODULARITYLABEL",
}


@dataclass(frozen=True, slots=True)
class RpmHeader:
    """What hullscan uses of one installed package's header."""

    name: str
    version: str
    release: str
    epoch: int | None
    arch: str
    source_rpm: str
    license: str
    vendor: str
    size: int | None = None
    modularity_label: str = ""
    #: absolute paths of the files (and directories) the package owns
    files: tuple[str, ...] = ()

    @property
    def evr(self) -> str:
        """``[EPOCH:]VERSION-RELEASE``, as rpm prints ``%{EVR}``."""
        vr = f"{self.version}-{self.release}" if self.release else self.version
        return f"{self.epoch}:{vr}" if self.epoch is not None else vr


class _Store:
    """The index entries and data store of one header blob, decoded on demand."""

    def __init__(self, blob: bytes) -> None:
        if blob[:4] == _HEADER_MAGIC:
            blob = blob[8:]  # a header with its magic and reserved bytes in front
        if len(blob) < 8:
            raise RpmDbError("rpm header: too short")
        il, dl = struct.unpack_from(">II", blob, 0)
        if not 0 < il <= _MAX_INDEX:
            raise RpmDbError(f"rpm header: invalid index length {il}")
        if dl > MAX_HEADER_SIZE:
            raise RpmDbError(f"rpm header: data length {dl} is too large")
        start = 8 + 16 * il
        if start + dl > len(blob):
            raise RpmDbError(
                f"rpm header: {il} entries and {dl} data bytes do not fit in {len(blob)} bytes"
            )
        self.data = blob[start : start + dl]
        self.entries: dict[int, tuple[int, int, int]] = {}
        for tag, typ, off, count in struct.iter_unpack(">iIiI", blob[8:start]):
            if tag not in _REGION_TAGS:
                # entries after the signed region ("dribbles") replace region ones
                self.entries[tag] = (typ, off, count)

    def _entry(self, tag: int, types: tuple[int, ...]) -> tuple[int, int, int] | None:
        entry = self.entries.get(tag)
        if entry is None:
            return None
        typ, off, count = entry
        name = _TAG_NAMES.get(tag, str(tag))
        if typ not in types:
            raise RpmDbError(f"rpm header: tag {name} has unexpected type {typ}")
        if not 0 <= off < len(self.data) or count == 0:
            raise RpmDbError(f"rpm header: tag {name} points outside the data")
        return entry

    def strings(self, tag: int) -> list[str]:
        entry = self._entry(tag, _STRING_TYPES)
        if entry is None:
            return []
        typ, off, count = entry
        if typ == _STRING and count != 1:
            raise RpmDbError(f"rpm header: string tag {_TAG_NAMES.get(tag, tag)} has count {count}")
        if count > len(self.data) - off:  # every string takes at least its NUL byte
            raise RpmDbError(f"rpm header: tag {_TAG_NAMES.get(tag, tag)} has too many strings")
        out = []
        pos = off
        for _ in range(count):
            end = self.data.find(b"\x00", pos)
            if end < 0:
                raise RpmDbError(
                    f"rpm header: unterminated string in tag {_TAG_NAMES.get(tag, tag)}"
                )
            out.append(self.data[pos:end].decode("utf-8", "replace"))
            pos = end + 1
        return out

    def string(self, tag: int) -> str:
        values = self.strings(tag)
        value = values[0] if values else ""
        if tag in _NONE_IS_EMPTY and value == "(none)":
            return ""
        return value

    def ints(self, tag: int) -> tuple[int, ...]:
        entry = self._entry(tag, (_INT32,))
        if entry is None:
            return ()
        _, off, count = entry
        if count > (len(self.data) - off) // 4:
            raise RpmDbError(f"rpm header: tag {_TAG_NAMES.get(tag, tag)} runs past the data")
        return struct.unpack_from(f">{count}i", self.data, off)


def parse_header(blob: bytes) -> RpmHeader:
    """Decode the fields hullscan uses from an rpm header blob (as stored in the databases)."""
    store = _Store(blob)
    name = store.string(TAG_NAME)
    if not name:
        raise RpmDbError("rpm header: no package name")
    epochs = store.ints(TAG_EPOCH)
    sizes = store.ints(TAG_SIZE)
    return RpmHeader(
        name=name,
        version=store.string(TAG_VERSION),
        release=store.string(TAG_RELEASE),
        epoch=epochs[0] if epochs else None,
        arch=store.string(TAG_ARCH),
        source_rpm=store.string(TAG_SOURCERPM),
        license=store.string(TAG_LICENSE),
        vendor=store.string(TAG_VENDOR),
        size=sizes[0] if sizes else None,
        modularity_label=store.string(TAG_MODULARITYLABEL),
        files=_files(store, name),
    )


def _files(store: _Store, name: str) -> tuple[str, ...]:
    basenames = store.strings(TAG_BASENAMES)
    if not basenames:
        # rpm < 4.0 headers list full paths instead of (dir index, base name) pairs
        return tuple(store.strings(TAG_FILENAMES))
    dirnames = store.strings(TAG_DIRNAMES)
    dirindexes = store.ints(TAG_DIRINDEXES)
    if len(dirindexes) != len(basenames):
        raise RpmDbError(
            f"rpm header of {name}: {len(basenames)} file names but "
            f"{len(dirindexes)} directory indexes"
        )
    files = []
    for base, idx in zip(basenames, dirindexes, strict=True):
        if not 0 <= idx < len(dirnames):
            raise RpmDbError(f"rpm header of {name}: directory index {idx} out of range")
        files.append(dirnames[idx] + base)
    return tuple(files)
