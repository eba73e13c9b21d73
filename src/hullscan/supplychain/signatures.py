"""Sign images and check their signatures the way cosign does with keys (``cosign sign
--key``, ``cosign verify --key``), fully offline apart from the registry holding the image.

A signature counts when it verifies with one of the given public keys, its payload is a
cosign image signature naming this image's manifest digest, and (for a registry image)
it names this repository. cosign v3's Sigstore bundles (``bundle.py``) count when their
DSSE signature verifies and their in-toto statement is cosign's signature of this digest;
they name no repository. Everything else is reported with the reason.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hullscan.errors import DigestMismatch, HullscanError, ImageError, shown
from hullscan.references import Reference, engine_name, parse_reference, split_path_and_tag
from hullscan.sources.interface import MEDIA_OCI_MANIFEST, load_json, sha256_digest
from hullscan.sources.oci import REF_NAME, available_tags, is_sidecar
from hullscan.sources.registry_client import RegistryClient
from hullscan.sources.registry_settings import RegistrySettings
from hullscan.streams import Limits, parse_digest
from hullscan.supplychain import keys as keyfiles
from hullscan.supplychain.bundle import (
    MAX_BUNDLE_BYTES,
    check_bundle,
    is_bundle_media_type,
    make_bundle,
    sign_statement,
)
from hullscan.supplychain.payload import (
    MAX_PAYLOAD_BYTES,
    PayloadError,
    docker_reference,
    make_payload,
    parse_payload,
    same_identity,
)
from hullscan.supplychain.store import (
    SIG_ANNOTATION,
    SIMPLESIGNING,
    LayoutSignatureStore,
    RegistrySignatureStore,
    SignatureStore,
    fetch_manifest,
    iter_layers,
)

NOT_HERE = "signatures live in a registry or an OCI layout"
MAX_SIGNATURES = 1000  # per signature manifest


@dataclass(frozen=True)
class SignatureCheck:
    #: where it was found, e.g. "tag sha256-<hex>.sig layer 0", "referrer sha256:… layer 0"
    location: str
    key: str | None  # the key (as given, e.g. its path) that verified it; None if none did
    problem: str | None  # None when verified, else why not, in plain words
    #: what was not checked, e.g. a bundle's transparency-log entries (offline)
    note: str | None = None


@dataclass(frozen=True)
class Target:
    """Where an image (and so its signatures) lives."""

    ref: str
    reference: Reference | None = None  # a registry image
    root: Path | None = None  # an OCI layout
    tag: str | None = None

    @property
    def identity(self) -> str | None:
        """The docker-reference cosign signs: the registry repository; None for a layout."""
        return docker_reference(self.reference) if self.reference else None


def parse_target(ref: str, settings: RegistrySettings | None = None) -> Target:
    """A registry reference or an OCI layout; anything else has no place for signatures."""
    default = settings.default_registry if settings else "docker.io"
    scheme, sep, rest = ref.partition(":")
    exists = os.path.exists(ref)
    if engine_name(ref) is not None:
        raise HullscanError(
            f"{ref}: {NOT_HERE}, not in a Docker engine (push the image to a "
            "registry, or copy it to an OCI layout with skopeo copy ... oci:DIR)"
        )
    if sep and scheme in ("registry", "docker") and not exists:
        return Target(ref, reference=parse_reference(ref, default))
    if sep and scheme == "oci" and not exists:
        path, tag = split_path_and_tag(rest)
        if not os.path.isdir(path):
            raise ImageError(f"{path}: not a directory (an OCI layout is one)")
        return Target(ref, root=Path(path), tag=tag)
    if sep and scheme in ("docker-archive", "oci-archive", "dir") and not exists:
        raise HullscanError(
            f"{ref}: {NOT_HERE}, not in a {scheme} (push the image to a "
            "registry, or copy it to an OCI layout with skopeo copy ... oci:DIR)"
        )
    if os.path.isdir(ref):
        if os.path.exists(os.path.join(ref, "oci-layout")):
            return Target(ref, root=Path(ref))
        raise HullscanError(f"{ref}: {NOT_HERE}, not in a root filesystem directory")
    if os.path.isfile(ref):
        raise HullscanError(
            f"{ref}: {NOT_HERE}, not in an image archive (push the image "
            "to a registry, or copy it to an OCI layout with skopeo copy ... "
            "oci:DIR)"
        )
    if ref.startswith((".", "/")):
        raise HullscanError(f"{ref}: no such file or directory")
    return Target(ref, reference=parse_reference(ref, default))


def open_store(target: Target, settings: RegistrySettings | None, limits: Limits) -> SignatureStore:
    if target.reference is not None:
        return RegistrySignatureStore(target.reference, settings, limits)
    assert target.root is not None
    return LayoutSignatureStore(target.root, limits)


def _remote_manifest(
    ref: Reference, reference: str, settings: RegistrySettings | None, limits: Limits
) -> tuple[bytes, str | None, str | None]:
    """A manifest that must exist: (body, media type, Docker-Content-Digest)."""
    client = RegistryClient(ref, settings)
    try:
        found = fetch_manifest(client, reference, limits)
    finally:
        client.close()
    if found is None:
        raise ImageError(f"{ref.name}: manifest {shown(reference)} not found (HTTP 404)")
    return found


def resolve_digest(
    target: Target,
    settings: RegistrySettings | None,
    limits: Limits,
    *,
    check_layout_manifest: bool = True,
) -> str:
    """The digest the reference names (an index for a multi-platform image): what cosign
    signs and what a publisher releases. ``DigestMismatch`` when the manifest is not
    what its digest names."""
    if target.reference is not None:
        ref = target.reference
        reference = ref.digest or ref.tag
        assert reference is not None
        data, _media, header = _remote_manifest(ref, reference, settings, limits)
        digest = ref.digest or sha256_digest(data)
        if header and header.startswith("sha256:") and header != digest:
            raise DigestMismatch(
                f"{ref}: manifest digest mismatch: the registry says "
                f"{shown(header)}, the content is {digest}"
            )
        return digest
    store = open_store(target, settings, limits)
    assert isinstance(store, LayoutSignatureStore)
    index = store.index()
    entries = [m for m in (index.get("manifests") or []) if isinstance(m, dict)]
    if target.tag is not None:
        if target.tag.startswith("sha256:"):
            chosen = [m for m in entries if m.get("digest") == target.tag]
        else:
            chosen = [
                m
                for m in entries
                if isinstance(m.get("annotations"), dict)
                and m["annotations"].get(REF_NAME) == target.tag
            ]
        if not chosen:
            raise ImageError(
                f"{store.label}: no image tagged {target.tag!r} (tags: "
                f"{', '.join(available_tags(index)) or 'none'})"
            )
    else:
        chosen = [m for m in entries if not is_sidecar(m)]
        if len(chosen) > 1:
            raise ImageError(
                f"{store.label}: {len(chosen)} images in the layout; name one "
                f"with :TAG (tags: {', '.join(available_tags(index)) or 'none'})"
            )
        if not chosen:
            raise ImageError(f"{store.label}: the index lists no images")
    found, size = chosen[0].get("digest"), chosen[0].get("size")
    if not isinstance(found, str):
        raise ImageError(f"{store.label}: index entry without a digest")
    parse_digest(found)
    # the manifest itself must be what the digest names, or a signature of the digest
    # would vouch for whatever the file now says
    if check_layout_manifest:
        store.read_blob(found, size if isinstance(size, int) else -1, limits.max_json_bytes)
    return found


# -- checking -----------------------------------------------------------------------------


def load_public_keys(keys: Sequence[Path]) -> list[tuple[str, keyfiles.PublicKey]]:
    return [(str(k), keyfiles.load_public_key(Path(k))) for k in keys]


def _check_layer(
    store: SignatureStore,
    location: str,
    layer: dict[str, object],
    manifest_digest: str,
    keys: list[tuple[str, keyfiles.PublicKey]],
    identity: str | None,
) -> SignatureCheck:
    annotations = layer.get("annotations")
    encoded = annotations.get(SIG_ANNOTATION) if isinstance(annotations, dict) else None
    if not isinstance(encoded, str) or not encoded:
        return SignatureCheck(
            location, None, f"no {SIG_ANNOTATION} annotation (not a key-signed cosign signature)"
        )
    try:
        signature = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return SignatureCheck(location, None, "the signature annotation is not base64")
    payload, problem = _layer_blob(store, layer, MAX_PAYLOAD_BYTES, "payload")
    if payload is None:
        return SignatureCheck(location, None, problem)
    key = next((name for name, k in keys if keyfiles.verify(k, signature, payload)), None)
    if key is None:
        return SignatureCheck(
            location,
            None,
            "the signature does not verify with "
            + ("the given key" if len(keys) == 1 else "any given key")
            + " (signed by another key, or the payload was altered)",
        )
    try:
        claim = parse_payload(payload)
    except PayloadError as e:
        return SignatureCheck(location, key, f"bad payload: {e}")
    if claim.manifest_digest != manifest_digest:
        return SignatureCheck(
            location,
            key,
            f"signs image {shown(claim.manifest_digest)[:80]},"
            f" not this image ({manifest_digest}): the image changed "
            "after signing, or the signature was copied from another image",
        )
    if identity is not None and not same_identity(claim.docker_reference, identity):
        return SignatureCheck(
            location, key, f"signed for {shown(claim.docker_reference)[:200]!r}, not {identity!r}"
        )
    return SignatureCheck(location, key, None)


def _layer_blob(
    store: SignatureStore, layer: dict[str, Any], limit: int, what: str
) -> tuple[bytes | None, str]:
    """A signature manifest layer's blob, digest- and size-checked; else why not."""
    digest, size = layer.get("digest"), layer.get("size")
    if (
        not isinstance(digest, str)
        or not isinstance(size, int)
        or isinstance(size, bool)
        or size < 0
    ):
        return None, f"the {what} descriptor has no valid digest and size"
    try:
        parse_digest(digest)
        return store.read_blob(digest, size, limit), ""
    except ImageError as e:
        return None, f"{what}: {e}"


def _check_bundle_layer(
    store: SignatureStore,
    location: str,
    layer: dict[str, Any],
    manifest_digest: str,
    keys: list[tuple[str, keyfiles.PublicKey]],
) -> SignatureCheck:
    data, problem = _layer_blob(store, layer, MAX_BUNDLE_BYTES, "bundle")
    if data is None:
        return SignatureCheck(location, None, problem)
    result = check_bundle(data, manifest_digest, keys)
    return SignatureCheck(location, result.key, result.problem, result.note)


def verify_with_store(
    store: SignatureStore,
    manifest_digest: str,
    keys: list[tuple[str, keyfiles.PublicKey]],
    identity: str | None,
) -> list[SignatureCheck]:
    out: list[SignatureCheck] = []
    for m in store.signature_manifests(manifest_digest):
        if m.problem is not None:
            out.append(SignatureCheck(m.location, None, m.problem))
            continue
        count = 0
        bundles = sum(
            1
            for _, x in iter_layers(m.doc)
            if x is not None and is_bundle_media_type(x.get("mediaType"))
        )
        for i, layer in iter_layers(m.doc):
            if i >= MAX_SIGNATURES:
                out.append(
                    SignatureCheck(
                        m.location,
                        None,
                        f"more than {MAX_SIGNATURES} signatures; the rest were not checked",
                    )
                )
                break
            location = f"{m.location} layer {i}"
            if layer is not None and is_bundle_media_type(layer.get("mediaType")):
                count += 1
                where = m.location if bundles == 1 else location
                out.append(
                    _check_bundle_layer(
                        store, f"{where} (sigstore bundle)", layer, manifest_digest, keys
                    )
                )
                continue
            if layer is None or layer.get("mediaType") != SIMPLESIGNING:
                if m.location.startswith("tag "):
                    media = layer.get("mediaType") if layer else None
                    out.append(
                        SignatureCheck(
                            location,
                            None,
                            f"not a cosign signature layer (media type {shown(media)[:100]!r})",
                        )
                    )
                continue
            count += 1
            out.append(_check_layer(store, location, layer, manifest_digest, keys, identity))
        if count == 0 and not m.location.startswith("tag "):
            out.append(SignatureCheck(m.location, None, "a signature manifest without signatures"))
    return out


def check_signatures(
    ref: str,
    manifest_digest: str,
    keys: Sequence[Path],
    *,
    settings: RegistrySettings | None = None,
    cache_dir: Path | None = None,
    limits: Limits | None = None,
) -> list[SignatureCheck]:
    """Every signature of the image (empty list: unsigned). ref is a hullscan IMAGE reference
    (registry or oci: layout); raises HullscanError when signatures cannot be looked up
    (e.g. docker-archive: "signatures live in a registry or an OCI layout")."""
    del cache_dir  # signatures are always fetched afresh: a cache would let a stale one count
    return check_target(
        parse_target(ref, settings),
        manifest_digest,
        load_public_keys(keys),
        settings=settings,
        limits=limits,
    )


def check_target(
    target: Target,
    manifest_digest: str,
    keys: list[tuple[str, keyfiles.PublicKey]],
    *,
    settings: RegistrySettings | None = None,
    limits: Limits | None = None,
    identity: str | None = None,
    check_identity: bool = True,
) -> list[SignatureCheck]:
    """``identity``: the docker-reference the signatures must name (default: the
    registry repository; a layout has none unless given)."""
    parse_digest(manifest_digest)
    if not keys:
        raise HullscanError("no public key to check signatures with")
    want = (identity or target.identity) if check_identity else None
    with open_store(target, settings, limits or Limits()) as store:
        return verify_with_store(store, manifest_digest, keys, want)


# -- signing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Signed:
    digest: str
    identity: str
    location: str
    payload: bytes


def _layout_identity(root: Path) -> str:
    name = re.sub(r"[^a-z0-9._-]+", "-", root.resolve().name.lower()).strip("._-") or "image"
    return f"localhost/{name}"


def subject_descriptor(
    target: Target, digest: str, settings: RegistrySettings | None, limits: Limits
) -> dict[str, Any]:
    """The image's descriptor (media type, size, digest): a referrer's ``subject``."""
    if target.reference is not None:
        data, media, _ = _remote_manifest(target.reference, digest, settings, limits)
        if media is None or media == "application/json":
            parsed = load_json(data, f"manifest {digest}", limits).get("mediaType")
            media = parsed if isinstance(parsed, str) else None
        return {"mediaType": media or MEDIA_OCI_MANIFEST, "size": len(data), "digest": digest}
    store = open_store(target, settings, limits)
    assert isinstance(store, LayoutSignatureStore)
    entry = next(
        (
            m
            for m in store.index().get("manifests") or []
            if isinstance(m, dict) and m.get("digest") == digest
        ),
        None,
    )
    if entry is None or not isinstance(entry.get("size"), int):
        raise ImageError(f"{store.label}: no index.json entry with the size of {digest}")
    return {
        "mediaType": entry.get("mediaType") or MEDIA_OCI_MANIFEST,
        "size": entry["size"],
        "digest": digest,
    }


def sign_image(
    ref: str,
    key: keyfiles.PrivateKey,
    *,
    settings: RegistrySettings | None = None,
    limits: Limits | None = None,
    annotations: dict[str, str] | None = None,
    identity: str | None = None,
    bundle: bool = False,
) -> Signed:
    """Sign the digest ``ref`` names and store the signature where cosign would: the
    ``.sig`` tag (cosign's classic format), or with ``bundle`` a Sigstore bundle attached
    as an OCI 1.1 referrer (cosign v3's default). A bundle names no docker-reference."""
    limits = limits or Limits()
    target = parse_target(ref, settings)
    digest = resolve_digest(target, settings, limits)
    if bundle:
        subject = subject_descriptor(target, digest, settings, limits)
        statement = sign_statement(digest, annotations)
        data = make_bundle(key, statement)
        created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        with open_store(target, settings, limits) as store:
            where = store.write_bundle(digest, subject, data, created)
        return Signed(digest, "", where, statement)
    claimed = identity or target.identity or _layout_identity(target.root or Path("."))
    payload = make_payload(claimed, digest, annotations)
    signature = base64.b64encode(keyfiles.sign(key, payload)).decode()
    with open_store(target, settings, limits) as store:
        where = store.write_signature(digest, payload, signature)
    return Signed(digest, claimed, where, payload)
