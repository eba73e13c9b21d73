"""Files replaced in one step, and the lock that serializes read-modify-write cycles.

A reader sees the old content or the new, never a part of it; a write that fails (a full
disk, ``kill -9``) leaves the old file in place and no temporary file behind (the
temporary is named ``.<name>.*.tmp`` in the same directory, so a crash at worst leaves
one that no reader ever opens).
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from hullscan.errors import HullscanError

#: errno values of a write that found no room
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def write_error(path: Path | str, e: OSError) -> HullscanError:
    """One clear line for a failed write (a full disk says so)."""
    reason = "the disk is full" if e.errno in DISK_FULL else (e.strerror or str(e))
    return HullscanError(f"cannot write {path}: {reason}")


def write_atomically(target: Path, data: bytes, mode: int | None = None) -> None:
    """Replace ``target`` with ``data`` (flushed to disk first); ``mode`` defaults to the
    existing file's permissions, else 0644. Raises ``OSError`` as it comes."""
    if mode is None:
        try:
            mode = target.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode = 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (a directory, or a lock file created if
    missing) for the block: processes that read, change and rewrite the same files take
    turns instead of the last writer dropping the others' changes."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    flags = os.O_RDONLY if path.is_dir() else os.O_RDWR | os.O_CREAT
    fd = os.open(path, flags, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
