"""cosign v3's image signatures: a Sigstore bundle attached to the image as an OCI 1.1
referrer (``cosign sign --key``, whose ``--new-bundle-format`` is on by default since v3).

Where it lives (cosign's ``specs/BUNDLE_SPEC.md``; ``WriteAttestationNewBundleFormat`` in
``pkg/oci/remote``): an OCI image manifest with ``artifactType`` and one layer of media
type ``application/vnd.dev.sigstore.bundle.v0.3+json`` (the bundle, as JSON), the empty
config (``application/vnd.oci.empty.v1+json``, ``{}``), a ``subject`` naming the image,
and the annotations ``dev.sigstore.bundle.content: dsse-envelope`` and
``dev.sigstore.bundle.predicateType``. It is found through the referrers API or, on
registries without it, the ``sha256-<hex>`` referrers-tag index.

What it says (cosign's ``signDigestBundle``): a DSSE envelope (``dsseEnvelope``:
``payload`` and ``signatures[].sig`` base64, ``payloadType``
``application/vnd.in-toto+json``) over an in-toto Statement v1 whose one subject has
``digest: {"sha256": "<hex of the image's manifest digest>"}`` and whose ``predicateType``
is ``https://sigstore.dev/cosign/sign/v1``. The signature is over DSSE's
pre-authentication encoding, ``"DSSEv1" SP len(type) SP type SP len(body) SP body``.

The bundle's transparency-log entries and timestamps are not checked (that needs Rekor's
key and, for some, the network); a bundle is neither failed nor vouched for by them.
Bundles name no docker-reference, so there is no identity to compare.

``hullscan sign --bundle`` writes the same: the statement, a bundle whose verification
material is the key's hint (no log entry: signing is offline), and the referrer, with the
``sha256-<hex>`` index updated on registries without the referrers API.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hullscan.errors import shown
from hullscan.streams import parse_digest
from hullscan.supplychain import keys as keyfiles

BUNDLE_V03 = "application/vnd.dev.sigstore.bundle.v0.3+json"
BUNDLE_PREFIX = "application/vnd.dev.sigstore.bundle"
EMPTY_CONFIG = "application/vnd.oci.empty.v1+json"
IN_TOTO = "application/vnd.in-toto+json"
STATEMENT_V1 = "https://in-toto.io/Statement/v1"
SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"
CONTENT_ANNOTATION = "dev.sigstore.bundle.content"
PREDICATE_ANNOTATION = "dev.sigstore.bundle.predicateType"
CREATED_ANNOTATION = "org.opencontainers.image.created"
TITLE_ANNOTATION = "org.opencontainers.image.title"
MAX_BUNDLE_BYTES = 4 * 1024 * 1024  # a bundle with certificates and log entries is ~10 KB
MAX_DSSE_SIGNATURES = 16
TLOG_NOTE = "transparency-log entries not checked (offline)"


def is_bundle_media_type(value: object) -> bool:
    """v0.3 (``…bundle.v0.3+json``) and the older ``…bundle+json;version=0.x``."""
    return isinstance(value, str) and value.startswith(BUNDLE_PREFIX) and "+json" in value


def is_bundle_manifest(doc: dict[str, Any]) -> bool:
    cfg = doc.get("config") if isinstance(doc.get("config"), dict) else {}
    assert isinstance(cfg, dict)
    layers = doc.get("layers") if isinstance(doc.get("layers"), list) else []
    assert isinstance(layers, list)
    return (
        is_bundle_media_type(doc.get("artifactType"))
        or is_bundle_media_type(cfg.get("artifactType"))
        or any(isinstance(x, dict) and is_bundle_media_type(x.get("mediaType")) for x in layers)
    )


def pae(payload_type: str, body: bytes) -> bytes:
    """DSSE v1's pre-authentication encoding: what the signature is over."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(body), body)


@dataclass(frozen=True)
class BundleResult:
    key: str | None  # the key that verified the signature
    problem: str | None  # None: a valid signature of this image
    note: str | None = None


def _b64(value: object) -> bytes | None:
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        # protobuf's JSON also accepts URL-safe base64
        try:
            return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        except (binascii.Error, ValueError):
            return None


def _note(bundle: dict[str, Any]) -> str | None:
    material = bundle.get("verificationMaterial")
    entries = material.get("tlogEntries") if isinstance(material, dict) else None
    return TLOG_NOTE if isinstance(entries, list) and entries else None


def _subject_digests(statement: dict[str, Any], algo: str) -> list[str]:
    subjects = statement.get("subject")
    out = []
    for s in subjects if isinstance(subjects, list) else []:
        digest = s.get("digest") if isinstance(s, dict) else None
        value = digest.get(algo) if isinstance(digest, dict) else None
        if isinstance(value, str):
            out.append(value)
    return out


def check_bundle(
    data: bytes, manifest_digest: str, keys: Sequence[tuple[str, keyfiles.PublicKey]]
) -> BundleResult:
    """Whether the bundle ``data`` is a signature of the image ``manifest_digest`` by one
    of ``keys``; the problem in plain words when it is not."""
    if len(data) > MAX_BUNDLE_BYTES:
        return BundleResult(None, f"the bundle is larger than {MAX_BUNDLE_BYTES} bytes")
    try:
        bundle = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return BundleResult(None, "the bundle is not JSON")
    if not isinstance(bundle, dict):
        return BundleResult(None, "the bundle is not a JSON object")
    if not is_bundle_media_type(bundle.get("mediaType")):
        return BundleResult(
            None,
            f"not a Sigstore bundle (media type {shown(str(bundle.get('mediaType')))[:100]!r})",
        )
    note = _note(bundle)
    envelope = bundle.get("dsseEnvelope")
    if not isinstance(envelope, dict):
        if isinstance(bundle.get("messageSignature"), dict):
            return BundleResult(
                None,
                "a message-signature bundle (cosign signs blobs that "
                "way; it names no image, so it is not an image signature)",
                note,
            )
        return BundleResult(
            None, "the bundle holds neither a DSSE envelope nor a message signature", note
        )
    payload_type = envelope.get("payloadType")
    payload = _b64(envelope.get("payload"))
    if not isinstance(payload_type, str) or payload is None:
        return BundleResult(None, "the DSSE envelope has no valid payload and payloadType", note)
    sigs = envelope.get("signatures")
    signatures = [
        s
        for s in (
            _b64(x.get("sig")) if isinstance(x, dict) else None
            for x in (sigs if isinstance(sigs, list) else [])[:MAX_DSSE_SIGNATURES]
        )
        if s
    ]
    if not signatures:
        return BundleResult(None, "the DSSE envelope has no signature", note)
    message = pae(payload_type, payload)
    key = next(
        (name for name, k in keys for sig in signatures if keyfiles.verify(k, sig, message)), None
    )
    if key is None:
        return BundleResult(
            None,
            "the bundle's signature does not verify with "
            + ("the given key" if len(keys) == 1 else "any given key")
            + " (signed by another key, or the statement was altered)",
            note,
        )
    if payload_type != IN_TOTO:
        return BundleResult(
            key,
            f"the DSSE payload is {shown(payload_type)[:100]!r}, not an in-toto statement",
            note,
        )
    try:
        statement = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return BundleResult(key, "the in-toto statement is not JSON", note)
    if not isinstance(statement, dict):
        return BundleResult(key, "the in-toto statement is not a JSON object", note)
    predicate = statement.get("predicateType")
    if predicate != SIGN_PREDICATE:
        return BundleResult(
            key,
            f"an attestation (predicate type {shown(str(predicate))[:120]!r}), not a signature",
            note,
        )
    if statement.get("_type") != STATEMENT_V1:
        return BundleResult(
            key,
            f"the statement's _type is "
            f"{shown(str(statement.get('_type')))[:100]!r}, not {STATEMENT_V1!r}",
            note,
        )
    algo, hexpart = parse_digest(manifest_digest)
    named = _subject_digests(statement, algo)
    if not named:
        return BundleResult(key, f"the statement names no {algo} subject", note)
    if hexpart not in (d.lower() for d in named):
        return BundleResult(
            key,
            f"signs image {algo}:{shown(named[0])[:80]}, not this image "
            f"({manifest_digest}): the image changed after signing, or the "
            "signature was copied from another image",
            note,
        )
    return BundleResult(key, None, note)


# -- writing (hullscan sign --bundle) ----------------------------------------------------


def sign_statement(manifest_digest: str, annotations: dict[str, str] | None = None) -> bytes:
    """The in-toto statement cosign's ``signDigestBundle`` signs: one subject (the digest
    split at ':', the ``-a`` annotations), cosign's sign predicate type, an empty
    predicate; in protojson's field order."""
    algo, hexpart = parse_digest(manifest_digest)
    given = annotations or {}
    return json.dumps(
        {
            "_type": STATEMENT_V1,
            "subject": [
                {"digest": {algo: hexpart}, "annotations": {k: given[k] for k in sorted(given)}}
            ],
            "predicateType": SIGN_PREDICATE,
            "predicate": {},
        },
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()


def key_hint(key: keyfiles.PublicKey) -> str:
    """What cosign puts in ``verificationMaterial.publicKey.hint`` for a key: base64 of the
    SHA-256 of its SubjectPublicKeyInfo."""
    from cryptography.hazmat.primitives import serialization

    spki = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def make_bundle(key: keyfiles.PrivateKey, payload: bytes, payload_type: str = IN_TOTO) -> bytes:
    """A v0.3 bundle with a DSSE envelope signed by ``key`` (no transparency-log entry:
    hullscan signs offline)."""
    signature = keyfiles.sign(key, pae(payload_type, payload))
    return json.dumps(
        {
            "mediaType": BUNDLE_V03,
            "verificationMaterial": {"publicKey": {"hint": key_hint(key.public_key())}},
            "dsseEnvelope": {
                "payload": base64.b64encode(payload).decode(),
                "payloadType": payload_type,
                "signatures": [{"sig": base64.b64encode(signature).decode()}],
            },
        },
        separators=(",", ":"),
    ).encode()


EMPTY_JSON = b"{}"


def referrer_manifest(
    bundle: bytes, subject: dict[str, Any], created: str, predicate_type: str = SIGN_PREDICATE
) -> bytes:
    """The referrer manifest of cosign's BUNDLE_SPEC.md: artifactType and one layer of the
    bundle media type, the empty config, the image as subject, the annotations."""
    bundle_digest = "sha256:" + hashlib.sha256(bundle).hexdigest()
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": BUNDLE_V03,
            "config": {
                "mediaType": EMPTY_CONFIG,
                "size": len(EMPTY_JSON),
                "digest": "sha256:" + hashlib.sha256(EMPTY_JSON).hexdigest(),
            },
            "layers": [
                {
                    "mediaType": BUNDLE_V03,
                    "size": len(bundle),
                    "digest": bundle_digest,
                    "annotations": {
                        TITLE_ANNOTATION: bundle_digest.replace(":", "-", 1) + ".sigstore.json"
                    },
                }
            ],
            "subject": {k: subject[k] for k in ("mediaType", "size", "digest") if k in subject},
            "annotations": {
                CONTENT_ANNOTATION: "dsse-envelope",
                PREDICATE_ANNOTATION: predicate_type,
                CREATED_ANNOTATION: created,
            },
        },
        separators=(",", ":"),
    ).encode()


def referrer_descriptor(manifest: bytes) -> dict[str, Any]:
    """The manifest's entry in a referrers index (or an OCI layout's index.json): its
    artifactType and annotations, as the referrers API would list it."""
    doc = json.loads(manifest)
    return {
        "mediaType": doc["mediaType"],
        "size": len(manifest),
        "digest": "sha256:" + hashlib.sha256(manifest).hexdigest(),
        "artifactType": doc["artifactType"],
        "annotations": doc["annotations"],
    }
