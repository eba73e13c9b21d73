"""Package URLs (https://github.com/package-url/purl-spec), built with packageurl-python."""

from __future__ import annotations

from functools import lru_cache

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
    quals = tuple(sorted((k, v) for k, v in (qualifiers or {}).items() if v))
    return _purl(ptype, namespace or None, name, version or None, quals, subpath or None)


@lru_cache(maxsize=8192)
def _purl(
    ptype: str,
    namespace: str | None,
    name: str,
    version: str | None,
    quals: tuple[tuple[str, str], ...],
    subpath: str | None,
) -> str:
    # memoized: every layer that rewrites dpkg's status lists the same packages again, and
    # packageurl takes ~0.1 ms a purl
    try:
        return str(
            PackageURL(
                type=ptype,
                namespace=namespace,
                name=name,
                version=version,
                qualifiers=dict(quals) or None,
                subpath=subpath,
            ).to_string()
        )
    except (ValueError, TypeError) as e:  # TypeError: a name of blanks normalizes to None
        raise AnalyzerInputError(f"no package URL for {ptype} {name!r}: {e}") from None
