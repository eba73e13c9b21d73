"""What the routes share: settings, the store, the queue, the admission webhook, and the
submit step both APIs use (``hullscan.jobs.queue.submit_job``)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import Request

from hullscan.errors import HullscanError
from hullscan.jobs.queue import Queue, submit_job
from hullscan.jobs.scanning import db_version
from hullscan.jobs.store import JobSpec, Store, Submission
from hullscan.server.settings import ServerSettings

if TYPE_CHECKING:
    from hullscan.admission.webhook import AdmissionWebhook

#: seconds the database version is remembered between requests (a swap is seen soon)
_DB_VERSION_TTL = 10.0


@dataclass
class Services:
    settings: ServerSettings
    store: Store
    queue: Queue
    #: the admission webhook (``/v1/admission``), judging from ``store``
    admission: AdmissionWebhook | None = None
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

    def submit(
        self,
        spec: JobSpec,
        *,
        artifact: dict[str, Any] | None = None,
        insecure: tuple[str, ...] = (),
        username: str | None = None,
        password: str | None = None,
    ) -> Submission:
        return submit_job(
            self.store,
            self.queue,
            spec,
            artifact=artifact,
            insecure=insecure,
            username=username,
            password=password,
        )


def admission_webhook(svc: Services) -> AdmissionWebhook:
    """The webhook of ``svc``'s ``admission:`` policy: verdicts from the store, and for
    ``unscanned: scan`` scans submitted like any other request."""
    from hullscan.admission.evaluate import Evaluator
    from hullscan.admission.webhook import AdmissionWebhook
    from hullscan.fleet.jobs import StoreJobs
    from hullscan.scanners import DEFAULT_SCANNERS

    policy = svc.settings.settings.admission
    scans = (
        StoreJobs(svc.store, svc.queue, DEFAULT_SCANNERS, svc.db_version)
        if policy.unscanned == "scan"
        else None
    )
    return AdmissionWebhook(
        Evaluator(policy, svc.store, queue=scans, registry=svc.settings.settings.registries)
    )


def services(request: Request) -> Services:
    s: Services = request.app.state.services
    return s
