"""Go: module versions as golang.org/x/mod/semver orders them, and Go toolchain versions.

Module versions are ``vMAJOR[.MINOR[.PATCH[-PRERELEASE][+BUILD]]]``; ``v1`` and ``v1.2``
mean v1.0.0 and v1.2.0, build metadata (including ``+incompatible``) is ignored, and a
pseudo-version ``v1.2.3-0.20200101000000-abcdef123456`` is a prerelease, below v1.2.3.
OSV writes Go versions without the ``v``; both spellings are accepted.

Toolchain (standard library) versions come as ``go1.21.0``, ``go1.21rc2``, ``go1.19``,
``1.21rc2``: they are mapped as the Go vulnerability database maps them
(golang.org/x/vuln's GoTagToSemver): go1.19 -> v1.19.0, go1.21rc2 -> v1.21.0-rc.2,
go1.9beta2 -> v1.9.0-beta.2, go1 -> v1.0.0.

Strings x/mod/semver calls invalid raise InvalidVersion (its Compare sorts them first).
"""

from __future__ import annotations

import re

from ._base import InvalidVersion, cached_parse, sign

__all__ = ["GoKey", "compare", "key", "to_semver"]

_Number = tuple[int, str]
_Ident = tuple[int, object]
GoKey = tuple[_Number, _Number, _Number, int, tuple[_Ident, ...]]

_NUM = r"(0|[1-9][0-9]*)"
_CORE = re.compile(rf"v{_NUM}(?:\.{_NUM}(?:\.{_NUM})?)?")
_IDENT = re.compile(r"[0-9A-Za-z-]+")
# x/vuln's tag pattern, with the "go" prefix optional (OSV and SBOMs often drop it).
_TOOLCHAIN = re.compile(r"(?:go)?([0-9]+\.[0-9]+)(\.[0-9]+)?(?:(beta|rc|-pre)([0-9]+))?")


def to_semver(version: str) -> str:
    """The x/mod/semver spelling of a module, OSV or toolchain version string."""
    if version.startswith("v"):
        return version
    if version.startswith("go"):
        # A binary's build info may say "go1.22.0 X:boringcrypto"; the tag is the first field.
        version = version.split(maxsplit=1)[0] if version.strip() else version
    if version in ("go1", "1"):
        return "v1.0.0"
    m = _TOOLCHAIN.fullmatch(version)
    if m is not None and (version.startswith("go") or m.group(3)):
        out = "v" + m.group(1) + (m.group(2) or ".0")
        if m.group(3):
            out += ("" if m.group(3).startswith("-") else "-") + m.group(3) + "." + m.group(4)
        return out
    if version.startswith("go"):
        return version  # not a release tag: left to fail below
    return "v" + version


def _number(digits: str) -> _Number:
    return (len(digits), digits)


@cached_parse
def key(version: str) -> GoKey:
    """A sort key matching golang.org/x/mod/semver.Compare for valid versions."""
    text = to_semver(version)
    text, plus, build = text.partition("+")
    if plus and not all(_IDENT.fullmatch(i) for i in build.split(".")):
        raise InvalidVersion(f"invalid Go version {version!r}: bad build metadata")
    core, hyphen, pre = text.partition("-")
    m = _CORE.fullmatch(core)
    if m is None:
        raise InvalidVersion(f"invalid Go version {version!r}")
    if m.group(3) is None and (hyphen or plus):
        # x/mod/semver: the shorthands v1 and v1.2 take no prerelease or build suffix.
        raise InvalidVersion(f"invalid Go version {version!r}: shorthand with a suffix")
    idents: list[_Ident] = []
    if hyphen:
        for ident in pre.split("."):
            if not _IDENT.fullmatch(ident):
                raise InvalidVersion(f"invalid Go version {version!r}: bad prerelease")
            if ident.isdigit():
                if len(ident) > 1 and ident[0] == "0":
                    raise InvalidVersion(f"invalid Go version {version!r}: leading zero")
                idents.append((0, _number(ident)))
            else:
                idents.append((1, ident))
    return (
        _number(m.group(1)),
        _number(m.group(2) or "0"),
        _number(m.group(3) or "0"),
        0 if idents else 1,
        tuple(idents),
    )


def compare(a: str, b: str) -> int:
    ka, kb = key(a), key(b)
    return sign((ka > kb) - (ka < kb))
