"""``verify --digest``: is this the image the publisher released, byte for byte?

The digest the reference names must be the released one, and every blob under it (the
platform manifest of an index, the config, every layer) must match its descriptor's
digest and size. Registry blobs are fetched afresh — never from the pull cache — hashed
while they stream, bounded by the descriptor's size, and thrown away; layout blobs are
hashed where they lie. A mismatch is a finding naming the blob, not an error.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from hullscan.errors import (
    DigestMismatch,
    HullscanError,
    ImageError,
    RegistryError,
    TooLarge,
    shown,
)
from hullscan.sources.interface import Platform, load_json
from hullscan.sources.oci import blob_name
from hullscan.sources.registry_client import RegistryClient
from hullscan.sources.registry_settings import RegistrySettings
from hullscan.sources.store import DirStore
from hullscan.streams import CHUNK, Limits, parse_digest
from hullscan.supplychain.signatures import Target, resolve_digest

MAX_DEPTH = 4


@dataclass(frozen=True)
class BlobCheck:
    what: str  # "index", "manifest", "config", "layer 3"
    digest: str
    size: int | None
    problem: str | None  # None: matches


@dataclass
class DigestReport:
    ref: str
    digest: str | None = None  # what the reference names (index or manifest)
    manifest_digest: str | None = None  # the platform's image manifest
    expected: str | None = None
    expected_problem: str | None = None
    checks: list[BlobCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.expected_problem is None and all(c.problem is None for c in self.checks)

    def problems(self) -> list[str]:
        out = [self.expected_problem] if self.expected_problem else []
        out += [f"{c.what} {c.digest}: {c.problem}" for c in self.checks if c.problem]
        return out


class _Source:
    """Blobs and manifests, hashed as they are read."""

    label: str

    def manifest(self, digest: str, limit: int) -> bytes | None:
        raise NotImplementedError

    def chunks(self, digest: str, limit: int) -> Iterator[bytes] | None:
        raise NotImplementedError


class _RegistrySource(_Source):
    def __init__(self, client: RegistryClient, limits: Limits) -> None:
        self.client = client
        self.limits = limits
        self.label = client.ref.name

    def manifest(self, digest: str, limit: int) -> bytes | None:
        try:
            return self.client.fetch_manifest(
                digest, limit, f"{self.label}: manifest {digest}"
            ).data
        except RegistryError as e:
            if e.status == 404:
                return None
            raise

    def chunks(self, digest: str, limit: int) -> Iterator[bytes] | None:
        cm = self.client.request("GET", f"blobs/{digest}")
        resp = cm.__enter__()
        if resp.status_code == 404:
            cm.__exit__(None, None, None)
            return None
        if resp.status_code != 200:
            cm.__exit__(None, None, None)
            raise HullscanError(f"{self.label}: HTTP {resp.status_code} fetching blob {digest}")

        def gen() -> Iterator[bytes]:
            try:
                yield from resp.iter_bytes(CHUNK)
            finally:
                cm.__exit__(None, None, None)

        return gen()


class _LayoutSource(_Source):
    def __init__(self, store: DirStore) -> None:
        self.store = store
        self.label = store.label

    def manifest(self, digest: str, limit: int) -> bytes | None:
        chunks = self.chunks(digest, limit)
        if chunks is None:
            return None
        out = bytearray()
        for chunk in chunks:
            out += chunk
            if len(out) > limit:
                break
        return bytes(out)

    def chunks(self, digest: str, limit: int) -> Iterator[bytes] | None:
        name = blob_name(digest)
        if not self.store.exists(name):
            return None
        ref = self.store.blob(name)

        def gen() -> Iterator[bytes]:
            with ref.open() as f:
                while chunk := f.read(CHUNK):
                    yield chunk

        return gen()


def _hash(
    chunks: Iterator[bytes], digest: str, size: int | None, limit: int
) -> tuple[str, int, bool]:
    """(actual digest, bytes seen, stopped early because over ``limit``)."""
    algo, _ = parse_digest(digest)
    h = hashlib.new(algo)
    count = 0
    try:
        for chunk in chunks:
            count += len(chunk)
            if count > limit:
                return "", count, True
            h.update(chunk)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()  # ends the download of a blob larger than it should be
    return f"{algo}:{h.hexdigest()}", count, False


def _problem(actual: str, count: int, over: bool, digest: str, size: int | None) -> str | None:
    if over:
        return f"more than the {size} bytes its descriptor says (tampered or corrupt)"
    if size is not None and count != size:
        return f"{count} bytes, but its descriptor says {size} (tampered or corrupt)"
    if actual != digest:
        return f"content hashes to {actual} (tampered or corrupt)"
    return None


def _descriptor(desc: Any, what: str) -> tuple[str, int | None]:
    if not isinstance(desc, dict) or not isinstance(desc.get("digest"), str):
        raise ImageError(f"{what}: descriptor without a digest")
    parse_digest(desc["digest"])
    size = desc.get("size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        raise ImageError(f"{what}: descriptor with an invalid size {shown(size)!r}")
    return desc["digest"], size


def _pick_platform(index: dict[str, Any], platform: Platform | None, what: str) -> dict[str, Any]:
    manifests = [m for m in index.get("manifests") or [] if isinstance(m, dict)]
    with_platform = [m for m in manifests if isinstance(m.get("platform"), dict)]
    if len(manifests) == 1:
        return manifests[0]
    want = platform or Platform.host()
    chosen = [m for m in with_platform if want.matches(m["platform"])]
    if not chosen:
        raise ImageError(
            f"{what}: no image for platform {want} in the index (choose with --platform)"
        )
    return chosen[0]


def _walk(
    source: _Source,
    report: DigestReport,
    digest: str,
    size: int | None,
    what: str,
    platform: Platform | None,
    limits: Limits,
    depth: int = 0,
) -> None:
    limit = min(size, limits.max_json_bytes) if size is not None else limits.max_json_bytes
    try:
        data = source.manifest(digest, limit)
    except TooLarge:  # more than the descriptor says: tampering, not a failure to check
        report.checks.append(
            BlobCheck(what, digest, size, _problem("", limit + 1, True, digest, size))
        )
        return
    if data is None:
        report.checks.append(BlobCheck(what, digest, size, "missing"))
        return
    actual, count, over = _hash(iter([data]), digest, size, limit)
    problem = _problem(actual, count, over, digest, size)
    report.checks.append(BlobCheck(what, digest, size, problem))
    if problem:
        return  # its descriptors cannot be trusted: stop here
    doc = load_json(data, f"{source.label}: {what} {digest}", limits)
    if isinstance(doc.get("manifests"), list):
        if depth >= MAX_DEPTH:
            raise ImageError(f"{source.label}: image indexes nested too deeply")
        report.checks[-1] = BlobCheck(
            "index" if depth == 0 else f"index (level {depth})", digest, size, None
        )
        desc = _pick_platform(doc, platform, f"{source.label} index {digest}")
        d, s = _descriptor(desc, f"{source.label} index {digest}")
        _walk(source, report, d, s, "manifest", platform, limits, depth + 1)
        return
    if doc.get("schemaVersion") == 1:
        raise ImageError(f"{source.label}: a Docker schema 1 manifest has no verifiable digests")
    report.manifest_digest = digest
    cfg = doc.get("config")
    layers = doc.get("layers")
    if not isinstance(layers, list):
        raise ImageError(f"{source.label}: manifest {digest} has no layers list")
    blobs = [("config", cfg), *((f"layer {i}", x) for i, x in enumerate(layers))]
    for name, desc in blobs:
        d, s = _descriptor(desc, f"{source.label} manifest {digest} {name}")
        if s is None:
            report.checks.append(BlobCheck(name, d, None, "its descriptor has no size"))
            continue
        chunks = source.chunks(d, s)
        if chunks is None:
            report.checks.append(BlobCheck(name, d, s, "missing"))
            continue
        actual, count, over = _hash(chunks, d, s, s)
        report.checks.append(BlobCheck(name, d, s, _problem(actual, count, over, d, s)))


def verify_digests(
    target: Target,
    expected: str | None,
    *,
    platform: Platform | None = None,
    settings: RegistrySettings | None = None,
    limits: Limits | None = None,
) -> DigestReport:
    """Check the released digest (if given) and every blob under the reference."""
    limits = limits or Limits()
    if expected is not None:
        parse_digest(expected)
    report = DigestReport(target.ref, expected=expected)
    try:
        top = resolve_digest(target, settings, limits, check_layout_manifest=False)
    except DigestMismatch as e:
        report.checks.append(BlobCheck("manifest", target.ref, None, str(e)))
        return report
    report.digest = top
    if target.reference is not None:
        client = RegistryClient(target.reference, settings)
        try:
            _walk(_RegistrySource(client, limits), report, top, None, "manifest", platform, limits)
        finally:
            client.close()
    else:
        assert target.root is not None
        store = DirStore(str(target.root))
        size = _layout_size(store, top, limits)
        _walk(_LayoutSource(store), report, top, size, "manifest", platform, limits)
    if expected is not None and expected not in (report.digest, report.manifest_digest):
        report.expected_problem = (
            f"the image's digest is {report.digest}, not the released {expected}"
        )
    return report


def _layout_size(store: DirStore, digest: str, limits: Limits) -> int | None:
    try:
        index = json.loads(store.read("index.json", limits.max_json_bytes))
    except (ValueError, UnicodeDecodeError):
        raise ImageError(f"{store.label}/index.json: not valid JSON") from None
    for m in index.get("manifests") or [] if isinstance(index, dict) else []:
        if isinstance(m, dict) and m.get("digest") == digest and isinstance(m.get("size"), int):
            return int(m["size"])
    return None
