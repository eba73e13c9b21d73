"""OCI image layouts (``oci:DIR[:TAG]``) and their tar form (``oci-archive:PATH[:TAG]``)."""

from __future__ import annotations

import re
from typing import Any

from hullscan.errors import ImageError, shown
from hullscan.layers import TarLayerSource
from hullscan.sources.interface import (
    INDEX_TYPES,
    MANIFEST_TYPES,
    Image,
    Platform,
    check_digest,
    layer_infos,
    load_json,
)
from hullscan.sources.store import Store
from hullscan.streams import Limits, parse_digest

REF_NAME = "org.opencontainers.image.ref.name"
#: cosign's tags for signatures, attestations and SBOMs of a digest (and the OCI 1.1
#: referrers tag fallback)
_SIDECAR_TAG = re.compile(r"^sha256-[0-9a-f]{64}(\.sig|\.att|\.sbom)?$")


def is_sidecar(desc: dict[str, Any]) -> bool:
    """An index entry that describes another image (a signature, attestation, SBOM) rather
    than being one: never picked when the user names no tag."""
    ann = desc.get("annotations")
    ann = ann if isinstance(ann, dict) else {}
    name = ann.get(REF_NAME)
    return (
        (isinstance(name, str) and bool(_SIDECAR_TAG.match(name)))
        or "artifactType" in desc
        or str(ann.get("kind", "")).startswith("dev.cosignproject.cosign/")
    )  # cosign save


MAX_INDEX_DEPTH = 4


def blob_name(digest: str) -> str:
    algo, hexpart = parse_digest(digest)
    return f"blobs/{algo}/{hexpart}"


def read_blob(store: Store, desc: dict[str, Any], what: str, limits: Limits) -> bytes:
    """A small blob (manifest, config), checked against its descriptor's digest and size."""
    digest = desc.get("digest")
    if not isinstance(digest, str):
        raise ImageError(f"{what}: descriptor without a digest")
    data = store.read(blob_name(digest), limits.max_json_bytes)
    size = desc.get("size")
    if isinstance(size, int) and size != len(data):
        raise ImageError(f"{what}: size {len(data)} does not match the descriptor's {size}")
    check_digest(data, digest, what)
    return data


def _annotations(desc: dict[str, Any]) -> dict[str, Any]:
    annotations = desc.get("annotations")
    return annotations if isinstance(annotations, dict) else {}


def _descriptors(index: dict[str, Any], what: str) -> list[dict[str, Any]]:
    manifests = index.get("manifests")
    if not isinstance(manifests, list) or not all(isinstance(m, dict) for m in manifests):
        raise ImageError(f"{what}: no manifests list")
    return manifests


def select_manifest(
    store: Store,
    index: dict[str, Any],
    tag: str | None,
    platform: Platform | None,
    limits: Limits,
    depth: int = 0,
    trail: list[str] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Walk (nested) indexes to one image manifest: by tag first, then by platform.
    ``trail`` collects the digest chosen at each level (the first is what a tag names)."""
    if depth > MAX_INDEX_DEPTH:
        raise ImageError(f"{store.label}: image indexes nested too deeply")
    candidates = _descriptors(index, f"{store.label} index")
    if tag is not None and depth == 0:
        if tag.startswith("sha256:"):
            candidates = [d for d in candidates if d.get("digest") == tag]
        else:
            candidates = [d for d in candidates if _annotations(d).get(REF_NAME) == tag]
        if not candidates:
            raise ImageError(
                f"{store.label}: no image tagged {tag!r} (tags: "
                f"{', '.join(available_tags(index)) or 'none'})"
            )
    elif depth == 0:
        candidates = [d for d in candidates if not is_sidecar(d)]
    with_platform = [d for d in candidates if isinstance(d.get("platform"), dict)]
    if len(candidates) > 1 and with_platform:
        want = platform or Platform.host()
        candidates = [d for d in with_platform if want.matches(d["platform"])]
        if not candidates:
            have = sorted(
                {
                    shown(
                        Platform(
                            str(d["platform"].get("os", "?")),
                            str(d["platform"].get("architecture", "?")),
                            str(d["platform"].get("variant", "") or ""),
                        )
                    )
                    for d in with_platform
                }
            )
            raise ImageError(
                f"{store.label}: no image for platform {want} "
                f"(available: {', '.join(have)}; choose with --platform)"
            )
    if len(candidates) > 1:
        raise ImageError(
            f"{store.label}: {len(candidates)} images in the layout; name one with "
            f":TAG (tags: {', '.join(available_tags(index)) or 'none'})"
        )
    if not candidates:
        raise ImageError(f"{store.label}: the index lists no images")
    desc = candidates[0]
    if trail is not None:
        trail.append(str(desc.get("digest")))
    doc = load_json(
        read_blob(store, desc, f"{store.label} manifest {desc.get('digest')}", limits),
        "manifest",
        limits,
    )
    media = doc.get("mediaType") or desc.get("mediaType")
    if media in INDEX_TYPES or (media is None and "manifests" in doc):
        return select_manifest(store, doc, tag, platform, limits, depth + 1, trail)
    if media not in MANIFEST_TYPES and not (media is None and "layers" in doc):
        raise ImageError(f"{store.label}: unsupported manifest media type {media!r}")
    return desc, doc


def available_tags(index: dict[str, Any]) -> list[str]:
    manifests = index.get("manifests")
    return [
        shown(d["annotations"][REF_NAME])
        for d in (manifests if isinstance(manifests, list) else [])
        if isinstance(d, dict)
        and isinstance(d.get("annotations"), dict)
        and REF_NAME in d["annotations"]
    ]


def image_from_manifest(
    store: Store,
    ref: str,
    transport: str,
    desc: dict[str, Any],
    manifest: dict[str, Any],
    limits: Limits,
    repo_tags: tuple[str, ...] = (),
    reference_digest: str | None = None,
) -> Image:
    """Verify the config and describe every layer; layers are verified when streamed."""
    cfg_desc = manifest.get("config")
    if not isinstance(cfg_desc, dict):
        raise ImageError(f"{store.label}: manifest has no config descriptor")
    config = load_json(
        read_blob(store, cfg_desc, f"{store.label} config", limits), "config", limits
    )
    layers = manifest.get("layers")
    if not isinstance(layers, list) or not all(isinstance(x, dict) for x in layers):
        raise ImageError(f"{store.label}: manifest has no layers list")
    digests: list[str | None] = []
    sizes: list[int] = []
    media: list[str] = []
    for i, layer in enumerate(layers):
        d = layer.get("digest")
        if not isinstance(d, str):
            raise ImageError(f"{store.label}: layer {i} has no digest")
        parse_digest(d)
        size = layer.get("size")
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
            raise ImageError(f"{store.label}: layer {i} has an invalid size {shown(size)!r}")
        digests.append(d)
        sizes.append(size or 0)
        media.append(str(layer.get("mediaType", "")))
    infos = layer_infos(config, digests, media, sizes, store.label)
    sources = []
    for info in infos:
        assert info.digest is not None
        size = layers[info.index].get("size")
        sources.append(
            TarLayerSource(
                blob=store.blob(blob_name(info.digest)),
                label=f"layer {info.index}",
                digest=info.digest,
                size=size if isinstance(size, int) else None,
                diff_id=info.diff_id,
            )
        )
    return Image(
        ref=ref,
        transport=transport,
        manifest_digest=str(desc["digest"]),
        config_digest=str(cfg_desc.get("digest")),
        config=config,
        layers=infos,
        layer_sources=list(sources),
        repo_tags=repo_tags,
        reference_digest=reference_digest or str(desc["digest"]),
    )


def open_oci(
    store: Store,
    ref: str,
    transport: str,
    tag: str | None,
    platform: Platform | None,
    limits: Limits,
) -> Image:
    if not store.exists("oci-layout"):
        raise ImageError(f"{store.label}: not an OCI image layout (no oci-layout file)")
    index = load_json(store.read("index.json", limits.max_json_bytes), "index.json", limits)
    trail: list[str] = []
    desc, manifest = select_manifest(store, index, tag, platform, limits, trail=trail)
    name = _annotations(desc).get(REF_NAME)
    tags = (str(name),) if name else ()
    return image_from_manifest(store, ref, transport, desc, manifest, limits, tags, trail[0])
