"""Match an inventory against OSV advisories: precise by construction.

- OS packages are looked up only in their own distribution release's data, by
  source package and source version (Grype's dpkg matcher: binary → source →
  advisories), so a Debian 11 advisory never fires on Debian 12.
- Language packages are looked up in their ecosystem by normalized name;
  packages an OS package owns are skipped (the OS advisory covers them).
- A version is affected only when an OSV range really contains it, ordered
  with that ecosystem's own rules; an unorderable bound skips the advisory
  (and says so) instead of guessing.
- Advisories that alias each other (``aliases`` and ``upstream``) become one finding
  per package, keyed by the CVE; ``related`` ids are listed, never merged.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cmp_to_key
from typing import Any, Protocol

from packageurl import PackageURL

from hullscan import versions
from hullscan.model import (
    Epss,
    Finding,
    FindingKind,
    Inventory,
    Kev,
    OSInfo,
    Package,
    Severity,
    VulnStatus,
)
from hullscan.vuln.distros import distro_for, os_ecosystems
from hullscan.vuln.ranges import RangeMatch, evaluate
from hullscan.vuln.risk import enrich
from hullscan.vuln.severity import Rating, rate
from hullscan.vulndb.osv import Advisory

#: purl type → OSV ecosystem, for language packages
LANGUAGE_ECOSYSTEMS = {
    "pypi": "PyPI",
    "npm": "npm",
    "golang": "Go",
    "maven": "Maven",
    "cargo": "crates.io",
    "gem": "RubyGems",
    "composer": "Packagist",
    "nuget": "NuGet",
}
MAX_REFERENCES = 12


class AdvisorySource(Protocol):
    """Where advisories come from (the SQLite database; tests may pass another)."""

    def advisories_for(self, ecosystem: str, name: str) -> Sequence[Advisory]: ...

    def ecosystems(self) -> dict[str, int]: ...

    def exploitation(self, cve_ids: Iterable[str]) -> tuple[dict[str, Kev], dict[str, Epss]]: ...

    def not_affected(
        self, ecosystem: str, name: str, *, include_aliases: bool = False
    ) -> set[str]: ...


@dataclass(frozen=True)
class Query:
    """What to look up for one package."""

    ecosystems: tuple[str, ...]
    name: str
    version: str
    #: the ecosystem whose version rules apply
    scheme: str
    os_package: bool = False


def query_for(
    p: Package, os_info: OSInfo | None, known_ecosystems: Sequence[str] = ()
) -> Query | None:
    """The lookup for one package; ``known_ecosystems`` (the database's) resolve the
    distributions whose data is spread over several ecosystems (Red Hat)."""
    if p.owner:
        return None  # its OS package is matched instead
    if p.type in ("deb", "apk", "rpm"):
        d = distro_for(os_info)
        if d is None:
            return None
        ecos = d.ecosystems + tuple(
            e for e in known_ecosystems if e.startswith(d.prefixes) and d.prefixes
        )
        if d.binary_names:
            name, version = p.name, p.version
        else:
            name, version = p.source_name or p.name, p.source_version or p.version
        return Query(ecos, name, version, d.scheme, os_package=True)
    eco = LANGUAGE_ECOSYSTEMS.get(p.type)
    if eco is None or not p.version or p.version == "(devel)":
        return None
    name = p.name
    if p.type in ("maven", "composer"):
        purl = PackageURL.from_string(p.purl)
        if purl.namespace:
            name = f"{purl.namespace}{':' if p.type == 'maven' else '/'}{purl.name}"
    return Query((eco,), name, p.version, eco)


@dataclass
class _Hit:
    advisory: Any
    match: RangeMatch
    ecosystem: str
    rating: Rating


@dataclass
class MatchResult:
    findings: list[Finding] = field(default_factory=list)
    #: findings the distribution says do not apply (hidden unless asked for)
    not_affected: list[Finding] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _affected_by(entry: Any, scheme: str, version: str) -> RangeMatch | None:
    """A range containing the version, else an explicit ``versions`` listing of it (its
    fix then comes from the first ``fixed`` event above the version, if any)."""
    fixes: list[str] = []
    for r in entry.ranges:
        if r.type not in ("ECOSYSTEM", "SEMVER"):
            continue  # GIT ranges need commit ancestry an image does not carry
        events = [(e.kind, e.value) for e in r.events]
        hit = evaluate(scheme, version, events)
        if hit is not None:
            return hit
        fixes += [v for kind, v in events if kind == "fixed"]
    if version in (entry.versions or ()):
        above = sorted(
            (f for f in fixes if _safe_cmp(scheme, f, version) > 0),
            key=lambda v: _sort_key(scheme, v),
        )
        return RangeMatch(fixed=above[0] if above else "")
    return None


def _is_informational(entry: Any) -> bool:
    """RustSec's "unmaintained"/"unsound" notices are not vulnerabilities."""
    ds = entry.database_specific or {}
    return bool(ds.get("informational"))


def _ids(h: _Hit) -> list[str]:
    """The advisory's id and every id naming the same vulnerability (aliases, upstream;
    never ``related``)."""
    return [h.advisory.id, *h.advisory.same_as]


def _cves(h: _Hit) -> list[str]:
    return [i for i in _ids(h) if i.startswith("CVE-")]


def _group(hits: list[_Hit]) -> list[tuple[set[str], list[_Hit]]]:
    """One group per vulnerability, with the ids that name it: advisories sharing an id
    or alias merge, except that an advisory naming several CVEs (a DSA) joins each
    CVE's group instead of merging distinct CVEs into one."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    single = [h for h in hits if len(_cves(h)) <= 1]
    multi = [h for h in hits if len(_cves(h)) > 1]
    for h in single:
        first, *rest = _ids(h)
        for other in rest:
            parent[find(other)] = find(first)
    groups: dict[str, tuple[set[str], list[_Hit]]] = {}
    for h in single:
        ids, members = groups.setdefault(find(h.advisory.id), (set(), []))
        ids.update(_ids(h))
        members.append(h)
    for h in multi:
        own = {i for i in _ids(h) if not i.startswith("CVE-")}
        for cve in _cves(h):
            ids, members = groups.setdefault(find(cve), (set(), []))
            ids.update(own | {cve})
            members.append(h)
    return list(groups.values())


def _primary_id(ids: Iterable[str]) -> str:
    ordered = sorted(set(ids))
    for prefix in ("CVE-", "GHSA-", "GO-", "RUSTSEC-", "PYSEC-"):
        for i in ordered:
            if i.startswith(prefix):
                return i
    return ordered[0]


def _finding(p: Package, q: Query, ids: set[str], group: list[_Hit], status: str) -> Finding:
    primary = _primary_id(ids)
    fixes = sorted(
        {h.match.fixed for h in group if h.match.fixed}, key=lambda v: _sort_key(q.scheme, v)
    )
    best = min(group, key=lambda h: h.rating.order)
    titled = next((h.advisory for h in group if h.advisory.summary), group[0].advisory)
    title = titled.summary or _first_sentence(titled.details) or primary
    refs: list[str] = []
    for h in group:
        for r in h.advisory.references:
            if r not in refs:
                refs.append(r)
    loc = p.locations[0] if p.locations else None
    details: dict[str, Any] = {
        "data_sources": sorted(h.advisory.id for h in group),
        "ecosystem": group[0].ecosystem,
        "matched": [
            {
                "advisory": h.advisory.id,
                "introduced": h.match.introduced,
                "fixed": h.match.fixed,
                "last_affected": h.match.last_affected,
            }
            for h in group
        ],
    }
    related = sorted({r for h in group for r in h.advisory.related} - ids)
    if related:
        details["related"] = related
    if q.name != p.name:
        details["matched_as"] = f"{q.name} {q.version}"
    return Finding(
        kind=FindingKind.VULNERABILITY,
        id=primary,
        aliases=tuple(sorted(ids - {primary})),
        severity=best.rating.severity,
        title=title,
        package=p,
        installed_version=p.version,
        fixed_version=fixes[0] if fixes else "",
        status=VulnStatus(status if status != "fixed" or fixes else "affected"),
        path=loc.path if loc else None,
        layer=loc.layer if loc else None,
        references=tuple(refs[:MAX_REFERENCES]),
        description=(titled.details or "")[:2000],
        details=details,
        severity_source=best.rating.source,
        cvss=best.rating.cvss,
    )


def _first_sentence(text: str, limit: int = 120) -> str:
    """A title for advisories that have only details (PYSEC, DEBCL)."""
    line = " ".join(text.split())
    end = line.find(". ")
    line = line[: end + 1] if 0 < end < limit else line
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def _sort_key(scheme: str, v: str) -> Any:
    def cmp(a: str, b: str) -> int:
        return _safe_cmp(scheme, a, b)

    return cmp_to_key(cmp)(v)


def _safe_cmp(scheme: str, a: str, b: str) -> int:
    try:
        return versions.compare(scheme, a, b)
    except ValueError:
        return (a > b) - (a < b)


def _hits(q: Query, db: AdvisorySource, unorderable: dict[str, int]) -> list[_Hit]:
    """Every advisory whose range contains the package's version, once per advisory."""
    hits: dict[str, _Hit] = {}
    for eco in q.ecosystems:
        for adv in db.advisories_for(eco, q.name):
            if adv.withdrawn or adv.id in hits:  # Ubuntu:22.04 and Ubuntu:22.04:LTS
                continue
            for entry in adv.affected:
                if _is_informational(entry):
                    continue
                try:
                    m = _affected_by(entry, q.scheme, q.version)
                except ValueError:  # versions.InvalidVersion
                    unorderable[adv.id] = unorderable.get(adv.id, 0) + 1
                    continue
                if m is not None:
                    hits[adv.id] = _Hit(adv, m, eco, rate(adv, entry, eco, os_package=q.os_package))
                    break
    return list(hits.values())


@dataclass(frozen=True)
class QueryMatch:
    """What the database says about one package query: the vulnerability groups (ids,
    matched advisories, whether the distribution says not affected) and the advisories
    whose ranges could not be ordered. The same for every package with that query."""

    groups: tuple[tuple[frozenset[str], tuple[_Hit, ...], bool], ...]
    unorderable: tuple[str, ...]

    @property
    def finding_ids(self) -> tuple[str, ...]:
        """The id each finding of this query gets (not-affected ones left out)."""
        return tuple(_primary_id(ids) for ids, _, not_affected in self.groups if not not_affected)


def match_query(q: Query, db: AdvisorySource) -> QueryMatch:
    unorderable: dict[str, int] = {}
    hits = _hits(q, db, unorderable)
    not_affected_ids: set[str] = set()
    for eco in q.ecosystems:
        not_affected_ids |= db.not_affected(eco, q.name, include_aliases=True)
    return QueryMatch(
        tuple(
            (frozenset(ids), tuple(group), bool(ids & not_affected_ids))
            for ids, group in _group(hits)
        ),
        tuple(a for a, n in unorderable.items() for _ in range(n)),
    )


def match_inventory(
    inv: Inventory, db: AdvisorySource, memo: dict[Query, QueryMatch] | None = None
) -> MatchResult:
    """``memo``: query results shared between inventories matched against the same
    database (``fleet rematch``: images share their base layers' packages)."""
    out = MatchResult()
    unorderable: dict[str, int] = {}
    known = tuple(db.ecosystems())
    for p in inv.packages:
        q = query_for(p, inv.os, known)
        if q is None:
            continue
        found = memo.get(q) if memo is not None else None
        if found is None:
            found = match_query(q, db)
            if memo is not None:
                memo[q] = found
        for adv_id in found.unorderable:
            unorderable[adv_id] = unorderable.get(adv_id, 0) + 1
        for ids, group, not_affected in found.groups:
            out_list = out.not_affected if not_affected else out.findings
            out_list.append(
                _finding(p, q, set(ids), list(group), "not_affected" if not_affected else "fixed")
            )
    if unorderable:
        out.warnings.append(
            f"skipped {sum(unorderable.values())} advisory range(s) whose "
            f"versions could not be ordered (e.g. {min(unorderable)})"
        )
    out.findings = enrich(out.findings, db)
    out.not_affected = enrich(out.not_affected, db)
    out.findings.sort(key=lambda f: (-f.severity, f.package.name if f.package else "", f.id))
    return out


__all__ = [
    "MatchResult",
    "Query",
    "QueryMatch",
    "Severity",
    "match_inventory",
    "match_query",
    "os_ecosystems",
    "query_for",
]
