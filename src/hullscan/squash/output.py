"""Write an image: an OCI layout directory, an OCI archive or a docker archive.

Archives are written to a temporary name beside the target and renamed into place, so
a failure leaves nothing behind; a layout gets its blobs first and its ``index.json``
last (atomically), so it never names a blob it lacks. Archive members are sorted and
carry fixed times and owners: the same image gives the same archive bytes. The docker
archive has Docker 25's shape — the OCI layout plus ``manifest.json`` — which
``docker load``, skopeo and hullscan all read.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from hullscan.blob import BlobRef
from hullscan.errors import ImageError
from hullscan.references import OutputRef, Reference, parse_reference
from hullscan.sources.interface import MEDIA_OCI_INDEX, load_json
from hullscan.sources.oci import REF_NAME, blob_name
from hullscan.sources.registry_settings import RegistrySettings
from hullscan.streams import CHUNK, Limits

OCI_LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'


@dataclass(frozen=True)
class Blob:
    """A blob to write: small documents as bytes, layers as a file region."""

    digest: str
    size: int
    media_type: str
    data: bytes | None = None
    source: BlobRef | None = None

    def descriptor(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}

    def open(self) -> IO[bytes]:
        if self.data is not None:
            return io.BytesIO(self.data)
        assert self.source is not None
        return self.source.open()  # type: ignore[return-value]


def canonical_json(doc: Any) -> bytes:
    """Sorted keys, no spaces: one document, one digest."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def docker_tag(tag: str) -> str:
    """A docker archive's RepoTags entry: ``name`` means ``name:latest``."""
    return tag if ":" in tag.rsplit("/", 1)[-1] else f"{tag}:latest"


def write_image(
    out: OutputRef, manifest: Blob, config: Blob, layers: Sequence[Blob], epoch: int
) -> None:
    blobs = [*layers, config, manifest]
    if out.transport == "oci":
        _write_layout(Path(out.path), blobs, manifest, out.tag)
        return
    docker = out.transport == "docker-archive"
    tag = docker_tag(out.tag) if docker and out.tag else out.tag
    members: list[tuple[str, Blob | bytes]] = [("oci-layout", OCI_LAYOUT)]
    members.extend((blob_name(b.digest), b) for b in _unique(blobs))
    desc = manifest.descriptor()
    if tag:
        ref_name = tag.rsplit(":", 1)[1] if docker else tag
        desc["annotations"] = {REF_NAME: ref_name}
        if docker:
            desc["annotations"]["io.containerd.image.name"] = tag
    members.append(
        (
            "index.json",
            canonical_json({"schemaVersion": 2, "mediaType": MEDIA_OCI_INDEX, "manifests": [desc]}),
        )
    )
    if docker:
        members.append(
            (
                "manifest.json",
                canonical_json(
                    [
                        {
                            "Config": blob_name(config.digest),
                            "RepoTags": [tag] if tag else [],
                            "Layers": [blob_name(b.digest) for b in layers],
                        }
                    ]
                ),
            )
        )
    _write_archive(Path(out.path), members, epoch)


def _unique(blobs: Sequence[Blob]) -> list[Blob]:
    seen: dict[str, Blob] = {}
    for b in blobs:
        seen.setdefault(b.digest, b)
    return list(seen.values())


def _write_archive(path: Path, members: list[tuple[str, Blob | bytes]], epoch: int) -> None:
    if path.is_dir():
        raise ImageError(f"{path}: is a directory (an archive is written to a file)")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise ImageError(f"{parent}: no such directory")
    fd, partial = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=parent)
    try:
        with (
            os.fdopen(fd, "wb") as f,
            tarfile.open(fileobj=f, mode="w", format=tarfile.PAX_FORMAT) as tf,
        ):
            for name, member in members:
                info = tarfile.TarInfo(name)
                info.mtime, info.mode = epoch, 0o644
                if isinstance(member, bytes):
                    info.size = len(member)
                    tf.addfile(info, io.BytesIO(member))
                    continue
                info.size = member.size
                with member.open() as src:
                    tf.addfile(info, src)
        os.replace(partial, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(partial)
        raise


def _write_layout(root: Path, blobs: list[Blob], manifest: Blob, tag: str | None) -> None:
    if root.exists() and not root.is_dir():
        raise ImageError(f"{root}: exists and is not a directory (an OCI layout is one)")
    if root.is_dir() and any(root.iterdir()) and not (root / "oci-layout").is_file():
        raise ImageError(f"{root}: a non-empty directory that is not an OCI layout")
    (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    if not (root / "oci-layout").is_file():
        _atomic(root / "oci-layout", OCI_LAYOUT)
    for blob in _unique(blobs):
        target = root / blob_name(blob.digest)
        if target.is_file() and target.stat().st_size == blob.size:
            continue  # content-addressed: already there
        fd, partial = tempfile.mkstemp(prefix=".", suffix=".partial", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as dst, blob.open() as src:
                shutil.copyfileobj(src, dst, CHUNK)
            os.replace(partial, target)
        except BaseException:
            with suppress(OSError):
                os.unlink(partial)
            raise
    index_path = root / "index.json"
    index: dict[str, Any] = {"schemaVersion": 2, "manifests": []}
    if index_path.is_file():
        index = load_json(index_path.read_bytes(), f"{index_path}", Limits())
    desc = manifest.descriptor()
    if tag:
        desc["annotations"] = {REF_NAME: tag}
    kept = [
        d
        for d in index.get("manifests") or []
        if isinstance(d, dict)
        and not (tag and (d.get("annotations") or {}).get(REF_NAME) == tag)
        and not (not tag and d.get("digest") == manifest.digest and not d.get("annotations"))
    ]
    index["manifests"] = [*kept, desc]
    index.setdefault("mediaType", MEDIA_OCI_INDEX)
    _atomic(index_path, canonical_json(index))


def _atomic(path: Path, data: bytes) -> None:
    fd, partial = tempfile.mkstemp(prefix=".", suffix=".partial", dir=path.parent)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(partial, path)


def push_target(ref: str, settings: RegistrySettings) -> Reference:
    """Where a push goes: a tag (a digest is what the registry computes)."""
    target = parse_reference(ref, settings.default_registry)
    if target.digest or target.tag is None:
        raise ImageError(f"{ref}: push to a tag (a digest is what the registry computes)")
    return target


def push_image(
    ref: str, settings: RegistrySettings, manifest: Blob, config: Blob, layers: Sequence[Blob]
) -> str:
    """Push to ``registry:HOST/REPO:TAG``: blobs the repository lacks (layers streamed
    from disk), then the manifest under the tag. Returns the pushed reference."""
    from hullscan.sources.registry_client import RegistryClient
    from hullscan.sources.registry_push import push_blob, put_manifest

    target = push_target(ref, settings)
    assert target.tag is not None
    client = RegistryClient(target, settings)
    try:
        for blob in _unique([*layers, config]):
            body = blob.data if blob.data is not None else blob.source
            assert body is not None
            push_blob(client, body, "layer" if blob is not config else "config", blob.digest)
        assert manifest.data is not None
        put_manifest(client, target.tag, manifest.data, manifest.media_type)
    finally:
        client.close()
    return str(target)


__all__ = ["Blob", "canonical_json", "docker_tag", "push_image", "push_target", "write_image"]
