"""Licence texts → SPDX ids, only when the match is confident.

licenseclassifier (a port of Go's licensecheck) reports the licences whose text makes
up at least 75 % of the input, else nothing: a README that mentions the MIT licence
is not classified as MIT. Its templates cover the SPDX list.

The classifier is costly to start in every process: loading it takes about 0.1 s, and
its matcher builds the states it needs as texts arrive (10-50 ms for each new kind of
text, about 3 ms once they are built). A scan's worker processes therefore ask the
scan's own process (``ClassifierService``), which loads and warms one classifier for
all of them: on the largest corpus image, 0.44 CPU-s of classification in two workers
against 0.22 s in one process.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    import multiprocessing.context
    from multiprocessing.connection import Connection
    from multiprocessing.sharedctypes import Synchronized

#: texts beyond this are not classified: the GPL-3.0 is 35 KiB, and a 68 KiB file costs 0.2 s
MAX_TEXT = 64 * 1024

#: this process's line to the scan process's classifier, in a worker that has one
_remote: Connection | None = None
#: the classifier's matcher memoizes states in plain dicts: one text at a time
_lock = threading.Lock()


@lru_cache(maxsize=128)
def classify(text: str) -> tuple[str, ...]:
    """The distinct SPDX ids (normalized) of the licence texts found in ``text``, in order of
    appearance; empty unless they cover most of it. Memoized: the same texts recur
    (every Apache-licensed jar carries the same LICENSE)."""
    if not text.strip() or len(text) > MAX_TEXT:
        return ()
    if _remote is not None:
        return _ask(_remote, text)
    return _classify_here(text)


def _classify_here(text: str) -> tuple[str, ...]:
    from licenseclassifier import identify_license  # ~0.1 s to load its templates

    from hullscan.licenses.spdx import spdx_license_expression

    with _lock:
        matches = identify_license(text)
    found = (spdx_license_expression(m.id) for m in matches)
    return tuple(dict.fromkeys(i for i in found if i))


def _ask(conn: Connection, text: str) -> tuple[str, ...]:
    conn.send(text)
    ok, answer = conn.recv()
    if not ok:
        raise RuntimeError(f"licence classification failed: {answer}")
    return tuple(answer)


class ClassifierService:
    """Classifies licence texts for a process pool's workers, in this process, on a thread.

    Each worker gets a pipe of its own (``connect_worker``, the pool's initializer, takes
    the next free one). Start the thread only once the pool has forked its workers (a
    thread running at a fork can leave a lock held in the child); close it after the pool
    has shut down. A worker waiting for an answer when the service closes gets an error.
    """

    def __init__(self, workers: int, context: multiprocessing.context.BaseContext) -> None:
        pipes = [context.Pipe() for _ in range(workers)]
        self._ours = [here for here, _ in pipes]
        self._theirs = [there for _, there in pipes]
        self._claimed: Synchronized[int] = context.Value("i", 0)
        self._wake, self._woken = context.Pipe()
        self._thread: threading.Thread | None = None

    def worker_args(self) -> tuple[list[Connection], list[Connection], Synchronized[int]]:
        """The arguments ``connect_worker`` takes in each worker."""
        return self._theirs, self._ours, self._claimed

    def start(self) -> None:
        self._thread = threading.Thread(target=self._serve, name="hullscan-licence-texts",
                                        daemon=True)
        self._thread.start()

    def close(self) -> None:
        if self._thread is not None:
            self._wake.send(None)
            self._thread.join()
        for conn in (*self._ours, *self._theirs, self._wake, self._woken):
            conn.close()

    def __enter__(self) -> ClassifierService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _serve(self) -> None:
        from multiprocessing.connection import wait

        open_conns: list[Connection] = list(self._ours)
        try:
            while True:
                for ready in wait([*open_conns, self._woken]):
                    if ready is self._woken:
                        return
                    conn = cast("Connection", ready)
                    try:
                        conn.send(self._answer(conn.recv()))
                    except (EOFError, OSError):  # that worker is gone
                        open_conns.remove(conn)
        finally:
            for conn in self._ours:  # a worker still waiting gets an end of file
                conn.close()

    @staticmethod
    def _answer(text: str) -> tuple[bool, Any]:
        try:
            return True, classify(text)
        except Exception as e:  # the worker reports it as that file's analysis error
            return False, f"{type(e).__name__}: {e}"


def connect_worker(theirs: list[Connection], ours: list[Connection],
                   claimed: Synchronized[int]) -> None:
    """In a pool worker: send this process's licence texts to the service on its pipe.

    Every other end this process holds (a fork inherits them all) is closed, so that a
    worker waiting on a service that has closed gets an end of file, not a wait forever."""
    global _remote
    with claimed.get_lock():
        slot = claimed.value
        claimed.value += 1
    for i, conn in enumerate([*theirs, *ours]):
        if i != slot:
            conn.close()
    _remote = theirs[slot]
