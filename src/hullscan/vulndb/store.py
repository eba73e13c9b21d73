"""The advisory database: one SQLite file, built by ``build.py``, read by scans.

Schema (``SCHEMA_VERSION`` 2)::

    meta(key TEXT PRIMARY KEY, value TEXT)            -- JSON values, see DBMeta
    advisories(num INTEGER PRIMARY KEY, id TEXT, modified TEXT, withdrawn TEXT,
               data BLOB)                             -- zlib(OSV JSON), stored once,
                                                      -- with a preset dictionary (_ZDICT)
    affected(ecosystem, name_key, advisory)           -- WITHOUT ROWID, PK in that order
    not_affected(ecosystem, name_key, advisory)       -- database_specific.not_affected
    aliases(alias, advisory)                          -- every alias and upstream id
    ecosystems(ecosystem PRIMARY KEY, advisories, packages)
    kev(cve PRIMARY KEY, date_added, due_date, ransomware)  -- CISA KEV catalog
    epss(cve PRIMARY KEY, score, percentile)          -- FIRST EPSS; dates in meta

``ecosystem`` is the exact OSV string ("Debian:12", "Alpine:v3.11", "PyPI") and
``name_key`` is ``names.normalize_name(ecosystem, name)``; ``advisory`` is
``advisories.num``. A lookup is one primary-key range scan plus one rowid fetch per
advisory. An id can have several rows when records published under it speak about
disjoint ecosystems (see build.py); for any one ecosystem there is at most one, and
``get``/``by_alias`` combine them into one ``Advisory``.

The file is never rebuilt in place: an import builds a new one and swaps it in
(see build.py), so a reader opened with ``mode=ro`` keeps a consistent view for as
long as it holds the file open. (``db update`` finding nothing changed only
rewrites the ``checked_at`` meta row, in one journaled transaction.)
"""

from __future__ import annotations

import json
import sqlite3
import threading
import zlib
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from hullscan.errors import DatabaseError
from hullscan.model import Epss, Kev
from hullscan.vulndb.names import normalize_name
from hullscan.vulndb.osv import (
    MAX_RECORD_BYTES,
    Advisory,
    MalformedAdvisory,
    parse_advisory,
    timestamp_key,
)

#: bump when the schema or names.normalize_name changes: older files are rebuilt, not read
SCHEMA_VERSION = 2

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE advisories (
    num INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    modified TEXT,
    withdrawn TEXT,
    data BLOB NOT NULL
);
CREATE TABLE affected (
    ecosystem TEXT NOT NULL, name_key TEXT NOT NULL, advisory INTEGER NOT NULL,
    PRIMARY KEY (ecosystem, name_key, advisory)
) WITHOUT ROWID;
CREATE TABLE not_affected (
    ecosystem TEXT NOT NULL, name_key TEXT NOT NULL, advisory INTEGER NOT NULL,
    PRIMARY KEY (ecosystem, name_key, advisory)
) WITHOUT ROWID;
CREATE TABLE aliases (
    alias TEXT NOT NULL, advisory INTEGER NOT NULL,
    PRIMARY KEY (alias, advisory)
) WITHOUT ROWID;
CREATE TABLE ecosystems (
    ecosystem TEXT PRIMARY KEY, advisories INTEGER NOT NULL, packages INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE kev (
    cve TEXT PRIMARY KEY, date_added TEXT NOT NULL, due_date TEXT NOT NULL,
    ransomware TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE epss (cve TEXT PRIMARY KEY, score REAL NOT NULL, percentile REAL NOT NULL
) WITHOUT ROWID;
"""
#: created after the bulk insert (cheaper than maintaining it row by row)
ID_INDEX = "CREATE INDEX advisories_id ON advisories(id)"

_RESULT_CACHE_SIZE = 1024

# A preset zlib dictionary of OSV boilerplate: records are small (1-5 KB), so plain
# per-record zlib only halves them; priming it with the strings every record repeats
# halves them again at no cost in speed. Part of the file format: change it only
# together with SCHEMA_VERSION.
_ZDICT = "".join(
    [
        '"references":[{"type":"ADVISORY","url":"https://security-tracker.debian.org/tracker/CVE-',
        '{"type":"WEB","url":"https://github.com/',
        '{"type":"FIX","url":"https://github.com/',
        '{"type":"PACKAGE","url":"https://',
        '{"type":"REPORT","url":"https://github.com/',
        '{"type":"ARTICLE","url":"https://',
        "https://nvd.nist.gov/vuln/detail/CVE-20",
        "https://www.debian.org/security/",
        "https://lists.debian.org/debian-lts-announce/20",
        "https://ubuntu.com/security/",
        "https://security.alpinelinux.org/vuln/CVE-20",
        '"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]',
        '"ecosystem_specific":{"imports":[{"path":"',
        '"symbols":["',
        '"database_specific":{"source":"debian/changelog","release":"',
        '"database_specific":{"changelog_version":"',
        '"package":{"ecosystem":"Debian:12","name":"',
        '"purl":"pkg:deb/debian/',
        '?arch=source&distro=bookworm"}',
        '"package":{"ecosystem":"Ubuntu:22.04:LTS","name":"',
        '"purl":"pkg:deb/ubuntu/',
        '"package":{"ecosystem":"Alpine:v3.19","name":"',
        '"purl":"pkg:apk/alpine/',
        '"package":{"name":"',
        '"ecosystem":"PyPI","purl":"pkg:pypi/',
        '"package":{"ecosystem":"npm","name":"',
        '"purl":"pkg:npm/',
        '"package":{"ecosystem":"Maven","name":"',
        '"purl":"pkg:maven/',
        '"package":{"ecosystem":"crates.io","name":"',
        '"purl":"pkg:cargo/',
        '"package":{"ecosystem":"RubyGems","name":"',
        '"purl":"pkg:gem/',
        '"package":{"ecosystem":"Go","name":"',
        '"purl":"pkg:golang/',
        '"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"',
        '"ranges":[{"type":"GIT","repo":"https://github.com/',
        '"events":[{"introduced":"',
        '"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"',
        '"},{"last_affected":"',
        '"versions":["',
        '"details":"',
        '"summary":"',
        '"modified":"20',
        'T00:00:00Z","published":"20',
        '"withdrawn":"20',
        '"related":[],',
        '{"schema_version":"1.6.0","id":"',
        '"aliases":["CVE-20',
        '","GHSA-',
        '"affected":[{',
        ' fixed in Debian 12 (bookworm) source packages"',
        ' fixed in Alpine Linux packages"',
        '"not_affected":[{"ecosystem":"',
        '"credits":[{"name":"',
        '"database_specific":{"url":"https://pkg.go.dev/vuln/GO-20',
        '","review_status":"REVIEWED"}',
    ]
).encode()


def compress_record(raw: Any) -> bytes:
    """A decoded record as stored: compact ASCII JSON, zlib with the preset dictionary."""
    c = zlib.compressobj(6, zdict=_ZDICT)
    text = json.dumps(raw, separators=(",", ":")).encode()
    return c.compress(text) + c.flush()


def decompress_record(data: bytes) -> bytes:
    """The JSON text of a stored record, bounded like any record (the file may have
    been tampered with); ``MalformedAdvisory`` or ``zlib.error`` if it is not one."""
    d = zlib.decompressobj(zdict=_ZDICT)
    text = d.decompress(data, MAX_RECORD_BYTES + 1)
    if not d.eof or len(text) > MAX_RECORD_BYTES:
        raise MalformedAdvisory("stored record too large or truncated")
    return text


@dataclass(frozen=True)
class AffectedAdvisory(Advisory):
    """An advisory as returned for one package: every top-level field of the record,
    but ``affected`` holds only the entries for the (ecosystem, name) asked about."""


@dataclass(frozen=True)
class SourceInfo:
    """Where advisories came from: an all.zip, a directory, a JSON file or a URL."""

    label: str
    kind: str
    etag: str | None = None
    #: HTTP Last-Modified as sent by the server, or the local file's mtime (ISO 8601)
    last_modified: str | None = None
    imported_at: str | None = None
    records: int = 0
    skipped: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "etag": self.etag,
            "last_modified": self.last_modified,
            "imported_at": self.imported_at,
            "records": self.records,
            "skipped": self.skipped,
        }

    @classmethod
    def from_dict(cls, label: str, d: dict[str, Any]) -> SourceInfo:
        return cls(
            label=label,
            kind=str(d.get("kind", "")),
            etag=d.get("etag"),
            last_modified=d.get("last_modified"),
            imported_at=d.get("imported_at"),
            records=int(d.get("records", 0)),
            skipped=int(d.get("skipped", 0)),
        )


@dataclass(frozen=True)
class DBMeta:
    schema_version: int
    #: when this file was built (UTC, ISO 8601)
    built_at: str
    #: when ``db update`` last confirmed the data current (UTC, ISO 8601), if ever
    checked_at: str | None
    advisories: int
    ecosystems: dict[str, int]
    sources: dict[str, SourceInfo]
    #: malformed records skipped, summed over the sources as last imported
    skipped: int
    #: "source:member: reason" for the first few skipped by the last import
    skipped_examples: tuple[str, ...] = ()
    #: the KEV catalog: {"version", "released", "entries", "source", "imported_at"}
    kev: dict[str, Any] | None = None
    #: EPSS scores: {"model_version", "score_date", "entries", "source", "imported_at"}
    epss: dict[str, Any] | None = None


def ro_uri(path: Path) -> str:
    return path.resolve().as_uri() + "?mode=ro"


def read_meta_table(conn: sqlite3.Connection, schema: str = "main") -> dict[str, Any]:
    """The meta table as a dict of decoded JSON values (``{}`` if there is none)."""
    try:
        rows = conn.execute(f"SELECT key, value FROM {schema}.meta").fetchall()
    except sqlite3.OperationalError:  # no such table: not a hullscan database
        return {}
    out: dict[str, Any] = {}
    for key, value in rows:
        try:
            out[str(key)] = json.loads(value)
        except (TypeError, ValueError):
            continue
    return out


def _combine(rows: list[Advisory]) -> Advisory:
    """One advisory from the rows of one id: the newest row's fields, every row's
    entries, aliases and not-affected entries."""
    if len(rows) == 1:
        return rows[0]
    first = max(rows, key=lambda a: timestamp_key(a.modified))  # max keeps the first on ties
    others = [a for a in rows if a is not first]
    dbs = dict(first.database_specific)
    na = [x for a in (first, *others) for x in (a.database_specific.get("not_affected") or [])]
    if na:
        dbs["not_affected"] = na
    return replace(
        first,
        aliases=tuple(dict.fromkeys(x for a in (first, *others) for x in a.aliases)),
        upstream=tuple(dict.fromkeys(x for a in (first, *others) for x in a.upstream)),
        related=tuple(dict.fromkeys(x for a in (first, *others) for x in a.related)),
        database_specific=dbs,
        affected=tuple(e for a in (first, *others) for e in a.affected),
    )


class VulnDB:
    """Read-only access to a built database. Safe to share between threads."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        try:
            # check_same_thread=False: queries are serialized by self._lock instead
            self._conn = sqlite3.connect(ro_uri(self.path), uri=True, check_same_thread=False)
            meta = read_meta_table(self._conn)
        except sqlite3.Error as e:
            raise DatabaseError(
                f"{self.path}: cannot open the vulnerability database ({e}); "
                "rebuild it with `hullscan db update` or `hullscan db import`"
            ) from None
        version = meta.get("schema_version")
        if version != SCHEMA_VERSION:
            self._conn.close()
            what = (
                "is not a hullscan vulnerability database"
                if version is None
                else f"has database format {version}, this hullscan reads {SCHEMA_VERSION}"
            )
            raise DatabaseError(
                f"{self.path} {what}; rebuild it with `hullscan db update` or "
                "`hullscan db import PATH`"
            )
        self._meta = meta
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[str, str, bool], tuple[AffectedAdvisory, ...]] = (
            OrderedDict()
        )

    # -- lookups ------------------------------------------------------------------------

    def advisories_for(
        self, ecosystem: str, name: str, *, include_withdrawn: bool = False
    ) -> list[AffectedAdvisory]:
        """Advisories with an ``affected`` entry for ``name`` in ``ecosystem`` (the exact
        OSV string, e.g. "Debian:12"), each reduced to those entries; withdrawn
        advisories only if asked for. Ordered by advisory id."""
        key = normalize_name(ecosystem, name)
        ck = (ecosystem, key, include_withdrawn)
        with self._lock:
            hit = self._cache.get(ck)
            if hit is not None:
                self._cache.move_to_end(ck)
                return list(hit)
            rows = self._query(
                "SELECT a.id, a.data FROM affected i JOIN advisories a ON a.num = i.advisory "
                "WHERE i.ecosystem = ? AND i.name_key = ?"
                + ("" if include_withdrawn else " AND a.withdrawn IS NULL")
                + " ORDER BY a.id",
                (ecosystem, key),
            )
        out: list[AffectedAdvisory] = []
        for adv_id, data in rows:
            adv = self._decode(adv_id, data)
            entries = tuple(
                a for a in adv.affected if a.ecosystem == ecosystem and a.name_key == key
            )
            out.append(
                AffectedAdvisory(
                    **{
                        f.name: getattr(adv, f.name)
                        for f in fields(Advisory)
                        if f.name != "affected"
                    },
                    affected=entries,
                )
            )
        with self._lock:
            self._cache[ck] = tuple(out)
            if len(self._cache) > _RESULT_CACHE_SIZE:
                self._cache.popitem(last=False)
        return out

    def not_affected(self, ecosystem: str, name: str, *, include_aliases: bool = False) -> set[str]:
        """Ids of (non-withdrawn) advisories that declare ``name`` in ``ecosystem`` not
        affected; with ``include_aliases``, their aliases too (e.g. the CVE ids of a DSA)."""
        key = normalize_name(ecosystem, name)
        with self._lock:
            rows = self._query(
                "SELECT a.num, a.id FROM not_affected n JOIN advisories a "
                "ON a.num = n.advisory WHERE n.ecosystem = ? AND n.name_key = ? "
                "AND a.withdrawn IS NULL",
                (ecosystem, key),
            )
            ids = {r[1] for r in rows}
            if include_aliases and rows:
                for num, _ in rows:
                    ids.update(
                        r[0]
                        for r in self._query("SELECT alias FROM aliases WHERE advisory = ?", (num,))
                    )
        return ids

    def get(self, advisory_id: str) -> Advisory | None:
        """The whole advisory with this id (its rows combined), or None."""
        with self._lock:
            rows = self._query(
                "SELECT id, data FROM advisories WHERE id = ? ORDER BY num", (advisory_id,)
            )
        return _combine([self._decode(i, d) for i, d in rows]) if rows else None

    def by_alias(self, alias: str) -> list[Advisory]:
        """Every advisory known under ``alias``: the one with that id and those listing it
        in ``aliases`` (e.g. "CVE-2019-1547" → DEBCL-CVE-2019-1547, DSA-…). By id."""
        with self._lock:
            rows = self._query(
                "SELECT id, num, data FROM advisories WHERE id = ? UNION "
                "SELECT a.id, a.num, a.data FROM aliases x JOIN advisories a "
                "ON a.num = x.advisory WHERE x.alias = ? ORDER BY 1, 2",
                (alias, alias),
            )
        by_id: dict[str, list[Advisory]] = {}
        for adv_id, _, data in rows:
            by_id.setdefault(adv_id, []).append(self._decode(adv_id, data))
        return [_combine(advs) for advs in by_id.values()]

    def exploitation(self, cve_ids: Iterable[str]) -> tuple[dict[str, Kev], dict[str, Epss]]:
        """KEV entries and EPSS scores of these CVE ids (those the data has)."""
        ids = sorted(set(cve_ids))
        kev: dict[str, Kev] = {}
        epss: dict[str, Epss] = {}
        date = str((self._meta.get("epss") or {}).get("score_date") or "")
        for i in range(0, len(ids), 500):  # SQLite's bound-parameter limit
            chunk = ids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            with self._lock:
                k_rows = self._query(
                    f"SELECT cve, date_added, due_date, ransomware FROM kev WHERE cve IN ({marks})",
                    tuple(chunk),
                )
                e_rows = self._query(
                    f"SELECT cve, score, percentile FROM epss WHERE cve IN ({marks})", tuple(chunk)
                )
            kev.update((c, Kev(a, d, r)) for c, a, d, r in k_rows)
            epss.update((c, Epss(float(sc), float(p), date)) for c, sc, p in e_rows)
        return kev, epss

    def ecosystems(self) -> dict[str, int]:
        """Exact ecosystem → number of advisories with an affected entry in it."""
        with self._lock:
            rows = self._query("SELECT ecosystem, advisories FROM ecosystems ORDER BY 1", ())
        return {str(e): int(n) for e, n in rows}

    def meta(self) -> DBMeta:
        m = self._meta
        sources = {
            label: SourceInfo.from_dict(label, d)
            for label, d in (m.get("sources") or {}).items()
            if isinstance(d, dict)
        }
        last = m.get("last_import") or {}
        return DBMeta(
            schema_version=int(m.get("schema_version", 0)),
            built_at=str(m.get("built_at", "")),
            checked_at=m.get("checked_at"),
            advisories=int(m.get("advisories", 0)),
            ecosystems=self.ecosystems(),
            sources=sources,
            skipped=sum(s.skipped for s in sources.values()),
            skipped_examples=tuple(last.get("skipped_examples") or ()),
            kev=m.get("kev") if isinstance(m.get("kev"), dict) else None,
            epss=m.get("epss") if isinstance(m.get("epss"), dict) else None,
        )

    def describe(self) -> str:
        """A human summary for ``hullscan db status``."""
        m = self.meta()
        lines = [
            f"database:   {self.path}",
            f"built at:   {m.built_at}",
            f"checked at: {m.checked_at or 'never (not updated from a mirror)'}",
            f"advisories: {m.advisories}"
            + (f" ({m.skipped} malformed records skipped)" if m.skipped else ""),
            "ecosystems:",
        ]
        lines += [f"  {eco:<24} {n:>7}" for eco, n in m.ecosystems.items()]
        lines.append(
            "CISA KEV:   "
            + (
                f"catalog {m.kev.get('version')} released {m.kev.get('released')}, "
                f"{m.kev.get('entries')} entries (imported {m.kev.get('imported_at')})"
                if m.kev
                else "none (`hullscan db update`, or `db import` the catalog JSON)"
            )
        )
        lines.append(
            "FIRST EPSS: "
            + (
                f"scores of {m.epss.get('score_date')} (model {m.epss.get('model_version')}), "
                f"{m.epss.get('entries')} CVEs (imported {m.epss.get('imported_at')})"
                if m.epss
                else "none (`hullscan db update`, or `db import` the CSV)"
            )
        )
        lines.append("sources:")
        for s in m.sources.values():
            extra = ", ".join(
                x
                for x in (
                    f"etag {s.etag}" if s.etag else "",
                    f"modified {s.last_modified}" if s.last_modified else "",
                    f"imported {s.imported_at}" if s.imported_at else "",
                )
                if x
            )
            lines.append(
                f"  {s.label}: {s.records} records"
                + (f", {s.skipped} skipped" if s.skipped else "")
                + (f" ({extra})" if extra else "")
            )
        return "\n".join(lines)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> VulnDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ----------------------------------------------------------------------

    def _query(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as e:
            raise DatabaseError(
                f"{self.path}: vulnerability database unreadable ({e}); "
                "rebuild it with `hullscan db update` or `hullscan db import`"
            ) from None

    def _decode(self, adv_id: str, data: bytes) -> Advisory:
        try:
            return parse_advisory(decompress_record(data))
        except (zlib.error, MalformedAdvisory) as e:
            raise DatabaseError(
                f"{self.path}: advisory {adv_id} is corrupt ({e}); rebuild the database"
            ) from None
