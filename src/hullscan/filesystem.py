"""The image's filesystem as the layers build it up: the final view plus each path's history.

Layers are applied in order, as a container runtime would: opaque directories
and whiteouts hide lower content, a later entry replaces an earlier one. Every
path keeps the list of layers that wrote or deleted it, so findings can say
which layer added a file and whether it still ships in the final image.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from hullscan.analyzer import AnalyzerResult
from hullscan.layers import LayerAnalysis
from hullscan.model import FileInfo, FileType, Package
from hullscan.paths import resolve_link_target

MAX_LINK_HOPS = 40


@dataclass(frozen=True, slots=True)
class PathVersion:
    """One layer's word on a path: the entry it wrote, or ``None`` if it deleted it."""

    layer: int
    info: FileInfo | None


class ImageFilesystem:
    def __init__(self, layers: Sequence[LayerAnalysis] = ()) -> None:
        self.layers: list[LayerAnalysis] = []
        #: path -> (layer index, entry) for what the final image holds
        self.final: dict[str, tuple[int, FileInfo]] = {}
        #: path -> every version, oldest first (deletions included)
        self.history: dict[str, list[PathVersion]] = {}
        self._children: dict[str, set[str]] = {}
        self._dir_cache: dict[str, str | None] = {}
        self._identity_cache: dict[tuple[int, str, str], frozenset[str]] = {}
        self._owners: dict[str, str] | None = None
        for layer in layers:
            self.add_layer(layer)

    # -- building -------------------------------------------------------------------------

    def add_layer(self, layer: LayerAnalysis) -> None:
        """Put the next layer on top (a scan adds each as soon as it and the layers under
        it are analyzed, while its workers read the rest)."""
        self._dir_cache.clear()  # what was learnt from the layers below may change
        self._identity_cache.clear()
        self._owners = None
        self._apply(len(self.layers), layer)
        self.layers.append(layer)

    def _apply(self, index: int, layer: LayerAnalysis) -> None:
        for d in layer.opaque_dirs:
            for child in list(self._children.get(d, ())):
                self._remove(child, index)
        for w in layer.whiteouts:
            self._remove(w, index)
        for info in layer.files:
            prev = self.final.get(info.path)
            if prev is not None and prev[1].type is FileType.DIR and info.type is not FileType.DIR:
                for child in list(self._children.get(info.path, ())):
                    self._remove(child, index)
            self._add(index, info)

    def _add(self, index: int, info: FileInfo) -> None:
        path = info.path
        if path not in self.final:
            parent, _, _ = path.rpartition("/")
            self._children.setdefault(parent, set()).add(path)
            if parent and parent not in self.final:
                # tars may omit parent directories; they exist all the same
                self._add(index, FileInfo(parent, FileType.DIR, mode=0o755))
        self.final[path] = (index, info)
        self.history.setdefault(path, []).append(PathVersion(index, info))

    def _remove(self, path: str, index: int) -> None:
        if path not in self.final:
            return
        for child in list(self._children.get(path, ())):
            self._remove(child, index)
        self._children.pop(path, None)
        del self.final[path]
        parent = path.rpartition("/")[0]
        self._children.get(parent, set()).discard(path)
        self.history[path].append(PathVersion(index, None))

    # -- reading --------------------------------------------------------------------------

    def lookup(self, path: str) -> tuple[int, FileInfo] | None:
        """The final entry at exactly this path (no symlink is followed)."""
        return self.final.get(path)

    def resolve(self, path: str) -> str | None:
        """Follow symlinks in every component, never leaving the image root.

        Returns the real path (which may not exist), or None for a link loop.
        """
        parts = [p for p in path.split("/") if p]
        done: list[str] = []
        hops = 0
        while parts:
            part = parts.pop(0)
            if part == ".":
                continue
            if part == "..":
                if done:
                    done.pop()
                continue
            candidate = "/".join([*done, part])
            entry = self.final.get(candidate)
            if entry is not None and entry[1].type is FileType.SYMLINK:
                hops += 1
                if hops > MAX_LINK_HOPS:
                    return None
                parts = resolve_link_target(candidate, entry[1].linkname) + parts
                done = []
                continue
            done.append(part)
        return "/".join(done)

    def results_at(self, path: str, analyzer: str) -> tuple[int, AnalyzerResult] | None:
        """The analyzer's result for the final version of ``path`` (symlinks followed)."""
        real = self.resolve(path)
        if real is None:
            return None
        entry = self.final.get(real)
        if entry is None:
            return None
        result = self.layers[entry[0]].results.get(real, {}).get(analyzer)
        return (entry[0], result) if result is not None else None

    def final_results(self) -> Iterator[tuple[str, int, str, AnalyzerResult]]:
        """(path, layer index, analyzer, result) for every analyzed file still in the image."""
        for index, layer in enumerate(self.layers):
            for path, by_analyzer in layer.results.items():
                entry = self.final.get(path)
                if entry is None or entry[0] != index:
                    continue
                for name, result in by_analyzer.items():
                    yield path, index, name, result

    def earliest_layer_with(self, path: str, layer: int, analyzer: str, same: str) -> int:
        """The first layer from which ``path`` held a package with identity ``same``
        without interruption up to ``layer`` (a database file is rewritten by every
        layer that installs something, but an unchanged package dates from the first)."""
        first = layer
        versions = self.history.get(path, [])
        for v in reversed(versions):
            if v.layer >= layer:
                continue
            if v.info is None:
                break
            if same not in self._identities(v.layer, path, analyzer):
                break
            first = v.layer
        return first

    def _identities(self, layer: int, path: str, analyzer: str) -> frozenset[str]:
        """The package identities one layer's version of a file holds (memoized: a
        database file is asked about once per package it lists)."""
        key = (layer, path, analyzer)
        found = self._identity_cache.get(key)
        if found is None:
            result = self.layers[layer].results.get(path, {}).get(analyzer)
            found = (
                frozenset(package_identity(p) for p in result.packages) if result else frozenset()
            )
            self._identity_cache[key] = found
        return found

    def owners(self) -> dict[str, str]:
        """Every path an OS package database lists (symlinked parents resolved) -> the
        package that lists it; the first database to claim a path wins. Computed once."""
        if self._owners is None:
            owners: dict[str, str] = {}
            for _path, _layer, _name, result in self.final_results():
                for owner, files in result.owned_files.items():
                    for f in files:
                        owners.setdefault(self.canonical(f), owner)
            self._owners = owners
        return self._owners

    def owner_of(self, path: str) -> str:
        """The OS package that lists ``path`` (as written, or with its parents resolved)."""
        owners = self.owners()
        return owners.get(path) or owners.get(self.canonical(path), "")

    def canonical(self, path: str) -> str:
        """``path`` with symlinked parent directories resolved (e.g. ``lib`` → ``usr/lib``)."""
        parent, _, base = path.rpartition("/")
        if not parent:
            return path
        if parent not in self._dir_cache:
            self._dir_cache[parent] = self.resolve(parent)
        real = self._dir_cache[parent]
        return f"{real}/{base}" if real else base


def package_identity(p: Package) -> str:
    """What makes two package records the same package across layers."""
    return f"{p.purl}#{p.metadata.get('archive_path', '')}"
