"""How jobs reach workers: the interface, the one submit step every caller uses (the
server's APIs, admission's ``unscanned: scan``, ``fleet scan``), and the embedded queue
(threads inside the process, the default). ``celery_queue`` is the scale-out one."""

from __future__ import annotations

import logging
import os
import queue
import secrets
import socket
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
    #: the queue, recorded on the jobs it carries ("celery", or "embedded:<id>": each
    #: embedded queue its own, see ``EmbeddedQueue``)
    kind: str

    def enqueue(self, msg: JobMessage) -> None: ...

    def depth(self) -> int:
        """Jobs waiting for a worker."""
        ...

    def ping(self) -> None:
        """Raises ``HullscanError`` when jobs cannot be queued."""
        ...

    def close(self) -> None: ...


def submit_job(
    store: Store,
    queue: Queue,
    spec: JobSpec,
    *,
    artifact: dict[str, Any] | None = None,
    insecure: tuple[str, ...] = (),
    username: str | None = None,
    password: str | None = None,
) -> Submission:
    """Record the request; queue its job unless an equal one is queued, running or done.
    A job that cannot be queued is marked failed (the next request queues it again)."""
    sub = store.submit(spec, artifact, queue.kind)
    if sub.enqueue:
        msg = JobMessage(
            sub.job_key,
            spec.ref,
            spec.scanners,
            spec.sbom,
            spec.digest,
            insecure,
            username,
            password,
        )
        try:
            queue.enqueue(msg)
        except HullscanError as e:
            store.fail(sub.job_key, str(e))
            raise
    return sub


class EmbeddedQueue:
    """Worker threads in this process; the layer analysis of each scan still fans out
    to processes. Messages live in memory only, so each embedded queue holds a lease on
    the store while it runs (renewed every ``LEASE_RENEW`` seconds): one starting marks
    failed the jobs of embedded queues that stopped without finishing them (a previous
    server, an interrupted fleet scan: their lease lapsed, or their process on this host
    is gone), never those of one still running beside it on the same store (a server and
    a fleet scan), nor Celery's. Its own unfinished jobs are failed when it closes.
    The next request for a failed job queues it again."""

    #: seconds between renewals of the lease, and after which an unrenewed one has lapsed
    LEASE_RENEW = 10.0
    LEASE_LAPSES = 60.0
    STOPPED = (
        "the process holding this scan's embedded queue stopped before it "
        "finished; request it again"
    )

    def __init__(self, ctx: WorkerContext, workers: int = 1) -> None:
        self.ctx = ctx
        #: this queue's name on the store's jobs and leases (16 characters at most)
        self.kind = f"embedded:{secrets.token_hex(4)[:7]}"
        self._queue: queue.Queue[JobMessage | None] = queue.Queue()
        host = socket.gethostname()
        ctx.store.hold_lease(self.kind, host, os.getpid())
        ctx.store.fail_abandoned(
            self.STOPPED, host=host, lapsed_after=self.LEASE_LAPSES, alive=_alive
        )
        self._closing = threading.Event()
        self._renewer = threading.Thread(
            target=self._renew, args=(host,), name="hullscan-queue-lease", daemon=True
        )
        self._renewer.start()
        self._threads = [
            threading.Thread(target=self._work, name=f"hullscan-worker-{i}", daemon=True)
            for i in range(max(1, workers))
        ]
        for t in self._threads:
            t.start()

    def _renew(self, host: str) -> None:
        while not self._closing.wait(self.LEASE_RENEW):
            try:
                self.ctx.store.hold_lease(self.kind, host, os.getpid())
            except Exception:  # the store is down for now: try again at the next round
                log.exception("embedded queue %s: could not renew its lease", self.kind)

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
        self._closing.set()
        self._renewer.join(timeout=5)
        try:  # what it still held is lost with it: say so now, not at the next start
            self.ctx.store.fail_unfinished(self.kind, self.STOPPED)
            self.ctx.store.release_lease(self.kind)
        except Exception:
            log.exception("embedded queue %s: could not release its jobs", self.kind)

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
                        time.sleep(BACKOFF * 2**attempt)
                except Exception:  # a worker thread must survive anything
                    log.exception("job %s", msg.key[:12])
                    self._give_up(msg, "internal error")
                    break

    def _give_up(self, msg: JobMessage, reason: str) -> None:
        try:
            self.ctx.store.fail(msg.key, reason)
        except Exception:
            log.exception("job %s: could not record the failure", msg.key[:12])


def _alive(pid: int) -> bool:
    """Whether process ``pid`` of this host still runs."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's: it exists
        return True
    return True


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
