"""CycloneDX 1.6 JSON for an ``Inventory``, built with cyclonedx-python-lib.

Shape: metadata.component is the image (type container); the OS, when known, is
an operating-system component; each package is a library (or application, for
the main module of a binary) with hullscan:* properties in the style of Syft's
and Trivy's; the image depends on the OS and on every package.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote, urlsplit

from cyclonedx.model import HashAlgorithm, HashType, Property, XsUri
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.dependency import Dependency
from cyclonedx.model.impact_analysis import (
    ImpactAnalysisAffectedStatus,
    ImpactAnalysisJustification,
    ImpactAnalysisState,
)
from cyclonedx.model.license import DisjunctiveLicense, License, LicenseExpression
from cyclonedx.model.vulnerability import (
    BomTarget,
    BomTargetVersionRange,
    Vulnerability,
    VulnerabilityAdvisory,
    VulnerabilityAnalysis,
    VulnerabilityRating,
    VulnerabilityReference,
    VulnerabilityScoreSource,
    VulnerabilitySeverity,
    VulnerabilitySource,
)
from cyclonedx.output.json import JsonV1Dot6
from cyclonedx.spdx import fixup_id
from packageurl import PackageURL

from hullscan import __version__
from hullscan.licenses import combined
from hullscan.model import Finding, ImageMeta, Inventory, OSInfo, Package, ScanReport, Severity
from hullscan.model import License as HsLicense
from hullscan.report.spdx import (
    document_uuid,
    image_purl,
    is_application,
    utc_now,
)

NS = "hullscan"


def _props(pairs: Iterable[tuple[str, str | None]]) -> list[Property]:
    return [Property(name=f"{NS}:{k}", value=v) for k, v in pairs if v]


class _PurlAsWritten(PackageURL):
    """A purl that serializes exactly as written.

    The library serializes ``PackageURL.to_string()``, which leaves the ':' of
    ``sha256:`` as is; the image purl keeps the oci type's ``sha256%3A`` form so that
    it reads the same in bom-ref, purl and the SPDX document.
    """

    _text: str

    def to_string(self, encode: bool | None = True) -> str:
        return self._text


def _image_purl_component(text: str) -> PackageURL | None:
    parsed = _parse_purl(text)
    if parsed is None:
        return None
    purl = _PurlAsWritten(**parsed.to_dict())
    purl._text = text
    return purl


def _parse_purl(purl: str) -> PackageURL | None:
    if not purl:
        return None
    try:
        return PackageURL.from_string(purl)
    except ValueError:  # an analyzer bug should cost the purl, not the whole SBOM
        return None


def _licenses(licenses: tuple[HsLicense, ...]) -> list[License]:
    """One SPDX id each → ``license.id`` (an unlisted one → ``license.name``, as written);
    any compound expression → one ``expression`` for all of them (the schema allows one
    expression *or* a list of licenses, not both)."""
    expressions = list(dict.fromkeys(lic.expression for lic in licenses))
    if any(" " in e for e in expressions):
        return [LicenseExpression(combined(licenses))]
    first = {lic.expression: lic for lic in reversed(licenses)}
    return [DisjunctiveLicense(id=spdx_id) if (spdx_id := fixup_id(e)) else
            DisjunctiveLicense(name=first[e].value or e) for e in expressions]


class _Refs:
    """Hands out bom-refs, unique within the document (they are the graph's keys)."""

    def __init__(self) -> None:
        self._used: set[str] = set()

    def take(self, base: str) -> str:
        candidate, n = base, 1
        while candidate in self._used:
            n += 1
            candidate = f"{base}-{n}"
        self._used.add(candidate)
        return candidate


def _image_component(image: ImageMeta, os_info: OSInfo | None, refs: _Refs) -> Component:
    purl = image_purl(image)
    hashes = []
    if image.digest and image.digest.startswith("sha256:"):
        hashes.append(HashType(alg=HashAlgorithm.SHA_256, content=image.digest[7:]))
    props: list[tuple[str, str | None]] = [
        ("image:ref", image.ref), ("image:transport", image.transport),
        ("image:digest", image.digest), ("image:config_digest", image.config_digest),
        ("image:platform", image.platform), ("image:created", image.created)]
    props += [(f"image:tag:{i}", tag) for i, tag in enumerate(image.repo_tags)]
    if os_info:
        props += [("image:os", os_info.id), ("image:os_version", os_info.version_id)]
    props += [(f"image:layer:{layer.index}:diff_id", layer.diff_id) for layer in image.layers]
    return Component(
        type=ComponentType.CONTAINER,
        name=image.name,
        version=image.digest or image.config_digest or None,
        purl=_image_purl_component(purl or ""),
        hashes=hashes,
        bom_ref=refs.take(purl or f"image:{image.name}"),
        properties=_props(props),
    )


def _os_component(os_info: OSInfo, refs: _Refs) -> Component:
    return Component(
        type=ComponentType.OPERATING_SYSTEM,
        name=os_info.id,
        version=os_info.version_id or None,
        description=os_info.pretty_name or None,
        bom_ref=refs.take(f"os:{os_info.id}@{os_info.version_id}"),
        properties=_props([("os:codename", os_info.codename), ("os:release", os_info.release),
                           ("os:distroless", "true" if os_info.distroless else None)]),
    )


def _package_ref_base(pkg: Package) -> str:
    """A package's bom-ref before de-duplication: purl (else type:name@version) + first path."""
    base = pkg.purl if _parse_purl(pkg.purl) else f"{pkg.type}:{pkg.name}@{pkg.version}"
    if pkg.locations:
        base += f"#{pkg.locations[0].path}"
    return base


def _package_component(pkg: Package, refs: _Refs) -> Component:
    purl = _parse_purl(pkg.purl)
    base = _package_ref_base(pkg)
    props: list[tuple[str, str | None]] = [
        ("package:type", pkg.type), ("package:found_by", pkg.found_by),
        ("package:source_name", pkg.source_name), ("package:source_version", pkg.source_version),
        ("package:arch", pkg.arch), ("package:owner", pkg.owner)]
    for i, loc in enumerate(pkg.locations):
        props += [(f"location:{i}:path", loc.path), (f"location:{i}:layer_diff_id", loc.layer)]
    return Component(
        type=ComponentType.APPLICATION if is_application(pkg) else ComponentType.LIBRARY,
        name=pkg.name,
        version=pkg.version or None,
        purl=purl,
        licenses=_licenses(pkg.licenses),
        bom_ref=refs.take(base),
        properties=_props(props),
    )


def _index_dependencies(bom: Bom) -> None:
    """Give this BOM a ``register_dependency`` that looks targets up by index.

    The library's scans every dependency per call, and ``validate()`` (run by every
    writer) calls it once per component: O(n²), 0.4 s for 389 components. A subclass
    would not do: the serializer only knows ``Bom`` itself.
    """
    index: dict[Any, Dependency] = {}

    def register_dependency(target: Any, depends_on: Iterable[Any] | None = None) -> None:
        if len(index) != len(bom.dependencies):  # some added another way: rebuild
            index.clear()
            index.update((d.ref, d) for d in bom.dependencies)
        targets = list(depends_on or ())
        existing = index.get(target.bom_ref)
        if existing is not None:
            existing.dependencies.update(Dependency(ref=d.bom_ref) for d in targets)
        else:
            new = Dependency(ref=target.bom_ref,
                             dependencies=[Dependency(ref=d.bom_ref) for d in targets])
            bom.dependencies.add(new)
            index[target.bom_ref] = new
        for d in targets:
            register_dependency(d)

    bom.register_dependency = register_dependency  # type: ignore[method-assign]


def cyclonedx_bom(inv: Inventory, *, now: datetime | None = None) -> Bom:
    """The BOM model; ``now`` pins ``metadata.timestamp`` (for tests)."""
    refs = _Refs()
    bom = Bom(serial_number=document_uuid(inv, "cyclonedx-1.6"))
    _index_dependencies(bom)
    bom.metadata.timestamp = now or utc_now()
    bom.metadata.tools.components.add(
        Component(type=ComponentType.APPLICATION, name="hullscan", version=__version__))
    image = _image_component(inv.image, inv.os, refs)
    bom.metadata.component = image
    deps: list[Component] = []
    if inv.os:
        os_component = _os_component(inv.os, refs)
        bom.components.add(os_component)
        deps.append(os_component)
    for pkg in inv.packages:
        component = _package_component(pkg, refs)
        bom.components.add(component)
        deps.append(component)
    bom.register_dependency(image, deps)
    return bom


def render_cyclonedx(inv: Inventory, *, now: datetime | None = None) -> str:
    return str(JsonV1Dot6(cyclonedx_bom(inv, now=now)).output_as_string(indent=2)) + "\n"


# --- scan report: the SBOM plus its vulnerabilities ---------------------------------------

#: where an id is documented, by prefix: (source name, URL of the entry)
_SOURCES = (
    ("CVE-", "NVD", "https://nvd.nist.gov/vuln/detail/{}"),
    ("GHSA-", "GitHub Advisory Database", "https://github.com/advisories/{}"),
    ("GO-", "Go Vulnerability Database", "https://pkg.go.dev/vuln/{}"),
    ("RUSTSEC-", "RustSec", "https://rustsec.org/advisories/{}"),
    ("PYSEC-", "PyPI Advisory Database", "https://osv.dev/vulnerability/{}"),
    ("DSA-", "Debian Security Tracker", "https://security-tracker.debian.org/tracker/{}"),
    ("DLA-", "Debian Security Tracker", "https://security-tracker.debian.org/tracker/{}"),
    ("USN-", "Ubuntu Security Notices", "https://ubuntu.com/security/notices/{}"),
    ("ALPINE-", "Alpine secdb", "https://osv.dev/vulnerability/{}"),
    ("RHSA-", "Red Hat", "https://access.redhat.com/errata/{}"),
)
_SEVERITY = {Severity.CRITICAL: VulnerabilitySeverity.CRITICAL,
             Severity.HIGH: VulnerabilitySeverity.HIGH,
             Severity.MEDIUM: VulnerabilitySeverity.MEDIUM,
             Severity.LOW: VulnerabilitySeverity.LOW,
             Severity.UNKNOWN: VulnerabilitySeverity.UNKNOWN}
#: VEX justifications (OpenVEX and CycloneDX words) → CycloneDX analysis justification
_JUSTIFICATION = {
    "component_not_present": ImpactAnalysisJustification.CODE_NOT_PRESENT,
    "vulnerable_code_not_present": ImpactAnalysisJustification.CODE_NOT_PRESENT,
    "vulnerable_code_not_in_execute_path": ImpactAnalysisJustification.CODE_NOT_REACHABLE,
    "vulnerable_code_cannot_be_controlled_by_adversary":
        ImpactAnalysisJustification.PROTECTED_BY_MITIGATING_CONTROL,
    "inline_mitigations_already_exist":
        ImpactAnalysisJustification.PROTECTED_BY_MITIGATING_CONTROL,
    **{j.value: j for j in ImpactAnalysisJustification},
}


def _source(vuln_id: str) -> VulnerabilitySource:
    for prefix, name, url in _SOURCES:
        if vuln_id.upper().startswith(prefix):
            return VulnerabilitySource(name=name, url=XsUri(url.format(quote(vuln_id))))
    return VulnerabilitySource(name="OSV", url=XsUri(f"https://osv.dev/vulnerability/"
                                                     f"{quote(vuln_id)}"))


def _rating(f: Finding) -> VulnerabilityRating:
    score: Decimal | None = None
    vector: str | None = None
    if f.cvss is not None and f.severity_source.startswith("CVSS"):
        try:
            score = Decimal(str(f.cvss.score))
        except InvalidOperation:
            score = None
        if score is not None and not (0 <= score <= 10):
            score = None
        vector = f.cvss.vector or None
    method: VulnerabilityScoreSource | None = None
    if vector and vector.startswith("CVSS:4.0/"):
        method = VulnerabilityScoreSource.CVSS_V4
    elif vector and vector.startswith("CVSS:3.1/"):
        method = VulnerabilityScoreSource.CVSS_V3_1
    elif vector and vector.startswith("CVSS:3"):
        method = VulnerabilityScoreSource.CVSS_V3
    elif score is not None or vector:
        method = VulnerabilityScoreSource.OTHER
    return VulnerabilityRating(severity=_SEVERITY[f.severity], score=score,
                               method=method, vector=vector,
                               justification=(f"severity from {f.severity_source}"
                                              if f.severity_source else None))


def _exploitation(f: Finding) -> list[tuple[str, str | None]]:
    """CISA KEV and FIRST EPSS as properties (CycloneDX has no field for either)."""
    out: list[tuple[str, str | None]] = []
    if f.kev is not None:
        out += [("kev:date_added", f.kev.date_added), ("kev:due_date", f.kev.due_date),
                ("kev:ransomware", f.kev.ransomware)]
    if f.epss is not None:
        out += [("epss:score", f"{f.epss.score:.5f}"),
                ("epss:percentile", f"{f.epss.percentile:.5f}"), ("epss:date", f.epss.date)]
    return out


def _analysis(reason: str, source: str) -> VulnerabilityAnalysis:
    """Why a suppressed finding does not count. The policy writes VEX reasons as
    "justification[: detail]" (or "fixed…"); an ignore rule's reason is free text."""
    word = reason.split(":", 1)[0].strip().lower()
    state = ImpactAnalysisState.NOT_AFFECTED
    if word in ("fixed", "resolved"):
        state = ImpactAnalysisState.RESOLVED
    elif word == "false_positive" or "false positive" in reason.lower():
        state = ImpactAnalysisState.FALSE_POSITIVE
    justification = (_JUSTIFICATION.get(word)
                     if state is ImpactAnalysisState.NOT_AFFECTED else None)
    return VulnerabilityAnalysis(state=state, justification=justification,
                                 detail=f"{reason} (suppressed by {source})")


def _advisories(refs: tuple[str, ...]) -> list[VulnerabilityAdvisory]:
    out = []
    for r in refs:
        parts = urlsplit(r)
        if parts.scheme in ("http", "https") and parts.netloc and " " not in r:
            out.append(VulnerabilityAdvisory(url=XsUri(r)))
    return out


def _vulnerability(f: Finding, target: str, bom_ref: str,
                   suppressed: tuple[str, str] | None) -> Vulnerability:
    installed = f.installed_version or (f.package.version if f.package else "")
    status = (ImpactAnalysisAffectedStatus.AFFECTED if suppressed is None
              else ImpactAnalysisAffectedStatus.UNAFFECTED)
    versions = [BomTargetVersionRange(version=installed, status=status)] if installed else []
    name = f.package.name if f.package else "the package"
    return Vulnerability(
        bom_ref=bom_ref,
        id=f.id,
        source=_source(f.id),
        references=[VulnerabilityReference(id=a, source=_source(a)) for a in f.aliases],
        ratings=[_rating(f)],
        description=f.title or None,
        detail=f.description or None,
        recommendation=f"Upgrade {name} to {f.fixed_version}" if f.fixed_version else None,
        advisories=_advisories(f.references),
        analysis=_analysis(*suppressed) if suppressed is not None else None,
        affects=[BomTarget(ref=target, versions=versions)],
        properties=_props([("vulnerability:status", f.status),
                           ("vulnerability:fixed_version", f.fixed_version),
                           ("vulnerability:layer_diff_id", f.layer), *_exploitation(f)]),
    )


def cyclonedx_report_bom(report: ScanReport, *, now: datetime | None = None) -> Bom:
    """``cyclonedx_bom`` of the inventory plus ``vulnerabilities``: one per finding, each
    affecting the component of its package (the image, when the package is not listed)."""
    bom = cyclonedx_bom(report.inventory, now=now)
    known = {str(c.bom_ref.value) for c in bom.components}
    image_ref = str(bom.metadata.component.bom_ref.value) if bom.metadata.component else ""
    refs = _Refs()
    entries: list[tuple[Finding, tuple[str, str] | None]] = [
        (f, None) for f in report.findings if f.kind == "vulnerability"]
    entries += [(s.finding, (s.reason, s.source)) for s in report.suppressed
                if s.finding.kind == "vulnerability"]
    for f, suppressed in entries:
        base = _package_ref_base(f.package) if f.package is not None else ""
        target = base if base in known else image_ref
        bom.vulnerabilities.add(_vulnerability(
            f, target, refs.take(f"vuln:{f.id}#{target}"), suppressed))
    return bom


def render_cyclonedx_report(report: ScanReport, *, now: datetime | None = None) -> str:
    return str(JsonV1Dot6(cyclonedx_report_bom(report, now=now)).output_as_string(indent=2)) + "\n"
