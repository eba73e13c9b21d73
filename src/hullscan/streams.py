"""Byte streams that verify and bound what they carry.

A layer blob is read once through a chain of stages that hand each other chunks:
the raw blob is read into a few reused buffers and hashed (and its size checked)
against the manifest's digest, decompressed (gzip or zstd, sniffed from the magic
bytes), hashed again against the config's diff-id — unless it is uncompressed, when
one hash serves both — and bounded against decompression bombs. A blob verified as it
was written (a registry download) is only counted, not hashed again; if it is also
uncompressed and its digest is the diff-id, nothing is left to hash. A blob read only
to be analysed (not copied anywhere) is hashed once: where its diff-id is checked, that
check covers every byte analysed, so the compressed bytes are only counted. Hashing
runs on a worker thread, overlapping the rest. Nothing is buffered beyond a few
chunks, so memory stays flat however large the layer is.
"""

from __future__ import annotations

import hashlib
import io
from collections import deque
from collections.abc import Generator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, Protocol

from hullscan.errors import ImageError
from hullscan.malloc import keep_freed_memory

if TYPE_CHECKING:
    from concurrent.futures import Future

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
#: raw blob bytes per chunk of a layer stream read from a file, or from a connection of
#: its own: fewer, larger reads and hash hand-offs (1 MiB against 256 KiB: 4-9 % less
#: CPU on cold local scans)
READ_CHUNK = 1024 * 1024
#: raw bytes per chunk of a blob another process's download hands over as it arrives
#: (``BlobRef.fed``), and decompressed bytes per chunk: each chunk is read (or
#: inflated), hashed and parsed, and where that download and two layer workers share
#: two cores a ring of 1 MiB chunks falls out of the core's cache; 256 KiB took a
#: quarter less CPU on a 4 GB pull when every pulled blob came so
DOWNLOAD_CHUNK = 256 * 1024
OUT_CHUNK = 256 * 1024


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


class _Source(Protocol):
    """One stage of a layer's byte pipeline: hands out the next chunk, empty at the end.

    A chunk may be a view into a buffer the stage reuses: it stays valid until the
    stage is asked for ``RING - 1`` more chunks, and its consumer is done with it by then.
    """

    def next_chunk(self) -> memoryview | bytes: ...


@dataclass
class _Check:
    """One digest (and size) a stream must match; several checks may share one hash.
    Without a hash object only the size is checked: the digest was verified before
    (``expected`` is then known to be right), or another check vouches for these bytes
    (``expected`` is None: a compressed blob whose diff-id is checked)."""

    what: str
    expected: str | None
    size: int | None
    hasher: Any
    algo: str

    @property
    def digest(self) -> str:
        if self.hasher is None:
            assert self.expected is not None
            return self.expected
        return f"{self.algo}:{self.hasher.hexdigest()}"

    def verify(self, count: int) -> None:
        if self.size is not None and count != self.size:
            raise ImageError(
                f"{self.what}: size {count} does not match the declared "
                f"{self.size} (truncated or tampered)"
            )
        if self.hasher is not None and self.expected and self.digest != self.expected:
            raise ImageError(
                f"{self.what}: digest mismatch: expected {self.expected}, "
                f"got {self.digest} (corrupt or tampered)"
            )


def _checks(specs: list[tuple[str, str | None, int | None]]) -> list[_Check]:
    """A check per (what, digest, size); checks of one algorithm share one hash object
    (an uncompressed layer's blob digest and diff-id are the same bytes: hashed once)."""
    hashers: dict[str, Any] = {}
    out = []
    for what, digest, size in specs:
        algo = parse_digest(digest)[0] if digest else "sha256"
        if algo not in hashers:
            hashers[algo] = hashlib.new(algo)
        out.append(_Check(what, digest, size, hashers[algo], algo))
    return out


def _hashers_of(checks: list[_Check]) -> tuple[Any, ...]:
    """The hash objects the checks need fed, each once (checks verified before have none)."""
    return tuple(dict.fromkeys(c.hasher for c in checks if c.hasher is not None))


def _update(hashers: tuple[Any, ...], data: memoryview | bytes) -> None:
    for h in hashers:
        h.update(data)


#: whether this process's layer streams hash on a thread of their own
_hash_thread = True


def hash_on_a_thread(enabled: bool) -> None:
    """Whether this process's layer streams hash on a thread of their own, overlapping the
    rest of their reading: worth it where a core would otherwise idle. Where every core
    already reads a layer (a pool of as many workers), the thread only contends with the
    other readers and keeps chunks alive longer: a 4 GB pull on 2 cores took 0.4 CPU-s
    less hashing inline."""
    global _hash_thread
    _hash_thread = enabled


class HashPipe:
    """Feeds hash objects on one worker thread, in order: hashlib releases the GIL on
    large buffers, so hashing overlaps reading, inflating and tar parsing. At most
    ``MAX_PENDING`` chunks wait, which bounds the memory held for them."""

    MAX_PENDING = 4

    def __init__(self, threaded: bool = True) -> None:
        # imported when a layer is read, not with the module: a rescan reads none
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(1, thread_name_prefix="hullscan-hash") if threaded else None
        self._pending: deque[Future[None]] = deque()

    def update(self, hashers: tuple[Any, ...], data: memoryview | bytes) -> Future[None] | None:
        if self._pool is None:
            _update(hashers, data)
            return None
        future = self._pool.submit(_update, hashers, data)
        self._pending.append(future)
        while len(self._pending) > self.MAX_PENDING:
            self._pending.popleft().result()
        return future

    def flush(self) -> None:
        while self._pending:
            self._pending.popleft().result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)


class _FileChunks:
    """Reads the raw blob into a ring of reused buffers (no allocation per chunk), hashing
    each chunk as it arrives; a buffer is refilled only once its hash is done."""

    RING = 4

    def __init__(
        self, raw: IO[bytes], checks: list[_Check], pipe: HashPipe, chunk: int = READ_CHUNK
    ) -> None:
        self._raw = raw
        self._checks = checks
        self._hashers = _hashers_of(checks)
        self._pipe = pipe
        self._bufs = [bytearray(chunk) for _ in range(self.RING)]
        self._futures: list[Future[None] | None] = [None] * self.RING
        self._next = self._last = 0
        self.count = 0

    def hash_from(self, first: memoryview, checks: list[_Check]) -> None:
        """Hash ``first`` (read with ``hash_it=False``), and every chunk after it, with the
        hash objects ``checks`` need."""
        self._hashers = _hashers_of(checks)
        if self._hashers and first:
            self._futures[self._last] = self._pipe.update(self._hashers, first)

    def next_chunk(self, hash_it: bool = True) -> memoryview:
        i = self._last = self._next
        self._next = (i + 1) % self.RING
        if (pending := self._futures[i]) is not None:
            pending.result()
        view = memoryview(self._bufs[i])
        n = self._raw.readinto(view) or 0  # type: ignore[attr-defined]
        if not n:
            return view[:0]
        self.count += n
        for c in self._checks:
            if c.size is not None and self.count > c.size:
                raise ImageError(
                    f"{c.what}: larger than the {c.size} bytes its descriptor declares"
                )
        view = view[:n]
        if self._hashers and hash_it:
            self._futures[i] = self._pipe.update(self._hashers, view)
        return view


class _Hashed:
    """Hashes the chunks of a stage that hands out fresh bytes (the decompressors)."""

    def __init__(self, src: _Source, checks: list[_Check], pipe: HashPipe) -> None:
        self._src = src
        self._hashers = _hashers_of(checks)
        self._pipe = pipe

    def next_chunk(self) -> memoryview | bytes:
        data = self._src.next_chunk()
        if data:
            self._pipe.update(self._hashers, data)
        return data


class _AsRaw(io.RawIOBase):
    """A stage as a raw file, for readers that want one (zstandard's stream reader)."""

    def __init__(self, src: _Source) -> None:
        self._src = src
        self._rest: memoryview | bytes = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if not self._rest:
            self._rest = self._src.next_chunk()
        n = min(len(b), len(self._rest))
        b[:n] = self._rest[:n]
        self._rest = self._rest[n:]
        return n


class _Gunzip:
    """Streaming gzip (multi-member) that refuses truncated input."""

    def __init__(self, src: _Source, what: str) -> None:
        self._src = src
        self._what = what
        self._d = zlib.decompressobj(31)
        #: compressed bytes not yet given to a decompressor
        self._input: memoryview | bytes = b""
        self._finished = False

    def next_chunk(self) -> memoryview | bytes:
        while not self._finished:
            out = self._fill()
            if out:
                return out
        return b""

    def _fill(self) -> bytes:
        d = self._d
        if not self._input:
            self._input = self._src.next_chunk()
            if not self._input:
                if not d.eof:
                    raise ImageError(f"{self._what}: truncated gzip stream")
                self._finished = True
                return b""
        if d.eof:
            # between members: another member follows (concatenated members are one
            # stream, e.g. eStargz layers), or zero padding up to the end
            rest = bytes(self._input)
            if not rest.strip(b"\0"):
                self._input = b""
                return b""
            if len(rest) < len(GZIP_MAGIC):
                more = self._src.next_chunk()
                if more:
                    self._input = rest + bytes(more)
                    return b""
            if not rest.startswith(GZIP_MAGIC):
                raise ImageError(f"{self._what}: garbage after the gzip stream")
            self._input = rest
            self._d = d = zlib.decompressobj(31)
        try:
            out = d.decompress(self._input, OUT_CHUNK)
        except _INFLATE_ERROR as e:
            raise ImageError(f"{self._what}: corrupt gzip stream ({e})") from None
        self._input = d.unused_data if d.eof else d.unconsumed_tail
        return out


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
            header = (
                (0 if single_segment else 1)
                + (0, 1, 2, 4)[fhd & 3]
                + ((1 if single_segment else 0), 2, 4, 8)[fhd >> 6]
            )
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
            self._pending += data[pos : pos + take]
            pos += take
            if len(self._pending) == self._need:
                got, self._pending = self._pending, b""
                self._need, self._at_boundary = self._frames.send(got)
        return n


class _Unzstd:
    """Streaming zstd that refuses truncated input."""

    def __init__(self, src: _Source, what: str) -> None:
        import zstandard  # imported with the first zstd layer: most images have none

        self._what = what
        self._error = zstandard.ZstdError
        self._check = _ZstdFrameCheck(_AsRaw(src), what)  # type: ignore[arg-type]
        self._r = zstandard.ZstdDecompressor().stream_reader(self._check, read_across_frames=True)  # type: ignore[arg-type]

    def next_chunk(self) -> bytes:
        try:
            data: bytes = self._r.read(OUT_CHUNK)
        except self._error as e:
            raise ImageError(f"{self._what}: corrupt or truncated zstd stream ({e})") from None
        if not data and not self._check.complete:
            raise ImageError(f"{self._what}: truncated zstd stream")
        return data


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


class LayerReader(io.RawIOBase):
    """The uncompressed layer as a file that only moves forward, for ``tarfile``'s
    random-access mode: a header is read where it is, and the data of a member nobody
    wants is passed over chunk by chunk (still hashed, never copied), instead of being
    read through ``tarfile``'s stream buffer 16 KiB at a time. Bounds the total size and
    the decompression ratio (bombs), and any single read (a hostile header size)."""

    #: the most one ``read`` may ask for: tar headers and PAX/GNU records are far smaller;
    #: member data is read through ``tarfile``'s file objects in pieces
    MAX_READ = 64 * 1024**2

    def __init__(
        self, src: _Source, raw: _FileChunks, limits: Limits, what: str, compressed: bool
    ) -> None:
        self._src = src
        self._raw = raw
        self._limits = limits
        self._what = what
        self._compressed = compressed
        self._chunk: memoryview | bytes = b""
        self._at = 0  # position in the chunk
        self._base = 0  # stream offset of the chunk's start
        self.count = 0  # bytes handed out by the source so far

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._base + self._at

    def _advance(self) -> bool:
        """Move to the next chunk; False at the end of the stream."""
        self._base += len(self._chunk)
        self._chunk = self._src.next_chunk()
        self._at = 0
        n = len(self._chunk)
        if not n:
            return False
        self.count += n
        lim = self._limits
        if self.count > lim.max_layer_bytes:
            raise ImageError(
                f"{self._what}: more than {lim.max_layer_bytes} bytes uncompressed "
                "(limit reached; a decompression bomb?)"
            )
        if (
            self._compressed
            and self.count > lim.ratio_after
            and self.count > lim.max_ratio * max(self._raw.count, 1)
        ):
            raise ImageError(
                f"{self._what}: decompresses more than {lim.max_ratio}:1 (a decompression bomb?)"
            )
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            size = self.MAX_READ + 1
        if size > self.MAX_READ:
            raise ImageError(
                f"{self._what}: a tar record of more than {self.MAX_READ} bytes "
                "(corrupt or hostile)"
            )
        at = self._at
        end = at + size
        if end <= len(self._chunk):
            self._at = end
            return bytes(self._chunk[at:end])
        parts = [bytes(self._chunk[at:])]
        need = size - len(parts[0])
        self._at = len(self._chunk)
        while need and self._advance():
            piece = self._chunk[:need]
            parts.append(bytes(piece))
            self._at = len(piece)
            need -= len(piece)
        return b"".join(parts)

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def read_upto(self, size: int) -> memoryview | bytes:
        """At most ``size`` bytes, as they lie in the current chunk (no join, no copy);
        empty only at the end of the stream."""
        if self._at >= len(self._chunk) and not self._advance():
            return b""
        at = self._at
        piece = self._chunk[at : at + size]
        self._at = at + len(piece)
        return piece

    def peek_block(self, size: int) -> bytes:
        """The next ``size`` bytes (fewer at the end), without moving."""
        at = self._at
        if at + size <= len(self._chunk):
            return bytes(self._chunk[at : at + size])
        # a block across two chunks: carry the tail into the next one (once per chunk)
        tail = bytes(self._chunk[at:])
        start = self._base + at
        if not self._advance():
            self._chunk, self._base, self._at = tail, start, 0
            return tail
        self._chunk = tail + bytes(self._chunk)
        self._base, self._at = start, 0
        return bytes(self._chunk[:size])

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            offset += self.tell()
        elif whence != io.SEEK_SET:
            raise io.UnsupportedOperation("a layer stream cannot seek from its end")
        skip = offset - self.tell()
        if skip < 0:
            raise io.UnsupportedOperation("a layer stream cannot seek backwards")
        while skip > len(self._chunk) - self._at:
            skip -= len(self._chunk) - self._at
            self._at = len(self._chunk)
            if not self._advance():
                return self.tell()  # past the end: the next read comes back empty
        self._at += skip
        return self.tell()

    def drain(self) -> None:
        self._at = len(self._chunk)
        while self._advance():
            self._at = len(self._chunk)


@dataclass
class LayerStream:
    """A decompressed, verified, bounded view of a layer blob."""

    tar: LayerReader
    compression: str
    _raw: _FileChunks
    _blob: _Check
    _diff: _Check
    _pipe: HashPipe

    def verify(self) -> None:
        """Read to the end of the stream and check the diff-id, then the blob digest."""
        self.tar.drain()
        self._pipe.flush()
        self._diff.verify(self.tar.count)
        self._blob.verify(self._raw.count)

    @property
    def blob_digest(self) -> str:
        """The raw blob's digest (after ``verify``: the whole blob's)."""
        return self._blob.digest

    @property
    def blob_size(self) -> int:
        """Raw blob bytes read so far (after ``verify``: all of them)."""
        return self._raw.count

    def close(self) -> None:
        self._pipe.close()


def open_layer_stream(
    raw: IO[bytes],
    what: str,
    digest: str | None,
    size: int | None,
    diff_id: str | None,
    limits: Limits,
    threaded: bool | None = None,
    *,
    verified: bool = False,
    check_diff_id: bool = True,
    check_blob: bool = True,
    chunk: int = READ_CHUNK,
) -> LayerStream:
    """Chain blob digest check → decompression → bomb bounds → diff-id check.

    The compression is sniffed from the first bytes; for an uncompressed layer the blob
    and the diff-id are one hash of one pass. ``verified``: the blob's bytes were hashed
    against ``digest`` as they were written (a download into the blob cache), so they
    are counted against ``size`` but not hashed again; an uncompressed layer whose
    ``digest`` is its diff-id is then not hashed at all (that check was the diff-id's).
    ``check_diff_id=False``: a compressed layer's uncompressed bytes are not hashed, and
    its diff-id is taken on trust (``registries.verify_diff_ids``); the blob digest is
    still checked, and is then what the layer cache must key on (``cache_id``).
    ``check_blob=False``: the blob's bytes are read once and dropped (an analysis, not a
    copy), so where a compressed layer's diff-id is checked, that check alone vouches for
    every byte read; the compressed bytes are counted against ``size``, not hashed.
    ``chunk``: raw bytes a read (``DOWNLOAD_CHUNK`` for a blob another process hands over).
    ``threaded``: hash on a thread of its own (None: as ``hash_on_a_thread`` says)."""
    if verified and digest is None:
        raise ValueError("a verified blob needs the digest it was verified against")
    keep_freed_memory()
    blob_spec = (f"{what} blob", digest, size)
    diff_spec = (f"{what} (uncompressed, diff-id)", diff_id, None)
    checks = _checks([blob_spec, diff_spec])
    if verified:
        checks[0].hasher = None
    threaded = _hash_thread if threaded is None else threaded
    source = _FileChunks(raw, checks[:1], HashPipe(threaded), chunk)
    # the first chunk is read before the compression is known, which decides what hashes
    # it: it is hashed (with every later one) once that is settled
    first = source.next_chunk(hash_it=False)
    kind = sniff_compression(bytes(first[:8]))
    pipe = source._pipe
    stage: _Source
    if kind == "none":
        blob, diff = checks
        if verified and digest == diff_id:
            # these bytes hashed to ``digest`` on their way into the cache, and they are
            # the layer itself: that was the diff-id's check
            diff.hasher = None
        elif blob.hasher is not None and blob.algo == diff.algo:
            diff.hasher = blob.hasher  # one hash, both checks
        hashed = [blob, diff]
        stage = _Prepend(first, source)
    else:
        blob, diff = checks[0], _checks([diff_spec])[0]
        inflate = _Gunzip if kind == "gzip" else _Unzstd
        stage = inflate(_Prepend(first, source), what)
        if check_diff_id or diff_id is None:
            stage = _Hashed(stage, [diff], pipe)
            if not check_blob and diff_id is not None:
                # content that matches the diff-id is the layer, however it was packed:
                # the blob is only counted against its size
                blob = _Check(blob.what, None, blob.size, None, blob.algo)
                source._checks = [blob]
        else:
            diff.hasher = None  # taken on trust: only its (unset) size is checked
        hashed = [blob]
    source.hash_from(first, hashed)
    reader = LayerReader(stage, source, limits, what, compressed=kind != "none")
    return LayerStream(
        tar=reader, compression=kind, _raw=source, _blob=blob, _diff=diff, _pipe=pipe
    )


class _Prepend:
    """A chunk already taken from a stage, then the rest of the stage."""

    def __init__(self, first: memoryview | bytes, src: _Source) -> None:
        self._first: memoryview | bytes | None = first
        self._src = src

    def next_chunk(self) -> memoryview | bytes:
        if self._first is not None:
            first, self._first = self._first, None
            return first
        return self._src.next_chunk()
