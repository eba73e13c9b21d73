"""hullscan's own API (``/v1``): scan a registry image, follow the scan, read the
latest report of a digest. Reports are ``hullscan.report/v1`` documents."""

from __future__ import annotations

import datetime as dt
import re
from email.utils import format_datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, field_validator

from hullscan.errors import HullscanError
from hullscan.jobs.store import JobSpec, Scan
from hullscan.references import parse_reference
from hullscan.scanners import DEFAULT_SCANNERS, parse_scanners
from hullscan.server.errors import error
from hullscan.server.services import Services, services

router = APIRouter(prefix="/v1", tags=["hullscan"])
_DIGEST = r"^sha256:[0-9a-f]{64}$"
_Error = {
    "model": None,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "error": {"type": "object", "properties": {"message": {"type": "string"}}}
                },
            }
        }
    },
}


class ScanCreate(BaseModel):
    image: str = Field(
        min_length=1,
        max_length=1000,
        description=(
            "A registry image: registry:HOST/REPO[:TAG|@DIGEST] or docker://… (the server "
            "never reads its own files)"
        ),
        examples=["registry:registry.example.com/team/app@sha256:…"],
    )
    scanners: list[str] = Field(
        default=list(DEFAULT_SCANNERS),
        max_length=5,
        description="vuln, secret, config, binary, supplychain",
    )

    @field_validator("image")
    @classmethod
    def registry_only(cls, v: str) -> str:
        if not v.startswith(("registry:", "docker://")):
            raise ValueError(
                "only registry references (registry:…, docker://…) are scanned by the server"
            )
        return v


class ScanAccepted(BaseModel):
    id: str


class ScanState(BaseModel):
    id: str
    image: str
    status: Literal["queued", "running", "done", "failed"]
    digest: str | None
    scanners: list[str]
    database: str | None = Field(description="version of the vulnerability database used")
    attempts: int
    created_at: str
    finished_at: str | None
    error: str | None
    report: dict[str, Any] | None = Field(description="the hullscan.report/v1 document")


def _state(svc: Services, scan: Scan) -> ScanState:
    job = scan.job
    return ScanState(
        id=scan.id,
        image=scan.ref,
        status=job.status.value,
        digest=job.digest,
        scanners=list(job.scanners),
        database=job.db_version,
        attempts=job.attempts,
        created_at=scan.created_at.isoformat(),
        finished_at=job.finished_at.isoformat() if job.finished_at else None,
        error=job.error,
        report=svc.store.report(job.key) if job.status == "done" else None,
    )


@router.post(
    "/scans", status_code=202, response_model=ScanAccepted, responses={422: _Error, 500: _Error}
)
def create_scan(body: ScanCreate, svc: Annotated[Services, Depends(services)]) -> Any:
    try:
        scanners = parse_scanners(body.scanners)
        ref = parse_reference(body.image, svc.settings.settings.registries.default_registry)
    except HullscanError as e:
        return error(422, str(e))
    digest = ref.digest if ref.digest and re.fullmatch(_DIGEST, ref.digest) else None
    spec = JobSpec(body.image, scanners, digest, svc.db_version() if "vuln" in scanners else None)
    try:
        sub = svc.submit(spec)
    except HullscanError as e:
        return error(500, str(e))
    return ScanAccepted(id=sub.scan_id)


@router.get("/scans/{scan_id}", response_model=ScanState, responses={404: _Error, 422: _Error})
def get_scan(
    scan_id: Annotated[str, Path(max_length=64)], svc: Annotated[Services, Depends(services)]
) -> Any:
    scan = svc.store.get_scan(scan_id)
    if scan is None:
        return error(404, f"no scan {scan_id}")
    return _state(svc, scan)


@router.get(
    "/images/{digest}",
    responses={
        404: _Error,
        422: _Error,
        200: {
            "description": "the latest hullscan.report/v1 document of this digest",
            "headers": {
                "Last-Modified": {
                    "description": "when that report was made (its job finished)",
                    "schema": {"type": "string"},
                }
            },
        },
    },
)
def image_report(
    digest: Annotated[str, Path(pattern=_DIGEST)], svc: Annotated[Services, Depends(services)]
) -> Any:
    job = svc.store.latest_job(digest)
    report = svc.store.report(job.key) if job is not None else None
    if report is None:
        return error(404, f"no report for {digest}")
    assert job is not None
    # when the report was made: `fleet scan --server --since DATE` skips on it
    headers = (
        {"Last-Modified": format_datetime(job.finished_at.astimezone(dt.UTC), usegmt=True)}
        if job.finished_at
        else None
    )
    return JSONResponse(report, headers=headers)
