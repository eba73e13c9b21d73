"""cosign v3's image signatures: a Sigstore bundle (DSSE envelope over an in-toto statement
with predicate type https://sigstore.dev/cosign/sign/v1) attached to the image as an OCI 1.1
referrer, found through the referrers API, the sha256-<hex> referrers-tag fallback, or an
OCI layout's index.json.

Real data (quoted below with its origin): a bundle cosign v3 made with ``cosign sign --key``
and its public key, and the DSSE envelope of cosign's own attestation bundle test data.
The referrer manifests are built per cosign's specs/BUNDLE_SPEC.md.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from hullscan.cli import main
from hullscan.supplychain import keys as K
from hullscan.supplychain.bundle import (
    BUNDLE_V03,
    SIGN_PREDICATE,
    TLOG_NOTE,
    check_bundle,
    is_bundle_manifest,
    pae,
)
from hullscan.supplychain.signatures import SignatureCheck, check_signatures

from conftest import hexpart, run
from imagebuilder import BuiltImage, build, debian_base, file, sha256, write_blob, write_oci
from localregistry import REF_NAME, REGISTRY, SKOPEO, push, start_registry, stop_registry

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
EMPTY = "application/vnd.oci.empty.v1+json"
IN_TOTO = "application/vnd.in-toto+json"
SLSA = "https://slsa.dev/provenance/v1"

# -- real data ---------------------------------------------------------------------------

# cloud-boot/tamago-uefi uefiboard/ministack/oci/cosign_test.go (liveCosignV3BundleJSON,
# liveCosignV3PubKeyPEM, liveCosignV3ManifestDigest): "Real bytes captured 2026-06-09 from
# a cosign v3 sign session against ttl.sh" (cosign sign --key). Note protojson's ", "
# separators, and the publicKey hint: base64(sha256(the key's SubjectPublicKeyInfo)).
LIVE_PAYLOAD = (
    "eyJfdHlwZSI6Imh0dHBzOi8vaW4tdG90by5pby9TdGF0ZW1lbnQvdjEiLCAic3ViamVjdCI6W3siZGlnZXN0"
    "Ijp7InNoYTI1NiI6IjUwOTliODlkNzY2NmNjMjE4NmNhZDc2OWRkYzI2MmRkYzdjMzM1YjMzZjVmZTc5Zjlm"
    "ZmU1MGEwMTI4MmIyM2UifSwgImFubm90YXRpb25zIjp7fX1dLCAicHJlZGljYXRlVHlwZSI6Imh0dHBzOi8v"
    "c2lnc3RvcmUuZGV2L2Nvc2lnbi9zaWduL3YxIiwgInByZWRpY2F0ZSI6e319"
)
LIVE_BUNDLE = (
    '{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json", "verificationMaterial":'
    '{"publicKey":{"hint":"h162TZsIBy5Y8U9qYWcmpVAp5dKpXhR7gnz8sNfZjV4="}}, "dsseEnvelope":'
    '{"payload":"' + LIVE_PAYLOAD + '", "payloadType":"application/vnd.in-toto+json", '
    '"signatures":[{"sig":"MEUCIBs2jKDupMmrqsjzI3W2oiID2y0P7n4UKT/RZHFeUOuhAiEA4SWsNDZXQBFqaA1/'
    'npF+HOGAaG2iuA52mxgPFCpgQog="}]}}'
).encode()
LIVE_PUB = """-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEoJmXprHRCRJdqHnRaPDkVssbQNO1
is6XUr+/ApqnDi8HvBCRPbwU2P8jgkgtOOggNUf03tvJe0/9eZOb04aDbQ==
-----END PUBLIC KEY-----
"""
LIVE_DIGEST = "sha256:5099b89d7666cc2186cad769ddc262ddc7c335b33f5fe79f9ffe50a01282b23e"

# sigstore/cosign pkg/cosign/testdata/oci-attestation.sigstore.json: a bundle cosign made
# for an attestation (cosign attest, predicate type https://cosign.sigstore.dev/attestation/v1)
# of the image 127.0.0.1:60943/repo@sha256:7321…, signed keyless: its DSSE envelope and
# Fulcio certificate verbatim (the signature verifies with the certificate's key); its
# tlogEntries reduced to the first entry's logIndex and logId, as they are not checked.
ATT_CERT = (
    "MIICzzCCAlWgAwIBAgIUF2e+Ci0YsLnPaFUknbNDtUcqXl0wCgYIKoZIzj0EAwMwNzEVMBMGA1UEChMMc2ln"
    "c3RvcmUuZGV2MR4wHAYDVQQDExVzaWdzdG9yZS1pbnRlcm1lZGlhdGUwHhcNMjUwMjI4MTkxODExWhcNMjUw"
    "MjI4MTkyODExWjAAMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEk/CiYRmA9zsa7ams/+fI+wGeXOFxng4J"
    "0wSj1jub7kxArHhGwvgcVE3ubrGXNQB9X3ksG0F+MiXHG8gRzxrr0KOCAXQwggFwMA4GA1UdDwEB/wQEAwIH"
    "gDATBgNVHSUEDDAKBggrBgEFBQcDAzAdBgNVHQ4EFgQUcPdotYluBHI4fkYy3yij5SY4728wHwYDVR0jBBgw"
    "FoAU39Ppz1YkEZb5qNjpKFWixi4YZD8wHgYDVR0RAQH/BBQwEoEQY29keUBzb3lsYW5kLmNvbTAsBgorBgEE"
    "AYO/MAEBBB5odHRwczovL2dpdGh1Yi5jb20vbG9naW4vb2F1dGgwLgYKKwYBBAGDvzABCAQgDB5odHRwczov"
    "L2dpdGh1Yi5jb20vbG9naW4vb2F1dGgwgYoGCisGAQQB1nkCBAIEfAR6AHgAdgDdPTBqxscRMmMZHhyZZzcC"
    "okpeuN48rf+HinKALynujgAAAZVN/q3JAAAEAwBHMEUCIQCdLrw1b9rE6rFd+NAJVPaw4DmH0YNOH2AYIOc4"
    "g26WmgIgG7Gub5hz7gzFpvhdb9HQsObWfTNcUiSOmrnPlmaQaKUwCgYIKoZIzj0EAwMDaAAwZQIxAMwB66cC"
    "KVhOYq2JMx20FPfJXD6K6oaUV8aIlCiW/YLLZdkWjTWkXt4qIbPgUeAl6wIwdCmnnSMw9fG7FuKz14RYFSbE"
    "1VLhNiWhGYpfCj00FtNRoXF+NFQ7DOKjjq7xPjza"
)
ATT_PAYLOAD = (
    "eyJfdHlwZSI6Imh0dHBzOi8vaW4tdG90by5pby9TdGF0ZW1lbnQvdjAuMSIsInByZWRpY2F0ZVR5cGUiOiJo"
    "dHRwczovL2Nvc2lnbi5zaWdzdG9yZS5kZXYvYXR0ZXN0YXRpb24vdjEiLCJzdWJqZWN0IjpbeyJuYW1lIjoi"
    "MTI3LjAuMC4xOjYwOTQzL3JlcG8iLCJkaWdlc3QiOnsic2hhMjU2IjoiNzMyMTEyMjcwZDdlNTk0MThhOGMw"
    "ODBiMTM0YjI0Y2FiZDY3ZDI1MGQwZDAxNDdhOTdlZDk1YmE1YzI4MGFhNCJ9fV0sInByZWRpY2F0ZSI6eyJE"
    "YXRhIjoie1wiZm9vXCI6IFwiYmFyXCJ9XG4iLCJUaW1lc3RhbXAiOiIyMDI1LTAyLTI4VDE5OjE4OjExWiJ9"
    "fQ=="
)
ATT_SIG = (
    "MEQCIDomiuYVgNKyfYz/leqvtEY2xuifteigjq+LfShu92BBAiBxixsGZNYBVRhGjX6OZiPQBIoUf+i8"
    "VgPh//AT/z4Vgg=="
)
ATT_BUNDLE = json.dumps(
    {
        "mediaType": BUNDLE_V03,
        "verificationMaterial": {
            "certificate": {"rawBytes": ATT_CERT},
            "tlogEntries": [
                {
                    "logIndex": "175508996",
                    "logId": {"keyId": "wNI9atQGlz+VWfO6LRygH4QUfY/8W4RFwiT5i5WRgB0="},
                }
            ],
        },
        "dsseEnvelope": {
            "payload": ATT_PAYLOAD,
            "payloadType": IN_TOTO,
            "signatures": [{"sig": ATT_SIG}],
        },
    },
    separators=(",", ":"),
).encode()
ATT_DIGEST = "sha256:732112270d7e59418a8c080b134b24cabd67d250d0d0147a97ed95ba5c280aa4"


# -- helpers: a bundle and its referrer, as cosign v3 writes them ------------------------


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def statement(digest: str, predicate_type: str = SIGN_PREDICATE) -> bytes:
    """cosign's signDigestBundle: one subject, the digest split at ':', empty annotations
    and predicate."""
    algo, hexdigest = digest.split(":", 1)
    return json.dumps(
        {
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"digest": {algo: hexdigest}, "annotations": {}}],
            "predicateType": predicate_type,
            "predicate": {},
        }
    ).encode()


def make_bundle(
    key: K.PrivateKey, payload: bytes, payload_type: str = IN_TOTO, tlog: bool = False
) -> bytes:
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    material: dict[str, Any] = {"publicKey": {"hint": b64(hashlib.sha256(spki).digest())}}
    if tlog:
        material["tlogEntries"] = [
            {"logIndex": "1", "kindVersion": {"kind": "dsse", "version": "0.0.1"}}
        ]
    return json.dumps(
        {
            "mediaType": BUNDLE_V03,
            "verificationMaterial": material,
            "dsseEnvelope": {
                "payload": b64(payload),
                "payloadType": payload_type,
                "signatures": [{"sig": b64(K.sign(key, pae(payload_type, payload)))}],
            },
        }
    ).encode()


def referrer(
    bundle: bytes, subject: str, subject_size: int, predicate_type: str = SIGN_PREDICATE
) -> bytes:
    """The referrer manifest of BUNDLE_SPEC.md ("Publishing" and "Annotations")."""
    return json.dumps(
        {
            "mediaType": OCI_MANIFEST,
            "schemaVersion": 2,
            "artifactType": BUNDLE_V03,
            "config": {"mediaType": EMPTY, "digest": sha256(b"{}"), "size": 2},
            "layers": [
                {
                    "digest": sha256(bundle),
                    "mediaType": BUNDLE_V03,
                    "size": len(bundle),
                    "annotations": {
                        "org.opencontainers.image.title": (
                            f"sha256-{hexpart(sha256(bundle))}.sigstore.json"
                        )
                    },
                }
            ],
            "subject": {"digest": subject, "mediaType": OCI_MANIFEST, "size": subject_size},
            "annotations": {
                "dev.sigstore.bundle.content": "dsse-envelope",
                "dev.sigstore.bundle.predicateType": predicate_type,
                "org.opencontainers.image.created": "2026-01-02T03:04:05Z",
            },
        }
    ).encode()


def index_entry(manifest: bytes, predicate_type: str = SIGN_PREDICATE) -> dict[str, Any]:
    return {
        "mediaType": OCI_MANIFEST,
        "digest": sha256(manifest),
        "size": len(manifest),
        "artifactType": BUNDLE_V03,
        "annotations": {
            "dev.sigstore.bundle.content": "dsse-envelope",
            "dev.sigstore.bundle.predicateType": predicate_type,
        },
    }


@pytest.fixture
def signer(tmp_path: Path) -> tuple[ec.EllipticCurvePrivateKey, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    pub = tmp_path / "cosign.pub"
    pub.write_bytes(K.public_pem(key.public_key()))
    return key, pub


@pytest.fixture(scope="module")
def image() -> BuiltImage:
    return build([debian_base(), [file("etc/app", "bundle-signed\n")]])


@pytest.fixture(scope="module")
def image2() -> BuiltImage:
    return build([debian_base(), [file("etc/app", "another image\n")]])


# -- the bundle itself -------------------------------------------------------------------


def test_pae_is_dsse_v1() -> None:
    # secure-systems-lab/dsse protocol.md: PAE(type, body) and its worked example
    assert (
        pae("http://example.com/HelloWorld", b"hello world")
        == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )
    assert pae("", b"") == b"DSSEv1 0  0 "


def test_real_cosign_v3_bundle_verifies(tmp_path: Path) -> None:
    path = tmp_path / "live.pub"
    path.write_text(LIVE_PUB)
    key = K.load_public_key(path)
    spki = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert json.loads(LIVE_BUNDLE)["verificationMaterial"]["publicKey"]["hint"] == b64(
        hashlib.sha256(spki).digest()
    )
    result = check_bundle(LIVE_BUNDLE, LIVE_DIGEST, [("live.pub", key)])
    assert (result.key, result.problem, result.note) == ("live.pub", None, None)
    # the same bundle next to another image
    other = check_bundle(LIVE_BUNDLE, "sha256:" + "ab" * 32, [("live.pub", key)])
    assert (
        other.key == "live.pub" and other.problem is not None and "not this image" in other.problem
    )
    # another key
    wrong = ec.generate_private_key(ec.SECP256R1()).public_key()
    bad = check_bundle(LIVE_BUNDLE, LIVE_DIGEST, [("other.pub", wrong)])
    assert bad.key is None and bad.problem is not None and "does not verify" in bad.problem


def test_real_cosign_attestation_bundle_is_not_a_signature() -> None:
    cert = x509.load_der_x509_certificate(base64.b64decode(ATT_CERT))
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    result = check_bundle(ATT_BUNDLE, ATT_DIGEST, [("fulcio-leaf", key)])
    assert result.key == "fulcio-leaf"  # the DSSE signature over PAE is cosign's
    assert result.problem == (
        "an attestation (predicate type "
        "'https://cosign.sigstore.dev/attestation/v1'), not a signature"
    )
    assert result.note == TLOG_NOTE


@pytest.mark.parametrize("curve", [ec.SECP256R1(), ec.SECP384R1()])
def test_key_types(curve: ec.EllipticCurve) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    digest = "sha256:" + "12" * 32
    for key in (
        ec.generate_private_key(curve),
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
    ):
        bundle = make_bundle(key, statement(digest), tlog=True)
        result = check_bundle(bundle, digest, [("k", key.public_key())])
        assert (result.key, result.problem, result.note) == ("k", None, TLOG_NOTE)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            lambda b: {
                **b,
                "dsseEnvelope": {
                    **b["dsseEnvelope"],
                    "payload": b64(
                        base64.b64decode(b["dsseEnvelope"]["payload"]).replace(b"{}", b'{"x":1}', 1)
                    ),
                },
            },
            "does not verify",
        ),
        (
            lambda b: {**b, "dsseEnvelope": {**b["dsseEnvelope"], "payloadType": "text/plain"}},
            "does not verify",
        ),
        (lambda b: {**b, "dsseEnvelope": {**b["dsseEnvelope"], "signatures": []}}, "no signature"),
        (
            lambda b: (
                {k: v for k, v in b.items() if k != "dsseEnvelope"}
                | {
                    "messageSignature": {
                        "messageDigest": {"algorithm": "SHA2_256", "digest": b64(b"x" * 32)},
                        "signature": b64(b"sig"),
                    }
                }
            ),
            "message-signature bundle",
        ),
        (lambda b: {**b, "mediaType": "application/json"}, "not a Sigstore bundle"),
    ],
)
def test_altered_bundles_fail(change: Any, problem: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    digest = "sha256:" + "34" * 32
    bundle = json.loads(make_bundle(key, statement(digest)))
    result = check_bundle(json.dumps(change(bundle)).encode(), digest, [("k", key.public_key())])
    assert result.problem is not None and problem in result.problem, result


def test_statement_checks() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    keys = [("k", key.public_key())]
    digest = "sha256:" + "56" * 32
    other = "sha256:" + "78" * 32
    assert check_bundle(make_bundle(key, statement(digest)), digest, keys).problem is None
    assert "not this image" in str(
        check_bundle(make_bundle(key, statement(other)), digest, keys).problem
    )
    assert "an attestation (predicate type 'https://slsa.dev/provenance/v1')" in str(
        check_bundle(make_bundle(key, statement(digest, SLSA)), digest, keys).problem
    )
    v01 = json.loads(statement(digest))
    v01["_type"] = "https://in-toto.io/Statement/v0.1"
    assert "_type" in str(
        check_bundle(make_bundle(key, json.dumps(v01).encode()), digest, keys).problem
    )
    assert "not an in-toto statement" in str(
        check_bundle(
            make_bundle(key, statement(digest), payload_type="text/plain"), digest, keys
        ).problem
    )


# -- the referrers API (a scripted registry) ----------------------------------------------


def test_referrers_api_with_real_and_built_bundles(signer: tuple[Any, Path]) -> None:
    """A registry with the OCI 1.1 referrers API: the real cosign v3 bundle and one built
    here both verify; an attestation bundle is reported, not counted; an SBOM referrer is
    skipped; no fallback tag is asked for."""
    from hullscan.references import parse_reference
    from hullscan.sources.registry_client import RegistryClient
    from hullscan.streams import Limits
    from hullscan.supplychain.signatures import load_public_keys, verify_with_store
    from hullscan.supplychain.store import RegistrySignatureStore

    key, pub = signer
    live_pub = pub.with_name("live.pub")
    live_pub.write_text(LIVE_PUB)
    built = make_bundle(key, statement(LIVE_DIGEST))
    attestation = make_bundle(key, statement(LIVE_DIGEST, SLSA))
    manifests = {
        "live": referrer(LIVE_BUNDLE, LIVE_DIGEST, 1234),
        "built": referrer(built, LIVE_DIGEST, 1234),
        "att": referrer(attestation, LIVE_DIGEST, 1234, SLSA),
    }
    blobs = {sha256(b): b for b in (LIVE_BUNDLE, built, attestation)}
    by_digest = {sha256(m): m for m in manifests.values()}
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": "sha256:" + "5" * 64,
                    "size": 10,
                    "artifactType": "application/spdx+json",
                },
                index_entry(manifests["live"]),
                index_entry(manifests["built"]),
                index_entry(manifests["att"], SLSA),
            ],
        }
    ).encode()
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        asked.append(path)
        if path == f"/v2/o/app/referrers/{LIVE_DIGEST}":
            return httpx.Response(200, content=index, headers={"Content-Type": OCI_INDEX})
        name = path.rsplit("/", 1)[-1]
        if path.startswith("/v2/o/app/manifests/") and name in by_digest:
            return httpx.Response(
                200, content=by_digest[name], headers={"Content-Type": OCI_MANIFEST}
            )
        if path.startswith("/v2/o/app/blobs/") and name in blobs:
            return httpx.Response(200, content=blobs[name])
        return httpx.Response(404)

    ref = parse_reference("registry:reg.test/o/app:1")
    store = RegistrySignatureStore(ref, None, Limits())
    store.client.close()
    store.client = RegistryClient(ref, transport=httpx.MockTransport(handler))
    with store:
        checks = verify_with_store(
            store, LIVE_DIGEST, load_public_keys([pub, live_pub]), "reg.test/o/app"
        )
    assert checks == [
        SignatureCheck(
            f"referrer {sha256(manifests['live'])} (sigstore bundle)", str(live_pub), None
        ),
        SignatureCheck(f"referrer {sha256(manifests['built'])} (sigstore bundle)", str(pub), None),
        SignatureCheck(
            f"referrer {sha256(manifests['att'])} (sigstore bundle)",
            str(pub),
            f"an attestation (predicate type {SLSA!r}), not a signature",
        ),
    ]
    assert f"/v2/o/app/manifests/sha256-{hexpart(LIVE_DIGEST)}" not in asked
    assert "/v2/o/app/manifests/sha256:" + "5" * 64 not in asked


# -- a real registry without the referrers API: the sha256-<hex> tag ----------------------


@pytest.fixture(scope="module")
def registry(
    tmp_path_factory: pytest.TempPathFactory, image: BuiltImage, image2: BuiltImage
) -> Iterator[str]:
    if not os.access(REGISTRY, os.X_OK) or SKOPEO is None:
        pytest.skip("needs /usr/bin/docker-registry (bash scripts/registry.sh) and skopeo")
    root = tmp_path_factory.mktemp("bundlereg")
    one = write_oci([(image, {"annotations": {REF_NAME: "1"}})], root / "one")
    two = write_oci([(image2, {"annotations": {REF_NAME: "2"}})], root / "two")
    reg = start_registry(root / "registry")
    try:
        for repo in ("b/app", "b/copied", "b/attested"):
            push(one, "1", f"{reg.host}/{repo}:1")
        push(two, "2", f"{reg.host}/b/copied:2")
        yield reg.host
    finally:
        stop_registry(reg)


def attach(
    host: str, repo: str, subject: BuiltImage, bundle: bytes, predicate_type: str = SIGN_PREDICATE
) -> str:
    """What cosign v3 does on a registry without the referrers API: bundle blob, empty
    config, the referrer manifest by digest, and the sha256-<hex> index listing it."""
    from hullscan.references import parse_reference
    from hullscan.sources.registry_client import RegistryClient
    from hullscan.sources.registry_push import push_blob, put_manifest

    manifest = referrer(bundle, subject.manifest_digest, len(subject.manifest), predicate_type)
    client = RegistryClient(parse_reference(f"registry:{host}/{repo}:1"))
    try:
        assert push_blob(client, bundle) == sha256(bundle)
        assert push_blob(client, b"{}") == sha256(b"{}")
        put_manifest(client, sha256(manifest), manifest, OCI_MANIFEST)
        tag = f"sha256-{hexpart(subject.manifest_digest)}"
        existing = httpx.get(
            f"http://{host}/v2/{repo}/manifests/{tag}", headers={"Accept": OCI_INDEX}
        )
        entries = existing.json()["manifests"] if existing.status_code == 200 else []
        index = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": [*entries, index_entry(manifest, predicate_type)],
            }
        ).encode()
        put_manifest(client, tag, index, OCI_INDEX)
    finally:
        client.close()
    return sha256(manifest)


def test_registry_referrers_tag(
    registry: str,
    image: BuiltImage,
    signer: tuple[Any, Path],
    other_pub: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo = "b/app"
    assert (
        httpx.get(f"http://{registry}/v2/{repo}/referrers/{image.manifest_digest}").status_code
        == 404
    )  # distribution 2.8: the fallback tag it is
    key, pub = signer
    ref = f"registry:{registry}/{repo}:1"
    code, out, _ = run(capsys, "verify", ref, "--key", str(pub))
    assert code == 1 and "unsigned" in out
    mdigest = attach(
        registry, repo, image, make_bundle(key, statement(image.manifest_digest), tlog=True)
    )
    code, out, err = run(capsys, "verify", ref, "--key", str(pub))
    assert code == 0, out + err
    assert f"referrer {mdigest} (sigstore bundle)  verified with {pub}" in out
    checks = check_signatures(ref, image.manifest_digest, [pub])
    assert checks == [
        SignatureCheck(f"referrer {mdigest} (sigstore bundle)", str(pub), None, TLOG_NOTE)
    ]
    # the wrong key
    code, out, _ = run(capsys, "verify", ref, "--key", str(other_pub))
    assert code == 1 and "does not verify with the given key" in out
    # no identity to check: a bundle names no repository
    code, out, _ = run(capsys, "verify", ref, "--key", str(pub), "--identity", "elsewhere/x")
    assert code == 0, out
    # the JSON report
    code, out, _ = run(capsys, "verify", ref, "--key", str(pub), "--format", "json")
    result = json.loads(out)["signatures"]["results"]
    assert result == [
        {
            "location": f"referrer {mdigest} (sigstore bundle)",
            "key": str(pub),
            "verified": True,
            "problem": None,
        }
    ]


def test_registry_bundle_for_another_image(
    registry: str,
    image: BuiltImage,
    image2: BuiltImage,
    signer: tuple[Any, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A bundle signing image2, attached as a referrer of image: its statement's subject
    is another image."""
    key, pub = signer
    attach(registry, "b/copied", image, make_bundle(key, statement(image2.manifest_digest)))
    code, out, _ = run(capsys, "verify", f"registry:{registry}/b/copied:1", "--key", str(pub))
    assert code == 1
    assert f"signs image {image2.manifest_digest}, not this image" in out
    assert "no signature verifies" in out


def test_registry_attestation_is_not_a_signature(
    registry: str, image: BuiltImage, signer: tuple[Any, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    key, pub = signer
    ref = f"registry:{registry}/b/attested:1"
    attach(
        registry,
        "b/attested",
        image,
        make_bundle(key, statement(image.manifest_digest, SLSA)),
        SLSA,
    )
    code, out, _ = run(capsys, "verify", ref, "--key", str(pub))
    assert code == 1 and "an attestation" in out and "no signature verifies" in out
    # a signature next to it counts
    mdigest = attach(
        registry, "b/attested", image, make_bundle(key, statement(image.manifest_digest))
    )
    code, out, _ = run(capsys, "verify", ref, "--key", str(pub))
    assert code == 0, out
    checks = check_signatures(ref, image.manifest_digest, [pub])
    assert [c.problem is None for c in checks] == [False, True]
    assert checks[1].location == f"referrer {mdigest} (sigstore bundle)"


# -- an OCI layout ------------------------------------------------------------------------


def add_to_layout(
    layout: Path, image: BuiltImage, bundle: bytes, predicate_type: str = SIGN_PREDICATE
) -> str:
    manifest = referrer(bundle, image.manifest_digest, len(image.manifest), predicate_type)
    for b in (bundle, b"{}", manifest):
        write_blob(layout, b)
    index = json.loads((layout / "index.json").read_text())
    index["manifests"].append(index_entry(manifest, predicate_type))
    (layout / "index.json").write_text(json.dumps(index))
    return sha256(manifest)


@pytest.fixture
def layout(tmp_path: Path, image: BuiltImage) -> Path:
    return write_oci([(image, {"annotations": {REF_NAME: "1"}})], tmp_path / "oci")


def test_layout_bundle(
    layout: Path,
    image: BuiltImage,
    signer: tuple[Any, Path],
    other_pub: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    key, pub = signer
    mdigest = add_to_layout(layout, image, make_bundle(key, statement(image.manifest_digest)))
    manifest = json.loads((layout / "blobs" / "sha256" / hexpart(mdigest)).read_bytes())
    assert is_bundle_manifest(manifest)
    code, out, err = run(capsys, "verify", f"oci:{layout}:1", "--key", str(pub))
    assert code == 0, out + err
    assert f"referrer {mdigest} (sigstore bundle)" in out
    code, out, _ = run(capsys, "verify", f"oci:{layout}:1", "--key", str(other_pub))
    assert code == 1 and "does not verify" in out
    # the layout still names one image when no tag is given
    code, out, err = run(capsys, "verify", f"oci:{layout}", "--key", str(pub))
    assert code == 0, out + err


def test_layout_tampered_statement(
    layout: Path,
    image: BuiltImage,
    image2: BuiltImage,
    signer: tuple[Any, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The statement re-pointed at this image after signing another one; then the bundle
    blob itself altered on disk."""
    key, pub = signer
    bundle = json.loads(make_bundle(key, statement(image2.manifest_digest)))
    bundle["dsseEnvelope"]["payload"] = b64(statement(image.manifest_digest))
    data = json.dumps(bundle).encode()
    mdigest = add_to_layout(layout, image, data)
    code, out, _ = run(capsys, "verify", f"oci:{layout}:1", "--key", str(pub))
    assert code == 1 and "does not verify" in out
    (layout / "blobs" / "sha256" / hexpart(sha256(data))).write_bytes(data.replace(b"{", b" {", 1))
    code, out, _ = run(capsys, "verify", f"oci:{layout}:1", "--key", str(pub))
    assert (
        code == 1
        and f"referrer {mdigest} (sigstore bundle)" in out
        and "tampered or corrupt" in out
    )


def test_supplychain_scanner_sees_bundle_signature(
    tmp_path: Path, layout: Path, image: BuiltImage, signer: tuple[Any, Path]
) -> None:
    key, pub = signer
    trust = tmp_path / "trust.yaml"
    trust.write_text(f"policies:\n  - {{name: builds, scopes: [local], keys: [{pub.name}]}}\n")
    out = tmp_path / "report.json"
    args = [
        "scan",
        f"oci:{layout}:1",
        "--scanners",
        "supplychain",
        "--trust-policy",
        str(trust),
        "--fail-on",
        "HIGH",
        "--format",
        "json",
        "-o",
        str(out),
        "-q",
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    assert main(args) == 1
    assert [f["id"] for f in json.loads(out.read_text())["findings"]] == ["HS-SC-001"]
    add_to_layout(layout, image, make_bundle(key, statement(image.manifest_digest, SLSA)), SLSA)
    assert main(args) == 1  # an attestation is not a signature
    assert [f["id"] for f in json.loads(out.read_text())["findings"]] == ["HS-SC-002"]
    mdigest = add_to_layout(layout, image, make_bundle(key, statement(image.manifest_digest)))
    assert main(args) == 0
    report = json.loads(out.read_text())
    assert report["findings"] == []
    assert {
        "location": f"referrer {mdigest} (sigstore bundle)",
        "key": str(pub),
        "problem": None,
    } in report["summary"]["supplychain"]["signatures"]
    checks = check_signatures(f"oci:{layout}:1", image.manifest_digest, [pub])
    assert sorted(c.problem is None for c in checks) == [False, True]


# -- hullscan sign --bundle ---------------------------------------------------------------


def check_referrer(manifest: dict[str, Any], subject: BuiltImage) -> None:
    """The shape BUNDLE_SPEC.md gives."""
    assert manifest["mediaType"] == OCI_MANIFEST and manifest["schemaVersion"] == 2
    assert manifest["artifactType"] == BUNDLE_V03
    assert manifest["config"] == {"mediaType": EMPTY, "size": 2, "digest": sha256(b"{}")}
    (layer,) = manifest["layers"]
    assert layer["mediaType"] == BUNDLE_V03
    assert (
        layer["annotations"]["org.opencontainers.image.title"]
        == f"sha256-{hexpart(layer['digest'])}.sigstore.json"
    )
    assert manifest["subject"] == {
        "mediaType": OCI_MANIFEST,
        "size": len(subject.manifest),
        "digest": subject.manifest_digest,
    }
    ann = manifest["annotations"]
    assert ann["dev.sigstore.bundle.content"] == "dsse-envelope"
    assert ann["dev.sigstore.bundle.predicateType"] == SIGN_PREDICATE
    assert ann["org.opencontainers.image.created"].endswith("Z")


def test_sign_bundle_layout(
    layout: Path, image: BuiltImage, keypair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    key, pub = keypair
    code, out, err = run(
        capsys, "sign", f"oci:{layout}:1", "--key", str(key), "--bundle", "-a", "ci=yes"
    )
    assert code == 0, err
    assert f"Signed {image.manifest_digest} (Sigstore bundle)" in out
    index = json.loads((layout / "index.json").read_text())["manifests"]
    (entry,) = [e for e in index if e.get("artifactType") == BUNDLE_V03]
    assert entry["annotations"]["dev.sigstore.bundle.predicateType"] == SIGN_PREDICATE
    assert REF_NAME not in entry["annotations"]  # found by its subject, not a tag
    manifest = json.loads((layout / "blobs" / "sha256" / hexpart(entry["digest"])).read_bytes())
    check_referrer(manifest, image)
    bundle = (layout / "blobs" / "sha256" / hexpart(manifest["layers"][0]["digest"])).read_bytes()
    doc = json.loads(bundle)
    assert doc["mediaType"] == BUNDLE_V03 and "tlogEntries" not in doc["verificationMaterial"]
    stmt = json.loads(base64.b64decode(doc["dsseEnvelope"]["payload"]))
    assert stmt == {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [
            {"digest": {"sha256": hexpart(image.manifest_digest)}, "annotations": {"ci": "yes"}}
        ],
        "predicateType": SIGN_PREDICATE,
        "predicate": {},
    }
    public = K.load_public_key(pub)
    assert check_bundle(bundle, image.manifest_digest, [("k", public)]).problem is None
    code, out, err = run(capsys, "verify", f"oci:{layout}:1", "--key", str(pub))
    assert code == 0, out + err
    assert f"referrer {entry['digest']} (sigstore bundle)  verified with {pub}" in out
    # again, and the classic format next to it: every signature is kept and verifies
    assert main(["sign", f"oci:{layout}:1", "--key", str(key), "--bundle"]) == 0
    assert main(["sign", f"oci:{layout}:1", "--key", str(key)]) == 0
    checks = check_signatures(f"oci:{layout}:1", image.manifest_digest, [pub])
    assert len(checks) == 3 and all(c.problem is None for c in checks)
    assert sum(c.location.endswith("(sigstore bundle)") for c in checks) == 2
    # the layout still holds one image
    capsys.readouterr()
    code, out, _ = run(capsys, "verify", f"oci:{layout}", "--key", str(pub))
    assert code == 0, out


def test_sign_bundle_refuses_identity(
    layout: Path, keypair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = run(
        capsys,
        "sign",
        f"oci:{layout}:1",
        "--key",
        str(keypair[0]),
        "--bundle",
        "--identity",
        "example.com/x",
    )
    assert code == 2 and "--identity does not apply to --bundle" in err


def test_sign_bundle_registry_referrers_tag(
    registry: str,
    image2: BuiltImage,
    keypair: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """distribution 2.8 has no referrers API: the sha256-<hex> index is written, and kept
    up to date on the next signing."""
    key, pub = keypair
    ref = f"registry:{registry}/b/copied:2"
    tag = f"sha256-{hexpart(image2.manifest_digest)}"
    code, out, err = run(capsys, "sign", ref, "--key", str(key), "--bundle")
    assert code == 0, err
    assert f"listed in tag {tag}" in out
    resp = httpx.get(
        f"http://{registry}/v2/b/copied/manifests/{tag}", headers={"Accept": OCI_INDEX}
    )
    assert resp.status_code == 200 and resp.headers["Content-Type"] == OCI_INDEX
    (entry,) = resp.json()["manifests"]
    assert entry["artifactType"] == BUNDLE_V03 and entry["mediaType"] == OCI_MANIFEST
    assert entry["annotations"]["dev.sigstore.bundle.content"] == "dsse-envelope"
    manifest = httpx.get(
        f"http://{registry}/v2/b/copied/manifests/{entry['digest']}",
        headers={"Accept": OCI_MANIFEST},
    )
    assert sha256(manifest.content) == entry["digest"] and len(manifest.content) == entry["size"]
    check_referrer(manifest.json(), image2)
    assert main(["sign", ref, "--key", str(key), "--bundle"]) == 0
    entries = httpx.get(
        f"http://{registry}/v2/b/copied/manifests/{tag}", headers={"Accept": OCI_INDEX}
    ).json()["manifests"]
    assert len(entries) == 2 and entries[0] == entry
    capsys.readouterr()
    code, out, err = run(capsys, "verify", ref, "--key", str(pub))
    assert code == 0, out + err
    assert out.count("(sigstore bundle)  verified with") == 2


def test_sign_bundle_with_referrers_api(keypair: tuple[Path, Path], image: BuiltImage) -> None:
    """A registry with the referrers API indexes the referrer itself: no tag is written."""
    from hullscan.references import parse_reference
    from hullscan.sources.registry_client import RegistryClient
    from hullscan.streams import Limits
    from hullscan.supplychain.bundle import make_bundle as hullscan_bundle
    from hullscan.supplychain.bundle import sign_statement
    from hullscan.supplychain.store import RegistrySignatureStore

    private = K.load_private_key(keypair[0], lambda _c: os.environ["COSIGN_PASSWORD"].encode())
    bundle = hullscan_bundle(private, sign_statement(image.manifest_digest))
    written: list[tuple[str, str]] = []
    referrers: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "HEAD" and "/blobs/" in path:
            return httpx.Response(200)  # already there: no upload
        if request.method == "PUT" and "/manifests/" in path:
            written.append((path, request.headers["Content-Type"]))
            doc = json.loads(request.content)
            referrers.append(
                {
                    "mediaType": doc["mediaType"],
                    "size": len(request.content),
                    "digest": sha256(request.content),
                    "artifactType": doc["artifactType"],
                }
            )
            return httpx.Response(201, headers={"OCI-Subject": image.manifest_digest})
        if path == f"/v2/o/app/referrers/{image.manifest_digest}":
            return httpx.Response(
                200,
                headers={"Content-Type": OCI_INDEX},
                json={"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": referrers},
            )
        return httpx.Response(404)

    ref = parse_reference("registry:reg.test/o/app:1")
    store = RegistrySignatureStore(ref, None, Limits())
    store.client.close()
    store.client = RegistryClient(ref, transport=httpx.MockTransport(handler))
    subject = {
        "mediaType": OCI_MANIFEST,
        "size": len(image.manifest),
        "digest": image.manifest_digest,
    }
    with store:
        where = store.write_bundle(image.manifest_digest, subject, bundle, "2026-01-02T03:04:05Z")
    (put,) = written
    assert put[1] == OCI_MANIFEST and put[0] == f"/v2/o/app/manifests/{referrers[0]['digest']}"
    assert (
        where == f"reg.test/o/app@{referrers[0]['digest']} (a referrer of {image.manifest_digest})"
    )
