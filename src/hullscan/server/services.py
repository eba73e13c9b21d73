"""What the routes share: settings, the store, the queue, and the submit step both APIs
use (record the request, queue the job unless an equal one is queued, running or done)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from hullscan.errors import HullscanError
from hullscan.jobs.queue import Queue
from hullscan.jobs.runner import JobMessage
from hullscan.jobs.scanning import db_version
from hullscan.jobs.store import JobSpec, Store, Submission
from hullscan.server.settings import ServerSettings

#: seconds the database version is remembered between requests (a swap is seen soon)
_DB_VERSION_TTL = 10.0


@dataclass
class Services:
    settings: ServerSettings
    store: Store
    queue: Queue
    _db_version: tuple[float, str | None] = field(default=(0.0, None))

    def db_version(self) -> str | None:
        at, version = self._db_version
        if time.monotonic() - at > _DB_VERSION_TTL:
            try:
                version = db_version(self.settings.db_path)
            except HullscanError:
                version = None
            self._db_version = (time.monotonic(), version)
        return version

    def submit(self, spec: JobSpec, *, artifact: dict[str, Any] | None = None,
               insecure: tuple[str, ...] = (), username: str | None = None,
               password: str | None = None) -> Submission:
        sub = self.store.submit(spec, artifact)
        if sub.enqueue:
            msg = JobMessage(sub.job_key, spec.ref, spec.scanners, spec.sbom, spec.digest,
                             insecure, username, password)
            try:
                self.queue.enqueue(msg)
            except HullscanError as e:
                self.store.fail(sub.job_key, str(e))
                raise
        return sub


def services(request: Request) -> Services:
    s: Services = request.app.state.services
    return s
