"""Maven: a port of Maven 3.9's org.apache.maven.artifact.versioning.ComparableVersion.

Every string is a Maven version. It is lower-cased and split into items at ``.``, at
``-``, and where digits meet non-digits; ``-`` and each digit/letter change open a
nested list, and ``.X`` before a qualifier counts as ``-X``. Qualifiers order
``alpha (a1) < beta (b1) < milestone (m1) < rc = cr < snapshot < "" = ga = final =
release < sp < anything else (alphabetically)``; numbers beat qualifiers and lists;
trailing zeros and release qualifiers are dropped (1.0.RELEASE == 1).

Faithful to the Java down to its corners: numbers of up to 9, 18 and more digits (after
stripping leading zeros) are three types and a longer type always wins (so a run of
ten zeros outranks 5), and strings compare by UTF-16 code unit.

ComparableVersion only ever nests a new list as the last item of the current one, so a
parsed version is a chain of levels and comparing two of them is a loop, never a deep
recursion, whatever the input.
"""

from __future__ import annotations

from ._base import CmpKey, cached_parse

__all__ = ["MavenVersion", "compare", "key", "parse"]

# An item: (0, size class, value, is null) for numbers, (1, rank, text, is null) for
# qualifiers. Size classes 0/1/2 are Java's IntItem/LongItem/BigIntegerItem; "null" is
# Item.isNull(), what normalize() drops from the end of a list.
_Item = tuple[int, int, object, bool]
# levels[k] holds the plain items of the k-th nested list; levels[k + 1], when present,
# is the list that ends levels[k].
MavenVersion = tuple[tuple[_Item, ...], ...]

_QUALIFIERS = {"alpha": 0, "beta": 1, "milestone": 2, "rc": 3, "snapshot": 4, "": 5, "sp": 6}
_RELEASE = 5
_UNKNOWN = 7
_ALIASES = {"ga": "", "final": "", "release": "", "cr": "rc"}
_SHORT = {"a": "alpha", "b": "beta", "m": "milestone"}


def _is_digit(c: str) -> bool:
    # Character.isDigit(char): Unicode Nd, but Java walks UTF-16 units and a surrogate
    # half is never a digit.
    return c.isdecimal() and ord(c) <= 0xFFFF


def _utf16_order(text: str) -> str:
    """A string whose code point order is ``text``'s Java (UTF-16 unit) order."""
    if text.isascii() or max(text) <= "\uffff":
        return text
    out = []
    for c in text:
        cp = ord(c)
        if cp > 0xFFFF:
            cp -= 0x10000
            out.append(chr(0xD800 + (cp >> 10)) + chr(0xDC00 + (cp & 0x3FF)))
        else:
            out.append(c)
    return "".join(out)


def _number(buf: str) -> _Item:
    stripped = buf.lstrip("0") or buf  # stripLeadingZeroes() keeps an all-zero string
    digits = "".join(str(int(c)) for c in stripped) if not stripped.isascii() else stripped
    value_digits = digits.lstrip("0")
    if len(stripped) <= 9:
        return (0, 0, int(value_digits or "0"), not value_digits)
    if len(stripped) <= 18:
        return (0, 1, int(value_digits or "0"), not value_digits)
    # BigInteger: compared by value; (length, digits) avoids int()'s 4300-digit limit.
    return (0, 2, (len(value_digits), value_digits), not value_digits)


def _qualifier(buf: str, followed_by_digit: bool) -> _Item:
    if followed_by_digit and len(buf) == 1:
        buf = _SHORT.get(buf, buf)
    buf = _ALIASES.get(buf, buf)
    rank = _QUALIFIERS.get(buf, _UNKNOWN)
    return (1, rank, _utf16_order(buf) if rank == _UNKNOWN else "", rank == _RELEASE)


def _item(is_digit: bool, buf: str) -> _Item:
    return _number(buf) if is_digit else _qualifier(buf, False)


@cached_parse
def parse(version: str) -> MavenVersion:
    """ComparableVersion.parseVersion(), then normalize() of every list, as levels."""
    text = version.lower()
    levels: list[list[_Item]] = [[]]
    cur = levels[0]

    def nest() -> list[_Item]:
        levels.append([])
        return levels[-1]

    is_digit = False
    start = 0
    for i, c in enumerate(text):
        if c == "." or c == "-":
            cur.append((0, 0, 0, True) if i == start else _item(is_digit, text[start:i]))
            start = i + 1
            if c == "-":
                cur = nest()
        elif _is_digit(c):
            if not is_digit and i > start:
                if cur:  # 1.0.0.X1 < 1.0.0-X2: treat .X as -X
                    cur = nest()
                cur.append(_qualifier(text[start:i], True))
                start = i
                cur = nest()
            is_digit = True
        else:
            if is_digit and i > start:
                cur.append(_number(text[start:i]))
                start = i
                cur = nest()
            is_digit = False
    if len(text) > start:
        if not is_digit and cur:
            cur = nest()
        cur.append(_item(is_digit, text[start:]))

    # normalize(), innermost list first: drop trailing null items (0, "", empty lists).
    # A list's only list item is its last, so "trailing" means before that list, if any.
    for k in range(len(levels) - 1, -1, -1):
        items = levels[k]
        while items and items[-1][3]:
            items.pop()
        if k and not items and k == len(levels) - 1:
            levels.pop()  # an empty list is itself null and leaves its parent
    return tuple(tuple(level) for level in levels)


def _vs_null(item: _Item) -> int:
    """Item.compareTo(null): how the item compares with padding."""
    if item[0] == 0:
        return 0 if item[3] else 1
    rank = item[1]
    return (rank > _RELEASE) - (rank < _RELEASE)


def _list_vs_null(v: MavenVersion, k: int) -> int:
    """ListItem.compareTo(null) for level k: its items in turn, then its own sublist."""
    while True:
        for item in v[k]:
            r = _vs_null(item)
            if r:
                return r
        k += 1
        if k >= len(v):
            return 0


def _items(x: _Item, y: _Item) -> int:
    if x[0] != y[0]:
        return 1 if x[0] == 0 else -1  # a number beats a qualifier
    if x[0] == 0:
        if x[1] != y[1]:
            return 1 if x[1] > y[1] else -1
    elif x[1] != y[1]:
        return 1 if x[1] > y[1] else -1
    xv, yv = x[2], y[2]  # same kind and class: both ints, both (length, digits) or both str
    return int(xv > yv) - int(xv < yv)  # type: ignore[operator]


def compare_parsed(a: MavenVersion, b: MavenVersion) -> int:
    """ListItem.compareTo(ListItem) on the two root lists."""
    ka = kb = 0
    while True:
        la, lb = a[ka], b[kb]
        sub_a, sub_b = ka + 1 < len(a), kb + 1 < len(b)
        na, nb = len(la), len(lb)
        descend = False
        for i in range(max(na + sub_a, nb + sub_b)):
            x_list, y_list = sub_a and i == na, sub_b and i == nb
            x_none, y_none = i >= na + sub_a, i >= nb + sub_b
            if x_list and y_list:
                descend = True  # both lists end here with a sublist: compare those
                break
            if x_list:
                if y_none:
                    return _list_vs_null(a, ka + 1)
                return -1 if lb[i][0] == 0 else 1  # a list loses to a number, beats a string
            if y_list:
                if x_none:
                    return -_list_vs_null(b, kb + 1)
                return 1 if la[i][0] == 0 else -1
            if x_none:
                r = -_vs_null(lb[i])
            elif y_none:
                r = _vs_null(la[i])
            else:
                r = _items(la[i], lb[i])
            if r:
                return r
        if not descend:
            return 0
        ka, kb = ka + 1, kb + 1


def compare(a: str, b: str) -> int:
    return compare_parsed(parse(a), parse(b))


def key(version: str) -> CmpKey[MavenVersion]:
    """A sort key for Maven versions (the order is a comparison, not a tuple)."""
    return CmpKey(parse(version), compare_parsed)
