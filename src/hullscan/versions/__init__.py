"""Version ordering per ecosystem, each agreeing with the ecosystem's own implementation.

    >>> from hullscan.versions import compare
    >>> compare("Debian:12", "1.0~rc1", "1.0") < 0
    True

Ecosystem names are OSV's (``Debian``, ``Ubuntu``, ``Alpine``, ``Red Hat``, ``PyPI``,
``npm``, ``Go``, ``Maven``, ``crates.io``, ``RubyGems``, ``NuGet``, ``Packagist``, ...),
matched case-insensitively; anything after the first ``:`` (a release, like ``Debian:12``
or ``Alpine:v3.19``) does not change the order and is ignored.

Every function raises only UnsupportedEcosystem (an ecosystem with no scheme here) or
InvalidVersion (a string the ecosystem's rules reject), both ValueErrors. Parsing is
memoized per scheme, so comparing the same versions again costs a dictionary lookup.

Each scheme lives in its own module (dpkg, apk, rpm, pep440, semver, golang, maven,
rubygems, nuget, packagist) with ``compare(a, b)`` and ``key(version)``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

from . import apk, dpkg, golang, maven, nuget, packagist, pep440, rpm, rubygems, semver
from ._base import InvalidVersion, UnsupportedEcosystem

__all__ = [
    "ECOSYSTEM_SCHEMES",
    "SCHEMES",
    "InvalidVersion",
    "Scheme",
    "UnsupportedEcosystem",
    "compare",
    "is_valid",
    "scheme",
    "sort_key",
]


class Scheme(NamedTuple):
    """One ordering: a name, a three-way compare, and a sort key for ``sorted``/``max``."""

    name: str
    compare: Callable[[str, str], int]
    key: Callable[[str], Any]


# Scheme name -> Scheme (ECOSYSTEM_SCHEMES maps OSV ecosystems to these names).
SCHEMES: dict[str, Scheme] = {
    s.name: s
    for s in (
        Scheme("dpkg", dpkg.compare, dpkg.key),
        Scheme("apk", apk.compare, apk.key),
        Scheme("rpm", rpm.compare, rpm.key),
        Scheme("pep440", pep440.compare, pep440.key),
        Scheme("npm", semver.compare_npm, semver.npm_key),
        Scheme("semver", semver.compare_semver, semver.semver_key),
        Scheme("go", golang.compare, golang.key),
        Scheme("maven", maven.compare, maven.key),
        Scheme("rubygems", rubygems.compare, rubygems.key),
        Scheme("nuget", nuget.compare, nuget.key),
        Scheme("packagist", packagist.compare, packagist.key),
    )
}

# OSV ecosystem (lower-cased, without the ":release" suffix) -> scheme name.
ECOSYSTEM_SCHEMES: dict[str, str] = {
    "debian": "dpkg",
    "ubuntu": "dpkg",
    "alpine": "apk",
    "wolfi": "apk",
    "chainguard": "apk",
    "minimos": "apk",
    "red hat": "rpm",
    "almalinux": "rpm",
    "rocky linux": "rpm",
    "opensuse": "rpm",
    "suse": "rpm",
    "mageia": "rpm",
    "openeuler": "rpm",
    "azure linux": "rpm",
    "photon os": "rpm",
    "mariner": "rpm",
    "pypi": "pep440",
    "npm": "npm",
    "go": "go",
    "maven": "maven",
    "crates.io": "semver",
    "hex": "semver",
    "bitnami": "semver",
    "rubygems": "rubygems",
    "nuget": "nuget",
    "packagist": "packagist",
}


@functools.lru_cache(maxsize=256)
def scheme(ecosystem: str) -> Scheme:
    """The ordering for an OSV ecosystem name such as ``Debian:12`` or ``PyPI``."""
    base = ecosystem.split(":", 1)[0].strip().lower()
    name = ECOSYSTEM_SCHEMES.get(base)
    if name is None:
        raise UnsupportedEcosystem(f"no version ordering for ecosystem {ecosystem!r}")
    return SCHEMES[name]


def compare(ecosystem: str, a: str, b: str) -> int:
    """Negative, zero or positive as version ``a`` is older than, equal to or newer than ``b``."""
    return scheme(ecosystem).compare(a, b)


def sort_key(ecosystem: str) -> Callable[[str], Any]:
    """A key function for ``sorted(versions, key=sort_key("npm"))``."""
    return scheme(ecosystem).key


def is_valid(ecosystem: str, version: str) -> bool:
    """Whether ``version`` is a version under the ecosystem's rules."""
    try:
        scheme(ecosystem).key(version)
    except InvalidVersion:
        return False
    return True
