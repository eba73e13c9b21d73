"""What every image source gives the pipeline: the image's documents and its layers."""

from __future__ import annotations

import functools
import hashlib
import json
import platform as _platform
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from hullscan.errors import ImageError
from hullscan.layers import LayerSource
from hullscan.model import ImageConfig, ImageMeta, LayerInfo
from hullscan.streams import Limits, parse_digest

MEDIA_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MEDIA_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX_TYPES = (MEDIA_OCI_INDEX, MEDIA_DOCKER_LIST)
MANIFEST_TYPES = (MEDIA_OCI_MANIFEST, MEDIA_DOCKER_MANIFEST)


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""

    @classmethod
    def parse(cls, text: str) -> Platform:
        parts = text.split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise ImageError(f"--platform {text!r}: expected os/arch[/variant], e.g. linux/amd64")
        return cls(*parts)

    @classmethod
    def host(cls) -> Platform:
        machine = _platform.machine().lower()
        arch = {
            "x86_64": "amd64",
            "amd64": "amd64",
            "aarch64": "arm64",
            "arm64": "arm64",
            "armv7l": "arm",
            "i686": "386",
            "i386": "386",
            "ppc64le": "ppc64le",
            "s390x": "s390x",
            "riscv64": "riscv64",
        }.get(machine, machine)
        return cls("linux", arch, "v7" if machine == "armv7l" else "")

    def matches(self, p: dict[str, Any]) -> bool:
        if p.get("os") != self.os or p.get("architecture") != self.architecture:
            return False
        return not self.variant or p.get("variant", "") in ("", self.variant)

    def __str__(self) -> str:
        return "/".join(x for x in (self.os, self.architecture, self.variant) if x)


class PendingLayers(Protocol):
    """Layer blobs still arriving (a registry pull): each can be waited for on its own."""

    def start(self, indices: Sequence[int] | None = None, keep: bool = True) -> None:
        """Start the downloads of layers ``indices`` (None: every layer not local);
        ``wait`` and ``streaming`` start a layer's too. Callers that fork worker processes
        fork them first: a fork while download threads run could deadlock.
        ``keep=False``: the blobs started here are not kept: each is sent to the one
        reader of its ``streaming`` source (which must be opened), and to nowhere else,
        or that reader downloads it itself."""

    def wait(self, index: int) -> None:
        """Return once layer ``index``'s blob was verified (and is local, unless it was
        started with ``keep=False`` and went through its reader); raise if it failed."""

    def refetch(self, index: int) -> None:
        """Layer ``index``'s reader lost its download (``BlobWithdrawn``): return once the
        blob is local and verified, downloading it into the cache if it must; raise if
        that failed."""

    def streaming(self, index: int, source: LayerSource) -> LayerSource:
        """Layer ``index``'s ``source`` reading its blob while it still downloads, once
        the download has begun; what it reads counts only after ``wait(index)``. When
        the blob is not kept, this source is the only way to its bytes: it must be
        read, once."""

    def abandon(self, index: int) -> None:
        """Layer ``index``'s reader failed: a download that would only send it the blob
        stops (``wait`` then returns, unless the download had failed on its own)."""

    def close(self) -> None:
        """Stop what has not started, wait for what has; release the connection."""


@dataclass
class Image:
    """An opened image: verified documents plus one ``LayerSource`` per layer."""

    ref: str
    transport: str
    manifest_digest: str | None
    config_digest: str | None
    config: dict[str, Any]
    layers: list[LayerInfo]
    layer_sources: list[LayerSource]
    repo_tags: tuple[str, ...] = ()
    warnings: list[str] = field(default_factory=list)
    #: what the reference names: the manifest, or the index of a multi-platform image
    #: (signatures and digest pins are made for this one)
    reference_digest: str | None = None
    #: layers still downloading (``open_image(..., defer_layers=True)``), else None
    pending: PendingLayers | None = None
    #: drops layer ``index``'s cached blob if it is damaged and brings it in again (True),
    #: else False (a registry pull's; see ``repair_layer``)
    repair: Callable[[int], bool] | None = None

    def fetch_layers(self, indices: Sequence[int] | None = None, keep: bool = True) -> None:
        """Start bringing in the blobs of layers ``indices`` (None: all) not local yet;
        ``keep=False``: see ``PendingLayers.start``."""
        if self.pending is not None:
            self.pending.start(indices, keep)

    def layer_ready(self, index: int) -> None:
        """Wait until layer ``index`` can be read."""
        if self.pending is not None:
            self.pending.wait(index)

    def layer_refetched(self, index: int) -> None:
        """Wait until layer ``index`` can be read from a local copy, after the reader of
        its arriving source lost the download."""
        if self.pending is not None:
            self.pending.refetch(index)

    def layer_arriving(self, index: int) -> LayerSource:
        """Layer ``index``'s source, reading a pulled blob as it downloads (returns once
        the download has begun): an analysis of it stands only once ``layer_ready(index)``
        has returned, which checks the blob's digest."""
        source = self.layer_sources[index]
        return source if self.pending is None else self.pending.streaming(index, source)

    def layer_abandoned(self, index: int) -> None:
        """The reader of layer ``index``'s arriving source failed (see
        ``PendingLayers.abandon``)."""
        if self.pending is not None:
            self.pending.abandon(index)

    def repair_layer(self, index: int) -> bool:
        """After a read of layer ``index`` failed: whether its blob, taken from a cache,
        was damaged there (its content no longer its digest), and is now replaced by a
        verified copy, so that reading it again may succeed. False for every other
        failure: the image itself is at fault, and the error stands."""
        if self.repair is None or not self.repair(index):
            return False
        self.warnings.append(f"layer {index}: its cached blob was damaged and was downloaded again")
        return True

    def close(self) -> None:
        if self.pending is not None:
            self.pending.close()

    @functools.cached_property
    def image_config(self) -> ImageConfig:
        """The config document's runtime settings and history, typed."""
        return ImageConfig.from_document(self.config)

    def meta(self) -> ImageMeta:
        cfg_platform = "/".join(
            str(x)
            for x in (
                self.config.get("os", ""),
                self.config.get("architecture", ""),
                self.config.get("variant", ""),
            )
            if x
        )
        return ImageMeta(
            ref=self.ref,
            transport=self.transport,
            digest=self.manifest_digest,
            config_digest=self.config_digest,
            repo_tags=self.repo_tags,
            platform=cfg_platform,
            created=str(self.config.get("created", "") or ""),
            layers=tuple(self.layers),
            config=self.config,
        )


def parse_json(data: bytes, what: str, limits: Limits) -> Any:
    """Parse a document from the image, bounded; invalid JSON is an ``ImageError``."""
    if len(data) > limits.max_json_bytes:
        raise ImageError(f"{what}: larger than {limits.max_json_bytes} bytes")
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise ImageError(f"{what}: not valid JSON ({e})") from None


def load_json(data: bytes, what: str, limits: Limits) -> dict[str, Any]:
    """Parse a document that must be a JSON object."""
    doc = parse_json(data, what, limits)
    if not isinstance(doc, dict):
        raise ImageError(f"{what}: expected a JSON object")
    return doc


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def check_digest(data: bytes, expected: str, what: str) -> None:
    actual = sha256_digest(data) if expected.startswith("sha256:") else None
    if expected.startswith("sha512:"):
        actual = "sha512:" + hashlib.sha512(data).hexdigest()
    if actual != expected:
        raise ImageError(
            f"{what}: digest mismatch: expected {expected}, got {actual} (corrupt or tampered)"
        )


def layer_infos(
    config: dict[str, Any],
    digests: list[str | None],
    media_types: list[str],
    sizes: list[int],
    what: str,
) -> list[LayerInfo]:
    """Pair the layers with the config's diff-ids and non-empty history entries."""
    rootfs = config.get("rootfs")
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(diff_ids, list) or not all(isinstance(d, str) for d in diff_ids):
        raise ImageError(f"{what}: config has no rootfs.diff_ids list")
    for d in diff_ids:  # an empty or malformed diff-id would leave the layer unverified
        try:
            parse_digest(d)
        except ImageError as e:
            raise ImageError(f"{what}: config rootfs.diff_ids: {e}") from None
    if len(diff_ids) != len(digests):
        raise ImageError(
            f"{what}: {len(digests)} layers but {len(diff_ids)} diff_ids in the config"
        )
    history = config.get("history") if isinstance(config.get("history"), list) else []
    created: list[str] = []
    empties: list[list[str]] = [[]]
    for h in history or []:
        if not isinstance(h, dict):
            continue
        line = str(h.get("created_by", "") or "")
        if h.get("empty_layer"):
            empties[-1].append(line)
        else:
            created.append(line)
            empties.append([])
    out = []
    for i, diff_id in enumerate(diff_ids):
        out.append(
            LayerInfo(
                index=i,
                diff_id=diff_id,
                digest=digests[i],
                media_type=media_types[i],
                size=sizes[i],
                created_by=created[i] if i < len(created) else "",
                empty_history=tuple(empties[i]) if i < len(empties) else (),
            )
        )
    return out
