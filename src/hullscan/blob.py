"""Where a blob's bytes are: a whole file, or a region of an archive file — or a file
still being downloaded, read as it grows, a pipe a download sends them through, or a
registry the reader downloads them from itself.

A ``BlobRef`` is a small picklable value, so a layer can be handed to a worker
process and opened there.
"""

from __future__ import annotations

import contextlib
import io
import os
import select
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hullscan.errors import ImageError

if TYPE_CHECKING:  # the registry's modules are imported only where a blob is fetched
    from hullscan.sources.registry_fetch import RemoteBlob

_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
#: how long a reader of an arriving blob waits for its next bytes before giving up (the
#: download itself fails sooner: it must keep a minimum rate)
ARRIVAL_TIMEOUT = 600.0


class BlobWithdrawn(ImageError):
    """An arriving blob's download stopped before the reader had every byte: it failed,
    or started again in another file. Its own error, or the finished blob, tells more."""


class ReaderGone(ImageError):
    """A piped blob's reader went away before the end (its process died, or was
    interrupted): the reader's own failure is the one to tell."""


@dataclass(frozen=True)
class BlobRef:
    path: str
    offset: int = 0
    #: bytes in the region; None: to the end of the file
    length: int | None = None
    #: the file a download is writing ``path``'s bytes into, renamed to ``path`` once
    #: they verify: the reader follows it as it grows (``length`` is then required)
    arriving: str | None = None
    #: a FIFO a download sends the blob's bytes through, keeping none of them (``path``
    #: is then only named in messages; ``length`` is required)
    pipe: str | None = None
    #: a registry blob its reader downloads itself, keeping none of it
    #: (``sources.registry_fetch.RemoteBlob``; ``path`` is then only named in messages)
    remote: RemoteBlob | None = None

    @property
    def fed(self) -> bool:
        """Whether another process's download hands the bytes over as they arrive (a
        pipe, a growing file): that download shares the cores with their reader."""
        return self.pipe is not None or self.arriving is not None

    def open(self) -> io.RawIOBase:
        if self.remote is not None:
            return self.remote.open()
        if self.pipe is not None:
            if self.length is None:
                raise ValueError("a piped blob needs its length")
            return PipeReader(self.pipe, self.path, self.length)
        if self.arriving is not None:
            if self.length is None:
                raise ValueError("an arriving blob needs its length")
            return ArrivingReader(self.arriving, self.path, self.length)
        return RegionReader(self.path, self.offset, self.length)


class RegionReader(io.RawIOBase):
    """Reads ``length`` bytes of a file from ``offset``, then reports end of file."""

    def __init__(self, path: str, offset: int, length: int | None) -> None:
        # O_NOFOLLOW: a blob is never reached through a symlink planted in a layout
        fd = os.open(path, _OPEN_FLAGS)
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


class ArrivingReader(RegionReader):
    """The first ``length`` bytes of a blob a download is still writing: a read that
    finds no new bytes waits for them. The download's file is opened, or the finished
    blob when it was already renamed into place (the open file survives the rename). The
    bytes are trusted only as far as the download's digest check says: the caller waits
    for it before using what was read."""

    def __init__(self, partial: str, final: str, length: int) -> None:
        self._what = final
        try:
            super().__init__(partial, 0, length)
        except FileNotFoundError:  # already complete and renamed, or given up
            try:
                super().__init__(final, 0, length)
            except FileNotFoundError:
                raise BlobWithdrawn(f"{final}: its download stopped before the end") from None

    def readinto(self, b: Any) -> int:
        n = super().readinto(b)
        waited, pause = 0.0, 0.001
        while n == 0 and self._left > 0:
            if os.fstat(self._f.fileno()).st_nlink == 0:
                # unlinked: the download failed or began again; re-read for bytes written
                # just before (a failure after the last byte is the digest check's to tell)
                n = super().readinto(b)
                if n == 0:
                    raise BlobWithdrawn(f"{self._what}: its download stopped before the end")
                break
            if waited > ARRIVAL_TIMEOUT:
                raise BlobWithdrawn(f"{self._what}: no new bytes for {ARRIVAL_TIMEOUT:g} s")
            time.sleep(pause)
            waited += pause
            pause = min(pause * 2, 0.05)
            n = super().readinto(b)
        return n


class PipeReader(io.RawIOBase):
    """The ``length`` bytes of a blob a download sends through a FIFO, as they come.
    Opening waits for the download to connect, or to give up: it then removes the FIFO.
    Closing reads whatever is left, so that the download reaches the end and checks the
    digest, which the caller waits for before using what was read."""

    def __init__(self, fifo: str, what: str, length: int) -> None:
        self._what = what
        try:
            # non-blocking: a blocking open would wait for a writer that may never come
            fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        except FileNotFoundError:  # the download gave up before this layer was read
            raise self._withdrawn() from None
        self._f = os.fdopen(fd, "rb", buffering=0)
        self._left = length
        try:
            self._await_writer(fifo, fd)
        except BaseException:
            self._f.close()
            raise
        os.set_blocking(fd, True)

    def _await_writer(self, fifo: str, fd: int) -> None:
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLHUP)
        waited = 0.0
        while not poller.poll(100):  # bytes, or a writer that came and went
            waited += 0.1
            if not os.path.exists(fifo) or waited > ARRIVAL_TIMEOUT:
                raise self._withdrawn()

    def _withdrawn(self) -> BlobWithdrawn:
        return BlobWithdrawn(f"{self._what}: its download stopped before the end")

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        """Fills ``b`` (up to the blob's end), however small the pieces the pipe gives:
        each read is a chunk for the layer stream, and small chunks cost more there
        than waiting here for a whole one."""
        view = memoryview(b)[: min(len(b), self._left)]
        done = 0
        while done < len(view):
            n = self._f.readinto(view[done:]) or 0
            if n == 0:
                if done:
                    break  # the next read tells
                raise self._withdrawn()
            done += n
        self._left -= done
        return done

    def close(self) -> None:
        if not self.closed:
            try:
                # a failed read here is the download's to tell (the caller waits for it)
                with contextlib.suppress(OSError):
                    self._drain()
            finally:
                self._f.close()
        super().close()

    def _drain(self) -> None:
        buf = bytearray(1 << 20)
        while self._left > 0 and (n := self._f.readinto(buf)):
            self._left -= n
