"""Package-name keys: the one normalization used both when indexing advisories and
when looking them up, so that a name found in an image meets the advisory's name.

Only ecosystems whose registries treat names case- or punctuation-insensitively are
folded; everything else is compared exactly, because folding a case-sensitive
namespace (Maven, RubyGems, Go module paths) would make distinct packages collide.
"""

from __future__ import annotations

import re

_PEP503_RUNS = re.compile(r"[-_.]+")


def base_ecosystem(ecosystem: str) -> str:
    """The ecosystem without its release suffix: ``"Debian:12"`` → ``"Debian"``,
    ``"Alpine:v3.11"`` → ``"Alpine"``, ``"Ubuntu:Pro:18.04:LTS"`` → ``"Ubuntu"``."""
    return ecosystem.split(":", 1)[0]


def normalize_name(ecosystem: str, name: str) -> str:
    """The lookup key for ``name`` in ``ecosystem`` (an OSV ecosystem, with or without
    a release suffix).

    - PyPI: PEP 503 (lowercase; runs of ``-``, ``_``, ``.`` become one ``-``).
    - NuGet, Packagist: lowercase (both registries ignore case).
    - npm (``@scope/name``), Maven (``group:artifact``), Go module paths, crates.io,
      RubyGems, Debian/Ubuntu/Alpine source names and anything unknown: as is.
    """
    base = base_ecosystem(ecosystem)
    if base == "PyPI":
        return _PEP503_RUNS.sub("-", name).lower()
    if base in ("NuGet", "Packagist"):
        return name.lower()
    return name
