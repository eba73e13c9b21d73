"""Fleet scan jobs on the server's store and queue: each digest is one request through
``hullscan.jobs.queue.submit_job``, exactly as ``POST /v1/scans`` makes it, so a fleet
scan shares jobs (and finished results) with the server, Harbor and admission, and runs
on whichever queue the deployment has: the embedded one (worker threads here) or Celery
(``hullscan worker`` processes on any machine).

``JobQueue`` is what ``plan.fleet_scan`` needs: submit one digest, then wait for what
was submitted; ``StoreJobs`` is it, waiting by reading the store. Admission's
``unscanned: scan`` submits through it too.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from hullscan.jobs.queue import Queue, submit_job
from hullscan.jobs.store import JobSpec, Status, Store

#: seconds between two reads of the store while jobs run
POLL = 0.5


@dataclass(frozen=True)
class JobResult:
    job: str
    digest: str
    image: str
    error: str | None = None  # None: done, the report is stored


class JobQueue(Protocol):
    def submit(self, image: str, digest: str) -> str:
        """Enqueue a scan of ``image`` (a reference naming ``digest``); the request id."""
        ...

    def wait(self, jobs: Iterable[str]) -> Iterable[JobResult]:
        """The results of ``jobs`` as they finish."""
        ...


class StoreJobs:
    def __init__(self, store: Store, queue: Queue, scanners: tuple[str, ...],
                 db_version: Callable[[], str | None], *, insecure: tuple[str, ...] = (),
                 username: str | None = None, password: str | None = None,
                 poll: float = POLL) -> None:
        self.store, self.queue, self.scanners = store, queue, scanners
        #: the database version the idempotency key names (read at each submission)
        self.db_version = db_version
        # pull credentials travel in each job's message, never into the store
        self._insecure, self._username, self._password = insecure, username, password
        self.poll = poll
        self._submitted: dict[str, tuple[str, str]] = {}  # request id -> (digest, image)

    def submit(self, image: str, digest: str) -> str:
        sub = submit_job(self.store, self.queue,
                         JobSpec(image, self.scanners, digest,
                                 self.db_version() if "vuln" in self.scanners else None),
                         insecure=self._insecure, username=self._username,
                         password=self._password)
        self._submitted[sub.scan_id] = (digest, image)
        return sub.scan_id

    def wait(self, jobs: Iterable[str]) -> Iterator[JobResult]:
        pending = list(jobs)
        while pending:
            still = []
            for scan_id in pending:
                digest, image = self._submitted[scan_id]
                scan = self.store.get_scan(scan_id)
                if scan is None:
                    yield JobResult(scan_id, digest, image, "the request is not in the store")
                elif scan.job.status == Status.DONE:
                    yield JobResult(scan_id, digest, image)
                elif scan.job.status == Status.FAILED:
                    yield JobResult(scan_id, digest, image, scan.job.error or "failed")
                else:
                    still.append(scan_id)
            pending = still
            if pending:
                time.sleep(self.poll)


__all__ = ["JobQueue", "JobResult", "StoreJobs"]
