"""One licence stack per scan: its layer workers ask the scan's process.

Classifying licence texts (``text.classify``) and naming declared licences in SPDX
(``spdx.to_spdx``) each load large tables on first use in a process: licenseclassifier's
templates (about 0.1 s, then its matcher's states, built as texts arrive),
LicenseLynx's table of names and license-expression's SPDX list (0.05-0.15 s). Loaded in
every layer worker, that is paid once per worker; asked of the scan's own process, once
per scan. A worker waits for each answer (a few tens of microseconds on a pipe, and the
answers are memoized on both sides), while the scan's process, otherwise idle waiting
for its workers, does the work once.

``LicenceService`` runs in the scan's process: a thread answering each worker on a pipe
of its own; ``connect_worker`` is the pool's initializer. Start the thread only once the
pool has forked its workers (a thread running at a fork can leave a lock held in the
child), and close it after the pool has shut down. A worker whose question finds it
closed answers it itself.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    import multiprocessing.context
    from collections.abc import Callable
    from multiprocessing.connection import Connection
    from multiprocessing.sharedctypes import Synchronized

#: this process's line to its scan's process, in a layer worker that has one
_remote: Connection | None = None


def connected() -> bool:
    """Whether this process asks its scan's process rather than loading the tables."""
    return _remote is not None


class Unavailable(Exception):
    """The scan's process no longer answers: the caller works it out itself."""


def ask(kind: str, payload: str) -> Any:
    """The scan process's answer to ``kind`` ("classify", "to_spdx") of ``payload``.

    When the scan's process has gone (killed: this worker dies with it, but may finish
    its layer first, and even store it in the cache), this process stops asking and the
    caller answers itself (``Unavailable``): an analysis never depends on the answer of
    a process that is not there."""
    global _remote
    assert _remote is not None
    try:
        _remote.send((kind, payload))
        ok, answer = _remote.recv()
    except (EOFError, OSError):
        _remote = None
        raise Unavailable from None
    if not ok:
        raise RuntimeError(f"licence {kind} failed: {answer}")
    return answer


def _answers() -> dict[str, Callable[[str], Any]]:
    from hullscan.licenses.spdx import to_spdx
    from hullscan.licenses.text import classify

    return {"classify": classify, "to_spdx": to_spdx}


class LicenceService:
    """Answers a process pool's workers, in this process, on a thread (see the module)."""

    def __init__(self, workers: int, context: multiprocessing.context.BaseContext) -> None:
        pipes = [context.Pipe() for _ in range(workers)]
        self._ours = [here for here, _ in pipes]
        self._theirs = [there for _, there in pipes]
        self._claimed: Synchronized[int] = context.Value("i", 0)
        self._wake, self._woken = context.Pipe()
        self._thread: threading.Thread | None = None
        self._answers = _answers()  # imported here: the thread starts beside a pull's downloads

    def worker_args(self) -> tuple[list[Connection], list[Connection], Synchronized[int]]:
        """The arguments ``connect_worker`` takes in each worker."""
        return self._theirs, self._ours, self._claimed

    def start(self) -> None:
        self._thread = threading.Thread(target=self._serve, name="hullscan-licences",
                                        daemon=True)
        self._thread.start()

    def close(self) -> None:
        if self._thread is not None:
            self._wake.send(None)
            self._thread.join()
        for conn in (*self._ours, *self._theirs, self._wake, self._woken):
            conn.close()

    def __enter__(self) -> LicenceService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _serve(self) -> None:
        from multiprocessing.connection import wait

        answers = self._answers
        open_conns: list[Connection] = list(self._ours)
        try:
            while True:
                for ready in wait([*open_conns, self._woken]):
                    if ready is self._woken:
                        return
                    conn = cast("Connection", ready)
                    try:
                        kind, payload = conn.recv()
                        conn.send(_answer(answers[kind], payload))
                    except (EOFError, OSError):  # that worker is gone
                        open_conns.remove(conn)
        finally:
            for conn in self._ours:  # a worker still waiting gets an end of file
                conn.close()


def _answer(function: Callable[[str], Any], payload: str) -> tuple[bool, Any]:
    try:
        return True, function(payload)
    except Exception as e:  # the worker reports it as that file's analysis error
        return False, f"{type(e).__name__}: {e}"


def connect_worker(theirs: list[Connection], ours: list[Connection],
                   claimed: Synchronized[int]) -> None:
    """In a pool worker: ask the scan's process on this worker's own pipe.

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
