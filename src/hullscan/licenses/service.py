"""One licence stack per scan: its layer workers ask one service process.

Classifying licence texts (``text.classify``) and naming declared licences in SPDX
(``spdx.to_spdx``) each load large tables on first use in a process: licenseclassifier's
templates (about 0.1 s and 14 MB, then its matcher's states, built as texts arrive),
LicenseLynx's table of names and license-expression's SPDX list (0.05-0.15 s, 10 MB).
Loaded in every layer worker, that is paid once per worker; asked of one service
process, once per scan. A worker waits for each answer (a few tens of microseconds on a
pipe, and answers are memoized on both sides). The service is a process of its own, not
a thread of the scan's: the scan's process holds a pull's downloads, and with the tables
as well it went past 100 MB.

``LicenceService`` starts the service process when entered, before the pool's workers
are forked (they inherit none of its ends), and stops it on exit, after the pool; each
worker gets a pipe of its own (``connect_worker`` is the pool's initializer). A worker
whose question finds the service gone (a killed scan) answers it itself.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    import multiprocessing.context
    import multiprocessing.process
    from collections.abc import Callable
    from multiprocessing.connection import Connection
    from multiprocessing.sharedctypes import Synchronized

#: this process's line to its scan's licence service, in a layer worker that has one
_remote: Connection | None = None


def connected() -> bool:
    """Whether this process asks its scan's service rather than loading the tables."""
    return _remote is not None


class Unavailable(Exception):
    """The service no longer answers: the caller works it out itself."""


def ask(kind: str, payload: str) -> Any:
    """The service's answer to ``kind`` ("classify", "to_spdx") of ``payload``.

    When the service has gone (a killed scan: this worker dies with it, but may finish
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
    """Answers a process pool's workers from a process of its own (see the module)."""

    def __init__(self, workers: int, context: multiprocessing.context.BaseContext) -> None:
        pipes = [context.Pipe() for _ in range(workers)]
        self._ours = [here for here, _ in pipes]
        self._theirs = [there for _, there in pipes]
        self._claimed: Synchronized[int] = context.Value("i", 0)
        self._wake, self._woken = context.Pipe()
        self._context = context
        self._process: multiprocessing.process.BaseProcess | None = None

    def worker_args(self) -> tuple[list[Connection], Synchronized[int]]:
        """The arguments ``connect_worker`` takes in each worker."""
        return self._theirs, self._claimed

    def start(self) -> None:
        """Start the service process: before the pool's workers, which then inherit none
        of its pipe ends (a worker would otherwise never see the service's end of file)."""
        self._process = self._context.Process(  # type: ignore[attr-defined]
            target=_serve,
            args=(self._ours, self._woken, self._wake),
            name="hullscan-licences",
            daemon=True,
        )
        self._process.start()
        for conn in (*self._ours, self._woken):
            conn.close()  # the service process's now

    def close(self) -> None:
        if self._process is not None:
            with contextlib.suppress(OSError):
                self._wake.send(None)
            self._process.join()
        for conn in (*self._ours, *self._theirs, self._wake, self._woken):
            conn.close()

    def __enter__(self) -> LicenceService:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _serve(ours: list[Connection], woken: Connection, wake: Connection) -> None:
    """The service process: answer each worker's questions until told to stop; it dies
    with the scan's process."""
    from multiprocessing.connection import wait

    from hullscan.lifetime import die_with_parent

    die_with_parent()
    wake.close()  # the scan's end, which a fork copies
    answers = _answers()
    open_conns = list(ours)
    while True:
        for ready in wait([*open_conns, woken]):
            if ready is woken:
                return
            conn = cast("Connection", ready)
            try:
                kind, payload = conn.recv()
                conn.send(_answer(answers[kind], payload))
            except (EOFError, OSError):  # that worker is gone
                open_conns.remove(conn)


def _answer(function: Callable[[str], Any], payload: str) -> tuple[bool, Any]:
    try:
        return True, function(payload)
    except Exception as e:  # the worker reports it as that file's analysis error
        return False, f"{type(e).__name__}: {e}"


def connect_worker(theirs: list[Connection], claimed: Synchronized[int]) -> None:
    """In a pool worker: ask the service on this worker's own pipe (the other workers'
    ends, which a fork inherits, are closed)."""
    global _remote
    with claimed.get_lock():
        slot = claimed.value
        claimed.value += 1
    for i, conn in enumerate(theirs):
        if i != slot:
            conn.close()
    _remote = theirs[slot]
