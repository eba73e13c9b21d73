"""The per-layer analysis cache: SQLite under the cache directory.

Keyed by the layer's diff-id plus every analyzer's name and version plus the
options that change results, so a rescan — or another image built on the same
base layers — reuses the work, and a new analyzer version invalidates it.

Beside it, each image's inventory (OS, packages, warnings), keyed by the ordered keys
of its layers and hullscan's version: a rescan that needs only the inventory (``sbom``,
``scan --scanners vuln``) neither decodes the layers' analyses nor merges their files.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import sqlite3
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from hullscan.analyzer import Analyzer
from hullscan.atomicfile import write_error
from hullscan.cachedir import database_path, default_cache_dir
from hullscan.errors import HullscanError
from hullscan.layers import LayerAnalysis
from hullscan.model import OSInfo, Package

SCHEMA_VERSION = 2
_T = TypeVar("_T")
#: bump when the inventory built from the same analyses changes (``pipeline.build_inventory``)
INVENTORY_VERSION = 1

__all__ = [
    "CachedInventory",
    "LayerCache",
    "cache_key",
    "database_path",
    "default_cache_dir",
    "inventory_key",
]


def cache_key(content_id: str, analyzers: Sequence[Analyzer]) -> str:
    """What a layer's analysis depends on: its content (``LayerSource.cache_id``: a
    verified diff-id or blob digest) and each analyzer's name, version, size bound and
    options (``cache_token``: user rules, for one)."""
    spec = {
        "schema": SCHEMA_VERSION,
        "diff_id": content_id,
        "analyzers": sorted(
            f"{a.name}:{a.version}:{a.max_size}:{a.cache_token}" for a in analyzers
        ),
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def inventory_key(layer_keys: Sequence[str]) -> str:
    """What an image's inventory depends on: its layers' analyses, in order (their keys),
    and the code that builds an inventory from them."""
    from hullscan import __version__

    spec = {"inventory": INVENTORY_VERSION, "hullscan": __version__, "layers": list(layer_keys)}
    return hashlib.sha256(json.dumps(spec).encode()).hexdigest()


@dataclass(frozen=True)
class CachedInventory:
    """The part of an ``Inventory`` its layers decide (the image's own metadata and
    warnings are read afresh)."""

    os: OSInfo | None
    packages: tuple[Package, ...]
    warnings: tuple[str, ...]

    def encode(self) -> bytes:
        doc = {
            "os": self.os.to_dict() if self.os else None,
            "packages": [p.to_dict() for p in self.packages],
            "warnings": list(self.warnings),
        }
        return _compress(doc)

    @classmethod
    def decode(cls, data: bytes) -> CachedInventory:
        doc = json.loads(zlib.decompress(data))
        return cls(
            OSInfo.from_dict(doc["os"]) if doc["os"] is not None else None,
            tuple(Package.from_dict(p) for p in doc["packages"]),
            tuple(str(w) for w in doc["warnings"]),
        )


def _compress(doc: object) -> bytes:
    return zlib.compress(
        json.dumps(doc, separators=(",", ":")).encode("utf-8", "surrogateescape"), 3
    )


def _decode(data: bytes) -> LayerAnalysis:
    return LayerAnalysis.from_dict(json.loads(zlib.decompress(data)))


#: what a damaged entry raises when decoded
_DAMAGED = (zlib.error, ValueError, KeyError, TypeError, AttributeError)


class LayerCache:
    """Get and put ``LayerAnalysis`` values; a broken entry counts as a miss.

    SQLite in WAL mode: a put is one transaction, so a scan killed while writing leaves
    the entry whole or absent; a full disk is a ``HullscanError`` and rolls the put back.
    """

    def __init__(self, directory: Path) -> None:
        self.path = directory / "layers.sqlite"
        self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS layer_analysis ("
                "key TEXT PRIMARY KEY, diff_id TEXT, created REAL, data BLOB)"
            )
            db.execute(
                "CREATE TABLE IF NOT EXISTS inventory ("
                "key TEXT PRIMARY KEY, created REAL, data BLOB)"
            )
            return db
        except sqlite3.DatabaseError as e:
            raise self._error(e) from None
        except OSError as e:
            raise write_error(self.path, e) from None

    def _error(self, e: sqlite3.Error) -> HullscanError:
        if isinstance(e, sqlite3.OperationalError) and "full" in str(e):
            return write_error(self.path, OSError(errno.ENOSPC, str(e)))
        return HullscanError(f"layer cache {self.path}: {e} (hullscan cache verify repairs it)")

    def get(self, key: str) -> LayerAnalysis | None:
        return self._get("layer_analysis", key, _decode)

    def put(self, key: str, analysis: LayerAnalysis) -> None:
        self._put(
            "INSERT OR REPLACE INTO layer_analysis VALUES (?, ?, ?, ?)",
            (key, analysis.diff_id, time.time(), _compress(analysis.to_dict())),
        )

    def get_inventory(self, key: str) -> CachedInventory | None:
        return self._get("inventory", key, CachedInventory.decode)

    def put_inventory(self, key: str, inventory: CachedInventory) -> None:
        self._put(
            "INSERT OR REPLACE INTO inventory VALUES (?, ?, ?)",
            (key, time.time(), inventory.encode()),
        )

    def _get(self, table: str, key: str, decode: Callable[[bytes], _T]) -> _T | None:
        """The entry of ``table`` (one of this module's two, never a caller's text) at ``key``,
        decoded; a damaged one is dropped and counts as a miss."""
        try:
            row = self._db.execute(f"SELECT data FROM {table} WHERE key = ?", (key,)).fetchone()
        except sqlite3.DatabaseError as e:
            raise self._error(e) from None
        if row is None:
            return None
        try:
            return decode(row[0])
        except _DAMAGED:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute(f"DELETE FROM {table} WHERE key = ?", (key,))
            return None

    def _put(self, sql: str, row: tuple[object, ...]) -> None:
        try:
            self._db.execute(sql, row)
        except sqlite3.DatabaseError as e:
            raise self._error(e) from None

    def verify(self) -> tuple[int, int, list[str]]:
        """Decode every entry and drop those that do not decode; (layer analyses checked,
        inventories checked, what was dropped). A database SQLite itself finds corrupt is
        rebuilt empty (a cache holds nothing that cannot be computed again)."""
        try:
            ok = self._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            rows = self._db.execute("SELECT key, data FROM layer_analysis").fetchall() if ok else []
            inventories = (
                self._db.execute("SELECT key, data FROM inventory").fetchall() if ok else []
            )
        except sqlite3.DatabaseError:
            ok, rows, inventories = False, [], []
        if not ok:
            self._db.close()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            self._db = self._open()
            return 0, 0, ["(the whole database: SQLite found it corrupt)"]
        dropped, bad_inventories = [], []
        for key, data in rows:
            try:
                _decode(data)
            except _DAMAGED:
                dropped.append(key)
        for key, data in inventories:
            try:
                CachedInventory.decode(data)
            except _DAMAGED:
                bad_inventories.append(key)
        with contextlib.suppress(sqlite3.Error):
            self._db.executemany(
                "DELETE FROM layer_analysis WHERE key = ?", [(k,) for k in dropped]
            )
            self._db.executemany(
                "DELETE FROM inventory WHERE key = ?", [(k,) for k in bad_inventories]
            )
        return (
            len(rows),
            len(inventories),
            [f"layer analysis {k}" for k in dropped] + [f"inventory {k}" for k in bad_inventories],
        )

    def close(self) -> None:
        self._db.close()
