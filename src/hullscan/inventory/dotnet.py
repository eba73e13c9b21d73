"""NuGet packages of .NET applications, from their ``*.deps.json``.

Every ``libraries`` entry of type ``package`` (keyed ``Name/Version``) is a
package. Trivy drops the ones that ship no runtime assets for the app's runtime
target (reference packs, analyzers, build tools); here they are kept and marked
``metadata["runtime"] = False`` instead, so a later stage can decide.
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
from hullscan.model import FileInfo, Package

MAX_LIBRARIES = 50_000
_ASSET_KEYS = ("runtime", "runtimeTargets", "native")


def is_deps_json(path: str) -> bool:
    base = path.rsplit("/", 1)[-1]
    return base.endswith(".deps.json") and len(base) > len(".deps.json")


def _runtime_target_libs(doc: dict[str, Any]) -> dict[str, Any] | None:
    """The ``targets`` entry of the app's runtime target, if the file has one."""
    rt, targets = doc.get("runtimeTarget"), doc.get("targets")
    name = rt.get("name") if isinstance(rt, dict) else None
    if not isinstance(name, str) or not isinstance(targets, dict):
        return None
    libs = targets.get(name)
    return libs if isinstance(libs, dict) else None


class DotnetDepsAnalyzer(Analyzer):
    """NuGet packages listed in a .NET ``*.deps.json``."""

    name = "dotnet-deps"
    version = 1
    max_size = 32 * MiB

    def required(self, path: str, info: FileInfo) -> bool:
        return info.is_regular and is_deps_json(path)

    def analyze(self, path: str, info: FileInfo, stream: IO[bytes]) -> AnalyzerResult | None:
        doc = read_json(stream, self.max_size, "deps.json")
        if not isinstance(doc, dict):
            raise AnalyzerInputError("deps.json is not an object")
        libraries = doc.get("libraries")
        if libraries is None:
            return None
        if not isinstance(libraries, dict):
            raise AnalyzerInputError("deps.json: libraries is not an object")
        if len(libraries) > MAX_LIBRARIES:
            raise AnalyzerInputError(f"deps.json lists more than {MAX_LIBRARIES} libraries")
        target_libs = _runtime_target_libs(doc)

        result = AnalyzerResult()
        for key, lib in libraries.items():
            if not isinstance(lib, dict) or not isinstance(lib.get("type"), str):
                result.warnings.append(f"deps.json: library {key!r} has no type")
                continue
            if lib["type"].lower() != "package":
                continue  # the app's own projects, reference assemblies
            name, _, version = key.partition("/")
            if not name or not version:
                result.warnings.append(f"deps.json: library {key!r} is not NAME/VERSION")
                continue
            metadata: dict[str, Any] = {
                k: lib[k] for k in ("sha512", "path") if isinstance(lib.get(k), str) and lib[k]
            }
            target = target_libs.get(key) if target_libs is not None else None
            if isinstance(target, dict) and not any(target.get(k) for k in _ASSET_KEYS):
                metadata["runtime"] = False
            result.packages.append(
                Package(
                    name=name,
                    version=version,
                    type="nuget",
                    purl=make_purl("nuget", name, version),
                    found_by=self.name,
                    metadata=metadata,
                )
            )
        return None if result.is_empty() else result
