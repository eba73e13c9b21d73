"""JUnit XML for a ``ScanReport``, the format CI servers (GitLab, Jenkins) show as tests.

A ``testsuite`` per finding kind; a failing ``testcase`` per finding (``failure``
``type`` is the severity); a skipped one per suppressed finding, with the reason;
and one passing ``testcase`` in each scanned kind that has no findings, so a clean
image shows green rather than "no tests". Built with ``xml.etree``, which escapes
markup; characters XML 1.0 cannot carry at all (control characters) are replaced.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from hullscan import __version__
from hullscan.model import FINDING_KINDS, Finding, ScanReport, Suppressed
from hullscan.report.sarif import message

#: scanner names (``--scanners``) → the finding kinds they produce
SCANNER_KINDS = {
    "vuln": "vulnerability",
    "secret": "secret",
    "config": "misconfiguration",
    "binary": "binary",
    "supplychain": "supplychain",
}

_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _x(text: object) -> str:
    """Text XML 1.0 can hold: control characters and lone surrogates become U+FFFD."""
    return _NOT_XML.sub("\ufffd", str(text))


def _name(f: Finding) -> str:
    if f.package is not None:
        return f"{f.id} {f.package.name}@{f.installed_version or f.package.version}"
    if f.path:
        return f"{f.id} {f.path}" + (f":{f.line}" if f.line else "")
    return f.id


def _details(f: Finding) -> str:
    lines = [message(f), f"Severity: {f.severity.name}"]
    if f.aliases:
        lines.append("Aliases: " + ", ".join(f.aliases))
    if f.package is not None:
        lines.append(f"Package: {f.package.purl or f.package.name}")
        lines.append(f"Installed: {f.installed_version or f.package.version}")
        lines.append(f"Fixed: {f.fixed_version or '-'}" + (f" ({f.status})" if f.status else ""))
    if f.path:
        lines.append(f"Path: {f.path}" + (f":{f.line}" if f.line else ""))
    if f.layer:
        lines.append(f"Layer: {f.layer}")
    if f.standards:
        lines.append("Standards: " + ", ".join(f.standards))
    lines += [f"Reference: {r}" for r in f.references[:10]]
    return "\n".join(lines)


def _testcase(suite: ET.Element, kind: str, name: str) -> ET.Element:
    return ET.SubElement(
        suite, "testcase", classname=_x(f"hullscan.{kind}"), name=_x(name), time="0"
    )


def _kinds(report: ScanReport) -> list[str]:
    """Kinds with findings, plus those the scan looked for (all, if it does not say)."""
    scanned = {SCANNER_KINDS.get(s, s) for s in report.scanners} or set(FINDING_KINDS)
    present = {f.kind for f in report.findings} | {s.finding.kind for s in report.suppressed}
    known = [k for k in FINDING_KINDS if k in scanned | present]
    return known + sorted((scanned | present) - set(FINDING_KINDS))


def junit_element(report: ScanReport) -> ET.Element:
    image = report.inventory.image
    root = ET.Element("testsuites", name=_x(f"hullscan {image.name}"))
    total = failures = skipped = 0
    for kind in _kinds(report):
        found = [f for f in report.findings if f.kind == kind]
        quiet: list[Suppressed] = [s for s in report.suppressed if s.finding.kind == kind]
        suite = ET.SubElement(root, "testsuite", name=_x(f"hullscan {kind}"))
        props = ET.SubElement(suite, "properties")
        for key, value in (
            ("image", image.name),
            ("image.digest", image.digest or ""),
            ("hullscan.version", __version__),
        ):
            ET.SubElement(props, "property", name=key, value=_x(value))
        for f in found:
            case = _testcase(suite, kind, _name(f))
            failure = ET.SubElement(
                case, "failure", message=_x(f.title or f.id), type=f.severity.name
            )
            failure.text = _x(_details(f))
        for s in quiet:
            case = _testcase(suite, kind, _name(s.finding))
            ET.SubElement(case, "skipped", message=_x(f"suppressed by {s.source}: {s.reason}"))
        if not found:
            _testcase(suite, kind, f"no {kind} findings")
        tests = len(found) + len(quiet) + (0 if found else 1)
        suite.set("tests", str(tests))
        suite.set("failures", str(len(found)))
        suite.set("errors", "0")
        suite.set("skipped", str(len(quiet)))
        suite.set("time", "0")
        total += tests
        failures += len(found)
        skipped += len(quiet)
    root.set("tests", str(total))
    root.set("failures", str(failures))
    root.set("errors", "0")
    root.set("skipped", str(skipped))
    root.set("time", "0")
    return root


def render_junit(report: ScanReport) -> str:
    root = junit_element(report)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"
