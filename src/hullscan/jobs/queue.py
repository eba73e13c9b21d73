"""How jobs reach workers: the interface, the one submit step every caller uses (the
server's APIs, admission's ``unscanned: scan``, ``fleet scan``), and the embedded queue
(threads inside the process, the default). ``celery_queue`` is the scale-out one."""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any, Protocol

from hullscan.errors import HullscanError
from hullscan.jobs.runner import JobMessage, RetryLater, WorkerContext, run_job
from hullscan.jobs.store import JobSpec, Store, Submission

log = logging.getLogger("hullscan.jobs")

#: attempts for registry and network trouble, and the first backoff delay (doubles)
RETRIES = 4
BACKOFF = 2.0


class Queue(Protocol):
    #: the kind of queue, recorded on the jobs it carries ("embedded", "celery")
    kind: str

    def enqueue(self, msg: JobMessage) -> None: ...

    def depth(self) -> int:
        """Jobs waiting for a worker."""
        ...

    def ping(self) -> None:
        """Raises ``HullscanError`` when jobs cannot be queued."""
        ...

    def close(self) -> None: ...


def submit_job(store: Store, queue: Queue, spec: JobSpec, *,
               artifact: dict[str, Any] | None = None, insecure: tuple[str, ...] = (),
               username: str | None = None, password: str | None = None) -> Submission:
    """Record the request; queue its job unless an equal one is queued, running or done.
    A job that cannot be queued is marked failed (the next request queues it again)."""
    sub = store.submit(spec, artifact, queue.kind)
    if sub.enqueue:
        msg = JobMessage(sub.job_key, spec.ref, spec.scanners, spec.sbom, spec.digest,
                         insecure, username, password)
        try:
            queue.enqueue(msg)
        except HullscanError as e:
            store.fail(sub.job_key, str(e))
            raise
    return sub


class EmbeddedQueue:
    """Worker threads in this process; the layer analysis of each scan still fans out
    to processes. Messages live in memory only: jobs an embedded queue left queued or
    running (a previous server, an interrupted fleet scan) are marked failed at start
    (their credentials are gone), and the next request for them queues them again.
    Celery's jobs in the same store are left alone. One embedded queue per store."""

    kind = "embedded"

    def __init__(self, ctx: WorkerContext, workers: int = 1) -> None:
        self.ctx = ctx
        self._queue: queue.Queue[JobMessage | None] = queue.Queue()
        ctx.store.fail_unfinished(self.kind, "the process holding this scan's embedded "
                                             "queue stopped before it finished; request "
                                             "it again")
        self._threads = [threading.Thread(target=self._work, name=f"hullscan-worker-{i}",
                                          daemon=True) for i in range(max(1, workers))]
        for t in self._threads:
            t.start()

    def enqueue(self, msg: JobMessage) -> None:
        self._queue.put(msg)

    def depth(self) -> int:
        return self._queue.qsize()

    def ping(self) -> None:
        return None

    def close(self) -> None:
        for _ in self._threads:
            self._queue.put(None)
        for t in self._threads:
            t.join(timeout=5)

    def _work(self) -> None:
        while (msg := self._queue.get()) is not None:
            for attempt in range(RETRIES):
                try:
                    run_job(msg, self.ctx)
                    break
                except RetryLater as e:
                    if attempt == RETRIES - 1:
                        self._give_up(msg, str(e))
                    else:
                        time.sleep(BACKOFF * 2 ** attempt)
                except Exception:  # a worker thread must survive anything
                    log.exception("job %s", msg.key[:12])
                    self._give_up(msg, "internal error")
                    break

    def _give_up(self, msg: JobMessage, reason: str) -> None:
        try:
            self.ctx.store.fail(msg.key, reason)
        except Exception:
            log.exception("job %s: could not record the failure", msg.key[:12])


BROKERS = ("redis://", "rediss://", "amqp://", "amqps://")


def check_broker(url: str) -> None:
    if not url.startswith(BROKERS):
        raise HullscanError(f"--queue {url!r}: expected embedded, redis://… or amqp://…")


def open_queue(url: str, name: str, ctx: WorkerContext, workers: int = 1) -> Queue:
    """``embedded`` (``workers`` threads here, scanning into ``ctx.store``), or a Celery
    broker URL (``hullscan worker`` processes scan; ``name`` is the Celery queue)."""
    if url == "embedded":
        return EmbeddedQueue(ctx, workers)
    check_broker(url)
    from hullscan.jobs.celery_queue import CeleryQueue, CelerySettings

    return CeleryQueue(CelerySettings(url, name))
