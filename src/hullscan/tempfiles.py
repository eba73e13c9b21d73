"""Temporary files, kept inside hullscan's cache directory.

Analyzers that need random access to a file streamed out of a layer (zip
archives, ELF sections) spool it here: small files stay in memory, large ones
go to disk under the cache directory, never elsewhere.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import tempfile
import threading
from collections.abc import Iterator
from typing import IO

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


class MemorySpool(io.BytesIO):
    """A spooled file known to fit in memory, held as the one ``bytes`` it was read into."""


def spool(stream: IO[bytes], limit: int | None = None) -> IO[bytes]:
    """Copy ``stream`` (at most ``limit`` bytes) into a seekable temporary file at offset 0."""
    if limit is not None and limit <= SPOOL_IN_MEMORY:
        # known to fit: read whole into one buffer, which BytesIO shares instead of copying
        # (a SpooledTemporaryFile grows its buffer write by write, copying as it goes)
        return MemorySpool(_read_whole(stream, limit))
    out: IO[bytes] = tempfile.SpooledTemporaryFile(  # noqa: SIM115 - returned to the caller
        max_size=SPOOL_IN_MEMORY, dir=_tempdir())
    copy(stream, out, limit)
    out.seek(0)
    return out


def _read_whole(stream: IO[bytes], limit: int) -> bytes:
    """``limit`` bytes of ``stream``, fewer only at its end (a raw stream may return short
    reads before it); one read's bytes are returned as they are, not joined."""
    parts: list[bytes] = []
    got = 0
    while got < limit and (more := stream.read(limit - got)):
        parts.append(more)
        got += len(more)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def is_spooled(stream: IO[bytes]) -> bool:
    """Whether ``stream`` came from ``spool`` (a file several analyzers share): seekable,
    so an analyzer that needs random access uses it as it is instead of copying it again."""
    return isinstance(stream, (MemorySpool, tempfile.SpooledTemporaryFile))


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


def copy(src: IO[bytes], dst: IO[bytes], limit: int | None = None) -> None:
    """Copy ``src`` to ``dst`` in chunks, at most ``limit`` bytes (None: all of it)."""
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
