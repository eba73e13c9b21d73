"""Harbor's Pluggable Scanner API v1.2 (``/api/v1``), as Harbor's client uses it:
every call answers well within Harbor's 5-second timeout, a report still being made
is ``302`` with ``Refresh-After``, and errors carry the spec's ``ErrorResponse``."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from hullscan import __version__
from hullscan.errors import HullscanError
from hullscan.jobs.scanning import CYCLONEDX, SBOM_TYPES, SPDX
from hullscan.jobs.store import JobSpec, Status
from hullscan.references import registry_host
from hullscan.server.errors import HARBOR_ERROR, error
from hullscan.server.services import Services, services

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
CONSUMES = [OCI_MANIFEST, DOCKER_MANIFEST]
METADATA = "application/vnd.scanner.adapter.metadata+json; version=1.1"
SCAN_REQUEST = "application/vnd.scanner.adapter.scan.request+json"
SCAN_RESPONSE = "application/vnd.scanner.adapter.scan.response+json; version=1.0"
VULN_1_1 = "application/vnd.security.vulnerability.report; version=1.1"
VULN_1_0 = "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0"
SBOM_REPORT = "application/vnd.security.sbom.report+json; version=1.0"
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_REPOSITORY = re.compile(
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)"
    r"[a-z0-9]+)*)*"
)
#: Harbor's severities, case-sensitive
SEVERITIES = {
    "UNKNOWN": "Unknown",
    "LOW": "Low",
    "MEDIUM": "Medium",
    "HIGH": "High",
    "CRITICAL": "Critical",
}
_RANK = ["Unknown", "Negligible", "Low", "Medium", "High", "Critical"]

router = APIRouter(prefix="/api/v1", tags=["Harbor scanner adapter"])


def _content(*media_types: str) -> dict[str, Any]:
    return {"content": {m: {"schema": {"type": "object"}} for m in media_types}}


_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"description": why, **_content(HARBOR_ERROR)}
    for code, why in (
        (400, "invalid JSON, wrong types or media type"),
        (401, "no valid API key"),
        (404, "no such scan request"),
        (413, "the body is too large"),
        (422, "a missing or invalid field"),
        (500, "the scan failed, or the store or queue is unreachable"),
        (501, "no report of that type"),
    )
}


class Registry(BaseModel):
    url: str
    authorization: str | None = None


class Artifact(BaseModel):
    repository: str
    digest: str
    tag: str | None = None
    mime_type: str | None = None


class Capability(BaseModel):
    type: str
    produces_mime_types: list[str] | None = None
    parameters: dict[str, Any] | None = None


class ScanRequest(BaseModel):
    registry: Registry
    artifact: Artifact
    enabled_capabilities: list[Capability] | None = None


def scanner() -> dict[str, str]:
    return {"name": "hullscan", "vendor": "hullscan", "version": __version__}


@router.get(
    "/metadata",
    summary="Scanner metadata and capabilities",
    response_class=Response,
    responses={
        200: {"description": "the scanner and its capabilities", **_content(METADATA)},
        401: _ERRORS[401],
    },
)
def metadata(svc: Annotated[Services, Depends(services)]) -> Response:
    properties = {
        "harbor.scanner-adapter/scanner-type": "os-package-vulnerability",
        "harbor.scanner-adapter/registry-authorization-type": "Basic",
    }
    if version := svc.db_version():
        properties["harbor.scanner-adapter/vulnerability-database-updated-at"] = version
    doc = {
        "scanner": scanner(),
        "capabilities": [
            {
                "type": "vulnerability",
                "consumes_mime_types": CONSUMES,
                "produces_mime_types": [VULN_1_1, VULN_1_0],
            },
            {
                "type": "sbom",
                "consumes_mime_types": CONSUMES,
                "produces_mime_types": [SBOM_REPORT],
                "additional_attributes": {"sbom_media_types": list(SBOM_TYPES)},
            },
        ],
        "properties": properties,
    }
    return JSONResponse(doc, media_type=METADATA)


def _credentials(authorization: str | None) -> tuple[str | None, str | None]:
    if not authorization:
        return None, None
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic":
        raise _Invalid(
            "registry.authorization: only Basic credentials are supported "
            "(the scanner's metadata asks Harbor for Basic)"
        )
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except ValueError:  # binascii.Error, UnicodeDecodeError, and a non-ASCII value
        raise _Invalid("registry.authorization: not base64 of user:password") from None
    if not sep or not user:
        raise _Invalid("registry.authorization: not base64 of user:password")
    return user, password


class _Invalid(Exception):
    """A scan request Harbor's spec does not allow (answered with 400 or 422)."""


def _host(url: str) -> tuple[str, bool]:
    """Registry host[:port] of Harbor's URL, and whether it is plain HTTP.

    The URL is never repeated in an error: it may carry ``user:password@``."""
    try:
        parts = urlsplit(url)
        port = parts.port  # a bad port raises
    except ValueError:
        raise _Invalid("registry.url: not a URL (a bad port or IPv6 address)") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _Invalid("registry.url: an http:// or https:// URL is required")
    host = parts.netloc.rpartition("@")[2]
    try:
        if host != host.strip():  # registry_host forgives spaces; a reference would not
            raise HullscanError("spaces around the host")
        registry_host(host, "registry.url")
    except HullscanError:
        raise _Invalid("registry.url: not a registry host[:port]") from None
    if port is None and "." not in host and not host.startswith("[") and host != "localhost":
        # a one-label name (an in-cluster service: http://harbor-core) would read as a
        # Docker Hub namespace in registry:HOST/REPO; its explicit port keeps it a host
        host = f"{host}:{80 if parts.scheme == 'http' else 443}"
    return host, parts.scheme == "http"


def _capabilities(req: ScanRequest) -> tuple[bool, bool]:
    """(vulnerabilities wanted, SBOM wanted); no list means all of them."""
    if not req.enabled_capabilities:
        return True, True
    kinds = {c.type for c in req.enabled_capabilities}
    unknown = kinds - {"vulnerability", "sbom"}
    if unknown:
        raise _Invalid(f"enabled_capabilities: unsupported type {sorted(unknown)[0]!r}")
    return "vulnerability" in kinds, "sbom" in kinds


class ScanRequestError(Exception):
    """A scan request Harbor must fix: 400 (not JSON, wrong types or media type) or 422 (a
    field missing or invalid). The message never repeats a credential."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass(frozen=True)
class ScanOrder:
    """A valid ``POST /api/v1/scan`` body: what to scan, from where, with what."""

    ref: str  # registry:HOST/REPO@DIGEST
    digest: str
    host: str  # HOST[:PORT] of the registry
    plain_http: bool
    artifact: dict[str, Any]  # as Harbor sent it (reports repeat it)
    vulnerabilities: bool
    sbom: bool
    username: str | None = None
    password: str | None = field(default=None, repr=False)


def parse_scan_request(content_type: str, body: bytes) -> ScanOrder:
    """Read and check a scan request's body (``content_type``: its Content-Type header);
    ``ScanRequestError`` with the spec's status and message if Harbor sent a bad one."""
    media = content_type.split(";")[0].strip().lower()
    if media not in (SCAN_REQUEST, "application/json"):
        raise ScanRequestError(400, f"Content-Type {media or 'missing'}: expected {SCAN_REQUEST}")
    try:
        doc = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ScanRequestError(400, f"the body is not valid JSON ({e})") from None
    if not isinstance(doc, dict):
        raise ScanRequestError(400, "the body must be a JSON object")
    try:
        req = ScanRequest.model_validate(doc)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        status = 422 if first["type"] == "missing" else 400
        raise ScanRequestError(status, f"{where}: {first['msg']}") from None
    try:
        art = req.artifact
        if not _DIGEST.fullmatch(art.digest):
            raise _Invalid("artifact.digest: expected sha256: and 64 hex digits")
        if not _REPOSITORY.fullmatch(art.repository):
            raise _Invalid("artifact.repository: not a repository name")
        if art.mime_type and art.mime_type not in CONSUMES:
            raise _Invalid(
                f"artifact.mime_type: {art.mime_type} is not an image manifest "
                f"(supported: {', '.join(CONSUMES)})"
            )
        host, plain = _host(req.registry.url)
        user, password = _credentials(req.registry.authorization)
        vuln, sbom = _capabilities(req)
    except _Invalid as e:
        raise ScanRequestError(422, str(e)) from None
    return ScanOrder(
        f"registry:{host}/{art.repository}@{art.digest}",
        art.digest,
        host,
        plain,
        art.model_dump(exclude_none=True),
        vuln,
        sbom,
        user,
        password,
    )


_REQUEST_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            f"{SCAN_REQUEST}; version={v}": {"schema": {"$ref": "#/components/schemas/ScanRequest"}}
            for v in ("1.1", "1.0")
        },
    }
}


@router.post(
    "/scan",
    status_code=202,
    summary="Accept an artifact scan request",
    openapi_extra=_REQUEST_BODY,
    response_class=Response,
    responses={
        202: {"description": "queued", **_content(SCAN_RESPONSE)},
        **{k: _ERRORS[k] for k in (400, 401, 413, 422, 500)},
    },
)
async def accept_scan(request: Request, svc: Annotated[Services, Depends(services)]) -> Response:
    try:
        order = parse_scan_request(request.headers.get("content-type", ""), await request.body())
    except ScanRequestError as e:
        return error(e.status, e.message, harbor=True)
    scanners = ("vuln",) if order.vulnerabilities else ()
    version = await run_in_threadpool(svc.db_version) if order.vulnerabilities else None
    spec = JobSpec(order.ref, scanners, order.digest, version, order.sbom)
    try:  # the store and the broker block: off the event loop
        sub = await run_in_threadpool(
            svc.submit,
            spec,
            artifact=order.artifact,
            insecure=(order.host,) if order.plain_http else (),
            username=order.username,
            password=order.password,
        )
    except HullscanError as e:
        return error(500, str(e), harbor=True)
    return JSONResponse({"id": sub.scan_id}, status_code=202, media_type=SCAN_RESPONSE)


def _wanted(accept: str) -> str | None:
    """The report type an ``Accept`` header asks for (default: vulnerability 1.1)."""
    for part in accept.split(","):
        media = " ".join(part.strip().split())
        plain = media.split(";")[0].strip()
        if media.startswith(SBOM_REPORT.split(";")[0]):
            return SBOM_REPORT
        if plain == VULN_1_0.split(";")[0]:
            return VULN_1_0
        if plain == VULN_1_1.split(";")[0]:
            return VULN_1_1
        if plain in ("*/*", "application/json", ""):
            return VULN_1_1
    return None


@router.get(
    "/scan/{scan_request_id}/report",
    summary="Get a scan report",
    response_class=Response,
    responses={
        200: {"description": "the report", **_content(VULN_1_1, VULN_1_0, SBOM_REPORT)},
        302: {
            "description": "not ready; retry after Refresh-After seconds",
            "headers": {"Refresh-After": {"schema": {"type": "integer"}}},
        },
        **{k: _ERRORS[k] for k in (400, 401, 404, 422, 500, 501)},
    },
)
def get_report(
    scan_request_id: str,
    request: Request,
    svc: Annotated[Services, Depends(services)],
    sbom_media_type: Annotated[str | None, Query()] = None,
) -> Response:
    wanted = _wanted(request.headers.get("accept", ""))
    if wanted is None:
        return error(
            501,
            f"no report of type {request.headers.get('accept')!r} (offered: "
            f"{VULN_1_1}, {VULN_1_0}, {SBOM_REPORT})",
            harbor=True,
        )
    if wanted == SBOM_REPORT and sbom_media_type not in SBOM_TYPES:
        return error(400, f"sbom_media_type must be {SPDX} or {CYCLONEDX}", harbor=True)
    scan = svc.store.get_scan(scan_request_id)
    if scan is None:
        return error(404, f"no scan request {scan_request_id}", harbor=True)
    job = scan.job
    if job.status in (Status.QUEUED, Status.RUNNING):
        return Response(status_code=302, headers={"Refresh-After": str(svc.settings.refresh_after)})
    if job.status == Status.FAILED:
        return error(500, job.error or "the scan failed", harbor=True)
    artifact = scan.artifact or {}
    generated = (job.finished_at or job.created_at).isoformat().replace("+00:00", "Z")
    if wanted == SBOM_REPORT:
        assert sbom_media_type is not None
        if not job.sbom:
            return error(400, "this scan request did not enable the sbom capability", harbor=True)
        doc = svc.store.sbom(job.key, sbom_media_type)
        return JSONResponse(
            {
                "generated_at": generated,
                "artifact": artifact,
                "scanner": scanner(),
                "media_type": sbom_media_type,
                "sbom": doc or {},
                "vendor_attributes": {"database": job.db_version},
            },
            media_type=SBOM_REPORT,
        )
    if "vuln" not in job.scanners:
        return error(
            400, "this scan request did not enable the vulnerability capability", harbor=True
        )
    report = svc.store.report(job.key) or {}
    return JSONResponse(harbor_report(report, artifact, generated), media_type=wanted)


def harbor_report(
    report: dict[str, Any], artifact: dict[str, Any], generated_at: str
) -> dict[str, Any]:
    """A ``hullscan.report/v1`` document in Harbor's vulnerability report shape."""
    items = []
    for f in report.get("findings", []):
        if f.get("kind") != "vulnerability":
            continue
        item: dict[str, Any] = {
            "id": f["id"],
            "package": (f.get("package") or {}).get("name", ""),
            "version": f.get("installed_version") or "",
            "severity": SEVERITIES.get(f.get("severity", ""), "Unknown"),
            "description": f.get("description") or f.get("title") or "",
            "links": [r for r in f.get("references", []) if r.startswith(("http://", "https://"))],
        }
        if f.get("fixed_version"):
            item["fix_version"] = f["fixed_version"]
        cvss = f.get("cvss") or (f.get("details") or {}).get("cvss")
        if isinstance(cvss, dict) and str(cvss.get("version", "")).startswith("3"):
            item["preferred_cvss"] = {
                "score_v3": cvss.get("score"),
                "vector_v3": cvss.get("vector"),
            }
        item["vendor_attributes"] = {
            k: f[k]
            for k in ("aliases", "kev", "epss", "severity_source", "status")
            if f.get(k) is not None
        }
        items.append(item)
    worst = max((_RANK.index(i["severity"]) for i in items), default=0)
    return {
        "generated_at": generated_at,
        "artifact": artifact,
        "scanner": scanner(),
        "severity": _RANK[worst],
        "vulnerabilities": items,
    }
