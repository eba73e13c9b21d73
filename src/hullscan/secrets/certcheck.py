"""Certificates, PKCS#7 bundles, PKCS#12 stores, DER keys and Java keystores read with
cryptography: the work behind ``certs.CertificateAnalyzer``, whose docstring says what is
reported and why. A module of its own so that cryptography (a twentieth of a second to
import) is loaded only when a scan reads a file that may hold a certificate.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
import warnings
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from cryptography.x509.oid import NameOID

from hullscan.analyzer import AnalyzerResult
from hullscan.model import Finding, FindingKind, Severity

_PEM_BLOCK = re.compile(
    rb"-----BEGIN (X509 CERTIFICATE|TRUSTED CERTIFICATE|CERTIFICATE|PKCS7)-----"
    rb"([A-Za-z0-9+/=\s]*?)-----END \1-----"
)

#: OIDs (DER value bytes) of PKCS#7 data and signedData
_OID_DATA = bytes.fromhex("2a864886f70d010701")
_OID_SIGNED = bytes.fromhex("2a864886f70d010702")

_JKS_MAGIC = 0xFEEDFEED
_JCEKS_MAGIC = 0xCECECECE
#: store passwords worth trying against a JKS/JCEKS integrity digest
_DEFAULT_PASSWORDS = ("", "changeit", "changeme", "password", "secret")

#: what cryptography raises for malformed or unsupported input (some fields parse lazily)
_PARSE_ERRORS: tuple[type[Exception], ...] = (ValueError, UnsupportedAlgorithm, x509.InvalidVersion)
_OPEN_ERRORS: tuple[type[Exception], ...] = (*_PARSE_ERRORS, TypeError)
_VERIFY_ERRORS: tuple[type[Exception], ...] = (*_OPEN_ERRORS, InvalidSignature)

#: at most this many certificates are examined per file
_MAX_CERTS = 10_000


class CertificateChecker:
    """What ``CertificateAnalyzer`` does with a file's bytes (see ``certs``)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def analyze_bytes(self, path: str, data: bytes) -> AnalyzerResult | None:
        with warnings.catch_warnings():
            # cryptography warns about legacy encodings (non-positive serials, BER PKCS#7):
            # those certificates are input, not bugs; don't spam the user's terminal
            warnings.simplefilter("ignore")
            return self._analyze(path, data)

    def _analyze(self, path: str, data: bytes) -> AnalyzerResult | None:
        result = AnalyzerResult()
        if not data:
            return None
        name = path.rsplit("/", 1)[-1].lower()
        if b"-----BEGIN " in data:
            self._pem(path, data, result)
        elif len(data) >= 4 and struct.unpack(">I", data[:4])[0] in (_JKS_MAGIC, _JCEKS_MAGIC):
            result.findings.append(_java_keystore(path, data))
        elif data[0] == 0x30:
            self._der(path, name, data, result)
        elif name.endswith(".bks") and _looks_like_bks(data):
            result.findings.append(
                _finding(
                    "java-keystore",
                    Severity.HIGH,
                    "Bouncy Castle keystore (BKS)",
                    path,
                    "BKS keystore",
                    "keystore",
                    {"format": "BKS"},
                )
            )
        return None if result.is_empty() else result

    # -- PEM ---------------------------------------------------------------------------

    def _pem(self, path: str, data: bytes, result: AnalyzerResult) -> None:
        count = 0
        for m in _PEM_BLOCK.finditer(data):
            line = data.count(b"\n", 0, m.start()) + 1
            label = m.group(1).decode()
            try:
                der = base64.b64decode(b"".join(m.group(2).split()), validate=True)
            except (binascii.Error, ValueError):
                result.warnings.append(f"{path}:{line}: malformed {label} block")
                continue
            try:
                if label == "PKCS7":
                    certs = pkcs7.load_der_pkcs7_certificates(der)
                else:
                    # TRUSTED CERTIFICATE appends OpenSSL trust data: parse the first TLV only
                    end = _tlv_end(der, 0)
                    certs = [x509.load_der_x509_certificate(der[:end] if end else der)]
            except _PARSE_ERRORS as e:
                result.warnings.append(f"{path}:{line}: unreadable {label} block: {e}")
                continue
            for cert in certs:
                count += 1
                if count > _MAX_CERTS:
                    result.warnings.append(f"{path}: more than {_MAX_CERTS} certificates")
                    return
                self._check(cert, path, line, result)

    # -- DER ---------------------------------------------------------------------------

    def _der(self, path: str, name: str, data: bytes, result: AnalyzerResult) -> None:
        if _is_pkcs12(data):
            self._pkcs12(path, data, result)
            return
        if _is_pkcs7_signed(data):
            try:
                certs = pkcs7.load_der_pkcs7_certificates(data)
            except _PARSE_ERRORS:
                return
            for c in certs[:_MAX_CERTS]:
                self._check(c, path, None, result)
            return
        if _is_certificate(data) or name.endswith((".crt", ".cer", ".der", ".pem")):
            try:
                cert = x509.load_der_x509_certificate(data)
            except _PARSE_ERRORS:
                cert = None  # not a certificate after all: it may be a DER private key
            if cert is not None:
                self._check(cert, path, None, result)
                return
        key = _der_private_key(path, data)
        if key is not None:
            result.findings.append(key)

    def _pkcs12(self, path: str, data: bytes, result: AnalyzerResult) -> None:
        opened: pkcs12.PKCS12KeyAndCertificates | None = None
        for password in (None, b""):
            try:
                opened = pkcs12.load_pkcs12(data, password)
                break
            except _OPEN_ERRORS:
                continue
        if opened is None:
            result.findings.append(
                _finding(
                    "pkcs12-keystore",
                    Severity.HIGH,
                    "Password-protected PKCS#12 keystore",
                    path,
                    "PKCS#12 keystore (password-protected)",
                    "keystore",
                    {"format": "PKCS12", "protected": True},
                )
            )
            return
        certs = ([opened.cert.certificate] if opened.cert else []) + [
            c.certificate for c in opened.additional_certs
        ]
        has_key = opened.key is not None
        evidence = (
            f"PKCS#12 keystore opens without a password: "
            f"{'1 private key' if has_key else 'no private key'}, "
            f"{len(certs)} certificate(s)"
        )
        result.findings.append(
            _finding(
                "pkcs12-keystore",
                Severity.CRITICAL if has_key else Severity.LOW,
                "Unprotected PKCS#12 keystore with a private key"
                if has_key
                else "Unprotected PKCS#12 file (certificates only)",
                path,
                evidence,
                "keystore",
                {
                    "format": "PKCS12",
                    "protected": False,
                    "private_key": has_key,
                    "certificates": len(certs),
                },
            )
        )
        for cert in certs[:_MAX_CERTS]:
            self._check(cert, path, None, result)

    # -- checks ------------------------------------------------------------------------

    def _check(
        self, cert: x509.Certificate, path: str, line: int | None, result: AnalyzerResult
    ) -> None:
        # cryptography parses some fields lazily: a malformed name fails only when read
        try:
            result.findings.extend(self.check_certificate(cert, path, line))
        except _PARSE_ERRORS as e:
            where = f"{path}:{line}" if line else path
            result.warnings.append(f"{where}: malformed certificate: {e}")

    def check_certificate(
        self, cert: x509.Certificate, path: str | None, line: int | None
    ) -> list[Finding]:
        """The findings for one certificate (none when nothing is wrong)."""
        info = _CertInfo.of(cert)
        self_signed = _is_self_signed(cert)
        leaf = not info.ca or (self_signed and not _is_root_ca(cert))
        details = info.details()
        evidence = info.evidence()
        out: list[Finding] = []

        def add(fid: str, sev: Severity, title: str, extra: str = "") -> None:
            out.append(
                _finding(fid, sev, title, path, evidence + extra, "certificate", details, line)
            )

        if self.now > info.not_after:
            add(
                "cert-expired",
                Severity.HIGH if leaf else Severity.MEDIUM,
                f"Expired {'' if leaf else 'CA '}certificate {info.subject_cn!r}",
            )
        elif self.now < info.not_before:
            add(
                "cert-not-yet-valid",
                Severity.MEDIUM,
                f"Certificate {info.subject_cn!r} is not valid yet",
                f", notBefore={info.not_before.isoformat()}",
            )
        if self_signed and leaf:
            add(
                "cert-self-signed-leaf",
                Severity.LOW,
                f"Self-signed certificate {info.subject_cn!r}",
            )
        if info.weak_key:
            add(
                "cert-weak-key",
                Severity.HIGH,
                f"Weak {info.key_type} key ({info.key_size} bits) in certificate "
                f"{info.subject_cn!r}",
            )
        if not self_signed and info.signature_hash in ("md5", "sha1"):
            add(
                "cert-weak-signature",
                Severity.MEDIUM,
                f"Certificate {info.subject_cn!r} signed with {info.signature_hash.upper()}",
                f", signature={info.signature_hash}",
            )
        return out


@dataclass(frozen=True)
class _CertInfo:
    subject_cn: str
    issuer_cn: str
    not_before: datetime
    not_after: datetime
    key_type: str
    key_size: int | None
    weak_key: bool
    signature_hash: str | None
    ca: bool
    serial: str
    sha256: str

    @classmethod
    def of(cls, cert: x509.Certificate) -> _CertInfo:
        key_type, key_size, weak = _key_strength(cert)
        try:
            algo = cert.signature_hash_algorithm
            sig = algo.name if algo is not None else None
        except UnsupportedAlgorithm:
            sig = None
        bc = _extension(cert, x509.BasicConstraints)
        return cls(
            subject_cn=_cn(cert.subject),
            issuer_cn=_cn(cert.issuer),
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            key_type=key_type,
            key_size=key_size,
            weak_key=weak,
            signature_hash=sig,
            ca=bool(bc is not None and bc.ca),
            serial=format(cert.serial_number, "x"),
            sha256=cert.fingerprint(hashes.SHA256()).hex(),
        )

    def evidence(self) -> str:
        key = f"{self.key_type} {self.key_size}" if self.key_size else self.key_type
        return (
            f"subject CN={self.subject_cn}, issuer CN={self.issuer_cn}, "
            f"notAfter={self.not_after.isoformat()}, key={key}"
        )

    def details(self) -> dict[str, Any]:
        return {
            "category": "certificate",
            "subject_cn": self.subject_cn,
            "issuer_cn": self.issuer_cn,
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "key_type": self.key_type,
            "key_size": self.key_size,
            "signature_hash": self.signature_hash,
            "ca": self.ca,
            "serial": self.serial,
            "sha256": self.sha256,
        }


def _finding(
    fid: str,
    severity: Severity,
    title: str,
    path: str | None,
    evidence: str,
    category: str,
    details: dict[str, Any],
    line: int | None = None,
) -> Finding:
    return Finding(
        kind=FindingKind.SECRET,
        id=fid,
        severity=severity,
        title=title,
        path=path,
        line=line,
        evidence=evidence,
        details={**details, "category": category},
        remediation=_REMEDIATION.get(fid, ""),
    )


_REMEDIATION = {
    "cert-expired": "Replace the certificate, or remove it from the image if unused.",
    "cert-not-yet-valid": "Check the certificate's validity period and the signer's clock.",
    "cert-self-signed-leaf": "Use a certificate issued by a CA; mount certificates at runtime.",
    "cert-weak-key": "Reissue with RSA/DSA >= 2048 bits or an EC key >= 224 bits.",
    "cert-weak-signature": "Reissue the certificate with a SHA-256 (or stronger) signature.",
    "pkcs12-keystore": "Do not bake keystores into images; mount them as secrets at runtime.",
    "java-keystore": "Do not bake keystores into images; mount them as secrets at runtime.",
    "private-key-der": "Remove the private key from the image and rotate it.",
}


def _cn(name: x509.Name) -> str:
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    if attrs:
        value = attrs[0].value
        return value if isinstance(value, str) else value.decode("utf-8", "replace")
    return name.rfc4514_string()


def _extension(cert: x509.Certificate, kind: type[Any]) -> Any:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except (x509.ExtensionNotFound, ValueError):
        return None


def _key_strength(cert: x509.Certificate) -> tuple[str, int | None, bool]:
    """Key type, size in bits and whether it is weak."""
    try:
        key = cert.public_key()
    except _PARSE_ERRORS:
        return "unknown", None, False
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size, key.key_size < 2048
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size, key.key_size < 2048
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC {key.curve.name}", key.key_size, key.key_size < 224
    return type(key).__name__.removesuffix("PublicKey").lstrip("_"), None, False


def _is_self_signed(cert: x509.Certificate) -> bool:
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
        return True
    except InvalidSignature:
        return False
    except _OPEN_ERRORS:
        pass  # e.g. MD5/SHA-1 signatures, which verify_directly_issued_by refuses
    return _verify_legacy(cert)


def _verify_legacy(cert: x509.Certificate) -> bool:
    """Check a self-signature with the primitives directly (PKCS#1 v1.5, ECDSA, DSA)."""
    try:
        algo = cert.signature_hash_algorithm
        key = cert.public_key()
        if algo is None:
            return False
        sig, tbs = cert.signature, cert.tbs_certificate_bytes
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(sig, tbs, padding.PKCS1v15(), algo)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(sig, tbs, ec.ECDSA(algo))
        elif isinstance(key, dsa.DSAPublicKey):
            key.verify(sig, tbs, algo)
        else:
            return False
    except _VERIFY_ERRORS:
        return False
    return True


_HOSTNAME = re.compile(r"^(?:\*\.)?(?:[a-z0-9-]+\.)+[a-z0-9-]+$|^localhost$", re.IGNORECASE)


def _is_root_ca(cert: x509.Certificate) -> bool:
    """A self-signed certificate meant to sign others (see the module docstring)."""
    bc = _extension(cert, x509.BasicConstraints)
    if bc is None or not bc.ca:
        return False
    ku = _extension(cert, x509.KeyUsage)
    if ku is not None:
        return bool(ku.key_cert_sign)
    # CA:TRUE without keyUsage: `openssl req -x509` default; a server cert if it names a host
    if _extension(cert, x509.SubjectAlternativeName) is not None:
        return False
    return not _HOSTNAME.match(_cn(cert.subject))


# -- DER structure sniffing -----------------------------------------------------------------


def _tlv(data: bytes, pos: int) -> tuple[int, int, int | None] | None:
    """(tag, value start, value end or None for indefinite length) of the TLV at ``pos``."""
    if pos + 2 > len(data) or data[pos] & 0x1F == 0x1F:
        return None
    tag, first = data[pos], data[pos + 1]
    if first < 0x80:
        return tag, pos + 2, pos + 2 + first
    if first == 0x80:
        return tag, pos + 2, None
    n = first & 0x7F
    if n > 4 or pos + 2 + n > len(data):
        return None
    length = int.from_bytes(data[pos + 2 : pos + 2 + n], "big")
    return tag, pos + 2 + n, pos + 2 + n + length


def _tlv_end(data: bytes, pos: int) -> int | None:
    t = _tlv(data, pos)
    return t[2] if t and t[2] is not None and t[2] <= len(data) else None


def _is_certificate(data: bytes) -> bool:
    """SEQUENCE { tbsCertificate SEQUENCE { [0] version | INTEGER serial, ... }, ... }."""
    outer = _tlv(data, 0)
    if outer is None or outer[0] != 0x30 or outer[2] is None or outer[2] > len(data):
        return False
    if data[outer[2] :].strip(b"\r\n\t \x00"):
        return False
    tbs = _tlv(data, outer[1])
    if tbs is None or tbs[0] != 0x30:
        return False
    first = _tlv(data, tbs[1])
    return first is not None and first[0] in (0xA0, 0x02)


def _content_type_at(data: bytes, pos: int) -> bytes | None:
    """The OID of the ContentInfo SEQUENCE at ``pos``."""
    ci = _tlv(data, pos)
    if ci is None or ci[0] != 0x30:
        return None
    oid = _tlv(data, ci[1])
    if oid is None or oid[0] != 0x06 or oid[2] is None or oid[2] > len(data):
        return None
    return data[oid[1] : oid[2]]


def _is_pkcs12(data: bytes) -> bool:
    """PFX ::= SEQUENCE { version INTEGER (3), authSafe ContentInfo (data|signedData), ... }."""
    outer = _tlv(data, 0)
    if outer is None or outer[0] != 0x30:
        return False
    version = _tlv(data, outer[1])
    if version is None or version[0] != 0x02 or version[2] != version[1] + 1:
        return False
    if version[2] > len(data) or data[version[1]] != 3:
        return False
    return _content_type_at(data, version[1] + 1) in (_OID_DATA, _OID_SIGNED)


def _is_pkcs7_signed(data: bytes) -> bool:
    return _content_type_at(data, 0) == _OID_SIGNED


def _der_private_key(path: str, data: bytes) -> Finding | None:
    """A binary PKCS#8 / PKCS#1 / SEC1 private key (the text engine sees only PEM)."""
    try:
        key = serialization.load_der_private_key(data, None)
    except TypeError:  # encrypted PKCS#8: it needs a password
        return _finding(
            "private-key-der",
            Severity.HIGH,
            "Encrypted private key (DER)",
            path,
            "encrypted PKCS#8 private key (DER)",
            "private-key",
            {"encrypted": True},
        )
    except _PARSE_ERRORS:
        return None
    kind = type(key).__name__.removesuffix("PrivateKey").lstrip("_")
    size = getattr(key, "key_size", None)
    return _finding(
        "private-key-der",
        Severity.CRITICAL,
        "Unencrypted private key (DER)",
        path,
        f"{kind} private key{f' ({size} bits)' if size else ''}, DER encoded",
        "private-key",
        {"encrypted": False, "key_type": kind, "key_size": size},
    )


# -- Java keystores -------------------------------------------------------------------------


def _java_keystore(path: str, data: bytes) -> Finding:
    """Describe a JKS/JCEKS store from its header and entry list (keys stay encrypted)."""
    magic, version, count = struct.unpack(">III", data[:12]) if len(data) >= 12 else (0, 0, 0)
    fmt = "JKS" if magic == _JKS_MAGIC else "JCEKS"
    keys, trusted, complete, end = _walk_jks(data, version, count)
    password = _jks_default_password(data, end) if complete and end is not None else None
    details: dict[str, Any] = {
        "format": fmt,
        "version": version,
        "entries": count,
        "private_keys": keys if complete else None,
        "trusted_certificates": trusted if complete else None,
        "default_password": password is not None,
    }
    if complete and keys == 0:
        severity, title = Severity.LOW, f"{fmt} trust store (no private keys)"
        evidence = f"{fmt} keystore, {count} entries, all trusted certificates"
    else:
        severity = Severity.CRITICAL if password is not None else Severity.HIGH
        title = f"{fmt} keystore with private keys"
        evidence = (
            f"{fmt} keystore, {count} entries ({keys} key entries)"
            if complete
            else f"{fmt} keystore, {count} entries"
        )
    if password is not None:
        title += " and a well-known store password"
        evidence += ", store password is a well-known default"
    return _finding("java-keystore", severity, title, path, evidence, "keystore", details)


def _walk_jks(data: bytes, version: int, count: int) -> tuple[int, int, bool, int | None]:
    """(key entries, trusted certificate entries, fully walked, offset after the entries)."""
    if version not in (1, 2) or count > len(data) // 16:
        return 0, 0, False, None
    pos, keys, trusted = 12, 0, 0

    def u32(p: int) -> int:
        return int(struct.unpack_from(">I", data, p)[0])

    def skip_utf(p: int) -> int:
        return p + 2 + int(struct.unpack_from(">H", data, p)[0])

    def skip_cert(p: int) -> int:
        if version == 2:
            p = skip_utf(p)
        return p + 4 + u32(p)

    try:
        for _ in range(count):
            tag = u32(pos)
            pos = skip_utf(pos + 4) + 8  # alias, timestamp
            if tag == 1:  # private key: protected key, certificate chain
                keys += 1
                pos += 4 + u32(pos)
                chain = u32(pos)
                pos += 4
                for _ in range(min(chain, len(data))):
                    pos = skip_cert(pos)
            elif tag == 2:
                trusted += 1
                pos = skip_cert(pos)
            else:  # JCEKS secret key (a serialized Java object): cannot be walked
                return keys + 1, trusted, False, None
            if pos > len(data):
                return keys, trusted, False, None
    except struct.error:
        return keys, trusted, False, None
    return keys, trusted, pos + 20 == len(data), pos


def _jks_default_password(data: bytes, end: int) -> str | None:
    """The well-known store password that matches the keystore's integrity digest, if any."""
    body, digest = data[:end], data[end : end + 20]
    for password in _DEFAULT_PASSWORDS:
        h = hashlib.sha1(password.encode("utf-16-be"), usedforsecurity=False)
        h.update(b"Mighty Aphrodite")
        h.update(body)
        if h.digest() == digest:
            return password
    return None


def _looks_like_bks(data: bytes) -> bool:
    """BKS header: version 1|2, salt length, salt, iteration count."""
    if len(data) < 12:
        return False
    version, salt_len = struct.unpack_from(">II", data, 0)
    if version not in (1, 2) or not 1 <= salt_len <= 64 or len(data) < 12 + salt_len:
        return False
    iterations = struct.unpack_from(">I", data, 8 + salt_len)[0]
    return bool(1 <= iterations <= 10_000_000)
