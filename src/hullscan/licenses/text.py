"""Licence texts → SPDX ids, only when the match is confident.

licenseclassifier (a port of Go's licensecheck) reports the licences whose text makes
up at least 75 % of the input, else nothing: a README that mentions the MIT licence
is not classified as MIT. Its templates cover the SPDX list.
"""

from __future__ import annotations

from functools import lru_cache

#: texts beyond this are not classified: the GPL-3.0 is 35 KiB, and a 68 KiB file costs 0.2 s
MAX_TEXT = 64 * 1024


@lru_cache(maxsize=128)
def classify(text: str) -> tuple[str, ...]:
    """The distinct SPDX ids (normalized) of the licence texts found in ``text``, in order of
    appearance; empty unless they cover most of it. Memoized: the same texts recur
    (every Apache-licensed jar carries the same LICENSE)."""
    if not text.strip() or len(text) > MAX_TEXT:
        return ()
    from licenseclassifier import identify_license  # ~0.15 s to load its templates

    from hullscan.licenses.spdx import spdx_license_expression

    found = (spdx_license_expression(m.id) for m in identify_license(text))
    return tuple(dict.fromkeys(i for i in found if i))
