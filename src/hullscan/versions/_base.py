"""What every version scheme shares: the two errors, a bounded parse cache, and a sort key
for schemes whose order is a comparison function rather than a tuple."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = [
    "CmpKey",
    "InvalidVersion",
    "UnsupportedEcosystem",
    "cached_parse",
    "sign",
    "utf8",
]

T = TypeVar("T")

# Strings up to this length are memoized: real versions are short, and a hostile
# package database must not be able to pin megabytes of junk in the cache.
_CACHEABLE_LENGTH = 256
_CACHE_SIZE = 1 << 16


class UnsupportedEcosystem(ValueError):
    """The ecosystem name is not one hullscan knows how to order versions for."""


class InvalidVersion(ValueError):
    """The string is not a version under the ecosystem's own rules."""


def cached_parse(parse: Callable[[str], T]) -> Callable[[str], T]:
    """Memoize a parse function for ordinary-length strings; failures are not cached."""
    cached = functools.lru_cache(maxsize=_CACHE_SIZE)(parse)

    @functools.wraps(parse)
    def wrapper(version: str) -> T:
        if len(version) <= _CACHEABLE_LENGTH:
            return cached(version)
        return parse(version)

    wrapper.cache_info = cached.cache_info  # type: ignore[attr-defined]
    wrapper.cache_clear = cached.cache_clear  # type: ignore[attr-defined]
    return wrapper


def sign(x: int) -> int:
    return (x > 0) - (x < 0)


def utf8(version: str) -> bytes:
    """The bytes a C implementation would see; NUL and lone surrogates cannot be versions."""
    if "\0" in version:
        raise InvalidVersion(f"NUL character in version {version!r}")
    try:
        return version.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidVersion(f"version {version!r} is not valid Unicode") from None


class CmpKey(Generic[T]):
    """A sort key built from a parsed version and a three-way comparison of parsed versions."""

    __slots__ = ("_cmp", "parsed")

    def __init__(self, parsed: T, cmp: Callable[[T, T], int]) -> None:
        self.parsed = parsed
        self._cmp = cmp

    def _other(self, other: object) -> T:
        if not isinstance(other, CmpKey) or other._cmp is not self._cmp:
            raise TypeError("cannot compare version keys of different schemes")
        parsed: T = other.parsed
        return parsed

    def __lt__(self, other: object) -> bool:
        return self._cmp(self.parsed, self._other(other)) < 0

    def __le__(self, other: object) -> bool:
        return self._cmp(self.parsed, self._other(other)) <= 0

    def __gt__(self, other: object) -> bool:
        return self._cmp(self.parsed, self._other(other)) > 0

    def __ge__(self, other: object) -> bool:
        return self._cmp(self.parsed, self._other(other)) >= 0

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CmpKey) or other._cmp is not self._cmp:
            return NotImplemented
        return self._cmp(self.parsed, other.parsed) == 0

    # Equal versions may have different spellings, so no hash consistent with __eq__ exists
    # short of a canonical form; keys are for sorting, not for sets.
    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"CmpKey({self.parsed!r})"
