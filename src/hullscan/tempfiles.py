"""Temporary files, kept inside hullscan's cache directory.

Analyzers that need random access to a file streamed out of a layer (zip
archives, ELF sections) spool it here: small files stay in memory, large ones
go to disk under the cache directory, never elsewhere.
"""

from __future__ import annotations

import contextlib
import io
import mmap
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from typing import IO, Any, cast

# per thread: two scans in one process (a server's threads) may use two cache directories
_state = threading.local()

SPOOL_IN_MEMORY = 16 * 1024 * 1024
COPY_CHUNK = 1024 * 1024


def set_tempdir(path: str | None) -> None:
    """Where this thread's spooled files go (the pipeline points it at ``<cache>/tmp``)."""
    _state.path = path


def _tempdir() -> str | None:
    path: str | None = getattr(_state, "path", None)
    return path


def location() -> str:
    """Where spooled files go now."""
    return _tempdir() or tempfile.gettempdir()


class MemorySpool(io.RawIOBase):
    """A spooled file known to fit in memory: the one buffer it was read into, read in
    place. ``find`` searches it without a copy (a ``BytesIO`` would copy the buffer once
    more when given a ``bytearray``, and again for each chunk a search reads)."""

    def __init__(self, data: bytearray) -> None:
        super().__init__()
        self._data = data
        self._view = memoryview(data)
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def __len__(self) -> int:
        return len(self._data)

    def find(self, sub: bytes, start: int = 0, end: int | None = None) -> int:
        """Where ``sub`` first occurs whole between ``start`` and ``end``; -1 if nowhere."""
        return self._data.find(sub, start, len(self._data) if end is None else end)

    def read(self, size: int | None = -1) -> bytes:
        pos = self._pos
        end = len(self._data) if size is None or size < 0 else min(pos + size, len(self._data))
        if end <= pos:
            return b""
        self._pos = end
        return bytes(self._view[pos:end])

    def readall(self) -> bytes:
        return self.read()

    def readinto(self, b: Any) -> int:
        pos = self._pos
        n = max(min(len(b), len(self._data) - pos), 0)
        b[:n] = self._view[pos : pos + n]
        self._pos = pos + n
        return n

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        # as BytesIO does: a negative absolute position is an error, a relative one stops at 0
        if whence == io.SEEK_SET:
            if offset < 0:
                raise ValueError(f"negative seek value {offset}")
            self._pos = offset
        elif whence in (io.SEEK_CUR, io.SEEK_END):
            self._pos = max(0, (self._pos if whence == io.SEEK_CUR else len(self._data)) + offset)
        else:
            raise ValueError(f"invalid whence {whence}")
        return self._pos

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        self._view.release()
        super().close()


class _DiskSpool(io.FileIO):
    """The raw file of a spooled copy too large for memory (unlinked, under the cache)."""


def spool(stream: IO[bytes], limit: int | None = None) -> IO[bytes]:
    """Copy ``stream`` (at most ``limit`` bytes) into a seekable temporary file at offset 0.

    Each byte is copied once, straight from the stream's buffers into the copy."""
    if limit is not None and limit <= SPOOL_IN_MEMORY:
        return cast(IO[bytes], MemorySpool(_read_into(stream, limit)))
    if limit is None:  # size unknown: in memory until it outgrows the limit
        out: IO[bytes] = tempfile.SpooledTemporaryFile(  # noqa: SIM115 - returned to the caller
            max_size=SPOOL_IN_MEMORY, dir=_tempdir()
        )
    else:  # known to be large: straight to disk, without passing through memory first
        fd, name = tempfile.mkstemp(dir=_tempdir())
        try:
            os.unlink(name)
            out = io.BufferedRandom(_DiskSpool(fd, "r+b"), COPY_CHUNK)
        except BaseException:
            os.close(fd)
            raise
    try:
        copy(stream, out, limit)
        out.seek(0)
    except BaseException:
        out.close()
        raise
    return out


def _read_into(stream: IO[bytes], limit: int) -> bytearray:
    """``limit`` bytes of ``stream``, fewer only at its end (a raw stream may return short
    reads before it), read into one buffer."""
    buf = bytearray(limit)
    got = 0
    readinto = getattr(stream, "readinto", None)
    with memoryview(buf) as view:
        while got < limit:
            if readinto is not None:
                n = readinto(view[got:]) or 0
            else:
                more = stream.read(limit - got)
                n = len(more)
                view[got : got + n] = more
            if not n:
                break
            got += n
    if got < limit:
        try:
            del buf[got:]
        except BufferError:  # a reader kept a view of it: give up the buffer, not the bytes
            buf = buf[:got]
    return buf


def is_spooled(stream: IO[bytes]) -> bool:
    """Whether ``stream`` came from ``spool`` (a file several analyzers share): seekable,
    so an analyzer that needs random access uses it as it is instead of copying it again."""
    return isinstance(stream, (MemorySpool, tempfile.SpooledTemporaryFile)) or isinstance(
        getattr(stream, "raw", None), _DiskSpool
    )


#: what ``searchable`` yields: the copy's bytes, with ``find``
Searchable = MemorySpool | mmap.mmap


@contextlib.contextmanager
def searchable(stream: IO[bytes]) -> Iterator[Searchable | None]:
    """The whole of a spooled copy as one buffer to ``find`` in without reading it through
    (a file on disk is mapped); None for any other stream."""
    if isinstance(stream, MemorySpool):
        yield stream
    elif isinstance(getattr(stream, "raw", None), _DiskSpool) and os.fstat(stream.fileno()).st_size:
        stream.flush()
        with mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            yield mapped
    else:
        yield None


class PrefixedStream:
    """``head`` (already read) followed by the rest of ``stream``, as one stream."""

    def __init__(self, head: bytes, stream: IO[bytes]) -> None:
        self._head = head
        self._stream = stream

    def read(self, n: int = -1) -> bytes:
        if not self._head:
            return self._stream.read(n)
        if n < 0:
            chunk, self._head = self._head, b""
            return chunk + self._stream.read()
        chunk, self._head = self._head[:n], self._head[n:]
        # a full read when asked for more than the head: callers rely on it
        return chunk + (self._stream.read(n - len(chunk)) if len(chunk) < n else b"")

    def readinto(self, b: Any) -> int:
        """The head first, then the stream's bytes straight into ``b``."""
        if self._head:
            n = min(len(b), len(self._head))
            b[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        readinto = getattr(self._stream, "readinto", None)
        if readinto is not None:
            return int(readinto(b) or 0)
        data = self._stream.read(len(b))
        b[: len(data)] = data
        return len(data)


def copy(src: IO[bytes], dst: IO[bytes], limit: int | None = None) -> None:
    """Copy ``src`` to ``dst`` in chunks, at most ``limit`` bytes (None: all of it), through
    one reused buffer when ``src`` can read into it."""
    readinto = getattr(src, "readinto", None)
    if readinto is None:
        _copy_by_read(src, dst, limit)
        return
    remaining = limit
    with memoryview(bytearray(COPY_CHUNK)) as buf:
        while remaining is None or remaining > 0:
            n = (
                readinto(buf if remaining is None or remaining >= COPY_CHUNK else buf[:remaining])
                or 0
            )
            if not n:
                break
            dst.write(buf[:n])
            if remaining is not None:
                remaining -= n


def _copy_by_read(src: IO[bytes], dst: IO[bytes], limit: int | None) -> None:
    if limit is None:
        shutil.copyfileobj(src, dst, COPY_CHUNK)
        return
    remaining = limit
    while remaining > 0:
        chunk = src.read(min(COPY_CHUNK, remaining))
        if not chunk:
            break
        dst.write(chunk)
        remaining -= len(chunk)


@contextlib.contextmanager
def spool_to_path(stream: IO[bytes], limit: int | None = None, suffix: str = "") -> Iterator[str]:
    """Copy ``stream`` (at most ``limit`` bytes) into a named temporary file; yield its path.

    For readers that only take a file name (sqlite3); the file is removed on exit.
    """
    with tempfile.NamedTemporaryFile(dir=_tempdir(), suffix=suffix) as out:
        copy(stream, out, limit)
        out.flush()
        yield out.name
