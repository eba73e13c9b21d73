"""SARIF 2.1.0 for a ``ScanReport``, shaped for GitHub code scanning.

One run, one ``tool.driver`` (hullscan) with a rule per finding id; a result per
finding, each with a location (GitHub rejects results without one), a numeric
``security-severity`` on its rule (GitHub's severity column), and a
``partialFingerprints`` entry that stays the same across scans so re-uploads
update alerts instead of duplicating them. Suppressed findings are results with
an external suppression, so an upload closes their alerts instead of dropping them.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import quote, urlsplit

from hullscan import __version__
from hullscan.model import Finding, ScanReport, Severity

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA_URI = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
FINGERPRINT_KEY = "hullscanFinding/v1"

#: GitHub's default ``security-severity`` per band, when there is no CVSS score
DEFAULT_SCORE = {
    Severity.CRITICAL: 9.5,
    Severity.HIGH: 8.0,
    Severity.MEDIUM: 5.5,
    Severity.LOW: 2.0,
    Severity.UNKNOWN: 0.0,
}
LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.UNKNOWN: "note",
}


def security_severity(f: Finding) -> float:
    """The CVSS score the severity came from (0–10), else the band's default."""
    if f.cvss is not None and 0.0 <= f.cvss.score <= 10.0 and f.severity_source.startswith("CVSS"):
        return f.cvss.score
    return DEFAULT_SCORE[f.severity]


def _where(f: Finding) -> str:
    """The path a finding is about: its own, else its package's first location."""
    if f.path:
        return f.path
    if f.package is not None and f.package.locations:
        return f.package.locations[0].path
    return ""


def _uri(text: str) -> str:
    """A relative URI reference for an image path (or reference): no leading slash, and
    ':' percent-encoded so that ``registry:5000/app`` does not read as a URI scheme."""
    return quote(text.lstrip("/"), safe="/@+-._~!$&'()*,;=")


def fingerprint(f: Finding) -> str:
    """Stable across scans of the same image (or a rebuilt one): id, package, path."""
    purl = f.package.purl if f.package is not None else ""
    key = "\0".join((f.id, purl, _where(f)))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _is_web_url(text: str) -> bool:
    parts = urlsplit(text)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and " " not in text


def message(f: Finding) -> str:
    """One line a reviewer can act on; vulnerabilities read "pkg@version: ID (fixed in X)"."""
    if f.kind == "vulnerability" and f.package is not None:
        installed = f.installed_version or f.package.version
        if f.fixed_version:
            fix = f"fixed in {f.fixed_version}"
        elif f.status == "will_not_fix":
            fix = "will not be fixed"
        elif f.status == "not_affected":
            fix = "not affected"
        else:
            fix = "no fix available"
        text = f"{f.package.name}@{installed}: {f.id} ({fix})"
        if f.title and f.title != f.id:
            text += f" — {f.title}"
        return text
    text = f.title or f.id
    if f.path:
        text += f" in {f.path}" + (f":{f.line}" if f.line else "")
    if f.evidence:  # secrets are masked upstream, in every format
        text += f". Evidence: {f.evidence}"
    if f.remediation:
        text += f". Fix: {f.remediation}"
    return text


def _rule(f: Finding, score: float, severity: Severity) -> dict[str, Any]:
    short = f.title or f.id
    rule: dict[str, Any] = {
        "id": f.id,
        "shortDescription": {"text": short[:1024]},
        "fullDescription": {"text": (f.description or short)[:4000]},
        "defaultConfiguration": {"level": LEVEL[severity]},
    }
    web = [r for r in f.references if _is_web_url(r)]
    if web:
        rule["helpUri"] = web[0]
    help_lines = [f.description or short]
    if f.remediation:
        help_lines.append(f"Remediation: {f.remediation}")
    if f.standards:
        help_lines.append("Standards: " + ", ".join(f.standards))
    help_lines += web[:10]
    rule["help"] = {"text": "\n".join(help_lines)}
    rule["properties"] = {
        "security-severity": f"{score:.1f}",
        "tags": ["security", f.kind, severity.name],
    }
    return rule


def _result(
    f: Finding, rule_index: int, image_name: str, suppression: tuple[str, str] | None
) -> dict[str, Any]:
    where = _where(f)
    location = {
        "physicalLocation": {
            "artifactLocation": {"uri": _uri(where or image_name)},
            "region": {"startLine": f.line if f.line and f.line > 0 else 1},
        }
    }
    props: dict[str, Any] = {"kind": f.kind, "severity": f.severity.name}
    if f.package is not None:
        props.update(
            purl=f.package.purl,
            installed_version=f.installed_version,
            fixed_version=f.fixed_version,
            status=f.status,
        )
    if f.layer:
        props["layer"] = f.layer
    if f.aliases:
        props["aliases"] = list(f.aliases)
    if f.severity_source:
        props["severity_source"] = f.severity_source
    if f.kev is not None:
        props["kev"] = f.kev.to_dict()
    if f.epss is not None:
        props["epss"] = f.epss.to_dict()
    result: dict[str, Any] = {
        "ruleId": f.id,
        "ruleIndex": rule_index,
        "level": LEVEL[f.severity],
        "message": {"text": message(f)},
        "locations": [location],
        "partialFingerprints": {FINGERPRINT_KEY: fingerprint(f)},
        "properties": props,
    }
    if suppression is not None:
        reason, source = suppression
        result["suppressions"] = [
            {
                "kind": "external",
                "status": "accepted",
                "justification": reason,
                "properties": {"source": source},
            }
        ]
    return result


def sarif_dict(report: ScanReport) -> dict[str, Any]:
    entries: list[tuple[Finding, tuple[str, str] | None]] = [(f, None) for f in report.findings]
    entries += [(s.finding, (s.reason, s.source)) for s in report.suppressed]
    # a rule per id, rated by the worst finding carrying it
    worst: dict[str, tuple[float, Severity, Finding]] = {}
    for f, _ in entries:
        score = security_severity(f)
        prev = worst.get(f.id)
        if prev is None or (score, f.severity) > (prev[0], prev[1]):
            worst[f.id] = (score, f.severity, prev[2] if prev else f)
    index = {rule_id: i for i, rule_id in enumerate(worst)}
    image = report.inventory.image
    driver: dict[str, Any] = {
        "name": "hullscan",
        "version": __version__,
        "semanticVersion": __version__,
        "rules": [_rule(first, score, sev) for score, sev, first in worst.values()],
    }
    run: dict[str, Any] = {
        "tool": {"driver": driver},
        "results": [_result(f, index[f.id], image.name, sup) for f, sup in entries],
        "columnKind": "utf16CodeUnits",
        "properties": {
            "imageName": image.name,
            "imageRef": image.ref,
            "imageDigest": image.digest,
            "configDigest": image.config_digest,
        },
    }
    warnings = list(report.inventory.warnings) + list(report.warnings)
    if warnings:
        run["invocations"] = [
            {
                "executionSuccessful": True,
                "toolExecutionNotifications": [
                    {"level": "warning", "message": {"text": w}} for w in warnings
                ],
            }
        ]
    return {"$schema": SARIF_SCHEMA_URI, "version": SARIF_VERSION, "runs": [run]}


def render_sarif(report: ScanReport) -> str:
    return json.dumps(sarif_dict(report), indent=2, ensure_ascii=False) + "\n"
