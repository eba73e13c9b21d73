"""``--scanners license``: each package's licences judged by the licence policy, and
licence files found loose in application folders (kind ``license``).

One finding per package: its licences together (AND), judged as ``policy`` says; the
finding's id is the licence that decided the verdict, so an ignore rule can name it.
"""

from __future__ import annotations

from typing import IO

from hullscan.analyzer import Analyzer, AnalyzerResult, MiB
from hullscan.inventory.dpkg_copyright import DOC_DIR
from hullscan.licenses import combined
from hullscan.licenses.policy import LicensePolicy, Verdict
from hullscan.model import FileInfo, Finding, FindingKind, Package
from hullscan.pipeline import AnalyzedImage

LICENSE_FILE_NAMES = frozenset({"license", "licence", "copying", "unlicense"})
_LICENSE_FILE_EXTENSIONS = ("", ".txt", ".md", ".rst")
#: where licence files belong to something already inventoried (OS packages' documents,
#: language packages' own folders): only application folders are read
_PACKAGE_FOLDERS = (
    "/site-packages/",
    "/dist-packages/",
    "/node_modules/",
    "/vendor/",
    "/gems/",
    "/pkg/mod/",
    "/.cargo/",
    "/.nuget/",
    ".dist-info/",
    ".egg-info/",
)


def is_loose_license_file(path: str) -> bool:
    base = path.rsplit("/", 1)[-1].lower()
    stem, dot, ext = base.partition(".")
    if stem not in LICENSE_FILE_NAMES or (dot + ext) not in _LICENSE_FILE_EXTENSIONS:
        return False
    if path.startswith(("usr/", "lib/", "etc/", "var/lib/", "bin/", "sbin/")):
        return False
    return not any(folder in f"/{path}" for folder in _PACKAGE_FOLDERS)


class LicenseFileAnalyzer(Analyzer):
    """Classifies ``LICENSE``/``COPYING`` files of application folders by their text."""

    name = "license-file"
    version = 1
    max_size = 1 * MiB

    def required(self, path: str, info: FileInfo) -> bool:
        return info.is_regular and is_loose_license_file(path)

    def analyze(self, path: str, info: FileInfo, stream: IO[bytes]) -> AnalyzerResult | None:
        from hullscan.licenses.text import classify

        ids = classify(stream.read(self.max_size).decode("utf-8", "replace"))
        return AnalyzerResult(facts={"license_ids": list(ids)}) if ids else None


def _finding(
    verdict: Verdict,
    expression: str,
    subject: str,
    pkg: Package | None,
    path: str | None,
    layer: str | None,
    details: dict[str, object],
) -> Finding | None:
    if verdict.severity is None:
        return None
    if pkg is not None:  # what the findings table shows beside the file's path
        details = {"match": f"{pkg.name} {pkg.version}: {expression}", **details}
    return Finding(
        kind=FindingKind.LICENSE,
        id=verdict.license_id,
        severity=verdict.severity,
        title=f"{subject}: {verdict.category} licence {verdict.license_id}",
        package=pkg,
        installed_version=pkg.version if pkg else "",
        path=path,
        layer=layer,
        evidence=expression,
        details={"category": verdict.category, "expression": expression, **details},
    )


def license_findings(analyzed: AnalyzedImage, policy: LicensePolicy) -> list[Finding]:
    findings = []
    layer_index: dict[str | None, int] = {
        layer.diff_id: layer.index for layer in analyzed.image.layers
    }
    for pkg in analyzed.inventory.packages:
        if not pkg.licenses:
            continue
        expression = combined(pkg.licenses)
        loc = pkg.locations[0] if pkg.locations else None
        # the file that states the licence (a Debian copyright file), else the package's
        path = next(
            (lic.path for lic in pkg.licenses if lic.path.startswith(DOC_DIR)),
            loc.path if loc else None,
        )
        found = _finding(
            policy.judge(expression, pkg),
            expression,
            pkg.name,
            pkg,
            path,
            loc.layer if loc else None,
            {
                "licenses": [lic.to_dict() for lic in pkg.licenses],
                "layer_index": layer_index.get(loc.layer) if loc else None,
            },
        )
        if found is not None:
            findings.append(found)
    if policy.files:
        diff_ids = [layer.diff_id for layer in analyzed.image.layers]
        for path, i, name, result in analyzed.fs.final_results():
            if name != LicenseFileAnalyzer.name:
                continue
            ids = [str(i) for i in result.facts.get("license_ids", ())]
            expression = " AND ".join(ids)
            layer = diff_ids[i] if i < len(diff_ids) else None
            found = _finding(
                policy.judge(expression),
                expression,
                path,
                None,
                path,
                layer,
                {"source": "text", "layer_index": i},
            )
            if found is not None:
                findings.append(found)
    return findings
