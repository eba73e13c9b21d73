"""Passes 2 and 3 of a squash: collect the final members, then write them as one layer.

Pass 2 streams each layer that holds a final entry once more (verified again, like any
read) and keeps the header of every final member in memory and the content of every
final regular file in a spill file under the cache directory — the content is appended
as it streams by, one chunk at a time. Pass 3 writes the layer tar in sorted path order,
copying each file's bytes back out of the spill, through a fixed-setting gzip, hashing
both the tar (the diff-id) and the blob (the digest) on the way.

Memory holds one header per final path (as a scan's merged view does) and never file
content; the disk holds the final files once (spill) plus the compressed layer.
"""

from __future__ import annotations

import hashlib
import tarfile
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from hullscan import tempfiles
from hullscan.blob import BlobRef
from hullscan.errors import ImageError
from hullscan.layers import TarLayerSource
from hullscan.paths import UnsafePath, normalize
from hullscan.squash.plan import SquashPlan, whiteout_name
from hullscan.streams import CHUNK, Limits, gzip_compressor

#: tar fields tarfile writes itself from the header; a stale copy in the PAX
#: extension would override the new values (the time fields are normalised instead)
_PAX_FIELDS = frozenset(
    {"path", "linkpath", "size", "uid", "gid", "uname", "gname", "mtime", "atime", "ctime"}
)


@dataclass(frozen=True)
class Collected:
    """A final member's cleaned header and, for regular files, where its bytes are."""

    header: tarfile.TarInfo
    offset: int = 0


@dataclass(frozen=True)
class WrittenLayer:
    path: Path
    diff_id: str
    digest: str
    size: int
    entries: int
    compressed: bool


def collect(
    sources: Sequence[TarLayerSource],
    plan: SquashPlan,
    spill: IO[bytes],
    limits: Limits,
    epoch: int,
) -> dict[str, Collected]:
    """Pass 2: the header of every final member (keyed by its first output path), and
    the content of every final regular file appended to ``spill``."""
    found: dict[str, Collected] = {}
    for i in range(plan.base, plan.layers):
        wanted = plan.wanted[i]
        if not wanted:
            continue  # nothing of this layer survives: its headers were enough
        for tf, member in sources[i].members(limits):
            try:
                path = normalize(member.name)
            except UnsafePath:
                continue
            outs = wanted.get(path)
            if outs is None:
                continue
            header = clean_header(member, outs[0], epoch)
            offset = spill.tell()
            if header.isreg():
                stream = tf.extractfile(member)
                assert stream is not None
                try:
                    tempfiles.copy(stream, spill, member.size)
                except tarfile.TarError as e:
                    raise ImageError(f"{sources[i].label}: corrupt tar archive ({e})") from None
            found[outs[0]] = Collected(header, offset)  # a later duplicate entry wins
    return found


def clean_header(member: tarfile.TarInfo, name: str, epoch: int) -> tarfile.TarInfo:
    """A copy of ``member`` under ``name`` with what varies between builds normalised:
    the mtime clamped to ``epoch``, access and change times dropped, regular-file type
    codes unified. Owners, names, modes, device numbers, link targets and the other PAX
    records (extended attributes, ACLs) are kept."""
    h = tarfile.TarInfo(name)
    h.type = tarfile.REGTYPE if member.isreg() else member.type
    h.mode = member.mode & 0o7777
    h.uid, h.gid, h.uname, h.gname = member.uid, member.gid, member.uname, member.gname
    h.size = member.size if member.isreg() else 0
    h.mtime = min(int(member.mtime), epoch)
    h.linkname = member.linkname
    if member.islnk():
        with suppress(UnsafePath):  # planned only when the target is inside the image
            h.linkname = normalize(member.linkname)
    h.devmajor, h.devminor = member.devmajor, member.devminor
    h.pax_headers = {
        k: v
        for k, v in member.pax_headers.items()
        if k not in _PAX_FIELDS and not k.startswith("GNU.sparse.")
    }
    return h


class _LayerSink:
    """Where pass 3's tar goes: hashed as a tar, optionally gzipped, hashed as a blob."""

    def __init__(self, out: IO[bytes], compress: bool) -> None:
        self._out = out
        self._tar = hashlib.sha256()
        self._blob = hashlib.sha256()
        self._gzip = gzip_compressor() if compress else None
        self._pending = bytearray()
        #: tar bytes written (tarfile asks, to pad the archive to its record size)
        self.offset = 0
        #: blob bytes written
        self.size = 0

    def tell(self) -> int:
        return self.offset

    def write(self, data: Any) -> int:
        self.offset += len(data)
        self._tar.update(data)
        if self._gzip is None:
            self._emit(bytes(data))
            return len(data)
        # the compressor gets whole blocks, so its output never depends on how tarfile
        # happened to split its writes
        self._pending += data
        if len(self._pending) >= CHUNK:
            whole = len(self._pending) - len(self._pending) % CHUNK
            self._emit(self._gzip.compress(self._pending[:whole]))
            del self._pending[:whole]
        return len(data)

    def _emit(self, data: bytes) -> None:
        if data:
            self._blob.update(data)
            self._out.write(data)
            self.size += len(data)

    def finish(self) -> tuple[str, str]:
        if self._gzip is not None:
            self._emit(self._gzip.compress(self._pending) + self._gzip.flush())
        return f"sha256:{self._tar.hexdigest()}", f"sha256:{self._blob.hexdigest()}"


def write_layer(
    plan: SquashPlan,
    found: dict[str, Collected],
    spill: Path,
    dest: Path,
    epoch: int,
    compress: bool = True,
) -> WrittenLayer:
    """Pass 3: the sorted tar of every planned path, as ``dest``."""
    links = plan.link_targets()
    whiteouts = {whiteout_name(w) for w in plan.whiteouts}
    count = 0
    with dest.open("wb") as out:
        sink = _LayerSink(out, compress)
        # not tarfile's stream mode: its buffer is re-sliced on every write
        with tarfile.open(
            fileobj=sink,
            mode="w",
            format=tarfile.PAX_FORMAT,  # type: ignore[call-overload]
            copybufsize=CHUNK,
        ) as tf:
            for path in plan.output_paths():
                content = None
                if path in found:
                    collected = found[path]
                    header = collected.header
                    if header.isreg():
                        content = BlobRef(str(spill), collected.offset, header.size).open()
                elif path in links and links[path] in found:
                    header = _link(found[links[path]].header, path, links[path])
                elif path in whiteouts or path in plan.implicit_dirs:
                    header = _synthetic(path, epoch, whiteout=path in whiteouts)
                else:  # the second read did not hold what the first did
                    raise ImageError(f"{path}: the layers changed while they were read")
                try:
                    tf.addfile(header, content)
                finally:
                    if content is not None:
                        content.close()
                count += 1
        diff_id, digest = sink.finish()
    return WrittenLayer(dest, diff_id, digest, sink.size, count, compress)


def _link(holder: tarfile.TarInfo, name: str, target: str) -> tarfile.TarInfo:
    """A hard link shares its target's inode: mode, owners, times and attributes."""
    h = tarfile.TarInfo(name)
    h.type, h.linkname = tarfile.LNKTYPE, target
    h.mode, h.mtime = holder.mode, holder.mtime
    h.uid, h.gid, h.uname, h.gname = holder.uid, holder.gid, holder.uname, holder.gname
    h.pax_headers = dict(holder.pax_headers)
    return h


def _synthetic(name: str, epoch: int, whiteout: bool) -> tarfile.TarInfo:
    """A whiteout marker, or a parent directory the layers never listed (as the merged
    view creates it: root-owned, 0755)."""
    h = tarfile.TarInfo(name)
    h.mtime = epoch
    if whiteout:
        h.mode = 0o644
    else:
        h.type, h.mode = tarfile.DIRTYPE, 0o755
    return h
