"""Which of a fixed set of keywords occur in some bytes, ignoring ASCII case.

The secret engine's prefilter: most files hold none of the rules' keywords, and for
those this answer is all the work done (their bytes are never even decoded). Hyperscan
(Intel's vectorised multi-pattern matcher, through its PyPI bindings) scans at GB/s and,
told to report each keyword once, calls back at most once per keyword; without it
(a platform it has no wheel for), pyahocorasick walks the lowercased text, reporting
every occurrence, an order of magnitude slower on keyword-dense files.

Keywords are matched on the raw bytes with ASCII case folding; a keyword with non-ASCII
letters is looked for in the decoded, lowercased text instead (rules.yaml has none).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

try:
    import hyperscan
except ImportError:  # pragma: no cover - platforms without a hyperscan wheel
    hyperscan = None  # type: ignore[assignment]

import ahocorasick  # type: ignore[import-not-found, unused-ignore]


def _literal(keyword: bytes) -> bytes:
    """A Hyperscan pattern matching ``keyword`` literally."""
    return b"".join(bytes([c]) if chr(c).isalnum() and c < 128 else b"\\x%02x" % c for c in keyword)


class KeywordIndex:
    """``find(data)``: the indices (into ``keywords``) of the keywords found in ``data``."""

    def __init__(self, keywords: Sequence[str], use_hyperscan: bool = True) -> None:
        self.keywords = tuple(keywords)
        self._ascii = [i for i, k in enumerate(self.keywords) if k.isascii()]
        #: non-ASCII keywords: looked for in the decoded text
        self._other = [(i, k.lower()) for i, k in enumerate(self.keywords) if not k.isascii()]
        self._hs = use_hyperscan and hyperscan is not None and bool(self._ascii)
        self._build()

    def _build(self) -> None:
        self._db: Any = None
        self._scratch: Any = None
        self._scratch_pid = 0
        self._automaton: Any = None
        if not self._ascii:
            return
        if self._hs:
            self._db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
            self._db.compile(
                expressions=[_literal(self.keywords[i].encode()) for i in self._ascii],
                ids=self._ascii,
                elements=len(self._ascii),
                flags=hyperscan.HS_FLAG_CASELESS | hyperscan.HS_FLAG_SINGLEMATCH,
            )
        else:
            self._automaton = ahocorasick.Automaton()
            for i in self._ascii:
                self._automaton.add_word(self.keywords[i].lower(), i)
            self._automaton.make_automaton()

    # compiled matchers do not pickle (analyzers go to worker processes): rebuild there
    def __getstate__(self) -> dict[str, Any]:
        return {"keywords": self.keywords, "hs": self._hs}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["keywords"], state["hs"])  # type: ignore[misc]

    def find(self, data: bytes, text: str | None = None) -> set[int]:
        """``text``, when given, is ``data`` decoded (it saves decoding twice)."""
        found: set[int] = set()
        if self._db is not None:
            if self._scratch is None or self._scratch_pid != os.getpid():
                self._scratch, self._scratch_pid = hyperscan.Scratch(self._db), os.getpid()

            def hit(idx: int, start: int, end: int, flags: int, ctx: object) -> None:
                found.add(idx)

            self._db.scan(data, match_event_handler=hit, scratch=self._scratch)
        elif self._automaton is not None:
            lowered = (text if text is not None else data.decode("utf-8", "replace")).lower()
            found.update(i for _, i in self._automaton.iter(lowered))
        if self._other:
            lowered = (text if text is not None else data.decode("utf-8", "replace")).lower()
            found.update(i for i, k in self._other if k in lowered)
        return found
