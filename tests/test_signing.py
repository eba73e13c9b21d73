"""Image signatures, compatible with cosign's key-based format: keys, payloads, where
signatures are stored (OCI layout and a real local registry), and ``hullscan verify``.

The compatibility tests use data made by the real tools (quoted below with their
origin): encrypted keys from cosign's own tests, go-securesystemslib's encryption test
vectors, sigstore's payload serialization vectors, and signatures made by /usr/bin/cosign
from containers/image's test fixtures. Where skopeo is installed, a signature hullscan
pushed is checked by skopeo's own sigstore verifier (containers/image).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from hullscan.cli import main
from hullscan.errors import HullscanError
from hullscan.supplychain import keys as K
from hullscan.supplychain.payload import make_payload, parse_payload
from hullscan.supplychain.signatures import SignatureCheck, check_signatures
from hullscan.supplychain.store import (
    SIG_ANNOTATION,
    SIG_ARTIFACT,
    SIMPLESIGNING,
    build_signature_manifest,
    signature_layer,
)

from conftest import hexpart, run
from imagebuilder import (
    BuiltImage,
    build,
    debian_base,
    file,
    python_dist,
    sha256,
    write_blob,
    write_docker_archive,
    write_oci,
)
from localregistry import (
    PASSWORD,
    REF_NAME,
    REGISTRY,
    SKOPEO,
    USER,
    push,
    start_registry,
    stop_registry,
)

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"

# -- real data from cosign and its libraries ---------------------------------------------

# sigstore/cosign pkg/cosign/keys_test.go: keys made by cosign, password "hello".
# "pemsigstorekey" (ENCRYPTED SIGSTORE PRIVATE KEY, scrypt N=32768)
COSIGN_SIGSTORE_KEY = """-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----
eyJrZGYiOnsibmFtZSI6InNjcnlwdCIsInBhcmFtcyI6eyJOIjozMjc2OCwiciI6
OCwicCI6MX0sInNhbHQiOiI3T3VGd2VsbWZZNXVId2NoaURSc210anNwZ2ZlZjFG
Mk5lOGFDTjVLYVpZPSJ9LCJjaXBoZXIiOnsibmFtZSI6Im5hY2wvc2VjcmV0Ym94
Iiwibm9uY2UiOiJQNHk4OGhCb3ZTa09MbXN0bFVBaGJwdDJ0K2xTNUxQSCJ9LCJj
aXBoZXJ0ZXh0IjoiMnB1QzdyZldJOWh3bnJlQ2s4aUZDRlVwQlRrSzRJNlIvbFBF
cnBDekpXUGpJWXl4eGVIL1A2VW52cFJHdVhla1NNb3JMdGhLamdoQ1JlNy82NDVH
QWtoVm1LRC92eEF0S2EvbE1abENSQ3FlekJGUFd1dzNpeFRtZ2xhb2J1ZFVSbUVs
bmNGOGlZbzBTMVl6Y1ZOMVFwY2J2c0dNcUlYRzVlbmdteGp5dCtBcXlyZTF0Q0Y0
V01tU1BlaEljNlBqd2h1Q2xHaVpJUWRvTGc9PSJ9
-----END ENCRYPTED SIGSTORE PRIVATE KEY-----
"""
# "pemcosignkey" (the older ENCRYPTED COSIGN PRIVATE KEY label)
COSIGN_COSIGN_KEY = """-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----
eyJrZGYiOnsibmFtZSI6InNjcnlwdCIsInBhcmFtcyI6eyJOIjozMjc2OCwiciI6
OCwicCI6MX0sInNhbHQiOiJ4WWdoc09JTUxUWGNOT0RsclNIOUNKc1FlOVFnZmN1
cmUrMXlLdHh1TlkwPSJ9LCJjaXBoZXIiOnsibmFtZSI6Im5hY2wvc2VjcmV0Ym94
Iiwibm9uY2UiOiI0cS9PSlVmaXJkSUkrUjZ0ajZBMmcyQ0JqL25xdFNicCJ9LCJj
aXBoZXJ0ZXh0IjoiKzB4Q3NzcFN0WStBczdKanJpOWtsbHBWd2JhcUI4ZWJNdWto
eS9aVE1MSXRsL3B1YS9jWVJvbytLRGxMWWdmOW1kSjk4K1FnQW9oTktoYnJPMTcw
MHdBY1JTMjFDOE4zQUNJRUVZaWpOMllBNnMraGJSbkhjUnd4eGhDMDFtb2FvL0dO
Y1pmbEJheXZMV3pXblo4d2NDZ2ZpT1o1VXlRTEFJMHh0dnR6dEh3cTdDV1Vhd3V4
RlhlNDZzck9TUE9SNHN6bytabWErUGovSFE9PSJ9
-----END ENCRYPTED COSIGN PRIVATE KEY-----
"""
# "pemcosigneckey" (scrypt N=65536): the encryption of "validecp256" below
COSIGN_EC_KEY = """-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----
eyJrZGYiOnsibmFtZSI6InNjcnlwdCIsInBhcmFtcyI6eyJOIjo2NTUzNiwiciI6
OCwicCI6MX0sInNhbHQiOiJHK3F5WTYrNzhNS0JzMXNGTGs1ajYwcS9kS3Z1czBW
VkhlSHZybC9POTF3PSJ9LCJjaXBoZXIiOnsibmFtZSI6Im5hY2wvc2VjcmV0Ym94
Iiwibm9uY2UiOiJRc2JGdG13WDRDK2ttV3ZCcVRaMEFGOUFYdk1jRmg1SCJ9LCJj
aXBoZXJ0ZXh0IjoiREM5T28zeldiYVQzSXYwdFVnWEdycjUxYW1samwwNlQ5MTNP
VkxPbWpuMWhnK2o2WXRUbWg3SGhZSlY1N2J5eGE0Q281bE9YYmRqbTJ3aklubEd1
Um5aZCt5OExnekpSNzFSeEhKVzgrWmRlcFJmYWJMTjdHbDgrSFZEcERVQ3NxQnRh
VngyblpGbFEwWUl1anZwbFphblNGaUVvdERLVGkxZ3VhUXIwUHNzYU01NXZxbTRY
WS9rPSJ9
-----END ENCRYPTED COSIGN PRIVATE KEY-----
"""
COSIGN_VALID_EC_P256 = """-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIIGhcmCI5F7BPMH4r3pWCpQdAsveErdU5DjvVQerErJuoAoGCCqGSM49
AwEHoUQDQgAE+9E3Qe+h25ofmz3Uo2T004Dfy49iX06MMbxf9rsGmLkOPrS0KYDl
1QMfFuSbrtf8wTWNT9HNxrW/Foz39mDhHw==
-----END EC PRIVATE KEY-----
"""
COSIGN_VALID_EC_PKCS8 = """-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgmKnLL81dCEYc6Spq
rFukFeTnU5JjtXfeNHAXJj3hYTahRANCAATjp4/Z4tUbZwUdId07GQeUdwLll4Br
YLP25Fk+mBY2G0lyKqjqLG5hxhimbEJH6j+lzg5tcYpQgzXtOJ66Zi0N
-----END PRIVATE KEY-----
"""

# secure-systems-lab/go-securesystemslib encrypted/encrypted_test.go, password
# "supersecret": kdfVectors (made by its Marshal, so the plaintext is the JSON string of
# base64("reallyimportant")) under each scrypt parameter set it writes, and TestDecrypt's
# vector (plaintext "reallyimportant").
SSL_MARSHALLED = b'"' + base64.b64encode(b"reallyimportant") + b'"'
SSL_VECTORS = [
    b'{"kdf":{"name":"scrypt","params":{"N":32768,"r":8,"p":1},"salt":"WO3mVvyTwJ9vwT5/Tk5OW5WPIBUofMjcpEfrLnfY4uA="},"cipher":{"name":"nacl/secretbox","nonce":"tCy7HcTFr4uxv4Nrg/DWmncuZ148U1MX"},"ciphertext":"08n43p5G5yviPEZpO7tPPF4aZQkWiWjkv4taFdhDBA0tamKH4nw="}',
    b'{"kdf":{"name":"scrypt","params":{"N":65536,"r":8,"p":1},"salt":"FhzPOt9/bJG4PTq6lQ6ecG6GzaOuOy/ynG5+yRiFlNs="},"cipher":{"name":"nacl/secretbox","nonce":"aw1ng1jHaDz/tQ7V2gR9O2+IGQ8xJEuE"},"ciphertext":"HycvuLZL4sYH0BrYTh4E/H20VtAW6u5zL5Pr+IBjYLYnCPzDkq8="}',
    b'{"kdf":{"name":"scrypt","params":{"N":131072,"r":8,"p":1},"salt":"m38E3kouJTtiheLQN22NQ8DTito5hrjpUIskqcd375k="},"cipher":{"name":"nacl/secretbox","nonce":"Y6PM13yA+o44pE/W1ZBwczeGnTV/m9Zc"},"ciphertext":"6H8sqj1K6B6yDjtH5AQ6lbFigg/C2yDDJc4rYJ79w9aVPImFIPI="}',
    b'{"kdf":{"name":"scrypt","params":{"N":32768,"r":8,"p":1},"salt":"N9a7x5JFGbrtB2uBR81jPwp0eiLR4A7FV3mjVAQrg1g="},"cipher":{"name":"nacl/secretbox","nonce":"2h8HxMmgRfuYdpswZBQaU3xJ1nkA/5Ik"},"ciphertext":"SEW6sUh0jf2wfdjJGPNS9+bkk2uB+Cxamf32zR8XkQ=="}',
]
SSL_UNSUPPORTED = b'{"kdf":{"name":"scrypt","params":{"N":99,"r":99,"p":99},"salt":"cZFcQJdwPhPyhU1R4qkl0qVOIjZd4V/7LYYAavq166k="},"cipher":{"name":"nacl/secretbox","nonce":"7vhRS7j0hEPBWV05skAdgLj81AkGeE7U"},"ciphertext":"6WYU/YSXVbYzl/NzaeAzmjLyfFhOOjLc0d8/GFV0aBFdJvyCcXc="}'  # noqa: E501

# containers/image signature/fixtures/cosign.pub and two signatures /usr/bin/cosign made
# with its private key (signature/internal/sigstore_payload_test.go): over "&" and "{}".
CI_COSIGN_PUB = """-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEFNLqFhf4fiN6o/glAuYnq2jYUeL0
vRuLu/z39pmbVwS9ff5AYnlwaP9sxREajdLY9ynM6G1sy6AAmb7Z63TsLg==
-----END PUBLIC KEY-----
"""
CI_SIG_AMPERSAND = (
    "MEUCIARnnxZQPALBfqkB4aNAYXad79Qs6VehcrgIeZ8p7I2FAiEAzq2HXwXlz1iJeh+ucUR3"
    "L0zpjynQk6Rk0+/gXYp49RU="
)
CI_SIG_EMPTY_OBJECT = (
    "MEUCIQDkySOBGxastVP0+koTA33NH5hXjwosFau4rxTPN6g48QIgb7eWKkGqfEpHMM3aT4x"
    "iqyP/170jEkdFuciuwN4mux4="
)

# sigstore/sigstore pkg/signature/payload/payload_test.go (TestMarshalCosign)
D34D = "sha256:" + "d34db33f" * 8
SIGSTORE_PAYLOADS = [
    (
        "example.com/test/image",
        None,
        '{"critical":{"identity":{"docker-reference":"example.com/test/image"},"image":'
        '{"docker-manifest-digest":"' + D34D + '"},"type":"cosign container image signature"},'
        '"optional":null}',
    ),
    (
        "example.com/atomic/test/image",
        {"creator": "atomic", "timestamp": 1458239713},
        '{"critical":{"identity":{"docker-reference":"example.com/atomic/test/image"},"image":'
        '{"docker-manifest-digest":"' + D34D + '"},"type":"cosign container image signature"},'
        '"optional":{"creator":"atomic","timestamp":1458239713}}',
    ),
    (
        "example.com/cosign/test/image",
        {
            "creator": "anyone",
            "some_struct": {"foo": "bar", "false": True, "nothing": None},
            "CamelCase WithSpace": 8.314,
        },
        '{"critical":{"identity":{"docker-reference":"example.com/cosign/test/image"},"image":'
        '{"docker-manifest-digest":"' + D34D + '"},"type":"cosign container image signature"},'
        '"optional":{"CamelCase WithSpace":8.314,"creator":"anyone","some_struct":'
        '{"false":true,"foo":"bar","nothing":null}}}',
    ),
]


# -- helpers -----------------------------------------------------------------------------


def _no_password(_confirm: bool) -> bytes:
    raise AssertionError("a plain key needs no password")


def _env_password(_confirm: bool) -> bytes:
    return os.environ["COSIGN_PASSWORD"].encode()


@pytest.fixture(scope="module")
def image() -> BuiltImage:
    return build([debian_base(), [python_dist("requests", "2.31.0")]])


@pytest.fixture(scope="module")
def image2() -> BuiltImage:
    return build([debian_base(), [file("etc/changed", "yes")]])


@pytest.fixture
def layout(tmp_path: Path, image: BuiltImage) -> Path:
    return write_oci([(image, {"annotations": {REF_NAME: "1"}})], tmp_path / "oci")


def index_entries(layout: Path) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads((layout / "index.json").read_text())["manifests"]
    return entries


def blob(layout: Path, digest: str) -> bytes:
    return (layout / "blobs" / "sha256" / hexpart(digest)).read_bytes()


def sig_entry(layout: Path, digest: str) -> dict[str, Any]:
    tag = f"sha256-{hexpart(digest)}.sig"
    found = [e for e in index_entries(layout) if e.get("annotations", {}).get(REF_NAME) == tag]
    assert len(found) == 1, index_entries(layout)
    return found[0]


# -- keys --------------------------------------------------------------------------------


@pytest.mark.parametrize("pem", [COSIGN_SIGSTORE_KEY, COSIGN_COSIGN_KEY, COSIGN_EC_KEY])
def test_reads_keys_cosign_made(tmp_path: Path, pem: str) -> None:
    path = tmp_path / "cosign.key"
    path.write_text(pem)
    key = K.load_private_key(path, lambda _confirm: b"hello")
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    with pytest.raises(K.KeyFileError, match="wrong password"):
        K.load_private_key(path, lambda _confirm: b"hullo")


def test_cosign_ec_key_is_the_plain_key_it_encrypts(tmp_path: Path) -> None:
    """cosign's test suite says pemcosigneckey encrypts validecp256: same key, both ways."""
    enc, plain = tmp_path / "enc.key", tmp_path / "plain.key"
    enc.write_text(COSIGN_EC_KEY)
    plain.write_text(COSIGN_VALID_EC_P256)
    a = K.load_private_key(enc, lambda _c: b"hello")
    b = K.load_private_key(plain, lambda _c: pytest.fail("a plain key needs no password"))
    assert isinstance(a, ec.EllipticCurvePrivateKey)
    assert isinstance(b, ec.EllipticCurvePrivateKey)
    assert a.private_numbers() == b.private_numbers()


@pytest.mark.parametrize(
    ("vector", "plaintext"),
    [*((v, SSL_MARSHALLED) for v in SSL_VECTORS[:3]), (SSL_VECTORS[3], b"reallyimportant")],
)
def test_securesystemslib_vectors(vector: bytes, plaintext: bytes) -> None:
    assert K.decrypt(vector, b"supersecret") == plaintext
    with pytest.raises(K.KeyFileError, match="wrong password"):
        K.decrypt(vector, b"supersecreT")


def test_securesystemslib_refuses_other_scrypt_params() -> None:
    with pytest.raises(K.KeyFileError, match="unsupported scrypt parameters"):
        K.decrypt(SSL_UNSUPPORTED, b"supersecret")


def test_encrypted_layout_is_securesystemslibs() -> None:
    doc = K.encrypt(b"reallyimportant", b"supersecret")
    parsed = json.loads(doc)
    assert list(parsed) == ["kdf", "cipher", "ciphertext"]
    assert list(parsed["kdf"]) == ["name", "params", "salt"]
    assert parsed["kdf"]["params"] == {"N": 65536, "r": 8, "p": 1}
    assert parsed["cipher"]["name"] == "nacl/secretbox"
    assert len(base64.b64decode(parsed["kdf"]["salt"])) == 32
    assert len(base64.b64decode(parsed["cipher"]["nonce"])) == 24
    # what Go's json.Marshal writes: no spaces; byte-identical prefix to cosign's own
    # N=65536 key (pemcosigneckey starts with the same base64 line)
    assert b" " not in doc
    assert base64.b64encode(doc).startswith(
        b"eyJrZGYiOnsibmFtZSI6InNjcnlwdCIsInBhcmFtcyI6eyJOIjo2NTUzNiwiciI6"
    )
    assert K.decrypt(doc, b"supersecret") == b"reallyimportant"


def test_keygen_writes_cosign_files(keypair: tuple[Path, Path]) -> None:
    key_path, pub_path = keypair
    text = key_path.read_text()
    assert text.startswith("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n")
    assert all(len(line) <= 64 for line in text.splitlines())
    assert (key_path.stat().st_mode & 0o777) == 0o600
    ((kind, der),) = K.pem_blocks(key_path.read_bytes())
    assert kind == "ENCRYPTED SIGSTORE PRIVATE KEY"
    inner = K.decrypt(der, b"correct horse")
    private = serialization.load_der_private_key(inner, None)  # PKCS#8 inside
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    assert private.curve.name == "secp256r1"
    pub = serialization.load_pem_public_key(pub_path.read_bytes())
    assert pub_path.read_text().startswith("-----BEGIN PUBLIC KEY-----\n")
    assert isinstance(pub, ec.EllipticCurvePublicKey)
    assert pub.public_numbers() == private.public_key().public_numbers()


def test_keygen_refuses_to_overwrite(
    keypair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    before = keypair[0].read_bytes()
    code, _out, err = run(capsys, "keygen")
    assert code == 2 and "already exists" in err
    assert keypair[0].read_bytes() == before


def test_real_cosign_signatures_verify() -> None:
    """Signatures /usr/bin/cosign made (containers/image fixtures) verify; tampering fails."""
    pub = serialization.load_pem_public_key(CI_COSIGN_PUB.encode())
    assert isinstance(pub, ec.EllipticCurvePublicKey)
    assert K.verify(pub, base64.b64decode(CI_SIG_AMPERSAND), b"&")
    assert K.verify(pub, base64.b64decode(CI_SIG_EMPTY_OBJECT), b"{}")
    assert not K.verify(pub, base64.b64decode(CI_SIG_EMPTY_OBJECT), b"&")
    assert not K.verify(pub, b"garbage", b"{}")


@pytest.mark.parametrize(("reference", "optional", "expected"), SIGSTORE_PAYLOADS)
def test_payload_bytes_are_cosigns(
    reference: str, optional: dict[str, Any] | None, expected: str
) -> None:
    assert make_payload(reference, D34D, optional).decode() == expected
    claim = parse_payload(expected.encode())
    assert (claim.docker_reference, claim.manifest_digest) == (reference, D34D)


def test_payload_escapes_like_go() -> None:
    data = make_payload("r.example/a", D34D, {"note": "<a&b>"})
    assert b'"note":"\\u003ca\\u0026b\\u003e"' in data


# -- OCI layout --------------------------------------------------------------------------


def test_sign_and_verify_layout(
    layout: Path, image: BuiltImage, keypair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    key, pub = keypair
    code, out, err = run(capsys, "sign", f"oci:{layout}:1", "--key", str(key), "-a", "build=42")
    assert code == 0, err
    assert image.manifest_digest in out
    code, out, err = run(capsys, "verify", f"oci:{layout}:1", "--key", str(pub))
    assert code == 0, out + err
    assert "VERIFIED" in out and f"verified with {pub}" in out
    checks = check_signatures(f"oci:{layout}:1", image.manifest_digest, [pub])
    assert checks == [
        SignatureCheck(f"tag sha256-{hexpart(image.manifest_digest)}.sig layer 0", str(pub), None)
    ]


def test_layout_signature_is_laid_out_like_cosigns(
    layout: Path, image: BuiltImage, keypair: tuple[Path, Path]
) -> None:
    key, pub = keypair
    assert main(["sign", f"oci:{layout}:1", "--key", str(key)]) == 0
    entry = sig_entry(layout, image.manifest_digest)
    assert entry["mediaType"] == OCI_MANIFEST
    manifest_bytes = blob(layout, entry["digest"])
    assert sha256(manifest_bytes) == entry["digest"] and len(manifest_bytes) == entry["size"]
    manifest = json.loads(manifest_bytes)
    assert manifest["schemaVersion"] == 2 and manifest["mediaType"] == OCI_MANIFEST
    assert manifest["config"]["mediaType"] == OCI_CONFIG
    # go-containerregistry's empty image plus one layer, as cosign pushes it (233 bytes)
    config = blob(layout, manifest["config"]["digest"])
    (layer,) = manifest["layers"]
    assert config == (
        b'{"architecture":"","created":"0001-01-01T00:00:00Z","history":'
        b'[{"created":"0001-01-01T00:00:00Z"}],"os":"","rootfs":{"type":"layers",'
        b'"diff_ids":["' + layer["digest"].encode() + b'"]},"config":{}}'
    )
    assert len(config) == 233 == manifest["config"]["size"]
    assert list(layer) == ["mediaType", "size", "digest", "annotations"]
    assert layer["mediaType"] == "application/vnd.dev.cosign.simplesigning.v1+json"
    assert list(layer["annotations"]) == ["dev.cosignproject.cosign/signature"]
    payload = blob(layout, layer["digest"])
    assert payload == (
        b'{"critical":{"identity":{"docker-reference":"localhost/oci"},"image":'
        b'{"docker-manifest-digest":"'
        + image.manifest_digest.encode()
        + b'"},"type":"cosign container image signature"},"optional":null}'
    )
    # the signature is plain ECDSA-SHA256 (DER) over the payload bytes: check it with
    # the public key directly, not through hullscan
    public = serialization.load_pem_public_key(pub.read_bytes())
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(
        base64.b64decode(layer["annotations"][SIG_ANNOTATION]), payload, ec.ECDSA(hashes.SHA256())
    )


def test_signing_again_keeps_earlier_signatures(
    layout: Path,
    image: BuiltImage,
    keypair: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    key, pub = keypair
    plain = tmp_path / "plain.key"
    plain.write_text(COSIGN_VALID_EC_PKCS8)  # an unencrypted PKCS#8 key signs too
    plain_pub = tmp_path / "plain.pub"
    private = K.load_private_key(plain, _no_password)
    plain_pub.write_bytes(K.public_pem(private.public_key()))
    assert main(["sign", f"oci:{layout}:1", "--key", str(key)]) == 0
    assert main(["sign", f"oci:{layout}:1", "--key", str(plain)]) == 0
    entries = index_entries(layout)
    assert len(entries) == 2  # the image and one .sig entry, replaced in place
    manifest = json.loads(blob(layout, sig_entry(layout, image.manifest_digest)["digest"]))
    assert len(manifest["layers"]) == 2
    config = json.loads(blob(layout, manifest["config"]["digest"]))
    assert config["rootfs"]["diff_ids"] == [x["digest"] for x in manifest["layers"]]
    checks = check_signatures(f"oci:{layout}:1", image.manifest_digest, [pub, plain_pub])
    assert [(c.key, c.problem) for c in checks] == [(str(pub), None), (str(plain_pub), None)]
    capsys.readouterr()
    code, out, _ = run(capsys, "verify", f"oci:{layout}:1", "--key", str(plain_pub))
    assert code == 0
    assert "does not verify with the given key" in out  # the other one, reported


def test_wrong_key_fails(
    layout: Path, keypair: tuple[Path, Path], other_pub: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sign", f"oci:{layout}:1", "--key", str(keypair[0])]) == 0
    code, out, _ = run(capsys, "verify", f"oci:{layout}:1", "--key", str(other_pub))
    assert code == 1
    assert "NOT VERIFIED" in out and "does not verify with the given key" in out


def test_unsigned_fails(
    layout: Path, keypair: tuple[Path, Path], image: BuiltImage, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys, "verify", f"oci:{layout}:1", "--key", str(keypair[1]), "--format", "json"
    )
    assert code == 1
    doc = json.loads(out)
    assert doc["verified"] is False and doc["signatures"]["results"] == []
    assert any(p.startswith("unsigned") for p in doc["problems"])
    assert check_signatures(f"oci:{layout}:1", image.manifest_digest, [keypair[1]]) == []


def test_modified_image_fails(
    layout: Path,
    image: BuiltImage,
    image2: BuiltImage,
    keypair: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Tag 1 re-pointed at another image after signing: unsigned; and a signature copied
    over to the new digest names the old one."""
    key, pub = keypair
    assert main(["sign", f"oci:{layout}:1", "--key", str(key)]) == 0
    sig = sig_entry(layout, image.manifest_digest)
    for b in [*image2.blobs, image2.config, image2.manifest]:
        write_blob(layout, b)
    index = json.loads((layout / "index.json").read_text())
    for e in index["manifests"]:
        if e.get("annotations", {}).get(REF_NAME) == "1":
            e["digest"], e["size"] = image2.manifest_digest, len(image2.manifest)
    (layout / "index.json").write_text(json.dumps(index))
    code, out, _ = run(capsys, "verify", f"oci:{layout}:1", "--key", str(pub))
    assert code == 1 and "unsigned" in out
    index["manifests"].append(
        {**sig, "annotations": {REF_NAME: f"sha256-{hexpart(image2.manifest_digest)}.sig"}}
    )
    (layout / "index.json").write_text(json.dumps(index))
    code, out, _ = run(capsys, "verify", f"oci:{layout}:1", "--key", str(pub), "--format", "json")
    assert code == 1
    (result,) = json.loads(out)["signatures"]["results"]
    assert result["key"] == str(pub) and not result["verified"]
    assert f"signs image {image.manifest_digest}, not this image" in result["problem"]


def test_tampered_payload_fails(
    layout: Path, image: BuiltImage, keypair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sign", f"oci:{layout}:1", "--key", str(keypair[0])]) == 0
    manifest = json.loads(blob(layout, sig_entry(layout, image.manifest_digest)["digest"]))
    path = layout / "blobs" / "sha256" / hexpart(manifest["layers"][0]["digest"])
    path.write_bytes(path.read_bytes().replace(b"null", b"{}  "))
    code, out, _ = run(capsys, "verify", f"oci:{layout}:1", "--key", str(keypair[1]))
    assert code == 1 and "tampered" in out


def test_tampered_signature_manifest_is_a_failed_check(
    layout: Path, image: BuiltImage, keypair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sign", f"oci:{layout}:1", "--key", str(keypair[0])]) == 0
    entry = sig_entry(layout, image.manifest_digest)
    path = layout / "blobs" / "sha256" / hexpart(entry["digest"])
    path.write_bytes(path.read_bytes().replace(b'"schemaVersion":2', b'"schemaVersion":3'))
    capsys.readouterr()
    code, doc_text, err = run(
        capsys, "verify", f"oci:{layout}:1", "--key", str(keypair[1]), "--format", "json"
    )
    assert code == 1, err
    (result,) = json.loads(doc_text)["signatures"]["results"]
    assert result["location"] == f"tag sha256-{hexpart(image.manifest_digest)}.sig"
    assert "tampered" in result["problem"]


def test_signature_of_the_real_cosign_key_is_read_from_a_layout(
    layout: Path, image: BuiltImage, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A .sig manifest holding cosign's own signature bytes (over "{}"): the key verifies
    it; the payload is then refused for what it is."""
    pub = tmp_path / "ci-cosign.pub"
    pub.write_text(CI_COSIGN_PUB)
    layer = signature_layer(b"{}", CI_SIG_EMPTY_OBJECT)
    manifest, config = build_signature_manifest([layer])
    for b in (b"{}", manifest, config):
        write_blob(layout, b)
    index = json.loads((layout / "index.json").read_text())
    index["manifests"].append(
        {
            "mediaType": OCI_MANIFEST,
            "digest": sha256(manifest),
            "size": len(manifest),
            "annotations": {REF_NAME: f"sha256-{hexpart(image.manifest_digest)}.sig"},
        }
    )
    (layout / "index.json").write_text(json.dumps(index))
    (check,) = check_signatures(f"oci:{layout}:1", image.manifest_digest, [pub])
    assert check.key == str(pub)
    assert check.problem is not None and check.problem.startswith("bad payload")


def test_referrer_in_layout(
    layout: Path, image: BuiltImage, keypair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """cosign's OCI 1.1 referrers mode: artifactType and subject, no tag."""
    private = K.load_private_key(keypair[0], _env_password)
    payload = make_payload("localhost/oci", image.manifest_digest)
    layer = signature_layer(payload, base64.b64encode(K.sign(private, payload)).decode())
    empty = b"{}"
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": SIG_ARTIFACT,
            "config": {
                "mediaType": "application/vnd.oci.empty.v1+json",
                "size": 2,
                "digest": sha256(empty),
            },
            "layers": [layer],
            "subject": {
                "mediaType": OCI_MANIFEST,
                "digest": image.manifest_digest,
                "size": len(image.manifest),
            },
        }
    ).encode()
    for b in (payload, empty, manifest):
        write_blob(layout, b)
    index = json.loads((layout / "index.json").read_text())
    index["manifests"].append(
        {
            "mediaType": OCI_MANIFEST,
            "digest": sha256(manifest),
            "size": len(manifest),
            "artifactType": SIG_ARTIFACT,
        }
    )
    (layout / "index.json").write_text(json.dumps(index))
    code, out, _ = run(capsys, "verify", f"oci:{layout}:1", "--key", str(keypair[1]))
    assert code == 0, out
    assert f"referrer {sha256(manifest)} layer 0" in out


def test_layout_manifest_tampered_after_signing(
    layout: Path, image: BuiltImage, keypair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """The signature names the digest; a manifest file that no longer hashes to it must
    not ride on it."""
    assert main(["sign", f"oci:{layout}:1", "--key", str(keypair[0])]) == 0
    path = layout / "blobs" / "sha256" / hexpart(image.manifest_digest)
    path.write_bytes(path.read_bytes().replace(b'"schemaVersion": 2', b'"schemaVersion":  2'))
    code, out, _ = run(capsys, "verify", f"oci:{layout}:1", "--key", str(keypair[1]))
    assert code == 1 and "tampered" in out and image.manifest_digest in out


def test_docker_archive_cannot_hold_signatures(
    tmp_path: Path,
    image: BuiltImage,
    keypair: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("COSIGN_PASSWORD")  # said before any password is asked for
    archive = write_docker_archive([(image, ["app:1"])], tmp_path / "app.tar")
    for ref in (str(archive), f"docker-archive:{archive}"):
        code, _out, err = run(capsys, "verify", ref, "--key", str(keypair[1]))
        assert code == 2
        assert "signatures live in a registry or an OCI layout" in err
        code, _out, err = run(capsys, "sign", ref, "--key", str(keypair[0]))
        assert code == 2 and "signatures live in a registry or an OCI layout" in err
    with pytest.raises(HullscanError, match="signatures live in a registry or an OCI layout"):
        check_signatures(f"docker-archive:{archive}", image.manifest_digest, [keypair[1]])


def test_wrong_password_and_no_password(
    layout: Path,
    keypair: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("COSIGN_PASSWORD", "wrong horse")
    code, _out, err = run(capsys, "sign", f"oci:{layout}:1", "--key", str(keypair[0]))
    assert code == 2 and "wrong password" in err and "Traceback" not in err
    monkeypatch.delenv("COSIGN_PASSWORD")
    code, _out, err = run(capsys, "sign", f"oci:{layout}:1", "--key", str(keypair[0]))
    assert code == 2 and "COSIGN_PASSWORD" in err
    assert len(index_entries(layout)) == 1  # nothing written


def test_bad_arguments(
    layout: Path, keypair: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = run(capsys, "verify", f"oci:{layout}:1")
    assert code == 2 and "--key" in err
    code, _out, err = run(capsys, "verify", f"oci:{layout}:1", "--key", str(keypair[0]))
    assert code == 2 and "a private key" in err
    code, _out, err = run(
        capsys, "verify", f"oci:{layout}:1", "--key", str(tmp_path / "missing.pub")
    )
    assert code == 2 and "cannot read" in err
    code, _out, err = run(capsys, "verify", f"oci:{layout}:1", "--digest", "sha256:abc")
    assert code == 2 and "digest" in err


# -- a real registry ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def registry(
    tmp_path_factory: pytest.TempPathFactory, image: BuiltImage, image2: BuiltImage
) -> Iterator[str]:
    if not os.access(REGISTRY, os.X_OK) or SKOPEO is None:
        pytest.skip("needs /usr/bin/docker-registry (bash scripts/registry.sh) and skopeo")
    root = tmp_path_factory.mktemp("sigreg")
    layouts = root / "layouts"
    one = write_oci([(image, {"annotations": {REF_NAME: "1"}})], layouts / "one")
    two = write_oci([(image2, {"annotations": {REF_NAME: "2"}})], layouts / "two")
    reg = start_registry(root / "registry")
    try:
        for repo in ("sig/app", "sig/wrongkey", "sig/retag", "sig/digest", "sig/skopeo"):
            push(one, "1", f"{reg.host}/{repo}:1")
        push(two, "2", f"{reg.host}/sig/retag:2")
        push(two, "2", f"{reg.host}/sig/referrers:1")
        yield reg.host
    finally:
        stop_registry(reg)


def get_manifest(host: str, repo: str, ref: str) -> tuple[httpx.Response, dict[str, Any]]:
    resp = httpx.get(
        f"http://{host}/v2/{repo}/manifests/{ref}",
        headers={"Accept": f"{OCI_MANIFEST}, {OCI_INDEX}"},
    )
    assert resp.status_code == 200, resp.text
    return resp, resp.json()


def test_registry_round_trip(
    registry: str, image: BuiltImage, keypair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    key, pub = keypair
    ref = f"registry:{registry}/sig/app:1"
    code, out, err = run(capsys, "sign", ref, "--key", str(key))
    assert code == 0, err
    assert f"{registry}/sig/app:sha256-{hexpart(image.manifest_digest)}.sig" in out
    code, out, err = run(capsys, "verify", ref, "--key", str(pub))
    assert code == 0, out + err
    # stored exactly where and how cosign stores it
    resp, manifest = get_manifest(
        registry, "sig/app", f"sha256-{hexpart(image.manifest_digest)}.sig"
    )
    assert resp.headers["Content-Type"] == OCI_MANIFEST
    assert manifest["mediaType"] == OCI_MANIFEST
    assert manifest["config"]["mediaType"] == OCI_CONFIG
    (layer,) = manifest["layers"]
    assert layer["mediaType"] == SIMPLESIGNING and SIG_ANNOTATION in layer["annotations"]
    payload = httpx.get(f"http://{registry}/v2/sig/app/blobs/{layer['digest']}").content
    assert hashlib.sha256(payload).hexdigest() == hexpart(layer["digest"])
    claim = json.loads(payload)["critical"]
    assert claim["identity"]["docker-reference"] == f"{registry}/sig/app"
    assert claim["image"]["docker-manifest-digest"] == image.manifest_digest
    # again: appended
    assert main(["sign", ref, "--key", str(key), "-a", "ci=yes"]) == 0
    _, manifest = get_manifest(registry, "sig/app", f"sha256-{hexpart(image.manifest_digest)}.sig")
    assert len(manifest["layers"]) == 2
    checks = check_signatures(ref, image.manifest_digest, [pub])
    assert [c.problem for c in checks] == [None, None]
    # by digest, and through another spelling of the same repository
    code, _out, _ = run(
        capsys, "verify", f"registry:{registry}/sig/app@{image.manifest_digest}", "--key", str(pub)
    )
    assert code == 0


def test_registry_wrong_key(
    registry: str, keypair: tuple[Path, Path], other_pub: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ref = f"registry:{registry}/sig/wrongkey:1"
    assert main(["sign", ref, "--key", str(keypair[0])]) == 0
    code, out, _ = run(capsys, "verify", ref, "--key", str(other_pub))
    assert code == 1 and "does not verify" in out
    code, _out, _ = run(capsys, "verify", ref, "--key", str(other_pub), "--key", str(keypair[1]))
    assert code == 0  # one valid signature by any of the keys


def test_registry_retagged_image_fails(
    registry: str,
    image2: BuiltImage,
    keypair: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    ref = f"registry:{registry}/sig/retag:1"
    assert main(["sign", ref, "--key", str(keypair[0])]) == 0
    assert main(["verify", ref, "--key", str(keypair[1])]) == 0
    capsys.readouterr()
    # the publisher's tag now names another image
    resp = httpx.put(
        f"http://{registry}/v2/sig/retag/manifests/1",
        content=image2.manifest,
        headers={"Content-Type": OCI_MANIFEST},
    )
    assert resp.status_code == 201, resp.text
    code, out, _ = run(capsys, "verify", ref, "--key", str(keypair[1]))
    assert code == 1 and "unsigned" in out and image2.manifest_digest in out


def test_registry_signature_for_another_repository(
    registry: str, image: BuiltImage, keypair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """A signature made for sig/app copied next to the same image in sig/digest: the
    docker-reference does not match (cosign refuses it too)."""
    assert (
        main(
            [
                "sign",
                f"registry:{registry}/sig/digest:1",
                "--key",
                str(keypair[0]),
                "--identity",
                f"{registry}/sig/app",
            ]
        )
        == 0
    )
    ref = f"registry:{registry}/sig/digest:1"
    code, out, _ = run(capsys, "verify", ref, "--key", str(keypair[1]))
    assert code == 1 and f"signed for '{registry}/sig/app'" in out
    code, out, _ = run(capsys, "verify", ref, "--key", str(keypair[1]), "--ignore-identity")
    assert code == 0
    code, out, _ = run(
        capsys, "verify", ref, "--key", str(keypair[1]), "--identity", f"{registry}/sig/app"
    )
    assert code == 0


def test_registry_referrers(
    registry: str,
    image2: BuiltImage,
    keypair: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A signature in cosign's referrers mode: through the referrers API if the registry
    has it, else through the sha256-<hex> tag fallback."""
    from hullscan.references import parse_reference
    from hullscan.sources.registry_client import RegistryClient
    from hullscan.sources.registry_push import push_blob, put_manifest

    repo = "sig/referrers"
    supported = (
        httpx.get(f"http://{registry}/v2/{repo}/referrers/{image2.manifest_digest}").status_code
        == 200
    )
    private = K.load_private_key(keypair[0], _env_password)
    payload = make_payload(f"{registry}/{repo}", image2.manifest_digest)
    layer = signature_layer(payload, base64.b64encode(K.sign(private, payload)).decode())
    empty = b"{}"
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": SIG_ARTIFACT,
            "config": {
                "mediaType": "application/vnd.oci.empty.v1+json",
                "size": 2,
                "digest": sha256(empty),
            },
            "layers": [layer],
            "subject": {
                "mediaType": OCI_MANIFEST,
                "digest": image2.manifest_digest,
                "size": len(image2.manifest),
            },
        }
    ).encode()
    client = RegistryClient(parse_reference(f"registry:{registry}/{repo}:1"))
    try:
        push_blob(client, payload)
        assert push_blob(client, empty) == sha256(empty)
        put_manifest(client, sha256(manifest), manifest, OCI_MANIFEST)
        if not supported:
            index = json.dumps(
                {
                    "schemaVersion": 2,
                    "mediaType": OCI_INDEX,
                    "manifests": [
                        {
                            "mediaType": OCI_MANIFEST,
                            "digest": sha256(manifest),
                            "size": len(manifest),
                            "artifactType": SIG_ARTIFACT,
                        }
                    ],
                }
            ).encode()
            put_manifest(client, f"sha256-{hexpart(image2.manifest_digest)}", index, OCI_INDEX)
    finally:
        client.close()
    code, out, err = run(
        capsys, "verify", f"registry:{registry}/{repo}:1", "--key", str(keypair[1])
    )
    assert code == 0, out + err
    assert f"referrer {sha256(manifest)} layer 0" in out


def test_skopeo_carries_hullscan_signatures(
    registry: str,
    image: BuiltImage,
    keypair: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """containers/image (skopeo) reads cosign signature attachments (use-sigstore-
    attachments) and copies them with the image, writing its own .sig manifest: it must
    recognise hullscan's, and hullscan must verify the copy skopeo wrote. (Debian's skopeo
    has sigstore verification itself disabled, so the policy cannot be tested here.)"""
    src, dest = f"{registry}/sig/skopeo", f"{registry}/sig/skopeo-copy"
    assert main(["sign", f"registry:{src}:1", "--key", str(keypair[0])]) == 0
    regd = tmp_path / "registries.d"
    regd.mkdir()
    (regd / "default.yaml").write_text("default-docker:\n  use-sigstore-attachments: true\n")
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    assert SKOPEO is not None
    done = subprocess.run(
        [
            SKOPEO,
            "--policy",
            str(policy),
            "--registries.d",
            str(regd),
            "copy",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            f"docker://{src}:1",
            f"docker://{dest}:1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    tag = f"sha256-{hexpart(image.manifest_digest)}.sig"
    _, ours = get_manifest(registry, "sig/skopeo", tag)
    _, theirs = get_manifest(registry, "sig/skopeo-copy", tag)
    assert theirs["config"] != ours["config"]  # skopeo wrote the manifest itself
    assert [(x["mediaType"], x["digest"], x["annotations"]) for x in theirs["layers"]] == [
        (x["mediaType"], x["digest"], x["annotations"]) for x in ours["layers"]
    ]
    capsys.readouterr()
    code, out, _ = run(capsys, "verify", f"registry:{dest}:1", "--key", str(keypair[1]))
    assert code == 1 and f"signed for '{src}'" in out  # made for the source repository
    code, out, _ = run(
        capsys, "verify", f"registry:{dest}:1", "--key", str(keypair[1]), "--identity", src
    )
    assert code == 0, out


# -- the push protocol, against a scripted registry ---------------------------------------


def test_push_protocol_and_push_scope_token() -> None:
    """HEAD to skip, POST + PUT ?digest= to upload (relative Location), PUT the manifest
    with its media type; a pull token is swapped for a push token on the 401."""
    from hullscan.references import parse_reference
    from hullscan.sources.registry_client import RegistryClient
    from hullscan.sources.registry_push import push_blob, put_manifest

    seen: list[tuple[str, str, str]] = []
    stored: dict[str, bytes] = {sha256(b"exists"): b"exists"}

    def handler(request: httpx.Request) -> httpx.Response:
        url = request.url
        auth = request.headers.get("Authorization", "")
        seen.append((request.method, url.path, auth))
        if url.host == "auth.test":
            scope = url.params["scope"]
            return httpx.Response(200, json={"token": "push" if "push" in scope else "pull"})
        challenge = (
            'Bearer realm="https://auth.test/token",service="reg",scope="repository:o/app:{}"'
        )
        if request.method in ("HEAD", "GET"):
            if auth not in ("Bearer pull", "Bearer push"):
                return httpx.Response(401, headers={"WWW-Authenticate": challenge.format("pull")})
            digest = url.path.rsplit("/", 1)[-1]
            return httpx.Response(200 if digest in stored else 404)
        if auth != "Bearer push":
            return httpx.Response(401, headers={"WWW-Authenticate": challenge.format("pull,push")})
        if request.method == "POST":
            assert url.path == "/v2/o/app/blobs/uploads/"
            return httpx.Response(202, headers={"Location": "/v2/o/app/blobs/uploads/u1?_s=x"})
        if request.method == "PUT" and "/blobs/uploads/" in url.path:
            assert url.params["_s"] == "x"
            data = request.read()
            assert url.params["digest"] == sha256(data)
            stored[url.params["digest"]] = data
            return httpx.Response(201)
        if request.method == "PUT" and "/manifests/" in url.path:
            assert request.headers["Content-Type"] == OCI_MANIFEST
            data = request.read()
            return httpx.Response(201, headers={"Docker-Content-Digest": sha256(data)})
        return httpx.Response(400)

    client = RegistryClient(
        parse_reference("registry:reg.test/o/app:1"), transport=httpx.MockTransport(handler)
    )
    try:
        assert push_blob(client, b"exists") == sha256(b"exists")  # HEAD: already there
        assert not any(m == "POST" for m, _, _ in seen)
        digest = push_blob(client, b"payload")
        assert stored[digest] == b"payload"
        manifest, _config = build_signature_manifest([signature_layer(b"payload", "c2ln")])
        assert put_manifest(
            client, "sha256-" + "a" * 64 + ".sig", manifest, OCI_MANIFEST
        ) == sha256(manifest)
    finally:
        client.close()
    token_scopes = [p for m, p, _ in seen if p == "/token"]
    assert len(token_scopes) == 2  # one pull token, one push token
    assert ("PUT", "/v2/o/app/manifests/sha256-" + "a" * 64 + ".sig", "Bearer push") in seen


def test_push_refused_without_rights() -> None:
    from hullscan.references import parse_reference
    from hullscan.sources.registry_client import RegistryClient
    from hullscan.sources.registry_push import push_blob

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "HEAD":
            return httpx.Response(404)
        return httpx.Response(403)

    client = RegistryClient(
        parse_reference("registry:reg.test/o/app:1"), transport=httpx.MockTransport(handler)
    )
    try:
        with pytest.raises(HullscanError, match=r"refused to store the blob \(HTTP 403\)"):
            push_blob(client, b"x")
    finally:
        client.close()


def _manifest_puts_answering(answers: list[httpx.Response]) -> tuple[Any, list[str]]:
    from hullscan.references import parse_reference
    from hullscan.sources.registry_client import RegistryClient

    puts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.method == "PUT"
        puts.append(request.url.path)
        return (
            answers.pop(0)
            if answers
            else httpx.Response(201, headers={"Docker-Content-Digest": sha256(request.read())})
        )

    return RegistryClient(
        parse_reference("registry:reg.test/o/app:1"), transport=httpx.MockTransport(handler)
    ), puts


def test_manifest_put_again_when_a_just_pushed_blob_reads_unknown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """docker-registry answers MANIFEST_BLOB_UNKNOWN while another client's push of the same
    blob rewrites its link: the PUT is tried again, and then stands."""
    from hullscan.sources import registry_push

    monkeypatch.setattr(registry_push, "BLOB_UNKNOWN_WAITS", (0.0, 0.0))
    unknown = {"errors": [{"code": "MANIFEST_BLOB_UNKNOWN", "message": "blob unknown"}]}
    client, puts = _manifest_puts_answering([httpx.Response(400, json=unknown)])
    try:
        assert registry_push.put_manifest(client, "1", b"{}", OCI_MANIFEST) == sha256(b"{}")
    finally:
        client.close()
    assert len(puts) == 2
    # still unknown after every wait: the registry's reason is in the error
    client, puts = _manifest_puts_answering([httpx.Response(400, json=unknown)] * 3)
    try:
        with pytest.raises(HullscanError, match=r"HTTP 400 \(MANIFEST_BLOB_UNKNOWN\) storing"):
            registry_push.put_manifest(client, "1", b"{}", OCI_MANIFEST, "bundle")
    finally:
        client.close()
    assert len(puts) == 3
    # any other refusal is not tried again
    invalid = {"errors": [{"code": "MANIFEST_INVALID"}]}
    client, puts = _manifest_puts_answering([httpx.Response(400, json=invalid)])
    try:
        with pytest.raises(HullscanError, match=r"\(MANIFEST_INVALID\)"):
            registry_push.put_manifest(client, "1", b"{}", OCI_MANIFEST)
    finally:
        client.close()
    assert len(puts) == 1


@pytest.fixture(scope="module")
def auth_registry(tmp_path_factory: pytest.TempPathFactory, image: BuiltImage) -> Iterator[str]:
    if not os.access(REGISTRY, os.X_OK) or SKOPEO is None:
        pytest.skip("needs /usr/bin/docker-registry (bash scripts/registry.sh) and skopeo")
    crypt = pytest.importorskip("crypt")
    hashed = crypt.crypt(PASSWORD, crypt.mksalt(crypt.METHOD_BLOWFISH))
    if not hashed or not hashed.startswith("$2"):
        pytest.skip("the C library's crypt() has no bcrypt")
    root = tmp_path_factory.mktemp("sigauth")
    (root / "htpasswd").write_text(f"{USER}:{hashed}\n")
    one = write_oci([(image, {"annotations": {REF_NAME: "1"}})], root / "layout")
    reg = start_registry(
        root / "registry", {"htpasswd": {"realm": "hullscan-test", "path": str(root / "htpasswd")}}
    )
    try:
        push(one, "1", f"{reg.host}/sig/private:1", creds=f"{USER}:{PASSWORD}")
        yield reg.host
    finally:
        stop_registry(reg)


def test_sign_needs_push_credentials(
    auth_registry: str,
    keypair: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))
    ref = f"registry:{auth_registry}/sig/private:1"
    code, _out, err = run(capsys, "sign", ref, "--key", str(keypair[0]))
    assert code == 2 and "401" in err
    monkeypatch.setenv("HULLSCAN_PASSWORD", PASSWORD)
    code, _out, err = run(capsys, "sign", ref, "--key", str(keypair[0]), "--username", USER)
    assert code == 0, err
    code, out, err = run(capsys, "verify", ref, "--key", str(keypair[1]), "--username", USER)
    assert code == 0, out + err


def test_referrers_api(keypair: tuple[Path, Path], image: BuiltImage) -> None:
    """A registry with the OCI 1.1 referrers API (scripted): the index it answers is
    followed, other artifact types are skipped, and no fallback tag is asked for."""
    from hullscan.references import parse_reference
    from hullscan.sources.registry_client import RegistryClient
    from hullscan.streams import Limits
    from hullscan.supplychain.signatures import load_public_keys, verify_with_store
    from hullscan.supplychain.store import RegistrySignatureStore

    private = K.load_private_key(keypair[0], _env_password)
    payload = make_payload("reg.test/o/app", image.manifest_digest)
    layer = signature_layer(payload, base64.b64encode(K.sign(private, payload)).decode())
    sig = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": SIG_ARTIFACT,
            "config": {
                "mediaType": "application/vnd.oci.empty.v1+json",
                "size": 2,
                "digest": sha256(b"{}"),
            },
            "layers": [layer],
            "subject": {
                "mediaType": OCI_MANIFEST,
                "digest": image.manifest_digest,
                "size": len(image.manifest),
            },
        }
    ).encode()
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
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": sha256(sig),
                    "size": len(sig),
                    "artifactType": SIG_ARTIFACT,
                },
            ],
        }
    ).encode()
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        asked.append(path)
        if path == f"/v2/o/app/referrers/{image.manifest_digest}":
            return httpx.Response(200, content=index, headers={"Content-Type": OCI_INDEX})
        if path == f"/v2/o/app/manifests/{sha256(sig)}":
            return httpx.Response(200, content=sig, headers={"Content-Type": OCI_MANIFEST})
        if path == f"/v2/o/app/blobs/{sha256(payload)}":
            return httpx.Response(200, content=payload)
        return httpx.Response(404)

    ref = parse_reference("registry:reg.test/o/app:1")
    store = RegistrySignatureStore(ref, None, Limits())
    store.client.close()
    store.client = RegistryClient(ref, transport=httpx.MockTransport(handler))
    with store:
        checks = verify_with_store(
            store, image.manifest_digest, load_public_keys([keypair[1]]), "reg.test/o/app"
        )
    assert checks == [SignatureCheck(f"referrer {sha256(sig)} layer 0", str(keypair[1]), None)]
    assert f"/v2/o/app/manifests/sha256-{hexpart(image.manifest_digest)}" not in asked
    assert "/v2/o/app/manifests/sha256:" + "5" * 64 not in asked
