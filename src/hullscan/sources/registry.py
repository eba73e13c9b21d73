"""Pull from an OCI Distribution registry (``registry:HOST[:PORT]/REPO[:TAG|@DIGEST]``).

Every blob is downloaded into a digest-keyed cache (``<cache>/blobs/sha256/<hex>``):
hashed while it streams to a ``.partial`` file, bounded by its descriptor's size, and
renamed into place only when the digest matches. The cache is then an ordinary
``DirStore``, so the OCI code builds the ``Image``. A layer blob found in the cache is
checked again when it is streamed; one this pull downloaded is not hashed a second time
(``TarLayerSource.verified``), only its diff-id is, and not even that when the blob is
uncompressed (its digest is then the diff-id). Blobs already in the cache are never
downloaded again. A layer blob that is not kept (``registries.keep_layers: false``) is
downloaded by the worker analysing it (``registry_fetch``), which hashes it once: its
diff-id where diff-ids are checked, its digest where they are taken on trust.

Pulls of a host with ``mirrors`` try each mirror first and fall back to the host.
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import hashlib
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from pathlib import Path
from typing import Any, TypeVar

import httpx

from hullscan.atomicfile import write_error
from hullscan.blob import BlobRef, ReaderGone
from hullscan.errors import ImageError, RegistryError, shown
from hullscan.layers import LayerSource, TarLayerSource
from hullscan.references import Reference, mirrors_for, parse_reference
from hullscan.sources.interface import (
    INDEX_TYPES,
    MANIFEST_TYPES,
    Image,
    Platform,
    check_digest,
    load_json,
    sha256_digest,
)
from hullscan.sources.oci import blob_name, image_from_manifest, select_manifest
from hullscan.sources.registry_client import ACCEPT, MIN_BLOB_RATE, RegistryClient, _timed
from hullscan.sources.registry_fetch import RemoteBlob
from hullscan.sources.registry_settings import RegistrySettings
from hullscan.sources.store import DirStore, Store
from hullscan.streams import Limits, parse_digest

SCHEMA1_TYPES = (
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
)
# blobs downloaded at once (Docker's max-concurrent-downloads default)
DOWNLOAD_WORKERS = 3
# a piped download's FIFO holds this much (Linux's F_SETPIPE_SZ; the default is 64 KiB)
_T = TypeVar("_T")
F_SETPIPE_SZ = 1031
PIPE_SIZE = 1024 * 1024


class BlobCache:
    """``<root>/blobs/<algo>/<hex>``: complete, verified blobs only."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.store = DirStore(str(root))

    def path(self, digest: str) -> Path:
        return self.root / blob_name(digest)

    def has(self, digest: str) -> bool:
        return self.store.exists(blob_name(digest))

    def put(
        self,
        digest: str,
        chunks: Iterator[bytes],
        limit: int,
        exact: int | None,
        what: str,
        on_start: Callable[[str], None] | None = None,
    ) -> None:
        """Write through a ``.partial`` file; renamed into place only if it verifies.
        ``on_start`` is given the ``.partial`` file's path once it exists (before the
        first byte): a reader may follow it (``blob.ArrivingReader``); it is unlinked if
        the download fails."""
        _algo, hexpart = parse_digest(digest)
        target = self.path(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, partial = tempfile.mkstemp(prefix=f"{hexpart}.", suffix=PARTIAL, dir=target.parent)
        try:
            _hold(fd)  # while the download lives: ``cache verify`` leaves it alone
            if on_start is not None:
                on_start(partial)
            with os.fdopen(fd, "wb") as f:
                receive(digest, chunks, limit, exact, what, f.write)
            os.replace(partial, target)
        except OSError as e:
            with suppress(FileNotFoundError):
                os.unlink(partial)
            raise write_error(target, e) from None
        except BaseException:
            with suppress(FileNotFoundError):
                os.unlink(partial)
            raise

    def drop_if_damaged(self, digest: str) -> bool:
        """Re-hash the cached blob ``digest``; if its content is not that digest (a disk
        error, a hand edit), remove it and say so: the next ``ensure`` downloads it again.
        False when it is intact or not cached. Called only after a read of it failed:
        a good blob is never hashed twice on the way to a scan."""
        path = self.path(digest)
        try:
            if _content_matches(path, parse_digest(digest)[0]):
                return False
        except FileNotFoundError:
            return False
        path.unlink(missing_ok=True)
        return True

    def pipes(self) -> tuple[Path, int]:
        """A new directory for the FIFOs of one pull's piped downloads, and a descriptor
        holding it while the pull lives (``verify`` drops those a killed scan left)."""
        parent = self.root / "tmp"
        parent.mkdir(parents=True, exist_ok=True)
        path = Path(tempfile.mkdtemp(prefix=PIPES, dir=parent))
        fd = os.open(path, os.O_RDONLY)
        _hold(fd)
        return path, fd

    def verify(self) -> tuple[int, list[str]]:
        """Re-hash every blob and drop those whose content is not their digest, and the
        ``.partial`` downloads and FIFO directories no live process holds (left by a
        killed pull); (blobs checked, paths dropped)."""
        checked, dropped = 0, []
        for algo_dir in sorted(p for p in (self.root / "blobs").glob("*") if p.is_dir()):
            for path in sorted(algo_dir.iterdir()):
                if path.name.endswith(PARTIAL):
                    if not _held(path):
                        path.unlink(missing_ok=True)
                        dropped.append(str(path))
                    continue
                checked += 1
                if not _content_matches(path, algo_dir.name):
                    path.unlink(missing_ok=True)
                    dropped.append(str(path))
        for pipes in sorted((self.root / "tmp").glob(f"{PIPES}*")):
            if not _held(pipes):
                shutil.rmtree(pipes, ignore_errors=True)
                dropped.append(str(pipes))
        return checked, dropped


PARTIAL = ".partial"
PIPES = "pipes-"


def _content_matches(path: Path, algo: str) -> bool:
    """Whether the file at ``path`` hashes (with ``algo``) to its own name."""
    if algo not in ("sha256", "sha512"):
        return False
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest() == path.name


def _hold(fd: int) -> None:
    with suppress(ImportError, OSError):
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_SH)


def _held(path: Path) -> bool:
    """Whether a live download still writes ``path`` (it holds a lock on it)."""
    try:
        import fcntl
    except ImportError:
        return True
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def receive(
    digest: str,
    chunks: Iterable[bytes],
    limit: int,
    exact: int | None,
    what: str,
    write: Callable[[bytes], object],
    *,
    hash_here: bool = True,
) -> None:
    """Hand ``chunks`` to ``write`` as they come, and check that they are ``digest``: no
    more than ``limit`` bytes, exactly ``exact`` when known. ``hash_here=False``: only
    their count is checked here; their reader checks the digest (a piped layer)."""
    algo, _hex = parse_digest(digest)
    hasher = hashlib.new(algo) if hash_here else None
    count = 0
    for chunk in chunks:
        count += len(chunk)
        if count > limit:
            raise ImageError(f"{what}: more than the {limit} bytes expected")
        if hasher is not None:
            hasher.update(chunk)
        write(chunk)
    if exact is not None and count != exact:
        raise ImageError(f"{what}: {count} bytes, but the descriptor says {exact}")
    if hasher is None:
        return
    actual = f"{algo}:{hasher.hexdigest()}"
    if actual != digest:
        raise ImageError(
            f"{what}: digest mismatch: expected {digest}, got {actual} (corrupt or tampered)"
        )


class _Closing(Exception):
    """The pull is being closed: a piped download stops."""


class RegistryStore(Store):
    """The cache as a ``Store``, fetching missing members from the registry on demand
    (needed while ``select_manifest`` walks an index)."""

    def __init__(self, client: RegistryClient, cache: BlobCache, limits: Limits) -> None:
        self.client = client
        self.cache = cache
        self.limits = limits
        self.label = client.ref.name
        self.manifest_digests: set[str] = set()
        self.sizes: dict[str, int] = {}

    def note_index(self, index: dict[str, Any]) -> None:
        for d in index.get("manifests") or []:
            if isinstance(d, dict) and isinstance(d.get("digest"), str):
                self.manifest_digests.add(d["digest"])

    def note_descriptor(self, desc: dict[str, Any]) -> None:
        digest, size = desc.get("digest"), desc.get("size")
        if isinstance(digest, str) and isinstance(size, int) and not isinstance(size, bool):
            self.sizes[digest] = size

    def ensure(self, digest: str, on_start: Callable[[str], None] | None = None) -> None:
        """Have the blob in the cache, downloading it if missing (``on_start``: see
        ``BlobCache.put``; called again for each new attempt)."""
        parse_digest(digest)
        if self.cache.has(digest):
            return
        size = self.sizes.get(digest)
        is_manifest = digest in self.manifest_digests
        if size is None and not is_manifest:
            raise ImageError(f"{self.label}: blob {digest} has no size in its descriptor")
        if is_manifest:
            limit = (
                min(size, self.limits.max_json_bytes)
                if size is not None
                else self.limits.max_json_bytes
            )
            path, accept = f"manifests/{digest}", ACCEPT
        else:
            assert size is not None
            if size < 0:
                raise ImageError(f"{self.label}: blob {digest} has a negative size")
            limit, path, accept = size, f"blobs/{digest}", None
        what = f"{self.label} {'manifest' if is_manifest else 'blob'} {digest}"
        timeout = self.client.settings.timeout
        attempts = self.client.settings.retries + 1
        for attempt in range(attempts):
            # a manifest must arrive within the timeout; a blob is bounded by its size and
            # must keep moving
            deadline = time.monotonic() + timeout if is_manifest else None
            try:
                with self.client.get(path, accept) as resp:
                    chunks = _timed(
                        resp.iter_bytes(),
                        deadline,
                        what,
                        timeout,
                        None if is_manifest else MIN_BLOB_RATE,
                    )
                    self.cache.put(digest, chunks, limit, size, what, on_start)
                break
            except RegistryError as e:
                # the connection broke mid-body: start the blob again (nothing was kept)
                if not e.mid_body or attempt == attempts - 1:
                    raise
                self.client._wait(attempt, None)

    def pipe(self, digest: str, fifo: str, closing: threading.Event) -> bool:
        """Send layer blob ``digest`` through ``fifo`` to its reader, checking its size on
        the way and keeping none of it. The reader checks the content: it hashes what it
        reads once, the layer's diff-id where that is checked (which vouches for every
        byte, however they were packed), else the blob's digest. False when the blob must
        be downloaded into the cache instead (the connection broke mid-body), or ``closing`` was set
        (the pull is closing, or the reader failed); the reader sees its stream end
        short either way."""
        size = self.sizes.get(digest)
        if size is None or size < 0:
            raise ImageError(f"{self.label}: blob {digest} has no valid size in its descriptor")
        fd = _open_writer(fifo, closing)
        if fd is None:
            return False
        what = f"{self.label} blob {digest}"
        timeout = self.client.settings.timeout

        def write(chunk: bytes) -> None:
            if closing.is_set():
                raise _Closing
            try:
                out.write(chunk)
            except BrokenPipeError:
                raise ReaderGone(f"{what}: its reader stopped before the end") from None

        with open(fd, "wb") as out:
            try:
                with self.client.get(f"blobs/{digest}") as resp:
                    receive(
                        digest,
                        _timed(resp.iter_bytes(), None, what, timeout, MIN_BLOB_RATE),
                        size,
                        size,
                        what,
                        write,
                        hash_here=False,
                    )
            except _Closing:
                return False
            except RegistryError as e:
                if not e.mid_body or self.client.settings.retries == 0:
                    raise
                return False
        return True

    def exists(self, name: str) -> bool:
        return self.cache.store.exists(name)

    def blob(self, name: str) -> BlobRef:
        parts = name.split("/")
        if len(parts) == 3 and parts[0] == "blobs":
            self.ensure(f"{parts[1]}:{parts[2]}")
        return self.cache.store.blob(name)

    def read(self, name: str, limit: int) -> bytes:
        data = super().read(name, limit)
        parts = name.split("/")
        if len(parts) == 3 and f"{parts[1]}:{parts[2]}" in self.manifest_digests:
            try:
                doc = load_json(data, f"{self.label} manifest", self.limits)
            except ImageError:
                return data
            if isinstance(doc.get("manifests"), list):
                self.note_index(doc)
        return data


def _fetch_all(store: RegistryStore, digests: list[str]) -> None:
    """Download the missing blobs, ``DOWNLOAD_WORKERS`` at a time (as Docker does); the
    first failure stops the rest (a blob half written is never kept)."""
    missing = [d for d in dict.fromkeys(digests) if not store.cache.has(d)]
    if len(missing) < 2:
        for digest in missing:
            store.ensure(digest)
        return
    with ThreadPoolExecutor(
        max_workers=min(DOWNLOAD_WORKERS, len(missing)), thread_name_prefix="hullscan-pull"
    ) as pool:
        futures = [pool.submit(store.ensure, digest) for digest in missing]
        try:
            for future in futures:
                future.result()
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def _check_manifest_type(media: str | None, doc: dict[str, Any], what: str) -> None:
    if media in SCHEMA1_TYPES or doc.get("schemaVersion") == 1:
        raise ImageError(
            f"{what}: a Docker schema 1 manifest (deprecated, unverifiable); "
            "hullscan needs schema 2 or OCI (re-push the image with a current "
            "client)"
        )


def open_registry(
    ref: str,
    platform: Platform | None,
    limits: Limits,
    cache_dir: Path,
    settings: RegistrySettings | None = None,
    *,
    transport: httpx.BaseTransport | None = None,
    event_hooks: dict[str, list[Any]] | None = None,
    defer_layers: bool = False,
) -> Image:
    """Pull ``ref`` into ``cache_dir`` and open it like an OCI layout. With mirrors for
    its registry, each is tried first; a mirror that lacks the image, fails (5xx) or
    cannot be reached hands over to the next, and finally to the registry itself. Every
    digest is verified the same way whoever serves it; the image keeps its own name.

    ``defer_layers``: return once the manifest and config are in; the layer blobs are
    downloaded in the background when asked for (``Image.pending``), so the first layers
    can be analyzed while the last ones arrive, and none is fetched when every layer's
    analysis is cached. Not with mirrors: a mirror failing mid-blob
    hands the whole pull to the next one."""
    settings = settings or RegistrySettings()
    parsed = parse_reference(ref, settings.default_registry)
    cache = BlobCache(Path(cache_dir))
    mirrors = mirrors_for(parsed.host, settings.mirrors)
    for mirror in mirrors:
        try:
            return _pull(
                dataclasses.replace(parsed, host=mirror),
                parsed,
                ref,
                platform,
                limits,
                cache,
                settings,
                transport,
                event_hooks,
                False,
            )
        except RegistryError as e:
            if not e.fallback:
                raise
    return _pull(
        parsed,
        parsed,
        ref,
        platform,
        limits,
        cache,
        settings,
        transport,
        event_hooks,
        defer_layers and not mirrors,
    )


def _pull(
    source: Reference,
    parsed: Reference,
    ref: str,
    platform: Platform | None,
    limits: Limits,
    cache: BlobCache,
    settings: RegistrySettings,
    transport: httpx.BaseTransport | None,
    event_hooks: dict[str, list[Any]] | None,
    defer_layers: bool,
) -> Image:
    """Pull ``parsed`` from ``source`` (itself, or one of its mirrors)."""
    client = RegistryClient(source, settings, transport=transport, event_hooks=event_hooks)
    downloads: _Downloads | None = None
    try:
        store = RegistryStore(client, cache, limits)
        reference = source.digest or source.tag
        assert reference is not None
        what = f"{source}"
        found = client.fetch_manifest(reference, limits.max_json_bytes, f"{what} manifest")
        media, data, header_digest = found.media_type, found.data, found.header_digest
        if media in SCHEMA1_TYPES:
            raise ImageError(
                f"{what}: a Docker schema 1 manifest (deprecated, "
                "unverifiable); hullscan needs schema 2 or OCI"
            )
        digest = sha256_digest(data)
        if source.digest:
            check_digest(data, source.digest, f"{what} manifest")
            digest = source.digest
        if header_digest and header_digest.startswith("sha256:") and header_digest != digest:
            raise ImageError(
                f"{what}: manifest digest mismatch: the registry says "
                f"{shown(header_digest)}, the content is {digest}"
            )
        doc = load_json(data, f"{what} manifest", limits)
        _check_manifest_type(media, doc, what)
        media = doc.get("mediaType") or media
        if not cache.has(digest):
            cache.put(digest, iter([data]), len(data), len(data), f"{what} manifest")
        desc: dict[str, Any] = {"mediaType": media, "digest": digest, "size": len(data)}
        if media in INDEX_TYPES or (media not in MANIFEST_TYPES and "manifests" in doc):
            store.note_index(doc)
            desc, manifest = _repairing(
                store,
                lambda: select_manifest(store, doc, None, platform, limits),
                store.manifest_digests,
            )
        elif media in MANIFEST_TYPES or "layers" in doc:
            manifest = doc
        else:
            raise ImageError(f"{what}: unsupported manifest media type {shown(media)!r}")
        cfg = manifest.get("config")
        layers = manifest.get("layers")
        if not isinstance(cfg, dict) or not isinstance(layers, list):
            raise ImageError(f"{what}: manifest without a config or layers list")
        for d in [cfg, *layers]:
            if not isinstance(d, dict) or not isinstance(d.get("digest"), str):
                raise ImageError(f"{what}: manifest has a descriptor without a digest")
            store.note_descriptor(d)
        layer_digests = [str(d["digest"]) for d in layers]
        tags = (f"{parsed.name}:{parsed.tag}",) if parsed.tag else ()
        repair = functools.partial(
            _repair_layer,
            source,
            settings,
            transport,
            event_hooks,
            limits,
            cache,
            dict(store.sizes),
            layer_digests,
        )
        if not defer_layers:
            _fetch_all(store, [cfg["digest"], *layer_digests])
            image = _repairing(
                store,
                lambda: image_from_manifest(
                    cache.store,
                    ref,
                    "registry",
                    desc,
                    manifest,
                    limits,
                    tags,
                    reference_digest=digest,
                ),
                [cfg["digest"]],
            )
            _set_checks(image, frozenset(), settings.verify_diff_ids)
            image.repair = repair
            return image
        store.ensure(cfg["digest"])
        # a transport or hooks of the caller's cannot go to the readers: blobs are piped
        readers_fetch = transport is None and not event_hooks
        downloads = _Downloads(store, layer_digests, client, readers_fetch)
        image = _repairing(
            store,
            lambda: image_from_manifest(
                _ArrivingStore(cache, store.sizes),
                ref,
                "registry",
                desc,
                manifest,
                limits,
                tags,
                reference_digest=digest,
            ),
            [cfg["digest"]],
        )
        _set_checks(image, downloads.fresh, settings.verify_diff_ids)
        image.repair = repair
        if downloads.fresh:
            image.pending = downloads
        else:  # nothing to download: no thread was started, nothing to wait for
            downloads.close()
        return image
    except BaseException:
        if downloads is not None:
            downloads.close()
        raise
    finally:
        if downloads is None:
            client.close()


def _repairing(store: RegistryStore, make: Callable[[], _T], digests: Iterable[str]) -> _T:
    """``make()``; if it fails and one of the cached blobs ``digests`` it read turns out
    damaged (its content no longer its digest), that blob is dropped, downloaded again,
    and ``make`` tried once more. Any other failure stands."""
    try:
        return make()
    except ImageError:
        damaged = [d for d in list(digests) if store.cache.drop_if_damaged(d)]
        if not damaged:
            raise
    for d in damaged:
        store.ensure(d)
    return make()


def _repair_layer(
    source: Reference,
    settings: RegistrySettings,
    transport: httpx.BaseTransport | None,
    event_hooks: dict[str, list[Any]] | None,
    limits: Limits,
    cache: BlobCache,
    sizes: dict[str, int],
    digests: list[str],
    index: int,
) -> bool:
    """``Image.repair``: drop layer ``index``'s blob if the cache holds it damaged, and
    download it again on a connection of its own (the pull's may be closed by now)."""
    digest = digests[index]
    if not cache.drop_if_damaged(digest):
        return False
    client = RegistryClient(source, settings, transport=transport, event_hooks=event_hooks)
    try:
        store = RegistryStore(client, cache, limits)
        store.sizes.update(sizes)
        store.ensure(digest)
    finally:
        client.close()
    return True


class _Downloads:
    """The layer blobs missing from the cache, downloaded ``DOWNLOAD_WORKERS`` at a time,
    largest first, once ``start`` is called (or a layer is waited for); each can be waited
    for on its own. Largest first as the pipeline starts layers (``_largest_first``): the
    largest layer is the longest to analyze, and must not arrive last. Owns the client
    until closed.

    Nothing of a blob started with ``keep=False`` is written to disk: writing gigabytes
    into the cache only to read them once costs more CPU than receiving them; the
    layer's analysis is what the cache keeps. Its reader (a worker analyzing the
    layer) downloads it itself (``registry_fetch.RemoteBlob``), which spares a copy of
    every byte between processes; with a transport or hooks of the caller's, which
    cannot go to another process, this pull sends it through a FIFO instead. Either
    way the reader checks it. A download that breaks mid-body is done again into the
    cache (the reader's stream ends with ``BlobWithdrawn``, and the pipeline reads the
    layer again from there: ``refetch``)."""

    def __init__(
        self,
        store: RegistryStore,
        digests: list[str],
        client: RegistryClient,
        readers_fetch: bool = False,
    ) -> None:
        self._store = store
        self._digests = digests
        self._client = client
        #: a blob that is not kept is downloaded by its reader (``RemoteBlob``), not piped
        #: to it: False where the client's transport or hooks cannot go to another process
        self._readers_fetch = readers_fetch
        #: the blobs their readers download themselves
        self._remote: set[str] = set()
        #: the blobs this pull downloads (and so verifies on their way in)
        self.fresh = frozenset(d for d in digests if not store.cache.has(d))
        self._pool: ThreadPoolExecutor | None = None
        self._futures: dict[str, Future[None]] = {}
        #: what each download's reader follows now (its latest attempt): a ``.partial``
        #: file, or a FIFO (True); and a condition notified when one starts or a
        #: download ends
        self._partials: dict[str, tuple[str, bool]] = {}
        self._changed = threading.Condition()
        self._lock = threading.Lock()
        self._pipes: tuple[Path, int] | None = None
        #: set to stop a piped download: the pull closes, or its reader failed
        self._stops: dict[str, threading.Event] = {}

    def start(self, indices: Sequence[int] | None = None, keep: bool = True) -> None:
        wanted = self._digests if indices is None else [self._digests[i] for i in indices]
        missing = sorted(
            (d for d in dict.fromkeys(wanted) if d in self.fresh),
            key=lambda d: -self._store.sizes.get(d, 0),
        )  # stable: ties in order
        for digest in missing:
            # a blob two layers share has two readers: a pipe (or one reader) feeds one
            keep_it = keep or wanted.count(digest) > 1
            if not keep_it and self._readers_fetch:
                self._remote.add(digest)
            else:
                self._submit(digest, keep_it)

    def _submit(self, digest: str, keep: bool) -> Future[None] | None:
        with self._lock:
            if digest not in self.fresh or digest in self._futures:
                return self._futures.get(digest)
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=DOWNLOAD_WORKERS, thread_name_prefix="hullscan-pull"
                )
            if not keep and self._pipes is None:
                self._pipes = self._store.cache.pipes()
            self._stops[digest] = threading.Event()
            future = self._pool.submit(self._download, digest, keep)
            self._futures[digest] = future
            return future

    def _download(self, digest: str, keep: bool) -> None:
        def started(partial: str, piped: bool = False) -> None:
            with self._changed:
                self._partials[digest] = (partial, piped)
                self._changed.notify_all()

        try:
            if not keep:
                assert self._pipes is not None
                fifo = str(self._pipes[0] / digest.replace(":", "-"))
                os.mkfifo(fifo, 0o600)
                started(fifo, True)
                try:
                    piped = self._store.pipe(digest, fifo, self._stops[digest])
                finally:  # a reader still waiting for this download gives up on it
                    os.unlink(fifo)
                if piped or self._stops[digest].is_set():
                    return
            self._store.ensure(digest, started)
        finally:
            with self._changed:
                self._changed.notify_all()

    def wait(self, index: int) -> None:
        digest = self._digests[index]
        if digest in self._remote:
            return  # its reader downloaded it, and checked it
        future = self._submit(digest, True)
        if future is not None:
            future.result()

    def refetch(self, index: int) -> None:
        self._remote.discard(self._digests[index])
        self.wait(index)

    def streaming(self, index: int, source: LayerSource) -> LayerSource:
        """``source`` reading its blob as the download writes or sends it: returns once
        the download has begun (or ended: then ``source`` as it is, or its error)."""
        digest = self._digests[index]
        if digest in self._remote and isinstance(source, TarLayerSource):
            # not hashed on its way: the reader checks it (``RegistryStore.pipe``)
            remote = RemoteBlob.of(self._client, digest, self._store.sizes[digest])
            blob = dataclasses.replace(source.blob, remote=remote)
            return dataclasses.replace(source, blob=blob, verified=False)
        future = self._submit(digest, True)
        if future is None or not isinstance(source, TarLayerSource):
            self.wait(index)
            return source
        with self._changed:
            while digest not in self._partials and not future.done():
                self._changed.wait()
            partial = self._partials.get(digest)
        if future.done() and (partial is None or not partial[1]):
            future.result()  # its error, if it failed
            return source
        assert partial is not None
        path, piped = partial
        if piped:  # not hashed on its way: the reader checks it (``RegistryStore.pipe``)
            blob = dataclasses.replace(source.blob, pipe=path)
            return dataclasses.replace(source, blob=blob, verified=False)
        return dataclasses.replace(source, blob=dataclasses.replace(source.blob, arriving=path))

    def abandon(self, index: int) -> None:
        digest = self._digests[index]
        if digest in self._stops:
            self._stops[digest].set()

    def close(self) -> None:
        for stop in list(self._stops.values()):
            stop.set()
        for future in self._futures.values():
            future.cancel()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        if self._pipes is not None:
            shutil.rmtree(self._pipes[0], ignore_errors=True)
            os.close(self._pipes[1])
        self._client.close()


def _set_checks(image: Image, fresh: frozenset[str], verify_diff_ids: bool) -> None:
    """What is left to check of each layer as it is read: a blob downloaded now was
    hashed on its way in, so only its diff-id is (nothing, when the layer is uncompressed:
    the blob's digest is its diff-id); and no diff-id, where they are taken on trust."""
    image.layer_sources = [
        dataclasses.replace(src, verified=src.digest in fresh, check_diff_id=verify_diff_ids)
        if isinstance(src, TarLayerSource)
        else src
        for src in image.layer_sources
    ]


def _open_writer(fifo: str, closing: threading.Event) -> int | None:
    """``fifo``'s write end, once its reader has opened it; None if the pull closes
    first. Polled, not a blocking open: that could not be given up."""
    pause = 0.001
    while not closing.is_set():
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as e:
            if e.errno != errno.ENXIO:  # ENXIO: no reader yet
                raise
            closing.wait(pause)
            pause = min(pause * 2, 0.02)
            continue
        os.set_blocking(fd, True)
        with suppress(OSError):  # fewer, larger reads for the reader (Linux)
            import fcntl

            fcntl.fcntl(fd, F_SETPIPE_SZ, PIPE_SIZE)
        return fd
    return None


class _ArrivingStore(Store):
    """The blob cache, where a layer blob may not have arrived yet: its ``BlobRef`` is
    handed out from its descriptor's size (the download checks that size exactly)."""

    def __init__(self, cache: BlobCache, sizes: dict[str, int]) -> None:
        self._cache = cache
        self._sizes = sizes
        self.label = cache.store.label

    def exists(self, name: str) -> bool:
        return self._cache.store.exists(name)

    def blob(self, name: str) -> BlobRef:
        parts = name.split("/")
        if len(parts) == 3 and parts[0] == "blobs":
            digest = f"{parts[1]}:{parts[2]}"
            if not self._cache.has(digest) and digest in self._sizes:
                return BlobRef(str(self._cache.path(digest)), 0, self._sizes[digest])
        return self._cache.store.blob(name)


__all__ = ["BlobCache", "RegistryStore", "open_registry"]
