"""The members of a layer tar, read once, front to back.

Most headers in image layers are plain ustar or GNU headers of ordinary entries; those
are decoded here directly (a quarter of ``tarfile``'s time per header). Everything else
— PAX and GNU long-name records, sparse files, base-256 numbers, a bad checksum, the end
of the archive, garbage — goes to ``tarfile`` itself, at the same position, so its
handling of those is kept whole. After a PAX global header (which changes the members
that follow), ``tarfile`` reads every remaining header.

Member data is never copied unless asked for: the next header is found by its offset,
and ``LayerReader`` passes over the bytes between.
"""

from __future__ import annotations

import io
import struct
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any, cast

from hullscan.errors import ImageError
from hullscan.streams import LayerReader

BLOCK = tarfile.BLOCKSIZE
_MAGICS = (b"ustar\x0000", b"ustar  \x00")
#: the entry types decoded here; tarfile's REGULAR_TYPES carry data blocks
_PLAIN_TYPE_BYTES = frozenset(bytes([t]) for t in b"01234567\x00")
_DATA_TYPES = (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE)
_ENCODING = tarfile.ENCODING


@dataclass(frozen=True, slots=True)
class Member:
    """One tar entry, as ``tarfile.TarInfo`` would describe it."""

    name: str
    type: bytes
    size: int
    mode: int
    uid: int
    gid: int
    mtime: int
    linkname: str
    offset_data: int
    #: tarfile's own record, for members it read (sparse files are read through it)
    info: tarfile.TarInfo | None = None

    def isreg(self) -> bool:
        return self.type in tarfile.REGULAR_TYPES


def _text(field: bytes) -> str:
    return field.partition(b"\0")[0].decode(_ENCODING, "surrogateescape")


def _number(field: bytes) -> int:
    """An octal field, as tarfile reads it: up to the first NUL, blanks around it ignored;
    ValueError (tarfile's business) for base-256 (its high bit set is no octal digit) or
    garbage. int() itself strips the blanks, and accepts what tarfile's int() accepts."""
    digits = field.partition(b"\0")[0]
    return int(digits, 8) if digits.strip() else 0


#: a ustar header's fields, in order: name, mode, uid, gid, size, mtime, chksum, type,
#: linkname, magic+version, (uname, gname), devmajor, devminor, prefix
_USTAR = struct.Struct("100s8s8s8s12s12s8s1s100s8s64x8s8s155s12x")


def _plain_header(buf: bytes, offset: int) -> Member | None:
    """The member a plain ustar/GNU header describes, or None if tarfile must read it."""
    if len(buf) != BLOCK:
        return None
    (
        name_f,
        mode_f,
        uid_f,
        gid_f,
        size_f,
        mtime_f,
        chksum_f,
        typ,
        link_f,
        magic,
        major,
        minor,
        prefix_f,
    ) = _USTAR.unpack(buf)
    if magic not in _MAGICS or typ not in _PLAIN_TYPE_BYTES:
        return None
    try:
        if _number(chksum_f) != sum(buf) - sum(chksum_f) + 8 * 32:
            return None
        size = _number(size_f)
        member_mode, uid, gid = _number(mode_f), _number(uid_f), _number(gid_f)
        mtime = _number(mtime_f)
        _number(major), _number(minor)  # tarfile refuses bad device numbers
    except ValueError:
        return None
    if size < 0:
        return None  # "-644" is an int; tarfile's reading of it is refused in the walk
    name = _text(name_f)
    if typ == tarfile.AREGTYPE and name.endswith("/"):
        typ = tarfile.DIRTYPE  # V7: a directory is a regular file with a trailing slash
    if typ == tarfile.DIRTYPE:
        name = name.rstrip("/")
    if prefix_f[0]:
        name = f"{_text(prefix_f)}/{name}"
    return Member(name, typ, size, member_mode, uid, gid, mtime, _text(link_f), offset + BLOCK)


def _from_tarinfo(m: tarfile.TarInfo) -> Member:
    return Member(
        m.name, m.type, m.size, m.mode, m.uid, m.gid, int(m.mtime), m.linkname, m.offset_data, m
    )


class TarMembers:
    """Iterates the members of the tar ``reader`` yields, and opens their data."""

    def __init__(self, reader: LayerReader, label: str) -> None:
        self._reader = reader
        self._label = label
        self._tf: tarfile.TarFile | None = None

    def __iter__(self) -> Iterator[Member]:
        reader = self._reader
        offset = 0
        while True:
            if reader.seek(offset) != offset:
                raise ImageError(f"{self._label}: corrupt tar archive (unexpected end of data)")
            if self._tf is None or not self._tf.pax_headers:
                member = _plain_header(reader.peek_block(BLOCK), offset)
                if member is not None:
                    reader.seek(offset + BLOCK)
                    yield member
                    offset = member.offset_data + (
                        -(-member.size // BLOCK) * BLOCK if member.type in _DATA_TYPES else 0
                    )
                    continue
            info = self._tarfile_next(offset)
            if info is None:
                return
            assert self._tf is not None
            if info.size < 0:  # base-256 numbers can be negative; tarfile takes them
                raise ImageError(
                    f"{self._label}: corrupt tar archive (a member of negative size {info.size})"
                )
            offset = self._tf.offset
            yield _from_tarinfo(info)

    def _tarfile_next(self, offset: int) -> tarfile.TarInfo | None:
        """tarfile's reading of the header at ``offset`` (None: the archive ends there)."""
        try:
            if self._tf is None:
                # its constructor reads the first member, at the reader's position
                tf = self._tf = tarfile.TarFile(fileobj=self._reader, mode="r")
                info = cast(tarfile.TarInfo | None, tf.firstmember)  # type: ignore[attr-defined]
                tf.firstmember = None  # type: ignore[attr-defined]  # not to be read twice
            else:
                self._tf.offset = offset
                info = self._tf.next()
        except tarfile.TarError as e:
            if offset == 0:
                raise ImageError(f"{self._label}: not a valid tar archive ({e})") from None
            raise ImageError(f"{self._label}: corrupt tar archive ({e})") from None
        self._tf.members.clear()  # type: ignore[attr-defined]  # keep memory flat
        return info

    def open(self, m: Member) -> IO[bytes]:
        """The member's data; readable only before the walk moves past it."""
        if m.info is not None and m.info.sparse is not None:
            assert self._tf is not None
            f = self._tf.extractfile(m.info)
            assert f is not None
            return f
        return cast(IO[bytes], _Data(self._reader, m.offset_data, m.size, self._label))


class _Data(io.RawIOBase):
    """A member's bytes, read straight from the layer stream."""

    def __init__(self, reader: LayerReader, start: int, size: int, label: str) -> None:
        self._reader = reader
        self._label = label
        self._pos = start
        self._end = start + size

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        """Fills ``b`` up to the member's end (readers expect ``read(n)`` to be whole, as
        tarfile's file objects are)."""
        want = min(len(b), self._end - self._pos)
        done = 0
        while done < want:
            if self._reader.tell() != self._pos:
                self._reader.seek(self._pos)  # forward only: refuses to go back
            data = self._reader.read_upto(want - done)
            if not data:
                raise ImageError(
                    f"{self._label}: corrupt tar archive (unexpected end of data "
                    "in a member: a truncated layer)"
                )
            b[done : done + len(data)] = data
            done += len(data)
            self._pos += len(data)
        return done
