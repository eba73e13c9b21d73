"""Path handling that never lets an image escape its root."""

from __future__ import annotations

import posixpath


class UnsafePath(ValueError):
    """A path that climbs above the image root."""


def normalize(name: str) -> str:
    """A tar member name as a clean path relative to the root ("" is the root).

    Leading ``/`` and ``./`` are dropped (layer tars use both); ``..`` that would
    climb above the root raises ``UnsafePath``.
    """
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise UnsafePath(name)
            parts.pop()
            continue
        parts.append(part)
    return "/".join(parts)


def listed_path(raw: str) -> str | None:
    """A path a package database lists, as an image path; None when it cannot name a file
    of the image (empty, the root, above the root, or holding a NUL no tar name can)."""
    if "\x00" in raw:
        return None
    try:
        return normalize(raw) or None
    except UnsafePath:
        return None


def resolve_link_target(link_path: str, target: str) -> list[str]:
    """The components a symlink at ``link_path`` points to, clamped inside the root.

    Like a chroot: an absolute target starts at the image root and ``..`` never
    goes above it.
    """
    base = [] if target.startswith("/") else posixpath.dirname(link_path).split("/")
    parts = [p for p in base if p]
    for part in target.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return parts
