"""The per-layer analysis cache: SQLite under the cache directory.

Keyed by the layer's diff-id plus every analyzer's name and version plus the
options that change results, so a rescan — or another image built on the same
base layers — reuses the work, and a new analyzer version invalidates it.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
import zlib
from collections.abc import Sequence
from pathlib import Path

from hullscan.analyzer import Analyzer
from hullscan.layers import LayerAnalysis

SCHEMA_VERSION = 2


def default_cache_dir() -> Path:
    if env := os.environ.get("HULLSCAN_CACHE_DIR"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "hullscan"


def database_path(cache_dir: Path | None = None) -> Path:
    """Where the vulnerability database lives: ``<cache dir>/db/osv.sqlite``."""
    return (cache_dir or default_cache_dir()) / "db" / "osv.sqlite"


def cache_key(diff_id: str, analyzers: Sequence[Analyzer]) -> str:
    """What a layer's analysis depends on: its content and each analyzer's name, version,
    size bound and options (``cache_token``: user rules, for one)."""
    spec = {
        "schema": SCHEMA_VERSION,
        "diff_id": diff_id,
        "analyzers": sorted(f"{a.name}:{a.version}:{a.max_size}:{a.cache_token}"
                            for a in analyzers),
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


class LayerCache:
    """Get and put ``LayerAnalysis`` values; a broken entry counts as a miss."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "layers.sqlite"
        self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS layer_analysis ("
                         "key TEXT PRIMARY KEY, diff_id TEXT, created REAL, data BLOB)")

    def get(self, key: str) -> LayerAnalysis | None:
        row = self._db.execute("SELECT data FROM layer_analysis WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        try:
            return LayerAnalysis.from_dict(json.loads(zlib.decompress(row[0])))
        except (zlib.error, ValueError, KeyError, TypeError):
            self._db.execute("DELETE FROM layer_analysis WHERE key = ?", (key,))
            return None

    def put(self, key: str, analysis: LayerAnalysis) -> None:
        data = zlib.compress(json.dumps(analysis.to_dict(), separators=(",", ":")).encode(
            "utf-8", "surrogateescape"), 3)
        self._db.execute("INSERT OR REPLACE INTO layer_analysis VALUES (?, ?, ?, ?)",
                         (key, analysis.diff_id, time.time(), data))

    def close(self) -> None:
        self._db.close()
