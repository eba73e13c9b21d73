"""CycloneDX 1.6 JSON for an ``Inventory`` (and a scan report), written as plain dicts.

Shape: metadata.component is the image (type container); the OS, when known, is
an operating-system component; each package is a library (or application, for
the main module of a binary) with hullscan:* properties in the style of Syft's
and Trivy's; the image depends on the OS and on every package.

Written directly rather than through cyclonedx-python-lib's model: that model costs
a third of a second to import and as much again in set bookkeeping for a few
hundred components, more than the rest of a cached scan. The tests validate every
document against the official 1.6 schema (strict), as before; to add a field, add
it to the dict that its ``_…`` function returns.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote, urlsplit

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

SCHEMA = "http://cyclonedx.org/schema/bom-1.6.schema.json"
NS = "hullscan"

Doc = dict[str, Any]


def _props(pairs: Iterable[tuple[str, str | None]]) -> list[Doc]:
    """hullscan:* properties, sorted by name, empty values left out."""
    return sorted(
        ({"name": f"{NS}:{k}", "value": v} for k, v in pairs if v),
        key=lambda p: (p["name"], p["value"]),
    )


def _parse_purl(purl: str) -> PackageURL | None:
    if not purl:
        return None
    try:
        return PackageURL.from_string(purl)
    except ValueError:  # an analyzer bug should cost the purl, not the whole SBOM
        return None


@functools.lru_cache(maxsize=4096)
def _canonical_purl(purl: str) -> str | None:
    """The purl as packageurl writes it, or None when it does not parse. Parsing is most
    of a cached SBOM's rendering time: each purl is parsed once."""
    parsed = _parse_purl(purl)
    return parsed.to_string() if parsed is not None else None


@functools.cache
def _spdx_ids() -> dict[str, str]:
    """The SPDX licence ids by their lowercase form, from the list cyclonedx-python-lib
    ships (its ``cyclonedx.spdx`` would also build license-expression's licensing: 0.07 s)."""
    from cyclonedx.schema._res import SPDX_JSON

    with open(SPDX_JSON, encoding="utf-8") as f:
        return {i.lower(): i for i in json.load(f)["enum"]}


def fixup_id(value: str) -> str | None:
    """The SPDX licence id ``value`` names, in its proper case; None if it names none."""
    return _spdx_ids().get(value.lower())


def _licenses(licenses: tuple[HsLicense, ...]) -> list[Doc]:
    """One SPDX id each → ``license.id`` (an unlisted one → ``license.name``, as written);
    any compound expression → one ``expression`` for all of them (the schema allows one
    expression *or* a list of licenses, not both)."""
    expressions = list(dict.fromkeys(lic.expression for lic in licenses))
    if any(" " in e for e in expressions):
        return [{"expression": combined(licenses)}]
    first = {lic.expression: lic for lic in reversed(licenses)}
    return [
        {"license": {"id": spdx_id}}
        if (spdx_id := fixup_id(e))
        else {"license": {"name": first[e].value or e}}
        for e in expressions
    ]


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


def _component(
    kind: str,
    name: str,
    ref: str,
    *,
    version: str | None = None,
    purl: str | None = None,
    **extra: Any,
) -> Doc:
    """A component; empty optional fields are left out, as the schema prefers."""
    out: Doc = {"type": kind, "bom-ref": ref, "name": name}
    if version:
        out["version"] = version
    if purl:
        out["purl"] = purl
    out.update((k, v) for k, v in extra.items() if v)
    return out


def _image_component(image: ImageMeta, os_info: OSInfo | None, refs: _Refs) -> Doc:
    purl = image_purl(image)
    hashes = []
    if image.digest and image.digest.startswith("sha256:"):
        hashes.append({"alg": "SHA-256", "content": image.digest[7:]})
    props: list[tuple[str, str | None]] = [
        ("image:ref", image.ref),
        ("image:transport", image.transport),
        ("image:digest", image.digest),
        ("image:config_digest", image.config_digest),
        ("image:platform", image.platform),
        ("image:created", image.created),
    ]
    props += [(f"image:tag:{i}", tag) for i, tag in enumerate(image.repo_tags)]
    if os_info:
        props += [("image:os", os_info.id), ("image:os_version", os_info.version_id)]
    props += [(f"image:layer:{layer.index}:diff_id", layer.diff_id) for layer in image.layers]
    # the oci purl keeps its ``sha256%3A`` form, so bom-ref, purl and SPDX read the same
    return _component(
        "container",
        image.name,
        refs.take(purl or f"image:{image.name}"),
        version=image.digest or image.config_digest or None,
        purl=purl if purl and _parse_purl(purl) else None,
        hashes=hashes,
        properties=_props(props),
    )


def _os_component(os_info: OSInfo, refs: _Refs) -> Doc:
    return _component(
        "operating-system",
        os_info.id,
        refs.take(f"os:{os_info.id}@{os_info.version_id}"),
        version=os_info.version_id or None,
        description=os_info.pretty_name or None,
        properties=_props(
            [
                ("os:codename", os_info.codename),
                ("os:release", os_info.release),
                ("os:distroless", "true" if os_info.distroless else None),
            ]
        ),
    )


def _package_ref_base(pkg: Package) -> str:
    """A package's bom-ref before de-duplication: purl (else type:name@version) + first path."""
    base = pkg.purl if _canonical_purl(pkg.purl) else f"{pkg.type}:{pkg.name}@{pkg.version}"
    if pkg.locations:
        base += f"#{pkg.locations[0].path}"
    return base


def _package_component(pkg: Package, refs: _Refs) -> Doc:
    props: list[tuple[str, str | None]] = [
        ("package:type", pkg.type),
        ("package:found_by", pkg.found_by),
        ("package:source_name", pkg.source_name),
        ("package:source_version", pkg.source_version),
        ("package:arch", pkg.arch),
        ("package:owner", pkg.owner),
    ]
    for i, loc in enumerate(pkg.locations):
        props += [(f"location:{i}:path", loc.path), (f"location:{i}:layer_diff_id", loc.layer)]
    return _component(
        "application" if is_application(pkg) else "library",
        pkg.name,
        refs.take(_package_ref_base(pkg)),
        version=pkg.version or None,
        purl=_canonical_purl(pkg.purl),
        licenses=_licenses(pkg.licenses),
        properties=_props(props),
    )


def cyclonedx_bom(inv: Inventory, *, now: datetime | None = None) -> Doc:
    """The BOM document; ``now`` pins ``metadata.timestamp`` (for tests)."""
    refs = _Refs()
    image = _image_component(inv.image, inv.os, refs)
    components = [_os_component(inv.os, refs)] if inv.os else []
    components += [_package_component(pkg, refs) for pkg in inv.packages]
    return {
        "$schema": SCHEMA,
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": f"urn:uuid:{document_uuid(inv, 'cyclonedx-1.6')}",
        "version": 1,
        "metadata": {
            "timestamp": (now or utc_now()).isoformat(),
            "tools": {
                "components": [{"type": "application", "name": "hullscan", "version": __version__}]
            },
            "component": image,
        },
        "components": components,
        # the image depends on the OS and every package; each of them on nothing listed
        "dependencies": [
            {"ref": image["bom-ref"], "dependsOn": [c["bom-ref"] for c in components]},
            *({"ref": c["bom-ref"]} for c in components),
        ],
    }


def _render(doc: Doc) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def render_cyclonedx(inv: Inventory, *, now: datetime | None = None) -> str:
    return _render(cyclonedx_bom(inv, now=now))


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
_SEVERITY = {
    Severity.CRITICAL: "critical",
    Severity.HIGH: "high",
    Severity.MEDIUM: "medium",
    Severity.LOW: "low",
    Severity.UNKNOWN: "unknown",
}
#: CycloneDX 1.6 ``analysis.justification`` values
_CDX_JUSTIFICATIONS = (
    "code_not_present",
    "code_not_reachable",
    "requires_configuration",
    "requires_dependency",
    "requires_environment",
    "protected_by_compiler",
    "protected_at_runtime",
    "protected_at_perimeter",
    "protected_by_mitigating_control",
)
#: VEX justifications (OpenVEX and CycloneDX words) → CycloneDX analysis justification
_JUSTIFICATION = {
    "component_not_present": "code_not_present",
    "vulnerable_code_not_present": "code_not_present",
    "vulnerable_code_not_in_execute_path": "code_not_reachable",
    "vulnerable_code_cannot_be_controlled_by_adversary": "protected_by_mitigating_control",
    "inline_mitigations_already_exist": "protected_by_mitigating_control",
    **{j: j for j in _CDX_JUSTIFICATIONS},
}


def _source(vuln_id: str) -> Doc:
    for prefix, name, url in _SOURCES:
        if vuln_id.upper().startswith(prefix):
            return {"name": name, "url": url.format(quote(vuln_id))}
    return {"name": "OSV", "url": f"https://osv.dev/vulnerability/{quote(vuln_id)}"}


def _rating(f: Finding) -> Doc:
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
    method: str | None = None
    if vector and vector.startswith("CVSS:4.0/"):
        method = "CVSSv4"
    elif vector and vector.startswith("CVSS:3.1/"):
        method = "CVSSv31"
    elif vector and vector.startswith("CVSS:3"):
        method = "CVSSv3"
    elif score is not None or vector:
        method = "other"
    out: Doc = {}
    if score is not None:
        out["score"] = float(score) if score != score.to_integral_value() else int(score)
    out["severity"] = _SEVERITY[f.severity]
    if method:
        out["method"] = method
    if vector:
        # the method names the scheme; the vector goes without its prefix (as
        # cyclonedx-python-lib writes it, and the examples of the specification)
        out["vector"] = (
            re.sub(r"^CVSS:[34]\.\d/?", "", vector)
            if method in ("CVSSv3", "CVSSv31", "CVSSv4")
            else vector
        )
    if f.severity_source:
        out["justification"] = f"severity from {f.severity_source}"
    return out


def _exploitation(f: Finding) -> list[tuple[str, str | None]]:
    """CISA KEV and FIRST EPSS as properties (CycloneDX has no field for either)."""
    out: list[tuple[str, str | None]] = []
    if f.kev is not None:
        out += [
            ("kev:date_added", f.kev.date_added),
            ("kev:due_date", f.kev.due_date),
            ("kev:ransomware", f.kev.ransomware),
        ]
    if f.epss is not None:
        out += [
            ("epss:score", f"{f.epss.score:.5f}"),
            ("epss:percentile", f"{f.epss.percentile:.5f}"),
            ("epss:date", f.epss.date),
        ]
    return out


def _analysis(reason: str, source: str) -> Doc:
    """Why a suppressed finding does not count. The policy writes VEX reasons as
    "justification[: detail]" (or "fixed…"); an ignore rule's reason is free text."""
    word = reason.split(":", 1)[0].strip().lower()
    state = "not_affected"
    if word in ("fixed", "resolved"):
        state = "resolved"
    elif word == "false_positive" or "false positive" in reason.lower():
        state = "false_positive"
    out: Doc = {"state": state}
    if state == "not_affected" and (justification := _JUSTIFICATION.get(word)):
        out["justification"] = justification
    out["detail"] = f"{reason} (suppressed by {source})"
    return out


def _advisories(refs: tuple[str, ...]) -> list[Doc]:
    out = []
    for r in refs:
        parts = urlsplit(r)
        if parts.scheme in ("http", "https") and parts.netloc and " " not in r:
            out.append({"url": r})
    return out


def _vulnerability(
    f: Finding, target: str, bom_ref: str, suppressed: tuple[str, str] | None
) -> Doc:
    installed = f.installed_version or (f.package.version if f.package else "")
    status = "affected" if suppressed is None else "unaffected"
    versions = [{"version": installed, "status": status}] if installed else []
    name = f.package.name if f.package else "the package"
    affects: Doc = {"ref": target}
    if versions:
        affects["versions"] = versions
    out: Doc = {"bom-ref": bom_ref, "id": f.id, "source": _source(f.id)}
    fields: Doc = {
        "references": [{"id": a, "source": _source(a)} for a in f.aliases],
        "ratings": [_rating(f)],
        "description": f.title or None,
        "detail": f.description or None,
        "recommendation": f"Upgrade {name} to {f.fixed_version}" if f.fixed_version else None,
        "advisories": _advisories(f.references),
        "analysis": _analysis(*suppressed) if suppressed is not None else None,
        "affects": [affects],
        "properties": _props(
            [
                ("vulnerability:status", f.status),
                ("vulnerability:fixed_version", f.fixed_version),
                ("vulnerability:layer_diff_id", f.layer),
                *_exploitation(f),
            ]
        ),
    }
    out.update((k, v) for k, v in fields.items() if v)
    return out


def cyclonedx_report_bom(report: ScanReport, *, now: datetime | None = None) -> Doc:
    """``cyclonedx_bom`` of the inventory plus ``vulnerabilities``: one per finding, each
    affecting the component of its package (the image, when the package is not listed)."""
    bom = cyclonedx_bom(report.inventory, now=now)
    known = {c["bom-ref"] for c in bom["components"]}
    image_ref = bom["metadata"]["component"]["bom-ref"]
    refs = _Refs()
    entries: list[tuple[Finding, tuple[str, str] | None]] = [
        (f, None) for f in report.findings if f.kind == "vulnerability"
    ]
    entries += [
        (s.finding, (s.reason, s.source))
        for s in report.suppressed
        if s.finding.kind == "vulnerability"
    ]
    vulns = []
    for f, suppressed in entries:
        base = _package_ref_base(f.package) if f.package is not None else ""
        target = base if base in known else image_ref
        vulns.append(_vulnerability(f, target, refs.take(f"vuln:{f.id}#{target}"), suppressed))
    if vulns:
        bom["vulnerabilities"] = vulns
    return bom


def render_cyclonedx_report(report: ScanReport, *, now: datetime | None = None) -> str:
    return _render(cyclonedx_report_bom(report, now=now))
