"""Which digest each tag pointed to when hullscan last saw it, kept on this machine
(``<cache>/supplychain/tags.sqlite``) so a tag that moved is noticed: a re-pushed
``:1.2.3`` is either a rebuild nobody announced or somebody else's image."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tags (
    reference TEXT PRIMARY KEY,   -- HOST/REPO:TAG, or oci:ABSPATH:TAG
    digest TEXT NOT NULL,         -- manifest digest last seen
    first_seen REAL NOT NULL,     -- when that digest was first seen under this tag
    last_seen REAL NOT NULL,
    previous TEXT                 -- the digest before the last move
)
"""


@dataclass(frozen=True)
class TagMove:
    reference: str
    previous: str
    current: str
    previous_first_seen: float
    previous_last_seen: float


class TagHistory:
    def __init__(self, cache_dir: Path) -> None:
        path = cache_dir / "supplychain" / "tags.sqlite"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, timeout=30)
        self.db.execute(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    def observe(self, reference: str, digest: str, now: float | None = None) -> TagMove | None:
        """Record ``reference → digest``; the move when it pointed elsewhere last time."""
        now = time.time() if now is None else now
        with self.db:
            row = self.db.execute(
                "SELECT digest, first_seen, last_seen FROM tags WHERE reference = ?", (reference,)
            ).fetchone()
            if row is None:
                self.db.execute(
                    "INSERT INTO tags VALUES (?, ?, ?, ?, NULL)", (reference, digest, now, now)
                )
                return None
            last_digest, first_seen, last_seen = row
            if last_digest == digest:
                self.db.execute(
                    "UPDATE tags SET last_seen = ? WHERE reference = ?", (now, reference)
                )
                return None
            self.db.execute(
                "UPDATE tags SET digest = ?, first_seen = ?, last_seen = ?, "
                "previous = ? WHERE reference = ?",
                (digest, now, now, last_digest, reference),
            )
            return TagMove(reference, last_digest, digest, first_seen, last_seen)
