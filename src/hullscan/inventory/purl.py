"""Package URLs (https://github.com/package-url/purl-spec), built with packageurl-python."""

from __future__ import annotations

from packageurl import PackageURL

from hullscan.analyzer import AnalyzerInputError


def make_purl(
    ptype: str,
    name: str,
    version: str | None,
    namespace: str | None = None,
    qualifiers: dict[str, str] | None = None,
    subpath: str | None = None,
) -> str:
    """A canonical purl string; empty qualifiers are dropped. A name packageurl refuses
    (empty, as npm's ``@scope/``, or blank) is the database's fault: ``AnalyzerInputError``."""
    quals = {k: v for k, v in (qualifiers or {}).items() if v}
    try:
        return str(PackageURL(type=ptype, namespace=namespace or None, name=name,
                              version=version or None, qualifiers=quals or None,
                              subpath=subpath or None).to_string())
    except (ValueError, TypeError) as e:  # TypeError: a name of blanks normalizes to None
        raise AnalyzerInputError(f"no package URL for {ptype} {name!r}: {e}") from None
