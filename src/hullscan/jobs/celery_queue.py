"""The scale-out queue: Celery on Redis (``redis://``) or RabbitMQ (``amqp://``).

Set up as Celery's documentation says for long jobs: a message is acknowledged only
after its scan is stored (``acks_late``), a worker that dies mid-scan gives it back
(``reject_on_worker_lost``; on RabbitMQ at once, on Redis after the visibility
timeout, which must exceed the longest scan), each worker takes one message at a time
(prefetch 1), and only registry and network failures are retried, with backoff. The
result store is hullscan's own (``--store``): Celery keeps no results.

Pull credentials travel inside the message (they must reach whichever worker takes
it) and are never shown in Celery's logs or events (``argsrepr``).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any

from celery import Celery, Task

from hullscan.jobs.runner import JobMessage, RetryLater, WorkerContext, run_job
from hullscan.jobs.store import StoreError

TASK = "hullscan.scan"
#: seconds; Redis hands an unacknowledged message to another worker after this long
DEFAULT_VISIBILITY_TIMEOUT = 4 * 3600


@dataclass(frozen=True)
class CelerySettings:
    broker: str
    #: the queue's name: lets several deployments (or test runs) share one broker
    queue: str = "hullscan"
    visibility_timeout: int = DEFAULT_VISIBILITY_TIMEOUT
    max_retries: int = 5


#: the worker's context, set once per worker process by ``hullscan worker``
_context: WorkerContext | None = None


def make_app(settings: CelerySettings) -> Celery:
    app = Celery("hullscan", broker=settings.broker, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        result_backend=None,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_concurrency=1,
        task_default_queue=settings.queue,
        task_queues=None,
        broker_transport_options={
            "visibility_timeout": settings.visibility_timeout,
            "global_keyprefix": f"{settings.queue}:",
        }
        if settings.broker.startswith(("redis://", "rediss://"))
        else {},
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
    )

    @app.task(  # type: ignore[untyped-decorator]
        name=TASK,
        bind=True,
        acks_late=True,
        reject_on_worker_lost=True,
        autoretry_for=(RetryLater,),
        retry_backoff=2,
        retry_backoff_max=300,
        retry_jitter=True,
        max_retries=settings.max_retries,
    )
    def scan(self: Task, message: dict[str, Any]) -> None:
        if _context is None:
            raise RuntimeError("hullscan worker: no context (start it with hullscan worker)")
        msg = JobMessage.from_wire(message)
        try:
            run_job(msg, _context)
        except RetryLater:
            if self.request.retries >= settings.max_retries:
                with contextlib.suppress(StoreError):
                    _context.store.fail(
                        msg.key, "gave up after repeated registry, network or store failures"
                    )
            raise

    return app


class CeleryQueue:
    """The server's side: publish jobs, count what waits, check the broker."""

    kind = "celery"

    def __init__(self, settings: CelerySettings) -> None:
        self.settings = settings
        self.app = make_app(settings)

    def enqueue(self, msg: JobMessage) -> None:
        from kombu.exceptions import OperationalError

        from hullscan.errors import HullscanError

        try:
            self.app.send_task(
                TASK,
                args=[msg.to_wire()],
                queue=self.settings.queue,
                argsrepr=f"[{msg.key[:12]}]",
                kwargsrepr="{}",
                retry=True,
                retry_policy={"max_retries": 3, "interval_start": 0.2},
            )
        except OperationalError as e:
            raise HullscanError(f"job queue unreachable: {e}") from e

    def depth(self) -> int:
        from amqp.exceptions import NotFound
        from kombu.exceptions import ChannelError

        with self.app.connection_for_read() as conn:
            try:
                ok = conn.default_channel.queue_declare(self.settings.queue, passive=True)
            except (ChannelError, NotFound):  # Redis: an empty queue does not exist
                return 0
            return int(ok.message_count)

    def ping(self) -> None:
        from hullscan.errors import HullscanError

        try:
            with self.app.connection_for_read() as conn:
                conn.ensure_connection(max_retries=1, timeout=2)
                conn.default_channel.queue_declare(
                    self.settings.queue, durable=True, auto_delete=False
                )
        except Exception as e:
            raise HullscanError(f"job queue unreachable: {e}") from e

    def close(self) -> None:
        self.app.close()


def run_worker(
    settings: CelerySettings,
    ctx: WorkerContext,
    *,
    loglevel: str = "INFO",
    hostname: str | None = None,
) -> None:
    """One worker process, one scan at a time (scans fan out to processes inside)."""
    global _context
    _context = ctx
    app = make_app(settings)
    argv = [
        "worker",
        "--pool",
        "solo",
        "--concurrency",
        "1",
        "--loglevel",
        loglevel,
        "--queues",
        settings.queue,
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--hostname",
        hostname or f"hullscan-{os.getpid()}@%h",
    ]
    app.worker_main(argv)
