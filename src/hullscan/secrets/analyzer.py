"""The secret analyzer: every text file of a layer through the ``SecretEngine``.

Which files are read (``required``, from the path alone):

* regular, non-empty files up to ``max_size`` (default 10 MiB; larger files are
  skipped without a warning: secrets do not hide in 10 MiB text files, and blobs
  would only cost time);
* not well-known binary formats by extension (images, audio/video, archives,
  fonts, ``.so``/``.a``/``.o``, ``.pyc``, ``.class``, ``.jar``, …); other binaries
  are dropped after reading by a NUL byte in their first 8 KiB;
* not distribution documentation and data that never holds the image owner's
  secrets: ``usr/share/{doc,man,info,locale,zoneinfo,i18n,…}``, the multiarch
  library directories (``usr/lib/<triplet>/``), dpkg's ``*.md5sums``/``*.list``,
  ``*.dist-info/RECORD``, source maps under ``node_modules``;
* not CA bundles (``etc/ssl/certs``, ``usr/share/ca-certificates``,
  ``certifi/cacert.pem``, ``etc/pki/**/ca-bundle*``): public certificates only;
  private keys live elsewhere (``etc/ssl/private`` *is* scanned).

Test fixtures and documentation of third-party packages (deliberate decision):
files under a ``test``/``tests``/``testdata``/``fixtures``/``examples``/``docs``
directory *inside an installed language package* (``site-packages``,
``dist-packages``, ``node_modules``, ``vendor``, gem and Go module caches, the Go
toolchain's sources, CPython's own ``test`` package) and Markdown/reST files in
those packages are **skipped**, not reported at a lower severity. Their keys and
tokens are published with the package (the image owner cannot rotate them, and a
LOW finding per vendored test key is noise that hides real findings — precision
first). The same directories in the application's own tree (``/app/tests/.env``)
are still scanned, as is everything outside those package roots. For the same
reason the ``generic`` rules (``password = …``, ``api_key: …``) do not run on any
file inside those package roots (e.g. a ``repo_token`` in a package's
``.coveralls.yml``); vendor-specific rules (``ghp_…``, ``AKIA…``, private keys) do.
"""

from __future__ import annotations

import re
from typing import IO

from hullscan.analyzer import Analyzer, AnalyzerResult, MiB
from hullscan.model import FileInfo, Finding, FindingKind
from hullscan.secrets.engine import SecretEngine
from hullscan.secrets.rules import RuleSet, load_rules

REMEDIATION = (
    "Remove it from the image, rotate it, and pass it at run time "
    "(secret mount, environment from a secret store)"
)
#: binary sniffing window
SNIFF = 8192

_BINARY_EXT = re.compile(
    r"\.(?:png|jpe?g|gif|bmp|ico|icns|webp|tiff?|psd|xcf|svgz|mp[34]|m4a|wav|ogg|oga|flac|"
    r"avi|mov|mkv|webm|pdf|zip|gz|tgz|bz2|tbz2?|xz|txz|zst|lz4|lzma|7z|rar|tar|jar|war|ear|"
    r"whl|egg|deb|udeb|rpm|apk|ttf|otf|ttc|woff2?|eot|pfb|pfm|afm|so|a|o|ko|pyc|pyo|class|"
    r"dll|exe|dylib|bin|wasm|node|mo|gmo|pack|idx|swf|sqlite3?|db|npy|npz|pkl|pt|onnx|"
    r"pb|h5|parquet|iso|img|qcow2)$"
    r"|\.so(?:\.\d+)+$",
    re.IGNORECASE,
)

_SKIP_PATH = re.compile(
    r"^(?:usr/(?:local/)?share/(?:doc|man|info|locale|zoneinfo|i18n|common-licenses|"
    r"mime|icons|fonts|terminfo|X11/locale|gtk-doc|help|perl/[^/]+/unicore)/"
    r"|(?:usr/)?lib/terminfo/"
    r"|usr/lib/[^/]*-linux-gnu[^/]*/"
    r"|var/lib/dpkg/info/[^/]+\.(?:md5sums|list|shlibs|symbols|triggers)$"
    r"|etc/ssl/certs/|usr/share/ca-certificates/|etc/pki/(?:[^/]+/)*ca-bundle"
    r"|etc/pki/ca-trust/extracted/|etc/ca-certificates/"
    r"|usr/lib/locale/)"
    r"|\.dist-info/RECORD$|\.egg-info/SOURCES\.txt$"
    r"|(?:^|/)certifi/cacert\.pem$"
    r"|(?:^|/)node_modules/.*\.map$"
)

#: test fixtures and docs inside third-party package roots (see the module docstring)
_PKG_ROOT = (
    r"(?:(?:^|/)(?:site-packages|dist-packages|node_modules|vendor|gems|"
    r"go/pkg/mod|\.cargo/registry)/"
    r"|^usr/(?:local/)?(?:lib/)?go(?:-[\d.]+)?/src/"
    r"|^usr/(?:local/)?lib/python[\d.]+/)"
)
_IN_PACKAGE = re.compile(_PKG_ROOT)
_FIXTURE_PATH = re.compile(
    _PKG_ROOT + r"(?:[^/]+/)*?(?:tests?|testing|testdata|test_data|fixtures?|__tests__|"
    r"spec|specs|examples?|docs?|idle_test|certdata)/"
    r"|" + _PKG_ROOT + r".*\.(?:md|markdown|rst)$",
    re.IGNORECASE,
)


def skipped_path(path: str) -> bool:
    """Whether the scanner ignores this path whatever its size and content."""
    return bool(_BINARY_EXT.search(path) or _SKIP_PATH.search(path) or _FIXTURE_PATH.search(path))


class SecretAnalyzer(Analyzer):
    """Reports secrets in file contents as ``Finding(kind="secret")``."""

    name = "secrets"
    version = 1

    def __init__(
        self,
        rules: RuleSet | None = None,
        max_size: int = 10 * MiB,
        engine: SecretEngine | None = None,
        cache_token: str = "",
    ) -> None:
        """``rules``: None for the built-in ones; ``cache_token``: a digest of user rules
        (they change results, so they are part of the per-layer cache key)."""
        self.max_size = max_size  # type: ignore[misc]  # per instance, not per class
        self.engine = engine or SecretEngine(rules or load_rules(None))
        self._token = cache_token

    @property
    def cache_token(self) -> str:
        return self._token

    def required(self, path: str, info: FileInfo) -> bool:
        return info.is_regular and 0 < info.size <= self.max_size and not skipped_path(path)

    def analyze(self, path: str, info: FileInfo, stream: IO[bytes]) -> AnalyzerResult | None:
        head = stream.read(SNIFF)
        if not head or b"\0" in head:
            return None
        data = head + stream.read(max(self.max_size - len(head), 0))
        if not self.engine.worth_decoding(data, path):
            return None  # most files: no keyword at all, so no rule could match
        text = data.decode("utf-8", errors="replace")
        matches = self.engine.scan_text(text, path, generic=not _IN_PACKAGE.search(path), data=data)
        if not matches:
            return None
        return AnalyzerResult(
            findings=[
                Finding(
                    kind=FindingKind.SECRET,
                    id=m.rule.id,
                    severity=m.rule.severity,
                    title=m.rule.title,
                    path=path,
                    line=m.line,
                    evidence=m.masked,
                    remediation=REMEDIATION,
                    details={"category": m.rule.category, "match": m.masked},
                )
                for m in matches
            ]
        )
