"""From an image reference to an ``Inventory``: open, analyze each layer once (cached,
in parallel), merge the layers, and assemble the package list."""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packageurl import PackageURL

from hullscan import tempfiles
from hullscan.analyzer import Analyzer
from hullscan.blob import BlobWithdrawn, ReaderGone
from hullscan.cache import CachedInventory, LayerCache, cache_key, default_cache_dir, inventory_key
from hullscan.errors import ImageError
from hullscan.filesystem import ImageFilesystem, package_identity
from hullscan.inventory import OS_PACKAGE_TYPES, default_analyzers
from hullscan.inventory.dpkg_copyright import with_copyright_licenses
from hullscan.inventory.os_release import OS_RELEASE, RELEASE_FILES, OSReleaseAnalyzer
from hullscan.inventory.rpm import DATABASES as RPM_DATABASES
from hullscan.layers import LayerAnalysis, LayerSource, analyze_layer
from hullscan.licenses.caches import with_cached_licenses
from hullscan.licenses.service import LicenceService, connect_worker
from hullscan.lifetime import die_with_parent
from hullscan.model import Inventory, Location, OSInfo, Package
from hullscan.sources import Image, Platform, open_image
from hullscan.sources.registry_settings import RegistrySettings
from hullscan.streams import Limits, hash_on_a_thread

if TYPE_CHECKING:
    import multiprocessing.context
    from concurrent.futures import Future

#: called as (layer index, layer count, served from the cache)
ProgressHook = Callable[[int, int, bool], None]


@dataclass
class ScanOptions:
    cache_dir: Path = field(default_factory=default_cache_dir)
    use_cache: bool = True
    platform: Platform | None = None
    limits: Limits = field(default_factory=Limits)
    workers: int = max(1, min(4, os.cpu_count() or 1))
    debug: bool = False
    registry: RegistrySettings = field(default_factory=RegistrySettings)


def _analyze_one(
    source: LayerSource,
    analyzers: Sequence[Analyzer],
    limits: Limits,
    tempdir: str,
    debug: bool,
    cache_dir: Path | None,
    key: str | None,
) -> LayerAnalysis:
    """One layer in a worker process, which also stores it in the cache: encoding an
    analysis is CPU work the scan's own process would otherwise do one layer at a time."""
    tempfiles.set_tempdir(tempdir)  # in a worker process, the module state is fresh
    analysis = analyze_layer(source, analyzers, limits, debug)
    if cache_dir is not None and key is not None:
        cache = LayerCache(cache_dir)
        try:
            cache.put(key, analysis)
        finally:
            cache.close()
    return analysis


def analyze_layers(
    image: Image,
    analyzers: Sequence[Analyzer],
    options: ScanOptions,
    progress: ProgressHook | None = None,
    on_layer: Callable[[LayerAnalysis], None] | None = None,
) -> list[LayerAnalysis]:
    """Every layer's analysis, from the cache where possible; the rest in parallel.

    ``on_layer`` gets each analysis in layer order, as soon as it and those of the layers
    under it are done: the scan builds the merged filesystem while its workers still read
    the layers above (the last layer to finish is seldom the top one)."""
    tempdir = options.cache_dir / "tmp"
    tempdir.mkdir(parents=True, exist_ok=True)
    tempfiles.set_tempdir(str(tempdir))
    cache = LayerCache(options.cache_dir) if options.use_cache else None
    total = len(image.layer_sources)
    results: list[LayerAnalysis | None] = [None] * total
    keys: list[str | None] = []
    delivered = 0

    def deliver() -> None:
        nonlocal delivered
        while delivered < total and (done := results[delivered]) is not None:
            if on_layer is not None:
                on_layer(done)
            delivered += 1

    try:
        todo = []
        # A hit is served without reading the layer at all (no re-hash of the archive or the
        # blob): the key's diff-id comes from the image config, itself verified against its
        # digest, and an analysis is only stored once the bytes it was made from matched
        # that diff-id (the walk checks it at the end). So a hit is the analysis of exactly
        # the content the config names; an archive whose layer bytes were altered since is
        # an image no runtime will load (they check diff-ids too), and is refused as soon
        # as it is read (a cold scan, --no-cache). Where diff-ids are taken on trust
        # (``registries.verify_diff_ids: false``) the key is the blob digest instead, from
        # the verified manifest, and the blob is what the walk checks (``cache_id``).
        for i, source in enumerate(image.layer_sources):
            key = _layer_key(source, analyzers)
            keys.append(key)
            hit = cache.get(key) if cache is not None and key else None
            if hit is not None:
                results[i] = hit
                if progress:
                    progress(i, total, True)
            else:
                todo.append(i)
        deliver()
        if len(todo) > 1 and options.workers > 1:
            # imported only when layers are read: a rescan from the cache starts no process
            from concurrent.futures import ProcessPoolExecutor

            workers = min(options.workers, len(todo))
            # with a layer reader on every core, a reader's own hash thread only contends
            hash_thread = workers < (os.cpu_count() or 1)
            context = _pool_context()
            with (
                LicenceService(workers, context) as licences,
                ProcessPoolExecutor(
                    max_workers=workers,
                    mp_context=context,
                    initializer=_init_worker,
                    initargs=(hash_thread, *licences.worker_args()),
                ) as pool,
            ):
                # fork the workers now, while this process runs no other thread; then, for
                # a pull, start the downloads, each layer as soon as its download begins
                # (each is read once, by its worker: the blob need not be kept)
                pool.submit(int).result()
                if image.pending is not None:
                    image.fetch_layers(todo, keep=options.registry.keep_layers)
                futures = {}
                sources = {}
                for i in _largest_first(image, todo):
                    # a pulled layer is read as its blob arrives; the worker stores only an
                    # analysis whose bytes are known good, and this process the others
                    sources[i] = image.layer_arriving(i)
                    arriving = sources[i] is not image.layer_sources[i]
                    futures[i] = pool.submit(
                        _analyze_one,
                        sources[i],
                        analyzers,
                        options.limits,
                        str(tempdir),
                        options.debug,
                        None if cache is None or arriving else options.cache_dir,
                        keys[i],
                    )
                for i in todo:
                    results[i] = _arrived(
                        image,
                        i,
                        futures[i],
                        analyzers,
                        options,
                        functools.partial(_store, cache, keys[i]),
                    )
                    if sources[i] is not image.layer_sources[i]:
                        _store(cache, keys[i], results[i])
                    if progress:
                        progress(i, total, False)
                    deliver()
        else:
            # in the order the downloads start (a download waits for its layer's reader)
            image.fetch_layers(todo, keep=options.registry.keep_layers)
            for i in _largest_first(image, todo):
                source = image.layer_arriving(i)
                results[i] = _read_here(image, i, source, analyzers, options)
                _store(cache, keys[i], results[i])
                if progress:
                    progress(i, total, False)
                deliver()
    finally:
        if cache is not None:
            cache.close()
    found = [r for r in results if r is not None]
    if on_layer is not None:
        for r in results[delivered:]:
            if r is not None:
                on_layer(r)
    return found


def _arrived(
    image: Image,
    i: int,
    future: Future[LayerAnalysis],
    analyzers: Sequence[Analyzer],
    options: ScanOptions,
    on_repaired: Callable[[LayerAnalysis], None] | None = None,
) -> LayerAnalysis:
    """Layer ``i``'s analysis, counted only once its blob checked out: a download's own
    error comes before anything its partial bytes made the analysis say, and a blob that
    arrived whole in a second attempt is read again, here; so is a blob the cache held
    damaged, once downloaded again (``Image.repair_layer``; ``on_repaired`` gets that
    analysis, made here rather than by a worker that would have stored it)."""
    try:
        analysis = future.result()
    except BlobWithdrawn:
        image.layer_refetched(i)  # raises the download's error, if it failed for good
        return analyze_layer(image.layer_sources[i], analyzers, options.limits, options.debug)
    except Exception as e:  # not an interrupt: that must not wait for the download
        # the download's error first, unless it only says that this reader failed (a
        # piped download waiting for, or sending to, this reader stops)
        image.layer_abandoned(i)
        with contextlib.suppress(ReaderGone):
            image.layer_ready(i)
        if not isinstance(e, ImageError) or not image.repair_layer(i):
            raise
        # the blob cache held this layer damaged: read the copy just downloaded
        analysis = analyze_layer(image.layer_sources[i], analyzers, options.limits, options.debug)
        if on_repaired is not None:
            on_repaired(analysis)
        return analysis
    image.layer_ready(i)
    return analysis


def _read_here(
    image: Image, i: int, source: LayerSource, analyzers: Sequence[Analyzer], options: ScanOptions
) -> LayerAnalysis:
    """Layer ``i``'s analysis made in this process, from ``source`` (maybe arriving); as
    ``_arrived``, it counts only once the blob checked out."""
    from concurrent.futures import Future

    future: Future[LayerAnalysis] = Future()
    try:
        future.set_result(analyze_layer(source, analyzers, options.limits, options.debug))
    except Exception as e:  # handed to _arrived, which tells a download's error first
        future.set_exception(e)
    return _arrived(image, i, future, analyzers, options)


def _pool_context() -> multiprocessing.context.BaseContext:
    """fork is fastest, but forking a process whose other threads hold locks can deadlock
    the child: scans started from a thread other than the main one (a server's) fork
    their workers from a single-threaded fork server instead."""
    import multiprocessing

    if threading.current_thread() is threading.main_thread():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("forkserver")


def _largest_first(image: Image, todo: list[int]) -> list[int]:
    """The order to start layers in: largest first, so that the largest layer does not
    start last and keep one worker busy long after the others are done. A pull downloads
    its blobs in the same order (their descriptors' sizes), so they arrive in it."""
    sizes = {i: getattr(image.layer_sources[i], "size", None) or 0 for i in todo}
    return sorted(todo, key=lambda i: -sizes[i])


def _init_worker(hash_thread: bool, *licences: Any) -> None:
    die_with_parent()
    hash_on_a_thread(hash_thread)
    connect_worker(*licences)


def _store(cache: LayerCache | None, key: str | None, analysis: LayerAnalysis | None) -> None:
    if cache is not None and key and analysis is not None:
        cache.put(key, analysis)


def detect_os(fs: ImageFilesystem) -> OSInfo | None:
    """os-release first; the distribution's own release file adds the point release."""
    found: OSInfo | None = None
    for path in OS_RELEASE:
        hit = fs.results_at(path, "os-release")
        if hit and hit[1].os:
            found = hit[1].os
            break
    for path in RELEASE_FILES:
        hit = fs.results_at(path, "os-release")
        if not hit or not hit[1].os:
            continue
        extra = hit[1].os
        if found is None:
            found = extra
        elif found.id == extra.id and not found.release:
            found = replace(found, release=extra.release)
    if found is not None and not found.distroless and _is_distroless(fs):
        found = replace(found, distroless=True)
    return found


def _is_distroless(fs: ImageFilesystem) -> bool:
    """Distroless images keep one dpkg file per package in status.d/ and no dpkg status."""
    return (
        fs.lookup("var/lib/dpkg/status.d") is not None and fs.lookup("var/lib/dpkg/status") is None
    )


def _with_distro(p: Package, os_info: OSInfo | None) -> Package:
    """OS package purls carry the distribution (namespace and ``distro`` qualifier)."""
    if os_info is None or p.type not in OS_PACKAGE_TYPES:
        return p
    purl = PackageURL.from_string(p.purl)
    quals = dict(purl.qualifiers or {})
    if os_info.version_id:
        quals["distro"] = f"{os_info.id}-{os_info.version_id}"
    namespace = os_info.id if p.type != "rpm" or purl.namespace == "rpm" else purl.namespace
    new = PackageURL(
        type=purl.type,
        namespace=namespace,
        name=purl.name,
        version=purl.version,
        qualifiers=quals,
        subpath=purl.subpath,
    )
    return replace(p, purl=new.to_string())


def build_inventory(
    image: Image, analyses: Sequence[LayerAnalysis], fs: ImageFilesystem | None = None
) -> Inventory:
    fs = fs or ImageFilesystem(analyses)
    os_info = detect_os(fs)
    diff_ids: list[str | None] = [layer.diff_id for layer in image.layers]
    diff_ids = diff_ids or [None] * len(analyses)
    owned = fs.owners()
    found: list[Package] = []
    warnings: list[str] = [w for a in analyses for w in a.warnings]
    for path, layer, analyzer, result in fs.final_results():
        warnings.extend(f"{path}: {w}" for w in result.warnings)
        for p in result.packages:
            first = fs.earliest_layer_with(path, layer, analyzer, package_identity(p))
            found.append(replace(p, locations=(Location(path, diff_ids[first]),)))
    packages = []
    for p in _one_rpm_database(found):
        p = _with_distro(p, os_info)
        if p.type not in OS_PACKAGE_TYPES and not p.owner:
            owner = _owner_of(p, fs, owned)
            if owner and p.found_by == "binary-classifier":
                continue  # the OS package is this component: not reported twice
            if owner:
                p = replace(p, owner=owner)
        packages.append(p)
    packages = with_cached_licenses(with_copyright_licenses(packages, fs), fs)
    packages.sort(key=lambda p: (p.type, p.name, p.version, p.locations[0].path))
    return Inventory(
        image=image.meta(),
        os=os_info,
        packages=tuple(packages),
        warnings=tuple(image.warnings + warnings),
    )


_RPM_PREFERENCE = ("sqlite", "ndb", "bdb")


def _one_rpm_database(found: list[Package]) -> list[Package]:
    """rpm reads one database; a stale one left beside it (e.g. ``Packages`` after a
    migration to ``rpmdb.sqlite``) must not list every package twice."""
    paths = {p.locations[0].path for p in found if p.found_by == "rpm"}
    if len(paths) < 2:
        return found
    keep = min(
        paths,
        key=lambda path: (
            _RPM_PREFERENCE.index(RPM_DATABASES[path]),
            not path.startswith("usr/lib/sysimage/"),
        ),
    )
    return [p for p in found if p.found_by != "rpm" or p.locations[0].path == keep]


def _owner_of(p: Package, fs: ImageFilesystem, owned: dict[str, str]) -> str:
    """The OS package whose file list holds this package's file (or its metadata dir)."""
    for loc in p.locations:
        path = fs.canonical(loc.path)
        if path in owned:
            return owned[path]
        parent = path.rpartition("/")[0]
        if parent.endswith((".dist-info", ".egg-info")) and parent in owned:
            return owned[parent]
    return ""


class AnalyzedImage:
    """Everything one pass over an image produced, for the scanners that need more than
    the inventory (secrets in deleted layers, file checks). An image analyzed with
    ``files=False`` has its inventory only."""

    def __init__(
        self,
        image: Image,
        inventory: Inventory,
        analyses: list[LayerAnalysis] | None = None,
        fs: ImageFilesystem | None = None,
    ) -> None:
        self.image = image
        self.inventory = inventory
        self._analyses = analyses
        self._fs = fs

    @property
    def analyses(self) -> list[LayerAnalysis]:
        if self._analyses is None:
            raise RuntimeError("analyzed with files=False: the layers' analyses were not kept")
        return self._analyses

    @property
    def fs(self) -> ImageFilesystem:
        if self._fs is None:
            raise RuntimeError("analyzed with files=False: the filesystem was not merged")
        return self._fs


def analyze_image(
    ref: str,
    options: ScanOptions | None = None,
    progress: ProgressHook | None = None,
    extra_analyzers: Sequence[Analyzer] = (),
    packages: bool = True,
    walk: bool = True,
    files: bool = True,
) -> AnalyzedImage:
    """Open ``ref``, walk every layer once with the inventory analyzers plus the
    scanners' own (``extra_analyzers``), and build the inventory.

    ``packages=False`` skips the package analyzers (only the OS is detected), for
    scans whose scanners do not need packages: reading binaries and archives is most
    of a cold scan's time. ``walk=False`` reads no layer at all (the manifest and config
    are still verified), for scans that judge only where the image came from.
    ``files=False``: only the inventory is wanted, so a rescan takes it from the cache
    whole, without decoding the layers' analyses or merging their files."""
    options = options or ScanOptions()
    image = open_image(
        ref,
        options.platform,
        options.limits,
        options.cache_dir,
        options.registry,
        defer_layers=walk,
    )
    analyzers = [*(default_analyzers() if packages else [OSReleaseAnalyzer()]), *extra_analyzers]
    key = _inventory_key(image, analyzers) if walk and options.use_cache else None
    try:
        if key is not None and not files:
            cached = _cached_inventory(options.cache_dir, key)
            if cached is not None:
                if progress:
                    for i in range(len(image.layer_sources)):
                        progress(i, len(image.layer_sources), True)
                return AnalyzedImage(
                    image,
                    Inventory(
                        image=image.meta(),
                        os=cached.os,
                        packages=cached.packages,
                        warnings=tuple(image.warnings) + cached.warnings,
                    ),
                )
        fs = ImageFilesystem()
        analyses = (
            analyze_layers(image, analyzers, options, progress, on_layer=fs.add_layer)
            if walk
            else []
        )
    finally:
        image.close()
    inventory = build_inventory(image, analyses, fs)
    if key is not None:
        _store_inventory(
            options.cache_dir,
            key,
            CachedInventory(
                inventory.os, inventory.packages, inventory.warnings[len(image.warnings) :]
            ),
        )
    return AnalyzedImage(image, inventory, analyses, fs)


def _layer_key(source: LayerSource, analyzers: Sequence[Analyzer]) -> str | None:
    return cache_key(source.cache_id, analyzers) if source.cache_id else None


def _inventory_key(image: Image, analyzers: Sequence[Analyzer]) -> str | None:
    """The inventory's cache key, from its layers' keys; None when a layer has no
    diff-id (nothing of such an image is cached)."""
    keys = [_layer_key(src, analyzers) for src in image.layer_sources]
    if not keys or None in keys:
        return None
    return inventory_key([k for k in keys if k is not None])


def _cached_inventory(cache_dir: Path, key: str) -> CachedInventory | None:
    cache = LayerCache(cache_dir)
    try:
        return cache.get_inventory(key)
    finally:
        cache.close()


def _store_inventory(cache_dir: Path, key: str, inventory: CachedInventory) -> None:
    cache = LayerCache(cache_dir)
    try:
        cache.put_inventory(key, inventory)
    finally:
        cache.close()


def inventory(
    ref: str, options: ScanOptions | None = None, progress: ProgressHook | None = None
) -> Inventory:
    """Open ``ref`` and inventory it: the library entry point behind ``sbom``."""
    return analyze_image(ref, options, progress, files=False).inventory
