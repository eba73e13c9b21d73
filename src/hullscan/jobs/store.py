"""The result store: scan requests, the shared jobs behind them, reports and inventories.

One SQLAlchemy 2 model for SQLite (the default, under the cache directory) and
PostgreSQL (``postgresql://…``, shared by any number of servers and workers). The
schema is created and upgraded by the Alembic migrations shipped in
``hullscan/jobs/migrations`` when a ``Store`` is opened.

Five tables:

- ``jobs``: the work, one row per idempotency key (image digest + vulnerability
  database version + scanners + SBOM wanted). Status moves ``queued → running →
  done | failed``; a running job whose worker died is claimed again (``attempts``
  counts). Reports are kept for good: Harbor may ask for them at any time.
- ``scans``: one row per request (a scan id), pointing to its job, with what the
  caller asked for (the reference without credentials, Harbor's artifact). Concurrent
  requests for one digest get their own ids and share one job. A job made by ``fleet
  rematch`` (``origin`` ``rematch``) has no request: it is a scan's report with its
  vulnerabilities matched against a newer database.
- ``inventories``: the latest package inventory of each digest (image, OS, packages as
  in the ``hullscan.report/v1`` document) and the vulnerability findings of its latest
  match, so findings can be re-matched against a newer database without pulling the
  image again.
- ``rematch_changes``: which images each rematch found gaining or losing findings.
- ``queue_leases``: the embedded queues running on this store (``EmbeddedQueue``), each
  renewing its lease while it runs: one starting gives up only the jobs of those that
  stopped (their messages lived in memory).

Each finished job also keeps its verdict's facts (counts by severity, known-exploited
and worst ids: ``hullscan.jobs.verdict``) beside the report, so an admission decision
reads a few hundred bytes, not the report.

Credentials never reach this module.
"""

from __future__ import annotations

import enum
import fcntl
import hashlib
import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, exc, orm
from sqlalchemy.dialects.postgresql import JSONB

from hullscan.errors import HullscanError
from hullscan.jobs.verdict import Verdict, facts, verdict_from, vulnerability_ids


class StoreError(HullscanError):
    """The result store is unreachable or its URL is wrong."""


def engine_url(url: str) -> str:
    """SQLAlchemy's URL for a ``--store`` value (PostgreSQL through psycopg 3)."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith("sqlite:///"):
        return url
    raise StoreError(f"--store {url!r}: expected sqlite:///PATH or postgresql://…")


class Origin(enum.StrEnum):
    SCAN = "scan"
    #: a scan's report with its vulnerabilities matched again (``fleet rematch``)
    REMATCH = "rematch"


class Status(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


_JSON = sa.JSON().with_variant(JSONB(), "postgresql")


class _Base(orm.DeclarativeBase):
    """The declarative base of the store's tables (their one ``MetaData``)."""


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
        sa.DateTime(timezone=True), index=True
    )
    origin: orm.Mapped[str] = orm.mapped_column(
        sa.String(16), default=Origin.SCAN, server_default=Origin.SCAN.value
    )
    #: the platform manifest scanned, when ``digest`` names an index
    manifest_digest: orm.Mapped[str | None] = orm.mapped_column(sa.String(100), index=True)
    #: ``hullscan.jobs.verdict.facts`` of the report
    verdict: orm.Mapped[dict[str, Any] | None] = orm.mapped_column(_JSON)
    #: the queue that carries the job: "celery", or one embedded queue's name
    #: ("embedded:<id>"; "embedded" before leases): a queue starting on a shared store
    #: gives up only the jobs of embedded queues whose lease lapsed
    queue: orm.Mapped[str | None] = orm.mapped_column(sa.String(16))


class ScanRow(_Base):
    __tablename__ = "scans"
    id: orm.Mapped[str] = orm.mapped_column(sa.String(36), primary_key=True)
    job_key: orm.Mapped[str] = orm.mapped_column(sa.ForeignKey("jobs.key"), index=True)
    ref: orm.Mapped[str] = orm.mapped_column(sa.Text)
    #: Harbor's ``artifact`` object (repository, digest, tag, mime_type), if from Harbor
    artifact: orm.Mapped[dict[str, Any] | None] = orm.mapped_column(_JSON)
    created_at: orm.Mapped[datetime] = orm.mapped_column(sa.DateTime(timezone=True), index=True)


class InventoryRow(_Base):
    __tablename__ = "inventories"
    digest: orm.Mapped[str] = orm.mapped_column(sa.String(100), primary_key=True)
    ref: orm.Mapped[str] = orm.mapped_column(sa.Text)
    inventory: orm.Mapped[dict[str, Any]] = orm.mapped_column(_JSON)
    updated_at: orm.Mapped[datetime] = orm.mapped_column(sa.DateTime(timezone=True))
    #: vulnerability finding keys (id and purl) of the latest match, and its database
    finding_keys: orm.Mapped[list[str] | None] = orm.mapped_column(_JSON)
    db_version: orm.Mapped[str | None] = orm.mapped_column(sa.String(100))
    matched_at: orm.Mapped[datetime | None] = orm.mapped_column(sa.DateTime(timezone=True))


class RematchChangeRow(_Base):
    __tablename__ = "rematch_changes"
    id: orm.Mapped[int] = orm.mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    run_at: orm.Mapped[datetime] = orm.mapped_column(sa.DateTime(timezone=True), index=True)
    digest: orm.Mapped[str] = orm.mapped_column(sa.String(100))
    ref: orm.Mapped[str] = orm.mapped_column(sa.Text)
    db_version: orm.Mapped[str | None] = orm.mapped_column(sa.String(100))
    added: orm.Mapped[list[str]] = orm.mapped_column(_JSON)
    removed: orm.Mapped[list[str]] = orm.mapped_column(_JSON)


class QueueLeaseRow(_Base):
    """An embedded queue that runs: renewed while it does (``EmbeddedQueue``)."""

    __tablename__ = "queue_leases"
    name: orm.Mapped[str] = orm.mapped_column(sa.String(16), primary_key=True)
    host: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    pid: orm.Mapped[int] = orm.mapped_column(sa.Integer)
    renewed_at: orm.Mapped[datetime] = orm.mapped_column(sa.DateTime(timezone=True))


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
    origin: Origin = Origin.SCAN
    manifest_digest: str | None = None


@dataclass(frozen=True)
class Scan:
    """One request and the state of the job behind it."""

    id: str
    ref: str
    artifact: dict[str, Any] | None
    created_at: datetime
    job: Job


@dataclass(frozen=True)
class StoredReport:
    """The latest report of a digest."""

    digest: str
    image: str
    #: when it was stored (UTC, ISO 8601), and the database it was matched with
    scanned_at: str
    db_version: str
    report: dict[str, Any]
    job_key: str = ""


@dataclass(frozen=True)
class StoredInventory:
    digest: str
    image: str
    os: dict[str, Any] | None
    packages: list[dict[str, Any]]
    #: the vulnerability finding keys of the latest match, and its database
    finding_keys: list[str]
    db_version: str


@dataclass(frozen=True)
class Change:
    """An image whose findings a rematch changed (vulnerability ids)."""

    digest: str
    image: str
    added: list[str]
    removed: list[str]


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
    return Job(
        row.key,
        row.digest,
        tuple(row.scanners.split(",")) if row.scanners else (),
        row.sbom,
        row.db_version,
        Status(row.status),
        row.error,
        row.attempts,
        _aware(row.created_at) or _now(),
        _aware(row.started_at),
        _aware(row.finished_at),
        row.duration,
        Origin(row.origin or Origin.SCAN),
        row.manifest_digest,
    )


def _scan(row: ScanRow, job: JobRow) -> Scan:
    return Scan(row.id, row.ref, row.artifact, _aware(row.created_at) or _now(), _job(job))


def iso(t: datetime | None) -> str:
    """UTC, ISO 8601 to the second (``2026-12-03T16:18:21Z``)."""
    return (_aware(t) or _now()).strftime("%Y-%m-%dT%H:%M:%SZ")


def default_store_url(cache_dir: Path | None = None) -> str:
    from hullscan.cachedir import default_cache_dir

    return f"sqlite:///{(cache_dir or default_cache_dir()) / 'server' / 'results.sqlite'}"


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
                target,
                pool_pre_ping=True,
                pool_size=10,
                max_overflow=30,
                pool_timeout=10,
                connect_args={"connect_timeout": 5},
            )
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
        with self.exclusive(_MIGRATION_LOCK, wait=True):
            yield

    @contextmanager
    def exclusive(self, lock: int, *, wait: bool = False) -> Iterator[bool]:
        """Hold a deployment-wide lock (a PostgreSQL advisory lock, or an ``flock`` beside
        the SQLite file) while the block runs: True when held. Without ``wait`` it is not
        waited for: False when another process holds it."""
        if self.sqlite:
            path = Path(engine_url(self.url).removeprefix("sqlite:///") + f".lock{lock}")
            with open(path, "a") as f:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
                except BlockingIOError:
                    yield False
                    return
                yield True
            return
        with self._connect() as conn:
            if wait:
                conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": lock})
            elif not conn.execute(
                sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": lock}
            ).scalar_one():
                conn.commit()
                yield False
                return
            try:
                yield True
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": lock})
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

    def submit(
        self, spec: JobSpec, artifact: dict[str, Any] | None = None, queue: str | None = None
    ) -> Submission:
        """Record a request. A job already done for the same key is reused, one queued
        or running is shared; a failed one is queued again (on ``queue``, the kind of
        queue that will carry it)."""
        key = spec.key()
        scan_id = str(uuid.uuid4())
        for _ in range(3):
            try:
                with self._tx() as s:
                    job = s.get(JobRow, key, with_for_update=True)
                    enqueue = False
                    if job is None:
                        job = JobRow(
                            key=key,
                            digest=spec.digest,
                            scanners=",".join(spec.scanners),
                            sbom=spec.sbom,
                            db_version=spec.db_version,
                            status=Status.QUEUED,
                            attempts=0,
                            created_at=_now(),
                            queue=queue,
                        )
                        s.add(job)
                        s.flush()
                        enqueue = True
                    elif job.status == Status.FAILED:
                        job.status, job.error, job.attempts = Status.QUEUED, None, 0
                        job.started_at = job.finished_at = None
                        job.queue = queue
                        enqueue = True
                    s.add(
                        ScanRow(
                            id=scan_id,
                            job_key=key,
                            ref=spec.ref,
                            artifact=artifact,
                            created_at=_now(),
                        )
                    )
                    return Submission(scan_id, key, enqueue, Status(job.status))
            except exc.IntegrityError:
                continue  # another request created the job first: share it
        raise StoreError(f"could not record the scan of {spec.ref}")

    def record_scan(self, spec: JobSpec, report: dict[str, Any], inventory: dict[str, Any]) -> str:
        """Store a scan finished outside a worker (a benchmark's, an import's) as a
        worker would: a request, its job done, the inventory. The job's key."""
        if spec.digest is None:
            raise StoreError(f"{spec.ref}: a recorded scan needs its digest")
        sub = self.submit(spec)
        self.claim(sub.job_key)
        self.finish(
            sub.job_key,
            digest=spec.digest,
            db_version=spec.db_version,
            report=report,
            inventory=inventory,
        )
        return sub.job_key

    def get_scan(self, scan_id: str) -> Scan | None:
        with self._tx() as s:
            row = s.get(ScanRow, scan_id)
            if row is None:
                return None
            return _scan(row, s.get_one(JobRow, row.job_key))

    def scan_states(self, scan_ids: Sequence[str]) -> dict[str, tuple[str, str | None]]:
        """(status, error) of the job behind each request, in one query per thousand
        (a fleet scan waits on every digest of a registry); unknown ids are left out."""
        out: dict[str, tuple[str, str | None]] = {}
        with self._tx() as s:
            for at in range(0, len(scan_ids), 1000):
                rows = s.execute(
                    sa.select(ScanRow.id, JobRow.status, JobRow.error)
                    .join(JobRow, ScanRow.job_key == JobRow.key)
                    .where(ScanRow.id.in_(scan_ids[at : at + 1000]))
                ).all()
                out.update({str(i): (str(st), err) for i, st, err in rows})
        return out

    def report(self, job_key: str) -> dict[str, Any] | None:
        """The ``hullscan.report/v1`` document of a finished job."""
        with self._tx() as s:
            row = s.get(JobRow, job_key)
            return row.report if row is not None else None

    def sbom(self, job_key: str, media_type: str) -> dict[str, Any] | None:
        with self._tx() as s:
            row = s.get(JobRow, job_key)
            return (row.sboms or {}).get(media_type) if row is not None else None

    def latest_job(self, digest: str) -> Job | None:
        """The newest finished job of this digest (or of the platform manifest it names):
        a scan, or a rematch of one."""
        with self._tx() as s:
            row = s.execute(
                sa.select(JobRow)
                .where(_names(digest), JobRow.status == Status.DONE)
                .order_by(JobRow.finished_at.desc())
                .limit(1)
            ).scalar_one_or_none()
            return _job(row) if row is not None else None

    def verdict(self, digest: str) -> Verdict | None:
        """The verdict of the newest finished job of ``digest``; None if never scanned."""
        q = (
            sa.select(JobRow.digest, JobRow.finished_at, JobRow.db_version, JobRow.verdict)
            .where(_names(digest), JobRow.status == Status.DONE)
            .order_by(JobRow.finished_at.desc())
            .limit(1)
        )
        with self._tx() as s:
            row = s.execute(q).first()
        if row is None:
            return None
        return verdict_from(
            str(row.digest), iso(row.finished_at), row.db_version or "", row.verdict or {}
        )

    def scanned(self, digest: str) -> tuple[str | None, str] | None:
        """(database version, finished at) of the newest scan (not rematch) of ``digest``."""
        q = (
            sa.select(JobRow.db_version, JobRow.finished_at)
            .where(
                JobRow.digest == digest, JobRow.status == Status.DONE, JobRow.origin == Origin.SCAN
            )
            .order_by(JobRow.finished_at.desc())
            .limit(1)
        )
        with self._tx() as s:
            row = s.execute(q).first()
        return (row.db_version, iso(row.finished_at)) if row is not None else None

    def latest_reports(self) -> Iterator[StoredReport]:
        """The newest finished report of every digest, by digest."""
        ranked = (
            sa.select(
                JobRow.key,
                sa.func.row_number()
                .over(partition_by=JobRow.digest, order_by=(JobRow.finished_at.desc(), JobRow.key))
                .label("n"),
            )
            .where(JobRow.status == Status.DONE, JobRow.digest.is_not(None))
            .subquery()
        )
        q = (
            sa.select(*_REPORT_COLUMNS)
            .join(ranked, ranked.c.key == JobRow.key)
            .where(ranked.c.n == 1)
            .order_by(JobRow.digest)
        )
        with self._tx() as s:
            for row in s.execute(q):
                yield _stored_report(row)

    def latest_report(self, digest: str) -> StoredReport | None:
        with self._tx() as s:
            row = s.execute(
                sa.select(*_REPORT_COLUMNS)
                .where(JobRow.digest == digest, JobRow.status == Status.DONE)
                .order_by(JobRow.finished_at.desc())
                .limit(1)
            ).first()
            return _stored_report(row) if row is not None else None

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
            row = s.execute(
                sa.select(
                    *(sa.func.count().filter(done, JobRow.duration <= b) for b in buckets),
                    sa.func.count().filter(done, JobRow.duration.is_not(None)),
                    sa.func.coalesce(sa.func.sum(JobRow.duration).filter(done), 0.0),
                )
            ).one()
        return [int(n) for n in row[:-2]], int(row[-2]), float(row[-1])

    def count_by_status(self) -> dict[Status, int]:
        with self._tx() as s:
            rows = s.execute(
                sa.select(JobRow.status, sa.func.count())
                .where(JobRow.origin == Origin.SCAN)  # not rematches
                .group_by(JobRow.status)
            ).all()
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

    def finish(
        self,
        job_key: str,
        *,
        digest: str,
        db_version: str | None,
        report: dict[str, Any],
        inventory: dict[str, Any],
        sboms: dict[str, Any] | None = None,
        manifest_digest: str | None = None,
    ) -> None:
        """``running → done``, with the report and its verdict, and the digest's
        inventory replaced: all in one transaction."""
        now = _now()
        with self._tx() as s:
            row = s.get(JobRow, job_key, with_for_update=True)
            if row is None:
                raise StoreError(f"no job {job_key}")
            row.status, row.error, row.digest = Status.DONE, None, digest
            row.db_version, row.report, row.sboms = db_version, report, sboms
            row.manifest_digest = manifest_digest if manifest_digest != digest else None
            row.verdict = facts(report)
            row.finished_at = now
            started = _aware(row.started_at)
            row.duration = (now - started).total_seconds() if started else None
            s.merge(
                InventoryRow(
                    digest=digest,
                    ref=str(report.get("image", {}).get("ref")),
                    inventory=inventory,
                    updated_at=now,
                    finding_keys=vulnerability_ids(report),
                    db_version=db_version,
                    matched_at=now,
                )
            )

    def fail_unfinished(self, queue: str, error: str) -> int:
        """``queued|running → failed`` for every job ``queue`` carried (an embedded
        queue's own, as it closes: their messages are gone with it)."""
        with self._tx() as s:
            done = s.execute(
                sa.update(JobRow)
                .where(JobRow.status.in_((Status.QUEUED, Status.RUNNING)), JobRow.queue == queue)
                .values(status=Status.FAILED, error=error, finished_at=_now())
            )
            return int(getattr(done, "rowcount", 0) or 0)

    # -- embedded queues' leases --------------------------------------------------------

    def hold_lease(self, name: str, host: str, pid: int) -> None:
        """Take (or renew) embedded queue ``name``'s lease, held by ``pid`` on ``host``."""
        with self._tx() as s:
            row = s.get(QueueLeaseRow, name, with_for_update=True)
            if row is None:
                s.add(QueueLeaseRow(name=name, host=host, pid=pid, renewed_at=_now()))
            else:
                row.renewed_at = _now()

    def release_lease(self, name: str) -> None:
        with self._tx() as s:
            s.execute(sa.delete(QueueLeaseRow).where(QueueLeaseRow.name == name))

    def fail_abandoned(
        self, error: str, *, host: str, lapsed_after: float, alive: Callable[[int], bool]
    ) -> int:
        """``queued|running → failed`` for the jobs of embedded queues that stopped: whose
        lease was not renewed for ``lapsed_after`` seconds, or was held by a process of
        this ``host`` that is gone (``alive(pid)`` False), or that never had one (rows
        from before leases). Their leases are dropped. Jobs of running embedded queues,
        and Celery's (the broker keeps their messages), are not touched."""
        now = _now()
        with self._tx() as s:
            leases = list(s.scalars(sa.select(QueueLeaseRow)))
            stopped = [
                row.name
                for row in leases
                if (now - (_aware(row.renewed_at) or now)).total_seconds() > lapsed_after
                or (row.host == host and not alive(row.pid))
            ]
            running = {row.name for row in leases} - set(stopped)
            unfinished = JobRow.status.in_((Status.QUEUED, Status.RUNNING))
            embedded = sa.or_(
                JobRow.queue.is_(None),
                JobRow.queue == "embedded",
                JobRow.queue.startswith("embedded:"),
            )
            keys = [
                key
                for key, queue in s.execute(
                    sa.select(JobRow.key, JobRow.queue).where(unfinished, embedded)
                )
                if queue not in running
            ]
            if stopped:
                s.execute(sa.delete(QueueLeaseRow).where(QueueLeaseRow.name.in_(stopped)))
            for chunk in range(0, len(keys), 500):
                s.execute(
                    sa.update(JobRow)
                    .where(JobRow.key.in_(keys[chunk : chunk + 500]), unfinished)
                    .values(status=Status.FAILED, error=error, finished_at=now)
                )
            return len(keys)

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

    def inventories(self, *, not_matched_with: str | None = None) -> Iterator[StoredInventory]:
        """Every stored inventory with its latest match, by digest (streamed); with
        ``not_matched_with``, only those whose latest match used another database."""
        q = sa.select(InventoryRow).order_by(InventoryRow.digest).execution_options(yield_per=200)
        if not_matched_with is not None:
            q = q.where(
                sa.or_(
                    InventoryRow.db_version.is_(None), InventoryRow.db_version != not_matched_with
                )
            )
        with self._tx() as s:
            for row in s.execute(q).scalars():
                inv = row.inventory or {}
                image = inv.get("image")
                image = image if isinstance(image, dict) else {}
                yield StoredInventory(
                    row.digest,
                    row.ref,
                    image.get("os"),
                    list(inv.get("packages") or ()),
                    list(row.finding_keys or ()),
                    row.db_version or "",
                )

    def count_inventories(self) -> int:
        with self._tx() as s:
            return int(s.execute(sa.select(sa.func.count()).select_from(InventoryRow)).scalar_one())

    def record_rematch(
        self,
        rematched: Sequence[StoredReport],
        matches: Sequence[tuple[str, list[str]]],
        changes: Sequence[Change],
        db_version: str,
    ) -> None:
        """One rematch, in one transaction: a finished job (origin ``rematch``) for each
        image that changed, carrying the new report; each inventory's finding keys
        (digest, keys); and the changes."""
        now = _now()
        with self._tx() as s:
            for r in rematched:
                base = s.get_one(JobRow, r.job_key)
                spec = JobSpec(r.image, tuple(base.scanners.split(",")), r.digest, db_version)
                row = s.get(JobRow, spec.key(), with_for_update=True)
                if row is None:
                    row = JobRow(
                        key=spec.key(),
                        digest=r.digest,
                        scanners=base.scanners,
                        sbom=False,
                        attempts=0,
                        created_at=now,
                        origin=Origin.REMATCH,
                    )
                    s.add(row)
                row.status, row.error, row.db_version = Status.DONE, None, db_version
                row.manifest_digest = base.manifest_digest
                row.report, row.verdict = r.report, facts(r.report)
                row.started_at = row.finished_at = now
            for digest, keys in matches:
                inv = s.get(InventoryRow, digest, with_for_update=True)
                if inv is not None:
                    inv.finding_keys, inv.db_version, inv.matched_at = keys, db_version, now
            s.add_all(
                RematchChangeRow(
                    run_at=now,
                    digest=c.digest,
                    ref=c.image,
                    db_version=db_version,
                    added=c.added,
                    removed=c.removed,
                )
                for c in changes
            )


#: advisory lock keys (PostgreSQL) and lock file suffixes (SQLite)
_MIGRATION_LOCK = 72656
REMATCH_LOCK = 72657


def _names(digest: str) -> sa.ColumnElement[bool]:
    return sa.or_(JobRow.digest == digest, JobRow.manifest_digest == digest)


#: what a ``StoredReport`` is made of (not the SBOMs beside it)
_REPORT_COLUMNS = (
    JobRow.key,
    JobRow.digest,
    JobRow.finished_at,
    JobRow.db_version,
    JobRow.report,
    JobRow.verdict,
)


def _stored_report(row: sa.Row[Any]) -> StoredReport:
    report = row.report or {}
    image = report.get("image")
    image = image if isinstance(image, dict) else {}
    return StoredReport(
        str(row.digest),
        str((row.verdict or {}).get("image") or image.get("ref", "")),
        iso(row.finished_at),
        row.db_version or "",
        report,
        row.key,
    )


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
