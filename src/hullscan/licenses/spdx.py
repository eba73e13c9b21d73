"""Licence strings as packages declare them → SPDX license expressions.

A declared string goes through, in order: the SPDX list itself (license-expression,
case-insensitive, deprecated ids such as ``GPL-2.0+`` updated); the expression's
structure (``GPL-2+ or Artistic``, ``BSD-3-clause and GPL-2+``, Debian's
``A, and B``), each licence name in it mapped on its own; LicenseLynx's table of
licence names (``Apache 2.0``, ``GPLv2+``, ``Expat``, ``MIT License``), plus the few
Debian short names it lacks. A name none of these knows becomes ``LicenseRef-<name>``:
the expression stays valid SPDX and the caller keeps the original string beside it.
"""

from __future__ import annotations

import contextlib
import re
from functools import cache, lru_cache
from typing import Any

from hullscan.licenses import service

#: Debian's standard short names (DEP-5) that LicenseLynx does not map, and Perl's
#: "Artistic" (Debian's common-licenses/Artistic is the Perl Artistic License)
_DEBIAN_NAMES = {
    "artistic": "Artistic-1.0-Perl",
    "artistic-1": "Artistic-1.0-Perl",
    "artistic-1.0": "Artistic-1.0-Perl",
    "perl": "Artistic-1.0-Perl OR GPL-1.0-or-later",
    "gpl-1+": "GPL-1.0-or-later",
    "bsd-2-clause": "BSD-2-Clause",
    "bsd-3-clause": "BSD-3-Clause",
    "bsd-4-clause": "BSD-4-Clause",
    "expat": "MIT",
    "mit/x11": "X11",
    "zlib": "Zlib",
    "python": "PSF-2.0",
    "psf-2": "PSF-2.0",
    "apache-2": "Apache-2.0",
    "mpl-2": "MPL-2.0",
    "cc0": "CC0-1.0",
}
#: Debian's GNU licence names: GPL-2, GPL-2+, LGPL-2.1+, GFDL-NIV-1.3+, ...
_DEBIAN_VERSIONED = re.compile(
    r"(?P<name>A?GPL|LGPL|GFDL)(?P<niv>-NIV)?(?:-|-?v|\s+v?)"
    r"(?P<major>[123])(?:\.(?P<minor>[0-9]))?(?:\.0)?(?P<plus>\+)?",
    re.IGNORECASE,
)
_OR_LATER = re.compile(
    r",?\s+or\s+(?:\(at your option\)\s+)?(?:any\s+)?(?:later|newer|greater)"
    r"(?:\s+version)?\b",
    re.IGNORECASE,
)
_ABBREVIATION = re.compile(r".*\(([^()]+)\)\s*")
_EXCEPTION_VERSION = re.compile(r"-[0-9][0-9.]*$")
_LICENSE_REF = re.compile(r"LicenseRef-[A-Za-z0-9.-]+")
_REF_CHARS = re.compile(r"[^A-Za-z0-9.]+")
#: DEP-5: "A or B, and C" means "(A or B) and C"; the comma binds loosest
_COMMA_OPERATOR = re.compile(r",\s*(and|or)\s+", re.IGNORECASE)
_MAX_VALUE = 400


@cache
def _spdx() -> Any:
    # imported when first needed: a scan served from the cache never normalizes
    from license_expression import get_spdx_licensing

    return get_spdx_licensing()


@cache
def _plain() -> Any:
    from license_expression import Licensing

    return Licensing()


def spdx_license_expression(value: str) -> str | None:
    """The normalized SPDX expression for ``value``, or None if it is not one.

    Only license ids and exceptions from the SPDX list, and ``LicenseRef-`` ids, are
    accepted: free text ("GPL v2") and vague names ("BSD") are None.
    """
    if not value.strip():
        return None
    licensing = _spdx()
    # LicenseRef ids stand for themselves: license-expression would rename some that are
    # also aliases in its own table (LicenseRef-LICENSE → LicenseRef-scancode-proprietary…)
    refs = list(dict.fromkeys(_LICENSE_REF.findall(value)))
    stand_in = {f"LicenseRef-hullscan-{i}-": ref for i, ref in enumerate(refs)}
    for key, ref in stand_in.items():
        value = re.sub(rf"{re.escape(ref)}(?![A-Za-z0-9.-])", key, value)
    try:
        parsed = licensing.parse(value, validate=False, strict=True)
    except Exception:  # license-expression raises assorted errors, e.g. on "MIT/X11"
        return None
    if parsed is None or not all(
        str(k) in stand_in for k in licensing.unknown_license_keys(parsed)
    ):
        return None
    rendered = str(parsed.render("{symbol.key}"))
    for key, ref in stand_in.items():
        rendered = rendered.replace(key, ref)
    return rendered


def license_ref(value: str) -> str:
    """``LicenseRef-<value>`` with the characters SPDX allows in an id (letters, digits,
    ``.`` and ``-``)."""
    body = _REF_CHARS.sub("-", value).strip("-.")[:80].strip("-.")
    return f"LicenseRef-{body or 'unknown'}"


def is_known(expression: str) -> bool:
    """Whether every licence in the expression is on the SPDX list (no LicenseRef)."""
    return "LicenseRef-" not in expression


@lru_cache(maxsize=4096)
def to_spdx(value: str) -> str:
    """The SPDX expression for a declared licence string (see the module's docstring)."""
    if service.connected():  # a layer worker: its scan's licence service has the tables
        with contextlib.suppress(service.Unavailable):
            return str(service.ask("to_spdx", value))
    text = " ".join(value.split())[:_MAX_VALUE]
    if not text:
        return license_ref("unknown")
    if expr := spdx_license_expression(text):
        return expr
    if expr := _name(text):
        return expr
    if _OR_LATER.search(text):
        # "GPL v2 or later" is a licence name, not "GPL v2" OR "later"
        plus = _OR_LATER.sub("+", text)
        return _name(plus) or _name(plus.replace(" ", "")) or license_ref(text)
    if expr := _structured(text):
        return expr
    return license_ref(text)


def _name(text: str) -> str | None:
    """One licence name: Debian's short names, then LicenseLynx's table."""
    if mapped := _DEBIAN_NAMES.get(text.lower()):
        return mapped
    if m := _DEBIAN_VERSIONED.fullmatch(text):
        base = f"{m['name'].upper()}-{m['major']}.{m['minor'] or 0}"
        if m["niv"]:
            base += "-no-invariants"
        return spdx_license_expression(base + ("-or-later" if m["plus"] else "-only"))
    from licenselynx.licenselynx import LicenseLynx

    try:
        found = LicenseLynx.map(text)
    except Exception:  # a data problem in the table must not stop a scan
        return None
    if found is not None:
        return spdx_license_expression(found.id)
    # Python's classifiers: "GNU Lesser General Public License v2 or later (LGPLv2+)"
    if (m := _ABBREVIATION.fullmatch(text)) and m[1] != text:
        return _name(m[1])
    return None


def _leaf(name: str) -> str:
    mapped = spdx_license_expression(name) or _name(name) or license_ref(name)
    return f"({mapped})" if " " in mapped else mapped


@cache
def _exceptions() -> dict[str, list[str]]:
    """SPDX exception ids by their name without version: ``bison`` → Bison-exception-…"""
    by_name: dict[str, list[str]] = {}
    for sym in _spdx().known_symbols.values():
        key = str(sym.key)
        if getattr(sym, "is_exception", False) and not key.startswith("LicenseRef-"):
            by_name.setdefault(_EXCEPTION_VERSION.sub("", key.lower()), []).append(key)
    return by_name


def _exception(name: str, licence: str) -> str:
    """Debian's ``GPL-3+ with Bison exception``: the SPDX exception of that name whose
    version is the licence's (Autoconf-exception-3.0 for the GPL-3), else its latest."""
    words = name.lower().replace(" ", "-")
    words = words if words.endswith("exception") or words.endswith("note") else f"{words}-exception"
    candidates = _exceptions().get(words) or _exceptions().get(words.removesuffix("-exception"), [])
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        return name
    major = re.search(r"-(\d)\.", licence)
    same = [c for c in candidates if major and f"-{major[1]}." in c]
    # else the latest: Debian's "GPL-3+ with Bison exception" is Bison-exception-2.2
    return same[0] if len(same) == 1 else max(candidates, key=_version_key)


def _version_key(exception_id: str) -> tuple[int, ...]:
    found = _EXCEPTION_VERSION.search(exception_id)
    return tuple(int(x) for x in found[0][1:].split(".") if x.isdigit()) if found else ()


def _render(node: Any) -> str:
    """The expression with every licence name mapped on its own."""
    from license_expression import LicenseSymbol, LicenseWithExceptionSymbol

    if isinstance(node, LicenseWithExceptionSymbol):
        lic, exc = str(node.license_symbol.key), str(node.exception_symbol.key)
        leaf = _leaf(lic)
        with_exc = spdx_license_expression(f"{leaf} WITH {_exception(exc, leaf)}")
        return with_exc or license_ref(f"{lic} with {exc}")
    if isinstance(node, LicenseSymbol):
        return _leaf(str(node.key))
    op = " AND " if isinstance(node, _plain().AND) else " OR "
    return "(" + op.join(_render(arg) for arg in node.args) + ")"


def _structured(text: str) -> str | None:
    """An expression of licence names: each name mapped alone; an unknown one becomes a
    LicenseRef so that the known rest still counts."""
    text = re.sub(r"\band/or\b", "or", text, flags=re.IGNORECASE)
    if _COMMA_OPERATOR.search(text):
        text = "(" + _COMMA_OPERATOR.sub(lambda m: f") {m[1]} (", text) + ")"
    try:
        parsed = _plain().parse(text)
    except Exception:
        return None
    if parsed is None or type(parsed).__name__ == "LicenseSymbol":
        return None  # a single unknown name: no structure to use
    return spdx_license_expression(_render(parsed))


Tree = Any  # str (a licence id, "X WITH exception" kept whole) | ("AND"|"OR", [Tree, ...])


@lru_cache(maxsize=4096)
def parse_tree(expression: str) -> Tree:
    """An SPDX expression as nested ``(operator, operands)`` tuples over licence ids; an
    id with an exception stays one leaf (its licence id is what categories know)."""
    from license_expression import LicenseSymbol, LicenseWithExceptionSymbol

    def walk(node: Any) -> Tree:
        if isinstance(node, LicenseWithExceptionSymbol):
            return str(node.license_symbol.key)
        if isinstance(node, LicenseSymbol):
            return str(node.key)
        op = "AND" if isinstance(node, _spdx().AND) else "OR"
        return (op, tuple(walk(a) for a in node.args))

    try:
        parsed = _spdx().parse(expression, validate=False)
    except Exception:
        return expression
    return walk(parsed) if parsed is not None else expression
