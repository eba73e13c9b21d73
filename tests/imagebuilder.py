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
import os
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


MEDIA = {
    "none": "application/vnd.oci.image.layer.v1.tar",
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
}


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


def build(
    layers: list[list[Node]],
    *,
    compression: str = "gzip",
    config_extra: dict[str, Any] | None = None,
    arch: str = "amd64",
    history: list[dict[str, Any]] | None = None,
    layer_bytes: list[bytes] | None = None,
) -> BuiltImage:
    """``layer_bytes`` overrides the tars (for hand-made hostile layers)."""
    tars = layer_bytes if layer_bytes is not None else [layer_tar(n) for n in layers]
    blobs = [compress(t, compression) for t in tars]
    cfg: dict[str, Any] = {
        "architecture": arch,
        "os": "linux",
        "created": "2024-01-01T00:00:00Z",
        "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [sha256(t) for t in tars]},
        "history": history or [{"created_by": f"layer {i}"} for i in range(len(tars))],
    }
    cfg.update(config_extra or {})
    config = json.dumps(cfg).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha256(config),
                "size": len(config),
            },
            "layers": [
                {"mediaType": MEDIA[compression], "digest": sha256(b), "size": len(b)}
                for b in blobs
            ],
        }
    ).encode()
    return BuiltImage(tars, blobs, config, manifest, compression, cfg)


def _hex(digest: str) -> str:
    return digest.split(":", 1)[1]


def write_oci(
    images: list[tuple[BuiltImage, dict[str, Any]]],
    root: Path,
    index_extra: list[dict[str, Any]] | None = None,
) -> Path:
    """An OCI layout; each image comes with its index-descriptor extras (annotations,
    platform)."""
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    manifests = []
    for img, extra in images:
        for b in [*img.blobs, img.config, img.manifest]:
            (blobs / _hex(sha256(b))).write_bytes(b)
        manifests.append(
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": img.manifest_digest,
                "size": len(img.manifest),
                **extra,
            }
        )
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


def write_docker_archive(
    images: list[tuple[BuiltImage, list[str]]], dest: Path, legacy_names: bool = True
) -> Path:
    """``docker save`` layout: manifest.json, <config-hex>.json, layer files."""
    return write_tar(dest, docker_archive_members(images, legacy_names))


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
        file(
            "var/lib/dpkg/info/python3-six.list",
            "/.\n/usr\n/usr/lib/python3/dist-packages/six-1.16.0.dist-info\n"
            "/usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA\n",
        ),
        file(
            "usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA",
            "Metadata-Version: 2.1\nName: six\nVersion: 1.16.0\nLicense: MIT\n\nbody\n",
        ),
    ]


# -- helpers added for the source, layer and hostile-input tests ----------------------------


def python_dist(name: str, version: str, site: str = "usr/lib/python3/site-packages") -> Node:
    """An installed Python distribution's METADATA (a marker package tests can look for)."""
    return file(
        f"{site}/{name}-{version}.dist-info/METADATA",
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\n",
    )


def rebuild(
    img: BuiltImage,
    *,
    blobs: list[bytes] | None = None,
    config_doc: dict[str, Any] | None = None,
    config: bytes | None = None,
) -> BuiltImage:
    """The same image with some parts replaced, and the manifest recomputed so every digest
    and size in it matches the new parts (so a test exercises the check it means to)."""
    new_blobs = blobs if blobs is not None else img.blobs
    doc = config_doc if config_doc is not None else img.config_doc
    cfg = config if config is not None else json.dumps(doc).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha256(cfg),
                "size": len(cfg),
            },
            "layers": [
                {"mediaType": MEDIA[img.compression], "digest": sha256(b), "size": len(b)}
                for b in new_blobs
            ],
        }
    ).encode()
    return BuiltImage(img.layers, new_blobs, cfg, manifest, img.compression, doc)


def manifest_descriptor(img: BuiltImage, **extra: Any) -> dict[str, Any]:
    return {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": img.manifest_digest,
        "size": len(img.manifest),
        **extra,
    }


def write_image_blobs(root: Path, img: BuiltImage) -> None:
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    for b in [*img.blobs, img.config, img.manifest]:
        (blobs / _hex(sha256(b))).write_bytes(b)


def write_index_blob(root: Path, manifests: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """An image index stored as a blob (for nested indexes); returns its descriptor."""
    (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    data = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests,
        }
    ).encode()
    return {
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "digest": write_blob(root, data),
        "size": len(data),
        **extra,
    }


def write_oci_index(root: Path, manifests: list[dict[str, Any]]) -> Path:
    """An OCI layout whose index.json lists exactly these descriptors (blobs written apart)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": manifests}))
    return root


def write_tar(dest: Path, members: dict[str, bytes]) -> Path:
    """A plain tar of these regular files, in this order, names exactly as given."""
    with tarfile.open(dest, "w") as tf:
        for name, data in members.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    return dest


def docker_archive_members(
    images: list[tuple[BuiltImage, list[str]]], legacy_names: bool = True
) -> dict[str, bytes]:
    """What ``write_docker_archive`` writes, as name -> bytes, for tests to tamper with
    (then ``write_tar``)."""
    entries = []
    members: dict[str, bytes] = {}
    for img, tags in images:
        cfg_name = f"{_hex(img.config_digest)}.json"
        members[cfg_name] = img.config
        names = []
        for i, blob in enumerate(img.blobs):
            name = (
                f"{_hex(sha256(img.layers[i]))}/layer.tar"
                if legacy_names
                else f"blobs/sha256/{_hex(sha256(blob))}"
            )
            members[name] = blob
            names.append(name)
        entries.append({"Config": cfg_name, "RepoTags": tags, "Layers": names})
    members["manifest.json"] = json.dumps(entries).encode()
    return members


def write_rootfs(nodes: list[Node], root: Path) -> Path:
    """Lay the nodes out on disk as an unpacked root filesystem (for ``dir:`` sources)."""
    root.mkdir(parents=True, exist_ok=True)
    for n in nodes:
        p = root / n.path
        p.parent.mkdir(parents=True, exist_ok=True)
        if n.kind == "file":
            p.write_bytes(n.data)
            p.chmod(n.mode)
        elif n.kind == "dir":
            p.mkdir(exist_ok=True)
        elif n.kind == "symlink":
            os.symlink(n.link, p)
        elif n.kind == "hardlink":
            os.link(root / n.link, p)
        elif n.kind == "fifo":
            os.mkfifo(p)
        else:
            raise ValueError(f"cannot lay out a {n.kind} node")
    return root


def gzip_zeros_layer(dest: Path, n_bytes: int, name: str = "zeros") -> tuple[str, str]:
    """Stream a gzip-compressed tar holding one ``n_bytes`` file of zeros to ``dest``, never
    holding more than a MiB: one compressed MiB of zeros is written again and again (as
    concatenated gzip members, which are one valid gzip stream). Returns (blob digest,
    diff-id)."""
    mib = 1024 * 1024
    zeros = bytes(mib)
    zeros_gz = gzip.compress(zeros, compresslevel=9, mtime=0)
    diff = hashlib.sha256()
    blob = hashlib.sha256()
    ti = tarfile.TarInfo(name)
    ti.size = n_bytes
    header = ti.tobuf(tarfile.GNU_FORMAT)
    trailer = bytes((-n_bytes) % 512) + bytes(1024)

    with open(dest, "wb") as out:

        def emit(plain: bytes, packed: bytes | None = None) -> None:
            packed = packed if packed is not None else gzip.compress(plain, mtime=0)
            diff.update(plain)
            blob.update(packed)
            out.write(packed)

        emit(header)
        left = n_bytes
        while left >= mib:
            emit(zeros, zeros_gz)
            left -= mib
        emit(bytes(left) + trailer)
    return "sha256:" + blob.hexdigest(), "sha256:" + diff.hexdigest()


def write_oci_from_blob_files(
    root: Path, layers: list[tuple[Path, str, str]], media: str = MEDIA["gzip"]
) -> Path:
    """An OCI layout around layer blobs already on disk, each (file, digest, diff-id); the
    files are moved into the layout, never read into memory."""
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    descs = []
    for path, digest, _ in layers:
        size = path.stat().st_size
        path.replace(blobs / _hex(digest))
        descs.append({"mediaType": media, "digest": digest, "size": size})
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [d for _, _, d in layers]},
            "history": [{"created_by": f"layer {i}"} for i in range(len(layers))],
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": write_blob(root, config),
                "size": len(config),
            },
            "layers": descs,
        }
    ).encode()
    return write_oci_index(
        root,
        [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": write_blob(root, manifest),
                "size": len(manifest),
            }
        ],
    )
