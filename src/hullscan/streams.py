"""Byte streams that verify and bound what they carry.

A layer blob is read once through a chain of these: the raw blob is hashed
(and its size checked) against the manifest's digest, decompressed (gzip or
zstd, sniffed from the magic bytes), bounded against decompression bombs, and
hashed again against the config's diff-id. Nothing is buffered beyond one
chunk, so memory stays flat however large the layer is.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Generator
from dataclasses import dataclass
from typing import IO, Any

import zstandard

from hullscan.errors import ImageError

try:  # ISA-L inflates layers 2-3x faster than zlib, with zlib's API (~40% of a cold scan)
    from isal import isal_zlib as zlib

    # isal's stub types ``error`` as an instance; at run time it is the exception class
    _INFLATE_ERROR: type[Exception] = zlib.error  # type: ignore[assignment]
except ImportError:  # pragma: no cover - platforms without an isal wheel
    import zlib  # type: ignore[no-redef]

    _INFLATE_ERROR = zlib.error  # type: ignore[assignment]

#: the deflate level written layers use: ISA-L's level 2 is about zlib's 6 in size at
#: several times its speed; fixed, so the same input gives the same bytes
DEFLATE_LEVEL = 2 if zlib.__name__.endswith("isal_zlib") else 6

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Bounds on what one image may make hullscan read; hostile input stops at them."""

    #: uncompressed bytes in one layer
    max_layer_bytes: int = 64 * 1024**3
    #: uncompressed ÷ compressed ratio, checked once ``ratio_after`` bytes are out
    max_ratio: int = 1000
    ratio_after: int = 256 * 1024**2
    #: tar entries in one layer
    max_entries: int = 2_000_000
    #: manifest, config and index documents
    max_json_bytes: int = 16 * 1024**2


def parse_digest(digest: str) -> tuple[str, str]:
    """Split ``sha256:<hex>`` into its parts; refuse anything else."""
    algo, sep, hexpart = digest.partition(":")
    if not sep or algo not in ("sha256", "sha512") or not hexpart:
        raise ImageError(f"unsupported or malformed digest {digest!r}")
    size = 64 if algo == "sha256" else 128
    if len(hexpart) != size or any(c not in "0123456789abcdef" for c in hexpart):
        raise ImageError(f"malformed digest {digest!r}")
    return algo, hexpart


class DigestReader(io.RawIOBase):
    """Hashes everything read through it; ``verify()`` checks digest and size at the end."""

    def __init__(self, raw: IO[bytes], what: str, digest: str | None = None,
                 size: int | None = None, algo: str = "sha256") -> None:
        self._raw = raw
        self._what = what
        self._expected = digest
        self._size = size
        if digest:
            algo, _ = parse_digest(digest)
        self._hash = hashlib.new(algo)
        self._algo = algo
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self._raw.read(len(b))
        n = len(data)
        b[:n] = data
        if n:
            self._hash.update(data)
            self.count += n
            if self._size is not None and self.count > self._size:
                raise ImageError(f"{self._what}: larger than the {self._size} bytes "
                                 "its descriptor declares")
        return n

    def drain(self) -> None:
        while self.read(CHUNK):
            pass

    @property
    def digest(self) -> str:
        return f"{self._algo}:{self._hash.hexdigest()}"

    def verify(self) -> str:
        """Drain the rest, then check; returns the computed digest."""
        self.drain()
        if self._size is not None and self.count != self._size:
            raise ImageError(f"{self._what}: size {self.count} does not match the declared "
                             f"{self._size} (truncated or tampered)")
        if self._expected and self.digest != self._expected:
            raise ImageError(f"{self._what}: digest mismatch: expected {self._expected}, "
                             f"got {self.digest} (corrupt or tampered)")
        return self.digest


class GzipReader(io.RawIOBase):
    """Streaming gzip (multi-member) that refuses truncated input."""

    def __init__(self, raw: IO[bytes], what: str) -> None:
        self._raw = raw
        self._what = what
        self._d = zlib.decompressobj(31)
        #: compressed bytes not yet given to a decompressor
        self._input = b""
        self._buf = b""
        self._finished = False

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        want = len(b)
        while not self._buf and not self._finished:
            self._fill(want)
        n = min(want, len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n

    def _fill(self, want: int) -> None:
        d = self._d
        if not self._input:
            self._input = self._raw.read(CHUNK)
            if not self._input:
                if not d.eof:
                    raise ImageError(f"{self._what}: truncated gzip stream")
                self._finished = True
                return
        if d.eof:
            # between members: another member follows (concatenated members are one
            # stream, e.g. eStargz layers), or zero padding up to the end
            if not self._input.strip(b"\0"):
                self._input = b""
                return
            if len(self._input) < len(GZIP_MAGIC):
                more = self._raw.read(CHUNK)
                if more:
                    self._input += more
                    return
            if not self._input.startswith(GZIP_MAGIC):
                raise ImageError(f"{self._what}: garbage after the gzip stream")
            self._d = d = zlib.decompressobj(31)
        try:
            self._buf = d.decompress(self._input, max(want, CHUNK))
        except _INFLATE_ERROR as e:
            raise ImageError(f"{self._what}: corrupt gzip stream ({e})") from None
        self._input = d.unused_data if d.eof else d.unconsumed_tail


def _zstd_frames(what: str) -> Generator[tuple[int, bool], bytes, None]:
    """Walks the frame structure of a zstd stream (headers and block sizes, not the data).

    Yields (n, at_boundary): n > 0 asks for the next n bytes, n < 0 says to pass -n bytes
    by; ``at_boundary`` is true between frames, where a stream may end.
    """
    while True:
        magic = yield 4, True
        if magic == ZSTD_MAGIC:
            fhd = (yield 1, False)[0]
            single_segment = bool(fhd & 0x20)
            header = ((0 if single_segment else 1) + (0, 1, 2, 4)[fhd & 3]
                      + ((1 if single_segment else 0), 2, 4, 8)[fhd >> 6])
            if header:
                yield header, False
            last = False
            while not last:
                block = int.from_bytes((yield 3, False), "little")
                last, kind, size = bool(block & 1), (block >> 1) & 3, block >> 3
                if kind == 3:
                    raise ImageError(f"{what}: corrupt zstd stream (reserved block type)")
                skip = 1 if kind == 1 else size
                if skip:
                    yield -skip, False
            if fhd & 0x04:  # content checksum
                yield -4, False
        elif magic[1:] == b"\x2a\x4d\x18" and magic[0] & 0xF0 == 0x50:  # skippable frame
            size = int.from_bytes((yield 4, False), "little")
            if size:
                yield -size, False
        else:
            raise ImageError(f"{what}: corrupt zstd stream (garbage where a frame should start)")


class _ZstdFrameCheck(io.RawIOBase):
    """Passes the compressed bytes through, following their frame structure, so a stream
    that ends inside a frame is known to be truncated (the zstandard stream reader reports
    such a stream's end as a clean end of file)."""

    def __init__(self, raw: IO[bytes], what: str) -> None:
        self._raw = raw
        self._frames = _zstd_frames(what)
        self._need, self._at_boundary = next(self._frames)
        self._pending = b""

    def readable(self) -> bool:
        return True

    @property
    def complete(self) -> bool:
        return self._at_boundary and not self._pending

    def readinto(self, b: Any) -> int:
        data = self._raw.read(len(b))
        n = len(data)
        b[:n] = data
        pos = 0
        while pos < n:
            if self._need < 0:
                take = min(-self._need, n - pos)
                self._need += take
                pos += take
                if self._need == 0:
                    self._need, self._at_boundary = self._frames.send(b"")
                continue
            take = min(self._need - len(self._pending), n - pos)
            self._pending += data[pos:pos + take]
            pos += take
            if len(self._pending) == self._need:
                got, self._pending = self._pending, b""
                self._need, self._at_boundary = self._frames.send(got)
        return n


class ZstdReader(io.RawIOBase):
    """Streaming zstd that refuses truncated input."""

    def __init__(self, raw: IO[bytes], what: str) -> None:
        self._what = what
        self._check = _ZstdFrameCheck(raw, what)
        self._r = zstandard.ZstdDecompressor().stream_reader(
            self._check, read_across_frames=True)  # type: ignore[arg-type]

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        try:
            data = self._r.read(len(b))
        except zstandard.ZstdError as e:
            raise ImageError(f"{self._what}: corrupt or truncated zstd stream ({e})") from None
        n = len(data)
        if not n and len(b) and not self._check.complete:
            raise ImageError(f"{self._what}: truncated zstd stream")
        b[:n] = data
        return n


class BoundedReader(io.RawIOBase):
    """Stops a decompression bomb: bounds total output and the output/input ratio."""

    def __init__(self, inner: IO[bytes], compressed: DigestReader | None, limits: Limits,
                 what: str) -> None:
        self._inner = inner
        self._compressed = compressed
        self._limits = limits
        self._what = what
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self._inner.read(len(b))
        n = len(data)
        b[:n] = data
        self.count += n
        lim = self._limits
        if self.count > lim.max_layer_bytes:
            raise ImageError(f"{self._what}: more than {lim.max_layer_bytes} bytes uncompressed "
                             "(limit reached; a decompression bomb?)")
        if (self._compressed is not None and self.count > lim.ratio_after
                and self.count > lim.max_ratio * max(self._compressed.count, 1)):
            raise ImageError(f"{self._what}: decompresses more than {lim.max_ratio}:1 "
                             "(a decompression bomb?)")
        return n


def gzip_compressor() -> Any:
    """A gzip (RFC 1952) compressor with fixed settings: header mtime 0, no file name,
    ``DEFLATE_LEVEL``."""
    return zlib.compressobj(DEFLATE_LEVEL, zlib.DEFLATED, 31)


def sniff_compression(head: bytes) -> str:
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    return "none"


class PeekReader(io.RawIOBase):
    """Lets the first bytes be looked at, then reads on as if nothing happened."""

    def __init__(self, raw: IO[bytes], peek_size: int = 8) -> None:
        self._raw = raw
        self.head = raw.read(peek_size)
        self._pending = self.head

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self._pending:
            n = min(len(b), len(self._pending))
            b[:n] = self._pending[:n]
            self._pending = self._pending[n:]
            return n
        data = self._raw.read(len(b))
        b[: len(data)] = data
        return len(data)


@dataclass
class LayerStream:
    """A decompressed, verified, bounded view of a layer blob."""

    tar: io.BufferedReader[Any]
    compressed: DigestReader
    uncompressed: DigestReader
    compression: str

    def verify(self) -> None:
        """Read to the end of both streams and check both digests."""
        self.uncompressed.verify()
        self.compressed.verify()


def open_layer_stream(raw: IO[bytes], what: str, digest: str | None, size: int | None,
                      diff_id: str | None, limits: Limits) -> LayerStream:
    """Chain blob digest check → decompression → bomb bounds → diff-id check."""
    compressed = DigestReader(raw, f"{what} blob", digest, size)
    peek = PeekReader(compressed)  # type: ignore[arg-type]
    kind = sniff_compression(peek.head)
    decompressed: IO[bytes]
    if kind == "gzip":
        decompressed = GzipReader(peek, what)  # type: ignore[arg-type,assignment]
    elif kind == "zstd":
        decompressed = ZstdReader(peek, what)  # type: ignore[arg-type,assignment]
    else:
        decompressed = peek  # type: ignore[assignment]
    bounded = BoundedReader(decompressed, compressed, limits, what)
    uncompressed = DigestReader(bounded, f"{what} (uncompressed, diff-id)",  # type: ignore[arg-type]
                                diff_id)
    tar = io.BufferedReader(uncompressed, CHUNK)
    return LayerStream(tar=tar, compressed=compressed, uncompressed=uncompressed,
                       compression=kind)
