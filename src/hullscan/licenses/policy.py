"""The licence policy: which licences a team may ship, from ``licenses:`` in hullscan.yaml.

Categories are the ones Trivy's users know (Google's licence classification):
forbidden, restricted, reciprocal, notice, permissive, unencumbered; each has a
severity (Trivy's by default), and a licence in no category is ``unknown``. An
expression is judged by its severities: ``A OR B`` as the lighter of the two (the
user may pick either), ``A AND B`` as the heavier.

```yaml
licenses:
  forbidden: [GPL-3.0]            # ids move to this category (no -only/-or-later needed)
  permissive: [LicenseRef-public-domain]
  severity: {notice: none, unknown: MEDIUM}   # none: no finding at all
  packages: {bash: notice, "pkg:npm/left-pad": permissive}   # a package's own verdict
  files: true                     # classify loose LICENSE files in application folders
```
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from hullscan.errors import HullscanError
from hullscan.model import Package, Severity
from hullscan.yamltext import parse_yaml

CATEGORIES = ("forbidden", "restricted", "reciprocal", "notice", "permissive", "unencumbered")
UNKNOWN = "unknown"
DEFAULT_SEVERITY: dict[str, Severity | None] = {
    "forbidden": Severity.CRITICAL,
    "restricted": Severity.HIGH,
    "reciprocal": Severity.MEDIUM,
    "notice": Severity.LOW,
    "permissive": Severity.LOW,
    "unencumbered": Severity.LOW,
    UNKNOWN: Severity.UNKNOWN,
}
_VERSION_SUFFIX = re.compile(r"(-only|-or-later|\+)$")


def base_id(license_id: str) -> str:
    """``GPL-2.0-or-later`` → ``GPL-2.0``: categories do not depend on "or later"."""
    return _VERSION_SUFFIX.sub("", license_id)


@cache
def default_categories() -> dict[str, str]:
    # libyaml's parser (yamltext): PyYAML's pure-Python one took ~25 ms of every scan
    data = parse_yaml(
        resources.files("hullscan.licenses").joinpath("categories.yaml").read_text(encoding="utf-8")
    )
    return {lic: cat for cat in CATEGORIES for lic in data.get(cat) or ()}


class _DefaultCategories(Mapping[str, str]):
    """The built-in categories, parsed when first looked up: most commands never judge a
    licence, and parsing the table (with PyYAML's import) cost each of them ~15 ms."""

    def _table(self) -> dict[str, str]:
        return default_categories()

    def __getitem__(self, key: str) -> str:
        return self._table()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._table())

    def __len__(self) -> int:
        return len(self._table())

    def __repr__(self) -> str:
        return "<the built-in licence categories>"


@dataclass(frozen=True)
class Verdict:
    category: str
    severity: Severity | None
    #: the licence that decided it (the heaviest of an AND, the lightest of an OR)
    license_id: str


@dataclass(frozen=True)
class LicensePolicy:
    # mappings are left out of the hash (settings are hashable values), not of equality
    categories: Mapping[str, str] = field(default_factory=_DefaultCategories, hash=False)
    severities: dict[str, Severity | None] = field(
        default_factory=lambda: dict(DEFAULT_SEVERITY), hash=False
    )
    #: package name or purl prefix → the category all its licences count as
    packages: dict[str, str] = field(default_factory=dict, hash=False)
    #: classify loose licence files (LICENSE, COPYING) outside packages
    files: bool = True

    def category(self, license_id: str) -> str:
        return self.categories.get(license_id) or self.categories.get(base_id(license_id), UNKNOWN)

    def package_category(self, pkg: Package) -> str | None:
        for key, category in self.packages.items():
            if key == pkg.name or (key.startswith("pkg:") and pkg.purl.startswith(key)):
                return category
        return None

    def judge(self, expression: str, pkg: Package | None = None) -> Verdict:
        """The verdict on an SPDX expression (a package's own category wins)."""
        if pkg is not None and (forced := self.package_category(pkg)):
            return Verdict(forced, self.severities.get(forced), expression)
        from hullscan.licenses.spdx import parse_tree

        return self._judge(parse_tree(expression))

    def _judge(self, node: Any) -> Verdict:
        if isinstance(node, str):
            category = self.category(node)
            return Verdict(category, self.severities.get(category), node)
        op, args = node
        verdicts = [self._judge(a) for a in args]

        def weight(v: Verdict) -> int:
            return -1 if v.severity is None else int(v.severity)

        return (max if op == "AND" else min)(verdicts, key=weight)

    @classmethod
    def from_section(cls, section: Any) -> LicensePolicy:
        """The ``licenses:`` section of hullscan.yaml (None: the defaults)."""
        section = section or {}
        if not isinstance(section, dict):
            raise HullscanError("licenses must be a mapping")
        known = {*CATEGORIES, "severity", "packages", "files"}
        if unknown := sorted(set(section) - known):
            raise HullscanError(
                f"licenses: unknown setting(s) {', '.join(unknown)} "
                f"(known: {', '.join(sorted(known))})"
            )
        categories = dict(default_categories())
        for cat in CATEGORIES:
            ids = section.get(cat) or []
            if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                raise HullscanError(f"licenses.{cat} must be a list of licence ids")
            categories.update({i: cat for i in ids})
        severities = dict(DEFAULT_SEVERITY)
        for cat, value in _mapping(section, "severity").items():
            if cat not in severities:
                raise HullscanError(
                    f"licenses.severity: unknown category {cat!r} "
                    f"(one of {', '.join([*CATEGORIES, UNKNOWN])})"
                )
            try:
                severities[cat] = (
                    None if str(value).lower() == "none" else Severity.parse(str(value))
                )
            except HullscanError as e:
                raise HullscanError(f"licenses.severity.{cat}: {e}") from None
        packages = {str(k): str(v) for k, v in _mapping(section, "packages").items()}
        if bad := sorted(v for v in packages.values() if v not in CATEGORIES):
            raise HullscanError(
                f"licenses.packages: unknown category {bad[0]!r} (one of {', '.join(CATEGORIES)})"
            )
        return cls(categories, severities, packages, bool(section.get("files", True)))


def _mapping(section: dict[str, Any], key: str) -> dict[Any, Any]:
    value = section.get(key) or {}
    if not isinstance(value, dict):
        raise HullscanError(f"licenses.{key} must be a mapping")
    return value
