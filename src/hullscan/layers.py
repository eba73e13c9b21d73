"""Stream one layer once, and let each analyzer read only the files it asked for.

A layer is either a tar blob (archive, OCI layout, registry) or, for ``dir:``
sources, an unpacked root filesystem. Both give the same thing: the list of
entries (the layer's file index, kept for provenance), its whiteouts, and the
analyzers' results per path. That ``LayerAnalysis`` is what the per-layer
cache stores.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
import tarfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, cast

from hullscan import tempfiles
from hullscan.analyzer import Analyzer, AnalyzerInputError, AnalyzerResult
from hullscan.atomicfile import DISK_FULL, write_error
from hullscan.blob import BlobRef
from hullscan.errors import ImageError
from hullscan.model import FileInfo, FileType
from hullscan.paths import UnsafePath, normalize
from hullscan.streams import (
    DOWNLOAD_CHUNK,
    READ_CHUNK,
    LayerStream,
    Limits,
    open_layer_stream,
)
from hullscan.tarstream import Member, TarMembers

_FILE_TYPES = {
    tarfile.SYMTYPE: FileType.SYMLINK,
    tarfile.LNKTYPE: FileType.HARDLINK,
    tarfile.DIRTYPE: FileType.DIR,
    tarfile.CHRTYPE: FileType.CHAR,
    tarfile.BLKTYPE: FileType.BLOCK,
    tarfile.FIFOTYPE: FileType.FIFO,
}
WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"

Opener = Callable[[], IO[bytes]]


@dataclass
class LayerAnalysis:
    """Everything learnt from one layer; cached by diff-id + analyzer versions."""

    diff_id: str | None
    files: list[FileInfo] = field(default_factory=list)
    #: paths deleted from lower layers (".wh.NAME")
    whiteouts: list[str] = field(default_factory=list)
    #: directories whose lower-layer content is hidden (".wh..wh..opq")
    opaque_dirs: list[str] = field(default_factory=list)
    #: path -> analyzer name -> result
    results: dict[str, dict[str, AnalyzerResult]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "diff_id": self.diff_id,
            "files": [f.to_row() for f in self.files],
            "whiteouts": self.whiteouts,
            "opaque_dirs": self.opaque_dirs,
            "results": {
                p: {a: r.to_dict() for a, r in by.items()} for p, by in self.results.items()
            },
            "warnings": self.warnings,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LayerAnalysis:
        return cls(
            diff_id=d["diff_id"],
            files=[FileInfo.from_row(r) for r in d["files"]],
            whiteouts=d["whiteouts"],
            opaque_dirs=d["opaque_dirs"],
            results={
                p: {a: AnalyzerResult.from_dict(r) for a, r in by.items()}
                for p, by in d["results"].items()
            },
            warnings=d["warnings"],
        )


@dataclass(frozen=True)
class Entry:
    """One thing found while walking a layer."""

    info: FileInfo | None = None
    opener: Opener | None = None
    whiteout: str | None = None
    opaque: str | None = None
    warning: str | None = None


class LayerSource(ABC):
    """Something that can be walked as a layer; picklable so workers can open it."""

    label: str
    #: the layer's diff-id, from the image config; None: none (e.g. a live directory)
    diff_id: str | None

    @property
    def cache_id(self) -> str | None:
        """What the layer cache keys this layer's analysis on: content the walk verifies
        (its diff-id, checked as it is read); None: not cacheable."""
        return self.diff_id

    @abstractmethod
    def walk(self, limits: Limits) -> Iterator[Entry]:
        """Yield entries in order; raise ``ImageError`` if the layer is corrupt."""


@dataclass(frozen=True)
class TarLayerSource(LayerSource):
    blob: BlobRef
    label: str
    digest: str | None
    size: int | None
    diff_id: str | None
    #: the blob was verified against ``digest`` as it was written (a download into the
    #: blob cache just now): it is not hashed again (see ``open_layer_stream``)
    verified: bool = False
    #: False: a compressed blob's diff-id is taken on trust (``registries.verify_diff_ids``)
    check_diff_id: bool = True

    @property
    def cache_id(self) -> str | None:
        if self.check_diff_id or self.digest is None:
            return self.diff_id
        # the diff-id is not checked, so it must not key the cache: a config could name a
        # base layer's diff-id for other bytes and have their analysis served for it
        return f"blob {self.digest}"

    def walk(self, limits: Limits) -> Iterator[Entry]:
        with self._stream(limits) as stream:
            members = TarMembers(stream.tar, self.label)
            for count, member in enumerate(members, 1):
                self._count(count, limits)
                yield from _tar_entry(members, member)
            stream.verify()

    def members(self, limits: Limits) -> Iterator[tuple[tarfile.TarFile, tarfile.TarInfo]]:
        """The layer's raw tar headers as tarfile reads them (every PAX record, device
        numbers, owners' names), in order, each with the archive its content is read from
        (before the next member); both digests are checked at the end."""
        with self._stream(limits) as stream:
            try:
                tf = tarfile.open(fileobj=stream.tar, mode="r:")  # noqa: SIM115
            except tarfile.TarError as e:
                raise ImageError(f"{self.label}: not a valid tar archive ({e})") from None
            count = 0
            while True:
                try:
                    member = tf.next()
                except tarfile.TarError as e:
                    raise ImageError(f"{self.label}: corrupt tar archive ({e})") from None
                if member is None:
                    break
                tf.members.clear()  # type: ignore[attr-defined]  # keep memory flat
                count += 1
                self._count(count, limits)
                yield tf, member
            stream.verify()

    def _count(self, count: int, limits: Limits) -> None:
        if count > limits.max_entries:
            raise ImageError(
                f"{self.label}: more than {limits.max_entries} entries (limit reached)"
            )

    @contextlib.contextmanager
    def _stream(self, limits: Limits) -> Iterator[LayerStream]:
        raw = self.blob.open()
        stream = None
        try:
            stream = open_layer_stream(
                raw,  # type: ignore[arg-type]
                self.label,
                self.digest,
                self.size,
                self.diff_id,
                limits,
                verified=self.verified,
                check_diff_id=self.check_diff_id,
                check_blob=False,  # read to be analysed, not kept: the diff-id vouches
                chunk=DOWNLOAD_CHUNK if self.blob.fed else READ_CHUNK,
            )
            yield stream
        finally:
            if stream is not None:
                stream.close()
            raw.close()


def _tar_entry(members: TarMembers, m: Member) -> Iterator[Entry]:
    try:
        path = normalize(m.name)
    except UnsafePath:
        yield Entry(warning=f"skipped tar entry {m.name!r}: path escapes the image root")
        return
    if not path:
        return
    base = path.rsplit("/", 1)[-1]
    if base.startswith(WHITEOUT_PREFIX):
        parent = path[: -len(base) - 1] if "/" in path else ""
        if base == OPAQUE_MARKER:
            yield Entry(opaque=parent)
        elif not base.startswith(".wh..wh."):  # other aufs metadata carries no meaning here
            yield Entry(whiteout=f"{parent}/{base[len(WHITEOUT_PREFIX) :]}".lstrip("/"))
        return
    linkname = ""
    ftype = _FILE_TYPES.get(m.type, FileType.OTHER)
    if ftype is FileType.SYMLINK:
        linkname = m.linkname
    elif ftype is FileType.HARDLINK:
        try:
            linkname = normalize(m.linkname)
        except UnsafePath:
            yield Entry(warning=f"skipped hard link {path!r}: target escapes the image root")
            return
    elif m.isreg():
        ftype = FileType.REG
    info = FileInfo(
        path, ftype, m.size if ftype is FileType.REG else 0, m.mode, m.uid, m.gid, linkname, m.mtime
    )
    opener: Opener | None = None
    if ftype is FileType.REG:

        def opener() -> IO[bytes]:
            return members.open(m)

    yield Entry(info=info, opener=opener)


@dataclass(frozen=True)
class DirLayerSource(LayerSource):
    """An unpacked root filesystem, walked without following any symlink."""

    root: str
    label: str
    diff_id: str | None = None

    def walk(self, limits: Limits) -> Iterator[Entry]:
        count = 0
        stack = [""]
        while stack:
            rel = stack.pop()
            try:
                with os.scandir(os.path.join(self.root, rel) if rel else self.root) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except OSError as e:
                yield Entry(warning=f"cannot list {rel or '/'}: {e.strerror}")
                continue
            for de in entries:
                count += 1
                if count > limits.max_entries:
                    raise ImageError(f"{self.label}: more than {limits.max_entries} entries")
                path = f"{rel}/{de.name}" if rel else de.name
                try:
                    st = de.stat(follow_symlinks=False)
                except OSError as e:
                    yield Entry(warning=f"cannot stat {path}: {e.strerror}")
                    continue
                info, opener = self._entry(path, de.path, st)
                yield Entry(info=info, opener=opener)
                if info.type is FileType.DIR:
                    stack.append(path)

    @staticmethod
    def _entry(path: str, full: str, st: os.stat_result) -> tuple[FileInfo, Opener | None]:
        mode = st.st_mode
        linkname = ""
        opener: Opener | None = None
        if stat.S_ISREG(mode):
            ftype = FileType.REG

            def opener() -> IO[bytes]:
                # O_NOFOLLOW: the file may have been swapped for a symlink since the walk
                fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW)
                return os.fdopen(fd, "rb")
        elif stat.S_ISDIR(mode):
            ftype = FileType.DIR
        elif stat.S_ISLNK(mode):
            ftype = FileType.SYMLINK
            linkname = os.readlink(full)
        elif stat.S_ISCHR(mode):
            ftype = FileType.CHAR
        elif stat.S_ISBLK(mode):
            ftype = FileType.BLOCK
        elif stat.S_ISFIFO(mode):
            ftype = FileType.FIFO
        else:
            ftype = FileType.OTHER
        size = st.st_size if ftype is FileType.REG else 0
        return (
            FileInfo(
                path,
                ftype,
                size,
                stat.S_IMODE(mode),
                st.st_uid,
                st.st_gid,
                linkname,
                int(st.st_mtime),
            ),
            opener,
        )


def analyze_layer(
    source: LayerSource, analyzers: Sequence[Analyzer], limits: Limits, debug: bool = False
) -> LayerAnalysis:
    """Walk the layer once; give each wanted file to the analyzers that asked for it."""
    out = LayerAnalysis(diff_id=source.diff_id)
    seen: dict[str, FileInfo] = {}
    #: hard-link target -> [(link path, analyzers)] whose content was not read in the walk
    pending: dict[str, list[tuple[str, list[Analyzer]]]] = {}
    for entry in source.walk(limits):
        if entry.warning:
            out.warnings.append(f"{source.label}: {entry.warning}")
        elif entry.whiteout is not None:
            out.whiteouts.append(entry.whiteout)
        elif entry.opaque is not None:
            out.opaque_dirs.append(entry.opaque)
        elif entry.info is not None:
            info = entry.info
            out.files.append(info)
            if info.type is FileType.HARDLINK:
                _link(out, seen, pending, info, analyzers)
                continue
            seen[info.path] = info
            if entry.opener is None:
                continue
            wanted = [a for a in analyzers if a.required(info.path, info)]
            if wanted:
                _run(out, source.label, info, entry.opener, wanted, debug)
    if pending:
        _second_pass(out, source, limits, pending, seen, debug)
    return out


def _link(
    out: LayerAnalysis,
    seen: dict[str, FileInfo],
    pending: dict[str, list[tuple[str, list[Analyzer]]]],
    info: FileInfo,
    analyzers: Sequence[Analyzer],
) -> None:
    """A hard link is the same content as its target: reuse or schedule the target's read."""
    target = seen.get(info.linkname)
    if target is None or target.type is not FileType.REG:
        return
    as_file = FileInfo(
        info.path, FileType.REG, target.size, target.mode, target.uid, target.gid, "", target.mtime
    )
    wanted = [a for a in analyzers if a.required(info.path, as_file)]
    if not wanted:
        return
    done = out.results.get(target.path, {})
    missing = []
    for a in wanted:
        if a.name in done:
            out.results.setdefault(info.path, {})[a.name] = done[a.name]
        elif not a.required(target.path, target):
            missing.append(a)
    if missing:
        pending.setdefault(target.path, []).append((info.path, missing))


def _second_pass(
    out: LayerAnalysis,
    source: LayerSource,
    limits: Limits,
    pending: dict[str, list[tuple[str, list[Analyzer]]]],
    seen: dict[str, FileInfo],
    debug: bool,
) -> None:
    """Read the targets of wanted hard links whose target no analyzer had asked for."""
    for entry in source.walk(limits):
        if entry.info is None or entry.opener is None or entry.info.path not in pending:
            continue
        links = pending.pop(entry.info.path)
        info = seen[entry.info.path]
        opener = entry.opener
        shared: IO[bytes] | None = None
        if len(links) > 1 and any(info.size <= a.max_size for _, w in links for a in w):
            # the entry's stream can be read once: several links share one spooled copy
            with opener() as stream:
                shared = tempfiles.spool(stream, info.size)
        try:
            for link_path, wanted in links:
                as_link = FileInfo(
                    link_path,
                    FileType.REG,
                    info.size,
                    info.mode,
                    info.uid,
                    info.gid,
                    "",
                    info.mtime,
                )
                if shared is not None:
                    opener = _KeepOpen.opener(shared)
                _run(out, source.label, as_link, opener, wanted, debug)
        finally:
            if shared is not None:
                shared.close()
        if not pending:
            break


class _KeepOpen(io.RawIOBase):
    """A reader of a shared spooled file that leaves the file open when it is closed."""

    def __init__(self, f: IO[bytes]) -> None:
        self._f = f

    @classmethod
    def opener(cls, f: IO[bytes]) -> Opener:
        def reopen() -> IO[bytes]:
            f.seek(0)
            return cast(IO[bytes], cls(f))

        return reopen

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self._f.read(len(b))
        b[: len(data)] = data
        return len(data)

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._f.seek(offset, whence)

    def tell(self) -> int:
        return self._f.tell()


def _run(
    out: LayerAnalysis,
    label: str,
    info: FileInfo,
    opener: Opener,
    wanted: list[Analyzer],
    debug: bool,
) -> None:
    """Give the file to each analyzer; share one spooled copy when several want it."""
    readable = [a for a in wanted if info.size <= a.max_size]
    for a in wanted:
        if a not in readable:
            out.warnings.append(
                f"{label}: {info.path}: not read by {a.name}: "
                f"{info.size} bytes is over its {a.max_size}-byte limit"
            )
    if not readable:
        return
    try:
        _analyze_file(out, label, info, opener, readable, debug)
    except tarfile.TarError as e:
        # the layer ends inside this file: the layer is corrupt, not the analyzer's input
        raise ImageError(f"{label}: corrupt tar archive ({e})") from None
    except OSError as e:
        if e.errno in DISK_FULL:  # spooling: the scan cannot go on, and must not pretend to
            raise write_error(tempfiles.location(), e) from None
        raise


def _analyze_file(
    out: LayerAnalysis,
    label: str,
    info: FileInfo,
    opener: Opener,
    readable: list[Analyzer],
    debug: bool,
) -> None:
    stream = opener()
    shared = tempfiles.spool(stream, info.size) if len(readable) > 1 else None
    try:
        for a in readable:
            if shared is not None:
                shared.seek(0)
            try:
                result = a.analyze(info.path, info, shared if shared is not None else stream)
            except AnalyzerInputError as e:
                out.warnings.append(f"{label}: {info.path}: {a.name}: {e}")
                continue
            except (ImageError, tarfile.TarError):
                raise
            except Exception as e:  # hostile content must not crash the scan
                if debug or (isinstance(e, OSError) and e.errno in DISK_FULL):
                    raise
                out.warnings.append(
                    f"{label}: {info.path}: {a.name} failed: {type(e).__name__}: {e}"
                )
                continue
            if result is not None and not result.is_empty():
                out.results.setdefault(info.path, {})[a.name] = result
    finally:
        if shared is not None:
            shared.close()
        stream.close()
