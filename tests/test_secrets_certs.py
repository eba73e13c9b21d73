"""CertificateAnalyzer: real certificates and keystores built in code, plus the corpus."""

from __future__ import annotations

import hashlib
import io
import random
import struct
import tarfile
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from cryptography.x509.oid import NameOID

from hullscan.analyzer import AnalyzerResult
from hullscan.model import FileInfo, FileType, Finding, Severity
from hullscan.secrets.certs import CertificateAnalyzer

from conftest import CORPUS_DIR

NOW = datetime(2025, 6, 1, tzinfo=UTC)
DAY = timedelta(days=1)

_KEYS: dict[int, rsa.RSAPrivateKey] = {}


def rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    if bits not in _KEYS:
        _KEYS[bits] = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return _KEYS[bits]


def name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_cert(
    cn: str,
    *,
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | None = None,
    issuer: tuple[str, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey] | None = None,
    ca: bool | None = False,
    key_cert_sign: bool | None = None,
    not_before: datetime = NOW - 30 * DAY,
    not_after: datetime = NOW + 365 * DAY,
    san: str | None = None,
) -> x509.Certificate:
    """A certificate for ``cn``: self-signed unless ``issuer`` (name, key) is given."""
    key = key or rsa_key()
    issuer_name, issuer_key = (cn, key) if issuer is None else issuer
    b = (
        x509.CertificateBuilder()
        .subject_name(name(cn))
        .issuer_name(name(issuer_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    if ca is not None:
        b = b.add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    if key_cert_sign is not None:
        b = b.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=not ca,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=key_cert_sign,
                crl_sign=key_cert_sign,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    if san:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


CA_KEY = ec.generate_private_key(ec.SECP256R1())
CA = make_cert("Test Root CA", key=CA_KEY, ca=True, key_cert_sign=True)


def leaf(cn: str = "app.example.com", **kw: object) -> x509.Certificate:
    return make_cert(cn, issuer=("Test Root CA", CA_KEY), san=cn, **kw)  # type: ignore[arg-type]


def run(path: str, data: bytes, now: datetime = NOW) -> AnalyzerResult | None:
    info = FileInfo(path, FileType.REG, size=len(data))
    analyzer = CertificateAnalyzer(now=now)
    assert analyzer.required(path, info), path
    return analyzer.analyze(path, info, io.BytesIO(data))


def ids(result: AnalyzerResult | None) -> list[str]:
    return [] if result is None else sorted(f.id for f in result.findings)


def only(result: AnalyzerResult | None, fid: str) -> Finding:
    assert result is not None
    found = [f for f in result.findings if f.id == fid]
    assert len(found) == 1, ids(result)
    return found[0]


# -- X.509 ----------------------------------------------------------------------------------


def test_valid_ca_signed_leaf_and_root_give_nothing() -> None:
    assert run("app/certs/server.crt", pem(leaf(), CA)) is None


def test_expired_leaf_is_high_and_expired_ca_is_medium() -> None:
    cert = leaf(not_before=NOW - 400 * DAY, not_after=NOW - DAY)
    f = only(run("app/tls.pem", pem(cert)), "cert-expired")
    assert f.severity is Severity.HIGH and f.kind == "secret"
    assert f.details["category"] == "certificate"
    assert f.details["not_after"] == (NOW - DAY).isoformat()
    assert "subject CN=app.example.com" in f.evidence and "issuer CN=Test Root CA" in f.evidence
    assert f.path == "app/tls.pem" and f.line == 1

    old_ca = make_cert(
        "Old CA",
        key=CA_KEY,
        ca=True,
        key_cert_sign=True,
        not_before=NOW - 400 * DAY,
        not_after=NOW - DAY,
    )
    assert ids(run("srv/ca.pem", pem(old_ca))) == ["cert-expired"]
    assert only(run("srv/ca.pem", pem(old_ca)), "cert-expired").severity is Severity.MEDIUM


def test_not_yet_valid() -> None:
    cert = leaf(not_before=NOW + 10 * DAY, not_after=NOW + 400 * DAY)
    f = only(run("app/x.crt", pem(cert)), "cert-not-yet-valid")
    assert f.severity is Severity.MEDIUM


def test_now_is_injectable() -> None:
    cert = pem(leaf(not_after=NOW + 10 * DAY))
    assert run("a.crt", cert) is None
    assert ids(run("a.crt", cert, now=NOW + 11 * DAY)) == ["cert-expired"]


def test_self_signed_leaf() -> None:
    for cert in (
        make_cert("app.example.com", ca=None),  # no basicConstraints
        make_cert("app.example.com", ca=False),
        make_cert("app.example.com", ca=True),
    ):  # `openssl req -x509` default
        f = only(run("app/certs/self.crt", pem(cert)), "cert-self-signed-leaf")
        assert f.severity is Severity.LOW
    # a root CA (keyCertSign), or CA:TRUE naming no host, is not a leaf
    assert run("ca.pem", pem(make_cert("Corp Root", ca=True, key_cert_sign=True))) is None
    assert run("ca.pem", pem(make_cert("Corp Root CA", ca=True))) is None


def test_issuer_equal_subject_but_other_key_is_not_self_signed() -> None:
    other = rsa_key(3072)
    cert = make_cert("app.example.com", issuer=("app.example.com", other), key=rsa_key())
    assert run("x.pem", pem(cert)) is None


def test_weak_rsa_key() -> None:
    cert = leaf(key=rsa_key(1024))
    f = only(run("app/weak.pem", pem(cert)), "cert-weak-key")
    assert f.severity is Severity.HIGH
    assert f.details["key_size"] == 1024 and "RSA 1024" in f.evidence


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def resign_legacy(
    cert: x509.Certificate, key: rsa.RSAPrivateKey, algorithm: hashes.HashAlgorithm
) -> x509.Certificate:
    """``cert`` (sha256WithRSAEncryption) re-signed with MD5 or SHA-1, which the
    certificate builder refuses: swap the OID in the TBS and sign it directly."""
    sha256_rsa = bytes.fromhex("2a864886f70d01010b")
    oid = sha256_rsa[:-1] + (b"\x05" if isinstance(algorithm, hashes.SHA1) else b"\x04")
    tbs = cert.tbs_certificate_bytes.replace(sha256_rsa, oid)
    sig = key.sign(tbs, padding.PKCS1v15(), algorithm)
    body = (
        tbs
        + b"\x30\x0d\x06\x09"
        + oid
        + b"\x05\x00"
        + b"\x03"
        + _der_len(len(sig) + 1)
        + b"\x00"
        + sig
    )
    return x509.load_der_x509_certificate(b"\x30" + _der_len(len(body)) + body)


@pytest.mark.parametrize("algorithm", [hashes.SHA1(), hashes.MD5()])
def test_weak_signature_on_leaf_but_not_on_root(algorithm: hashes.HashAlgorithm) -> None:
    ca_key = rsa_key(3072)
    issued = make_cert("app.example.com", issuer=("RSA CA", ca_key), san="app.example.com")
    cert = resign_legacy(issued, ca_key, algorithm)
    f = only(run("app/sha1.pem", pem(cert)), "cert-weak-signature")
    assert f.severity is Severity.MEDIUM and f.details["signature_hash"] == algorithm.name
    root = resign_legacy(
        make_cert("Old Root", key=ca_key, ca=True, key_cert_sign=True), ca_key, algorithm
    )
    assert run("app/root.pem", pem(root)) is None
    # a self-signed SHA-1 leaf is still recognised as self-signed
    selfsigned = resign_legacy(make_cert("old.example.com", key=ca_key), ca_key, algorithm)
    assert ids(run("app/old.pem", pem(selfsigned))) == ["cert-self-signed-leaf"]


def test_der_certificate_by_name_and_by_content() -> None:
    der = make_cert("app.example.com").public_bytes(serialization.Encoding.DER)
    f = only(run("app/server.der", der), "cert-self-signed-leaf")
    assert f.line is None
    # no certificate extension, but under certs/: recognised by its ASN.1 structure
    assert ids(run("opt/app/certs/server", der)) == ["cert-self-signed-leaf"]


def test_pem_bundle_line_numbers() -> None:
    expired = leaf("old.example.com", not_before=NOW - 400 * DAY, not_after=NOW - DAY)
    selfsigned = make_cert("self.example.com")
    text = b"# bundle\n\n" + pem(leaf()) + b"\n" + pem(expired) + b"junk\n" + pem(selfsigned)
    lines = text.split(b"\n")
    begins = [i + 1 for i, ln in enumerate(lines) if ln == b"-----BEGIN CERTIFICATE-----"]
    result = run("etc/app/bundle.pem", text)
    assert only(result, "cert-expired").line == begins[1]
    assert only(result, "cert-self-signed-leaf").line == begins[2]
    assert ids(result) == ["cert-expired", "cert-self-signed-leaf"]


def test_pkcs7_bundle() -> None:
    expired = leaf(not_before=NOW - 400 * DAY, not_after=NOW - DAY)
    data = pkcs7.serialize_certificates([expired, CA], serialization.Encoding.DER)
    assert ids(run("app/chain.p7b", data)) == ["cert-expired"]
    data = pkcs7.serialize_certificates([expired, CA], serialization.Encoding.PEM)
    assert ids(run("app/chain.p7b", data)) == ["cert-expired"]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not a certificate at all\n",
        bytes(range(256)) * 8,
        b"\x30\x82\xff\xff\x30\x03",
        b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        b"-----BEGIN CERTIFICATE-----\nMIIB",
    ],
)
def test_garbage_gives_no_finding_and_no_exception(data: bytes) -> None:
    result = run("app/garbage.pem", data)
    assert result is None or not result.findings


def test_mutated_inputs_never_raise() -> None:
    """Hostile input: corrupt every kind of file this analyzer parses."""
    der = leaf().public_bytes(serialization.Encoding.DER)
    seeds = [
        der,
        pem(leaf(), CA),
        pkcs7.serialize_certificates([leaf(), CA], serialization.Encoding.DER),
        pkcs12.serialize_key_and_certificates(
            b"a", rsa_key(), None, None, serialization.NoEncryption()
        ),
        jks(struct.pack(">I", 2) + utf("ca") + struct.pack(">Q", 0) + cert_entry(der), 1),
        struct.pack(">II", 2, 20) + b"\x01" * 20 + struct.pack(">I", 1024),
    ]
    rng = random.Random(7)
    analyzer = CertificateAnalyzer(now=NOW)
    for _ in range(400):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        data = data[: rng.randint(1, len(data))] if rng.random() < 0.3 else data
        for path in ("x.bks", "x.pem"):
            analyzer.analyze(
                path, FileInfo(path, FileType.REG, size=len(data)), io.BytesIO(bytes(data))
            )


def test_private_key_pem_is_left_to_the_text_engine_but_der_key_is_found() -> None:
    key = rsa_key()
    pem_key = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    assert run("etc/ssl/private/server.key", pem_key) is None
    der_key = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    f = only(run("etc/ssl/private/server.key", der_key), "private-key-der")
    assert f.severity is Severity.CRITICAL
    enc = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    )
    assert only(run("app/k.der", enc), "private-key-der").severity is Severity.HIGH


# -- PKCS#12 --------------------------------------------------------------------------------


def test_pkcs12_without_and_with_password() -> None:
    key = rsa_key()
    cert = make_cert("app.example.com", key=key, issuer=("Test Root CA", CA_KEY), san="a.b")
    open_p12 = pkcs12.serialize_key_and_certificates(
        b"app", key, cert, None, serialization.NoEncryption()
    )
    # by content: the name says nothing
    f = only(run("opt/keystore/bundle.bin", open_p12), "pkcs12-keystore")
    assert f.severity is Severity.CRITICAL and f.details["protected"] is False
    assert f.details["category"] == "keystore"

    locked = pkcs12.serialize_key_and_certificates(
        b"app", key, cert, None, serialization.BestAvailableEncryption(b"s3cret")
    )
    f = only(run("app/identity.p12", locked), "pkcs12-keystore")
    assert f.severity is Severity.HIGH and f.details["protected"] is True

    certs_only = pkcs12.serialize_key_and_certificates(
        None, None, None, [CA], serialization.NoEncryption()
    )
    assert only(run("app/trust.pfx", certs_only), "pkcs12-keystore").severity is Severity.LOW


def test_pkcs12_certificates_are_checked() -> None:
    key = rsa_key()
    cert = make_cert("app.example.com", key=key, not_before=NOW - 400 * DAY, not_after=NOW - DAY)
    data = pkcs12.serialize_key_and_certificates(
        b"a", key, cert, None, serialization.NoEncryption()
    )
    assert ids(run("a.pfx", data)) == ["cert-expired", "cert-self-signed-leaf", "pkcs12-keystore"]


# -- Java keystores -------------------------------------------------------------------------


def jks(entries: bytes, count: int, password: str = "changeit", magic: int = 0xFEEDFEED) -> bytes:
    """A JKS/JCEKS file: header, entries, SHA-1 integrity digest keyed by the password."""
    body = struct.pack(">III", magic, 2, count) + entries
    digest = hashlib.sha1(password.encode("utf-16-be") + b"Mighty Aphrodite" + body).digest()
    return body + digest


def utf(s: str) -> bytes:
    return struct.pack(">H", len(s)) + s.encode()


def cert_entry(der: bytes) -> bytes:
    return utf("X.509") + struct.pack(">I", len(der)) + der


def test_empty_jks_is_a_low_trust_store() -> None:
    f = only(run("app/empty.jks", jks(b"", 0, password="s3cret-pw")), "java-keystore")
    assert f.severity is Severity.LOW
    assert f.details == {
        "format": "JKS",
        "version": 2,
        "entries": 0,
        "private_keys": 0,
        "trusted_certificates": 0,
        "default_password": False,
        "category": "keystore",
    }


def test_jks_with_private_key_by_content() -> None:
    der = leaf().public_bytes(serialization.Encoding.DER)
    protected = b"\x30\x10" + b"\x00" * 16  # opaque: JKS keys are encrypted, never decoded
    key_entry = (
        struct.pack(">I", 1)
        + utf("server")
        + struct.pack(">Q", 0)
        + struct.pack(">I", len(protected))
        + protected
        + struct.pack(">I", 1)
        + cert_entry(der)
    )
    trusted = struct.pack(">I", 2) + utf("ca") + struct.pack(">Q", 0) + cert_entry(der)
    data = jks(key_entry + trusted, 2, password="s3cret-pw")
    f = only(run("opt/app/conf/keystore", data), "java-keystore")
    assert f.severity is Severity.HIGH
    assert f.details["private_keys"] == 1 and f.details["trusted_certificates"] == 1
    # the well-known default store password makes it critical
    f = only(run("opt/app/conf/keystore", jks(key_entry + trusted, 2)), "java-keystore")
    assert f.severity is Severity.CRITICAL and f.details["default_password"] is True


def test_jceks_and_truncated_jks() -> None:
    f = only(run("app/store.jceks", jks(b"", 0, magic=0xCECECECE)), "java-keystore")
    assert f.details["format"] == "JCEKS"
    # header claims 5 entries, none present: cannot tell, so assume keys
    f = only(run("app/x.keystore", struct.pack(">III", 0xFEEDFEED, 2, 5)), "java-keystore")
    assert f.severity is Severity.HIGH


def test_bks_by_name_and_header() -> None:
    data = struct.pack(">II", 2, 20) + b"\x01" * 20 + struct.pack(">I", 1024) + b"\x00" * 40
    assert ids(run("app/res/raw/trust.bks", data)) == ["java-keystore"]


# -- required() -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "etc/ssl/certs/ca-certificates.crt",
        "etc/ssl/certs/java/cacerts",
        "etc/ssl/certs/5a4d6896.0",
        "usr/share/ca-certificates/mozilla/ISRG_Root_X1.crt",
        "usr/share/gnupg/sks-keyservers.netCA.pem",
        "usr/share/doc/ca-certificates/examples/ca-certificates-local/local/Local_Root_CA.crt",
        "usr/lib/python3/dist-packages/certifi/cacert.pem",
        "app/venv/lib/python3.11/site-packages/certifi/cacert.pem",
        "etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
        "etc/pki/tls/certs/ca-bundle.crt",
        "usr/lib/jvm/java-17-openjdk-amd64/lib/security/cacerts",
        "opt/java/openjdk/lib/security/cacerts",
        "app/node_modules/some-pkg/test/fixtures/keys/agent1-cert.pem",
        "usr/lib/python3/dist-packages/urllib3/tests/certs/server.crt",
        "app/readme.txt",
    ],
)
def test_trust_stores_and_fixtures_are_not_required(path: str) -> None:
    info = FileInfo(path, FileType.REG, size=1000)
    assert not CertificateAnalyzer().required(path, info)


@pytest.mark.parametrize(
    "path",
    [
        "app/certs/server.crt",
        "etc/ssl/private/server.key",
        "etc/ssl/certs/ssl-cert-snakeoil.pem",
        "usr/local/share/ca-certificates/corp-root.crt",
        "etc/pki/ca-trust/source/anchors/corp.pem",
        "etc/pki/tls/private/localhost.key",
        "opt/app/keystore",
        "opt/keystore/id",
        "srv/identity.P12",
        "app/node_modules/pkg/certs/ca.pem",
    ],
)
def test_required(path: str) -> None:
    analyzer = CertificateAnalyzer()
    assert analyzer.required(path, FileInfo(path, FileType.REG, size=1000))
    assert not analyzer.required(path, FileInfo(path, FileType.REG, size=2 * 1024 * 1024))
    assert not analyzer.required(path, FileInfo(path, FileType.SYMLINK, linkname="x"))


def test_findings_round_trip_through_the_cache_format() -> None:
    result = run(
        "a.pem", pem(make_cert("app.example.com", not_after=NOW - DAY, not_before=NOW - 9 * DAY))
    )
    assert result is not None
    assert AnalyzerResult.from_dict(result.to_dict()).findings == result.findings


# -- corpus ---------------------------------------------------------------------------------


def _corpus_files(wanted: set[str]) -> dict[str, bytes]:
    archive = CORPUS_DIR / "secrets-and-misconfig" / "docker-archive.tar"
    if not archive.exists():
        pytest.skip(f"corpus image not built: {archive}")
    found: dict[str, bytes] = {}
    with tarfile.open(archive) as outer:
        for member in outer.getmembers():
            if not member.isfile() or not member.name.endswith(".tar"):
                continue
            layer = outer.extractfile(member)
            assert layer is not None
            with tarfile.open(fileobj=layer) as inner:
                for m in inner.getmembers():
                    name = m.name.removeprefix("./")
                    if name in wanted and m.isfile():
                        f = inner.extractfile(m)
                        assert f is not None
                        found[name] = f.read()
    return found


@pytest.mark.corpus
def test_corpus_certificates() -> None:
    files = _corpus_files({"app/certs/server.crt", "app/certs/legacy-expired.crt"})
    assert set(files) == {"app/certs/server.crt", "app/certs/legacy-expired.crt"}
    # evaluate at the build time of the corpus' server.crt, so the test does not age
    server = x509.load_pem_x509_certificate(files["app/certs/server.crt"])
    now = server.not_valid_before_utc + DAY
    assert "cert-expired" in ids(
        run("app/certs/legacy-expired.crt", files["app/certs/legacy-expired.crt"], now)
    )
    assert ids(run("app/certs/server.crt", files["app/certs/server.crt"], now)) == [
        "cert-self-signed-leaf"
    ]
