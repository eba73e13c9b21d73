"""``docker save`` archives (``docker-archive:PATH[:TAG]``), legacy and OCI-flavoured.

``manifest.json`` lists each image's config and layer files. Layers in these
archives carry no compressed digest, so each is verified by its uncompressed
digest against the config's ``diff_ids``; the config is verified by its
content-addressed name. Newer Docker versions also write an OCI ``index.json``,
which gives the manifest digest the report carries.
"""

from __future__ import annotations

import re
from typing import Any

from hullscan.errors import ImageError, shown
from hullscan.layers import TarLayerSource
from hullscan.sources.interface import Image, check_digest, layer_infos, load_json, parse_json
from hullscan.sources.oci import read_blob
from hullscan.sources.store import Store
from hullscan.streams import Limits

_HEX_NAME = re.compile(r"(?:^|/)(?:blobs/sha256/)?([0-9a-f]{64})(?:\.json)?$")


def _normalize_tag(tag: str) -> str:
    """``debian:12`` and ``docker.io/library/debian:12`` name the same image."""
    for prefix in ("docker.io/library/", "docker.io/", "index.docker.io/library/"):
        if tag.startswith(prefix):
            tag = tag[len(prefix) :]
            break
    if tag.startswith("library/"):
        tag = tag[len("library/") :]
    return tag if ":" in tag.rsplit("/", 1)[-1] or "@" in tag else f"{tag}:latest"


def _choose(entries: list[dict[str, Any]], tag: str | None, label: str) -> dict[str, Any]:
    if tag is not None:
        if tag.startswith("@") and tag[1:].isdigit():
            i = int(tag[1:])
            if i >= len(entries):
                raise ImageError(f"{label}: no image at index {i} ({len(entries)} in the archive)")
            return entries[i]
        want = _normalize_tag(tag)
        for e in entries:
            if any(_normalize_tag(t) == want for t in _tags(e)):
                return e
        tags = ", ".join(_all_tags(entries)) or "none"
        raise ImageError(f"{label}: no image tagged {tag!r} (tags: {tags})")
    if len(entries) > 1:
        raise ImageError(
            f"{label}: {len(entries)} images in the archive; name one with :TAG or "
            f":@INDEX (tags: {', '.join(_all_tags(entries)) or 'none'})"
        )
    return entries[0]


def _tags(entry: dict[str, Any]) -> list[str]:
    tags = entry.get("RepoTags")
    return [str(t) for t in tags] if isinstance(tags, list) else []


def _all_tags(entries: list[dict[str, Any]]) -> list[str]:
    return [shown(t) for e in entries for t in _tags(e)]


def _manifest_digest(store: Store, config_digest: str, limits: Limits) -> str | None:
    """From an OCI index.json inside the archive (Docker 25+), if there is one."""
    if not store.exists("index.json"):
        return None
    try:
        index = load_json(store.read("index.json", limits.max_json_bytes), "index.json", limits)
        for desc in index.get("manifests") or []:
            if not isinstance(desc, dict) or "digest" not in desc:
                continue
            manifest = load_json(read_blob(store, desc, "manifest", limits), "manifest", limits)
            config = manifest.get("config")
            if isinstance(config, dict) and config.get("digest") == config_digest:
                return str(desc["digest"])
    except ImageError:
        return None
    return None


def open_docker_archive(store: Store, ref: str, tag: str | None, limits: Limits) -> Image:
    if not store.exists("manifest.json"):
        raise ImageError(f"{store.label}: not a docker archive (no manifest.json)")
    raw = store.read("manifest.json", limits.max_json_bytes)
    doc = parse_json(raw, "manifest.json", limits)
    if not isinstance(doc, list) or not doc or not all(isinstance(e, dict) for e in doc):
        raise ImageError(f"{store.label}: manifest.json is not a list of images")
    entry = _choose(doc, tag, store.label)
    cfg_name = entry.get("Config")
    layer_names = entry.get("Layers")
    if (
        not isinstance(cfg_name, str)
        or not isinstance(layer_names, list)
        or not all(isinstance(x, str) for x in layer_names)
    ):
        raise ImageError(f"{store.label}: manifest.json entry lacks Config/Layers")
    cfg_bytes = store.read(cfg_name, limits.max_json_bytes)
    config_digest = None
    if m := _HEX_NAME.search(cfg_name):
        config_digest = f"sha256:{m.group(1)}"
        check_digest(cfg_bytes, config_digest, f"{store.label} config {cfg_name}")
    config = load_json(cfg_bytes, "config", limits)
    sizes = [store.size(name) for name in layer_names]
    digests: list[str | None] = []
    for name in layer_names:
        m = _HEX_NAME.search(name.removesuffix(".tar").removesuffix("/layer"))
        # a content-addressed blob name is the compressed digest (OCI-style archives);
        # legacy "<hex>.tar"/"<id>/layer.tar" names prove nothing, the diff-id check does
        digests.append(f"sha256:{m.group(1)}" if m and "blobs/sha256/" in name else None)
    infos = layer_infos(config, digests, ["" for _ in layer_names], sizes, store.label)
    sources = [
        TarLayerSource(
            blob=store.blob(name),
            label=f"layer {i}",
            digest=digests[i],
            size=sizes[i],
            diff_id=infos[i].diff_id,
        )
        for i, name in enumerate(layer_names)
    ]
    tags = tuple(_tags(entry))
    manifest_digest = _manifest_digest(store, config_digest, limits) if config_digest else None
    return Image(
        ref=ref,
        transport="docker-archive",
        manifest_digest=manifest_digest,
        config_digest=config_digest,
        config=config,
        layers=infos,
        layer_sources=list(sources),
        repo_tags=tags,
    )
