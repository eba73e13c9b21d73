"""A layer blob downloaded by the process that analyses it.

A pull's layers are analysed in worker processes. Sending each blob from the pull's
process to its worker (through a FIFO) cost as much CPU as hashing it: every byte was
received by one process, written into a pipe and read out again by another (about
0.4 CPU-second a gigabyte on loopback, measured with perf). So where a layer's blob is
not kept, the pull hands its worker a ``RemoteBlob`` instead: what the worker needs to
fetch the blob itself on a connection of its own (the registry, the scheme the pull
settled on, its settings, and the authorization the pull was granted), and the worker
reads the body straight into its layer stream's buffers.

The worker checks what it reads as it would check a piped blob (its diff-id, or its
digest where diff-ids are taken on trust). A download that breaks mid-way ends the read
with ``BlobWithdrawn``: the pull's process then downloads the blob into the cache,
where retries are its own, and reads it from there.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from hullscan.blob import BlobWithdrawn
from hullscan.errors import ImageError, RegistryError
from hullscan.references import Reference
from hullscan.sources.http_transport import READINTO
from hullscan.sources.registry_client import RateFloor, RegistryClient
from hullscan.sources.registry_settings import RegistrySettings


@dataclass(frozen=True)
class RemoteBlob:
    """A registry blob as a worker process fetches it (picklable)."""

    ref: Reference
    settings: RegistrySettings
    scheme: str
    digest: str
    #: the descriptor's size: a body longer than this is refused as it arrives
    size: int
    #: the ``Authorization`` header the pull was granted (None: anonymous); a worker
    #: whose token has expired asks for a new one as any client does
    authorization: str | None = field(default=None, repr=False)

    @classmethod
    def of(cls, client: RegistryClient, digest: str, size: int) -> RemoteBlob:
        return cls(client.ref, client.settings, client.scheme, digest, size, client.authorization)

    @property
    def what(self) -> str:
        return f"{self.ref.name} blob {self.digest}"

    def open(self) -> io.RawIOBase:
        return RemoteReader(self)


class RemoteReader(io.RawIOBase):
    """The blob's bytes as its GET's body arrives; ``BlobWithdrawn`` if the connection
    breaks mid-way and the pull may try again (``retries``), else the registry's error."""

    def __init__(self, blob: RemoteBlob) -> None:
        self._what = what = blob.what
        self._path = f"blobs/{blob.digest}"
        self._client = RegistryClient(
            blob.ref, blob.settings, scheme=blob.scheme, authorization=blob.authorization
        )
        self._retries = blob.settings.retries
        self._stack = contextlib.ExitStack()
        try:
            resp = self._stack.enter_context(self._client.get(self._path))
        except BaseException:
            self._close_client()
            raise
        self._readinto: Any = resp.extensions.get(READINTO)
        self._chunks: Iterator[bytes] = resp.iter_bytes()
        self._rest: memoryview = memoryview(b"")
        self._floor = RateFloor(what, blob.settings.timeout)
        self._size, self._count = blob.size, 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        """Fills ``b`` (less only at the body's end), however small the pieces the
        connection gives: each read is a chunk for the layer stream, and small chunks
        cost more there than waiting here for a whole one."""
        view = memoryview(b)
        done = 0
        try:
            while done < len(view):
                n = self._read_some(view[done:])
                self._floor.arrived(n)  # a slow drip is given up between its pieces
                if n == 0:
                    break
                done += n
                self._count += n
                if self._count > self._size:
                    raise ImageError(f"{self._what}: more than the {self._size} bytes expected")
            return done
        except httpx.HTTPError as e:
            error = self._client.transport_error(e, self._path, mid_body=True)
        if self._retries:
            raise BlobWithdrawn(f"{self._what}: its download broke ({error})") from None
        raise error from None

    def _read_some(self, view: memoryview) -> int:
        if self._readinto is not None:  # the socket fills the caller's buffer
            return int(self._readinto(view))
        if not self._rest:
            self._rest = memoryview(next(self._chunks, b""))
        n = min(len(view), len(self._rest))
        view[:n] = self._rest[:n]
        self._rest = self._rest[n:]
        return n

    def close(self) -> None:
        if not self.closed:
            self._close_client()
        super().close()

    def _close_client(self) -> None:
        try:
            with contextlib.suppress(RegistryError, httpx.HTTPError):
                self._stack.close()
        finally:
            self._client.close()


__all__ = ["RemoteBlob", "RemoteReader"]
