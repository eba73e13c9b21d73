"""Licences of Go modules, Rust crates and NuGet packages, from the caches that hold their
sources when an image keeps them (build images, SDK images).

Go's build info, ``cargo auditable`` data and .NET's ``deps.json`` name packages but no
licence. Where the image also holds a package's source in its ecosystem's cache, that
states one:

- Go: ``…/pkg/mod/<module>@<version>/LICENSE`` (or COPYING, …), classified by its text
  when confident; the module path is case-escaped there (``!b`` for ``B``);
- Rust: ``…/.cargo/registry/src/<index>/<crate>-<version>/Cargo.toml``, its ``license``;
- NuGet: ``…/.nuget/packages/<id>/<version>/<id>.nuspec``, its ``<license
  type="expression">`` (else the deprecated ``<licenseUrl>``).

Each file gives facts ``{"package": [type, name, version], "licenses": [...]}``; the
pipeline gives those licences to the package of that identity (``with_cached_licenses``).
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import IO, TYPE_CHECKING

from hullscan.analyzer import Analyzer, AnalyzerResult, MiB
from hullscan.licenses import declared
from hullscan.model import FileInfo, License, Package

if TYPE_CHECKING:
    from hullscan.filesystem import ImageFilesystem

_LICENSE_FILE = re.compile(r"(?:LICEN[CS]E|COPYING)(?:[.-](?:txt|md|MIT|APACHE))?", re.IGNORECASE)
_GO_MODULE_DIR = re.compile(r"(?:^|/)pkg/mod/(?P<module>[^@]+)@(?P<version>[^/@]+)$")
_CRATE_DIR = re.compile(
    r"(?:^|/)\.cargo/registry/src/[^/]+/(?P<crate>[A-Za-z0-9_-]+?)-"
    r"(?P<version>\d+\.\d+\.\d+[^/]*)$"
)
_NUSPEC = re.compile(
    r"(?:^|/)\.nuget/packages/(?P<id>[^/]+)/(?P<version>[^/]+)/(?P=id)"
    r"\.nuspec$",
    re.IGNORECASE,
)


def _go_unescape(path: str) -> str:
    """The module cache writes ``!x`` for an upper-case ``X`` (Go's module.EscapePath)."""
    return re.sub(r"!([a-z])", lambda m: m[1].upper(), path)


def _facts(kind: str, name: str, version: str, licenses: list[License]) -> AnalyzerResult | None:
    if not licenses:
        return None
    return AnalyzerResult(
        facts={"package": [kind, name, version], "licenses": [lic.to_dict() for lic in licenses]}
    )


class CachedSourceLicenseAnalyzer(Analyzer):
    """Licence files and manifests of packages kept in Go, Cargo and NuGet caches."""

    name = "cached-source-license"
    version = 1
    max_size = 1 * MiB

    def required(self, path: str, info: FileInfo) -> bool:
        if not info.is_regular:
            return False
        parent, _, base = path.rpartition("/")
        if "pkg/mod/" in path and _LICENSE_FILE.fullmatch(base):
            return _GO_MODULE_DIR.search(parent) is not None
        if base == "Cargo.toml" and ".cargo/registry/src/" in path:
            return _CRATE_DIR.search(parent) is not None
        return base.endswith(".nuspec") and _NUSPEC.search(path) is not None

    def analyze(self, path: str, info: FileInfo, stream: IO[bytes]) -> AnalyzerResult | None:
        data = stream.read(self.max_size)
        parent, _, base = path.rpartition("/")
        if base == "Cargo.toml" and (m := _CRATE_DIR.search(parent)):
            return _facts("cargo", m["crate"], m["version"], _cargo(data, path))
        if m := _NUSPEC.search(path):
            return _facts("nuget", m["id"], m["version"], _nuspec(data, path))
        if m := _GO_MODULE_DIR.search(parent):
            from hullscan.licenses.text import classify

            ids = classify(data.decode("utf-8", "replace"))
            return _facts(
                "golang",
                _go_unescape(m["module"]),
                m["version"],
                [License(i, i, "go:module-cache:text", path) for i in ids],
            )
        return None


def _cargo(data: bytes, path: str) -> list[License]:
    import tomllib  # the parsers load with the first file of their kind, not every scan

    try:
        manifest = tomllib.loads(data.decode("utf-8", "replace"))
    except tomllib.TOMLDecodeError:
        return []
    package = manifest.get("package")
    value = package.get("license") if isinstance(package, dict) else None
    return (
        [declared(value, "cargo:Cargo.toml", path)]
        if isinstance(value, str) and value.strip()
        else []
    )


def _nuspec(data: bytes, path: str) -> list[License]:
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        return []  # no entity expansion from a stranger's file
    from xml.etree import ElementTree

    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError:
        return []
    ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
    meta = root.find(f"{ns}metadata")
    if meta is None:
        return []
    lic = meta.find(f"{ns}license")
    if lic is not None and lic.get("type") == "expression" and (lic.text or "").strip():
        return [declared(lic.text or "", "nuget:nuspec", path)]
    url = (meta.findtext(f"{ns}licenseUrl") or "").strip()
    return [declared(url, "nuget:licenseUrl", path)] if url else []


def with_cached_licenses(packages: list[Package], fs: ImageFilesystem) -> list[Package]:
    """Packages without a licence get the one their cached source states."""
    found: dict[tuple[str, str, str], tuple[License, ...]] = {}
    for _path, _layer, name, result in fs.final_results():
        if name == CachedSourceLicenseAnalyzer.name:
            kind, pkg_name, version = result.facts["package"]
            found[(kind, pkg_name.lower(), version)] = tuple(
                License.from_dict(d) for d in result.facts["licenses"]
            )
    if not found:
        return packages
    return [
        replace(p, licenses=found.get((p.type, p.name.lower(), p.version), ()))
        if not p.licenses
        else p
        for p in packages
    ]
