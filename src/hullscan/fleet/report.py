"""``hullscan fleet report``: one summary over the latest stored report of every image —
images by worst severity, the vulnerabilities that affect the most images, known-exploited
exposure, and images on end-of-life distribution releases."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from hullscan.checks.eol import eol_for
from hullscan.jobs.store import Store
from hullscan.jobs.verdict import is_kev, os_of
from hullscan.model import Severity

SCHEMA = "hullscan.fleet-report/v1"


def summarize(store: Store, *, top: int = 10, today: dt.date | None = None) -> dict[str, Any]:
    today = today or dt.date.today()
    images: list[dict[str, Any]] = []
    by_worst: dict[str, int] = {s.name: 0 for s in sorted(Severity, reverse=True)}
    by_worst["NONE"] = 0
    vulns: dict[str, dict[str, Any]] = {}
    kev: dict[str, set[str]] = defaultdict(set)
    eol: list[dict[str, Any]] = []
    for stored in store.latest_reports():
        findings = [f for f in stored.report.get("findings") or [] if isinstance(f, dict)]
        severities = [
            Severity[str(f.get("severity", "UNKNOWN"))]
            for f in findings
            if str(f.get("severity")) in Severity.__members__
        ]
        worst = max(severities).name if severities else "NONE"
        by_worst[worst] += 1
        os_info = os_of((stored.report.get("image") or {}).get("os"))
        images.append(
            {
                "digest": stored.digest,
                "image": stored.image,
                "worst": worst,
                "findings": len(findings),
                "scanned_at": stored.scanned_at,
                "db_version": stored.db_version,
                "os": f"{os_info.id} {os_info.version_id}".strip() if os_info else None,
            }
        )
        for f in findings:
            if f.get("kind") != "vulnerability":
                continue
            fid = str(f.get("id"))
            entry = vulns.setdefault(
                fid,
                {
                    "id": fid,
                    "severity": f.get("severity"),
                    "title": f.get("title"),
                    "images": set(),
                },
            )
            entry["images"].add(stored.image)
            if is_kev(f):
                kev[fid].add(stored.image)
        ended = eol_for(os_info)
        if ended is not None and ended[0] < today:
            eol.append(
                {
                    "image": stored.image,
                    "digest": stored.digest,
                    "os": images[-1]["os"],
                    "eol": ended[0].isoformat(),
                }
            )
    ranked = sorted(
        vulns.values(), key=lambda v: (-len(v["images"]), -Severity[str(v["severity"])], v["id"])
    )
    images.sort(key=lambda i: (-(Severity[i["worst"]] if i["worst"] != "NONE" else -1), i["image"]))
    return {
        "schema": SCHEMA,
        "images": len(images),
        "by_worst_severity": by_worst,
        "top_vulnerabilities": [
            {**v, "images": len(v["images"]), "examples": sorted(v["images"])[:3]}
            for v in ranked[:top]
        ],
        "kev": [{"id": k, "images": sorted(v)} for k, v in sorted(kev.items())],
        "end_of_life": eol,
        "worst_images": images[:top],
    }


def render_table(summary: dict[str, Any]) -> str:
    lines = [f"{summary['images']} images"]
    worst = summary["by_worst_severity"]
    lines.append("by worst severity: " + ", ".join(f"{k} {v}" for k, v in worst.items() if v))
    if summary["top_vulnerabilities"]:
        lines += ["", "vulnerabilities affecting the most images:"]
        for v in summary["top_vulnerabilities"]:
            lines.append(
                f"  {v['images']:>5}  {v['severity']:<8}  {v['id']:<22}  {(v['title'] or '')[:60]}"
            )
    lines += ["", f"known exploited (CISA KEV): {len(summary['kev'])} vulnerabilities"]
    for k in summary["kev"]:
        lines.append(f"  {k['id']}: {', '.join(k['images'][:5])}")
    lines += ["", f"end-of-life distribution releases: {len(summary['end_of_life'])} images"]
    for e in summary["end_of_life"]:
        lines.append(f"  {e['image']}  {e['os']} (ended {e['eol']})")
    if summary["worst_images"]:
        lines += ["", "worst images:"]
        for i in summary["worst_images"]:
            lines.append(f"  {i['worst']:<8}  {i['findings']:>5} findings  {i['image']}")
    return "\n".join(lines)


__all__ = ["SCHEMA", "render_table", "summarize"]
