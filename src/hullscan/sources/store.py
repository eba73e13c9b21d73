"""Named members of an image container: files in a directory, or members of a tar archive.

Both the OCI layout and the docker archive are "a set of named files"; a
``Store`` reads the small ones (JSON documents, bounded) and hands out
``BlobRef`` regions for the large ones (layers), never extracting anything.
"""

from __future__ import annotations

import os
import stat
import tarfile
from abc import ABC, abstractmethod

from hullscan.blob import BlobRef
from hullscan.errors import ImageError, shown
from hullscan.paths import UnsafePath, normalize, resolve_link_target

MAX_MEMBERS = 1_000_000


class Store(ABC):
    label: str

    @abstractmethod
    def blob(self, name: str) -> BlobRef:
        """Where the member's bytes are; ``ImageError`` if it is missing."""

    @abstractmethod
    def exists(self, name: str) -> bool: ...

    def size(self, name: str) -> int:
        ref = self.blob(name)
        assert ref.length is not None
        return ref.length

    def read(self, name: str, limit: int) -> bytes:
        ref = self.blob(name)
        if ref.length is not None and ref.length > limit:
            raise ImageError(f"{self.label}: {shown(name)} is larger than {limit} bytes")
        with ref.open() as f:
            return f.read()


class DirStore(Store):
    """Files under a directory; never follows a symlink out of (or inside) it."""

    def __init__(self, root: str) -> None:
        self.root = os.path.realpath(root)
        self.label = root

    def _path(self, name: str) -> str:
        try:
            rel = normalize(name)
        except UnsafePath:
            raise ImageError(f"{self.label}: member name {name!r} escapes the layout") from None
        path = os.path.join(self.root, rel)
        # every component must be a real directory/file inside the root
        current = self.root
        for part in rel.split("/"):
            current = os.path.join(current, part)
            try:
                st = os.lstat(current)
            except FileNotFoundError:
                raise ImageError(f"{self.label}: {shown(name)} is missing") from None
            if stat.S_ISLNK(st.st_mode):
                raise ImageError(f"{self.label}: {shown(name)} is a symlink; refusing to follow it")
        return path

    def exists(self, name: str) -> bool:
        try:
            self._path(name)
        except ImageError:
            return False
        return True

    def blob(self, name: str) -> BlobRef:
        path = self._path(name)
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode):
            raise ImageError(f"{self.label}: {shown(name)} is not a regular file")
        return BlobRef(path, 0, st.st_size)

    def read(self, name: str, limit: int) -> bytes:
        # the length comes from the opened file, not an earlier lstat: a writer may
        # replace the file (index.json, by another signer) between the two
        path = self.blob(name).path  # a regular file, reached through no symlink
        chunks: list[bytes] = []
        size = 0
        with BlobRef(path).open() as f:
            while size <= limit and (chunk := f.read(limit + 1 - size)):
                chunks.append(chunk)
                size += len(chunk)
        data = b"".join(chunks)
        if size > limit:
            raise ImageError(f"{self.label}: {shown(name)} is larger than {limit} bytes")
        return data


class TarStore(Store):
    """Members of an uncompressed tar archive, indexed by one pass over its headers."""

    def __init__(self, path: str, max_members: int = MAX_MEMBERS) -> None:
        self.path = path
        self.label = path
        self._members: dict[str, tuple[int, int]] = {}
        self._links: dict[str, str] = {}
        try:
            with open(path, "rb") as f:
                head = f.read(4)
            if head.startswith(b"\x1f\x8b") or head.startswith(b"\x28\xb5\x2f\xfd"):
                raise ImageError(
                    f"{path}: a compressed archive; decompress it first (e.g. gunzip or zstd -d)"
                )
            with tarfile.open(path, mode="r:") as tf:
                for count, m in enumerate(tf, 1):
                    if count > max_members:
                        raise ImageError(f"{path}: more than {max_members} archive members")
                    try:
                        name = normalize(m.name)
                    except UnsafePath:
                        continue  # never addressed by a valid manifest; ignore
                    if m.isreg():
                        self._members[name] = (m.offset_data, m.size)
                    elif m.issym():
                        self._links[name] = "/".join(resolve_link_target(name, m.linkname))
                    elif m.islnk():
                        try:
                            self._links[name] = normalize(m.linkname)
                        except UnsafePath:
                            continue
                    tf.members = []  # type: ignore[attr-defined]  # keep memory flat on archives with many entries
        except tarfile.TarError as e:
            raise ImageError(f"{path}: not a valid tar archive ({e})") from None
        except OSError as e:
            raise ImageError(f"{path}: cannot read ({e.strerror})") from None
        size = os.path.getsize(path)
        for off, length in self._members.values():
            if off + length > size:
                raise ImageError(f"{path}: truncated archive (a member runs past the end)")

    def _resolve(self, name: str) -> str:
        seen = 0
        name = normalize(name)
        while name in self._links and name not in self._members:
            name = self._links[name]
            seen += 1
            if seen > 40:
                raise ImageError(f"{self.label}: link loop at {shown(name)}")
        return name

    def exists(self, name: str) -> bool:
        try:
            return self._resolve(name) in self._members
        except (ImageError, UnsafePath):
            return False

    def blob(self, name: str) -> BlobRef:
        try:
            real = self._resolve(name)
        except UnsafePath:
            raise ImageError(f"{self.label}: member name {name!r} escapes the archive") from None
        if real not in self._members:
            raise ImageError(f"{self.label}: {shown(name)} is missing from the archive")
        off, length = self._members[real]
        return BlobRef(self.path, off, length)
