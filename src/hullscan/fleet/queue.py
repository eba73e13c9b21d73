"""Where fleet scans and admission's "scan" go: a queue of jobs, one per digest.

``JobQueue`` is the small interface both need (submit; wait for what was submitted).
``EmbeddedQueue`` runs the jobs in this process's worker threads (each scan reads its
layers in its own worker processes) and stores every report in the result store;
submitting a digest that is already queued or running returns that job.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, Protocol

from hullscan.errors import HullscanError
from hullscan.fleet.store import ResultStore


@dataclass(frozen=True)
class JobResult:
    job: str
    digest: str
    image: str
    error: str | None = None  # None: done, the report is stored


class JobQueue(Protocol):
    def submit(self, image: str, digest: str) -> str:
        """Enqueue a scan of ``image`` (a reference naming ``digest``); the job id."""
        ...

    def wait(self, jobs: Iterable[str]) -> Iterable[JobResult]:
        """The results of ``jobs`` as they finish."""
        ...


class EmbeddedQueue:
    def __init__(self, store: ResultStore, scan: Callable[[str], dict[str, Any]],
                 db_version: Callable[[], str], workers: int = 2) -> None:
        self.store = store
        self._scan = scan
        self._db_version = db_version
        self._pool = ThreadPoolExecutor(max(1, workers), thread_name_prefix="scan-job")
        self._jobs: dict[str, Future[JobResult]] = {}
        self._by_digest: dict[str, str] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def submit(self, image: str, digest: str) -> str:
        with self._lock:
            running = self._by_digest.get(digest)
            if running is not None and not self._jobs[running].done():
                return running
            job = f"job-{next(self._ids)}"
            self._by_digest[digest] = job
            self._jobs[job] = self._pool.submit(self._run, job, image, digest)
            return job

    def _run(self, job: str, image: str, digest: str) -> JobResult:
        try:
            version = self._db_version()
            report = self._scan(image)
            self.store.put_report(digest, image, report, version)
        except HullscanError as e:
            return JobResult(job, digest, image, str(e))
        except Exception as e:  # a bug in one scan must not stop the others
            return JobResult(job, digest, image, f"internal error: {type(e).__name__}: {e}")
        return JobResult(job, digest, image)

    def wait(self, jobs: Iterable[str]) -> Iterable[JobResult]:
        futures = [self._jobs[j] for j in jobs]
        for f in as_completed(futures):
            yield f.result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


__all__ = ["EmbeddedQueue", "JobQueue", "JobResult"]
