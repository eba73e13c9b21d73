"""The web pages (``/ui``): the scans the server holds, each image's latest report in the
same view as ``--format html``, and the fleet summary. Read-only, and behind the same
guard as the API (the Guard middleware wraps the whole application)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from fastapi.responses import HTMLResponse, RedirectResponse

from hullscan.jobs.store import Status
from hullscan.report.html import (
    fleet_page,
    image_page,
    message_page,
    scans_page,
    worst_severity,
)
from hullscan.server.services import Services, services

router = APIRouter(prefix="/ui", include_in_schema=False)
BASE = "/ui"
#: scans the list shows, newest first
MAX_SCANS = 500


@router.get("")
def index() -> RedirectResponse:
    return RedirectResponse(f"{BASE}/scans", status_code=303)


@router.get("/scans", response_class=HTMLResponse)
def scans(svc: Annotated[Services, Depends(services)]) -> HTMLResponse:
    rows: list[dict[str, Any]] = []
    for scan in svc.store.list_scans(limit=MAX_SCANS):
        job = scan.job
        report = svc.store.report(job.key) if job.status == Status.DONE else None
        rows.append(
            {
                "id": scan.id,
                "status": job.status.value,
                "image": scan.ref,
                "digest": job.digest,
                "worst_severity": worst_severity(report) if report else None,
                "created": scan.created_at.isoformat(),
                "error": job.error,
            }
        )
    return HTMLResponse(scans_page(rows, base=BASE))


@router.get("/images/{digest}", response_class=HTMLResponse)
def image(
    digest: Annotated[str, Path(pattern=r"^sha256:[0-9a-f]{64}$")],
    svc: Annotated[Services, Depends(services)],
) -> HTMLResponse:
    job = svc.store.latest_job(digest)
    report = svc.store.report(job.key) if job is not None else None
    if report is None:
        return HTMLResponse(
            message_page("No report", f"No finished scan of {digest}.", base=BASE), status_code=404
        )
    return HTMLResponse(image_page(report, base=BASE))


@router.get("/fleet", response_class=HTMLResponse)
def fleet(svc: Annotated[Services, Depends(services)]) -> HTMLResponse:
    from hullscan.fleet.report import summarize

    return HTMLResponse(fleet_page(summarize(svc.store), base=BASE))
