"""HTML reports: one self-contained page per report, and the server's web pages.

Everything is rendered from the ``hullscan.report/v1`` document (``json_report``), so
the CLI's ``--format html`` and the server's ``/ui`` pages show the same view of the
same data, and secrets stay exactly as masked as in the JSON report. Pages are
self-contained: the stylesheet, the script and the SVG charts are inline, and a
Content-Security-Policy admits only those two inline blocks (by hash), so a page
never makes a network request, even when opened from a CI artifact.

Jinja2 escapes every value; links are made only from the references the data
carries, and only for http(s) addresses.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from hullscan.model import FINDING_KINDS, ScanReport, Severity

#: severities from worst to least, as the report's summary lists them
SEVERITIES = tuple(s.name for s in sorted(Severity, reverse=True))
#: detail values longer than this are cut in the evidence panel
MAX_DETAIL_CHARS = 400
#: EPSS highlights: at most this many findings, the most likely to be exploited first
MAX_EPSS = 10
#: rows a table shows at once (the rest behind "show more"): the browser lays out only
#: those, so a page with 5,000 findings stays quick to open, sort and filter
PAGE_ROWS = 500


@dataclass(frozen=True)
class _Assets:
    css: Markup
    js: Markup
    csp: str


def _sha256_source(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@cache
def _assets() -> _Assets:
    folder = resources.files("hullscan.report") / "templates"
    css = (folder / "report.css").read_text(encoding="utf-8")
    js = (folder / "report.js").read_text(encoding="utf-8")
    # default-src 'none' forbids every fetch (scripts, styles, images, fonts, connect);
    # only the two inline blocks, by hash, may run
    csp = (
        f"default-src 'none'; style-src {_sha256_source(css)}; "
        f"script-src {_sha256_source(js)}; img-src data:; base-uri 'none'; "
        "form-action 'none'"
    )
    return _Assets(Markup(css), Markup(js), csp)


@cache
def _env() -> Environment:
    env = Environment(
        loader=PackageLoader("hullscan.report", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=StrictUndefined,
    )
    env.filters["bytes"] = human_bytes
    return env


def human_bytes(n: int | float | None) -> str:
    if n is None:
        return "–"
    for unit, div in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if abs(n) >= div:
            return f"{n / div:.1f} {unit}"
    return f"{int(n)} B"


def _safe_url(url: Any) -> str | None:
    """Only web addresses become links (no javascript:, data: or file: from an advisory)."""
    return url if isinstance(url, str) and url.startswith(("https://", "http://")) else None


def _id_url(ident: str, references: Sequence[str]) -> str | None:
    """A link for an id only when one of the finding's own references names it."""
    low = ident.lower()
    return next((u for u in references if low in u.lower()), None)


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= MAX_DETAIL_CHARS else text[:MAX_DETAIL_CHARS] + " …"


#: details shown elsewhere in the row or panel, or only useful to machines
_HIDDEN_DETAILS = frozenset(
    {"match", "in_final_image", "layer_index", "kev", "epss", "cvss", "severity_source"}
)


@dataclass(frozen=True)
class _Layer:
    index: int
    digest: str
    diff_id: str
    size: int | None
    created_by: str
    added: int | None
    wasted: int | None
    findings: dict[str, int]
    packages: int

    @property
    def finding_count(self) -> int:
        return sum(self.findings.values())


def _layers(
    doc: Mapping[str, Any], findings: Sequence[Mapping[str, Any]], index_of: Mapping[str, int]
) -> list[_Layer]:
    stats = (doc.get("summary", {}).get("image") or {}).get("layers") or {}
    added: list[int] = stats.get("layer_bytes") or []
    wasted: list[int] = stats.get("layer_wasted_bytes") or []
    by_layer: dict[int, Counter[str]] = {}
    for f in findings:
        i = index_of.get(f.get("layer") or "")
        if i is not None:
            by_layer.setdefault(i, Counter())[f["severity"]] += 1
    packages: Counter[int] = Counter()
    for p in doc.get("packages", ()):
        for i in {index_of.get(loc.get("layer") or "") for loc in p.get("locations", ())}:
            if i is not None:
                packages[i] += 1
    out = []
    for layer in doc["image"].get("layers", ()):
        i = layer["index"]
        counts = by_layer.get(i, Counter())
        out.append(
            _Layer(
                i,
                layer.get("digest") or "",
                layer.get("diff_id") or "",
                layer.get("size"),
                layer.get("created_by") or "",
                added[i] if i < len(added) else None,
                wasted[i] if i < len(wasted) else None,
                {s: counts[s] for s in SEVERITIES if counts[s]},
                packages[i],
            )
        )
    return out


def _finding_row(f: Mapping[str, Any], index_of: Mapping[str, int]) -> dict[str, Any]:
    refs = [u for u in (_safe_url(r) for r in f.get("references") or ()) if u]
    pkg = f.get("package") or {}
    details = f.get("details") or {}
    where = f.get("path") or details.get("where") or ""
    if where and f.get("line"):
        where = f"{where}:{f['line']}"
    layer = index_of.get(f.get("layer") or "")
    facts = [
        (k, _short(v))
        for k, v in details.items()
        if k not in _HIDDEN_DETAILS and v not in (None, "", [], {})
    ]
    return {
        "severity": f["severity"],
        "rank": Severity[f["severity"]].value,
        "kind": f["kind"],
        "id": f["id"],
        "id_url": _id_url(f["id"], refs),
        "aliases": f.get("aliases") or [],
        "title": f.get("title") or f["id"],
        "package": pkg.get("name", ""),
        "purl": pkg.get("purl", ""),
        "installed": f.get("installed_version") or "",
        "fixed": f.get("fixed_version") or "",
        "status": f.get("status") or "",
        "layer": layer,
        "where": where,
        # masked upstream, as in every format (model.Finding.to_dict)
        "match": f.get("match") or "",
        "in_final": f.get("in_final_image"),
        "removed_in": details.get("removed_in_layer"),
        "evidence": f.get("evidence") or "",
        "remediation": f.get("remediation") or "",
        "description": f.get("description") or "",
        "standards": f.get("standards") or [],
        "references": refs,
        "kev": f.get("kev") or None,
        "epss": f.get("epss") or None,
        "cvss": f.get("cvss") or None,
        "severity_source": f.get("severity_source") or "",
        "facts": facts,
    }


def _package_row(p: Mapping[str, Any], index_of: Mapping[str, int]) -> dict[str, Any]:
    loc = (p.get("locations") or [{}])[0]
    return {
        "type": p["type"],
        "name": p["name"],
        "version": p["version"],
        "source": p.get("source_name") or "",
        "purl": p.get("purl") or "",
        "path": loc.get("path") or "",
        "layer": index_of.get(loc.get("layer") or ""),
    }


def _bars(counts: Mapping[str, int], order: Iterable[str]) -> list[dict[str, Any]]:
    """Rows of a horizontal bar chart, widths in percent of the largest count."""
    rows = [(k, counts.get(k, 0)) for k in order]
    top = max((n for _, n in rows), default=0) or 1
    return [{"label": k, "count": n, "width": round(100 * n / top, 1)} for k, n in rows]


def _verdict(
    findings: Sequence[Mapping[str, Any]], fail_on: str | None, fail_on_kev: bool = False
) -> dict[str, Any]:
    """What ``--fail-on`` and ``--fail-on-kev`` decide (as ``ScanReport.exceeds``)."""
    threshold = Severity.parse(fail_on) if fail_on else None
    count = sum(
        1 for f in findings if threshold is not None and Severity[f["severity"]] >= threshold
    )
    kev = sum(1 for f in findings if f.get("kev")) if fail_on_kev else 0
    return {
        "threshold": threshold.name if threshold is not None else None,
        "kev_gate": fail_on_kev,
        "failed": count > 0 or kev > 0,
        "count": count,
        "kev": kev,
    }


def report_context(
    doc: Mapping[str, Any], fail_on: str | None = None, fail_on_kev: bool = False
) -> dict[str, Any]:
    """The template's view of one ``hullscan.report/v1`` document."""
    image = doc["image"]
    findings: list[Mapping[str, Any]] = doc.get("findings") or []
    index_of = {
        layer["diff_id"]: layer["index"]
        for layer in image.get("layers", ())
        if layer.get("diff_id")
    }
    summary = doc.get("summary") or {}
    image_summary = summary.get("image") or {}
    rows = [_finding_row(f, index_of) for f in findings]
    rows.sort(key=lambda r: (-r["rank"], r["kind"], r["id"], r["package"]))
    by_severity = Counter(r["severity"] for r in rows)
    by_kind = Counter(r["kind"] for r in rows)
    kinds = [*FINDING_KINDS, *sorted(set(by_kind) - set(FINDING_KINDS))]
    epss = sorted(
        (r for r in rows if r["epss"]), key=lambda r: -float(r["epss"].get("score") or 0)
    )[:MAX_EPSS]
    layers = _layers(doc, findings, index_of)
    stats = image_summary.get("layers") or {}
    packages = sorted(
        (_package_row(p, index_of) for p in doc.get("packages") or ()),
        key=lambda p: (p["name"].lower(), p["type"], p["version"]),
    )
    return {
        "doc": doc,
        "image": image,
        "name": _image_name(image),
        "scan": bool(doc.get("scanners")),
        "scanners": doc.get("scanners") or [],
        "tool": doc.get("tool") or {},
        "severities": SEVERITIES,
        "kinds": [k for k in kinds if by_kind[k]],
        "severity_bars": _bars(by_severity, SEVERITIES),
        "kind_bars": _bars(by_kind, [k for k in kinds if by_kind[k]]),
        "total": len(rows),
        "rows": rows,
        "verdict": _verdict(findings, fail_on, fail_on_kev),
        "kev": [r for r in rows if r["kev"]],
        "epss": epss,
        "layers": layers,
        "layer_stats": stats,
        "image_size": sum(layer.size or 0 for layer in layers),
        "base": image_summary.get("base"),
        "eol": image_summary.get("eol"),
        "packages": packages,
        "package_types": sorted({p["type"] for p in packages}),
        "suppressed": doc.get("suppressed") or [],
        "warnings": doc.get("warnings") or [],
    }


def _image_name(image: Mapping[str, Any]) -> str:
    """As ``model.ImageMeta.name``: the first tag when it names the image, else the ref."""
    tags = image.get("repo_tags") or []
    tag = tags[0] if tags else ""
    return str(tag if ("/" in tag or ":" in tag) else image.get("ref") or "")


def _page(template: str, title: str, nav: Sequence[tuple[str, str]] = (), **context: Any) -> str:
    assets = _assets()
    return (
        _env()
        .get_template(template)
        .render(
            title=title,
            css=assets.css,
            js=assets.js,
            csp=assets.csp,
            nav=nav,
            page=PAGE_ROWS,
            **context,
        )
    )


def render_html(
    doc: Mapping[str, Any],
    fail_on: str | None = None,
    nav: Sequence[tuple[str, str]] = (),
    fail_on_kev: bool = False,
) -> str:
    """One self-contained page for a ``hullscan.report/v1`` document (a scan or an SBOM).

    ``fail_on`` (a severity name) and ``fail_on_kev`` add the verdict ``--fail-on`` and
    ``--fail-on-kev`` give; ``nav`` is a list of (label, href) links for pages served by
    the server."""
    context = report_context(doc, fail_on, fail_on_kev)
    kind = "scan" if context["scan"] else "SBOM"
    return _page("report.html.j2", f"{context['name']} — hullscan {kind}", nav, **context)


def render_html_report(
    report: ScanReport, fail_on: Severity | None = None, fail_on_kev: bool = False
) -> str:
    """``--format html``: the report's JSON document, rendered."""
    from hullscan.report.json_report import report_dict

    return render_html(
        report_dict(report), fail_on.name if fail_on is not None else None, fail_on_kev=fail_on_kev
    )


# -- the server's pages (/ui) ------------------------------------------------------------


def _age(created: str | None, now: datetime) -> str:
    if not created:
        return "–"
    try:
        then = datetime.fromisoformat(created.replace("Z", "+00:00"))
    except ValueError:
        return "–"
    seconds = int((now - (then if then.tzinfo else then.replace(tzinfo=UTC))).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{max(seconds, 0)} s"


def scans_page(
    scans: Sequence[Mapping[str, Any]], base: str = "/ui", now: datetime | None = None
) -> str:
    """The scans the server holds, newest first as given.

    Each scan: ``id``, ``status`` (queued, running, done, failed), ``image`` (the
    reference), ``digest`` (or None), ``worst_severity`` (a severity name or None),
    ``created`` (ISO 8601) and optionally ``error``. Rows link to ``image_page`` at
    ``{base}/images/{digest}``."""
    now = now or datetime.now(UTC)
    rows = [
        {
            "id": str(s.get("id", "")),
            "status": s.get("status") or "",
            "image": s.get("image") or "",
            "digest": s.get("digest") or "",
            "worst": s.get("worst_severity") or "",
            "rank": Severity[s["worst_severity"]].value if s.get("worst_severity") else -1,
            "created": s.get("created") or "",
            "age": _age(s.get("created"), now),
            "error": s.get("error") or "",
        }
        for s in scans
    ]
    return _page(
        "scans.html.j2",
        "Scans — hullscan",
        _nav(base),
        rows=rows,
        base=base,
        statuses=sorted({r["status"] for r in rows}),
        severities=SEVERITIES,
    )


def image_page(doc: Mapping[str, Any], base: str = "/ui") -> str:
    """One image's latest report, the same view as ``--format html``."""
    return render_html(doc, nav=_nav(base))


def worst_severity(doc: Mapping[str, Any]) -> str | None:
    """The worst severity among a report's findings (None when it has none): the scans
    page's column."""
    present = {f["severity"] for f in doc.get("findings") or ()}
    return next((s for s in SEVERITIES if s in present), None)


def fleet_page(summary: Mapping[str, Any], base: str | None = "/ui") -> str:
    """The fleet summary: ``hullscan fleet report --format json``'s document
    (``hullscan.fleet-report/v1``): ``images`` (a count), ``by_worst_severity`` (severity
    or ``NONE`` → images), ``top_vulnerabilities`` ([{``id``, ``severity``, ``title``,
    ``images``: n, ``examples``}]), ``kev`` ([{``id``, ``images``: [names]}]),
    ``end_of_life`` ([{``image``, ``digest``, ``os``, ``eol``}]) and ``worst_images``
    ([{``image``, ``digest``, ``worst``, ``findings``, ``os``, ``scanned_at``}]).
    Every key is optional. ``base=None``: a page of its own (``fleet report --format
    html``), without the server's navigation and image links."""

    def rows(key: str, fields: Sequence[str]) -> list[dict[str, Any]]:
        return [{f: row.get(f) for f in fields} for row in summary.get(key) or ()]

    images = [
        {**i, "rank": Severity[i["worst"]].value if i["worst"] in SEVERITIES else -1}
        for i in rows("worst_images", ("image", "digest", "worst", "findings", "os", "scanned_at"))
    ]
    return _page(
        "fleet.html.j2",
        "Fleet — hullscan",
        _nav(base) if base else (),
        base=base,
        count_images=summary.get("images", len(images)),
        worst_bars=_bars(summary.get("by_worst_severity") or {}, [*SEVERITIES, "NONE"]),
        top=rows("top_vulnerabilities", ("id", "severity", "title", "images", "examples")),
        kev=rows("kev", ("id", "images")),
        eol=rows("end_of_life", ("image", "digest", "os", "eol")),
        images=images,
        severities=[*SEVERITIES, "NONE"],
    )


def message_page(heading: str, message: str, base: str = "/ui") -> str:
    """A short page in the same frame, for what the server cannot show (an unknown
    digest, a scan still running)."""
    return _page(
        "message.html.j2", f"{heading} — hullscan", _nav(base), heading=heading, message=message
    )


def _nav(base: str) -> list[tuple[str, str]]:
    return [("Scans", f"{base}/scans"), ("Fleet", f"{base}/fleet")]
