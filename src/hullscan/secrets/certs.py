"""Certificates and keystores in an image, recognised by content.

``CertificateAnalyzer`` reads small files that may hold X.509 material and reports
only what is wrong with it:

* X.509 certificates: PEM blocks (``CERTIFICATE``, ``X509 CERTIFICATE``,
  ``TRUSTED CERTIFICATE``, ``PKCS7`` bundles) anywhere in a wanted file, and DER
  certificates / PKCS#7 bundles recognised by their ASN.1 structure. Findings:
  ``cert-expired``, ``cert-not-yet-valid``, ``cert-self-signed-leaf``,
  ``cert-weak-key``, ``cert-weak-signature``. A valid certificate that a CA issued
  gives nothing.
* PKCS#12 / PFX keystores (ASN.1 ``SEQUENCE { INTEGER 3, ContentInfo(data|signedData) }``):
  ``pkcs12-keystore``, CRITICAL when it opens without a password and holds a private key.
* Java keystores: JKS (``0xFEEDFEED``), JCEKS (``0xCECECECE``), and BKS by name and
  header: ``java-keystore``.
* Binary (DER) private keys, which the text-secret engine cannot see: ``private-key-der``.
  PEM/OpenSSH private keys are left to the text-secret engine.

Decisions:

* **Time.** Validity is evaluated against ``now`` at analysis time (constructor
  parameter, default: the current UTC time). ``version`` holds nothing time-dependent,
  so a cached layer keeps the verdict of the day it was analysed; every certificate
  finding carries ``details["not_before"]``/``["not_after"]`` (ISO 8601) so a caller can
  re-evaluate expiry without re-reading the layer. Limitation: a certificate that expires
  after its layer was cached is reported only after re-analysis (``--no-cache``, a version
  bump) or by a caller that re-checks ``not_after``; a valid, CA-issued certificate leaves
  no finding to re-check. Putting the date in the cache key would instead re-read every
  layer daily.
* **Self-signed leaf.** A certificate is self-signed when issuer == subject and its
  signature verifies with its own key. It is a *CA root* (not reported) when
  basicConstraints says ``ca=true`` and either keyUsage allows ``keyCertSign`` or it
  does not look like a server certificate (no subjectAltName and a CN that is not a host
  name). ``openssl req -x509`` marks every certificate ``CA:TRUE`` without keyUsage, so a
  self-signed server certificate made that way (``CN=app.example.com``) is still a leaf.
* **Severity of expiry.** HIGH for a leaf (it will break or is being bypassed),
  MEDIUM for a CA certificate (roots and intermediates).
* **Weak signature** (MD5, SHA-1) only for certificates that are not self-signed: the
  signature on a root is never checked by verifiers.
* **Trust stores are skipped** (see ``_SKIP``): OS and language CA bundles hold hundreds of
  public roots, some expired or SHA-1 signed by design. Skipped: the bundles and hashed
  links of ``etc/ssl/certs`` (other regular files there, e.g. ``ssl-cert-snakeoil.pem``,
  are scanned), ``usr/share/ca-certificates``, ``etc/pki/ca-trust`` (except
  ``source/anchors``, which the user adds), ``etc/pki/tls/certs/ca-bundle*``,
  ``**/certifi/cacert.pem``, Java ``cacerts``. ``usr/local/share/ca-certificates`` is
  **scanned**: what is there the image builder added (expired or weak CAs are theirs).
* **``usr/share/**`` is skipped**: it holds distribution-shipped data (``ca-certificates``,
  gnupg's expired ``sks-keyservers.netCA.pem``, documentation examples), owned by OS
  packages the user cannot edit; problems there belong to the owning package.
* **Package test fixtures are skipped**: files under a ``test``/``tests``/``testdata``/
  ``fixtures``/``__tests__``/``spec`` directory inside ``node_modules``, ``site-packages``,
  ``dist-packages``, gems or Go module caches are third-party test data (often
  deliberately expired or self-signed), not the image's credentials.
* **Keystores without private keys** (JKS/JCEKS trust stores, empty stores, PKCS#12
  files holding only certificates) are reported LOW; with private keys HIGH, or CRITICAL
  when they open with no/empty/well-known default password.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, ClassVar

from hullscan.analyzer import Analyzer, AnalyzerResult, MiB
from hullscan.model import FileInfo, Finding

if TYPE_CHECKING:
    from cryptography import x509

    from hullscan.secrets.certcheck import CertificateChecker

#: file names that may hold certificates or keystores wherever they are
_EXTENSIONS = (
    ".crt",
    ".cer",
    ".der",
    ".pem",
    ".p12",
    ".pfx",
    ".jks",
    ".keystore",
    ".jceks",
    ".bks",
    ".key",
    ".p7b",
)

#: trust stores and CA bundles: public roots, not the image's own material
_SKIP = re.compile(
    r"""^(?:
        etc/ssl/certs/(?:ca-certificates\.crt|ca-bundle[^/]*|java/.*|[0-9a-f]{8}\.r?\d+)
      | etc/ssl/cert\.pem
      | usr/share/.*
      | etc/pki/ca-trust/(?!source/anchors/).*
      | etc/pki/tls/certs/ca-bundle[^/]*
      | etc/pki/tls/cert\.pem
      | etc/pki/java/cacerts
      | (?:.*/)?certifi/cacert\.pem
      | (?:.*/)?java/(?:.*/)?cacerts
      | (?:.*/)?lib/security/cacerts
    )$""",
    re.VERBOSE,
)

#: test data of third-party packages
_FIXTURE = re.compile(
    r"(?:^|/)(?:node_modules|site-packages|dist-packages|gems|pkg/mod)/"
    r"(?:.*/)?(?:tests?|testdata|test_data|fixtures?|__tests__|spec)/"
)


class CertificateAnalyzer(Analyzer):
    """X.509 certificates (expired, not yet valid, self-signed leaf, weak) and keystores."""

    name: ClassVar[str] = "certificates"
    version: ClassVar[int] = 1
    max_size: ClassVar[int] = 1 * MiB

    def __init__(self, now: datetime | None = None) -> None:
        #: the instant validity is checked against (aware, UTC); fixed for a run
        self.now = (now or datetime.now(UTC)).astimezone(UTC)
        self._checker: CertificateChecker | None = None

    def required(self, path: str, info: FileInfo) -> bool:
        if not info.is_regular or info.size > self.max_size:
            return False
        if _SKIP.match(path) or _FIXTURE.search(path):
            return False
        name = path.rsplit("/", 1)[-1].lower()
        return (
            name.endswith(_EXTENSIONS)
            or path.startswith(("etc/ssl/", "etc/pki/"))
            or "/certs/" in f"/{path}"
            or name.startswith("keystore")
            or "/keystore" in f"/{path.rsplit('/', 1)[0]}"
        )

    def analyze(self, path: str, info: FileInfo, stream: IO[bytes]) -> AnalyzerResult | None:
        return self.checker().analyze_bytes(path, stream.read(self.max_size))

    def check_certificate(
        self, cert: x509.Certificate, path: str | None, line: int | None
    ) -> list[Finding]:
        """The findings for one certificate (none when nothing is wrong)."""
        return self.checker().check_certificate(cert, path, line)

    def checker(self) -> CertificateChecker:
        """The reader of certificate bytes, imported on the first file that needs it: most
        scans from the cache read none, and cryptography is slow to import."""
        if self._checker is None:
            from hullscan.secrets.certcheck import CertificateChecker

            self._checker = CertificateChecker(self.now)
        return self._checker
