"""The admission webhook's HTTP side: ``POST /v1/admission`` (validating) and
``POST /v1/admission/mutate`` (pins tags by digest), the routes ``hullscan server``
mounts. TLS is mandatory: the API server calls webhooks over HTTPS only, and a request
that reached the server over plain HTTP is refused (421) without being judged."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hullscan.admission.webhook import MAX_BODY_BYTES, AdmissionWebhook


async def _body(request: Request) -> bytes | None:
    """The body, or None past ``MAX_BODY_BYTES`` (read no further)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    out = bytearray()
    async for chunk in request.stream():
        out += chunk
        if len(out) > MAX_BODY_BYTES:
            return None
    return bytes(out)


def _endpoint(handle: Callable[[bytes], tuple[int, dict[str, Any]]]) -> Any:
    async def endpoint(request: Request) -> Response:
        if request.url.scheme != "https":
            return JSONResponse({"error": "admission is served over HTTPS only: start "
                                 "hullscan server with --tls-cert and --tls-key"},
                                status_code=421)
        body = await _body(request)
        if body is None:
            return JSONResponse({"error": f"request body larger than {MAX_BODY_BYTES} "
                                 "bytes"}, status_code=413)
        kind = request.headers.get("content-type", "").split(";")[0].strip()
        if kind != "application/json":
            return JSONResponse({"error": "expected Content-Type: application/json"},
                                status_code=415)
        status, doc = await run_in_threadpool(handle, body)
        return JSONResponse(doc, status_code=status)

    return endpoint


def routes(webhook: AdmissionWebhook) -> list[Route]:
    return [Route("/v1/admission", _endpoint(webhook.validate), methods=["POST"]),
            Route("/v1/admission/mutate", _endpoint(webhook.mutate), methods=["POST"])]


__all__ = ["routes"]
