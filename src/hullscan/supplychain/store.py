"""Where cosign keeps signatures, in a registry and in an OCI layout.

cosign stores the signatures of an image with manifest digest ``sha256:<hex>`` as an OCI
image manifest tagged ``sha256-<hex>.sig`` in the image's own repository: an (almost
empty) config and one layer per signature, of media type
``application/vnd.dev.cosign.simplesigning.v1+json``, whose blob is the payload and
whose annotation ``dev.cosignproject.cosign/signature`` is the base64 signature.
Signing again appends a layer. In OCI 1.1 "referrers" mode the same kind of manifest
carries ``artifactType: application/vnd.dev.cosign.artifact.sig.v1+json`` and a
``subject`` pointing at the image; it is found through ``GET /v2/<repo>/referrers/<digest>``
or, on registries without that API, the index tagged ``sha256-<hex>``. cosign v3 stores a
Sigstore bundle there instead (``artifactType`` and layer media type
``application/vnd.dev.sigstore.bundle.v0.3+json``; see ``bundle.py``).

In an OCI layout the ``.sig`` manifest is an index.json entry whose
``org.opencontainers.image.ref.name`` is ``sha256-<hex>.sig``; entries of referrers
(a ``subject``) and of ``cosign save`` (annotation ``kind: dev.cosignproject.cosign/sigs``)
are read too.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hullscan.atomicfile import exclusive_lock, write_atomically
from hullscan.errors import DigestMismatch, HullscanError, ImageError, RegistryError, shown
from hullscan.references import Reference
from hullscan.sources.interface import MEDIA_OCI_INDEX, MEDIA_OCI_MANIFEST, load_json, sha256_digest
from hullscan.sources.oci import REF_NAME, blob_name
from hullscan.sources.registry_client import RegistryClient, read_bounded
from hullscan.sources.registry_push import push_blob, put_manifest
from hullscan.sources.registry_settings import RegistrySettings
from hullscan.sources.store import DirStore
from hullscan.streams import Limits, parse_digest
from hullscan.supplychain.bundle import (
    EMPTY_JSON,
    is_bundle_manifest,
    is_bundle_media_type,
    referrer_descriptor,
    referrer_manifest,
)
from hullscan.supplychain.payload import go_json

SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIG_ARTIFACT = "application/vnd.dev.cosign.artifact.sig.v1+json"
SIG_ANNOTATION = "dev.cosignproject.cosign/signature"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
COSIGN_KIND, COSIGN_SIGS = "kind", "dev.cosignproject.cosign/sigs"
ZERO_TIME = "0001-01-01T00:00:00Z"
MAX_REFERRERS = 1000
MAX_LAYOUT_ENTRIES = 10_000
#: read-modify-write cycles of a registry tag before giving up on a writer that keeps
#: replacing it
CONFLICT_RETRIES = 5


def sig_tag(digest: str) -> str:
    algo, hexpart = parse_digest(digest)
    return f"{algo}-{hexpart}.sig"


def referrers_tag(digest: str) -> str:
    algo, hexpart = parse_digest(digest)
    return f"{algo}-{hexpart}"


@dataclass(frozen=True)
class SignatureManifest:
    location: str  # "tag sha256-<hex>.sig", "referrer sha256:…", "layout entry …"
    digest: str
    doc: dict[str, Any]
    problem: str | None = None  # set when the manifest itself cannot be read or trusted


def is_signature_artifact(artifact_type: object) -> bool:
    """An index entry's artifactType that may be a signature: cosign's OCI 1.1 ``.sig``
    artifact, or a Sigstore bundle (cosign v3)."""
    return (
        artifact_type is None
        or artifact_type == SIG_ARTIFACT
        or is_bundle_media_type(artifact_type)
    )


def is_signature_manifest(doc: dict[str, Any]) -> bool:
    """A cosign signature manifest, or a Sigstore bundle referrer (which may turn out
    to be an attestation: that is reported, not counted)."""
    if is_bundle_manifest(doc):
        return True
    cfg = doc.get("config") if isinstance(doc.get("config"), dict) else {}
    assert isinstance(cfg, dict)
    layers = doc.get("layers") if isinstance(doc.get("layers"), list) else []
    assert isinstance(layers, list)
    return (
        doc.get("artifactType") == SIG_ARTIFACT
        or cfg.get("mediaType") == SIG_ARTIFACT
        or any(isinstance(x, dict) and x.get("mediaType") == SIMPLESIGNING for x in layers)
    )


def _subject(doc: dict[str, Any]) -> str | None:
    subject = doc.get("subject")
    digest = subject.get("digest") if isinstance(subject, dict) else None
    return digest if isinstance(digest, str) else None


def _ordered_descriptor(desc: dict[str, Any]) -> dict[str, Any]:
    """go-containerregistry's field order: mediaType, size, digest, …, annotations."""
    out: dict[str, Any] = {k: desc[k] for k in ("mediaType", "size", "digest") if k in desc}
    for k, v in desc.items():
        if k not in out and k != "annotations":
            out[k] = v
    if isinstance(desc.get("annotations"), dict):
        out["annotations"] = {k: desc["annotations"][k] for k in sorted(desc["annotations"])}
    return out


def signature_layer(payload: bytes, signature_b64: str) -> dict[str, Any]:
    return {
        "mediaType": SIMPLESIGNING,
        "size": len(payload),
        "digest": sha256_digest(payload),
        "annotations": {SIG_ANNOTATION: signature_b64},
    }


def build_signature_manifest(layers: list[dict[str, Any]]) -> tuple[bytes, bytes]:
    """(manifest, config) as cosign writes them: go-containerregistry's ``empty.Image``
    with OCI media types and the signature layers appended (one history entry and one
    diff-id each; creation time left at Go's zero time, cosign's default)."""
    config = go_json(
        {
            "architecture": "",
            "created": ZERO_TIME,
            "history": [{"created": ZERO_TIME} for _ in layers],
            "os": "",
            "rootfs": {"type": "layers", "diff_ids": [x["digest"] for x in layers]},
            "config": {},
        }
    )
    manifest = go_json(
        {
            "schemaVersion": 2,
            "mediaType": MEDIA_OCI_MANIFEST,
            "config": {
                "mediaType": OCI_CONFIG,
                "size": len(config),
                "digest": sha256_digest(config),
            },
            "layers": [_ordered_descriptor(x) for x in layers],
        }
    )
    return manifest, config


def _same_signature(a: dict[str, Any], b: dict[str, Any]) -> bool:
    ann_a, ann_b = a.get("annotations"), b.get("annotations")
    return (
        a.get("digest") == b.get("digest")
        and isinstance(ann_a, dict)
        and isinstance(ann_b, dict)
        and ann_a.get(SIG_ANNOTATION) == ann_b.get(SIG_ANNOTATION)
    )


def _existing_layers(existing: dict[str, Any] | None, what: str) -> list[dict[str, Any]]:
    if existing is None:
        return []
    layers = existing.get("layers")
    if not isinstance(layers, list) or not all(isinstance(x, dict) for x in layers):
        raise HullscanError(
            f"{what}: the existing signature manifest has no layers list; refusing to overwrite it"
        )
    return list(layers)


class SignatureStore(ABC):
    label: str

    @abstractmethod
    def signature_manifests(self, digest: str) -> list[SignatureManifest]:
        """Every manifest that may hold signatures of the image ``digest``."""

    @abstractmethod
    def read_blob(self, digest: str, size: int, limit: int) -> bytes:
        """A blob checked against its digest and size (``ImageError`` otherwise)."""

    @abstractmethod
    def write_signature(self, digest: str, payload: bytes, signature_b64: str) -> str:
        """Append one signature to the image's ``.sig`` manifest; returns where."""

    @abstractmethod
    def write_bundle(
        self, digest: str, subject: dict[str, Any], bundle: bytes, created: str
    ) -> str:
        """Attach a Sigstore bundle to the image as an OCI 1.1 referrer (cosign v3);
        returns where."""

    def close(self) -> None:
        return None

    def __enter__(self) -> SignatureStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_blob(data: bytes, digest: str, size: int | None, what: str) -> None:
    if size is not None and len(data) != size:
        raise DigestMismatch(
            f"{what}: {len(data)} bytes, but the descriptor says {size} (tampered or corrupt)"
        )
    actual = (
        sha256_digest(data)
        if digest.startswith("sha256:")
        else "sha512:" + hashlib.sha512(data).hexdigest()
    )
    if actual != digest:
        raise DigestMismatch(
            f"{what}: digest mismatch: expected {digest}, got {actual} (tampered or corrupt)"
        )


# -- registry -----------------------------------------------------------------------------


def fetch_manifest(
    client: RegistryClient, reference: str, limits: Limits
) -> tuple[bytes, str | None, str | None] | None:
    """(body, media type, Docker-Content-Digest) of a manifest, or None when there is
    none (404). A digest reference is checked against the body (a mismatch is
    tampering: ``DigestMismatch``)."""
    what = f"{client.ref.name} manifest {shown(reference)}"
    try:
        found = client.fetch_manifest(reference, limits.max_json_bytes, what)
    except RegistryError as e:
        if e.status == 404:
            return None
        raise
    if reference.startswith("sha256:"):
        _check_blob(found.data, reference, None, what)
    return found.data, found.media_type, found.header_digest


class RegistrySignatureStore(SignatureStore):
    def __init__(self, ref: Reference, settings: RegistrySettings | None, limits: Limits) -> None:
        self.client = RegistryClient(ref, settings)
        self.limits = limits
        self.label = ref.name

    def close(self) -> None:
        self.client.close()

    def _manifest(self, reference: str) -> tuple[str, dict[str, Any]] | None:
        found = fetch_manifest(self.client, reference, self.limits)
        if found is None:
            return None
        data = found[0]
        return sha256_digest(data), load_json(
            data, f"{self.label} manifest {shown(reference)}", self.limits
        )

    def _referrers_api(self, digest: str) -> dict[str, Any] | None:
        """The referrers API's index, or None when the registry has no such API."""
        with self.client.request("GET", f"referrers/{digest}", accept=MEDIA_OCI_INDEX) as resp:
            if resp.status_code == 200:
                media = resp.headers.get("Content-Type", "").split(";")[0].strip()
                data = read_bounded(
                    resp,
                    self.limits.max_json_bytes,
                    f"{self.label} referrers of {digest}",
                    self.client.deadline(),
                )
                if media == MEDIA_OCI_INDEX or media == "application/json":
                    with contextlib.suppress(ImageError):
                        return load_json(data, f"{self.label} referrers", self.limits)
        return None

    def _referrers_index(self, digest: str) -> dict[str, Any] | None:
        index = self._referrers_api(digest)
        if index is not None:
            return index
        # no referrers API: the fallback tag
        found = self._manifest(referrers_tag(digest))
        return found[1] if found else None

    def signature_manifests(self, digest: str) -> list[SignatureManifest]:
        out: list[SignatureManifest] = []
        tagged = self._manifest(sig_tag(digest))
        if tagged is not None:
            out.append(SignatureManifest(f"tag {sig_tag(digest)}", tagged[0], tagged[1]))
        index = self._referrers_index(digest)
        seen = {m.digest for m in out}
        for desc in _index_entries(index)[:MAX_REFERRERS]:
            d = desc.get("digest")
            if not isinstance(d, str) or d in seen:
                continue
            if not is_signature_artifact(desc.get("artifactType")):
                continue  # an SBOM, an in-toto attestation, …
            try:
                parse_digest(d)
            except ImageError:
                continue
            try:
                found = self._manifest(d)
            except DigestMismatch as e:
                out.append(SignatureManifest(f"referrer {d}", d, {}, str(e)))
                continue
            if found is None:
                continue
            doc = found[1]
            if is_signature_manifest(doc) and _subject(doc) in (digest, None):
                seen.add(d)
                out.append(SignatureManifest(f"referrer {d}", d, doc))
        return out

    def read_blob(self, digest: str, size: int, limit: int) -> bytes:
        what = f"{self.label} blob {digest}"
        if size > limit:
            raise ImageError(f"{what}: {size} bytes, more than the {limit} expected")
        with self.client.request("GET", f"blobs/{digest}") as resp:
            if resp.status_code != 200:
                raise ImageError(f"{what}: HTTP {resp.status_code}")
            data = read_bounded(resp, size, what, self.client.deadline())
        _check_blob(data, digest, size, what)
        return data

    def _lock(self, tag: str) -> contextlib.AbstractContextManager[None]:
        """Signers on this machine take turns on one tag (a registry has no compare-and-
        swap for manifests); signers elsewhere are caught by reading the tag back."""
        from hullscan.cache import default_cache_dir

        locks = default_cache_dir() / "locks"
        locks.mkdir(parents=True, exist_ok=True)
        key = hashlib.sha256(
            f"{self.client.ref.host}/{self.client.ref.repository}:{tag}".encode()
        ).hexdigest()
        return exclusive_lock(locks / f"{key}.lock")

    def _merge(
        self,
        tag: str,
        what: str,
        update: Callable[[dict[str, Any] | None], bytes],
        media_type: str,
        contains: Callable[[dict[str, Any]], bool],
    ) -> None:
        """Read the manifest at ``tag``, put ``update(it)``, and read it back: another
        signer who read the same old manifest may have replaced ours meanwhile, and then
        the cycle runs again on what it wrote."""
        with self._lock(tag):
            for attempt in range(CONFLICT_RETRIES):
                found = self._manifest(tag)
                if found is None or not contains(found[1]):
                    put_manifest(
                        self.client, tag, update(found[1] if found else None), media_type, what
                    )
                after = self._manifest(tag)
                if after is not None and contains(after[1]):
                    return
                time.sleep(random.uniform(0.05, 0.2) * (attempt + 1))
        raise HullscanError(
            f"{self.label}:{tag}: another writer kept replacing the {what}; try again"
        )

    def write_signature(self, digest: str, payload: bytes, signature_b64: str) -> str:
        tag = sig_tag(digest)
        layer = signature_layer(payload, signature_b64)
        push_blob(self.client, payload, "signature payload")

        def update(existing: dict[str, Any] | None) -> bytes:
            layers = [*_existing_layers(existing, f"{self.label}:{tag}"), layer]
            manifest, config = build_signature_manifest(layers)
            push_blob(self.client, config, "signature config")
            return manifest

        def contains(doc: dict[str, Any]) -> bool:
            return any(_same_signature(x, layer) for _, x in iter_layers(doc) if x)

        self._merge(tag, "signature manifest", update, MEDIA_OCI_MANIFEST, contains)
        return f"{self.label}:{tag}"

    def write_bundle(
        self, digest: str, subject: dict[str, Any], bundle: bytes, created: str
    ) -> str:
        manifest = referrer_manifest(bundle, subject, created)
        push_blob(self.client, bundle, "signature bundle")
        push_blob(self.client, EMPTY_JSON, "empty config")
        mdigest = put_manifest(
            self.client,
            sha256_digest(manifest),
            manifest,
            MEDIA_OCI_MANIFEST,
            "bundle referrer manifest",
        )
        where = f"{self.label}@{mdigest}"
        if self._referrers_api(digest) is not None:
            return f"{where} (a referrer of {digest})"
        # no referrers API: the referrers tag schema of the OCI distribution spec
        tag = referrers_tag(digest)
        desc = referrer_descriptor(manifest)

        def update(found: dict[str, Any] | None) -> bytes:
            index: dict[str, Any] = found or {
                "schemaVersion": 2,
                "mediaType": MEDIA_OCI_INDEX,
                "manifests": [],
            }
            if index.get("mediaType") != MEDIA_OCI_INDEX or not isinstance(
                index.get("manifests"), list
            ):
                raise HullscanError(
                    f"{self.label}:{tag} is not an OCI image index; refusing to overwrite it"
                )
            index["manifests"] = [
                m
                for m in index["manifests"]
                if not (isinstance(m, dict) and m.get("digest") == mdigest)
            ] + [desc]
            return json.dumps(index).encode()

        def contains(index: dict[str, Any]) -> bool:
            return any(
                isinstance(m, dict) and m.get("digest") == mdigest for m in _index_entries(index)
            )

        self._merge(tag, "referrers index", update, MEDIA_OCI_INDEX, contains)
        return f"{where} (listed in tag {tag}: the registry has no referrers API)"


def _index_entries(index: dict[str, Any] | None) -> list[dict[str, Any]]:
    manifests = index.get("manifests") if index else None
    if not isinstance(manifests, list):
        return []
    return [m for m in manifests if isinstance(m, dict)]


# -- OCI layout ---------------------------------------------------------------------------


class LayoutSignatureStore(SignatureStore):
    def __init__(self, root: Path, limits: Limits) -> None:
        self.root = root
        self.store = DirStore(str(root))
        self.limits = limits
        self.label = str(root)
        if not self.store.exists("oci-layout"):
            raise ImageError(f"{root}: not an OCI image layout (no oci-layout file)")

    def index(self) -> dict[str, Any]:
        return load_json(
            self.store.read("index.json", self.limits.max_json_bytes),
            f"{self.label}/index.json",
            self.limits,
        )

    def _manifest(self, desc: dict[str, Any]) -> dict[str, Any] | None:
        d, size = desc.get("digest"), desc.get("size")
        if not isinstance(d, str):
            return None
        try:
            data = self.read_blob(
                d, size if isinstance(size, int) else -1, self.limits.max_json_bytes
            )
        except ImageError:
            return None
        try:
            return load_json(data, f"{self.label} manifest {d}", self.limits)
        except ImageError:
            return None

    def signature_manifests(self, digest: str) -> list[SignatureManifest]:
        out: list[SignatureManifest] = []
        tag, rtag = sig_tag(digest), referrers_tag(digest)
        for desc in _index_entries(self.index())[:MAX_LAYOUT_ENTRIES]:
            d = desc.get("digest")
            ann = desc.get("annotations") if isinstance(desc.get("annotations"), dict) else {}
            assert isinstance(ann, dict)
            name = ann.get(REF_NAME)
            if not isinstance(d, str) or d == digest:
                continue
            if name == tag:
                doc = self._manifest(desc)
                out.append(
                    SignatureManifest(
                        f"tag {tag}",
                        d,
                        doc or {},
                        None
                        if doc is not None
                        else f"the signature manifest {d} is missing, tampered or corrupt",
                    )
                )
            elif name == rtag:
                index = self._manifest(desc)
                for ref_desc in _index_entries(index)[:MAX_REFERRERS]:
                    doc = self._manifest(ref_desc)
                    if (
                        doc is not None
                        and is_signature_manifest(doc)
                        and _subject(doc) in (digest, None)
                    ):
                        out.append(
                            SignatureManifest(
                                f"referrer {ref_desc.get('digest')}",
                                str(ref_desc.get("digest")),
                                doc,
                            )
                        )
            elif ann.get(COSIGN_KIND) == COSIGN_SIGS:
                doc = self._manifest(desc)
                if doc is not None:
                    out.append(SignatureManifest(f"layout entry {d} (cosign save)", d, doc))
            elif (
                desc.get("mediaType") in (MEDIA_OCI_MANIFEST, None)
                and is_signature_artifact(desc.get("artifactType"))
                and name is None
            ):
                doc = self._manifest(desc)
                if doc is not None and _subject(doc) == digest and is_signature_manifest(doc):
                    out.append(SignatureManifest(f"referrer {d}", d, doc))
        unique: dict[tuple[str, str], SignatureManifest] = {}
        for m in out:
            unique.setdefault((m.location, m.digest), m)
        return list(unique.values())

    def read_blob(self, digest: str, size: int, limit: int) -> bytes:
        what = f"{self.label} blob {digest}"
        data = self.store.read(blob_name(digest), limit)
        _check_blob(data, digest, size if size >= 0 else None, what)
        return data

    def _write_blob(self, data: bytes) -> str:
        digest = sha256_digest(data)
        target = self.root / blob_name(digest)
        if self.store.exists(blob_name(digest)):
            with contextlib.suppress(ImageError):
                self.read_blob(digest, len(data), len(data))
                return digest  # present and intact
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(target, data, 0o644)
        return digest

    def _write_index(self, index: dict[str, Any]) -> None:
        write_atomically(
            self.root / "index.json", json.dumps(index, indent=2).encode() + b"\n", 0o644
        )

    def write_signature(self, digest: str, payload: bytes, signature_b64: str) -> str:
        # two signers of one layout take turns: each re-reads index.json and the signature
        # manifest under the lock, so neither drops the other's signature
        with exclusive_lock(self.root):
            return self._write_signature(digest, payload, signature_b64)

    def _write_signature(self, digest: str, payload: bytes, signature_b64: str) -> str:
        tag = sig_tag(digest)
        index = self.index()
        entries = index.get("manifests")
        if not isinstance(entries, list):
            raise ImageError(f"{self.label}/index.json: no manifests list")
        existing_desc = next(
            (
                m
                for m in entries
                if isinstance(m, dict)
                and isinstance(m.get("annotations"), dict)
                and m["annotations"].get(REF_NAME) == tag
            ),
            None,
        )
        existing = self._manifest(existing_desc) if existing_desc else None
        if existing_desc is not None and existing is None:
            raise ImageError(
                f"{self.label}: the signature manifest tagged {tag} is missing or "
                "corrupt; refusing to replace it"
            )
        layers = _existing_layers(existing, f"{self.label}:{tag}")
        layers.append(signature_layer(payload, signature_b64))
        manifest, config = build_signature_manifest(layers)
        self._write_blob(payload)
        self._write_blob(config)
        mdigest = self._write_blob(manifest)
        entry = {
            "mediaType": MEDIA_OCI_MANIFEST,
            "digest": mdigest,
            "size": len(manifest),
            "annotations": {REF_NAME: tag},
        }
        index["manifests"] = [m for m in entries if m is not existing_desc] + [entry]
        self._write_index(index)
        return f"{self.label} (index.json entry {tag})"

    def write_bundle(
        self, digest: str, subject: dict[str, Any], bundle: bytes, created: str
    ) -> str:
        with exclusive_lock(self.root):
            return self._write_bundle(digest, subject, bundle, created)

    def _write_bundle(
        self, digest: str, subject: dict[str, Any], bundle: bytes, created: str
    ) -> str:
        manifest = referrer_manifest(bundle, subject, created)
        index = self.index()
        entries = index.get("manifests")
        if not isinstance(entries, list):
            raise ImageError(f"{self.label}/index.json: no manifests list")
        self._write_blob(bundle)
        self._write_blob(EMPTY_JSON)
        mdigest = self._write_blob(manifest)
        index["manifests"] = [*entries, referrer_descriptor(manifest)]
        self._write_index(index)
        return f"{self.label} (index.json entry {mdigest}, a referrer of {digest})"


def iter_layers(doc: dict[str, Any]) -> Iterator[tuple[int, dict[str, Any] | None]]:
    layers = doc.get("layers")
    for i, layer in enumerate(layers if isinstance(layers, list) else []):
        yield i, layer if isinstance(layer, dict) else None
