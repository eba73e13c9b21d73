"""``hullscan squash``: rewrite an image as one layer holding exactly its final filesystem.

Bytes that a later layer deletes or replaces still ship in every pull, and so do the
secrets in them; a squashed image ships only what a container sees. The image is read
through the same verified layer streams as a scan, in three passes, so memory stays
bounded by the number of paths, never by the bytes of the image:

1. **Headers** (``plan.py``): every layer's entries, whiteouts and opaque directories,
   merged by ``ImageFilesystem`` — the view every scan reports — into the final owner of
   each path. Cached per layer like any layer analysis.
2. **Collect** (``layer.py``): each layer that owns a final path is streamed again; the
   header of every final member is kept, and its content appended to a spill file under
   the cache directory. Layers that own nothing are not read again.
3. **Write** (``layer.py``): the new layer tar, entries sorted by path, content copied
   back from the spill, gzipped with fixed settings while both digests are computed.

Sorting needs every final file at hand at once, and gzip layers cannot be read at an
offset, so the spill (the final files, once, uncompressed) is the one copy on disk;
only headers are held in memory. Timestamps are clamped to ``SOURCE_DATE_EPOCH`` or the
newest timestamp in the input, so the same image always gives the same digests.

``keep_base`` keeps the bottom layers untouched (copied verbatim, so pulls still share
them) and squashes the rest into one layer, with whiteouts for what it removed from them.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hullscan.blob import BlobRef
from hullscan.errors import ImageError
from hullscan.layers import TarLayerSource
from hullscan.pipeline import ProgressHook, ScanOptions, analyze_layers
from hullscan.references import parse_output
from hullscan.sources import Image, open_image
from hullscan.sources.interface import MEDIA_OCI_MANIFEST, sha256_digest
from hullscan.squash.layer import collect, write_layer
from hullscan.squash.output import Blob, canonical_json, push_image, push_target, write_image
from hullscan.squash.plan import make_plan
from hullscan.streams import Limits, open_layer_stream

#: what a container runs with; everything else in the config described the build
KEPT_CONFIG = (
    "Env",
    "Entrypoint",
    "Cmd",
    "User",
    "WorkingDir",
    "Labels",
    "ExposedPorts",
    "Healthcheck",
    "Volumes",
    "StopSignal",
    "Shell",
)
#: the platform fields of a config
KEPT_PLATFORM = ("architecture", "os", "variant", "os.version", "os.features")
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER = {
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
    "none": "application/vnd.oci.image.layer.v1.tar",
}


@dataclass(frozen=True)
class SquashResult:
    output: str
    manifest_digest: str
    config_digest: str
    #: the squashed layer
    diff_id: str
    layer_digest: str
    layer_size: int
    entries: int
    squashed_layers: int
    base_layers: int
    #: the time every newer timestamp was clamped to (seconds since the epoch)
    epoch: int
    warnings: tuple[str, ...] = ()


def squash(
    ref: str,
    output: str | None,
    options: ScanOptions | None = None,
    keep_base: int | str | None = None,
    source_date_epoch: int | None = None,
    progress: ProgressHook | None = None,
    push: str | None = None,
) -> SquashResult:
    """Squash image ``ref`` into ``output`` (``oci:DIR[:TAG]``, ``oci-archive:PATH[:TAG]``,
    ``docker-archive:PATH[:TAG]``) and/or push it (``registry:HOST/REPO:TAG``).
    ``keep_base``: a number of bottom layers, or a base image reference whose layers
    must be the image's bottom layers."""
    options = options or ScanOptions()
    if output is None and push is None:
        raise ImageError("squash: nowhere to write the image")
    out = parse_output(output) if output is not None else None
    if push is not None:  # a bad target fails before anything is read
        push_target(push, options.registry)
    image = open_image(ref, options.platform, options.limits, options.cache_dir, options.registry)
    sources = _tar_sources(image)
    base = _base_layers(keep_base, image, options)
    analyses = analyze_layers(image, [], options, progress)
    plan = make_plan(analyses, base)
    epoch = (
        source_date_epoch
        if source_date_epoch is not None
        else max(plan.newest_mtime, _created(image.config))
    )
    work_root = options.cache_dir / "tmp"
    work_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="squash-", dir=work_root) as work:
        spill = Path(work) / "spill"
        with spill.open("w+b") as f:
            found = collect(sources, plan, f, options.limits, epoch)
        layer = write_layer(plan, found, spill, Path(work) / "layer.tar.gz", epoch)
        spill.unlink()
        layers = [_kept_blob(image, sources[i], options.limits) for i in range(base)]
        layers.append(
            Blob(
                layer.digest,
                layer.size,
                MEDIA_LAYER["gzip"],
                source=BlobRef(str(layer.path), 0, layer.size),
            )
        )
        config = canonical_json(_config(image, base, layer.diff_id, epoch))
        config_blob = Blob(sha256_digest(config), len(config), MEDIA_CONFIG, data=config)
        manifest = canonical_json(
            {
                "schemaVersion": 2,
                "mediaType": MEDIA_OCI_MANIFEST,
                "config": config_blob.descriptor(),
                "layers": [b.descriptor() for b in layers],
            }
        )
        manifest_blob = Blob(
            sha256_digest(manifest), len(manifest), MEDIA_OCI_MANIFEST, data=manifest
        )
        if out is not None:
            write_image(out, manifest_blob, config_blob, layers, epoch)
        pushed = (
            push_image(push, options.registry, manifest_blob, config_blob, layers)
            if push is not None
            else None
        )
    return SquashResult(
        output=", ".join(str(x) for x in (out, pushed) if x),
        manifest_digest=manifest_blob.digest,
        config_digest=config_blob.digest,
        diff_id=layer.diff_id,
        layer_digest=layer.digest,
        layer_size=layer.size,
        entries=layer.entries,
        squashed_layers=len(sources) - base,
        base_layers=base,
        epoch=epoch,
        warnings=tuple(plan.warnings),
    )


def _tar_sources(image: Image) -> list[TarLayerSource]:
    sources = [s for s in image.layer_sources if isinstance(s, TarLayerSource)]
    if not image.layers or len(sources) != len(image.layer_sources):
        raise ImageError(
            f"{image.ref}: no image layers to squash (a root filesystem "
            "directory is already one layer's worth)"
        )
    return sources


def _base_layers(keep_base: int | str | None, image: Image, options: ScanOptions) -> int:
    """How many bottom layers stay as they are."""
    if keep_base is None:
        return 0
    if isinstance(keep_base, int) or keep_base.isdigit():
        count = int(keep_base)
    else:
        base = open_image(
            keep_base, options.platform, options.limits, options.cache_dir, options.registry
        )
        ids = [layer.diff_id for layer in base.layers]
        if ids != [layer.diff_id for layer in image.layers[: len(ids)]]:
            raise ImageError(
                f"{keep_base}: not the base of {image.ref} (its layers are not "
                "the image's bottom layers)"
            )
        count = len(ids)
    if count >= len(image.layers):
        raise ImageError(
            f"{image.ref}: has {len(image.layers)} layers; keeping {count} as "
            "the base leaves nothing to squash"
        )
    return count


def _kept_blob(image: Image, source: TarLayerSource, limits: Limits) -> Blob:
    """A base layer, verified, to be copied as it is."""
    with source.blob.open() as raw:
        stream = open_layer_stream(
            raw,  # type: ignore[arg-type]
            source.label,
            source.digest,
            source.size,
            source.diff_id,
            limits,
        )
        stream.verify()
    media = image.layers[image.layer_sources.index(source)].media_type
    if not media or "docker" in media:
        media = MEDIA_LAYER[stream.compression]
    stream.close()
    return Blob(stream.blob_digest, stream.blob_size, media, source=source.blob)


_FRACTION = re.compile(r"\.\d+")


def _created(config: dict[str, Any]) -> int:
    """The config's ``created`` time in seconds (0 when absent or unreadable)."""
    text = config.get("created")
    if not isinstance(text, str):
        return 0
    try:
        return int(datetime.fromisoformat(_FRACTION.sub("", text, 1)).timestamp())
    except ValueError:
        return 0


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _config(image: Image, base: int, diff_id: str, epoch: int) -> dict[str, Any]:
    src = image.config
    inner = src.get("config") if isinstance(src.get("config"), dict) else {}
    assert isinstance(inner, dict)
    squashed = len(image.layers) - base
    what = f" of {image.config_digest}" if image.config_digest else ""
    entry = {
        "created": _iso(epoch),
        "created_by": "hullscan squash",
        "comment": f"{squashed} layers{what} squashed into one",
    }
    return {
        **{k: src[k] for k in KEPT_PLATFORM if k in src},
        "created": _iso(epoch),
        "config": {k: inner[k] for k in KEPT_CONFIG if inner.get(k) is not None},
        "rootfs": {
            "type": "layers",
            "diff_ids": [*(layer.diff_id for layer in image.layers[:base]), diff_id],
        },
        "history": [*_base_history(src, base), entry],
    }


def _base_history(config: dict[str, Any], base: int) -> list[dict[str, Any]]:
    """The history entries up to the last one that made a kept layer."""
    if not base:
        return []
    history = config.get("history")
    out: list[dict[str, Any]] = []
    made = 0
    for h in history if isinstance(history, list) else []:
        if not isinstance(h, dict):
            continue
        out.append(h)
        if not h.get("empty_layer"):
            made += 1
            if made == base:
                break
    return out


__all__ = ["SquashResult", "squash"]
