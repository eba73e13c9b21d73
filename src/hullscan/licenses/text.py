"""Licence texts → SPDX ids, only when the match is confident.

licenseclassifier (a port of Go's licensecheck) reports the licences whose text makes
up at least 75 % of the input, else nothing: a README that mentions the MIT licence
is not classified as MIT. Its templates cover the SPDX list.

The classifier is costly to start in every process: loading it takes about 0.1 s, and
its matcher builds the states it needs as texts arrive (10-50 ms for each new kind of
text, about 3 ms once they are built). A scan's layer workers ask its one licence
service process instead (``licenses.service``): on the largest corpus image, two workers
spent 0.44 CPU-s classifying 28 texts that one process classifies in 0.22 s.
"""

from __future__ import annotations

import contextlib
import threading
from functools import lru_cache

from hullscan.licenses import service

#: texts beyond this are not classified: the GPL-3.0 is 35 KiB, and a 68 KiB file costs 0.2 s
MAX_TEXT = 64 * 1024

#: the classifier's matcher memoizes states in plain dicts: one text at a time (a server
#: runs scans on threads, each classifying here when it reads layers in-process)
_lock = threading.Lock()


@lru_cache(maxsize=128)
def classify(text: str) -> tuple[str, ...]:
    """The distinct SPDX ids (normalized) of the licence texts found in ``text``, in order of
    appearance; empty unless they cover most of it. Memoized: the same texts recur
    (every Apache-licensed jar carries the same LICENSE)."""
    if not text.strip() or len(text) > MAX_TEXT:
        return ()
    if service.connected():
        with contextlib.suppress(service.Unavailable):
            return tuple(service.ask("classify", text))
    return _classify_here(text)


def _classify_here(text: str) -> tuple[str, ...]:
    from licenseclassifier import identify_license  # ~0.1 s to load its templates

    from hullscan.licenses.spdx import spdx_license_expression

    with _lock:
        matches = identify_license(text)
    found = (spdx_license_expression(m.id) for m in matches)
    return tuple(dict.fromkeys(i for i in found if i))
