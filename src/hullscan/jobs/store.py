"""The result store: scan requests, the shared jobs behind them, reports and inventories.

One SQLAlchemy 2 model for SQLite (the default, under the cache directory) and
PostgreSQL (``postgresql://…``, shared by any number of servers and workers). The
schema is created and upgraded by the Alembic migrations shipped in
``hullscan/jobs/migrations`` when a ``Store`` is opened.

Three tables:

- ``jobs``: the work, one row per idempotency key (image digest + vulnerability
  database version + scanners + SBOM wanted). Status moves ``queued → running →
  done | failed``; a running job whose worker died is claimed again (``attempts``
  counts). Reports are kept for good: Harbor may ask for them at any time.
- ``scans``: one row per request (a scan id), pointing to its job, with what the
  caller asked for (the reference without credentials, Harbor's artifact). Concurrent
  requests for one digest get their own ids and share one job.
- ``inventories``: the latest package inventory of each digest (image, OS, packages as
  in the ``hullscan.report/v1`` document), so findings can be re-matched against a newer
  database without pulling the image again.

Credentials never reach this module.
"""

from __future__ import annotations

import enum
import fcntl
import hashlib
import json
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, exc, orm
from sqlalchemy.dialects.postgresql import JSONB

from hullscan.errors import HullscanError
from hullscan.fleet.store import engine_url


class StoreError(HullscanError):
    """The result store is unreachable or its URL is wrong."""


class Status(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


_JSON = sa.JSON().with_variant(JSONB(), "postgresql")


class _Base(orm.DeclarativeBase):
    pass


class JobRow(_Base):
    __tablename__ = "jobs"
    key: orm.Mapped[str] = orm.mapped_column(sa.String(64), primary_key=True)
    digest: orm.Mapped[str | None] = orm.mapped_column(sa.String(100), index=True)
    scanners: orm.Mapped[str] = orm.mapped_column(sa.String(200))
    sbom: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=False)
    db_version: orm.Mapped[str | None] = orm.mapped_column(sa.String(100))
    status: orm.Mapped[str] = orm.mapped_column(sa.String(16), index=True)
    error: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    report: orm.Mapped[dict[str, Any] | None] = orm.mapped_column(_JSON)
    #: media type → SBOM document (SPDX, CycloneDX), when asked for
    sboms: orm.Mapped[dict[str, Any] | None] = orm.mapped_column(_JSON)
    attempts: orm.Mapped[int] = orm.mapped_column(sa.Integer, default=0)
    #: seconds the successful attempt took
    duration: orm.Mapped[float | None] = orm.mapped_column(sa.Float)
    created_at: orm.Mapped[datetime] = orm.mapped_column(sa.DateTime(timezone=True))
    started_at: orm.Mapped[datetime | None] = orm.mapped_column(sa.DateTime(timezone=True))
    finished_at: orm.Mapped[datetime | None] = orm.mapped_column(
        sa.DateTime(timezone=True), index=True)


class ScanRow(_Base):
    __tablename__ = "scans"
    id: orm.Mapped[str] = orm.mapped_column(sa.String(36), primary_key=True)
    job_key: orm.Mapped[str] = orm.mapped_column(sa.ForeignKey("jobs.key"), index=True)
    ref: orm.Mapped[str] = orm.mapped_column(sa.Text)
    #: Harbor's ``artifact`` object (repository, digest, tag, mime_type), if from Harbor
    artifact: orm.Mapped[dict[str, Any] | None] = orm.mapped_column(_JSON)
    created_at: orm.Mapped[datetime] = orm.mapped_column(sa.DateTime(timezone=True),
                                                         index=True)


class InventoryRow(_Base):
    __tablename__ = "inventories"
    digest: orm.Mapped[str] = orm.mapped_column(sa.String(100), primary_key=True)
    ref: orm.Mapped[str] = orm.mapped_column(sa.Text)
    inventory: orm.Mapped[dict[str, Any]] = orm.mapped_column(_JSON)
    updated_at: orm.Mapped[datetime] = orm.mapped_column(sa.DateTime(timezone=True))


METADATA = _Base.metadata


@dataclass(frozen=True)
class JobSpec:
    """What a job computes; equal specs share one job when the digest is known."""

    ref: str
    scanners: tuple[str, ...]
    #: the manifest digest the caller expects (Harbor's artifact digest, or ``@sha256:``)
    digest: str | None = None
    db_version: str | None = None
    sbom: bool = False

    def key(self) -> str:
        """Idempotency key; without a digest every request is a job of its own."""
        if self.digest is None:
            return uuid.uuid4().hex + uuid.uuid4().hex
        text = json.dumps([self.digest, self.db_version, sorted(self.scanners), self.sbom])
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Job:
    key: str
    digest: str | None
    scanners: tuple[str, ...]
    sbom: bool
    db_version: str | None
    status: Status
    error: str | None
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    #: seconds the successful attempt took (pull included)
    duration: float | None = None


@dataclass(frozen=True)
class Scan:
    """One request and the state of the job behind it."""

    id: str
    ref: str
    artifact: dict[str, Any] | None
    created_at: datetime
    job: Job


@dataclass(frozen=True)
class Submission:
    scan_id: str
    job_key: str
    #: the caller must enqueue the job (a new or a failed one); else it is queued,
    #: running, or done already
    enqueue: bool
    status: Status


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(t: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything stored is UTC
    return t.replace(tzinfo=UTC) if t is not None and t.tzinfo is None else t


def _job(row: JobRow) -> Job:
    return Job(row.key, row.digest, tuple(row.scanners.split(",")) if row.scanners else (),
               row.sbom, row.db_version, Status(row.status), row.error, row.attempts,
               _aware(row.created_at) or _now(), _aware(row.started_at),
               _aware(row.finished_at), row.duration)


def _scan(row: ScanRow, job: JobRow) -> Scan:
    return Scan(row.id, row.ref, row.artifact, _aware(row.created_at) or _now(), _job(job))


def default_store_url(cache_dir: Path) -> str:
    return f"sqlite:///{cache_dir / 'server' / 'results.sqlite'}"


class Store:
    """Typed access to the result store; safe to share between threads."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        target = engine_url(url)
        self.sqlite = target.startswith("sqlite")
        if self.sqlite:
            path = Path(target.removeprefix("sqlite:///"))
            path.parent.mkdir(parents=True, exist_ok=True)
            self.engine = sa.create_engine(target, connect_args={"timeout": 30})
            event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            self.engine = sa.create_engine(
                target, pool_pre_ping=True, pool_size=10, max_overflow=30, pool_timeout=10,
                connect_args={"connect_timeout": 5})
        self._session = orm.sessionmaker(self.engine, expire_on_commit=False)
        if migrate:
            self.migrate()

    def migrate(self) -> None:
        """Bring the schema to the newest migration; one process at a time."""
        from hullscan.jobs.migrate import upgrade

        with self._migration_lock():
            upgrade(self.engine)

    @contextmanager
    def _migration_lock(self) -> Iterator[None]:
        if self.sqlite:
            lock = Path(engine_url(self.url).removeprefix("sqlite:///") + ".lock")
            with open(lock, "a") as f:
                fcntl.flock(f, fcntl.LOCK_EX)
                yield
            return
        with self._connect() as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(72656)"))
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(72656)"))
                conn.commit()

    @contextmanager
    def _connect(self) -> Iterator[sa.Connection]:
        with _unreachable(), self.engine.connect() as conn:
            yield conn

    @contextmanager
    def _tx(self) -> Iterator[orm.Session]:
        with _unreachable(), self._session.begin() as session:
            yield session

    def ping(self) -> None:
        """Raises ``StoreError`` when the database cannot be reached."""
        with self._connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    def close(self) -> None:
        self.engine.dispose()

    # -- requests -------------------------------------------------------------------------

    def submit(self, spec: JobSpec, artifact: dict[str, Any] | None = None) -> Submission:
        """Record a request. A job already done for the same key is reused, one queued
        or running is shared; a failed one is queued again."""
        key = spec.key()
        scan_id = str(uuid.uuid4())
        for _ in range(3):
            try:
                with self._tx() as s:
                    job = s.get(JobRow, key, with_for_update=True)
                    enqueue = False
                    if job is None:
                        job = JobRow(key=key, digest=spec.digest,
                                     scanners=",".join(spec.scanners), sbom=spec.sbom,
                                     db_version=spec.db_version, status=Status.QUEUED,
                                     attempts=0, created_at=_now())
                        s.add(job)
                        s.flush()
                        enqueue = True
                    elif job.status == Status.FAILED:
                        job.status, job.error, job.attempts = Status.QUEUED, None, 0
                        job.started_at = job.finished_at = None
                        enqueue = True
                    s.add(ScanRow(id=scan_id, job_key=key, ref=spec.ref, artifact=artifact,
                                  created_at=_now()))
                    return Submission(scan_id, key, enqueue, Status(job.status))
            except exc.IntegrityError:
                continue  # another request created the job first: share it
        raise StoreError(f"could not record the scan of {spec.ref}")

    def get_scan(self, scan_id: str) -> Scan | None:
        with self._tx() as s:
            row = s.get(ScanRow, scan_id)
            if row is None:
                return None
            return _scan(row, s.get_one(JobRow, row.job_key))

    def report(self, job_key: str) -> dict[str, Any] | None:
        """The ``hullscan.report/v1`` document of a finished job."""
        with self._tx() as s:
            row = s.get(JobRow, job_key)
            return row.report if row is not None else None

    def sbom(self, job_key: str, media_type: str) -> dict[str, Any] | None:
        with self._tx() as s:
            row = s.get(JobRow, job_key)
            return (row.sboms or {}).get(media_type) if row is not None else None

    def latest_for_digest(self, digest: str) -> Scan | None:
        """The newest finished scan of this digest."""
        with self._tx() as s:
            found = s.execute(
                sa.select(ScanRow, JobRow).join(JobRow, ScanRow.job_key == JobRow.key)
                .where(JobRow.digest == digest, JobRow.status == Status.DONE)
                .order_by(JobRow.finished_at.desc(), ScanRow.created_at.desc()).limit(1)
            ).first()
            return _scan(found[0], found[1]) if found else None

    def list_scans(self, *, status: Status | None = None, limit: int = 100) -> list[Scan]:
        """Newest requests first."""
        with self._tx() as s:
            q = sa.select(ScanRow, JobRow).join(JobRow, ScanRow.job_key == JobRow.key)
            if status is not None:
                q = q.where(JobRow.status == status)
            rows = s.execute(q.order_by(ScanRow.created_at.desc()).limit(limit)).all()
            return [_scan(r[0], r[1]) for r in rows]

    def durations(self, buckets: Sequence[float]) -> tuple[list[int], int, float]:
        """Finished jobs: cumulative counts at or below each bucket bound, the count and
        the sum of their durations (a Prometheus histogram, computed by the database)."""
        done = JobRow.status == Status.DONE
        with self._tx() as s:
            row = s.execute(sa.select(
                *(sa.func.count().filter(done, JobRow.duration <= b) for b in buckets),
                sa.func.count().filter(done, JobRow.duration.is_not(None)),
                sa.func.coalesce(sa.func.sum(JobRow.duration).filter(done), 0.0))).one()
        return [int(n) for n in row[:-2]], int(row[-2]), float(row[-1])

    def count_by_status(self) -> dict[Status, int]:
        with self._tx() as s:
            rows = s.execute(sa.select(JobRow.status, sa.func.count())
                             .group_by(JobRow.status)).all()
            return {Status(st): int(n) for st, n in rows}

    # -- job transitions (workers) --------------------------------------------------------

    def claim(self, job_key: str) -> Job | None:
        """``queued → running`` (or ``running`` again when a lost worker's job is
        redelivered). None when there is nothing to do: done, or unknown."""
        with self._tx() as s:
            row = s.get(JobRow, job_key, with_for_update=True)
            if row is None or row.status == Status.DONE:
                return None
            row.status, row.error = Status.RUNNING, None
            row.attempts += 1
            row.started_at = _now()
            return _job(row)

    def requeue(self, job_key: str, reason: str) -> None:
        """``running → queued``: a retry is scheduled (network or registry trouble)."""
        with self._tx() as s:
            row = s.get(JobRow, job_key, with_for_update=True)
            if row is not None and row.status == Status.RUNNING:
                row.status, row.error = Status.QUEUED, reason

    def finish(self, job_key: str, *, digest: str, db_version: str | None,
               report: dict[str, Any], inventory: dict[str, Any],
               sboms: dict[str, Any] | None = None) -> None:
        """``running → done``, with the report, and the digest's inventory replaced:
        all in one transaction."""
        now = _now()
        with self._tx() as s:
            row = s.get(JobRow, job_key, with_for_update=True)
            if row is None:
                raise StoreError(f"no job {job_key}")
            row.status, row.error, row.digest = Status.DONE, None, digest
            row.db_version, row.report, row.sboms = db_version, report, sboms
            row.finished_at = now
            started = _aware(row.started_at)
            row.duration = (now - started).total_seconds() if started else None
            s.merge(InventoryRow(digest=digest, ref=str(report.get("image", {}).get("ref")),
                                 inventory=inventory, updated_at=now))

    def fail(self, job_key: str, error: str) -> None:
        """``queued|running → failed`` with the reason."""
        with self._tx() as s:
            row = s.get(JobRow, job_key, with_for_update=True)
            if row is not None and row.status != Status.DONE:
                row.status, row.error, row.finished_at = Status.FAILED, error, _now()

    # -- inventories ----------------------------------------------------------------------

    def get_inventory(self, digest: str) -> dict[str, Any] | None:
        with self._tx() as s:
            row = s.get(InventoryRow, digest)
            return row.inventory if row is not None else None

    def list_inventories(self) -> Sequence[tuple[str, str]]:
        """(digest, reference) of every stored inventory."""
        with self._tx() as s:
            rows = s.execute(sa.select(InventoryRow.digest, InventoryRow.ref)
                             .order_by(InventoryRow.digest)).all()
            return [(str(d), str(r)) for d, r in rows]


def _sqlite_pragmas(conn: Any, _record: Any) -> None:
    # WAL: the server's readers never wait for a worker's write
    cur = conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


@contextmanager
def _unreachable() -> Iterator[None]:
    """A database that cannot be reached is a ``StoreError`` (retried by workers)."""
    try:
        yield
    except exc.OperationalError as e:
        raise StoreError(f"result store unreachable: {_reason(e)}") from e


def _reason(e: exc.OperationalError) -> str:
    return str(e.orig).strip().splitlines()[0] if e.orig is not None else str(e)
