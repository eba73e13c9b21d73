"""Fuzz cosign signatures and Sigstore bundles, as ``verify`` reads them from an OCI layout.

The first byte picks what the rest is:

- bit 0 clear: a simple-signing payload (``@D@`` is replaced by the image's digest),
  signed with the harness' key and stored by hullscan's own writer, so mutated payloads
  get past the signature check to the payload parser;
- bit 0 set, bit 1 clear: an in-toto statement (``@D@`` likewise), wrapped in a bundle
  signed with the key and attached as a referrer;
- bits 0 and 1 set: a raw bundle document (its signature will not verify: this reaches
  the bundle parser up to the signature).

Bit 2 set flips one byte of the stored payload or bundle after signing: no signature may
then count as valid.
"""

from __future__ import annotations

import base64
import json
import shutil

from contract import (
    ContractViolation,
    check_bounded,
    expect,
    instrumented,
    main,
    mutate,
    scratch_dir,
)

with instrumented():
    from cryptography.hazmat.primitives.asymmetric import ec

    from hullscan.errors import ImageError
    from hullscan.sources.interface import sha256_digest
    from hullscan.sources.oci import blob_name
    from hullscan.streams import Limits
    from hullscan.supplychain import keys as keyfiles
    from hullscan.supplychain.bundle import make_bundle, sign_statement
    from hullscan.supplychain.payload import make_payload
    from hullscan.supplychain.signatures import verify_with_store
    from hullscan.supplychain.store import LayoutSignatureStore

#: a fixed key: signatures need not be secret here, only real
KEY = ec.derive_private_key(0x5EED, ec.SECP256R1())
KEYS = [("fuzz.pub", KEY.public_key())]
IMAGE = b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}'
DIGEST = sha256_digest(IMAGE)
SUBJECT = {
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "digest": DIGEST,
    "size": len(IMAGE),
}
ROOT = scratch_dir("signature")
LIMITS = Limits(max_json_bytes=256 * 1024)


def _layout() -> LayoutSignatureStore:
    shutil.rmtree(ROOT, ignore_errors=True)
    (ROOT / "blobs" / "sha256").mkdir(parents=True)
    (ROOT / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (ROOT / blob_name(DIGEST)).write_bytes(IMAGE)
    (ROOT / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [SUBJECT]}))
    return LayoutSignatureStore(ROOT, LIMITS)


def _store(kind: int, body: bytes) -> tuple[LayoutSignatureStore, str]:
    """Write the signature; return the store and the digest of the blob it signs."""
    store = _layout()
    body = body.replace(b"@D@", DIGEST.encode()).replace(b"@H@", DIGEST[7:].encode())
    if kind == 0:
        signature = keyfiles.sign(KEY, body)
        store.write_signature(DIGEST, body, base64.b64encode(signature).decode())
        blob = body
    else:
        blob = make_bundle(KEY, body) if kind == 1 else body
        store.write_bundle(DIGEST, SUBJECT, blob, "2024-01-01T00:00:00Z")
    return store, sha256_digest(blob)


def test_one_input(data: bytes) -> None:
    if not data:
        return
    kind = 0 if not data[0] & 1 else (1 if not data[0] & 2 else 2)
    store, blob_digest = _store(kind, data[1:])
    if data[0] & 4:
        path = ROOT / blob_name(blob_digest)
        path.write_bytes(mutate(path.read_bytes(), data[0] >> 3) if data[1:] else b"x")
    checks = expect(lambda: verify_with_store(store, DIGEST, KEYS, None), (ImageError,))
    check_bounded(len(checks or ()), 64, "signature checks")
    valid = [c for c in checks or () if c.key is not None and c.problem is None]
    if data[0] & 4 and valid:
        raise ContractViolation("a signature over altered content was accepted")
    if kind == 0 and not data[0] & 4 and body_is_payload(data[1:]) and not valid:
        raise ContractViolation(f"hullscan's own signature was refused: {checks}")


def body_is_payload(body: bytes) -> bool:
    """Whether ``body`` is exactly the payload ``sign`` writes for the image."""
    return body.replace(b"@D@", DIGEST.encode()) == make_payload(
        "example.com/app", DIGEST, {"team": "fuzz"}
    )


def seeds() -> dict[str, bytes]:
    payload = make_payload("example.com/app", DIGEST, {"team": "fuzz"})
    statement = sign_statement(DIGEST, {"team": "fuzz"})
    d = DIGEST.encode()
    return {
        "payload": b"\x00" + payload.replace(d, b"@D@"),
        "statement": b"\x01" + statement.replace(DIGEST.split(":")[1].encode(), b"@H@"),
        "bundle": b"\x03" + make_bundle(KEY, statement),
        "payload-tampered": b"\x04" + payload.replace(d, b"@D@"),
    }


if __name__ == "__main__":
    main(test_one_input)
