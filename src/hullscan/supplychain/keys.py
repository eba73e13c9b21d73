"""Signing keys in cosign's formats.

``cosign.pub`` is a PEM "PUBLIC KEY" (SubjectPublicKeyInfo). ``cosign.key`` is a PKCS#8
private key encrypted the way go-securesystemslib's ``encrypted`` package does it and
wrapped in a PEM block "ENCRYPTED SIGSTORE PRIVATE KEY" (older cosign: "ENCRYPTED COSIGN
PRIVATE KEY"): the block holds the JSON document

    {"kdf":{"name":"scrypt","params":{"N":65536,"r":8,"p":1},"salt":"<b64, 32 bytes>"},
     "cipher":{"name":"nacl/secretbox","nonce":"<b64, 24 bytes>"},
     "ciphertext":"<b64: secretbox(key=scrypt(password, salt, N, r, p, 32))>"}

Only the three scrypt parameter sets that library writes are accepted (as it does: a
tampered key must not make us spend unbounded memory). Unencrypted PKCS#8 "PRIVATE KEY"
and SEC 1 "EC PRIVATE KEY" files are read too.

Signatures are what cosign makes: ECDSA over SHA-256, ASN.1 DER (RSA keys: PKCS #1 v1.5
with SHA-256).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.secret
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from hullscan.errors import KeyFileError

SIGSTORE_PEM = "ENCRYPTED SIGSTORE PRIVATE KEY"
COSIGN_PEM = "ENCRYPTED COSIGN PRIVATE KEY"
ENCRYPTED_TYPES = (SIGSTORE_PEM, COSIGN_PEM)
PLAIN_TYPES = ("PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY")
#: (N, r, p) as go-securesystemslib writes them: legacy, standard (its default), OWASP
SCRYPT_PARAMS = ((32768, 8, 1), (65536, 8, 1), (131072, 8, 1))
DEFAULT_SCRYPT = SCRYPT_PARAMS[1]
SALT_SIZE, NONCE_SIZE, BOX_KEY_SIZE = 32, 24, 32
MAX_KEY_FILE = 64 * 1024
PASSWORD_ENV = "COSIGN_PASSWORD"

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey

_PEM_RE = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.S)


def _read(path: Path, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_KEY_FILE + 1)
    except OSError as e:
        raise KeyFileError(f"{path}: cannot read the {what} ({e.strerror})") from None
    if len(data) > MAX_KEY_FILE:
        raise KeyFileError(f"{path}: too large for a {what}")
    return data


def pem_blocks(data: bytes) -> list[tuple[str, bytes]]:
    """Every PEM block in ``data``: (type, decoded body)."""
    out = []
    for m in _PEM_RE.finditer(data):
        body = b"".join(
            line.strip() for line in m.group(2).splitlines() if line.strip() and b":" not in line
        )  # skip RFC 1421 headers
        try:
            out.append((m.group(1).decode(), base64.b64decode(body, validate=True)))
        except (binascii.Error, ValueError):
            continue
    return out


def pem_encode(kind: str, der: bytes) -> bytes:
    """PEM as Go's ``pem.EncodeToMemory`` writes it: 64-column base64 lines."""
    text = base64.b64encode(der).decode()
    lines = [text[i : i + 64] for i in range(0, len(text), 64)]
    return (f"-----BEGIN {kind}-----\n" + "\n".join(lines) + f"\n-----END {kind}-----\n").encode()


# -- the encrypted container (go-securesystemslib ``encrypted``) --------------------------


def _derive(password: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=BOX_KEY_SIZE, n=n, r=r, p=p).derive(password)


def encrypt(
    plaintext: bytes, password: bytes, params: tuple[int, int, int] = DEFAULT_SCRYPT
) -> bytes:
    """The JSON document, byte for byte in the field order and spacing Go writes."""
    salt = secrets.token_bytes(SALT_SIZE)
    nonce = secrets.token_bytes(NONCE_SIZE)
    n, r, p = params
    box = nacl.secret.SecretBox(_derive(password, salt, n, r, p))
    ciphertext = box.encrypt(plaintext, nonce).ciphertext  # tag + ciphertext, as Go's Seal
    doc = {
        "kdf": {
            "name": "scrypt",
            "params": {"N": n, "r": r, "p": p},
            "salt": base64.b64encode(salt).decode(),
        },
        "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(nonce).decode()},
        "ciphertext": base64.b64encode(ciphertext).decode(),
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def _b64_field(doc: dict[str, Any], key: str, what: str) -> bytes:
    value = doc.get(key)
    if not isinstance(value, str):
        raise KeyFileError(f"{what}: no {key}")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise KeyFileError(f"{what}: {key} is not base64") from None


def decrypt(data: bytes, password: bytes, what: str = "private key") -> bytes:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise KeyFileError(f"{what}: the encrypted key is not a JSON document") from None
    if not isinstance(doc, dict):
        raise KeyFileError(f"{what}: the encrypted key is not a JSON object")
    kdf, cipher = doc.get("kdf"), doc.get("cipher")
    if not isinstance(kdf, dict) or kdf.get("name") != "scrypt":
        raise KeyFileError(f"{what}: unknown key derivation (only scrypt is supported)")
    if not isinstance(cipher, dict) or cipher.get("name") != "nacl/secretbox":
        raise KeyFileError(f"{what}: unknown cipher (only nacl/secretbox is supported)")
    params = kdf.get("params")
    triple = (
        (params.get("N"), params.get("r"), params.get("p")) if isinstance(params, dict) else None
    )
    if triple not in SCRYPT_PARAMS:
        raise KeyFileError(f"{what}: unsupported scrypt parameters {triple}")
    assert triple is not None
    salt = _b64_field(kdf, "salt", what)
    nonce = _b64_field(cipher, "nonce", what)
    ciphertext = _b64_field(doc, "ciphertext", what)
    if len(nonce) != NONCE_SIZE:
        raise KeyFileError(f"{what}: the nonce is not {NONCE_SIZE} bytes")
    key = _derive(password, salt, *triple)
    try:
        return nacl.secret.SecretBox(key).decrypt(ciphertext, nonce)
    except nacl.exceptions.CryptoError:
        raise KeyFileError(f"{what}: wrong password (or the key file is corrupt)") from None


# -- passwords --------------------------------------------------------------------------

PasswordFn = Callable[[bool], bytes]


# -- key files --------------------------------------------------------------------------


def generate_keypair(password: bytes) -> tuple[bytes, bytes]:
    """A new ECDSA P-256 key pair as (``cosign.key``, ``cosign.pub``) file contents."""
    key = ec.generate_private_key(ec.SECP256R1())
    pkcs8 = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pem_encode(SIGSTORE_PEM, encrypt(pkcs8, password)), public_pem(key.public_key())


def public_pem(key: PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _check_private(key: object, path: Path) -> PrivateKey:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if key.curve.name not in ("secp256r1", "secp384r1", "secp521r1"):
            raise KeyFileError(
                f"{path}: ECDSA curve {key.curve.name} is not supported (P-256, P-384, P-521)"
            )
        return key
    if isinstance(key, rsa.RSAPrivateKey):
        if not 2048 <= key.key_size <= 4096:
            raise KeyFileError(f"{path}: RSA key size {key.key_size} is not supported")
        return key
    raise KeyFileError(
        f"{path}: only ECDSA and RSA keys are supported, not {type(key).__name__.lstrip('_')}"
    )


def load_private_key(path: Path, password: PasswordFn) -> PrivateKey:
    """A private key file in any of cosign's formats; the password is asked for only
    when the key is encrypted."""
    blocks = pem_blocks(_read(path, "private key"))
    for kind, der in blocks:
        if kind in ENCRYPTED_TYPES:
            inner = decrypt(der, password(False), str(path))
            return _check_private(_load_der_private(inner, path), path)
        if kind in PLAIN_TYPES:
            return _check_private(_load_der_private(der, path), path)
    found = ", ".join(sorted({k for k, _ in blocks})) or "no PEM block"
    raise KeyFileError(
        f"{path}: not a private key (found {found}; expected {SIGSTORE_PEM}, "
        f"{COSIGN_PEM}, PRIVATE KEY or EC PRIVATE KEY)"
    )


def _load_der_private(der: bytes, path: Path) -> object:
    try:
        return serialization.load_der_private_key(der, None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise KeyFileError(f"{path}: the private key cannot be parsed") from None


def load_public_key(path: Path) -> PublicKey:
    blocks = pem_blocks(_read(path, "public key"))
    for kind, der in blocks:
        if kind != "PUBLIC KEY":
            continue
        try:
            key = serialization.load_der_public_key(der)
        except (ValueError, UnsupportedAlgorithm):
            raise KeyFileError(f"{path}: the public key cannot be parsed") from None
        if isinstance(key, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey)):
            return key
        raise KeyFileError(f"{path}: only ECDSA and RSA public keys are supported")
    if any(kind in ENCRYPTED_TYPES + PLAIN_TYPES for kind, _ in blocks):
        raise KeyFileError(f"{path}: a private key; verify with the public key (cosign.pub)")
    raise KeyFileError(f'{path}: no PEM "PUBLIC KEY" block')


# -- signing ----------------------------------------------------------------------------


def sign(key: PrivateKey, data: bytes) -> bytes:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hashes.SHA256()))
    return key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def verify(key: PublicKey, signature: bytes, data: bytes) -> bool:
    """True when ``signature`` is ``key``'s over ``data`` (SHA-256, as cosign ``--key``
    verifies; for P-384/P-521 also the curve's own hash, as cosign signs with them)."""
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            hashers: list[hashes.HashAlgorithm] = [hashes.SHA256()]
            if key.curve.name == "secp384r1":
                hashers.append(hashes.SHA384())
            elif key.curve.name == "secp521r1":
                hashers.append(hashes.SHA512())
            for h in hashers:
                try:
                    key.verify(signature, data, ec.ECDSA(h))
                    return True
                except InvalidSignature:
                    continue
            return False
        key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        return True
    except (InvalidSignature, ValueError):
        return False


def write_keypair(prefix: str, password: bytes) -> tuple[Path, Path]:
    """``<prefix>.key`` (mode 0600) and ``<prefix>.pub``; never overwrites either."""
    private, public = generate_keypair(password)
    key_path, pub_path = Path(f"{prefix}.key"), Path(f"{prefix}.pub")
    for p in (key_path, pub_path):
        if p.exists():
            raise KeyFileError(
                f"{p} already exists; move it away or choose another --output-key-prefix"
            )
    try:
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(private)
        with open(pub_path, "xb") as f:
            f.write(public)
    except OSError as e:
        raise KeyFileError(f"cannot write the key pair: {e.strerror} ({e.filename})") from None
    return key_path, pub_path
