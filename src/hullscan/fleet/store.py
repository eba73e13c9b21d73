"""The result store the fleet commands and the admission webhook read: per digest, the
latest ``hullscan.report/v1`` document (with the few facts admission needs as columns),
the inventory it was made from (packages with their locations), the vulnerability
findings of the latest match, and what each ``fleet rematch`` changed.

SQLite (``sqlite:///PATH``, the default under the cache directory) or PostgreSQL
(``postgresql://…``), through SQLAlchemy Core. Reports and inventories are stored as
zlib-compressed JSON: a corpus image's inventory is tens of kilobytes.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from hullscan.cache import default_cache_dir
from hullscan.errors import HullscanError
from hullscan.fleet.verdict import Verdict, verdict_of, vulnerability_ids

metadata = sa.MetaData()
reports = sa.Table(
    "fleet_reports", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("digest", sa.String(80), nullable=False, index=True),
    #: the platform manifest scanned, when ``digest`` names an index
    sa.Column("manifest_digest", sa.String(80), index=True),
    sa.Column("image", sa.Text, nullable=False),
    sa.Column("scanned_at", sa.String(32), nullable=False),
    sa.Column("db_version", sa.String(64), nullable=False),
    #: "scan" or "rematch" (a scan's report with its vulnerabilities matched again)
    sa.Column("origin", sa.String(16), nullable=False),
    sa.Column("by_severity", sa.Text, nullable=False),
    sa.Column("kev", sa.Text, nullable=False),
    sa.Column("worst_ids", sa.Text, nullable=False),
    sa.Column("report", sa.LargeBinary, nullable=False),
)
inventories = sa.Table(
    "fleet_inventories", metadata,
    sa.Column("digest", sa.String(80), primary_key=True),
    sa.Column("image", sa.Text, nullable=False),
    sa.Column("os", sa.Text),
    sa.Column("packages", sa.LargeBinary, nullable=False),
    #: the vulnerability finding keys of the latest match, and the database it used
    sa.Column("finding_keys", sa.Text, nullable=False),
    sa.Column("db_version", sa.String(64), nullable=False),
    sa.Column("matched_at", sa.String(32), nullable=False),
)
changes = sa.Table(
    "fleet_rematch_changes", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_at", sa.String(32), nullable=False, index=True),
    sa.Column("digest", sa.String(80), nullable=False),
    sa.Column("image", sa.Text, nullable=False),
    sa.Column("db_version", sa.String(64), nullable=False),
    sa.Column("added", sa.Text, nullable=False),
    sa.Column("removed", sa.Text, nullable=False),
)


def _report_row(r: StoredReport, origin: str) -> dict[str, Any]:
    v = verdict_of(r.digest, r.image, r.report, r.scanned_at, r.db_version)
    manifest = (r.report.get("image") or {}).get("digest")
    return {"digest": r.digest, "manifest_digest": manifest if manifest != r.digest else None,
            "image": r.image, "scanned_at": r.scanned_at, "db_version": r.db_version,
            "origin": origin, "by_severity": json.dumps(v.by_severity),
            "kev": json.dumps(list(v.kev)), "worst_ids": json.dumps(list(v.worst_ids)),
            "report": _pack(r.report)}


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _pack(doc: Any) -> bytes:
    return zlib.compress(json.dumps(doc, separators=(",", ":")).encode(), 6)


def _unpack(data: bytes) -> Any:
    return json.loads(zlib.decompress(data))


def default_store_url(cache_dir: Path | None = None) -> str:
    return f"sqlite:///{(cache_dir or default_cache_dir()) / 'results.sqlite'}"


def engine_url(url: str) -> str:
    """SQLAlchemy's URL for a ``--store`` value (PostgreSQL through psycopg 3)."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith("sqlite:///"):
        return url
    raise HullscanError(f"--store {url!r}: expected sqlite:///PATH or postgresql://…")


@dataclass(frozen=True)
class StoredInventory:
    digest: str
    image: str
    os: dict[str, Any] | None
    packages: list[dict[str, Any]]
    finding_keys: list[str]
    db_version: str


@dataclass(frozen=True)
class StoredReport:
    digest: str
    image: str
    scanned_at: str
    db_version: str
    report: dict[str, Any]


@dataclass(frozen=True)
class Change:
    digest: str
    image: str
    added: list[str]
    removed: list[str]


class ResultStore:
    def __init__(self, url: str) -> None:
        self.url = url
        target = engine_url(url)
        if target.startswith("sqlite:///"):
            Path(target.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.engine = sa.create_engine(target, pool_pre_ping=True)
            if target.startswith("sqlite"):
                sa.event.listen(self.engine, "connect", _sqlite_pragmas)
            metadata.create_all(self.engine)
        except SQLAlchemyError as e:
            raise HullscanError(f"result store {_safe(url)}: {_reason(e)}") from None

    def close(self) -> None:
        self.engine.dispose()

    # -- writing ------------------------------------------------------------------------

    def put_report(self, digest: str, image: str, report: dict[str, Any],
                   db_version: str) -> None:
        """Store a scan's report, and the inventory it lists with its findings."""
        at = now_iso()
        inv = {"image": image, "os": json.dumps((report.get("image") or {}).get("os")),
               "packages": _pack(report.get("packages") or []),
               "finding_keys": json.dumps(vulnerability_ids(report)),
               "db_version": db_version, "matched_at": at}
        with self._begin() as conn:
            conn.execute(reports.insert(), [_report_row(
                StoredReport(digest, image, at, db_version, report), "scan")])
            done = conn.execute(inventories.update()
                                .where(inventories.c.digest == digest).values(**inv))
            if not done.rowcount:
                conn.execute(inventories.insert().values(digest=digest, **inv))

    def record_rematch(self, rematched: list[StoredReport],
                       matches: list[tuple[str, list[str]]], found: list[Change],
                       db_version: str) -> None:
        """One rematch, in one transaction: the new reports of the images that changed,
        each inventory's finding keys (digest, keys), and the changes."""
        at = now_iso()
        with self._begin() as conn:
            if rematched:
                conn.execute(reports.insert(), [_report_row(r, "rematch") for r in rematched])
            if matches:
                conn.execute(inventories.update()
                             .where(inventories.c.digest == sa.bindparam("d"))
                             .values(finding_keys=sa.bindparam("k"), db_version=db_version,
                                     matched_at=at),
                             [{"d": d, "k": json.dumps(k)} for d, k in matches])
            if found:
                conn.execute(changes.insert(), [
                    {"run_at": at, "digest": c.digest, "image": c.image,
                     "db_version": db_version, "added": json.dumps(c.added),
                     "removed": json.dumps(c.removed)} for c in found])

    # -- reading ------------------------------------------------------------------------

    def verdict(self, digest: str) -> Verdict | None:
        """The latest report of ``digest`` (or of the platform manifest it names)."""
        q = (sa.select(reports.c.digest, reports.c.image, reports.c.scanned_at,
                       reports.c.db_version, reports.c.by_severity, reports.c.kev,
                       reports.c.worst_ids)
             .where(sa.or_(reports.c.digest == digest, reports.c.manifest_digest == digest))
             .order_by(reports.c.id.desc()).limit(1))
        with self._connect() as conn:
            row = conn.execute(q).first()
        if row is None:
            return None
        return Verdict(row.digest, row.image, row.scanned_at, row.db_version,
                       json.loads(row.by_severity), tuple(json.loads(row.kev)),
                       tuple(json.loads(row.worst_ids)))

    def scanned(self, digest: str) -> tuple[str, str] | None:
        """(db_version, scanned_at) of the latest scan of ``digest``."""
        q = (sa.select(reports.c.db_version, reports.c.scanned_at)
             .where(reports.c.digest == digest, reports.c.origin == "scan")
             .order_by(reports.c.id.desc()).limit(1))
        with self._connect() as conn:
            row = conn.execute(q).first()
        return (row.db_version, row.scanned_at) if row else None

    def latest_reports(self) -> Iterator[StoredReport]:
        """The latest report of every digest."""
        latest = (sa.select(sa.func.max(reports.c.id).label("id"))
                  .group_by(reports.c.digest).subquery())
        q = (sa.select(reports.c.digest, reports.c.image, reports.c.scanned_at,
                       reports.c.db_version, reports.c.report)
             .join(latest, latest.c.id == reports.c.id).order_by(reports.c.digest))
        with self._connect() as conn:
            for row in conn.execute(q):
                yield StoredReport(row.digest, row.image, row.scanned_at, row.db_version,
                                   _unpack(row.report))

    def latest_report(self, digest: str) -> StoredReport | None:
        q = (sa.select(reports.c.digest, reports.c.image, reports.c.scanned_at,
                       reports.c.db_version, reports.c.report)
             .where(reports.c.digest == digest).order_by(reports.c.id.desc()).limit(1))
        with self._connect() as conn:
            row = conn.execute(q).first()
        return StoredReport(row.digest, row.image, row.scanned_at, row.db_version,
                            _unpack(row.report)) if row else None

    def inventories(self) -> Iterator[StoredInventory]:
        q = sa.select(inventories).order_by(inventories.c.digest)
        with self._connect() as conn:
            for row in conn.execute(q):
                yield StoredInventory(row.digest, row.image,
                                      json.loads(row.os) if row.os else None,
                                      _unpack(row.packages), json.loads(row.finding_keys),
                                      row.db_version)

    def count_inventories(self) -> int:
        with self._connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(inventories))
                       .scalar_one())

    # -- connections --------------------------------------------------------------------

    def _connect(self) -> Any:
        return _Guard(self.engine.connect, self.url)

    def _begin(self) -> Any:
        return _Guard(self.engine.begin, self.url)


class _Guard:
    """A connection (or transaction) whose database errors are one clear HullscanError."""

    def __init__(self, opener: Any, url: str) -> None:
        self._opener, self._url = opener, url
        self._ctx: Any = None

    def __enter__(self) -> sa.Connection:
        try:
            self._ctx = self._opener()
            conn: sa.Connection = self._ctx.__enter__()
            return conn
        except SQLAlchemyError as e:
            raise HullscanError(f"result store {_safe(self._url)}: {_reason(e)}") from None

    def __exit__(self, *exc: Any) -> None:
        try:
            self._ctx.__exit__(*exc)
        except SQLAlchemyError as e:
            raise HullscanError(f"result store {_safe(self._url)}: {_reason(e)}") from None
        if exc[1] is not None and isinstance(exc[1], SQLAlchemyError):
            raise HullscanError(f"result store {_safe(self._url)}: {_reason(exc[1])}"
                                ) from None


def _sqlite_pragmas(conn: Any, _record: Any) -> None:
    cur = conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")  # with WAL: consistent after a power loss
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _safe(url: str) -> str:
    """The URL without a password."""
    return sa.engine.make_url(engine_url(url)).render_as_string(hide_password=True) \
        if "://" in url else url


def _reason(e: SQLAlchemyError) -> str:
    orig = getattr(e, "orig", None)
    return " ".join(str(orig or e).split())[:300]


__all__ = ["Change", "ResultStore", "StoredInventory", "StoredReport", "default_store_url",
           "engine_url", "now_iso"]
