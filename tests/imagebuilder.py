"""Build small, real container images in code: docker archives, OCI layouts, OCI archives.

Tests describe layers as lists of ``Node`` entries; the builder writes genuine
tar layers (optionally gzip or zstd), a config with the right diff-ids, and the
manifests, exactly as ``docker save`` / ``skopeo`` lay them out. Hostile tests
then tamper with the result.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zstandard


@dataclass
class Node:
    """One tar entry. ``kind``: file, dir, symlink, hardlink, char, block, fifo."""

    path: str
    data: bytes = b""
    kind: str = "file"
    mode: int = 0o644
    link: str = ""
    uid: int = 0
    gid: int = 0


def file(path: str, data: bytes | str, mode: int = 0o644) -> Node:
    return Node(path, data.encode() if isinstance(data, str) else data, "file", mode)


def symlink(path: str, target: str) -> Node:
    return Node(path, kind="symlink", link=target, mode=0o777)


def hardlink(path: str, target: str) -> Node:
    return Node(path, kind="hardlink", link=target)


def whiteout(path: str) -> Node:
    parent, _, base = path.rpartition("/")
    return file(f"{parent}/.wh.{base}" if parent else f".wh.{base}", b"")


def opaque(directory: str) -> Node:
    return file(f"{directory}/.wh..wh..opq", b"")


def layer_tar(nodes: list[Node]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for n in nodes:
            ti = tarfile.TarInfo(n.path)
            ti.mode, ti.uid, ti.gid, ti.mtime = n.mode, n.uid, n.gid, 1700000000
            data = None
            if n.kind == "file":
                ti.size = len(n.data)
                data = io.BytesIO(n.data)
            elif n.kind == "dir":
                ti.type = tarfile.DIRTYPE
                ti.mode = n.mode if n.mode != 0o644 else 0o755
            elif n.kind == "symlink":
                ti.type, ti.linkname = tarfile.SYMTYPE, n.link
            elif n.kind == "hardlink":
                ti.type, ti.linkname = tarfile.LNKTYPE, n.link
            elif n.kind == "char":
                ti.type, ti.devmajor, ti.devminor = tarfile.CHRTYPE, 1, 3
            elif n.kind == "block":
                ti.type, ti.devmajor, ti.devminor = tarfile.BLKTYPE, 8, 0
            elif n.kind == "fifo":
                ti.type = tarfile.FIFOTYPE
            tf.addfile(ti, data)
    return buf.getvalue()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def compress(data: bytes, how: str) -> bytes:
    if how == "gzip":
        return gzip.compress(data, mtime=0)
    if how == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    return data


MEDIA = {"none": "application/vnd.oci.image.layer.v1.tar",
         "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
         "zstd": "application/vnd.oci.image.layer.v1.tar+zstd"}


@dataclass
class BuiltImage:
    """The pieces of an image, before they are written in some layout."""

    layers: list[bytes]  # uncompressed tars
    blobs: list[bytes]  # as stored (maybe compressed)
    config: bytes
    manifest: bytes
    compression: str
    config_doc: dict[str, Any] = field(default_factory=dict)

    @property
    def manifest_digest(self) -> str:
        return sha256(self.manifest)

    @property
    def config_digest(self) -> str:
        return sha256(self.config)


def build(layers: list[list[Node]], *, compression: str = "gzip",
          config_extra: dict[str, Any] | None = None, arch: str = "amd64",
          history: list[dict[str, Any]] | None = None,
          layer_bytes: list[bytes] | None = None) -> BuiltImage:
    """``layer_bytes`` overrides the tars (for hand-made hostile layers)."""
    tars = layer_bytes if layer_bytes is not None else [layer_tar(n) for n in layers]
    blobs = [compress(t, compression) for t in tars]
    cfg: dict[str, Any] = {
        "architecture": arch, "os": "linux", "created": "2024-01-01T00:00:00Z",
        "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [sha256(t) for t in tars]},
        "history": history or [{"created_by": f"layer {i}"} for i in range(len(tars))],
    }
    cfg.update(config_extra or {})
    config = json.dumps(cfg).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": sha256(config), "size": len(config)},
        "layers": [{"mediaType": MEDIA[compression], "digest": sha256(b), "size": len(b)}
                   for b in blobs],
    }).encode()
    return BuiltImage(tars, blobs, config, manifest, compression, cfg)


def _hex(digest: str) -> str:
    return digest.split(":", 1)[1]


def write_oci(images: list[tuple[BuiltImage, dict[str, Any]]], root: Path,
              index_extra: list[dict[str, Any]] | None = None) -> Path:
    """An OCI layout; each image comes with its index-descriptor extras (annotations,
    platform)."""
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    manifests = []
    for img, extra in images:
        for b in [*img.blobs, img.config, img.manifest]:
            (blobs / _hex(sha256(b))).write_bytes(b)
        manifests.append({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                          "digest": img.manifest_digest, "size": len(img.manifest), **extra})
    manifests.extend(index_extra or [])
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": manifests}))
    return root


def write_blob(root: Path, data: bytes) -> str:
    d = sha256(data)
    (root / "blobs" / "sha256" / _hex(d)).write_bytes(data)
    return d


def tar_directory(src: Path, dest: Path) -> Path:
    with tarfile.open(dest, "w") as tf:
        for p in sorted(src.rglob("*")):
            tf.add(p, arcname=str(p.relative_to(src)), recursive=False)
    return dest


def write_docker_archive(images: list[tuple[BuiltImage, list[str]]], dest: Path,
                         legacy_names: bool = True) -> Path:
    """``docker save`` layout: manifest.json, <config-hex>.json, layer files."""
    entries = []
    members: dict[str, bytes] = {}
    for img, tags in images:
        cfg_name = f"{_hex(img.config_digest)}.json"
        members[cfg_name] = img.config
        names = []
        for i, blob in enumerate(img.blobs):
            if legacy_names:
                name = f"{_hex(sha256(img.layers[i]))}/layer.tar"
            else:
                name = f"blobs/sha256/{_hex(sha256(blob))}"
            members[name] = blob
            names.append(name)
        entries.append({"Config": cfg_name, "RepoTags": tags, "Layers": names})
    members["manifest.json"] = json.dumps(entries).encode()
    with tarfile.open(dest, "w") as tf:
        for name, data in members.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    return dest


# -- realistic content ---------------------------------------------------------------------

DEBIAN_OS_RELEASE = """PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
"""

DPKG_STATUS = """Package: libssl3
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 6160
Maintainer: Debian OpenSSL Team <pkg-openssl-devel@alioth-lists.debian.net>
Architecture: amd64
Multi-Arch: same
Source: openssl
Version: 3.0.11-1~deb12u2
Depends: libc6 (>= 2.34)
Description: Secure Sockets Layer toolkit - shared libraries

Package: bsdutils
Essential: yes
Status: install ok installed
Priority: required
Section: utils
Installed-Size: 335
Maintainer: util-linux packagers <util-linux@packages.debian.org>
Architecture: amd64
Multi-Arch: foreign
Source: util-linux (2.38.1-5)
Version: 1:2.38.1-5+b1
Description: basic utilities from 4.4BSD-Lite

Package: python3-six
Status: install ok installed
Architecture: all
Version: 1.16.0-4
Description: Python 2 and 3 compatibility library

Package: removed-thing
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0-1
Description: removed, only its configuration files remain
"""


def debian_base() -> list[Node]:
    """A tiny Debian-like layer: os-release behind a symlink, a dpkg database, a dpkg-owned
    Python distribution."""
    return [
        Node("etc", kind="dir"),
        file("usr/lib/os-release", DEBIAN_OS_RELEASE),
        symlink("etc/os-release", "../usr/lib/os-release"),
        file("etc/debian_version", "12.4\n"),
        file("var/lib/dpkg/status", DPKG_STATUS),
        file("var/lib/dpkg/info/python3-six.list",
             "/.\n/usr\n/usr/lib/python3/dist-packages/six-1.16.0.dist-info\n"
             "/usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA\n"),
        file("usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA",
             "Metadata-Version: 2.1\nName: six\nVersion: 1.16.0\nLicense: MIT\n\nbody\n"),
    ]
