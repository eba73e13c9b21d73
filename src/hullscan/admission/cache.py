"""A cache of slow look-ups (signature checks, tag resolution) that an admission answer
may wait for only so long.

Each look-up runs once in a shared thread pool; callers wait for it up to their own
deadline. A look-up still running when a caller gives up keeps running and fills the
cache, so the API server's retry (or the next pod of the same image) is answered from
it. Results are kept for ``ttl`` seconds, failures for ``failure_ttl``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
MAX_ENTRIES = 10_000


@dataclass
class _Entry(Generic[T]):
    future: Future[T]
    expires: float | None = None  # None while running


class LookupCache(Generic[T]):
    def __init__(
        self,
        executor: ThreadPoolExecutor,
        ttl: float,
        failure_ttl: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        failed: Callable[[T], bool] = lambda _: False,
    ) -> None:
        self._executor = executor
        self._ttl, self._failure_ttl = ttl, failure_ttl
        self._clock = clock
        self._failed = failed
        self._entries: dict[Hashable, _Entry[T]] = {}
        self._lock = threading.Lock()
        self.runs = 0  # look-ups started (tests and metrics)

    def get(self, key: Hashable, run: Callable[[], T]) -> Future[T]:
        """The running or finished look-up for ``key``, started if there is none."""
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and (entry.expires is None or entry.expires > now):
                return entry.future
            if len(self._entries) >= MAX_ENTRIES:
                self._evict(now)
            future = self._executor.submit(run)
            entry = _Entry(future)
            self._entries[key] = entry
            self.runs += 1
        future.add_done_callback(lambda f: self._done(entry, f))
        return future

    def _done(self, entry: _Entry[T], future: Future[T]) -> None:
        failed = future.exception() is not None or self._failed(future.result())
        with self._lock:
            entry.expires = self._clock() + (self._failure_ttl if failed else self._ttl)

    def _evict(self, now: float) -> None:
        for key in [
            k for k, e in self._entries.items() if e.expires is not None and e.expires <= now
        ]:
            del self._entries[key]
        while len(self._entries) >= MAX_ENTRIES:  # all fresh: drop the oldest
            del self._entries[next(iter(self._entries))]


__all__ = ["LookupCache"]
