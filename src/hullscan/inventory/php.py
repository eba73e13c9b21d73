"""Installed Composer packages: ``vendor/composer/installed.json``.

Composer 1 writes a JSON list of packages, Composer 2 an object with a
``packages`` list (and ``dev-package-names``). As in syft, the version is kept
as written, leading ``v`` included, in the package and in its purl
(``pkg:composer/behat/mink@v1.8.1``).
"""

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
from hullscan.licenses import declared
from hullscan.model import FileInfo, License, Package

MAX_PACKAGES = 50_000


def is_composer_installed_json(path: str) -> bool:
    return path == "vendor/composer/installed.json" or path.endswith(
        "/vendor/composer/installed.json"
    )


def _licenses(entry: dict[str, Any], path: str) -> tuple[License, ...]:
    """Composer's ``license``: one id, or a list of ids any one of which applies."""
    lic = entry.get("license")
    names = [lic] if isinstance(lic, str) else lic if isinstance(lic, list) else []
    names = [x.strip() for x in names if isinstance(x, str) and x.strip()]
    if not names:
        return ()
    value = names[0] if len(names) == 1 else " OR ".join(f"({n})" if " " in n else n for n in names)
    return (declared(value, "composer:license", path),)


def composer_purl(name: str, version: str) -> str:
    """``vendor/name`` -> ``pkg:composer/vendor/name@version`` (syft joins extra parts with "-")."""
    vendor, _, rest = name.partition("/")
    if not rest:
        return make_purl("composer", name, version)
    return make_purl("composer", rest.replace("/", "-"), version, namespace=vendor)


class ComposerInstalledAnalyzer(Analyzer):
    """Every package of a Composer ``installed.json`` (v1 and v2 layouts)."""

    name = "php-composer"
    version = 2
    max_size = 32 * MiB

    def required(self, path: str, info: FileInfo) -> bool:
        return info.is_regular and is_composer_installed_json(path)

    def analyze(self, path: str, info: FileInfo, stream: IO[bytes]) -> AnalyzerResult | None:
        doc = read_json(stream, self.max_size, "installed.json")
        dev_names: set[str] = set()
        if isinstance(doc, dict):
            entries = doc.get("packages")
            if isinstance(doc.get("dev-package-names"), list):
                dev_names = {x for x in doc["dev-package-names"] if isinstance(x, str)}
        else:
            entries = doc
        if not isinstance(entries, list):
            raise AnalyzerInputError("installed.json has no packages list")
        if len(entries) > MAX_PACKAGES:
            raise AnalyzerInputError(f"installed.json lists more than {MAX_PACKAGES} packages")

        result = AnalyzerResult()
        for i, entry in enumerate(entries):
            name, version = (
                (entry.get("name"), entry.get("version"))
                if isinstance(entry, dict)
                else (None, None)
            )
            if not (isinstance(name, str) and isinstance(version, str) and name and version):
                # one odd entry must not hide the others
                result.warnings.append(f"installed.json: package #{i} has no string name/version")
                continue
            metadata: dict[str, Any] = {}
            if name in dev_names:
                metadata["dev"] = True
            if isinstance(entry.get("type"), str) and entry["type"] != "library":
                metadata["composer_type"] = entry["type"]
            result.packages.append(
                Package(
                    name=name,
                    version=version,
                    type="composer",
                    purl=composer_purl(name, version),
                    licenses=_licenses(entry, path),
                    found_by=self.name,
                    metadata=metadata,
                )
            )
        return None if result.is_empty() else result
