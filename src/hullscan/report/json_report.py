"""The ``hullscan.report/v1`` JSON document (docs/ARCHITECTURE.md, "The JSON report")."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from hullscan import __version__
from hullscan.model import ImageMeta, OSInfo, ScanReport, Severity
from hullscan.secrets import redact

SCHEMA = "hullscan.report/v1"


def image_dict(image: ImageMeta, os_info: OSInfo | None) -> dict[str, Any]:
    return {
        "ref": image.ref,
        "transport": image.transport,
        "digest": image.digest,
        "config_digest": image.config_digest,
        "repo_tags": list(image.repo_tags),
        "platform": image.platform,
        "created": image.created,
        "os": {
            "id": os_info.id,
            "version_id": os_info.version_id,
            "codename": os_info.codename,
            "release": os_info.release,
            "pretty_name": os_info.pretty_name,
            "distroless": os_info.distroless,
        }
        if os_info
        else None,
        # history lines can hold build arguments: never print them unmasked
        "layers": [
            {**layer.to_dict(), "created_by": redact(layer.created_by)}
            if layer.created_by
            else layer.to_dict()
            for layer in image.layers
        ],
    }


def report_dict(report: ScanReport) -> dict[str, Any]:
    inv = report.inventory
    findings = [f.to_dict() for f in report.findings]
    return {
        "schema": SCHEMA,
        "tool": {"name": "hullscan", "version": __version__},
        "image": image_dict(inv.image, inv.os),
        "packages": [p.to_dict() for p in inv.packages],
        "scanners": list(report.scanners),
        "findings": findings,
        "suppressed": [
            {**s.finding.to_dict(), "suppressed_by": s.source, "reason": s.reason}
            for s in report.suppressed
        ],
        "warnings": list(inv.warnings) + list(report.warnings),
        "summary": {
            "packages_by_type": dict(sorted(Counter(p.type for p in inv.packages).items())),
            "by_kind": dict(sorted(Counter(f.kind for f in report.findings).items())),
            "by_severity": {
                s.name: n
                for s in sorted(Severity, reverse=True)
                if (n := sum(1 for f in report.findings if f.severity == s))
            },
            "suppressed": len(report.suppressed),
            **report.summaries,
        },
    }


def render_json(report: ScanReport) -> str:
    return json.dumps(report_dict(report), indent=2, ensure_ascii=False) + "\n"
