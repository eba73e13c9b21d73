"""Embedded queues sharing one store (a server and a fleet scan, on SQLite or PostgreSQL):
each holds a lease while it runs, so one starting gives up only the jobs of those that
stopped (their lease lapsed, or their process on this host is gone), never those of one
running beside it; each fails its own unfinished jobs as it closes."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hullscan.jobs.queue import EmbeddedQueue
from hullscan.jobs.runner import WorkerContext
from hullscan.jobs.store import JobSpec, Status, Store

from services import PG_URL, create_database, drop_database, missing, reachable

SCANNERS = ("vuln", "secret")


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        s = Store(f"sqlite:///{tmp_path / 'results.sqlite'}")
        yield s
        s.close()
        return
    if not reachable("127.0.0.1", 5432):
        missing("PostgreSQL is not running on 127.0.0.1:5432")
    db = create_database(PG_URL)
    s = Store(db.url)
    try:
        yield s
    finally:
        s.close()
        drop_database(PG_URL, db)


def _queue(store: Store, tmp_path: Path) -> EmbeddedQueue:
    return EmbeddedQueue(WorkerContext(store, tmp_path / "cache", tmp_path / "db"), 1)


def _running_job(store: Store, queue: str, name: str) -> str:
    """A job ``queue`` carries, claimed by its worker; its scan id."""
    digest = "sha256:" + name * 64
    sub = store.submit(
        JobSpec(f"registry:r.example/{name}@{digest}", SCANNERS, digest, "v1"), queue=queue
    )
    store.claim(sub.job_key)
    return sub.scan_id


def _status(store: Store, scan_id: str) -> str:
    scan = store.get_scan(scan_id)
    assert scan is not None
    return scan.job.status


def test_two_embedded_queues_leave_each_other_alone(store: Store, tmp_path: Path) -> None:
    server = _queue(store, tmp_path)
    scanning = _running_job(store, server.kind, "a")
    fleet = _queue(store, tmp_path)  # a fleet scan starting beside the server
    assert _status(store, scanning) == Status.RUNNING
    mine = _running_job(store, fleet.kind, "b")
    fleet.close()  # its own unfinished job is failed as it closes, not the server's
    assert _status(store, mine) == Status.FAILED
    assert _status(store, scanning) == Status.RUNNING
    server.close()
    scan = store.get_scan(scanning)
    assert scan is not None and scan.job.status == Status.FAILED
    assert "embedded queue stopped" in (scan.job.error or "")


def test_the_jobs_of_a_stopped_queue_are_given_up(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()  # a pid no process of this host has now
    store.hold_lease("embedded:killed", socket.gethostname(), gone.pid)
    killed = _running_job(store, "embedded:killed", "c")
    store.hold_lease("embedded:faraway", "another-host", 1)
    elsewhere = _running_job(store, "embedded:faraway", "d")
    legacy = _running_job(store, "embedded", "e")  # a row from before leases
    celery = _running_job(store, "celery", "f")
    queue = _queue(store, tmp_path)
    # killed on this host: at once; another host's, still renewed: left alone
    assert _status(store, killed) == Status.FAILED
    assert _status(store, elsewhere) == Status.RUNNING
    assert _status(store, legacy) == Status.FAILED
    assert _status(store, celery) == Status.RUNNING  # the broker keeps Celery's messages
    queue.close()
    # the other host's queue stops renewing: once its lease lapsed, its jobs go too
    monkeypatch.setattr(EmbeddedQueue, "LEASE_LAPSES", 0.5)
    time.sleep(1.0)
    _queue(store, tmp_path).close()
    assert _status(store, elsewhere) == Status.FAILED
    assert _status(store, celery) == Status.RUNNING


def test_a_running_queue_renews_its_lease(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(EmbeddedQueue, "LEASE_RENEW", 0.1)
    monkeypatch.setattr(EmbeddedQueue, "LEASE_LAPSES", 1.0)
    server = _queue(store, tmp_path)
    scanning = _running_job(store, server.kind, "a")
    time.sleep(2.0)  # twice the lapse: only renewals keep the lease
    _queue(store, tmp_path).close()
    assert _status(store, scanning) == Status.RUNNING
    server.close()
