"""Where a blob's bytes are: a whole file, or a region of an archive file.

A ``BlobRef`` is a small picklable value, so a layer can be handed to a worker
process and opened there.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class BlobRef:
    path: str
    offset: int = 0
    #: bytes in the region; None: to the end of the file
    length: int | None = None

    def open(self) -> io.RawIOBase:
        return RegionReader(self.path, self.offset, self.length)


class RegionReader(io.RawIOBase):
    """Reads ``length`` bytes of a file from ``offset``, then reports end of file."""

    def __init__(self, path: str, offset: int, length: int | None) -> None:
        # O_NOFOLLOW: a blob is never reached through a symlink planted in a layout
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        self._f = os.fdopen(fd, "rb", buffering=0)
        self._f.seek(offset)
        self._left = length if length is not None else max(os.fstat(fd).st_size - offset, 0)

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self._left <= 0:
            return 0
        view = memoryview(b)[: min(len(b), self._left)]
        n = self._f.readinto(view) or 0
        self._left -= n
        return n

    def close(self) -> None:
        self._f.close()
        super().close()
