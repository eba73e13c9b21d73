"""Image sources: one module per transport; ``open_image`` picks by scheme or by sniffing."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hullscan.cachedir import default_cache_dir
from hullscan.errors import ImageError

if TYPE_CHECKING:
    from hullscan.sources.interface import Image, Platform
    from hullscan.sources.registry_settings import RegistrySettings
    from hullscan.streams import Limits

# The transports are imported when an image is opened, not with this package: the command
# line imports ``hullscan.sources.registry_settings`` to build its options, and that should
# not load every image format (and the layer walker behind them) on the way.


def __getattr__(name: str) -> Any:
    if name in ("Image", "Platform"):
        from hullscan.sources import interface

        return getattr(interface, name)
    raise AttributeError(f"module 'hullscan.sources' has no attribute {name!r}")


TRANSPORTS = ("docker-archive", "oci", "oci-archive", "dir", "registry", "docker", "docker-daemon")


def _is_tar(path: str) -> bool:
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


def open_image(
    ref: str,
    platform: Platform | None = None,
    limits: Limits | None = None,
    cache_dir: Path | None = None,
    registry: RegistrySettings | None = None,
    defer_layers: bool = False,
) -> Image:
    """Open an image reference (see hullscan.references and the README). Registry blobs are
    cached (by digest) under ``cache_dir``/registry. ``defer_layers``: a pull returns
    once the manifest and config are verified; the layer blobs come in afterwards
    (``Image.fetch_layers``, ``Image.layer_ready``; the caller must ``Image.close()`` it)."""
    from hullscan.references import engine_name
    from hullscan.sources.docker_archive import open_docker_archive
    from hullscan.sources.oci import open_oci
    from hullscan.sources.store import TarStore
    from hullscan.streams import Limits

    limits = limits or Limits()
    blobs = (cache_dir or default_cache_dir()) / "registry"
    scheme, sep, rest = ref.partition(":")
    if (name := engine_name(ref)) is not None:
        from hullscan.sources.docker_engine import open_docker_engine

        return open_docker_engine(ref, name, limits, cache_dir or default_cache_dir())
    if sep and scheme in ("registry", "docker") and not os.path.exists(ref):
        return _pull(ref, platform, limits, blobs, registry, defer_layers)
    if sep and scheme in TRANSPORTS and not os.path.exists(ref):
        return _open(scheme, rest, ref, platform, limits)
    if os.path.isdir(ref):
        kind = "oci" if os.path.exists(os.path.join(ref, "oci-layout")) else "dir"
        return _open(kind, ref, ref, platform, limits)
    if os.path.isfile(ref):
        if not _is_tar(ref):
            with open(ref, "rb") as f:
                head = f.read(4)
            if head.startswith((b"\x1f\x8b", b"\x28\xb5\x2f\xfd")):
                raise ImageError(f"{ref}: a compressed archive; decompress it first")
            raise ImageError(f"{ref}: not an image archive (not a tar file)")
        store = TarStore(ref, limits.max_entries)
        if store.exists("manifest.json"):
            return open_docker_archive(store, ref, None, limits)
        if store.exists("oci-layout"):
            return open_oci(store, ref, "oci-archive", None, platform, limits)
        raise ImageError(
            f"{ref}: a tar archive, but neither a docker archive (manifest.json) "
            "nor an OCI archive (oci-layout)"
        )
    if ref.startswith((".", "/")):
        raise ImageError(f"{ref}: no such file or directory")
    # a name like alpine:3.19 or ghcr.io/org/app:1 means a registry
    return _pull(ref, platform, limits, blobs, registry, defer_layers)


def _pull(
    ref: str,
    platform: Platform | None,
    limits: Limits,
    blobs: Path,
    registry: RegistrySettings | None,
    defer_layers: bool,
) -> Image:
    # imported here: the HTTP stack is a tenth of a second that local scans do not need
    from hullscan.sources.registry import open_registry

    return open_registry(ref, platform, limits, blobs, registry, defer_layers=defer_layers)


def _open(kind: str, spec: str, ref: str, platform: Platform | None, limits: Limits) -> Image:
    from hullscan.layers import DirLayerSource
    from hullscan.references import split_path_and_tag
    from hullscan.sources.docker_archive import open_docker_archive
    from hullscan.sources.interface import Image
    from hullscan.sources.oci import open_oci
    from hullscan.sources.store import DirStore, TarStore

    if kind == "dir":
        root = spec
        if not os.path.isdir(root):
            raise ImageError(f"{root}: not a directory")
        source = DirLayerSource(root=os.path.realpath(root), label=f"dir {root}")
        return Image(
            ref=ref,
            transport="dir",
            manifest_digest=None,
            config_digest=None,
            config={},
            layers=[],
            layer_sources=[source],
        )
    path, tag = split_path_and_tag(spec)
    if kind == "oci":
        if not os.path.isdir(path):
            raise ImageError(f"{path}: not a directory (an OCI layout is one)")
        return open_oci(DirStore(path), ref, "oci", tag, platform, limits)
    if not os.path.isfile(path):
        raise ImageError(f"{path}: not a file")
    store = TarStore(path, limits.max_entries)
    if kind == "oci-archive":
        return open_oci(store, ref, "oci-archive", tag, platform, limits)
    return open_docker_archive(store, ref, tag, limits)


__all__ = ["Image", "Platform", "open_image"]
