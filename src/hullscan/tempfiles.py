"""Temporary files, kept inside hullscan's cache directory.

Analyzers that need random access to a file streamed out of a layer (zip
archives, ELF sections) spool it here: small files stay in memory, large ones
go to disk under the cache directory, never elsewhere.
"""

from __future__ import annotations

import contextlib
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


def spool(stream: IO[bytes], limit: int | None = None) -> IO[bytes]:
    """Copy ``stream`` (at most ``limit`` bytes) into a seekable temporary file at offset 0."""
    out: IO[bytes] = tempfile.SpooledTemporaryFile(  # noqa: SIM115 - returned to the caller
        max_size=SPOOL_IN_MEMORY, dir=_tempdir())
    copy(stream, out, limit)
    out.seek(0)
    return out


def is_spooled(stream: IO[bytes]) -> bool:
    """Whether ``stream`` came from ``spool`` (a file several analyzers share): seekable,
    so an analyzer that needs random access uses it as it is instead of copying it again."""
    return isinstance(stream, tempfile.SpooledTemporaryFile)


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
