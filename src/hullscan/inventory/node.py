"""Installed npm packages: package.json directly under node_modules/ (scopes and nesting
included) and Debian's /usr/share/nodejs/."""

from __future__ import annotations

from typing import IO, Any

from hullscan.analyzer import (
    Analyzer,
    AnalyzerInputError,
    AnalyzerResult,
    MiB,
    read_json,
)
from hullscan.inventory.purl import make_purl
from hullscan.licenses import declared, declared_all
from hullscan.model import FileInfo, License, Package

_PACKAGE_DIRS = ("node_modules", "nodejs")


def is_installed_package_json(path: str) -> bool:
    """``…/node_modules/NAME/package.json`` or ``…/node_modules/@scope/NAME/package.json``
    (also under Debian's ``usr/share/nodejs``); not a project's own or a sub-folder's."""
    parts = path.split("/")
    if len(parts) < 3 or parts[-1] != "package.json":
        return False
    parent = parts[-3]
    if parent in _PACKAGE_DIRS:
        return parent == "node_modules" or "/".join(parts[:-2]).startswith(
            ("usr/share/nodejs", "usr/lib/nodejs")
        )
    if parent.startswith("@") and len(parts) >= 4 and parts[-4] in _PACKAGE_DIRS:
        return parts[-4] == "node_modules" or path.startswith(
            ("usr/share/nodejs/", "usr/lib/nodejs/")
        )
    return False


def _licenses(pj: dict[str, Any], path: str) -> tuple[License, ...]:
    """``license`` (an SPDX expression, or the legacy ``{"type": ...}``), else the
    legacy ``licenses`` list."""
    lic = pj.get("license")
    if isinstance(lic, dict):
        lic = lic.get("type")
    if isinstance(lic, str) and lic.strip():
        return (declared(lic, "npm:license", path),)
    lics = pj.get("licenses")
    if isinstance(lics, list):
        return declared_all(
            [x["type"] for x in lics if isinstance(x, dict) and isinstance(x.get("type"), str)],
            "npm:licenses",
            path,
        )
    return ()


class NodePackageAnalyzer(Analyzer):
    name = "node-package"
    version = 2
    max_size = 8 * MiB

    def required(self, path: str, info: FileInfo) -> bool:
        return is_installed_package_json(path)

    def analyze(self, path: str, info: FileInfo, stream: IO[bytes]) -> AnalyzerResult | None:
        pj = read_json(stream, self.max_size, "package.json")
        if not isinstance(pj, dict):
            raise AnalyzerInputError("package.json is not an object")
        name, version = pj.get("name"), pj.get("version")
        if not isinstance(name, str) or not isinstance(version, str) or not name or not version:
            return None
        namespace, _, bare = name.rpartition("/")
        return AnalyzerResult(
            packages=[
                Package(
                    name=name,
                    version=version,
                    type="npm",
                    purl=make_purl("npm", bare, version, namespace or None),
                    licenses=_licenses(pj, path),
                    found_by=self.name,
                    metadata={"private": True} if pj.get("private") is True else {},
                )
            ]
        )
