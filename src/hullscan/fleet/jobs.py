"""Fleet scan jobs on the server's store and queue: each digest is one request through
``hullscan.jobs.queue.submit_job``, exactly as ``POST /v1/scans`` makes it, so a fleet
scan shares jobs (and finished results) with the server, Harbor and admission, and runs
on whichever queue the deployment has: the embedded one (worker threads here) or Celery
(``hullscan worker`` processes on any machine).

``JobQueue`` is what ``plan.fleet_scan`` needs: when a digest was last scanned, submit
one digest, then wait for what was submitted. ``StoreJobs`` is it with the store and
queue at hand (admission's ``unscanned: scan`` submits through it too); ``ServerJobs``
is it over a running server's API (``POST /v1/scans``), for a machine that has the
server's address and a key but not its database or broker.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from hullscan.errors import HullscanError
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
    def scanned(self, digest: str) -> tuple[str | None, str | None] | None:
        """(database version, when) of the newest scan of ``digest``; None if never.
        Either may be unknown (None)."""
        ...

    def submit(self, image: str, digest: str) -> str:
        """Enqueue a scan of ``image`` (a reference naming ``digest``); the request id."""
        ...

    def wait(self, jobs: Iterable[str]) -> Iterable[JobResult]:
        """The results of ``jobs`` as they finish."""
        ...


class StoreJobs:
    def __init__(
        self,
        store: Store,
        queue: Queue,
        scanners: tuple[str, ...],
        db_version: Callable[[], str | None],
        *,
        insecure: tuple[str, ...] = (),
        username: str | None = None,
        password: str | None = None,
        poll: float = POLL,
    ) -> None:
        self.store, self.queue, self.scanners = store, queue, scanners
        #: the database version the idempotency key names (read at each submission)
        self.db_version = db_version
        # pull credentials travel in each job's message, never into the store
        self._insecure, self._username, self._password = insecure, username, password
        self.poll = poll
        self._submitted: dict[str, tuple[str, str]] = {}  # request id -> (digest, image)

    def scanned(self, digest: str) -> tuple[str | None, str | None] | None:
        return self.store.scanned(digest)

    def submit(self, image: str, digest: str) -> str:
        sub = submit_job(
            self.store,
            self.queue,
            JobSpec(
                image, self.scanners, digest, self.db_version() if "vuln" in self.scanners else None
            ),
            insecure=self._insecure,
            username=self._username,
            password=self._password,
        )
        self._submitted[sub.scan_id] = (digest, image)
        return sub.scan_id

    def wait(self, jobs: Iterable[str]) -> Iterator[JobResult]:
        # one query a round for every pending job: a fleet waits on thousands
        return _follow(jobs, self._submitted, self.store.scan_states, self.poll)


class ServerJobs:
    """Jobs through ``hullscan server``'s own API: each digest a ``POST /v1/scans``
    (the server de-duplicates equal requests, so a digest it scanned with its current
    database comes back done at once), followed with ``GET /v1/scans/{id}``."""

    def __init__(
        self,
        url: str,
        api_key: str | None,
        scanners: tuple[str, ...],
        *,
        verify: ssl.SSLContext | bool = True,
        poll: float = POLL,
        timeout: float = 30.0,
    ) -> None:
        import httpx

        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(
            base_url=url.rstrip("/"),
            headers=headers,
            verify=verify,
            timeout=timeout,
            follow_redirects=False,
        )
        self.url, self.scanners, self.poll = url, scanners, poll
        self._submitted: dict[str, tuple[str, str]] = {}

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        return self._answer(method, path, **kw)[0]

    def _answer(self, method: str, path: str, **kw: Any) -> tuple[Any, Mapping[str, str]]:
        """The answer's JSON document (None: a GET of something absent) and headers."""
        import httpx

        try:
            r = self._http.request(method, path, **kw)
        except httpx.HTTPError as e:
            raise HullscanError(f"{self.url}: {type(e).__name__}: {e}") from None
        if r.status_code == 404 and method == "GET":
            return None, r.headers
        if r.status_code >= 400:
            try:
                why = r.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                why = r.text[:200]
            hint = " (give the server's API key: HULLSCAN_API_KEY)" if r.status_code == 401 else ""
            raise HullscanError(f"{self.url}{path}: {r.status_code} {why}{hint}")
        try:
            return r.json(), r.headers
        except ValueError:
            raise HullscanError(f"{self.url}{path}: the answer is not JSON") from None

    def check(self) -> None:
        """Reach the server with the key before listing the registry (a wrong address,
        certificate or key is the first error, not the last)."""
        self._call("GET", "/v1/images/sha256:" + "0" * 64)

    def scanned(self, digest: str) -> tuple[str | None, str | None] | None:
        doc, headers = self._answer("GET", f"/v1/images/{digest}")
        if not isinstance(doc, dict):
            return None
        database = doc.get("database")
        version = database.get("version") if isinstance(database, dict) else None
        return (str(version) if version else None, _http_date(headers.get("Last-Modified")))

    def submit(self, image: str, digest: str) -> str:
        doc = self._call(
            "POST", "/v1/scans", json={"image": image, "scanners": list(self.scanners)}
        )
        if not isinstance(doc, dict) or not isinstance(doc.get("id"), str):
            raise HullscanError(f"{self.url}/v1/scans: no scan id in the answer")
        self._submitted[doc["id"]] = (digest, image)
        return str(doc["id"])

    def wait(self, jobs: Iterable[str]) -> Iterator[JobResult]:
        def states(scan_ids: list[str]) -> dict[str, tuple[str, str | None]]:
            out = {}
            for scan_id in scan_ids:  # the API has no batch read
                doc = self._call("GET", f"/v1/scans/{scan_id}")
                if isinstance(doc, dict):
                    out[scan_id] = (str(doc.get("status")), doc.get("error"))
            return out

        return _follow(jobs, self._submitted, states, self.poll)


def _http_date(value: str | None) -> str | None:
    """An HTTP date (``Last-Modified``: when the server's report was made) as the store's
    ISO 8601 UTC; None if absent or unreadable (a server without it)."""
    from email.utils import parsedate_to_datetime

    from hullscan.jobs.store import iso

    if not value:
        return None
    try:
        return iso(parsedate_to_datetime(value))
    except (TypeError, ValueError):
        return None


def _follow(
    jobs: Iterable[str],
    submitted: dict[str, tuple[str, str]],
    states: Callable[[list[str]], Mapping[str, tuple[str, str | None]]],
    poll: float,
) -> Iterator[JobResult]:
    """Each job's result as it ends, reading ``states(ids)`` (each request's status and
    error; a request missing from it is gone) every ``poll`` seconds."""
    pending = list(jobs)
    while pending:
        still = []
        known = states(pending)
        for scan_id in pending:
            digest, image = submitted[scan_id]
            status, error = known.get(scan_id, (None, None))
            if status is None:
                yield JobResult(scan_id, digest, image, "the request is gone")
            elif status == Status.DONE:
                yield JobResult(scan_id, digest, image)
            elif status == Status.FAILED:
                yield JobResult(scan_id, digest, image, error or "failed")
            else:
                still.append(scan_id)
        pending = still
        if pending:
            time.sleep(poll)


__all__ = ["JobQueue", "JobResult", "ServerJobs", "StoreJobs"]
